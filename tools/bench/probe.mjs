/**
 * `podwire probe` figures (issue 17, 19): the upstream x/y/z model's whole matrix, 81 pairs x
 * ports 80, 81 x TCP, UDP, SCTP = 486 probes, real packets through the dataplane in virtual
 * time, with one default-deny-ingress policy in namespace x (so a third of the probes is
 * 144 of the 486 are dropped at the policy filter, 342 get SYN-ACK, UDP or INIT ACK back:
 * every pair into x but a pod to itself).
 *
 *   probe.xyz.traced        probes per second with every probe traced for its reason (the CLI)
 *   probe.xyz.traced.ms     one whole matrix (486 probes), ms
 *   probe.xyz.untraced      the same without traces (`reasons: false`, the Cyclonus suite's)
 *   probe.xyz.untraced.ms   one whole matrix, ms
 */
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

export const NAMES = ['probe.xyz.traced', 'probe.xyz.traced.ms', 'probe.xyz.untraced', 'probe.xyz.untraced.ms'];
const MATRIX = 486;

export async function benchmarks() {
  let kube;
  try {
    const [clusterMod, topo, model, probe] = await Promise.all([load('kube/cluster.js'), load('kube/topology.js'), load('kube/netpol-model.js'), load('kube/probe.js')]);
    kube = { Cluster: clusterMod.Cluster, validateTopology: topo.validateTopology, model, probe };
  } catch (e) {
    const reason = `cannot load the probe from dist/ (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const deny = { metadata: { name: 'deny-ingress', namespace: 'x' }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [] } };
  const bench = (name, reasons) => ({
    name, unit: 'kprobes/s', warmFactor: 2,
    derive: [{ name: `${name}.ms`, unit: 'ms', f: (rate) => (MATRIX / rate) * 1000 }],
    setup: () => {
      const r = kube.validateTopology(kube.model.netpolModelDocument([deny]));
      if (!r.ok) throw new Error(`model invalid: ${JSON.stringify(r.errors)}`);
      const c = new kube.Cluster(r.topology);
      let allowed = 0;
      let total = 0;
      return {
        step(rounds) {
          let n = 0;
          for (let i = 0; i < rounds; i++) {
            const res = kube.probe.probeCluster(c, { reasons });
            n += res.probes.length;
            total += res.probes.length;
            allowed += res.probes.filter((p) => p.allowed).length;
          }
          return n;
        },
        report() {
          const warnings = allowed * MATRIX !== total * 342 ? [`allowed ${allowed} of ${total}, not 342 of every 486`] : [];
          return { probes: total, allowed, warnings };
        },
        teardown() { c.close(); },
      };
    },
  });
  return [bench('probe.xyz.traced', true), bench('probe.xyz.untraced', false)];
}
