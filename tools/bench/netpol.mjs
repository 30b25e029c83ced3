/**
 * NetworkPolicy figures (issue 17): the per-packet cost of a destination pod with 100
 * policies applied, beside the same cluster with none, measured interleaved in one run
 * (a group: the ratio is the median of per-round ratios).
 *
 *   netpol.fwd.0 / netpol.fwd.100         pod1 -> pod3 across nodes (vxlan), one UDP flow,
 *                                         64-byte frames (Mpps at the sink): the policy is
 *                                         checked on the flow's first packet only, the
 *                                         rest pass as conntrack ESTABLISHED
 *   netpol.fwd.cost-100/0                 time per packet with 100 policies over none (x)
 *   netpol.new-flows.0 / .100             the same, every datagram a new flow (a new source
 *                                         port, UDP checksum 0), so every packet is a NEW
 *                                         conntrack entry checked against the policies; the
 *                                         conntrack tables are flushed after each round of
 *                                         256 (cost included in both figures)
 *   netpol.new-flows.cost-100/0           time per packet with 100 policies over none (x);
 *                                         the filter caches verdicts per (source pod,
 *                                         destination pod, protocol, port), so this is the
 *                                         cached verdict's cost
 *   netpol.check.1 / netpol.check.100     NetpolModel.check alone (no cache), pod1 -> pod3
 *                                         with 1 and 100 policies on pod3 (ns/op): the rule
 *                                         walk a cache miss pays
 *
 * The 100 policies all select pod3 (label bench=sink) for ingress: 99 allow other clients
 * (`client: c<i>`, UDP 5001) and fail to match pod1, the last allows pod1 (`bench: client`):
 * every check walks all 100 before the verdict, the worst case of the verdict table.
 */
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

const BURST = 256;
const PORT = 5001;

export const NAMES = [
  'netpol.fwd.0', 'netpol.fwd.100', 'netpol.fwd.cost-100/0', 'netpol.new-flows.0', 'netpol.new-flows.100', 'netpol.new-flows.cost-100/0',
  'netpol.check.1', 'netpol.check.100',
];

function topology(policies) {
  const pol = [];
  for (let i = 0; i < policies; i++) {
    const last = i === policies - 1;
    pol.push({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `p${i}`, namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { bench: 'sink' } },
        ingress: [{ from: [{ podSelector: { matchLabels: last ? { bench: 'client' } : { client: `c${i}` } } }], ports: [{ protocol: 'UDP', port: PORT }] }],
      },
    });
  }
  return {
    cluster: { name: 'bench', overlay: 'vxlan', dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [
      { name: 'pod1', node: 'node1', labels: { bench: 'client' } },
      { name: 'pod3', node: 'node2', labels: { bench: 'sink' } },
    ],
    networkPolicies: pol,
  };
}

export async function benchmarks() {
  let kube;
  try {
    const [clusterMod, topo, traffic, addr] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('apps/traffic.js'), load('wire/addr.js')]);
    kube = { Cluster: clusterMod.Cluster, validateTopology: topo.validateTopology, traffic, writeU16: addr.writeU16 };
  } catch (e) {
    const reason = `cannot load the cluster from dist/ (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const make = (policies) => {
    const r = kube.validateTopology(topology(policies));
    if (!r.ok) throw new Error(`bench topology invalid: ${JSON.stringify(r.errors)}`);
    const c = new kube.Cluster(r.topology);
    if (c.netpol === undefined) throw new Error('this build has no NetworkPolicy');
    return c;
  };
  const bench = (name, policies, newFlows) => ({ name, unit: 'Mpps', warmFactor: 4, setup: () => forwarding(make(policies), kube, newFlows) });
  try {
    make(1).close();
  } catch (e) {
    const reason = `cluster with NetworkPolicies does not build (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  return [
    { group: [bench('netpol.fwd.0', 0, false), bench('netpol.fwd.100', 100, false)], ratios: [{ name: 'netpol.fwd.cost-100/0', of: 'netpol.fwd.100', to: 'netpol.fwd.0', cost: true }] },
    { group: [bench('netpol.new-flows.0', 0, true), bench('netpol.new-flows.100', 100, true)], ratios: [{ name: 'netpol.new-flows.cost-100/0', of: 'netpol.new-flows.100', to: 'netpol.new-flows.0', cost: true }] },
    { group: [checkBench('netpol.check.1', 1, make), checkBench('netpol.check.100', 100, make)] },
  ];
}

/** NetpolModel.check of pod1 -> pod3 UDP 5001 (allowed by the last policy), n times. */
function checkBench(name, policies, make) {
  return {
    name, unit: 'ns/op',
    setup() {
      const c = make(policies);
      const m = c.netpol.model;
      const src = c.pod('pod1').plan.ip;
      const dst = c.pod('pod3').plan.ip;
      c.close();
      return {
        step(n) {
          let ok = 0;
          for (let i = 0; i < n; i++) if (m.check(src, dst, 17, PORT)) ok++;
          if (ok !== n) throw new Error(`${name}: ${n - ok} of ${n} checks denied`);
          return n;
        },
      };
    },
  };
}

function forwarding(cluster, kube, newFlows) {
  const engine = cluster.engine;
  const server = cluster.pod('pod3');
  const sink = kube.traffic.UdpSink.start(server.ns, PORT);
  const gen = new kube.traffic.UdpGenerator(cluster.pod('pod1').ns, { dst: server.plan.ip, dport: PORT, sport: 40000 });
  const t = gen.template;
  if (newFlows) kube.writeU16(t, 26, 0); // no UDP checksum (RFC 768): the source port can change freely
  let sport = 1024;
  let base = null;
  const denied = () => cluster.netpol.stats().deniedBy;
  return {
    step(rounds) {
      const before = sink.packets;
      for (let r = 0; r < rounds; r++) {
        if (newFlows) {
          for (let i = 0; i < BURST; i++) {
            kube.writeU16(t, 20, sport);
            sport = sport === 65535 ? 1024 : sport + 1;
            gen.burst(1);
          }
          engine.runUntilIdle();
          const now = engine.now();
          for (const table of cluster.services.conntrack.values()) table.deleteWhere({ proto: 17 }, now);
        } else {
          gen.burst(BURST);
          engine.runUntilIdle();
        }
      }
      return sink.packets - before;
    },
    afterWarmup() {
      base = { sent: gen.sent, got: sink.packets };
    },
    report() {
      const sent = gen.sent - base.sent;
      const delivered = sink.packets - base.got;
      const warnings = sent !== delivered ? [`sent ${sent}, delivered ${delivered}; policy denials: ${JSON.stringify(denied())}`] : [];
      return { sent, delivered, policies: cluster.netpol.stats().policies, warnings };
    },
    teardown() {
      sink.close();
      cluster.close();
    },
  };
}
