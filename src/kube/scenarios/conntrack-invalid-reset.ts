/**
 * Scenario `conntrack-invalid-reset`: a long download through a ClusterIP dies with
 * "connection reset by peer". Mid-transfer the server's side sends one segment conntrack
 * finds outside the TCP window (here: data 100000 bytes under what the client already
 * acknowledged, the segment upstream's regression image test/images/regression-issue-74839
 * injects; in the field a spurious retransmission). On kernels before 6.1 conntrack marks
 * it INVALID (tcp_in_window: "SEQ is under the lower bound"), so the node does not reverse
 * its DNAT: the client pod receives a segment from the backend pod's own address, which no
 * socket of its knows, and answers it with a RST (RFC 9293 3.10.7.1). That RST reaches the
 * backend and matches its connection: the backend aborts, and the client's next ACK is
 * answered with a RST through the Service: `curl: (56) Recv failure: Connection reset by peer`.
 *
 * The cluster runs kube-proxy in nftables mode, which installs no workaround (Kubernetes
 * docs, "Virtual IPs and Service Proxies": "Linux kernels prior to 6.1 have a bug that can
 * result in long-lived TCP connections to service IPs being closed with the error
 * Connection reset by peer ... The nftables mode does not install any workaround by
 * default"); iptables and IPVS modes drop INVALID packets in KUBE-FORWARD (PR #74840), unless
 * nf_conntrack_tcp_be_liberal is set (PR #120412). Linux 6.1 and later IGNORE such a segment
 * (accepted with its connection, so NATed, and harmless).
 * Fix: kube-proxy `--conntrack-tcp-be-liberal` (nf_conntrack_tcp_be_liberal=1), as the docs say.
 */
import { HttpServer, httpGet } from '../../apps/http.js';
import { sealSegment, writeSegment } from '../../apps/tcp-seg.js';
import { formatIpv4, readU16, readU32 } from '../../wire/addr.js';
import { TCP_PROTOCOL as TCP, TcpFlag, tcpFlagsByte } from '../../wire/tcp.js';
import type { ProxyMode } from '../types.js';
import { buildCluster, CONTINUE, frontRule, settle, type Scenario, type ScenarioContext, type ScenarioOutcome } from './scenario.js';
import { ipv4Dst, ipv4HeaderLength, ipv4Protocol, ipv4TotalLength } from '../../wire/ipv4.js';

const YAML = `
cluster: { name: ct-invalid, proxyMode: nftables, dnsReplicas: 0 }
nodes: [ { name: node1, netem: { delay: 1ms } }, { name: node2, netem: { delay: 1ms } } ]
pods:
  - { name: client, node: node1 }
  - { name: files-0, node: node2, labels: { app: files } }
services:
  - { name: files, selector: { app: files }, ports: [ { port: 80, targetPort: 8080 } ] }
`;

/** The download: 4 MiB. */
const SIZE = 4 << 20;
/** The out-of-window segment goes out once the server has sent this much. */
const INJECT_AFTER = 1 << 20;
/** How far under the server's current sequence number it starts (upstream's image: 100000). */
const UNDER = 100000;
const TIMEOUT_MS = 60000;

export const conntrackInvalidReset: Scenario = {
  name: 'conntrack-invalid-reset',
  summary: 'a long download through a ClusterIP gets "connection reset by peer": one out-of-window segment is INVALID to conntrack, escapes the reverse DNAT, and the client pod RSTs it',
  remedy: 'kube-proxy --conntrack-tcp-be-liberal (nf_conntrack_tcp_be_liberal=1); or the KUBE-FORWARD `--ctstate INVALID -j DROP` of iptables/IPVS mode; or Linux 6.1+',
  issues: [
    'kubernetes/kubernetes#74839', 'kubernetes/kubernetes#74840', 'kubernetes/kubernetes#117924', 'kubernetes/kubernetes#94861',
    'kubernetes/kubernetes#120412', 'kubernetes/kubernetes#122663', 'moby/libnetwork#2275',
  ],
  // the two pods and the overlay between the nodes: where the segment and the RSTs show (all interfaces: 13 MB)
  capture: (pt) => /^(client\/eth0|files-0\/eth0|node[12]\/flannel\.1)$/.test(pt),
  // the nodes' kernel before 6.1, kube-proxy in nftables mode; the fix: --conntrack-tcp-be-liberal
  run: (ctx) => downloadWithInvalidSegment(ctx, { proxyMode: 'nftables', kernel: '5.15', beLiberal: ctx.fix }),
};

/** The node setup a run of the scenario uses (tests vary it: iptables mode, Linux 6.1). */
export interface InvalidResetSetup {
  proxyMode: ProxyMode;
  kernel: '6.1' | '5.15';
  beLiberal: boolean;
  /** The backend on the client's node (the reply is switched by node1's bridge, br_netfilter). */
  sameNode?: boolean;
}

