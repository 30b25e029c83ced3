/**
 * kube-proxy's IPVS virtual servers on one node, as `ipvsadm -Ln` prints them there.
 *
 * kube-proxy (pkg/proxy/ipvs) makes one virtual server per service port on the cluster IP,
 * on each externalIP and LoadBalancer ingress IP, and for a NodePort one on every address of
 * the node (nodePortAddresses unset: all of them but loopback); the real servers are the
 * endpoints (externalTrafficPolicy Local: the external ones' only this node's;
 * internalTrafficPolicy Local: the cluster IP's only this node's), forwarded by masquerading,
 * with the service's scheduler and, for ClientIP affinity, `persistent <timeoutSeconds>`.
 *
 * Printed as ipvsadm 1.31 does (ipvsadm.c list_all / print_service_entry): services sorted
 * by protocol, then address and port compared as ipvsadm compares them (a difference of
 * unsigned 32-bit addresses read back as a signed int, so 192.168.x sorts before 10.x; over
 * addresses where that is no order, ipvsadm depends on the kernel's hash order), real
 * servers by address and port; each real server as `  -> %-28s %-7s %-6d %-10u %-10u`.
 * ActiveConn / InActConn come from the emulator's per-endpoint connection counts (TCP active,
 * UDP inactive, as IPVS counts a UDP connection).
 */
import { formatIpv4 } from '../wire/addr.js';
import type { ResolvedService } from './service-proxy.js';
import { categorizeEndpoints } from './endpoint-conditions.js';
import { portEndpoints } from './endpoint-ports.js';
import { SCTP_PROTOCOL as SCTP } from '../wire/sctp.js';
import { TCP_PROTOCOL as TCP } from '../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';

export interface IpvsRulesInput {
  node: string;
  /** The node's own addresses (NodePort virtual servers), loopback excluded. */
  nodeAddrs: readonly number[];
  services: readonly ResolvedService[];
  /** The node's zone (trafficDistribution hints). */
  zone?: string;
  /** Open connections of an endpoint of a service port (`ns/name:port/PROTO`), by pod. */
  connections?: (servicePort: string) => Record<string, number>;
}

interface RealServer { ip: number; port: number; weight: number; conns: number }
interface VirtualServer { proto: number; ip: number; port: number; scheduler: string; persistent: number; reals: RealServer[] }

/** libipvs ipvs_cmp_services / ipvs_cmp_dests: `int r = ntohl(a) - ntohl(b)`. */
const cmpAddr = (a: number, b: number): number => (a - b) | 0;

const pad = (s: string | number, w: number): string => String(s).padEnd(w, ' ');

export function ipvsadmList(input: IpvsRulesInput): string {
  const servers: VirtualServer[] = [];
  for (const s of input.services) {
    const plan = s.plan;
    for (const [k, port] of plan.ports.entries()) {
      const proto = port.protocol === 'UDP' ? UDP : port.protocol === 'SCTP' ? SCTP : TCP;
      const key = `${plan.namespace}/${plan.name}${port.name !== undefined && port.name !== '' ? `:${port.name}` : ''}/${port.protocol}`;
      const conns = input.connections?.(key) ?? {};
      // kube-proxy: CategorizeEndpoints (ready, else serving and terminating; Cluster and Local apart).
      // This port's endpoints only, each at its own target port (a named targetPort resolves per pod).
      const cat = categorizeEndpoints(portEndpoints(s.endpoints, port, k), input.node, input.zone);
      const real = (local: boolean): RealServer[] => (local ? cat.local : cat.cluster)
        .map((e) => ({ ip: e.ip, port: e.targetPort, weight: plan.weights[e.pod] ?? 1, conns: conns[e.pod] ?? 0 }));
      const persistent = plan.sessionAffinity === 'ClientIP' ? plan.sessionAffinityTimeout : 0;
      servers.push({ proto, ip: plan.clusterIP, port: port.port, scheduler: plan.scheduler, persistent, reals: real(plan.internalTrafficPolicy === 'Local') });
      const local = plan.externalTrafficPolicy === 'Local';
      for (const a of [...plan.externalIPs, ...(plan.type === 'LoadBalancer' ? plan.loadBalancerIPs : [])]) {
        servers.push({ proto, ip: a, port: port.port, scheduler: plan.scheduler, persistent, reals: real(local) });
      }
      if (port.nodePort !== undefined) {
        for (const a of input.nodeAddrs) {
          servers.push({ proto, ip: a, port: port.nodePort, scheduler: plan.scheduler, persistent, reals: real(local) });
        }
      }
    }
  }
  servers.sort((a, b) => a.proto - b.proto || cmpAddr(a.ip, b.ip) || a.port - b.port);
  const lines = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  ];
  for (const v of servers) {
    lines.push(`${v.proto === UDP ? 'UDP' : v.proto === SCTP ? 'SCTP' : 'TCP'}  ${formatIpv4(v.ip)}:${v.port} ${v.scheduler}${v.persistent > 0 ? ` persistent ${v.persistent}` : ''}`);
    const reals = [...v.reals].sort((a, b) => cmpAddr(a.ip, b.ip) || a.port - b.port);
    for (const r of reals) {
      const active = v.proto === TCP ? r.conns : 0;
      const inactive = v.proto === UDP ? r.conns : 0;
      lines.push(`  -> ${pad(`${formatIpv4(r.ip)}:${r.port}`, 28)} ${pad('Masq', 7)} ${pad(r.weight, 6)} ${pad(active, 10)} ${pad(inactive, 10)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
