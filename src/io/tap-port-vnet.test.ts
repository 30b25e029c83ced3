/**
 * VnetRx's fast path (tap-port-vnet.ts step 1) between two offload TapPorts on one bridge,
 * with fake TAP devices: a TCP GSO frame to a MAC the bridge learned on the other port is
 * written to that TAP whole, header included, and the bridge counts it; with br_netfilter, a
 * frame NAT would rewrite is segmented into the engine instead and a refused one is dropped.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { connect } from '../engine/element.js';
import { Counters } from '../engine/counters.js';
import { Bridge } from '../net/bridge.js';
import { Verdict } from '../net/hooks.js';
import { writeMac } from '../wire/addr.js';
import { writeIpv4Header } from '../wire/ipv4.js';
import { fillTcpChecksum, TcpFlag, writeTcpHeader } from '../wire/tcp.js';
import type { FramesHandler } from './tap.js';
import { TapPort, type TapEndpoint } from './tap-port.js';
import { VnetGso } from './tap-offload.js';

const HS = 10; // virtio_net_hdr without num_buffers
const POD1 = 0x0242_0af4_0102;
const POD2 = 0x0242_0af4_0103;

class FakeVnetTap implements TapEndpoint {
  readonly counters = new Float64Array(8);
  readonly vnetHdrSize = HS;
  closed = false;
  handler: FramesHandler | null = null;
  written: Buffer[] = [];
  readonly slot = 70_000;
  readonly slab = Buffer.alloc(70_000 * 2);
  readonly lens = new Int32Array(2);
  constructor(readonly name: string) {}
  onFrames(h: FramesHandler): void { this.handler = h; }
  onError(_h: (e: Error) => void): void {}
  writeBatch(slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    for (let i = 0; i < count; i++) this.written.push(Buffer.from(slab.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
    return count;
  }
  close(): void { this.closed = true; }
  deliver(frame: Buffer): void {
    frame.copy(this.slab, 0);
    this.lens[0] = frame.length;
    this.handler!(this.slab, this.slot, this.lens, 1);
  }
}

/** virtio_net_hdr (TCPv4 GSO, mss 1000) + a TCP frame POD1 -> POD2 carrying 3000 bytes: three segments' worth. */
function gsoFrame(): Buffer {
  const data = 3000;
  const b = Buffer.alloc(HS + 14 + 40 + data);
  b[1] = VnetGso.TcpV4;
  b.writeUInt16LE(54, 2); // hdr_len
  b.writeUInt16LE(1000, 4); // gso_size
  const f = HS;
  writeMac(b, f, POD2);
  writeMac(b, f + 6, POD1);
  b.writeUInt16BE(0x0800, f + 12);
  writeIpv4Header(b, f + 14, 0x0af40102, 0x0af40103, 6, 40 + data, 7);
  writeTcpHeader(b, f + 34, 40000, 8080, 1, 1, TcpFlag.ACK, 65535, 0);
  for (let i = 0; i < data; i++) b[f + 54 + i] = i;
  fillTcpChecksum(b, f + 34, 20 + data, 0x0af40102, 0x0af40103);
  return b;
}

function setup() {
  const e = new Engine({ pool: { size: 64 } });
  const br = e.add(new Bridge(e, 'node1/cbr0', { where: { node: 'node1', netns: 'root', device: 'cbr0' }, mac: 0x0a58_0af4_0101 }));
  const taps = [new FakeVnetTap('pwa0'), new FakeVnetTap('pwa1')];
  const ports = taps.map((t, i) => {
    const port = e.add(new TapPort(e, `node1/veth${i}`, t, { where: { node: 'node1', netns: 'root', device: `veth${i}` }, mtu: 1500, peer: `pod${i + 1}/eth0` }));
    br.addPort(`veth${i}`);
    connect(e, port.ports.out('out'), br.ports.in(`veth${i}`));
    connect(e, br.ports.out(`veth${i}`), port.ports.in('in'));
    return port;
  });
  br.fdb.learn(POD2, br.portNumber('veth1'), e.now());
  return { e, br, taps, ports };
}

const counted = (c: Counters): Record<string, number> => c.toJSON() as Record<string, number>;

describe('VnetRx fast path (TAP -> bridge -> TAP, GSO frames whole)', () => {
  it('writes the frame to the peer TAP whole, header included; the bridge counts it as forwarded', () => {
    const { e, br, taps, ports } = setup();
    const frame = gsoFrame();
    taps[0]!.deliver(frame);
    e.runUntilIdle();
    expect(taps[1]!.written).toHaveLength(1);
    expect(Buffer.compare(taps[1]!.written[0]!, frame)).toBe(0);
    expect(counted(ports[0]!.counters)).toMatchObject({ 'fast-path': 1 });
    expect(counted(ports[0]!.counters)['segmented'] ?? 0).toBe(0);
    expect(counted(br.counters)).toMatchObject({ 'rx-packets': 1, 'tx-packets': 1, forwarded: 1, 'rx-bytes': frame.length - HS, 'tx-bytes': frame.length - HS });
  });

  it('br_netfilter sees the headers first: accepted unchanged, the fast path; NAT would rewrite it, segmented into the engine; refused, netfilter-drop', () => {
    const { e, br, taps, ports } = setup();
    const lens: number[] = [];
    let mode: 'accept' | 'rewrite' | 'drop' = 'accept';
    br.netfilter = {
      passesUnchanged: () => mode !== 'rewrite',
      bridged: (p, l3) => {
        lens.push(p.end - l3, p.buf.readUInt16BE(l3 + 2));
        if (mode === 'rewrite') p.buf[l3 + 15] = 9; // un-DNAT of the source address
        return mode === 'drop' ? Verdict.Drop : Verdict.Accept;
      },
    };
    taps[0]!.deliver(gsoFrame());
    e.runUntilIdle();
    expect(lens).toEqual([40, 40]); // a copy of the headers, total length cut to them
    expect(taps[1]!.written).toHaveLength(1);
    mode = 'rewrite';
    taps[0]!.deliver(gsoFrame());
    e.runUntilIdle();
    expect(counted(ports[0]!.counters)).toMatchObject({ 'fast-path': 1, segmented: 1 });
    expect(taps[1]!.written).toHaveLength(4); // the three segments, through the engine and the bridge
    mode = 'drop';
    taps[0]!.deliver(gsoFrame());
    e.runUntilIdle();
    expect(counted(ports[0]!.drops)).toMatchObject({ 'netfilter-drop': 1 });
    expect(taps[1]!.written).toHaveLength(4);
    expect(counted(br.counters)).toMatchObject({ forwarded: 4, 'rx-packets': 4 });
  });
});
