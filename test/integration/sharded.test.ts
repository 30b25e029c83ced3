/**
 * The demo topology sharded over two worker threads (node1 in one, node2 in the other),
 * frames crossing SharedRings: ping and UDP across nodes both ways, the books of both
 * shards agree, and closing terminates the workers. Workers run dist/ (built if stale).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardedCluster } from '../../src/kube/sharded-cluster.js';
import { topology } from './cluster-util.js';
import { existsSync } from 'node:fs';

const DEMO = new URL('../../examples/demo.yaml', import.meta.url).pathname;

beforeAll(() => {
  if (!existsSync(new URL('../../dist/kube/shard-worker.js', import.meta.url))) throw new Error('dist/ is missing (test/global-setup.ts builds it)');
}, 120_000);

describe.each(['vxlan', 'routed'] as const)('demo cluster sharded over two workers (%s)', (overlay) => {
  let sc: ShardedCluster;
  beforeAll(async () => {
    sc = await ShardedCluster.start(topology(DEMO, { overlay }));
  });
  afterAll(async () => {
    await sc?.close();
  });

  it('places one node per worker', () => {
    expect(sc.shards.map((s) => s.nodes)).toEqual([['node1'], ['node2']]);
    expect(sc.shardOfPod('pod1')).toBe(0);
    expect(sc.shardOfPod('pod3')).toBe(1);
  });

  it('answers ping across nodes, both ways', async () => {
    const there = await sc.ping('pod1', 'pod3', 2000);
    const back = await sc.ping('pod3', 'pod1', 2000);
    expect(there?.ttl).toBe(62); // two routers: node1 root, node2 root
    expect(back?.ttl).toBe(62);
    expect(await sc.ping('pod1', 'pod2', 2000)).toMatchObject({ ttl: 64 }); // same node: stays in its shard
  });

  it('carries UDP across nodes both ways (UDP echo on pod3 and pod2)', async () => {
    expect(await sc.udp('pod1', 'pod3', 9000, 'pod1 to pod3', 2000)).toBe('pod1 to pod3');
    expect(await sc.udp('pod3', 'pod2', 9000, 'pod3 to pod2', 2000)).toBe('pod3 to pod2');
  });

  it('counts every datagram on both books: sent = ring out = ring in = delivered', async () => {
    await sc.startSink('pod3', 5001);
    await sc.startSink('pod1', 5002);
    await sc.send('pod1', 'pod3', 5001, 1); // neighbours are resolved by now; one more to be sure
    await sc.settle(200);
    const before = await sc.stats();
    const ring0 = sc.ringStats()[0]![1]!.txPackets;
    expect(await sc.send('pod1', 'pod3', 5001, 3000)).toBe(3000);
    expect(await sc.send('pod3', 'pod1', 5002, 500)).toBe(500);
    await sc.settle(500);
    const [a, b] = await sc.stats();
    expect(await sc.sinkCount('pod3', 5001)).toBe(before[1]!.sinks['pod3:5001']! + 3000);
    expect(await sc.sinkCount('pod1', 5002)).toBe(500);
    const rings = sc.ringStats();
    expect(rings[0]![1]!.txPackets - ring0).toBe(3000);
    expect(rings[0]![1]!.rxPackets).toBe(rings[0]![1]!.txPackets);
    expect(rings[1]![0]!.rxPackets).toBe(rings[1]![0]!.txPackets);
    expect(rings[0]![1]!.dropsFull + rings[1]![0]!.dropsFull).toBe(0);
    // each shard's element counters and the rings it writes and reads, read in one go
    expect(a!.elements['underlay/shards']!.counters['tx-packets']).toBe(a!.rings[0]!.tx.txPackets);
    expect(a!.elements['underlay/shards']!.counters['rx-packets']).toBe(a!.rings[0]!.rx.rxPackets);
    expect(b!.elements['underlay/shards']!.counters['tx-packets']).toBe(b!.rings[0]!.tx.txPackets);
    expect(b!.elements['underlay/shards']!.counters['rx-packets']).toBe(b!.rings[0]!.rx.rxPackets);
    for (const s of [a!, b!]) {
      expect(s.linkDrops).toBe(0);
      expect(s.pool.available).toBe(s.pool.size); // nothing leaked or stuck
    }
  });

  it('reports errors of a shard as rejections naming the shard', async () => {
    await expect(sc.call(0, 'sinkCount', { pod: 'pod1', port: 1 })).rejects.toThrow(/shard 0: no sink on pod1:1/);
  });
});

describe('sharded cluster lifecycle', () => {
  it('close() stops and terminates every worker; calls afterwards fail', async () => {
    const sc = await ShardedCluster.start(topology(DEMO, { overlay: 'routed', dnsReplicas: 0 }));
    const exits = sc.shards.map((s) => new Promise<number>((resolve) => s.worker.once('exit', resolve)));
    expect(await sc.ping('pod1', 'pod3', 2000)).not.toBeNull();
    await sc.close();
    expect((await Promise.all(exits)).length).toBe(2);
    await expect(sc.call(0, 'stats', {})).rejects.toThrow(/worker exited/);
  });

  it('one worker hosting every node (the single-thread baseline) needs no ring', async () => {
    const sc = await ShardedCluster.start(topology(DEMO, { overlay: 'routed', dnsReplicas: 0 }), { placement: [null] });
    try {
      expect(sc.shards[0]!.nodes).toEqual(['node1', 'node2']);
      expect(await sc.ping('pod1', 'pod3', 2000)).toMatchObject({ ttl: 62 });
      expect((await sc.stats())[0]!.rings).toEqual([]);
    } finally {
      await sc.close();
    }
  });

  it('rejects a placement that names an unknown node', async () => {
    await expect(ShardedCluster.start(topology(DEMO), { placement: ['node1', 'node9'] })).rejects.toThrow(/placement\[1\]: "node9"/);
  });
});
