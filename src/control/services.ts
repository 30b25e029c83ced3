/**
 * Services for the control façade: a Service added (name not reserved or taken, ports
 * listed once, nodePort and load-balancer fields only with the types that have them) or
 * removed, and a Service's endpoints with each pod's own port per service port (FindPort;
 * its EndpointSlices' ports when given). All of it needs the service proxy (kube-proxy
 * layer): without it, a 501.
 */
import type { Cluster } from '../kube/cluster.js';
import { NO_PORT } from '../kube/endpoint-ports.js';
import { reservedServiceName } from '../kube/names.js';
import { endpointPortsOf } from '../kube/slice-endpoints.js';
import type { IpvsScheduler, Protocol, ServicePlan, ServiceType } from '../kube/types.js';
import { badRequest, conflict, notAvailable, notFound, toControlError } from './errors.js';
import { podView, serviceView, type ServiceView } from './views.js';

export interface ServiceBody {
  name: string;
  namespace?: string;
  type?: ServiceType;
  clusterIP?: string;
  selector?: Record<string, string>;
  /** targetPort: a number, or a container port name resolved on each pod. */
  ports: { name?: string; port: number; targetPort?: number | string; protocol?: Protocol; nodePort?: number }[];
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityTimeout?: number;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  externalIPs?: string[];
  loadBalancerIPs?: string[];
  loadBalancerSourceRanges?: string[];
  scheduler?: IpvsScheduler;
  weights?: Record<string, number>;
  publishNotReadyAddresses?: boolean;
  healthCheckNodePort?: number;
  trafficDistribution?: 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';
}

/** A 501 naming `what` when the cluster has no service proxy. */
export function needServices(c: Cluster, what: string): void {
  if (!c.supportsServices) throw notAvailable(what, 'this cluster has no service proxy (kube-proxy layer) installed');
}

/** The Service `name` (`name.namespace` when no namespace is given) or a 404 listing the others. */
export function findService(c: Cluster, name: string, namespace?: string): ServicePlan {
  const [n, ns] = namespace !== undefined ? [name, namespace] : name.includes('.') ? name.split('.', 2) as [string, string] : [name, 'default'];
  const s = c.plan.services.find((x) => x.name === n && x.namespace === ns);
  if (s === undefined) throw notFound('/name', name, 'service', c.plan.services.map((x) => (x.namespace === 'default' ? x.name : `${x.name}.${x.namespace}`)));
  return s;
}

/** GET /services/:name/endpoints. */
export function serviceEndpoints(c: Cluster, name: string, namespace?: string): Record<string, unknown> {
  needServices(c, 'service endpoints');
  const s = findService(c, name, namespace);
  const pods = new Map(c.plan.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  return {
    service: s.name, namespace: s.namespace, clusterIP: serviceView(s).clusterIP,
    ports: s.ports.map((p) => ({ ...p })),
    endpoints: s.endpoints.map((n) => {
      const p = pods.get(`${s.namespace}/${n}`);
      // Each pod's own port per service port (FindPort); a named port it lacks is no endpoint of it.
      const own = p === undefined ? [] : endpointPortsOf(s, p); // its EndpointSlices' ports, when given
      const ports = s.ports.map((sp, k) => ({ n: own[k] ?? NO_PORT, proto: sp.protocol })).filter((x) => x.n !== NO_PORT).map((x) => `${x.n}/${x.proto}`);
      return { pod: n, node: p?.node ?? null, ip: p === undefined ? null : podView(c, p, null).ip, ports };
    }),
  };
}

/** POST /services. */
export function addService(c: Cluster, body: ServiceBody): ServiceView {
  needServices(c, 'services');
  const namespace = body.namespace ?? 'default';
  const reserved = reservedServiceName(body.name, namespace, c.plan.cluster.dnsReplicas);
  if (reserved !== null) throw conflict('/name', body.name, reserved);
  if (c.plan.services.some((s) => s.name === body.name && s.namespace === namespace)) throw conflict('/name', body.name, `is already a service in namespace ${namespace}`);
  if (body.loadBalancerIPs !== undefined && body.type !== 'LoadBalancer') throw badRequest('/loadBalancerIPs', body.loadBalancerIPs, 'needs type LoadBalancer');
  if (body.healthCheckNodePort !== undefined && (body.type !== 'LoadBalancer' || body.externalTrafficPolicy !== 'Local')) {
    throw badRequest('/healthCheckNodePort', body.healthCheckNodePort, 'needs type LoadBalancer and externalTrafficPolicy Local');
  }
  const ports = new Set<string>();
  (body.ports ?? []).forEach((p, i) => { // ExternalName may have none
    const k = `${p.port}/${p.protocol ?? 'TCP'}`;
    if (ports.has(k)) throw conflict(`/ports/${i}/port`, p.port, `is listed twice (${k})`);
    ports.add(k);
    if (p.nodePort !== undefined && (body.type ?? 'ClusterIP') === 'ClusterIP') throw badRequest(`/ports/${i}/nodePort`, p.nodePort, 'needs type NodePort or LoadBalancer');
  });
  try {
    const plan = c.addService({ ...body, namespace });
    return serviceView(plan);
  } catch (e) {
    throw toControlError(e, { 'service IP': '/clusterIP', nodePort: '/ports' });
  }
}

/** DELETE /services/:name. */
export function removeService(c: Cluster, name: string, namespace?: string): { removed: string } {
  needServices(c, 'services');
  const s = findService(c, name, namespace);
  c.removeService(s.name, s.namespace);
  return { removed: `${s.namespace}/${s.name}` };
}
