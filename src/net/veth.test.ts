import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { Sink } from '../engine/basic.js';
import { connect, Ports } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import { Counters } from '../engine/counters.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import { Veth, type VethEnd } from './veth.js';

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
  send(p: Packet): void {
    this.ports.out('out').send(p);
  }
}

function frame(e: Engine, len: number, etherType = 0x0800): Packet {
  const b = new Uint8Array(len);
  b.set([0x02, 0x42, 0x0a, 0xf4, 0x01, 0x03, 0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02].slice(0, Math.min(12, len)));
  if (len >= 14) {
    b[12] = etherType >> 8;
    b[13] = etherType & 0xff;
  }
  return e.pool.fromBytes(b, 0, len)!;
}

function setup(mtuB = 1500) {
  const e = new Engine({ pool: { size: 32 } });
  const a: VethEnd = { where: { node: 'node1', netns: 'pod1', device: 'eth0' }, ifindex: 2, mac: 0x0242_0af4_0102, mtu: 1500 };
  const b: VethEnd = { where: { node: 'node1', netns: 'root', device: 'veth1' }, ifindex: 7, mac: 0x0a58_0af4_0101, mtu: mtuB };
  const v = e.add(new Veth(e, 'node1/veth1', { a, b }));
  const fa = new Feeder(e, 'fa');
  const fb = new Feeder(e, 'fb');
  const sa = new Sink(e, 'sa');
  const sb = new Sink(e, 'sb');
  connect(e, fa.ports.out('out'), v.ports.in('a'));
  connect(e, fb.ports.out('out'), v.ports.in('b'));
  connect(e, v.ports.out('a'), sa.ports.in('in'));
  connect(e, v.ports.out('b'), sb.ports.in('in'));
  const seenA: number[] = [];
  const seenB: number[] = [];
  sa.observer = (p) => seenA.push(p.inIf);
  sb.observer = (p) => seenB.push(p.inIf);
  return { e, v, fa, fb, sa, sb, seenA, seenB };
}

describe('Veth', () => {
  it('carries frames a -> b and b -> a, setting inIf to the receiving end', () => {
    const { e, v, fa, fb, seenA, seenB } = setup();
    fa.send(frame(e, 98));
    fa.send(frame(e, 60));
    fb.send(frame(e, 74));
    e.runUntilIdle();
    expect(seenB).toEqual([7, 7]);
    expect(seenA).toEqual([2]);
    expect(v.counters.toJSON()).toEqual({
      'a-tx-packets': 2, 'a-tx-bytes': 158, 'b-rx-packets': 2, 'b-rx-bytes': 158,
      'b-tx-packets': 1, 'b-tx-bytes': 74, 'a-rx-packets': 1, 'a-rx-bytes': 74,
    });
    expect(e.pool.available).toBe(32);
  });

  it('leaves the bytes untouched', () => {
    const { e, fa, sb } = setup();
    const got: number[][] = [];
    sb.observer = (p) => got.push([...p.buf.subarray(p.start, p.end)]);
    const p = frame(e, 64);
    p.buf[p.start + 63] = 0x5a;
    const want = [...p.buf.subarray(p.start, p.end)];
    fa.send(p);
    e.runUntilIdle();
    expect(got).toEqual([want]);
  });

  it('drops frames larger than the receiving end MTU + 14 (+4 when tagged) with mtu-exceeded', () => {
    const { e, v, fa, fb, seenA, seenB } = setup(1400);
    fa.send(frame(e, 1414)); // fits b's MTU 1400
    fa.send(frame(e, 1415)); // too big for b
    fa.send(frame(e, 1418, 0x8100)); // tagged: 1400 + 18 fits
    fa.send(frame(e, 1419, 0x8100));
    fb.send(frame(e, 1514)); // a has MTU 1500
    e.runUntilIdle();
    expect(seenB).toEqual([7, 7]);
    expect(seenA).toEqual([2]);
    expect(v.drops.toJSON()).toEqual({ 'mtu-exceeded': 2 });
    expect(v.counters.get('a-tx-packets')).toBe(4);
    expect(v.counters.get('b-rx-packets')).toBe(2);
    expect(e.firstDrops).toEqual([{ element: 'node1/veth1', reason: 'mtu-exceeded' }]);
    expect(e.pool.available).toBe(32);
  });

  it('drops frames shorter than an Ethernet header as runt', () => {
    const { e, v, fb, seenA } = setup();
    fb.send(frame(e, 13));
    fb.send(frame(e, 14));
    e.runUntilIdle();
    expect(seenA).toEqual([2]);
    expect(v.drops.get('runt')).toBe(1);
    expect(e.pool.available).toBe(32);
  });

  it('records a veth hop at the sending end for traced frames, and a drop hop when dropping', () => {
    const { e, fa, fb } = setup(1400);
    const t1 = e.trace.begin();
    const p = frame(e, 100);
    p.trace = t1;
    fa.send(p);
    const t2 = e.trace.begin();
    const q = frame(e, 100);
    q.trace = t2;
    fb.send(q);
    const t3 = e.trace.begin();
    const r = frame(e, 1500);
    r.trace = t3;
    fa.send(r);
    fa.send(frame(e, 100)); // untraced: no hops anywhere
    e.runUntilIdle();
    expect(e.trace.hops(t1)).toEqual([
      { node: 'node1', netns: 'pod1', device: 'eth0', action: 'veth', detail: { from: 'pod1/eth0', to: 'root/veth1' } },
    ]);
    expect(e.trace.hops(t2)).toEqual([
      { node: 'node1', netns: 'root', device: 'veth1', action: 'veth', detail: { from: 'root/veth1', to: 'pod1/eth0' } },
    ]);
    expect(e.trace.hops(t3)).toEqual([
      { node: 'node1', netns: 'pod1', device: 'eth0', action: 'drop', detail: { reason: 'mtu-exceeded' } },
    ]);
  });

  it('follows an MTU change at run time', () => {
    const { e, v, fa, seenB } = setup();
    v.ends.b.mtu = 1000;
    fa.send(frame(e, 1100));
    e.runUntilIdle();
    expect(seenB).toEqual([]);
    expect(v.drops.get('mtu-exceeded')).toBe(1);
  });
});
