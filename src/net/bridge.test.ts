import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { Sink } from '../engine/basic.js';
import { connect, Ports } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import { Counters } from '../engine/counters.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import { MAC_BROADCAST, readU16, writeMac } from '../wire/addr.js';
import { writeIpv4Header } from '../wire/ipv4.js';
import { Bridge, Outside } from './bridge.js';
import { Verdict } from './hooks.js';

const BR = 0x0a58_0af4_0101; // cbr0's own MAC
const POD1 = 0x0242_0af4_0102;
const POD2 = 0x0242_0af4_0103;
const POD3 = 0x0242_0af4_0104;
const POOL = 64;

class Feeder implements Element {
  readonly kind = 'feeder';
  readonly ports: Ports;
  readonly counters = new Counters([]);
  readonly drops = new Counters([]);
  constructor(e: Engine, readonly name: string) {
    this.ports = new Ports(e, this);
    this.ports.addOut('out');
  }
  push(_port: number, _link: Link): void {}
}

function frame(e: Engine, dst: number, src: number, len = 60): Packet {
  const b = new Uint8Array(len);
  if (len >= 12) {
    writeMac(b, 0, dst);
    writeMac(b, 6, src);
    b[12] = 0x08;
  }
  return e.pool.fromBytes(b, 0, len)!;
}

/** A bridge with ports veth1..veth3 and the local port cbr0, a feeder and a sink on each. */
function setup(opts: { ageingMs?: number; hairpin?: boolean; pool?: number } = {}) {
  const e = new Engine({ pool: { size: opts.pool ?? POOL } });
  const br = e.add(new Bridge(e, 'node1/cbr0', {
    where: { node: 'node1', netns: 'root', device: 'cbr0' }, mac: BR,
    ...(opts.ageingMs !== undefined ? { ageingMs: opts.ageingMs } : {}),
  }));
  const names = ['veth1', 'veth2', 'veth3', 'cbr0'];
  const feed = new Map<string, Feeder>();
  const got = new Map<string, string[]>();
  const sinks = new Map<string, Sink>();
  for (const n of names) {
    br.addPort(n, { hairpin: opts.hairpin ?? false });
    const f = new Feeder(e, `f-${n}`);
    const s = new Sink(e, `s-${n}`);
    connect(e, f.ports.out('out'), br.ports.in(n));
    connect(e, br.ports.out(n), s.ports.in('in'));
    const seen: string[] = [];
    s.observer = (p) => seen.push(p.buf.subarray(p.start, p.start + 6).toString('hex'));
    feed.set(n, f);
    got.set(n, seen);
    sinks.set(n, s);
  }
  br.setLocalPort('cbr0');
  const send = (port: string, p: Packet): void => feed.get(port)!.ports.out('out').send(p);
  const counts = (): Record<string, number> => Object.fromEntries(names.map((n) => [n, got.get(n)!.length]));
  const clear = (): void => { for (const g of got.values()) g.length = 0; };
  return { e, br, send, got, counts, clear, sinks };
}

