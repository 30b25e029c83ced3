/**
 * Endpoint ports: a service port's `targetPort` resolved on each pod, as Kubernetes does.
 *
 * The EndpointSlice controller computes every pod's endpoint ports on their own
 * (k8s.io/endpointslice utils.go `getEndpointPorts`): for each service port it calls
 * `FindPort(pod, servicePort)` (the same function as pkg/api/v1/pod/util.go): a number is
 * taken as it is; a name is looked up among the pod's container ports with the service port's
 * protocol, first match wins; not found, the port is left out of that pod's endpoint
 * (`continue`). Pods whose port lists differ land in different EndpointSlices, and kube-proxy
 * builds each service port's endpoint list from the slices that carry that port. So with
 * `targetPort: http`, a pod declaring `http` as 8080 is the endpoint `ip:8080`, one declaring
 * it as 9090 is `ip:9090`, and one without `http` (for that protocol) is no endpoint of that
 * service port, while it stays one of the service's other ports.
 *
 * `ResolvedEndpoint.ports` holds the result per service port (services.ts fills it in);
 * every consumer (ServiceProxy, the iptables/nftables/IPVS dumps, the health check, the UDP
 * conntrack flush) reads a port's endpoints through `portEndpoints`.
 */
import type { NetpolContainerPort } from './netpol/types.js';
import type { ResolvedEndpoint } from './service-proxy.js';
import type { Protocol } from './types.js';

/** No such port on the pod: FindPort's "no suitable port" (the pod is no endpoint of it). */
export const NO_PORT = 0;

/** The part of a service port FindPort reads. */
export interface TargetPortRef {
  targetPort: number | string;
  protocol: Protocol;
}

/** podutil.FindPort: the pod's port for a service port, or NO_PORT. Container ports without a protocol are TCP (core/v1 default). */
export function findPort(pod: { ports?: readonly NetpolContainerPort[] | undefined }, port: TargetPortRef): number {
  const tp = port.targetPort;
  if (typeof tp === 'number') return tp;
  for (const c of pod.ports ?? []) {
    if (c.name === tp && (c.protocol ?? 'TCP') === port.protocol) return c.containerPort;
  }
  return NO_PORT;
}

/** A pod's endpoint port for each of `ports`, in order (NO_PORT where it has none). */
export function endpointPorts(pod: { ports?: readonly NetpolContainerPort[] | undefined }, ports: readonly TargetPortRef[]): number[] {
  return ports.map((p) => findPort(pod, p));
}

/**
 * The endpoints of service port `k` (`port`), each with its own target port: those whose pod
 * has the port. An endpoint without `ports` (built by hand, not by services.ts) takes a
 * numeric targetPort and is no endpoint of a named one.
 */
export function portEndpoints<E extends ResolvedEndpoint>(endpoints: readonly E[], port: TargetPortRef, k: number): (E & { targetPort: number })[] {
  const out: (E & { targetPort: number })[] = [];
  for (const e of endpoints) {
    const n = e.ports !== undefined ? e.ports[k] ?? NO_PORT : typeof port.targetPort === 'number' ? port.targetPort : NO_PORT;
    if (n !== NO_PORT) out.push({ ...e, targetPort: n });
  }
  return out;
}

/** Whether an endpoint is an endpoint of at least one of the service's ports (kube-proxy only knows endpoints per port). */
export function onSomePort(e: ResolvedEndpoint, ports: readonly TargetPortRef[]): boolean {
  return ports.some((p, k) => (e.ports !== undefined ? (e.ports[k] ?? NO_PORT) !== NO_PORT : typeof p.targetPort === 'number'));
}
