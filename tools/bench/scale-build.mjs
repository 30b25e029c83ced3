#!/usr/bin/env node
/**
 * One cold build of the scale topology, in its own process so that its RSS is its own:
 * `node tools/bench/scale-build.mjs NODES OVERLAY` prints one JSON line
 * { nodes, overlay, validateMs, planMs, buildMs, rssMiB, peakRssMiB, heapMiB, routes, ... }.
 *
 *   validate   validateTopology(doc): JSON Schema + semantic checks (+ its planCluster safety net)
 *   plan       planCluster(topology): addresses, MACs, veth names, service IPs, endpoints
 *   build      new Cluster(topology): namespaces, bridges, veths, overlay, kube-proxy, DNS records
 *
 * Modules are loaded before the clock starts. peakRssMiB is getrusage's ru_maxrss.
 */
import { performance } from 'node:perf_hooks';
import { scaleTopology } from './scale-topology.mjs';

const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

const nodes = Number(process.argv[2]);
const overlay = process.argv[3] ?? 'vxlan';
const [{ Cluster }, { validateTopology }, { planCluster }] = await Promise.all([
  load('kube/cluster.js'), load('kube/topology.js'), load('kube/plan.js'),
]);
const doc = scaleTopology(nodes, overlay);
let t0 = performance.now();
const r = validateTopology(doc);
const validateMs = performance.now() - t0;
if (!r.ok) throw new Error(`scale topology invalid: ${JSON.stringify(r.errors.slice(0, 3))}`);
t0 = performance.now();
planCluster(r.topology);
const planMs = performance.now() - t0;
t0 = performance.now();
const cluster = new Cluster(r.topology);
const buildMs = performance.now() - t0;
const mem = process.memoryUsage();
const MiB = 2 ** 20;
const node1 = cluster.node('node1').root;
process.stdout.write(`${JSON.stringify({
  nodes, overlay, pods: cluster.pods.size, services: cluster.plan.services.length,
  validateMs, planMs, buildMs,
  rssMiB: mem.rss / MiB, peakRssMiB: process.resourceUsage().maxRSS / 1024, heapMiB: mem.heapUsed / MiB, arrayBuffersMiB: mem.arrayBuffers / MiB,
  routesPerNode: node1.routes.size,
})}\n`);
cluster.close();
