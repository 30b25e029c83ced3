/**
 * Service objects as podwire's model holds them: type, ports (number or named targetPort,
 * nodePort in the API server's range and allocated once), session affinity with its
 * timeout, traffic policies, external and load-balancer IPs, source ranges, traffic
 * distribution, healthCheckNodePort; validated in the API server's words. The API server's
 * own `default/kubernetes` is left out, and `kube-system/kube-dns` when podwire runs its own.
 */
import { NODE_PORT_MAX, NODE_PORT_MIN } from '../ipam.js';
import type { KubeEntry } from './objects.js';
import type { Origin, Reporter } from './reporter.js';
import { isInt, isObj, q, str, type Obj } from './values.js';

/** The Services converted so far: the document's `services:`, in order, with their origins. */
export class ServiceList {
  readonly docs: Obj[] = [];
  readonly origins: Origin[] = [];
  /** nodePort -> the `Kind/ns/name` that has it. */
  private readonly nodePortOwner = new Map<number, string>();

  constructor(private readonly r: Reporter, private readonly dnsReplicas: number) {}

  add(k: KubeEntry): void {
    if (k.namespace === 'default' && k.name === 'kubernetes') return; // the API server's service: podwire keeps .1 for it
    if (this.dnsReplicas > 0 && k.namespace === 'kube-system' && k.name === 'kube-dns') {
      this.r.warn(k.at, k.label, 'metadata.name', k.name, 'podwire runs its own kube-dns service (cluster.dnsReplicas)');
      return;
    }
    const one = serviceOf(k, this.r, this.nodePortOwner);
    if (one === null) return;
    this.docs.push(one.svc);
    this.origins.push(one.origin);
  }

  /** `ns/name` of every Service converted. */
  keys(): Set<string> {
    return new Set(this.docs.map((s) => `${String(s['namespace'])}/${String(s['name'])}`));
  }
}

