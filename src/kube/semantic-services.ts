/**
 * Semantic checks of the services: names unique per namespace and not reserved, cluster IPs
 * inside cluster.serviceCIDR and not its network, broadcast, .1 (kubernetes) or .10
 * (kube-dns) nor taken twice, load-balancer IPs only on type LoadBalancer, external IPs
 * outside the cluster, ports named and listed once, nodePorts and healthCheckNodePort only
 * where Kubernetes allows them and not taken twice, IPVS weights naming pods; as warnings,
 * selectors that match nothing and target ports no selected pod listens on. Then
 * cluster.serviceCIDR large enough for the services.
 */
import { cidrContains, cidrSize } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { findPort, NO_PORT } from './endpoint-ports.js';
import { DNS_SERVICE_HOST, KUBERNETES_SERVICE_HOST } from './ipam.js';
import { reservedServiceName } from './names.js';
import { DEFAULT_APP_PORTS } from './plan.js';
import { PodIndex } from './selector.js';
import { APP_PROTOCOLS, edgeOf, ipAt, joinPath, q, type Report, type SchemaTopology } from './semantic-common.js';
import type { Protocol } from './types.js';

/** `sc`: cluster.serviceCIDR, null when it is not one (semantic-cluster.ts). */
export function checkServices(r: Report, t: SchemaTopology, sc: Cidr | null): void {
  const c = t.cluster;
  const svcIndex = new Map<string, number>();
  const vipOwner = new Map<number, number>();
  const nodePortOwner = new Map<number, { svc: number; port: number; protocol: Protocol }>();
  const podsBy = new PodIndex(t.pods);
  t.services.forEach((s, i) => {
    const at = `services[${i}]`;
    const key = `${s.namespace}/${s.name}`;
    const first = svcIndex.get(key);
    if (first !== undefined) r.err(`${at}.name`, s.name, `${q(s.name)} is a duplicate of services[${first}] (namespace ${q(s.namespace)})`);
    else svcIndex.set(key, i);
    const reserved = reservedServiceName(s.name, s.namespace, c.dnsReplicas);
    if (reserved !== null) r.err(`${at}.name`, s.name, `${q(s.name)} ${reserved}`);
    if (s.clusterIP !== undefined && s.clusterIP !== 'None' && s.type !== 'ExternalName') {
      const ip = ipAt(r, `${at}.clusterIP`, s.clusterIP);
      if (ip !== null && sc !== null) {
        const h = (ip - sc.addr) >>> 0;
        const edge = edgeOf(sc, ip);
        const owner = vipOwner.get(ip);
        const v = q(s.clusterIP);
        if (!cidrContains(sc, ip)) r.err(`${at}.clusterIP`, s.clusterIP, `${v} is outside cluster.serviceCIDR ${c.serviceCIDR}`);
        else if (edge !== null) r.err(`${at}.clusterIP`, s.clusterIP, `${v} is the ${edge} address of cluster.serviceCIDR ${c.serviceCIDR}`);
        else if (h === KUBERNETES_SERVICE_HOST) r.err(`${at}.clusterIP`, s.clusterIP, `${v} is reserved for the kubernetes service`);
        else if (h === DNS_SERVICE_HOST) r.err(`${at}.clusterIP`, s.clusterIP, `${v} is reserved for kube-dns`);
        else if (owner !== undefined) r.err(`${at}.clusterIP`, s.clusterIP, `${v} is already used by services[${owner}]`);
        else vipOwner.set(ip, i);
      }
    }
    if (s.loadBalancerIPs !== undefined && s.type !== 'LoadBalancer') {
      r.err(`${at}.loadBalancerIPs`, s.loadBalancerIPs, `${q(s.loadBalancerIPs)} are only allowed when type is LoadBalancer (they are its status.loadBalancer.ingress)`);
    }
    for (const [k, a] of (s.externalIPs ?? []).entries()) {
      const ip = ipAt(r, `${at}.externalIPs[${k}]`, a);
      if (ip !== null && sc !== null && cidrContains(sc, ip)) r.err(`${at}.externalIPs[${k}]`, a, `${q(a)} is inside cluster.serviceCIDR ${c.serviceCIDR}: an external IP is an address outside the cluster`);
    }
    checkServicePorts(r, s, i, nodePortOwner);
    if (s.healthCheckNodePort !== undefined) {
      const hc = s.healthCheckNodePort;
      const owner = nodePortOwner.get(hc);
      if (s.type !== 'LoadBalancer' || s.externalTrafficPolicy !== 'Local') {
        r.err(`${at}.healthCheckNodePort`, hc, `${hc} may only be set when type is LoadBalancer and externalTrafficPolicy is Local`);
      } else if (owner !== undefined) {
        r.err(`${at}.healthCheckNodePort`, hc, `${hc} is already used by services[${owner.svc}].ports[${owner.port}]`);
      } else {
        nodePortOwner.set(hc, { svc: i, port: -1, protocol: 'TCP' });
      }
    }
    checkSelection(r, t, podsBy, s, i);
  });

  if (sc !== null && sc.prefix <= 28 && t.services.length > cidrSize(sc) - 4) {
    r.err('cluster.serviceCIDR', c.serviceCIDR,
      `${q(c.serviceCIDR)} is too small for the ${t.services.length} services (room for ${cidrSize(sc) - 4})`);
  }
}

