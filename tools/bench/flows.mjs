/**
 * Figures of the "10,000-flow mix" (performance issue): what many active flows cost the
 * in-process dataplane per packet, beside a few flows, on the cluster of cluster.mjs
 * (two nodes, overlay vxlan, kube-proxy's conntrack on every node), 64-byte UDP frames.
 *
 *   flows.clusterip.<n>.pps             pod1 -> ClusterIP of the UDP service `sink` (its only
 *                                       endpoint pod3, on node2): conntrack + DNAT on node1,
 *                                       VXLAN, node2; n = 10 and 10000 flows (Mpps at the sink)
 *   flows.clusterip.<n>.ns-per-packet   1e9 / the same rate
 *   flows.clusterip.cost-10000/10       time per packet with 10,000 flows over that with 10,
 *                                       the median of per-round ratios (target <= 1.3)
 *   flows.same-node.*                   the same for pod1 -> pod2 on node1 (veth, bridge with
 *                                       br_netfilter's conntrack, veth)
 *
 * A flow is a source port: UdpGenerator's `flows` option sends ports 20000 .. 20000 + n - 1
 * round-robin, one datagram each, so every burst of 256 is 256 different flows with 10,000
 * flows and each of 10 flows 25 or 26 times with 10. The 10 and 10,000 figures of a path
 * are one interleaved group (their own clusters, run r of both before run r+1 of either).
 *
 * Before the harness's warm-up, each setup establishes its flows: two passes over all of
 * them (the first also resolves ARP), then a checked pass of every flow that must deliver
 * every datagram and create no conntrack entry (all flows established, the tables big
 * enough: conntrack.max is 262,144 per node). Every timed step then throws unless the sink
 * counted every datagram sent, so a figure never includes drops.
 *
 * After the timed runs (outside them) the report measures, over one more pass, how the
 * lookups went: conntrack lookups per packet per node, and the share that missed NatHooks'
 * 8-slot flow cache and went to the table's hash index (`table.lookup` calls, counted by
 * wrapping it on the instance for that pass, over `stats.searched`): the flow cache is the
 * only per-flow cache of the path today, the place a flowtable would take.
 *
 * Part of tools/bench/run.mjs; on its own: `node tools/bench/flows.mjs [run.mjs flags]`
 * (run.mjs with `--filter '^flows\.'`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { diff, dropSnapshot, topology } from './cluster.mjs';

const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

const BURST = 256;
const PORT = 5001;
const SPORT = 20000;
const FLOWS = [10, 10_000];
const PATHS = [
  { path: 'clusterip', to: 'pod3', viaService: true },
  { path: 'same-node', to: 'pod2', viaService: false },
];

const fig = (path, n, what) => `flows.${path}.${n}.${what}`;
const ratioName = (path) => `flows.${path}.cost-${FLOWS[1]}/${FLOWS[0]}`;

export const NAMES = PATHS.flatMap(({ path }) => [
  ...FLOWS.flatMap((n) => [fig(path, n, 'pps'), fig(path, n, 'ns-per-packet')]), ratioName(path),
]);

/** The compiled cluster, topology validation and traffic apps from dist/. */
export async function loadKube() {
  const [clusterMod, topo, traffic] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('apps/traffic.js')]);
  return { Cluster: clusterMod.Cluster, validateTopology: topo.validateTopology, traffic };
}

/**
 * The cluster of cluster.mjs, overlay vxlan; `vxlanSourcePortRange` ([lo, hi], the
 * topology's `cluster.vxlan.sourcePortRange`) for flows-sweep.mjs's --vxlan-srcport.
 */
export function makeCluster(kube, { vxlanSourcePortRange = null } = {}) {
  const t = topology('vxlan');
  if (vxlanSourcePortRange !== null) t.cluster.vxlan = { sourcePortRange: vxlanSourcePortRange };
  const r = kube.validateTopology(t);
  if (!r.ok) throw new Error(`bench topology invalid: ${JSON.stringify(r.errors)}`);
  return new kube.Cluster(r.topology);
}

