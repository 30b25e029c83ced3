import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { Sink } from '../engine/basic.js';
import { connect } from '../engine/element.js';
import type { Packet } from '../engine/packet.js';
import { parseIpv4, readU32, writeU16, writeU32 } from '../wire/addr.js';
import { checksum, fold, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { NetNamespace } from './netns.js';
import { Verdict, type PacketHooks } from './hooks.js';

/** A UDP datagram with source 0.0.0.0, as an app that lets the stack pick its address builds it. */
function udpFromAny(ns: NetNamespace, dst: number): Packet {
  const p = ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, 28 + 4);
  writeU16(b, s + 4, 1); writeU16(b, s + 6, 0x4000);
  b[s + 8] = 64; b[s + 9] = 17;
  writeU16(b, s + 10, 0);
  writeU32(b, s + 12, 0); writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  writeU16(b, s + 20, 5000); writeU16(b, s + 22, 53); writeU16(b, s + 24, 12); writeU16(b, s + 26, 0);
  b.write('ping', s + 28);
  writeU16(b, s + 26, checksum(b, s + 20, 12, pseudoHeaderSum(0, dst, 17, 12)));
  p.end = s + 32;
  return p;
}

describe('NetNamespace.output', () => {
  it('chooses the source address before the OUTPUT hook (as Linux routes first), with valid checksums', () => {
    const e = new Engine({ pool: { size: 64 } });
    const ns = new NetNamespace(e, { node: 'n', name: 'pod' });
    ns.addInterface('eth0', 'veth', 0x02420af40102, 1500);
    ns.addAddress('eth0', parseIpv4('10.244.1.2'), 24);
    ns.addRoute({ dst: 0, prefix: 0, via: parseIpv4('10.244.1.1'), dev: 'eth0' });
    const seen: number[] = [];
    const hooks: PacketHooks = {
      prerouting: () => Verdict.Accept,
      input: () => Verdict.Accept,
      output: (p, l3) => { seen.push(readU32(p.buf, l3 + 12)); return Verdict.Accept; },
      postrouting: () => Verdict.Accept,
    };
    ns.hooks = hooks;
    const sink = new Sink(e, 'wire');
    const frames: Buffer[] = [];
    sink.observer = (p) => frames.push(Buffer.from(p.buf.subarray(p.start, p.end)));
    connect(e, ns.ports.out('if:eth0'), sink.ports.in('in'));
    ns.neighbors.update(parseIpv4('10.244.1.1'), 0x02420af40101, ns.iface('eth0')!.ifindex, 0, true);
    ns.output(udpFromAny(ns, parseIpv4('10.96.0.10')));
    e.runUntilIdle();
    expect(seen).toEqual([parseIpv4('10.244.1.2')]);
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect(readU32(f, 14 + 12)).toBe(parseIpv4('10.244.1.2'));
    expect(checksum(f, 14, 20)).toBe(0);
    expect(fold(sum16(f, 34, 12, pseudoHeaderSum(parseIpv4('10.244.1.2'), parseIpv4('10.96.0.10'), 17, 12)))).toBe(0xffff);
  });
});

describe('checksum state (csumOk, CHECKSUM_UNNECESSARY over veth)', () => {
  function rig() {
    const e = new Engine({ pool: { size: 64 } });
    const ns = new NetNamespace(e, { node: 'n', name: 'pod' });
    ns.addInterface('eth0', 'veth', 0x02420af40102, 1500);
    ns.addAddress('eth0', parseIpv4('10.244.1.2'), 24);
    ns.addRoute({ dst: 0, prefix: 0, via: parseIpv4('10.244.1.1'), dev: 'eth0' });
    ns.neighbors.update(parseIpv4('10.244.1.1'), 0x02420af40101, ns.iface('eth0')!.ifindex, 0, true);
    const sink = new Sink(e, 'wire');
    const seen: boolean[] = [];
    sink.observer = (p) => seen.push(p.csumOk);
    connect(e, ns.ports.out('if:eth0'), sink.ports.in('in'));
    return { e, ns, seen };
  }

  it('marks what the stack sends; a tunnel\'s outer packet keeps the inner packet\'s state; alloc clears it', () => {
    const { e, ns, seen } = rig();
    ns.output(udpFromAny(ns, parseIpv4('10.96.0.10')));
    const unverified = udpFromAny(ns, parseIpv4('10.96.0.11'));
    ns.output(unverified, true); // as VxlanTunnel.encap sends an outer packet around a frame from outside
    const verified = udpFromAny(ns, parseIpv4('10.96.0.12'));
    verified.csumOk = true;
    ns.output(verified, true);
    e.runUntilIdle();
    expect(seen).toEqual([true, false, true]);
    const p = ns.alloc()!;
    p.csumOk = true;
    ns.free(p);
    expect(e.pool.alloc()!.csumOk).toBe(false); // LIFO: the same slot, bytes from outside are verified
  });
});

describe('packets to the namespace itself go through lo', () => {
  it('a datagram to an own address leaves by lo and is delivered in a later scheduler step, never inside output()', () => {
    const e = new Engine({ pool: { size: 64 } });
    const ns = new NetNamespace(e, { node: 'n', name: 'pod' });
    ns.addInterface('eth0', 'veth', 0x02420af40102, 1500);
    ns.addAddress('eth0', parseIpv4('10.244.1.2'), 24);
    expect(ns.interfaces().map((i) => `${i.ifindex}:${i.name}:${i.kind}`)).toEqual(['1:lo:loopback', '2:eth0:veth']);
    expect(ns.lo.toJSON()).toMatchObject({ mac: '00:00:00:00:00:00', mtu: 65536, addresses: ['127.0.0.1/8'] });
    const full = e.pool.available;
    const got: string[] = [];
    ns.bind(17, 53, (p, info) => { got.push(`${info.ifindex}`); ns.free(p); });
    for (const dst of ['10.244.1.2', '127.0.0.1']) {
      ns.output(udpFromAny(ns, parseIpv4(dst)));
      expect(got).toEqual(dst === '10.244.1.2' ? [] : ['1']); // not yet: the packet sits in lo's ring
      e.runUntilIdle();
    }
    expect(got).toEqual(['1', '1']); // both arrived on lo (ifindex 1)
    const lo = ns.lo.toJSON() as { counters: { rxPackets: number; txPackets: number } };
    expect(lo.counters).toMatchObject({ rxPackets: 2, txPackets: 2 });
    expect(ns.iface('eth0')!.rxPackets + ns.iface('eth0')!.txPackets).toBe(0);
    expect(ns.sourceFor(parseIpv4('127.0.0.9'))).toBe(parseIpv4('127.0.0.1'));
    expect(e.pool.available).toBe(full);
  });
});
