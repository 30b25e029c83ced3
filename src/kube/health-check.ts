/**
 * kube-proxy's service health check server (pkg/proxy/healthcheck/service_health.go): for
 * every LoadBalancer service with externalTrafficPolicy Local, each node listens on the
 * service's healthCheckNodePort and answers any HTTP GET path (the cloud load balancer asks
 * `/healthz`) with
 *
 *   - `200 OK` when the node has local ready endpoints, `503 Service Unavailable` when it has
 *     none, or only terminating ones (LocalReadyEndpoints counts ready endpoints only);
 *   - headers `Content-Type: application/json`, `X-Content-Type-Options: nosniff`,
 *     `X-Load-Balancing-Endpoint-Weight: <count>`;
 *   - the body kube-proxy prints (tab-indented, no final newline), `localEndpoints` being the
 *     number of distinct local ready endpoint addresses over all the service's ports (a pod
 *     that has none of the ports, a named targetPort it does not declare, counts for none), and
 *     `serviceProxyHealthy` always true here (the emulated proxy is always in sync).
 *
 * `sync` opens and closes listeners as services come and go; counts are read per request
 * from the last synced endpoints.
 */
import { HttpServer, type HttpAnswer } from '../apps/http.js';
import type { NetNamespace } from '../net/netns.js';
import { isReady } from './endpoint-conditions.js';
import { onSomePort } from './endpoint-ports.js';
import type { ResolvedService } from './service-proxy.js';

/** The answer kube-proxy's hcHandler gives for a service with `count` local ready endpoints. */
export function healthCheckAnswer(namespace: string, name: string, count: number): HttpAnswer {
  const body = `{\n\t"service": {\n\t\t"namespace": ${JSON.stringify(namespace)},\n\t\t"name": ${JSON.stringify(name)}\n\t},\n`
    + `\t"localEndpoints": ${count},\n\t"serviceProxyHealthy": true\n}`;
  return {
    status: count !== 0 ? 200 : 503, reason: count !== 0 ? 'OK' : 'Service Unavailable', body,
    headers: ['Content-Type: application/json', 'X-Content-Type-Options: nosniff', `X-Load-Balancing-Endpoint-Weight: ${count}`],
  };
}

/** kube-proxy's LocalReadyEndpoints for one service on one node: distinct ready local addresses. */
export function localReadyEndpoints(s: ResolvedService, node: string): number {
  return new Set(s.endpoints.filter((e) => e.node === node && isReady(e) && onSomePort(e, s.plan.ports)).map((e) => e.ip)).size;
}

export class HealthCheckServers {
  /** `node|port` -> its listener and the service (`ns/name`) it reports on. */
  private readonly servers = new Map<string, { server: HttpServer; service: string }>();
  private byName = new Map<string, ResolvedService>();

  constructor(private readonly roots: ReadonlyMap<string, NetNamespace>) {}

  sync(services: readonly ResolvedService[]): void {
    this.byName = new Map(services.map((s) => [`${s.plan.namespace}/${s.plan.name}`, s]));
    const want = new Map<string, string>();
    for (const s of services) {
      const port = s.plan.healthCheckNodePort;
      if (port === undefined) continue;
      for (const node of this.roots.keys()) want.set(`${node}|${port}`, `${s.plan.namespace}/${s.plan.name}`);
    }
    for (const [key, v] of this.servers) {
      if (want.get(key) === v.service) continue;
      v.server.close();
      this.servers.delete(key);
    }
    for (const [key, service] of want) {
      if (this.servers.has(key)) continue;
      const [node, port] = key.split('|') as [string, string];
      const root = this.roots.get(node)!;
      const server = HttpServer.listen(root, Number(port), {
        respond: () => {
          const s = this.byName.get(service);
          const [ns, name] = service.split('/') as [string, string];
          return healthCheckAnswer(ns, name, s === undefined ? 0 : localReadyEndpoints(s, node));
        },
      });
      this.servers.set(key, { server, service });
    }
  }

  close(): void {
    for (const v of this.servers.values()) v.server.close();
    this.servers.clear();
  }
}