export async function benchmarks() {
  let kube;
  try {
    kube = await loadKube();
  } catch (e) {
    const reason = `cannot load the cluster from dist/ (${firstLine(e)})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const probe = makeCluster(kube);
  const services = probe.supportsServices === true;
  probe.close();
  return PATHS.map(({ path, to, viaService }) => {
    if (viaService && !services) {
      return { skip: `flows.${path}.*`, reason: 'cluster.supportsServices is false (kube-proxy not installed yet)' };
    }
    return {
      group: FLOWS.map((n) => ({
        name: fig(path, n, 'pps'), unit: 'Mpps', warmFactor: 4,
        derive: [{ name: fig(path, n, 'ns-per-packet'), unit: 'ns/pkt', f: (rate) => 1e9 / rate }],
        setup: () => flowMix(makeCluster(kube), kube.traffic, { name: fig(path, n, 'pps'), path, flows: n }),
      })),
      ratios: [{ name: ratioName(path), of: fig(path, FLOWS[1], 'pps'), to: fig(path, FLOWS[0], 'pps'), cost: true }],
    };
  });
}

/**
 * The work function of one figure (see the header): `path` 'clusterip' or 'same-node',
 * `flows` the number of flows; establishes them and checks before returning. Also used by
 * tools/bench/flows-sweep.mjs.
 */
export function flowMix(cluster, traffic, { name, path, flows }) {
  const p = PATHS.find((x) => x.path === path);
  if (p === undefined) throw new Error(`flowMix: path ${JSON.stringify(path)} is not one of ${PATHS.map((x) => x.path).join(', ')}`);
  const { to, viaService } = p;
  const engine = cluster.engine;
  const server = cluster.pod(to);
  const sink = traffic.UdpSink.start(server.ns, PORT);
  const svc = cluster.plan.services.find((s) => s.name === 'sink');
  if (viaService && (svc === undefined || svc.endpoints.join() !== to)) {
    throw new Error(`service "sink" should have exactly one endpoint ${to}, has ${svc?.endpoints.join(', ')}`);
  }
  const dst = viaService ? svc.clusterIP : server.plan.ip;
  const gen = new traffic.UdpGenerator(cluster.pod('pod1').ns, { dst, dport: PORT, sport: SPORT, flows });
  const tables = [...cluster.services.conntrack];
  const node1 = cluster.services.conntrack.get('node1');
  if (node1 === undefined) throw new Error(`${name}: node1 has no conntrack table`);
  if (node1.capacity < flows) throw new Error(`${name}: conntrack capacity ${node1.capacity} < ${flows} flows`);
  /** Bursts that cover every flow at least once. */
  const pass = Math.ceil(flows / BURST) + 1;
  const send = (bursts) => {
    for (let r = 0; r < bursts; r++) {
      gen.burst(BURST);
      engine.runUntilIdle();
    }
  };
  const inserted = () => tables.map(([, t]) => t.stats.inserted);
  const searched = () => tables.map(([, t]) => t.stats.searched);
  const fail = (what, sent, got, before) => {
    const drops = JSON.stringify(diff(dropSnapshot(cluster), before));
    const first = engine.firstDrops.map((d) => `${d.element} ${d.reason}`).join('; ');
    throw new Error(`${name}: ${what}: sent ${sent}, delivered ${got}; drops ${drops}; first drops: ${first}`);
  };

  // Establish every flow (ARP resolves in the first pass), then check one pass end to end.
  send(2 * pass);
  const warmupDrops = dropSnapshot(cluster);
  if (node1.count < flows) throw new Error(`${name}: node1 tracks ${node1.count} connections after two passes of ${flows} flows`);
  {
    const s0 = gen.sent;
    const g0 = sink.packets;
    const i0 = inserted();
    send(pass);
    if (gen.sent - s0 !== sink.packets - g0) fail('check pass after establishing', gen.sent - s0, sink.packets - g0, warmupDrops);
    const fresh = inserted().map((v, i) => v - i0[i]);
    if (fresh.some((v) => v !== 0)) throw new Error(`${name}: the check pass created conntrack entries (${fresh.join(', ')}): flows not established`);
  }
  let base = null;
  return {
    step(rounds) {
      const s0 = gen.sent;
      const g0 = sink.packets;
      const d0 = base === null ? warmupDrops : base.drops;
      send(rounds);
      const sent = gen.sent - s0;
      const got = sink.packets - g0;
      if (sent !== got || sent !== rounds * BURST) fail('drops during a measured step', sent, got, d0);
      return got;
    },
    afterWarmup() {
      base = { sent: gen.sent, got: sink.packets, inserted: inserted(), drops: dropSnapshot(cluster) };
    },
    report() {
      const sent = gen.sent - base.sent;
      const delivered = sink.packets - base.got;
      const drops = diff(dropSnapshot(cluster), base.drops);
      const insertedInRuns = inserted().map((v, i) => v - base.inserted[i]);
      if (insertedInRuns.some((v) => v !== 0)) throw new Error(`${name}: conntrack entries created during the timed runs (${insertedInRuns.join(', ')})`);
      const lookups = lookupShare(tables, () => send(pass), searched);
      const packets = pass * BURST;
      const conntrack = Object.fromEntries(tables.map(([node, t], i) => [node, {
        entries: t.count, capacity: t.capacity, insertFailed: t.stats.insertFailed, earlyDrop: t.stats.earlyDrop,
        lookupsPerPacket: lookups.searched[i] / packets,
        flowCacheMissRate: lookups.searched[i] === 0 ? null : lookups.misses[i] / lookups.searched[i],
      }]));
      const warnings = [];
      if (sent !== delivered || Object.keys(drops).length > 0) warnings.push(`sent ${sent}, delivered ${delivered}; drops: ${JSON.stringify(drops)}`);
      const summary = tables.map(([node], i) => `${node} ${conntrack[node].entries} entries, ${conntrack[node].lookupsPerPacket.toFixed(2)} lookups/packet, flow-cache misses ${pct(conntrack[node].flowCacheMissRate)}`);
      warnings.push(`${flows} flows: ${summary.join('; ')}`);
      return { sent, delivered, drops, flows, conntrack, ...(Object.keys(warmupDrops).length > 0 ? { warmupDrops } : {}), warnings };
    },
    teardown() {
      sink.close();
      cluster.close();
    },
  };
}

/**
 * Runs `work` with every table's `lookup` wrapped on the instance (counting the calls: the
 * lookups the flow cache did not answer), then removes the wrappers. Returns per table the
 * lookups made (stats.searched) and the misses.
 */
function lookupShare(tables, work, searched) {
  const misses = tables.map(() => 0);
  tables.forEach(([, t], i) => {
    const orig = Object.getPrototypeOf(t).lookup;
    t.lookup = function (...args) {
      misses[i]++;
      return orig.apply(this, args);
    };
  });
  const s0 = searched();
  try {
    work();
  } finally {
    for (const [, t] of tables) delete t.lookup;
  }
  return { searched: searched().map((v, i) => v - s0[i]), misses };
}

const pct = (x) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);

function firstLine(e) {
  return String(e?.message ?? e).split('\n')[0];
}

// Not a top-level await: run.mjs imports this module again, which must have finished evaluating.
if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`bench: ${e?.stack ?? e}\n`);
    process.exitCode = 1;
  });
}

async function main() {
  const [{ runBench }, { parseBenchArgs, USAGE }] = await Promise.all([import('./run.mjs'), import('./harness.mjs')]);
  let opts;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const results = await runBench({ ...opts, filter: opts.filter ?? '^flows\\.' });
  return results.failed.length > 0 ? 1 : 0;
}
