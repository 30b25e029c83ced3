/**
 * Scenario `stale-udp-conntrack`: a long-lived UDP client keeps talking to a Service while
 * its only endpoint is replaced. The client's node has a conntrack entry DNATed to the old
 * pod's address; every datagram refreshes it (UDP: 30 s unreplied, 120 s once a stream,
 * nf_conntrack_proto_udp.c), so it never expires and every datagram goes to an address
 * nobody has any more, for as long as the client talks. kube-proxy deletes the UDP entries
 * of an endpoint that goes away (`conntrack -D -p udp --orig-dst VIP --reply-src OLDIP`,
 * pkg/proxy/conntrack CleanStaleEntries); without that, the traffic is a black hole.
 * Fix: the flush (podwire `flushStaleUdp: true`, kube-proxy's behaviour since #71573).
 */
import { formatIpv4 } from '../../wire/addr.js';
import { buildCluster, conntrackList, UdpClient, type Scenario } from './scenario.js';

const YAML = `
cluster: { name: stale-udp, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: app, node: node1 }
  - { name: statsd-0, node: node2, labels: { app: statsd }, apps: [ { type: udp-echo, port: 8125 } ] }
services:
  - { name: statsd, selector: { app: statsd }, ports: [ { port: 8125, protocol: UDP } ] }
`;

/** Seconds the client keeps sending after the endpoint changed (one datagram a second). */
const AFTER_S = 60;

export const staleUdp: Scenario = {
  name: 'stale-udp-conntrack',
  summary: 'a UDP client keeps sending to the old pod after its Service endpoint is replaced: the conntrack entry never expires',
  remedy: 'delete the stale UDP conntrack entries on an endpoint change, as kube-proxy does (conntrack -D -p udp --orig-dst VIP --reply-src OLD-POD-IP; podwire: flushStaleUdp: true)',
  issues: [
    'kubernetes/kubernetes#19029', 'kubernetes/kubernetes#48370', 'kubernetes/kubernetes#59368', 'kubernetes/kubernetes#66651',
    'kubernetes/kubernetes#71573', 'kubernetes/kubernetes#122740', 'kubernetes/kubernetes#126130',
  ],
  async run(ctx) {
    const c = buildCluster(YAML, ctx, { flushStaleUdp: ctx.fix });
    const vip = c.plan.services.find((s) => s.name === 'statsd')!.clusterIP;
    const oldIp = c.pod('statsd-0').plan.ip;
    const client = new UdpClient(c.pod('app').ns, vip, 8125, 40000);
    const tick = (n: number): number => {
      const before = client.replies;
      for (let i = 0; i < n; i++) { client.send(Buffer.from('requests:1|c')); c.engine.advance(1000); }
      return client.replies - before;
    };
    const warm = tick(5);
    // The rollout (maxSurge 1): a new pod (a new address) comes up, then the old one goes.
    const fresh = c.addPod({ name: 'statsd-1', node: 'node2', labels: { app: 'statsd' }, apps: [{ type: 'udp-echo', port: 8125 }] });
    c.removePod('statsd-0');
    const after = tick(AFTER_S);
    const ct = conntrackList(c, 'node1', { proto: 17, dst: vip });
    client.close();
    const notes = [
      `app:40000 -> statsd ${formatIpv4(vip)}:8125 every second; before the rollout ${warm}/5 answered by statsd-0 ${formatIpv4(oldIp)}`,
      `rollout: statsd-1 ${formatIpv4(fresh.plan.ip)} ready, then statsd-0 ${formatIpv4(oldIp)} deleted`,
      `node1# conntrack -L -p udp --orig-dst ${formatIpv4(vip)}`,
      ...ct.map((l) => `  ${l}`),
    ];
    const stale = ct.some((l) => l.includes(`src=${formatIpv4(oldIp)} `));
    const counters = { 'answered after the rollout': after, sent: AFTER_S };
    if (after === 0) {
      return {
        symptom: `${AFTER_S} of ${AFTER_S} datagrams after the rollout unanswered: still DNATed to ${formatIpv4(oldIp)} (gone); it goes on for as long as the client keeps sending`,
        failed: true, hop: 'node1/conntrack',
        reason: `stale entry ${stale ? '' : '(not found) '}reply src=${formatIpv4(oldIp)}: DNAT to a deleted pod, refreshed by every datagram`, counters, notes,
      };
    }
    return { symptom: `${after} of ${AFTER_S} datagrams after the rollout answered by statsd-1 ${formatIpv4(fresh.plan.ip)}`, failed: after < AFTER_S, hop: null, reason: null, counters, notes };
  },
};
