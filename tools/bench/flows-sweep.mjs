#!/usr/bin/env node
/**
 * The flow mix of flows.mjs at several flow counts, side by side, in the main thread (so
 * `node --cpu-prof` profiles it): what the cost per packet does between 10 and 10,000 flows.
 *
 *   node tools/bench/flows-sweep.mjs [--path clusterip|same-node] [--flows 10,100,1000,10000]
 *                                    [--rounds 9] [--ms 200] [--profile DIR]
 *                                    [--vxlan-srcport LO-HI]
 *
 * One cluster per count (built and established as flows.mjs does, checked: no drops), a
 * warm-up of 1 s each, then `rounds` rounds in which every count runs about `ms` of bursts
 * in turn. Prints per count the median ns/packet and the median of the per-round cost
 * ratios to the first count, plus the conntrack picture of flows.mjs (entries, lookups
 * per packet, flow-cache misses). `--profile DIR`: afterwards, `rounds` more runs of each
 * count in turn under the V8 CPU profiler (node:inspector, same process and JIT state),
 * written as DIR/<name>.cpuprofile with the ns/packet of those runs printed beside it (the
 * profiler slows everything down; compare the profiles' shares, not their rates). Not part
 * of run.mjs: a tool for looking into the flows.* figures. `--vxlan-srcport LO-HI`: the
 * clusters' `cluster.vxlan.sourcePortRange` (default 32768-60999; `40000-40000` makes all
 * VXLAN datagrams one outer flow, as `ip link add ... type vxlan srcport 40000 40001` would).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { flowMix, loadKube, makeCluster } from './flows.mjs';
import { formatLine, median } from './harness.mjs';

const USAGE = 'usage: node tools/bench/flows-sweep.mjs [--path clusterip|same-node] [--flows 10,100,1000,10000] [--rounds 9] [--ms 200] [--profile DIR] [--vxlan-srcport LO-HI]';

function parse(argv) {
  const o = { path: 'clusterip', flows: [10, 100, 1000, 10000], rounds: 9, ms: 200, profile: null, vxlanSourcePortRange: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--path') o.path = v;
    else if (a === '--flows') o.flows = v.split(',').map(Number);
    else if (a === '--rounds') o.rounds = Number(v);
    else if (a === '--ms') o.ms = Number(v);
    else if (a === '--profile') o.profile = v;
    else if (a === '--vxlan-srcport') o.vxlanSourcePortRange = v.split('-').map(Number);
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  if (o.flows.some((n) => !Number.isInteger(n) || n < 1 || n > 40000)) throw new Error(`--flows ${o.flows.join()}: integers 1..40000`);
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`--rounds ${o.rounds}: a positive integer`);
  if (!(o.ms > 0)) throw new Error(`--ms ${o.ms}: a positive number`);
  return o;
}

/** Bursts per run so that one run takes about `ms`, after about 1 s of warm-up. */
function warm(step, ms) {
  const start = performance.now();
  let n = 1;
  let per = 0;
  while (performance.now() - start < 1000) {
    const t0 = performance.now();
    step(n);
    per = (performance.now() - t0) / n;
    if (n < 64) n *= 2;
  }
  return Math.max(1, Math.round(ms / per));
}

async function main() {
  let o;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`flows-sweep: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const kube = await loadKube();
  const members = o.flows.map((flows) => {
    const name = `flows.${o.path}.${flows}`;
    return { name, flows, work: flowMix(makeCluster(kube, { vxlanSourcePortRange: o.vxlanSourcePortRange }), kube.traffic, { name, path: o.path, flows }) };
  });
  for (const m of members) {
    m.n = warm(m.work.step, o.ms);
    m.work.afterWarmup();
    m.ns = [];
  }
  for (let r = 0; r < o.rounds; r++) {
    for (const m of members) {
      const t0 = process.hrtime.bigint();
      const items = m.work.step(m.n);
      m.ns.push(Number(process.hrtime.bigint() - t0) / items);
    }
  }
  if (o.profile !== null) await profile(members, o);
  const first = members[0];
  for (const m of members) {
    const ratio = median(m.ns.map((x, i) => x / first.ns[i]));
    process.stdout.write(`${formatLine(`${m.name}.ns-per-packet`, median(m.ns), 'ns/pkt')}  ${ratio.toFixed(3)} x ${first.flows}\n`);
    const { conntrack } = m.work.report();
    const lines = Object.entries(conntrack).filter(([, c]) => c.lookupsPerPacket > 0)
      .map(([node, c]) => `${node} ${c.entries} entries, ${c.lookupsPerPacket.toFixed(2)} lookups/pkt, flow-cache misses ${(c.flowCacheMissRate * 100).toFixed(1)}%`);
    process.stdout.write(`#   ${lines.join('; ')}\n`);
    m.work.teardown();
  }
  return 0;
}

/** `rounds` runs of each member under the CPU profiler, one profile per member. */
async function profile(members, o) {
  mkdirSync(o.profile, { recursive: true });
  const session = new Session();
  session.connect();
  const post = (method, params = {}) => new Promise((ok, fail) => session.post(method, params, (e, r) => (e ? fail(e) : ok(r))));
  await post('Profiler.enable');
  for (const m of members) {
    await post('Profiler.start');
    let ns = 0;
    let items = 0;
    for (let r = 0; r < o.rounds; r++) {
      const t0 = process.hrtime.bigint();
      items += m.work.step(m.n);
      ns += Number(process.hrtime.bigint() - t0);
    }
    const { profile: prof } = await post('Profiler.stop');
    const file = join(o.profile, `${m.name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(prof));
    process.stdout.write(`# profiled ${m.name}: ${(ns / items).toFixed(0)} ns/pkt under the profiler -> ${file}\n`);
  }
  session.disconnect();
}

main().then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`flows-sweep: ${e?.stack ?? e}\n`);
  process.exitCode = 1;
});