describe('Bridge', () => {
  it('floods an unknown destination to every port but the ingress one, then forwards once learned', () => {
    const { e, br, send, counts, clear } = setup();
    send('veth1', frame(e, POD2, POD1));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 1, veth3: 1, cbr0: 1 });
    expect(br.fdb.lookup(POD1, e.now())).toBe(br.portNumber('veth1'));
    clear();
    send('veth2', frame(e, POD1, POD2)); // the reply: POD1 is known
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 1, veth2: 0, veth3: 0, cbr0: 0 });
    clear();
    send('veth1', frame(e, POD2, POD1)); // now both are known
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 1, veth3: 0, cbr0: 0 });
    expect(br.counters.toJSON()).toEqual({ 'rx-packets': 3, 'rx-bytes': 180, 'tx-packets': 5, 'tx-bytes': 300, forwarded: 2, flooded: 1 });
    expect(e.pool.available).toBe(POOL);
  });

  it('floods broadcasts (ARP requests) and multicast even when known, the local port included', () => {
    const { e, send, counts, clear } = setup();
    send('veth1', frame(e, MAC_BROADCAST, POD1));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 1, veth3: 1, cbr0: 1 });
    clear();
    send('veth3', frame(e, 0x0100_5e00_0001, POD3));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 1, veth2: 1, veth3: 0, cbr0: 1 });
    expect(e.pool.available).toBe(POOL);
  });

  it('delivers frames for its own MAC to the local port, and does not learn its own MAC', () => {
    const { e, br, send, counts, clear } = setup();
    const t = e.trace.begin();
    const p = frame(e, BR, POD1);
    p.trace = t;
    send('veth1', p);
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 0, veth3: 0, cbr0: 1 });
    expect(e.trace.hops(t)).toEqual([
      { node: 'node1', netns: 'root', device: 'cbr0', action: 'bridge-local', detail: { dstMac: '0a:58:0a:f4:01:01', port: 'cbr0' } },
    ]);
    clear();
    send('cbr0', frame(e, POD1, BR)); // the node answers pod1
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 1, veth2: 0, veth3: 0, cbr0: 0 });
    expect(br.fdb.lookup(BR, e.now())).toBe(-1);
    expect(br.counters.get('local')).toBe(1);
  });

  it('hairpin off: a frame whose destination lives on its ingress port is dropped; on: it goes back out', () => {
    const { e, br, send, counts } = setup();
    send('veth1', frame(e, BR, POD1)); // learn POD1 on veth1
    e.runUntilIdle();
    const t = e.trace.begin();
    const p = frame(e, POD1, POD2);
    p.trace = t;
    send('veth1', p); // e.g. a DNATed packet coming back to pod1 through veth1
    e.runUntilIdle();
    expect(counts().veth1).toBe(0);
    expect(br.drops.toJSON()).toEqual({ 'hairpin-off': 1 });
    expect(e.trace.hops(t)).toEqual([{ node: 'node1', netns: 'root', device: 'cbr0', action: 'drop', detail: { reason: 'hairpin-off' } }]);
    br.setHairpin('veth1', true);
    send('veth1', frame(e, POD1, POD2));
    e.runUntilIdle();
    expect(counts().veth1).toBe(1);
    expect(e.pool.available).toBe(POOL);
  });

  it('with hairpin on, a flood also goes back out of the ingress port', () => {
    const { e, send, counts } = setup({ hairpin: true });
    send('veth2', frame(e, MAC_BROADCAST, POD2));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 1, veth2: 1, veth3: 1, cbr0: 1 });
  });

  it('ages FDB entries: after ageingMs without traffic the destination is flooded again', () => {
    const { e, br, send, counts, clear } = setup({ ageingMs: 300_000 });
    send('veth2', frame(e, MAC_BROADCAST, POD2));
    e.runUntilIdle();
    clear();
    e.advance(299_000);
    send('veth1', frame(e, POD2, POD1));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 1, veth3: 0, cbr0: 0 });
    clear();
    e.advance(2000);
    send('veth1', frame(e, POD2, POD1));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 1, veth3: 1, cbr0: 1 });
    expect(br.counters.get('flooded')).toBe(2);
  });

  it('follows a MAC that moves to another port', () => {
    const { e, br, send, counts, clear } = setup();
    send('veth1', frame(e, MAC_BROADCAST, POD1));
    send('veth3', frame(e, MAC_BROADCAST, POD1));
    e.runUntilIdle();
    clear();
    send('veth2', frame(e, POD1, POD2));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 0, veth3: 1, cbr0: 0 });
    expect(br.fdb.lookup(POD1, e.now())).toBe(br.portNumber('veth3'));
  });

  it('records forward and flood decisions in the trace', () => {
    const { e, send } = setup();
    send('veth2', frame(e, MAC_BROADCAST, POD2));
    e.runUntilIdle();
    const t1 = e.trace.begin();
    const p = frame(e, POD2, POD1);
    p.trace = t1;
    send('veth1', p);
    const t2 = e.trace.begin();
    const q = frame(e, POD3, POD1);
    q.trace = t2;
    send('veth1', q);
    e.runUntilIdle();
    expect(e.trace.hops(t1)).toEqual([{ node: 'node1', netns: 'root', device: 'cbr0', action: 'bridge-forward', detail: { dstMac: '02:42:0a:f4:01:03', port: 'veth2', fdb: 'hit' } }]);
    expect(e.trace.hops(t2)).toEqual([{ node: 'node1', netns: 'root', device: 'cbr0', action: 'bridge-flood', detail: { dstMac: '02:42:0a:f4:01:04', ports: ['veth2', 'veth3', 'cbr0'], fdb: 'miss' } }]);
  });

  it('uses the hopAction override (the underlay switch)', () => {
    const e = new Engine({ pool: { size: 8 } });
    const sw = new Bridge(e, 'underlay', { where: { node: '', netns: 'underlay', device: 'switch' }, mac: 0x0200_0000_00fe, hopAction: 'underlay' });
    const f = new Feeder(e, 'f');
    sw.addPort('node1');
    sw.addPort('node2');
    connect(e, f.ports.out('out'), sw.ports.in('node1'));
    connect(e, sw.ports.out('node2'), new Sink(e, 's').ports.in('in'));
    const t = e.trace.begin();
    const p = frame(e, POD2, POD1);
    p.trace = t;
    f.ports.out('out').send(p);
    e.runUntilIdle();
    expect(e.trace.hops(t)).toEqual([{ node: '', netns: 'underlay', device: 'switch', action: 'underlay', detail: { dstMac: '02:42:0a:f4:01:03', ports: ['node2'], fdb: 'miss' } }]);
  });

  it('drops runts and invalid (multicast or zero) source MACs without learning them', () => {
    const { e, br, send, counts } = setup();
    send('veth1', frame(e, POD2, POD1, 13));
    send('veth1', frame(e, POD2, MAC_BROADCAST));
    send('veth1', frame(e, POD2, 0));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 0, veth3: 0, cbr0: 0 });
    expect(br.drops.toJSON()).toEqual({ runt: 1, 'bad-source': 2 });
    expect(br.fdb.size).toBe(0);
    expect(e.pool.available).toBe(POOL);
  });

  it('removing a port flushes its FDB entries and frames to it are flooded again; no port left: no-ports', () => {
    const { e, br, send, counts, clear } = setup();
    send('veth2', frame(e, MAC_BROADCAST, POD2));
    e.runUntilIdle();
    clear();
    br.removePort('veth2');
    expect(br.fdb.size).toBe(0);
    expect(br.portList().map((p) => p.name)).toEqual(['veth1', 'veth3', 'cbr0']);
    send('veth1', frame(e, POD2, POD1));
    e.runUntilIdle();
    expect(counts()).toEqual({ veth1: 0, veth2: 0, veth3: 1, cbr0: 1 });
    br.removePort('veth3');
    br.removePort('cbr0');
    send('veth1', frame(e, POD2, POD1));
    e.runUntilIdle();
    expect(br.drops.get('no-ports')).toBe(1);
    expect(() => br.removePort('veth3')).toThrow(/node1\/cbr0: no bridge port "veth3"/);
    expect(e.pool.available).toBe(POOL);
  });

  it('a down port neither receives nor gets frames', () => {
    const { e, br, send, counts } = setup();
    send('veth2', frame(e, MAC_BROADCAST, POD2));
    e.runUntilIdle();
    br.setPortUp('veth3', false);
    send('veth3', frame(e, POD2, POD3));
    send('veth1', frame(e, MAC_BROADCAST, POD1));
    e.runUntilIdle();
    expect(br.drops.get('port-down')).toBe(1);
    expect(counts()).toEqual({ veth1: 1, veth2: 1, veth3: 1, cbr0: 2 });
    expect(br.portList().find((p) => p.name === 'veth3')!.up).toBe(false);
    expect(e.pool.available).toBe(POOL);
  });

  it('counts pool-exhausted when a flood cannot clone, and still sends the original', () => {
    const { e, br, send, counts } = setup({ pool: 2 });
    const p = frame(e, MAC_BROADCAST, POD1);
    const hog = e.pool.alloc()!;
    send('veth1', p);
    e.runUntilIdle();
    expect(br.drops.get('pool-exhausted')).toBe(2);
    expect(counts()).toEqual({ veth1: 0, veth2: 0, veth3: 0, cbr0: 1 });
    e.pool.free(hog);
    expect(e.pool.available).toBe(2);
  });

  it('rejects a duplicate port name and names the bridge', () => {
    const { br } = setup();
    expect(() => br.addPort('veth1')).toThrow(/node1\/cbr0: bridge port "veth1" exists/);
    expect(br.portName(br.portNumber('veth2'))).toBe('veth2');
    expect(br.portName(99)).toBe('');
  });
});

