/**
 * Scenario `neighbor-table-overflow`: Linux keeps one ARP table per kernel (net/ipv4/arp.c
 * `arp_tbl`), not one per network namespace, so every pod on a node counts against the
 * node's gc_thresh3 (1024). The 64 workers of a job start together and each opens a
 * connection to its 9 next peers on the same node (pod to pod over the bridge: one entry in
 * the sender for the peer, one in the peer for the sender, learnt from the ARP request):
 * 1152 entries wanted, in a burst; entries younger than 5 s
 * cannot be collected (neigh_forced_gc), so allocations fail: "neighbour: arp_cache:
 * neighbor table overflow!", `ip neigh add` answers ENOBUFS, and the late pods cannot reach
 * their peers. Each pod's own table holds at most 18 entries: the limit is invisible from inside.
 * Fix: raise net.ipv4.neigh.default.gc_thresh1/2/3 (8192/32768/65536 is the usual advice).
 */
import { formatIpv4 } from '../../wire/addr.js';
import { buildCluster, ping, type Scenario } from './scenario.js';

const PODS = 64;
const PEERS = 9;

const YAML = `
cluster: { name: neigh, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 } ]
pods:
${Array.from({ length: PODS }, (_, i) => `  - { name: worker-${i}, node: node1 }`).join('\n')}
`;

export const neighOverflow: Scenario = {
  name: 'neighbor-table-overflow',
  summary: `${PODS} pods of one node reach ${PEERS} peers each at once: the kernel-wide ARP table passes gc_thresh3 (1024), the late connections fail`,
  remedy: 'raise net.ipv4.neigh.default.gc_thresh1/2/3 (to 8192/32768/65536)',
  // The host ends of the first and the last pods' veths (every ARP request is flooded to all
  // 64 ports: capturing them all would hold 40k frames).
  capture: (pt) => /^node1\/(veth0|veth63)$/.test(pt),
  issues: ['kubernetes/kops#4533', 'rtr7/router7#31', 'e2b-dev/infra#3508', 'Azure/aks-engine#2732', 'kubernetes-sigs/image-builder#333', 'ovn-org/ovn-heater#124'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx, ctx.fix ? { neighbor: { gcThresh2: 32768, gcThresh3: 65536 } } : {});
    const node = c.node('node1');
    const pods = [...c.pods.values()];
    // The burst: within one second every worker pings its next PEERS peers (its first packets to them).
    const tries: { from: string; to: string; to_ip: number; r: ReturnType<typeof ping> }[] = [];
    for (let k = 1; k <= PEERS; k++) {
      pods.forEach((pod, i) => {
        const peer = pods[(i + k) % PODS]!;
        tries.push({ from: pod.plan.name, to: peer.plan.name, to_ip: peer.plan.ip, r: ping(pod.ns, peer.plan.ip, 0x4000 + k) });
        if (tries.length % 8 === 0) c.engine.advance(10);
      });
    }
    c.engine.advance(4000);
    for (const t of tries) t.r.close();
    const lost = tries.filter((t) => t.r.replies === 0);
    const lim = node.neigh;
    const counters = {
      'arp_tbl entries': lim.entries, gc_thresh2: lim.gcThresh2, gc_thresh3: lim.gcThresh3, table_fulls: lim.tableFulls,
      forced_gc_runs: lim.forcedGcRuns, 'pings answered': tries.length - lost.length, pings: tries.length,
    };
    const biggest = Math.max(...pods.map((p) => p.ns.neighbors.size));
    const notes = [
      `${PODS} workers on node1 each ping their ${PEERS} next peers (${tries.length} pings within one second)`,
      `largest pod neighbour table: ${biggest} entries (capacity 1024); the node kernel's arp_tbl: ${lim.entries} (gc_thresh3 ${lim.gcThresh3})`,
      `forced GC ran ${lim.forcedGcRuns} times and removed ${lim.forcedGcRemoved} entries (none older than 5 s)`,
    ];
    if (lost.length > 0) {
      const f = lost[0]!;
      notes.push(`pings without reply: ${lost.length} of ${tries.length}, the first ${f.from} -> ${f.to}`);
      return {
        symptom: `ping ${formatIpv4(f.to_ip)} from ${f.from}: 100% packet loss (${lost.length} of ${tries.length} pod-to-pod pings); dmesg: neighbour: arp_cache: neighbor table overflow!`,
        failed: true, hop: 'node1 kernel arp_tbl (neigh_alloc)',
        reason: `neighbour: arp_cache: neighbor table overflow! (table_fulls ${lim.tableFulls}; ip neigh add: RTNETLINK answers: No buffer space available)`, counters, notes,
      };
    }
    return { symptom: `all ${tries.length} pings answered (arp_tbl ${lim.entries} entries, gc_thresh3 ${lim.gcThresh3})`, failed: false, hop: null, reason: null, counters, notes };
  },
};
