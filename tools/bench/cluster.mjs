/**
 * Figures of the "cluster", "VXLAN" and "services" issues: in-process forwarding rate of
 * a whole emulated cluster, single core, 64-byte UDP frames (UdpGenerator in one pod,
 * UdpSink in another), packets/s counted at the sink.
 *
 *   fwd.same-node                   pod1 -> pod2 on node1: veth, bridge, veth
 *   fwd.cross-node.routed           pod1 -> pod3, overlay "routed" (host-gw): node1 routes,
 *                                   underlay switch, node2 routes
 *   fwd.cross-node.vxlan            pod1 -> pod3, overlay "vxlan": encapsulation on node1,
 *                                   decapsulation on node2
 *   fwd.clusterip.cross-node.vxlan  pod1 -> ClusterIP of a UDP service whose only endpoint
 *                                   is pod3 on node2: conntrack + DNAT on node1, then VXLAN
 *   flowtable.same-node.on / .off   fwd.same-node with the flowtable (src/net/flowtable.ts)
 *                                   on and off, measured interleaved in one group;
 *   flowtable.same-node.speedup     on over off, the median of per-round ratios (x).
 *                                   The fwd.* figures measure the default (flowtable off).
 *
 * The topology is built here (two nodes; pod1, pod2 on node1; pod3 on node2; no DNS pod),
 * so the figures do not move when the examples change. kube-proxy's hooks (conntrack on
 * every node's root namespace) are installed in every cluster, as in Kubernetes.
 *
 * Driven as: burst(256) then engine.runUntilIdle(), repeated; the warm-up (4x the usual:
 * a cluster's code paths take longer to be optimised) also resolves ARP. After the timed
 * runs every datagram sent must have reached the sink; otherwise the figure carries the
 * drop counters that moved, and they are printed.
 */
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

const BURST = 256;
const PORT = 5001;

export const NAMES = [
  'fwd.same-node', 'fwd.cross-node.routed', 'fwd.cross-node.vxlan', 'fwd.clusterip.cross-node.vxlan',
  'flowtable.same-node.on', 'flowtable.same-node.off', 'flowtable.same-node.speedup',
];

