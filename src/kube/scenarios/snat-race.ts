/**
 * Scenario `snat-race`: many pods reach one destination through the same masquerade
 * (here node2's NodePort, which SNATs to node2's address; ip-masq-agent's MASQUERADE for
 * traffic leaving the cluster is the same rule) with the same source port: NTP clients
 * send from port 123. MASQUERADE keeps a connection's source port when no confirmed entry
 * has the reply tuple it makes (nf_nat_used_tuple); two connections handled in the same
 * instant on two CPUs both keep port 123, and the second confirmation clashes: dropped,
 * insert_failed (the XING write-up "Racy conntrack and DNS lookup timeouts" / SNAT race,
 * src/netfilter/nat-hooks.ts). Nothing retries the lost datagrams: half the clients get no
 * time. Fix: MASQUERADE --random-fully (kube-proxy uses it where iptables has it; ip-masq-agent
 * did not): every connection draws its port at random, the racing pair no longer collides.
 */
import { formatIpv4 } from '../../wire/addr.js';
import { buildCluster, UdpClient, type Scenario } from './scenario.js';

const CLIENTS = 16;
const NODE_PORT = 30123;

const YAML = `
cluster: { name: snat, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 }, { name: node3 } ]
pods:
${Array.from({ length: CLIENTS }, (_, i) => `  - { name: ntp-client-${i}, node: node1 }`).join('\n')}
  - { name: ntp-0, node: node3, labels: { app: ntp }, apps: [ { type: udp-echo, port: 123 } ] }
services:
  - { name: ntp, type: NodePort, selector: { app: ntp }, ports: [ { port: 123, protocol: UDP, nodePort: ${NODE_PORT} } ] }
`;

export const snatRace: Scenario = {
  name: 'snat-race',
  summary: 'pods masqueraded to one destination with the same source port race in conntrack: insert_failed, lost packets; --random-fully',
  remedy: 'MASQUERADE --random-fully (kube-proxy since 1.16 where iptables supports it; ip-masq-agent#51)',
  issues: ['kubernetes-sigs/ip-masq-agent#51', 'flannel-io/flannel#1001', 'antrea-io/antrea#6544', 'cilium/cilium#33074', 'cilium/cilium#23604', 'kubeovn/kube-ovn#1956'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx);
    const nat = c.services.hooks.get('node2')!.nat;
    nat.cpus = 2;
    nat.randomFully = ctx.fix;
    const dst = c.node('node2').plan.ip;
    // Warm ARP on the way (node1 -> node2 -> node3) so that the burst below is one instant.
    const warm = new UdpClient(c.pod('ntp-client-0').ns, dst, NODE_PORT, 50000);
    warm.send(Buffer.from('warm'));
    c.engine.advance(1000);
    warm.close();
    const clients = [...c.pods.values()].filter((p) => p.plan.name.startsWith('ntp-client-')).map((p) => new UdpClient(p.ns, dst, NODE_PORT, 123));
    for (const k of clients) k.send(Buffer.alloc(48, 0x23)); // NTP v4 client requests, all in one instant
    c.engine.advance(2000);
    const answered = clients.filter((k) => k.replies > 0).length;
    for (const k of clients) k.close();
    const t = c.services.conntrack.get('node2')!;
    const ports = new Set(t.entries(c.engine.now(), { proto: 17, replySrc: c.pod('ntp-0').plan.ip }).map((v) => v.reply.dport ?? 0));
    const counters = { insert_failed: t.stats.clashInsertFailed, 'clients answered': answered, clients: CLIENTS, 'SNAT ports in use': ports.size };
    const notes = [
      `${CLIENTS} pods on node1 send an NTP request from port 123 to node2 ${formatIpv4(dst)}:${NODE_PORT} at once; node2 DNATs to ntp-0 on node3 and masquerades to ${formatIpv4(dst)}${ctx.fix ? ' --random-fully' : ''}`,
      `node2# conntrack -S: insert_failed=${t.stats.clashInsertFailed}`,
      `node2's SNAT source ports towards ntp-0: ${[...ports].sort((a, b) => a - b).join(', ')}`,
    ];
    if (answered < CLIENTS) {
      return {
        symptom: `${CLIENTS - answered} of ${CLIENTS} pods: ntpdate: no server suitable for synchronization found (request lost)`,
        failed: true, hop: 'node2/conntrack (confirmation after MASQUERADE)',
        reason: `nf_conntrack: insert_failed ${t.stats.clashInsertFailed}: two connections kept source port 123 on two CPUs, the second reply tuple clashes`, counters, notes,
      };
    }
    return { symptom: `all ${CLIENTS} pods get their NTP answer`, failed: false, hop: null, reason: null, counters, notes };
  },
};
