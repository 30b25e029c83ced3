/**
 * The flowtable fast path (src/net/flowtable.ts) takes a steady same-node flow, so the
 * differential test (flowtable-diff.test.ts) compares something; and it stays off by default.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/kube/cluster.js';
import { validateTopology } from '../../src/kube/topology.js';
import type { Topology } from '../../src/kube/types.js';
import { udpRoundTrip } from './cluster-util.js';

const YAML = {
  cluster: { name: 'ft', overlay: 'vxlan', dnsReplicas: 0 },
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  pods: [
    { name: 'pod1', node: 'node1' },
    { name: 'pod2', node: 'node1', apps: [{ type: 'udp-echo', port: 9000 }] },
    { name: 'pod3', node: 'node2', apps: [{ type: 'udp-echo', port: 9000 }] },
  ],
};

function topo(extra: Record<string, unknown> = {}): Topology {
  const r = validateTopology({ ...YAML, cluster: { ...YAML.cluster, ...extra } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

let c: Cluster | null = null;
afterEach(() => {
  c?.close();
  c = null;
});

describe('flowtable', () => {
  it('is off by default', () => {
    c = new Cluster(topo());
    expect(c.flowtable).toBeNull();
    expect(c.node('node1').bridge.flowtable).toBeNull();
  });

  it('carries a steady same-node UDP flow past the bridge in both directions, and not a cross-node one', () => {
    c = new Cluster(topo({ flowtable: true }));
    const ft = c.flowtable!;
    expect(c.node('node1').bridge.flowtable).toBe(ft);
    const pod1 = c.pod('pod1').ns;
    let replies = 0;
    const sport = pod1.bind(17, 41000, (p) => {
      replies++;
      pod1.free(p);
    });
    const burst = (dst: number): void => {
      for (let i = 0; i < 10; i++) {
        const p = pod1.alloc()!;
        const b = p.buf;
        const s = p.start;
        b.fill(0, s, s + 28);
        b[s] = 0x45; b[s + 3] = 28; b[s + 8] = 64; b[s + 9] = 17;
        b.writeUInt32BE(pod1.sourceFor(dst), s + 12); b.writeUInt32BE(dst, s + 16);
        b.writeUInt16BE(sport, s + 20); b.writeUInt16BE(9000, s + 22); b.writeUInt16BE(8, s + 24);
        p.end = s + 28;
        pod1.output(p);
      }
      c!.engine.runUntilIdle();
    };
    // Round 1: no conntrack entry has seen a reply: every frame goes the slow way; the replies'
    // entry is learned. Round 2: the requests are learned, the replies hit. Then both hit.
    for (let r = 0; r < 5; r++) burst(c.pod('pod2').plan.ip);
    expect(replies).toBe(50);
    expect(ft.hits).toBe(70);
    const bridge = c.node('node1').bridge;
    // Every frame counted as forwarded, fast or not: 100 datagrams and pod2's ARP reply (the request was flooded).
    expect(bridge.counters.get('forwarded')).toBe(101);
    const hits = ft.hits;
    for (let r = 0; r < 3; r++) burst(c.pod('pod3').plan.ip);
    expect(replies).toBe(80);
    expect(ft.hits).toBe(hits); // cross-node: not this path shape
    c.engine.advance(10 * 60_000);
    expect(c.engine.pool.available).toBe(c.engine.pool.size);
  });

  it('rejects a non-boolean cluster.flowtable with the field named', () => {
    const r = validateTopology({ ...YAML, cluster: { ...YAML.cluster, flowtable: 'yes' } });
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toContain('flowtable');
  });
});