function checkServicePorts(
  r: Report, s: SchemaTopology['services'][number], i: number,
  nodePortOwner: Map<number, { svc: number; port: number; protocol: Protocol }>,
): void {
  const names = new Map<string, number>();
  const ports = new Map<string, number>();
  (s.ports ?? []).forEach((p, k) => {
    const at = `services[${i}].ports[${k}]`;
    if (p.name === undefined) {
      if ((s.ports ?? []).length > 1) r.err(at, undefined, 'missing required field "name" (every port of a service with several ports needs one)');
    } else {
      const other = names.get(p.name);
      if (other !== undefined) r.err(`${at}.name`, p.name, `${q(p.name)} is a duplicate of ports[${other}]`);
      else names.set(p.name, k);
    }
    const other = ports.get(`${p.protocol}/${p.port}`);
    if (other !== undefined) r.err(`${at}.port`, p.port, `${p.port} is a duplicate of ports[${other}] (${p.protocol})`);
    else ports.set(`${p.protocol}/${p.port}`, k);
    if (p.nodePort === undefined) return;
    if (s.type !== 'NodePort' && s.type !== 'LoadBalancer') {
      r.err(`${at}.nodePort`, p.nodePort, `${p.nodePort} is only allowed when type is NodePort or LoadBalancer`);
      return;
    }
    const owner = nodePortOwner.get(p.nodePort);
    if (owner !== undefined && (owner.svc !== i || owner.protocol === p.protocol)) {
      r.err(`${at}.nodePort`, p.nodePort, `${p.nodePort} is already used by services[${owner.svc}].ports[${owner.port}]`);
    } else if (owner === undefined) {
      nodePortOwner.set(p.nodePort, { svc: i, port: k, protocol: p.protocol });
    }
  });
}

/** Warnings about what a service selects, and errors in its weights. */
function checkSelection(
  r: Report, t: SchemaTopology, podsBy: PodIndex<SchemaTopology['pods'][number]>, s: SchemaTopology['services'][number], i: number,
): void {
  const at = `services[${i}]`;
  const inNs = podsBy.inNamespace(s.namespace);
  const selected = podsBy.select(s.namespace, s.selector);
  if (Object.keys(s.selector).length === 0) {
    r.warn(`${at}.selector`, s.selector, '{} selects no pods: the service has no endpoints');
  } else if (selected.length === 0) {
    r.warn(`${at}.selector`, s.selector, `${q(s.selector)} matches no pod in namespace ${q(s.namespace)}`);
  }
  (s.ports ?? []).forEach((p, k) => {
    const target = p.targetPort ?? p.port;
    // A named targetPort resolves on each pod (FindPort, endpoint-ports.ts); a pod without it
    // is no endpoint of this port, which is no mistake unless no selected pod has it.
    const found = selected.map((pod) => findPort(pod, { targetPort: target, protocol: p.protocol }));
    if (typeof target === 'string' && selected.length > 0 && found.every((n) => n === NO_PORT)) {
      r.warn(`${at}.ports[${k}].targetPort`, target,
        `${q(target)} is not a ${p.protocol} container port of any selected pod (${selected.map((d) => q(d.name)).join(', ')}): the port has no endpoints`);
      return;
    }
    const deaf = selected.filter((pod, j) => found[j] !== NO_PORT && pod.attach === undefined && !pod.apps.some((a) =>
      (a.port ?? DEFAULT_APP_PORTS[a.type]) === found[j] && APP_PROTOCOLS[a.type].includes(p.protocol)));
    if (deaf.length > 0) {
      const on = (d: (typeof selected)[number]): string => (typeof target === 'string' ? `${q(d.name)} (${found[selected.indexOf(d)]})` : q(d.name));
      r.warn(`${at}.ports[${k}].targetPort`, target,
        `${typeof target === 'string' ? q(target) : target} has no ${p.protocol} app listening on ${deaf.map(on).join(', ')}`);
    }
  });
  const scheduler = s.scheduler ?? t.cluster.ipvsScheduler;
  if (t.cluster.proxyMode !== 'ipvs') {
    if (s.scheduler !== undefined) r.warn(`${at}.scheduler`, s.scheduler, `${q(s.scheduler)} has no effect: cluster.proxyMode is ${t.cluster.proxyMode}`);
  }
  if (s.weights === undefined) return;
  if (t.cluster.proxyMode !== 'ipvs' || (scheduler !== 'wrr' && scheduler !== 'wlc')) {
    r.warn(`${at}.weights`, s.weights, `have no effect: only the ipvs schedulers wrr and wlc use weights`);
  }
  for (const name of Object.keys(s.weights)) {
    if (!inNs.some((p) => p.name === name)) r.err(joinPath(`${at}.weights`, name), name, `${q(name)} is not a pod in namespace ${q(s.namespace)}`);
    else if (!selected.some((p) => p.name === name)) r.warn(joinPath(`${at}.weights`, name), name, `${q(name)} is not selected by this service`);
  }
}
