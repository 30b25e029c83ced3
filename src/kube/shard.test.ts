/**
 * Two shards of one topology driven in one thread (virtual time, no workers): the same
 * builder on each side, frames crossing SharedRings as Ethernet frames on the underlay.
 * The worker version is test/integration/sharded.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Doorbell, SharedRing } from '../engine/shared-ring.js';
import { Shard } from './shard.js';
import type { ShardSpec } from './shard-protocol.js';
import { validateTopology } from './topology.js';
import type { Topology } from './types.js';

function topo(overlay: 'routed' | 'vxlan'): Topology {
  const r = validateTopology({
    cluster: { name: 'shards', overlay, dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [
      { name: 'pod1', node: 'node1', apps: [{ type: 'udp-echo', port: 9000 }] },
      { name: 'pod2', node: 'node1' },
      { name: 'pod3', node: 'node2', apps: [{ type: 'udp-echo', port: 9000 }] },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

function pair(t: Topology, ringBytes = 1 << 20): [Shard, Shard] {
  const placement = ['node1', 'node2'];
  const r01 = SharedRing.create(ringBytes);
  const r10 = SharedRing.create(ringBytes);
  const bells = [new Doorbell(), new Doorbell()];
  const spec = (i: number): ShardSpec => ({
    index: i, placement, doorbell: bells[i]!.sab,
    peers: [{ shard: 1 - i, tx: (i === 0 ? r01 : r10).sab, rx: (i === 0 ? r10 : r01).sab, doorbell: bells[1 - i]!.sab }],
  });
  return [new Shard(structuredClone(t), spec(0)), new Shard(structuredClone(t), spec(1))];
}

/** Runs both shards for `ms` of virtual time in 1 ms steps, ping-ponging frames between them. */
function run(shards: Shard[], ms: number): void {
  for (let t = 0; t < ms; t++) {
    for (let i = 0; i < 4; i++) for (const s of shards) s.step();
    for (const s of shards) s.engine.advance(1);
  }
}

describe.each(['routed', 'vxlan'] as const)('two shards in one thread (%s)', (overlay) => {
  it('hosts one node each and answers ping and UDP across the rings, both ways', async () => {
    const t = topo(overlay);
    const [a, b] = pair(t);
    expect(a.nodes).toEqual(['node1']);
    expect(b.nodes).toEqual(['node2']);
    const ip = (pod: string) => a.cluster.plan.pods.find((p) => p.name === pod)!.ip;
    const p1 = a.ping('pod1', ip('pod3'), 1000);
    const u1 = b.udp('pod3', ip('pod1'), 9000, 'from pod3', 1000);
    run([a, b], 50);
    expect(await p1).toMatchObject({ ttl: 62 });
    expect(await u1).toBe('from pod3');
    a.stop();
    b.stop();
  });

  it('counts every datagram: sent = ring tx = ring rx = delivered', () => {
    const [a, b] = pair(topo(overlay));
    const ip3 = b.cluster.pod('pod3').plan.ip;
    b.sink('pod3', 5001);
    a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 1 }); // resolves ARP on both hops
    run([a, b], 20);
    const before = b.sinkCount('pod3', 5001);
    const ringBefore = a.stats().rings[0]!.tx.txPackets;
    expect(a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 1000 })).toBe(1000);
    run([a, b], 5);
    expect(b.sinkCount('pod3', 5001) - before).toBe(1000);
    const sa = a.stats();
    const sb = b.stats();
    expect(sa.rings[0]!.tx.txPackets - ringBefore).toBe(1000);
    expect(sb.rings[0]!.rx.rxPackets).toBe(sa.rings[0]!.tx.txPackets);
    expect(sa.rings[0]!.tx.dropsFull).toBe(0);
    expect(sa.elements['underlay/shards']!.counters['tx-packets']).toBe(sa.rings[0]!.tx.txPackets);
    a.stop();
    b.stop();
  });

  it('carries the checksum state (csumOk) with each frame, as one engine keeps it across the underlay', () => {
    const [a, b] = pair(topo(overlay));
    const ip3 = b.cluster.pod('pod3').plan.ip;
    b.sink('pod3', 5001);
    a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 1 });
    run([a, b], 20);
    const seen: { ok: boolean; bytes: Uint8Array }[] = [];
    b.link!.ports.out('uplink').link!.addTap((p) => seen.push({ ok: p.csumOk, bytes: p.buf.slice(p.start, p.end) }));
    a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 3 });
    run([a, b], 2);
    expect(seen.map((x) => x.ok)).toEqual([true, true, true]); // built by pod1's stack
    // The same bytes from outside (csumOk false, as a TAP read) cross unvouched for.
    const q = a.engine.pool.alloc()!;
    q.buf.set(seen[0]!.bytes, q.start);
    q.end = q.start + seen[0]!.bytes.length;
    a.link!.ports.in('uplink').link!.transmit(q);
    run([a, b], 2);
    expect(seen.map((x) => x.ok)).toEqual([true, true, true, false]);
    a.stop();
    b.stop();
  });

  it('a full ring drops frames and counts them on both books', () => {
    const [a, b] = pair(topo(overlay), 4096);
    const ip3 = b.cluster.pod('pod3').plan.ip;
    b.sink('pod3', 5001);
    a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 1 });
    run([a, b], 20);
    const before = b.sinkCount('pod3', 5001);
    a.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 256, burst: 256 });
    run([a, b], 5);
    const got = b.sinkCount('pod3', 5001) - before;
    const sa = a.stats();
    const full = sa.rings[0]!.tx.dropsFull;
    expect(got).toBeGreaterThan(0);
    expect(full).toBeGreaterThan(0);
    expect(got + full).toBe(256);
    expect(sa.elements['underlay/shards']!.drops['ring-full']).toBe(full);
    a.stop();
    b.stop();
  });
});

describe('shard placement', () => {
  it('one shard hosting every node runs without rings', () => {
    const s = new Shard(topo('routed'), { index: 0, placement: [null], peers: [], doorbell: new Doorbell().sab });
    expect(s.nodes).toEqual(['node1', 'node2']);
    expect(s.link).toBeNull();
    s.sink('pod3', 5001);
    const ip3 = s.cluster.pod('pod3').plan.ip;
    s.send({ pod: 'pod1', dst: ip3, dport: 5001, count: 10 });
    s.engine.advance(10);
    expect(s.sinkCount('pod3', 5001)).toBeGreaterThan(0);
    s.stop();
  });

  it('rejects a shard that would host every node next to others', () => {
    expect(() => new Shard(topo('routed'), { index: 0, placement: [null, 'node2'], peers: [], doorbell: new Doorbell().sab })).toThrow(/single shard/);
  });
});
