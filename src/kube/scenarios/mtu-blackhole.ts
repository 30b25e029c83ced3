/**
 * Scenario `vxlan-mtu-blackhole`: pods with MTU 1500 on a VXLAN overlay over a 1500-byte
 * underlay (the CNI did not apply flannel's FLANNEL_MTU=1450 from subnet.env). The
 * handshake and small requests pass; the first full-size segment (1500 bytes, DF set, as
 * Linux TCP sends with PMTU discovery on) does not fit flannel.1 (MTU 1450: 50 bytes of
 * outer headers), so the node drops it and answers ICMP fragmentation needed
 * (ip_forward: `IPSTATS_MIB_FRAGFAILS`, icmp_send ICMP_FRAG_NEEDED, next-hop MTU 1450).
 * A hardening rule on the node (`iptables -A OUTPUT -p icmp --icmp-type
 * fragmentation-needed -j DROP`) filters that ICMP, so the sender never learns the path
 * MTU: the transfer hangs, as a TLS handshake hangs after ClientHello. (podwire's TCP has
 * no PMTU discovery of its own; the remedy is the MTU, as flannel's.)
 * Fix: pod MTU = underlay MTU - 50 = 1450.
 */
import { TcpConnection } from '../../apps/tcp.js';
import { formatIpv4 } from '../../wire/addr.js';
import { ICMP_PROTOCOL, IcmpCode, IcmpType } from '../../wire/icmp.js';
import { ipv4HeaderLength, ipv4Protocol } from '../../wire/ipv4.js';
import { addDropRule, buildCluster, type Scenario } from './scenario.js';

const YAML = `
cluster: { name: mtu, overlay: vxlan, mtu: 1500, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: client, node: node1 }
  - { name: server, node: node2, apps: [ { type: tcp-echo, port: 443 } ] }
`;

const BIG = 4000;
const TIMEOUT_MS = 3000;

export const mtuBlackhole: Scenario = {
  name: 'vxlan-mtu-blackhole',
  summary: 'pod MTU 1500 over VXLAN on a 1500 underlay: small requests work, full-size DF segments vanish (ICMP frag-needed filtered)',
  remedy: 'pod MTU = underlay MTU - 50 (1450, flannel\'s FLANNEL_MTU in /run/flannel/subnet.env), or clamp the MSS',
  issues: ['flannel-io/flannel#463', 'moby/moby#24906', 'k8s-at-home/pod-gateway#33', 'spidernet-io/spiderpool#5677'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx);
    if (!ctx.fix) {
      // The misconfiguration: both pods' eth0 (and their veth pairs) at 1500.
      for (const name of ['client', 'server']) {
        const pod = c.pod(name);
        pod.ns.iface('eth0')!.mtu = 1500;
        pod.veth.ends.a.mtu = 1500;
        pod.veth.ends.b.mtu = 1500;
      }
    }
    const node1 = c.node('node1').root;
    const rule = addDropRule(node1, 'OUTPUT', (p, l3) => {
      // ICMP type 3 code 4 (fragmentation needed) leaving node1: the black hole.
      const l4 = l3 + ipv4HeaderLength(p.buf, l3);
      return ipv4Protocol(p.buf, l3) === ICMP_PROTOCOL && p.buf[l4] === IcmpType.DestUnreachable && p.buf[l4 + 1] === IcmpCode.FragNeeded;
    });
    const server = c.pod('server').plan.ip;
    const ns = c.pod('client').ns;
    const k = TcpConnection.connect(ns, server, 443, { timeoutMs: TIMEOUT_MS });
    let got = 0;
    let err: Error | null = null;
    k.onData((d) => { got += d.length; });
    k.onClose((e) => { err = e; });
    c.engine.advance(200);
    const connected = k.state === 'established';
    k.write('hello');
    c.engine.advance(500);
    const small = got;
    k.write(Buffer.alloc(BIG, 0x16)); // a TLS-sized flight
    c.engine.advance(TIMEOUT_MS + 1000);
    const big = got - small;
    if (k.state !== 'closed') k.abort();
    const mtu = ns.iface('eth0')!.mtu;
    const counters = {
      'client eth0 mtu': mtu, 'node1 flannel.1 mtu': node1.iface('flannel.1')?.mtu ?? 0,
      'node1 frag-needed drops': node1.drops.get('frag-needed'), 'frag-needed ICMP filtered': rule.hits,
    };
    const notes = [
      `client (eth0 mtu ${mtu}) -> server ${formatIpv4(server)}:443: handshake ${connected ? 'completes' : 'fails'}`,
      `5-byte request: ${small === 5 ? 'echoed' : 'no answer'}`,
      `${BIG}-byte flight (segments of MSS ${mtu - 40}, DF): ${big} bytes echoed${err !== null && big < BIG ? `, then ${(err as Error).message}` : ''}`,
      'node1# iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP',
    ];
    if (big < BIG) {
      return {
        symptom: `curl https://${formatIpv4(server)}/: handshake stalls after ClientHello, (28) Operation timed out after ${TIMEOUT_MS} ms (small requests work)`,
        failed: true, hop: 'node1 -> flannel.1',
        reason: `ip_forward: 1500 bytes with DF > mtu 1450 of flannel.1 (IPSTATS_MIB_FRAGFAILS); the ICMP fragmentation needed (mtu 1450) it sends is dropped by the OUTPUT rule (${rule.hits} times)`, counters, notes,
      };
    }
    return { symptom: `the ${BIG}-byte flight is echoed in full (segments of ${mtu - 40} bytes fit flannel.1)`, failed: false, hop: null, reason: null, counters, notes };
  },
};
