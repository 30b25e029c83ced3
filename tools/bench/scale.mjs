/**
 * Scale figures (issue "Performance"): what a big cluster costs to build, and whether a
 * packet costs more in it. The topology is generated (scale-topology.mjs): N nodes, 10 pods
 * per node, N UDP services selecting 10 pods each on 10 nodes. Full run: N = 1000 (10,000
 * pods, 1,000 services); `--quick`: N = 100.
 *
 *   scale.<overlay>.<N>n.validate|plan|build|total   ms of one cold build in a fresh process
 *                                   (scale-build.mjs), median of 3 (quick: 1); total = the
 *                                   three together, what `podwire up` spends before traffic
 *   scale.<overlay>.<N>n.peak-rss   MiB, the child's peak RSS (getrusage ru_maxrss)
 *   scale.vxlan.<n>n.build          ms, the same build at n = 2, 10, 100 (the plot's sweep)
 *   scale.fwd.vxlan.<n>n            Mpps, UdpGenerator in pod1 (node1) -> UdpSink in the pod
 *                                   on the last node, one cluster per n = 2, 10, 100 (, 1000),
 *                                   all four measured interleaved in one worker
 *   scale.fwd.vxlan.cost-<N>n/2n    time per packet at N nodes over time per packet at 2
 *                                   nodes, the median of per-round ratios (flat = 1.0)
 *
 * After a full (not --quick) run that measured them, `afterRun` writes bench-results/scale.svg
 * (and docs/scale.svg, the tracked copy, only when asked: `--docs`): build time and per-packet
 * time against the number of nodes (scale-svg.mjs).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './harness.mjs';
import { PORT, scaleTopology } from './scale-topology.mjs';
import { scaleSvg } from './scale-svg.mjs';

const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const CHILD = fileURLToPath(new URL('./scale-build.mjs', import.meta.url));
const SVG_RESULTS = fileURLToPath(new URL('../../bench-results/scale.svg', import.meta.url));
const SVG_DOCS = fileURLToPath(new URL('../../docs/scale.svg', import.meta.url));
const BURST = 256;
const OVERLAYS = ['vxlan', 'routed'];
const STAGES = ['validate', 'plan', 'build', 'total'];

const sizes = (quick) => (quick ? [2, 10, 100] : [2, 10, 100, 1000]);
const largest = (quick) => (quick ? 100 : 1000);

function namesFor(quick) {
  const big = largest(quick);
  return [
    ...OVERLAYS.flatMap((o) => [...STAGES.map((s) => `scale.${o}.${big}n.${s}`), `scale.${o}.${big}n.peak-rss`]),
    ...sizes(quick).filter((n) => n !== big).map((n) => `scale.vxlan.${n}n.build`),
    ...sizes(quick).map((n) => `scale.fwd.vxlan.${n}n`), `scale.fwd.vxlan.cost-${big}n/2n`,
  ];
}
export const NAMES = [...new Set([...namesFor(false), ...namesFor(true)])];

function coldBuild(nodes, overlay) {
  return new Promise((resolveRun, reject) => {
    execFile(process.execPath, [CHILD, String(nodes), overlay], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scale-build ${nodes} ${overlay}: ${String(stderr || err.message).split('\n').find((l) => l.trim() !== '')}`));
      else resolveRun(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

export async function benchmarks({ quick = false } = {}) {
  let kube;
  try {
    const [c, t, traffic] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('apps/traffic.js')]);
    kube = { Cluster: c.Cluster, validateTopology: t.validateTopology, traffic };
  } catch (e) {
    const reason = `cannot load the cluster from dist/ (${String(e?.message ?? e).split('\n')[0]})`;
    return namesFor(quick).map((name) => ({ skip: name, reason }));
  }
  const big = largest(quick);
  const runs = quick ? 1 : 3;
  const out = [];
  for (const overlay of OVERLAYS) {
    const own = [...STAGES.map((s) => `scale.${overlay}.${big}n.${s}`), `scale.${overlay}.${big}n.peak-rss`];
    const sweep = overlay === 'vxlan' ? sizes(quick).filter((n) => n !== big) : [];
    out.push({
      multi: [...own, ...sweep.map((n) => `scale.vxlan.${n}n.build`)],
      async compute(progress) {
        const figs = [];
        for (const n of sweep) {
          const rs = [];
          for (let r = 0; r < runs; r++) {
            progress(`scale.vxlan.${n}n.build: run ${r + 1}/${runs}`);
            rs.push(await coldBuild(n, 'vxlan'));
          }
          figs.push({ name: `scale.vxlan.${n}n.build`, unit: 'ms', runs: rs.map((x) => x.buildMs), detail: { nodes: n, validateMs: median(rs.map((x) => x.validateMs)), planMs: median(rs.map((x) => x.planMs)) } });
        }
        const rs = [];
        for (let r = 0; r < runs; r++) {
          progress(`scale.${overlay}.${big}n: build ${r + 1}/${runs}`);
          rs.push(await coldBuild(big, overlay));
        }
        const detail = { nodes: big, pods: rs[0].pods, services: rs[0].services, routesPerNode: rs[0].routesPerNode, rssMiB: median(rs.map((x) => x.rssMiB)), heapMiB: median(rs.map((x) => x.heapMiB)), arrayBuffersMiB: median(rs.map((x) => x.arrayBuffersMiB)) };
        const ms = { validate: rs.map((x) => x.validateMs), plan: rs.map((x) => x.planMs), build: rs.map((x) => x.buildMs), total: rs.map((x) => x.validateMs + x.planMs + x.buildMs) };
        for (const s of STAGES) figs.push({ name: `scale.${overlay}.${big}n.${s}`, unit: 'ms', runs: ms[s], detail });
        figs.push({ name: `scale.${overlay}.${big}n.peak-rss`, unit: 'MiB', runs: rs.map((x) => x.peakRssMiB), detail });
        return figs;
      },
    });
  }
  const group = sizes(quick).map((n) => ({
    name: `scale.fwd.vxlan.${n}n`, unit: 'Mpps', warmFactor: 4,
    setup: () => forwarding(kube, n),
  }));
  out.push({ group, ratios: [{ name: `scale.fwd.vxlan.cost-${big}n/2n`, of: `scale.fwd.vxlan.${big}n`, to: 'scale.fwd.vxlan.2n', cost: true }] });
  return out;
}

/** pod1 (node1) -> the pod on the last node, over VXLAN, in a cluster of `nodes` nodes. */
function forwarding(kube, nodes) {
  const r = kube.validateTopology(scaleTopology(nodes, 'vxlan'));
  if (!r.ok) throw new Error(`scale topology invalid: ${JSON.stringify(r.errors.slice(0, 3))}`);
  const cluster = new kube.Cluster(r.topology);
  const engine = cluster.engine;
  const client = cluster.pod('pod1');
  const server = cluster.pod(`pod${nodes}`);
  if (server.plan.node === client.plan.node) throw new Error('scale: client and server on one node');
  const sink = kube.traffic.UdpSink.start(server.ns, PORT);
  const gen = new kube.traffic.UdpGenerator(client.ns, { dst: server.plan.ip, dport: PORT, sport: 40000 });
  let base = null;
  return {
    step(rounds) {
      const before = sink.packets;
      for (let i = 0; i < rounds; i++) {
        gen.burst(BURST);
        engine.runUntilIdle();
      }
      return sink.packets - before;
    },
    afterWarmup() {
      base = { sent: gen.sent, got: sink.packets };
    },
    report() {
      const sent = gen.sent - base.sent;
      const delivered = sink.packets - base.got;
      const warnings = sent === delivered ? [] : [`sent ${sent}, delivered ${delivered}`];
      return { nodes, pods: cluster.pods.size, sent, delivered, warnings };
    },
    teardown() {
      sink.close();
      cluster.close();
    },
  };
}