/** The scenario's trigger on nodes set up as `setup` says. */
export async function downloadWithInvalidSegment(ctx: ScenarioContext, setup: InvalidResetSetup): Promise<ScenarioOutcome> {
  // on one node the delay goes on the client's veth (the underlay's is not on the path)
  const yaml = setup.sameNode === true
    ? `${YAML.replace('{ name: files-0, node: node2', '{ name: files-0, node: node1')}links: [ { interface: client/eth0, direction: both, netem: { delay: 1ms } } ]\n`
    : YAML;
  const c = buildCluster(yaml, ctx, {
    proxyMode: setup.proxyMode, conntrack: { max: 262144, timeouts: 'kube-proxy', kernel: setup.kernel, tcpBeLiberal: setup.beLiberal },
  });
  const vip = c.plan.services.find((s) => s.name === 'files')!.clusterIP;
  const server = c.pod('files-0');
  const serverIp = server.plan.ip;
  const clientIp = c.pod('client').plan.ip;
  const body = 'x'.repeat(SIZE - 1) + '\n';
  const http = HttpServer.listen(server.ns, 8080, { body: () => body });

  // The injector (upstream's regression image does it with a raw socket): it watches the
  // server's segments and, once INJECT_AFTER bytes went out, sends one more.
  let sent = 0;
  let boom: { seq: number; ack: number; port: number } | null = null;
  frontRule(server.ns, 'OUTPUT', (p, l3) => {
    const b = p.buf;
    if (ipv4Protocol(b, l3) === TCP && boom === null) {
      const l4 = l3 + ipv4HeaderLength(b, l3);
      sent += ipv4TotalLength(b, l3) - (l4 - l3) - ((b[l4 + 12]! >>> 4) << 2);
      if (sent >= INJECT_AFTER) {
        boom = { seq: (readU32(b, l4 + 4) - UNDER) >>> 0, ack: readU32(b, l4 + 8), port: readU16(b, l4 + 2) };
        const at = boom;
        c.engine.scheduler.after(0, () => inject(at.seq, at.ack, at.port));
      }
    }
    return CONTINUE;
  });
  const inject = (seq: number, ack: number, port: number): void => {
    const p = server.ns.alloc();
    if (p === null) return;
    const payload = writeSegment(p, serverIp, clientIp, 8080, port, seq, ack, TcpFlag.PSH | TcpFlag.ACK, 0, 0xb00, 7);
    p.buf.write('boom!!!', payload, 'latin1');
    sealSegment(p);
    server.ns.output(p);
  };

  // What the client pod's kernel answers to the backend's own address (RSTs for a segment no socket wants).
  let rsts = 0;
  frontRule(c.pod('client').ns, 'OUTPUT', (p, l3) => {
    const b = p.buf;
    if (ipv4Protocol(b, l3) === TCP && ipv4Dst(b, l3) === serverIp && (tcpFlagsByte(b, l3 + ipv4HeaderLength(b, l3)) & TcpFlag.RST) !== 0) rsts++;
    return CONTINUE;
  });

  const url = `http://${formatIpv4(vip)}/big`;
  const r = await settle(c, httpGet(c.pod('client').ns, vip, 80, '/big', { timeoutMs: TIMEOUT_MS }), 2 * TIMEOUT_MS, 50);
  http.close();
  const stats = (node: string): { invalid: number } => c.services.conntrack.get(node)!.stats;
  const counters = {
    'node1 conntrack invalid': stats('node1').invalid,
    'node2 conntrack invalid': stats('node2').invalid,
    [`client RSTs to ${formatIpv4(serverIp)}`]: rsts,
    // kube-proxy's iptables_ct_state_invalid_dropped_packets_total, both nodes
    'KUBE-FORWARD INVALID drops': [...c.services.hooks.values()].reduce((n, h) => n + h.drops.get('ctstate-invalid'), 0),
    'bytes received': r.ok ? r.value.body.length : 0,
  };
  const b0 = boom as { seq: number; ack: number; port: number } | null;
  const notes = [
    `client -> ${url} (files-0 ${formatIpv4(serverIp)}:8080 via DNAT on node1), ${SIZE} bytes`,
    b0 === null
      ? 'the out-of-window segment was never sent'
      : `after ${INJECT_AFTER} bytes files-0 sends seq ${b0.seq} (${UNDER} under its current sequence number) ack ${b0.ack}, 7 bytes, to client port ${b0.port}`,
    setup.beLiberal
      ? 'nf_conntrack_tcp_be_liberal=1 on both nodes: the segment is accepted with its connection, un-DNATed, and the client drops it as old data (a duplicate ACK)'
      : setup.kernel === '6.1'
        ? 'Linux 6.1 and later: tcp_in_window IGNOREs it (accepted with its connection, so un-DNATed; the client drops it as old data)'
        : `node kernels before 6.1 (conntrack.kernel "5.15"): tcp_in_window marks it INVALID; ${setup.proxyMode === 'nftables' ? 'kube-proxy nftables mode installs no INVALID drop' : 'kube-proxy drops it in KUBE-FORWARD (-m conntrack --ctstate INVALID -j DROP)'}`,
    'Linux 6.1 and later IGNORE it instead (NATed, harmless); iptables and IPVS modes drop it in KUBE-FORWARD (-m conntrack --ctstate INVALID -j DROP)',
  ];
  if (!r.ok) {
    return {
      symptom: `curl ${url}: (56) Recv failure: Connection reset by peer (${r.error.message})`,
      failed: true, hop: 'node1/conntrack',
      reason: `nf_ct_tcp: SEQ is under the lower bound (already ACKed data retransmitted): INVALID, not un-DNATed; the client pod sees ${formatIpv4(serverIp)}:8080 instead of ${formatIpv4(vip)}:80 and answers RST, which resets files-0's connection`,
      counters, notes,
    };
  }
  const whole = r.value.body.length === SIZE;
  return {
    symptom: `curl ${url}: 200 OK, ${r.value.body.length} bytes${whole ? '' : ` of ${SIZE}`}`,
    failed: !whole || b0 === null, hop: null, reason: null, counters, notes,
  };
}