/** One Service as podwire's model holds it, or null (an error, or a kind of Service stored as data). */
function serviceOf(
  k: KubeEntry, r: Reporter, nodePortOwner: Map<number, string>,
): { svc: Obj; origin: Origin } | null {
  const o = k.at.obj;
  const spec = isObj(o['spec']) ? o['spec'] : {};
  const type = spec['type'] === undefined ? 'ClusterIP' : String(spec['type']);
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) {
    r.err(k.at, k.label, 'spec.type', type, `${q(type)}: supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`);
    return null;
  }
  const clusterIP = str(spec['clusterIP']);
  if (type === 'ExternalName') {
    const ext = str(spec['externalName']);
    if (ext === undefined || ext === '') {
      r.err(k.at, k.label, 'spec.externalName', spec['externalName'], 'Required value');
      return null;
    }
    return { svc: { name: k.name, namespace: k.namespace, type, externalName: ext }, origin: { at: k.at, object: k.label, fields: { name: 'metadata.name', externalName: 'spec.externalName' } } };
  }
  const selector: Record<string, string> = {};
  if (isObj(spec['selector'])) for (const [a, b] of Object.entries(spec['selector'])) selector[a] = String(b);
  const rawPorts = Array.isArray(spec['ports']) ? spec['ports'] : [];
  if (rawPorts.length === 0 && clusterIP !== 'None') {
    r.err(k.at, k.label, 'spec.ports', spec['ports'], 'Required value');
    return null;
  }
  const ports: Obj[] = [];
  const portIndex: number[] = [];
  let bad = false;
  rawPorts.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (!isObj(p)) return;
    const protocol = p['protocol'] === undefined ? 'TCP' : String(p['protocol']);
    const port = p['port'];
    if (!isInt(port) || port < 1 || port > 65535) {
      r.err(k.at, k.label, `${at}.port`, port, `${q(port)} must be between 1 and 65535, inclusive`);
      bad = true;
      return;
    }
    if (rawPorts.length > 1 && typeof p['name'] !== 'string') {
      r.err(k.at, k.label, `${at}.name`, undefined, 'Required value');
      bad = true;
    }
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      r.err(k.at, k.label, `${at}.protocol`, protocol, `${q(protocol)}: supported values: "SCTP", "TCP", "UDP"`);
      bad = true;
      return;
    }
    const out: Obj = { port, protocol };
    if (typeof p['name'] === 'string') out['name'] = p['name'];
    // targetPort: a number, or a container port's name, kept as a name: services.ts resolves it
    // on each selected pod as the EndpointSlice controller does (endpoint-ports.ts, FindPort),
    // and the topology check warns when no selected pod has it; absent: the port itself.
    const tp = p['targetPort'];
    if (isInt(tp)) out['targetPort'] = tp;
    else if (typeof tp === 'string' && /^[0-9]+$/.test(tp)) out['targetPort'] = Number(tp);
    else if (typeof tp === 'string') out['targetPort'] = tp;
    else if (tp !== undefined) {
      r.err(k.at, k.label, `${at}.targetPort`, tp, `${q(tp)} must be a port number or a port name`);
      bad = true;
    }
    const np = p['nodePort'];
    if (np !== undefined && np !== 0) {
      if (type === 'ClusterIP') {
        r.err(k.at, k.label, `${at}.nodePort`, np, "Forbidden: may not be used when `type` is 'ClusterIP'");
        bad = true;
      } else if (!isInt(np) || np < NODE_PORT_MIN || np > NODE_PORT_MAX) {
        r.err(k.at, k.label, `${at}.nodePort`, np, `${String(np)}: provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
        bad = true;
      } else {
        const owner = nodePortOwner.get(np);
        if (owner !== undefined && owner !== k.label) {
          r.err(k.at, k.label, `${at}.nodePort`, np, `${np}: provided port is already allocated`);
          bad = true;
        } else {
          nodePortOwner.set(np, k.label);
          out['nodePort'] = np;
        }
      }
    }
    ports.push(out);
    portIndex.push(i);
  });
  if (bad || (ports.length === 0 && clusterIP !== 'None')) return null;
  const svc: Obj = { name: k.name, namespace: k.namespace, type, selector, ports };
  if (clusterIP !== undefined && clusterIP !== '') svc['clusterIP'] = clusterIP;
  const affinity = spec['sessionAffinity'] ?? 'None';
  if (affinity !== 'None' && affinity !== 'ClientIP') {
    r.err(k.at, k.label, 'spec.sessionAffinity', affinity, `${q(affinity)}: supported values: "ClientIP", "None"`);
    return null;
  }
  svc['sessionAffinity'] = affinity;
  const cfg = spec['sessionAffinityConfig'];
  const timeout = isObj(cfg) && isObj(cfg['clientIP']) ? cfg['clientIP']['timeoutSeconds'] : undefined;
  if (affinity === 'ClientIP') {
    // core/v1 defaults: DefaultClientIPServiceAffinitySeconds = 10800; validation: 0 < t <= 86400.
    const t = timeout ?? 10800;
    if (!isInt(t) || t <= 0 || t > 86400) {
      r.err(k.at, k.label, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `${String(t)}: must be greater than 0 and less than 86400`);
      return null;
    }
    svc['sessionAffinityTimeout'] = t;
  }
  const etp = spec['externalTrafficPolicy'];
  if (etp !== undefined && etp !== 'Cluster' && etp !== 'Local') {
    r.err(k.at, k.label, 'spec.externalTrafficPolicy', etp, `${q(etp)}: supported values: "Cluster", "Local"`);
    return null;
  }
  if (etp !== undefined && type !== 'ClusterIP') svc['externalTrafficPolicy'] = etp;
  const itp = spec['internalTrafficPolicy'];
  if (itp !== undefined && itp !== 'Cluster' && itp !== 'Local') {
    r.err(k.at, k.label, 'spec.internalTrafficPolicy', itp, `${q(itp)}: supported values: "Cluster", "Local"`);
    return null;
  }
  if (itp !== undefined) svc['internalTrafficPolicy'] = itp;
  if (Array.isArray(spec['externalIPs']) && spec['externalIPs'].length > 0) svc['externalIPs'] = spec['externalIPs'].map(String);
  // status.loadBalancer.ingress[].ip: what the cloud's controller assigned (hostname-only ingresses have no IP).
  const status = isObj(o['status']) ? o['status'] : {};
  const lb = isObj(status['loadBalancer']) && Array.isArray(status['loadBalancer']['ingress']) ? status['loadBalancer']['ingress'] : [];
  const lbIPs = lb.filter(isObj).map((g) => g['ip']).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  if (type === 'LoadBalancer' && lbIPs.length > 0) svc['loadBalancerIPs'] = lbIPs;
  // kube-proxy trims the ranges ("for backward compatibility", its test feeds " 203.0.113.0/25").
  if (Array.isArray(spec['loadBalancerSourceRanges']) && spec['loadBalancerSourceRanges'].length > 0) {
    svc['loadBalancerSourceRanges'] = spec['loadBalancerSourceRanges'].map((r) => String(r).trim());
  }
  if (spec['publishNotReadyAddresses'] === true) svc['publishNotReadyAddresses'] = true;
  const td = spec['trafficDistribution'];
  if (td !== undefined && td !== 'PreferClose' && td !== 'PreferSameZone' && td !== 'PreferSameNode') {
    r.err(k.at, k.label, 'spec.trafficDistribution', td, `${q(td)}: supported values: "PreferClose", "PreferSameNode", "PreferSameZone"`);
    return null;
  }
  if (td !== undefined) svc['trafficDistribution'] = td;
  // The API server allocated it for a LoadBalancer with externalTrafficPolicy Local (a dump has it).
  if (isInt(spec['healthCheckNodePort']) && type === 'LoadBalancer' && etp === 'Local') svc['healthCheckNodePort'] = spec['healthCheckNodePort'];
  const fields = {
    name: 'metadata.name', clusterIP: 'spec.clusterIP', selector: 'spec.selector', ports: 'spec.ports',
    sessionAffinityTimeout: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', externalIPs: 'spec.externalIPs', loadBalancerIPs: 'status.loadBalancer.ingress',
    healthCheckNodePort: 'spec.healthCheckNodePort',
  };
  return { svc, origin: { at: k.at, object: k.label, portIndex, fields } };
}
