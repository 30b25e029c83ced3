#!/usr/bin/env node
/**
 * A fixed amount of forwarding work, timed in CPU time per delivered packet: the steadier
 * comparison of two builds on a shared machine (CPU time does not count the time the process
 * waits for a core; the bench harness's rates do). Same two-node topology as cluster.mjs;
 * 4,000 warm-up bursts of 256 datagrams, then ROUNDS timed bursts.
 *
 *   node tools/bench/fixed-loop.mjs DIST OVERLAY TO VIA_SERVICE ROUNDS
 *   node tools/bench/fixed-loop.mjs dist vxlan pod3 0 4000     (pod1 -> pod3 over VXLAN)
 *   node tools/bench/fixed-loop.mjs dist vxlan pod2 0 4000     (pod1 -> pod2, same node)
 *
 * DIST is a build's dist/ directory (relative to the current directory or absolute), so two
 * trees can be alternated: for i in 1..10, each tree once. Prints `wall N cpu N ns/pkt`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir, overlay, to, svcFlag, roundsS] = process.argv.slice(2);
if (roundsS === undefined) {
  console.error('usage: node tools/bench/fixed-loop.mjs DIST OVERLAY TO VIA_SERVICE ROUNDS');
  process.exit(2);
}
const load = (p) => import(new URL(p, pathToFileURL(resolve(distDir) + '/')).href);
const [clusterMod, topo, traffic] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('apps/traffic.js')]);
const t = {
  cluster: { name: 'bench', overlay, dnsReplicas: 0 },
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  pods: [ { name: 'pod1', node: 'node1' }, { name: 'pod2', node: 'node1' }, { name: 'pod3', node: 'node2', labels: { bench: 'sink' } } ],
  services: [{ name: 'sink', type: 'ClusterIP', selector: { bench: 'sink' }, ports: [{ name: 'udp', port: 5001, protocol: 'UDP' }] }],
};
const r = topo.validateTopology(t);
const c = new clusterMod.Cluster(r.topology);
const sink = traffic.UdpSink.start(c.pod(to).ns, 5001);
const svc = c.plan.services.find((s) => s.name === 'sink');
const dst = svcFlag === '1' ? svc.clusterIP : c.pod(to).plan.ip;
const gen = new traffic.UdpGenerator(c.pod('pod1').ns, { dst, dport: 5001, sport: 40000 });
const rounds = Number(roundsS);
for (let i = 0; i < 4000; i++) { gen.burst(256); c.engine.runUntilIdle(); }
const got0 = sink.packets; // warm-up drops (ARP resolving) are not the timed loop's
const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) { gen.burst(256); c.engine.runUntilIdle(); }
const ns = Number(process.hrtime.bigint() - t0); const cu = process.cpuUsage(c0);
console.log(`wall ${(ns / (rounds * 256)).toFixed(0)} cpu ${((cu.user + cu.system) * 1000 / (rounds * 256)).toFixed(0)} ns/pkt`);
if (sink.packets - got0 !== rounds * 256) console.error(`warning: ${rounds * 256 - (sink.packets - got0)} timed datagrams not delivered`);
c.close();