/**
 * After a full run: bench-results/scale.svg from this run's figures, and docs/scale.svg with
 * `opts.docs` (skipped for --quick or when a figure is missing). `opts.resultsFile` and
 * `opts.docsFile` move the two files (tests).
 */
export function afterRun(results, note, opts = {}) {
  if (results.quick || !results.figures.some((f) => f.name.startsWith('scale.'))) return;
  const get = (name) => results.figures.find((f) => f.name === name)?.value;
  const points = sizes(false).map((n) => ({
    nodes: n,
    buildMs: get(`scale.vxlan.${n}n.build`),
    nsPerPacket: get(`scale.fwd.vxlan.${n}n`) !== undefined ? 1e3 / get(`scale.fwd.vxlan.${n}n`) : undefined,
  }));
  if (points.some((p) => p.buildMs === undefined || p.nsPerPacket === undefined)) {
    note('scale.svg not written: a scale figure is missing');
    return;
  }
  const svg = scaleSvg(points, { date: results.date, machine: results.machine });
  const out = opts.resultsFile ?? SVG_RESULTS;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, svg);
  note(`wrote ${out === SVG_RESULTS ? 'bench-results/scale.svg' : out}`);
  if (opts.docs === true) {
    const doc = opts.docsFile ?? SVG_DOCS;
    writeFileSync(doc, svg);
    note(`wrote ${doc === SVG_DOCS ? 'docs/scale.svg' : doc} (--docs)`);
  }
}
