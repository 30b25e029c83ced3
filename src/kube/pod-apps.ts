/**
 * Starts what a pod's spec says runs in it (`apps:` in the topology): an HTTP server that
 * answers with the pod's name, TCP and UDP echo, an SCTP server that answers INIT with
 * INIT ACK, and the cluster DNS server. ARP and
 * ICMP echo are answered by the pod's namespace itself, as a kernel would.
 */
import { HttpServer } from '../apps/http.js';
import { SctpServer } from '../apps/sctp-server.js';
import { TcpEcho } from '../apps/tcp-echo.js';
import { UdpEcho } from '../apps/udp-echo.js';
import type { NetNamespace } from '../net/netns.js';
import type { AppSpec, PodPlan } from './types.js';

export interface Closable {
  close(): void;
}

/** Starts the cluster DNS server in a namespace (provided by the service layer). */
export type DnsAppFactory = (ns: NetNamespace, port: number) => Closable;

export interface PodApps {
  readonly running: { spec: AppSpec; app: Closable }[];
  stop(): void;
}

export function startPodApps(ns: NetNamespace, plan: PodPlan, env: { dnsApp: DnsAppFactory | null }): PodApps {
  const running: { spec: AppSpec; app: Closable }[] = [];
  try {
    for (const spec of plan.apps) {
      let app: Closable;
      switch (spec.type) {
        case 'http': app = HttpServer.listen(ns, spec.port); break;
        case 'tcp-echo': app = TcpEcho.listen(ns, spec.port); break;
        case 'udp-echo': app = UdpEcho.start(ns, spec.port); break;
        case 'sctp': app = SctpServer.listen(ns, spec.port); break;
        case 'dns':
          if (env.dnsApp === null) throw new Error(`pod "${plan.name}": the dns app needs the cluster DNS records`);
          app = env.dnsApp(ns, spec.port);
          break;
      }
      running.push({ spec, app });
    }
  } catch (e) {
    for (const r of running) r.app.close(); // all or nothing: no half-started pod
    throw e;
  }
  let stopped = false;
  return {
    running,
    stop(): void {
      if (stopped) return;
      stopped = true;
      for (const r of running) r.app.close();
    },
  };
}