describe('Bridge: switching outside the engine (a TAP fast path)', () => {
  /** An Ethernet + IPv4 + TCP header (20 + 20 bytes after Ethernet) from POD1 to POD2, total length 1000 (GSO: more data follows). */
  function tcpFrame(): Buffer {
    const b = Buffer.alloc(14 + 40 + 8);
    writeMac(b, 0, POD2);
    writeMac(b, 6, POD1);
    b[12] = 0x08;
    writeIpv4Header(b, 14, 0x0af40102, 0x0af40103, 6, 1000, 1);
    b.writeUInt16BE(40000, 34);
    b.writeUInt16BE(8080, 36);
    b[46] = 5 << 4;
    return b;
  }

  it('unicastEgress: the link of the learned port; null for multicast, unknown, back to the ingress, and after the port goes', () => {
    const { e, br, send } = setup();
    send('veth2', frame(e, POD1, POD2));
    e.runUntilIdle();
    const veth1 = br.portNumber('veth1');
    const veth2 = br.portNumber('veth2');
    expect(br.unicastEgress(veth1, POD2)).toBe(br.ports.out('veth2').link);
    expect(br.unicastEgress(veth1, POD2)).not.toBeNull();
    expect(br.unicastEgress(veth2, POD2)).toBeNull();
    expect(br.unicastEgress(veth1, POD3)).toBeNull();
    expect(br.unicastEgress(veth1, MAC_BROADCAST)).toBeNull();
    expect(br.fdb.lookup(POD1, e.now())).toBe(-1); // it learned nothing
    const before = br.counters.toJSON();
    br.removePort('veth2');
    expect(br.unicastEgress(veth1, POD2)).toBeNull();
    expect(br.counters.toJSON()).toEqual(before); // and counted nothing
  });

  it('switchOutside: counts a forwarded frame as push does; br_netfilter is asked first, then sees a header copy cut to the headers', () => {
    const { e, br } = setup();
    const seen: number[] = [];
    const asked: number[] = [];
    let rewrite = false;
    let verdict: number = Verdict.Accept;
    br.netfilter = {
      passesUnchanged: (p, l3) => {
        asked.push(readU16(p.buf, l3 + 2));
        return !rewrite;
      },
      bridged: (p, l3) => {
        seen.push(readU16(p.buf, l3 + 2), p.end - l3);
        if (rewrite) p.buf[l3 + 19] = 9; // a NAT of the destination address
        if (verdict === Verdict.Stolen) e.pool.free(p);
        return verdict;
      },
    };
    const f = tcpFrame();
    const free = e.pool.available;
    expect(br.switchOutside(f, 0, true, 14, 54, 1014)).toBe(Outside.Forwarded);
    expect(seen).toEqual([40, 40]);
    expect(br.counters.toJSON()).toMatchObject({ 'rx-packets': 1, 'tx-packets': 1, forwarded: 1, 'rx-bytes': 1014, 'tx-bytes': 1014 });
    rewrite = true;
    expect(br.switchOutside(f, 0, true, 14, 54, 1014)).toBe(Outside.ToEngine);
    rewrite = false;
    verdict = Verdict.Drop;
    expect(br.switchOutside(f, 0, true, 14, 54, 1014)).toBe(Outside.Refused);
    verdict = Verdict.Stolen;
    expect(br.switchOutside(f, 0, true, 14, 54, 1014)).toBe(Outside.Refused);
    expect(br.switchOutside(f, 0, false, 14, 54, 1014)).toBe(Outside.Forwarded); // not IPv4: no hooks
    expect(seen).toHaveLength(6); // the NAT case never reached the hooks: it goes to the engine as it came
    expect(asked).toEqual([40, 40, 40, 40]); // asked with the header copy, every IPv4 frame
    expect(br.counters.toJSON()).toMatchObject({ 'rx-packets': 2, forwarded: 2, 'rx-bytes': 2028 });
    expect(e.pool.available).toBe(free); // every probe copy went back to the pool
    expect(f.readUInt16BE(16)).toBe(1000); // the frame itself is untouched
  });
});