/** The two-node bench topology (also tools/bench/flows.mjs). */
export function topology(overlay) {
  return {
    cluster: { name: 'bench', overlay, dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [
      { name: 'pod1', node: 'node1' },
      { name: 'pod2', node: 'node1' },
      { name: 'pod3', node: 'node2', labels: { bench: 'sink' } },
    ],
    services: [{ name: 'sink', type: 'ClusterIP', selector: { bench: 'sink' }, ports: [{ name: 'udp', port: PORT, protocol: 'UDP' }] }],
  };
}

export async function benchmarks() {
  let kube;
  try {
    const [clusterMod, topo, traffic] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('apps/traffic.js')]);
    kube = { Cluster: clusterMod.Cluster, validateTopology: topo.validateTopology, traffic };
  } catch (e) {
    const reason = `cannot load the cluster from dist/ (${firstLine(e)})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const make = (overlay, flowtable = false) => {
    const r = kube.validateTopology(topology(overlay));
    if (!r.ok) throw new Error(`bench topology invalid: ${JSON.stringify(r.errors)}`);
    return new kube.Cluster(r.topology, { flowtable });
  };
  const bench = (name, overlay, to, viaService = false, flowtable = false, replied = false) => ({
    name, unit: 'Mpps', warmFactor: 4,
    setup: () => forwarding(make(overlay, flowtable), kube.traffic, to, viaService, replied),
  });
  const out = [
    bench('fwd.same-node', 'vxlan', 'pod2'),
    bench('fwd.cross-node.routed', 'routed', 'pod3'),
    bench('fwd.cross-node.vxlan', 'vxlan', 'pod3'),
    {
      group: [bench('flowtable.same-node.on', 'vxlan', 'pod2', false, true, true), bench('flowtable.same-node.off', 'vxlan', 'pod2', false, false, true)],
      ratios: [{ name: 'flowtable.same-node.speedup', of: 'flowtable.same-node.on', to: 'flowtable.same-node.off' }],
    },
  ];
  let probe;
  try {
    probe = make('vxlan');
  } catch (e) {
    out.push({ skip: NAMES[3], reason: `cluster with a service does not build (${firstLine(e)})` });
    return out;
  }
  const ok = probe.supportsServices === true;
  probe.close();
  out.push(ok ? bench(NAMES[3], 'vxlan', 'pod3', true) : { skip: NAMES[3], reason: 'cluster.supportsServices is false (kube-proxy not installed yet)' });
  return out;
}

/**
 * `replied`: before the timed traffic, one datagram of the flow and one back from the sink's
 * port, so that conntrack's entry has seen its reply (ESTABLISHED): only such a flow gets a
 * flowtable entry (a one-way stream stays UNREPLIED and never does). Both flowtable figures do it.
 */
function forwarding(cluster, traffic, to, viaService, replied = false) {
  const engine = cluster.engine;
  const client = cluster.pod('pod1').ns;
  const server = cluster.pod(to);
  const sink = traffic.UdpSink.start(server.ns, PORT);
  const svc = cluster.plan.services.find((s) => s.name === 'sink');
  if (viaService && (svc === undefined || svc.endpoints.join() !== to)) {
    throw new Error(`service "sink" should have exactly one endpoint ${to}, has ${svc?.endpoints.join(', ')}`);
  }
  const dst = viaService ? svc.clusterIP : server.plan.ip;
  const gen = new traffic.UdpGenerator(client, { dst, dport: PORT, sport: 40000 });
  if (replied) {
    gen.burst(1);
    engine.runUntilIdle();
    new traffic.UdpGenerator(server.ns, { dst: client.sourceFor(dst), dport: 40000, sport: PORT }).burst(1);
    engine.runUntilIdle();
  }
  let base = null;
  return {
    step(rounds) {
      const before = sink.packets;
      for (let r = 0; r < rounds; r++) {
        gen.burst(BURST);
        engine.runUntilIdle();
      }
      return sink.packets - before;
    },
    afterWarmup() {
      base = {
        sent: gen.sent, got: sink.packets, exhausted: gen.poolExhausted, drops: dropSnapshot(cluster), firstDrops: engine.firstDrops.length,
        hits: cluster.flowtable?.hits ?? 0,
      };
    },
    report() {
      const sent = gen.sent - base.sent;
      const delivered = sink.packets - base.got;
      const drops = diff(dropSnapshot(cluster), base.drops);
      const exhausted = gen.poolExhausted - base.exhausted;
      if (exhausted > 0) drops['generator:pool-exhausted'] = exhausted;
      const warnings = [];
      if (sent !== delivered || Object.keys(drops).length > 0) {
        warnings.push(`sent ${sent}, delivered ${delivered}; drops: ${JSON.stringify(drops)}`);
        for (const d of engine.firstDrops.slice(base.firstDrops)) warnings.push(`first drop: ${d.element} ${d.reason}`);
      }
      const warmupDrops = base.drops;
      // With the flowtable on: the share of the timed datagrams it carried (it must be about all of them).
      const ft = cluster.flowtable ?? null;
      const flowtable = ft === null ? {} : { flowtableHitShare: sent === 0 ? 0 : (ft.hits - base.hits) / sent };
      if (ft !== null && sent > 0 && (ft.hits - base.hits) < sent * 0.99) warnings.push(`flowtable carried only ${ft.hits - base.hits} of ${sent} datagrams`);
      return { sent, delivered, drops, ...(Object.keys(warmupDrops).length > 0 ? { warmupDrops } : {}), ...flowtable, warnings };
    },
    teardown() {
      sink.close();
      cluster.close();
    },
  };
}

/** Every drop counter that is non-zero: elements' drop reasons, link and unconnected-port drops, pool exhaustion. */
export function dropSnapshot(cluster) {
  const e = cluster.engine;
  const out = {};
  for (const [key, el] of e.elements) {
    addCounters(out, key, el.drops);
  }
  // Netfilter hooks are not elements: kube-proxy's own drops and its NAT/conntrack hooks' drops.
  for (const [node, hooks] of cluster.services?.hooks ?? []) {
    addCounters(out, `${node}/kube-proxy`, hooks.drops);
    addCounters(out, `${node}/conntrack`, hooks.nat?.drops);
  }
  if (e.linkDrops !== 0) out['links:link-full'] = e.linkDrops;
  if (e.unconnectedDrops !== 0) out['ports:unconnected'] = e.unconnectedDrops;
  if (e.pool.exhausted !== 0) out['pool:exhausted'] = e.pool.exhausted;
  return out;
}

function addCounters(out, owner, d) {
  if (d === null || d === undefined) return;
  for (let i = 0; i < d.names.length; i++) if (d.values[i] !== 0) out[`${owner}:${d.names[i]}`] = d.values[i];
}

export function diff(now, before) {
  const out = {};
  for (const [k, v] of Object.entries(now)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

function firstLine(e) {
  return String(e?.message ?? e).split('\n')[0];
}
