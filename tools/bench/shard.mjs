/**
 * Figures of the "Performance" issue, cores part (docs/sharding.md): the same cross-node
 * workload in one thread and sharded over two worker threads, measured side by side.
 *
 *   shard.cross-node.1thread     pod1 (node1) -> pod3 (node2), 64-byte UDP, overlay routed,
 *                                one worker hosting both nodes (ShardedCluster placement [null])
 *   shard.cross-node.2workers    the same, node1 (and the UdpGenerator) in one worker, node2
 *                                (and the UdpSink) in another, frames crossing SharedRings
 *   shard.cross-node.speedup     2workers / 1thread: median of the per-round ratios
 *   shard.cross-node.vxlan.*     the same three over the vxlan overlay
 *   shard.cpu-scaling            context: a pure compute loop in 2 workers / in 1 worker, in the
 *                                same rounds; what the machine gave two threads at the time
 *                                (2.0 on two idle cores, ~1.0 when something else holds a core)
 *
 * Driven as: the generator's shard pumps (busy loop: bursts of 256 paced by the ring's free
 * space, polling its rings) for a fixed wall time; the other shard serves its ring
 * (event-driven, sleeping on the doorbell when idle); then every shard settles (drains).
 * Rate = datagrams counted at the sink / wall time from the first to the last count, the
 * message round trips included for both variants alike. Round r measures every variant
 * back to back (order alternating per round); medians of the rounds are reported.
 * After the runs every datagram sent must have been counted at the sink, otherwise the
 * figure's detail says how many were missing and the ring drop counters.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const PORT = 5001;

const ROUTED = ['shard.cross-node.1thread', 'shard.cross-node.2workers', 'shard.cross-node.speedup', 'shard.cpu-scaling'];
const VXLAN = ['shard.cross-node.vxlan.1thread', 'shard.cross-node.vxlan.2workers', 'shard.cross-node.vxlan.speedup'];
export const NAMES = [...ROUTED, ...VXLAN];

function topology(overlay) {
  return {
    cluster: { name: 'bench', overlay, dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [{ name: 'pod1', node: 'node1' }, { name: 'pod2', node: 'node1' }, { name: 'pod3', node: 'node2' }],
  };
}

export async function benchmarks({ quick = false } = {}) {
  let mods;
  try {
    const [sc, topo] = await Promise.all([load('kube/sharded-cluster.js'), load('kube/topology.js')]);
    mods = { ShardedCluster: sc.ShardedCluster, validateTopology: topo.validateTopology };
  } catch (e) {
    const reason = `cannot load the sharded cluster from dist/ (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const cfg = { runs: quick ? 3 : 7, windowMs: quick ? 100 : 300, warmMs: quick ? 300 : 1500 };
  return [
    { multi: ROUTED, compute: (progress) => measure(mods, 'routed', 'shard.cross-node', cfg, progress, true) },
    { multi: VXLAN, compute: (progress) => measure(mods, 'vxlan', 'shard.cross-node.vxlan', cfg, progress, false) },
  ];
}

async function measure(mods, overlay, prefix, cfg, progress, withCpu) {
  const r = mods.validateTopology(topology(overlay));
  if (!r.ok) throw new Error(`bench topology invalid: ${JSON.stringify(r.errors)}`);
  progress(`${prefix}: starting workers`);
  const one = await mods.ShardedCluster.start(r.topology, { placement: [null] });
  const two = await mods.ShardedCluster.start(r.topology);
  const cpu = withCpu ? await computeWorkers() : null;
  try {
    const variants = [new Variant('1thread', one), new Variant('2workers', two)];
    for (const v of variants) {
      progress(`${prefix}.${v.name}: warm-up`);
      await v.warmUp(cfg.warmMs);
    }
    const ratios = [];
    const cpuRatios = [];
    for (let round = 0; round < cfg.runs; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        progress(`${prefix}.${v.name}: run ${round + 1}/${cfg.runs}`);
        await v.window(cfg.windowMs);
      }
      ratios.push(variants[1].rates.at(-1) / variants[0].rates.at(-1));
      if (cpu !== null) cpuRatios.push(await cpu.ratio(cfg.windowMs / 3));
    }
    const figs = [];
    for (const v of variants) {
      figs.push({ name: `${prefix}.${v.name}`, unit: 'Mpps', runs: v.rates.map((x) => x / 1e6), detail: await v.detail() });
    }
    figs.push({ name: `${prefix}.speedup`, unit: 'x', runs: ratios, detail: { of: `${prefix}.2workers`, to: `${prefix}.1thread`, measure: 'median of per-round ratios' } });
    if (cpu !== null) figs.push({ name: 'shard.cpu-scaling', unit: 'x', runs: cpuRatios, detail: { what: 'compute loop iterations in 2 workers / in 1 worker, same rounds' } });
    return figs;
  } finally {
    await Promise.all([one.close(), two.close(), cpu?.close()]);
  }
}

/** One way of running the workload: a ShardedCluster, its generator and sink, the rates of its windows. */
class Variant {
  constructor(name, sc) {
    this.name = name;
    this.sc = sc;
    this.rates = [];
    this.sent = 0;
    this.delivered = 0;
    this.gen = { pod: 'pod1', to: 'pod3', dport: PORT, burst: 256 };
  }

  async warmUp(ms) {
    const sc = this.sc;
    await sc.startSink('pod3', PORT);
    if ((await sc.ping('pod1', 'pod3', 2000)) === null) throw new Error(`${this.name}: pod1 cannot reach pod3`);
    await sc.pump(ms, this.gen);
    await sc.settle(100);
  }

  async window(ms) {
    const sc = this.sc;
    const c0 = await sc.sinkCount('pod3', PORT);
    const t0 = performance.now();
    const pumped = await sc.pump(ms, this.gen);
    await sc.settle(100);
    const c1 = await sc.sinkCount('pod3', PORT);
    const dt = (performance.now() - t0) / 1e3;
    this.rates.push((c1 - c0) / dt);
    this.sent += pumped.sent;
    this.delivered += c1 - c0;
  }

  async detail() {
    const rings = this.sc.ringStats().flat().filter((x) => x !== null);
    const stats = await this.sc.stats();
    return {
      sent: this.sent, delivered: this.delivered, missing: this.sent - this.delivered,
      ringDropsFull: rings.reduce((n, s) => n + s.dropsFull, 0),
      linkDrops: stats.reduce((n, s) => n + s.linkDrops, 0),
      wakeups: stats.reduce((n, s) => n + s.wakeups, 0),
    };
  }
}

const COMPUTE = `
const { parentPort } = require('node:worker_threads');
const a = new Float64Array(4096);
parentPort.on('message', (ms) => {
  const end = performance.now() + ms;
  let n = 0, x = 1;
  while (performance.now() < end) {
    for (let i = 0; i < 10000; i++) { x = (x * 1103515245 + 12345) % 2147483647; a[i & 4095] += x; }
    n++;
  }
  parentPort.postMessage(n);
});`;

/** Two compute workers: iterations in `ms` by one of them alone, then by both at once. */
async function computeWorkers() {
  const ws = [0, 1].map(() => new Worker(COMPUTE, { eval: true }));
  const run = (w, ms) => new Promise((resolve) => {
    w.once('message', resolve);
    w.postMessage(ms);
  });
  await run(ws[0], 50);
  await run(ws[1], 50);
  return {
    async ratio(ms) {
      const alone = await run(ws[0], ms);
      const both = await Promise.all(ws.map((w) => run(w, ms)));
      return (both[0] + both[1]) / alone;
    },
    close: () => Promise.all(ws.map((w) => w.terminate())),
  };
}
