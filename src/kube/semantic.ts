/**
 * The second validation pass: what a JSON Schema cannot say. Runs on a document the schema
 * accepted (so every field has its type and its schema default) and reports every mistake it
 * finds, not the first: unknown nodes, duplicate names, CIDRs with host bits or overlapping,
 * addresses outside their range, reserved or taken twice, ranges too small, duplicate ports,
 * and (as warnings) services that select nothing. Then fills in the defaults that depend on
 * other fields: node ip and podCIDR, app ports, targetPort.
 *
 * Messages quote the bad value as JSON and name the thing it clashes with by its path:
 * `pods[1].ip: "10.244.1.5" is already used by pods[0]`.
 */

import { cidrContains, cidrOf, cidrOverlaps, cidrSize, formatCidr, formatIpv4, isUnicastMac, parseMac, tryParseIpv4, tryParseIpv4Port } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { DNS_SERVICE_HOST, Ipam, IpamError, KUBERNETES_SERVICE_HOST } from './ipam.js';
import { DEFAULT_APP_PORTS, DNS_NAMESPACE, dnsPods, planCluster } from './plan.js';
import { PodIndex } from './selector.js';
import { findPort, NO_PORT } from './endpoint-ports.js';
import { compileNetem, NetemError } from '../net/netem-spec.js';
import { bridgeNameProblem, reservedServiceName, VXLAN_IFNAME } from './names.js';
import { validateNetworkPolicy } from './netpol/validate.js';
import type { NetworkPolicy } from './netpol/types.js';
import type {
  AppSpec, AppType, ClusterConfig, LinkSpec, NetemSpec, NodeSpec, PodSpec, Protocol, ServicePortSpec, ServiceSpec, Topology, TopologyError,
} from './types.js';

/** A document the schema accepted: types and schema defaults in place, derived defaults not yet. */
export interface SchemaTopology {
  cluster: ClusterConfig;
  nodes: (Omit<NodeSpec, 'ip' | 'podCIDR'> & { ip?: string; podCIDR?: string })[];
  pods: (Omit<PodSpec, 'apps'> & { apps: { type: AppType; port?: number }[] })[];
  services: (Omit<ServiceSpec, 'ports'> & { ports: (Omit<ServicePortSpec, 'targetPort'> & { targetPort?: number | string })[] })[];
  namespaces?: Topology['namespaces'];
  /** Only their outline checked by the schema: validate.ts checks them here. */
  networkPolicies?: unknown[];
  links?: LinkSpec[];
}

export interface CheckResult {
  errors: TopologyError[];
  warnings: TopologyError[];
  /** Present when there are no errors. */
  topology?: Topology;
}

const q = (v: unknown): string => JSON.stringify(v);

/** `base.key`, or `base["key"]` when the key is not an identifier: the bracketed path style of errors. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

const APP_PROTOCOLS: Readonly<Record<AppType, readonly string[]>> = {
  http: ['TCP'], 'tcp-echo': ['TCP'], 'udp-echo': ['UDP'], sctp: ['SCTP'], dns: ['UDP', 'TCP'],
};

class Report {
  readonly errors: TopologyError[] = [];
  readonly warnings: TopologyError[] = [];
  err(path: string, value: unknown, message: string): void {
    this.errors.push({ path, value, message });
  }
  warn(path: string, value: unknown, message: string): void {
    this.warnings.push({ path, value, message });
  }
}

function cidrAt(r: Report, path: string, s: string): Cidr | null {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? null : tryParseIpv4(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (ip === null || !/^[0-9]{1,2}$/.test(p) || Number(p) > 32) {
    r.err(path, s, `${q(s)} is not a CIDR`);
    return null;
  }
  const c = cidrOf(ip, Number(p));
  if (c.addr !== ip) {
    r.err(path, s, `${q(s)} has host bits set (did you mean ${formatCidr(c)}?)`);
    return null;
  }
  return c;
}

function ipAt(r: Report, path: string, s: string): number | null {
  const ip = tryParseIpv4(s);
  if (ip === null) r.err(path, s, `${q(s)} is not an IPv4 address`);
  return ip;
}

/** "network" / "broadcast" when `ip` is one of those of `c` (blocks up to /30), else null. */
function edgeOf(c: Cidr, ip: number): string | null {
  if (c.prefix > 30) return null;
  const h = (ip - c.addr) >>> 0;
  return h === 0 ? 'network' : h === cidrSize(c) - 1 ? 'broadcast' : null;
}

export function checkTopology(t: SchemaTopology): CheckResult {
  const r = new Report();
  const c = t.cluster;

  // --- cluster ---------------------------------------------------------------------------
  const pc = cidrAt(r, 'cluster.podCIDR', c.podCIDR);
  const sc = cidrAt(r, 'cluster.serviceCIDR', c.serviceCIDR);
  const nc = cidrAt(r, 'cluster.nodeCIDR', c.nodeCIDR);
  const pairs: [string, Cidr | null, string, Cidr | null][] = [
    ['serviceCIDR', sc, 'podCIDR', pc], ['nodeCIDR', nc, 'podCIDR', pc], ['nodeCIDR', nc, 'serviceCIDR', sc],
  ];
  for (const [an, a, bn, b] of pairs) {
    if (a !== null && b !== null && cidrOverlaps(a, b)) {
      r.err(`cluster.${an}`, c[an as 'nodeCIDR'], `${q(c[an as 'nodeCIDR'])} overlaps cluster.${bn} ${c[bn as 'podCIDR']}`);
    }
  }
  if (sc !== null && sc.prefix > 28) {
    r.err('cluster.serviceCIDR', c.serviceCIDR, `${q(c.serviceCIDR)} is too small: it must hold .1 (kubernetes) and .10 (kube-dns)`);
  }
  const [lo, hi] = c.vxlan.sourcePortRange;
  if (lo > hi) r.err('cluster.vxlan.sourcePortRange', [lo, hi], `${q([lo, hi])} must be [low, high] with low <= high`);

  // --- nodes -----------------------------------------------------------------------------
  const nodeIndex = new Map<string, number>();
  const nodeIpOwner = new Map<number, number>();
  const nodeRanges: (Cidr | null)[] = t.nodes.map(() => null);
  const errorsBeforeNodes = r.errors.length;
  t.nodes.forEach((n, i) => {
    const at = `nodes[${i}]`;
    const first = nodeIndex.get(n.name);
    if (first !== undefined) r.err(`${at}.name`, n.name, `${q(n.name)} is a duplicate of nodes[${first}]`);
    else nodeIndex.set(n.name, i);
    const bridgeProblem = bridgeNameProblem(n.bridge, c.overlay === 'vxlan' ? VXLAN_IFNAME : null);
    if (bridgeProblem !== null) r.err(`${at}.bridge`, n.bridge, `${q(n.bridge)} ${bridgeProblem}`);
    if (n.ip !== undefined) {
      const ip = ipAt(r, `${at}.ip`, n.ip);
      if (ip !== null && nc !== null) {
        const edge = edgeOf(nc, ip);
        const owner = nodeIpOwner.get(ip);
        if (!cidrContains(nc, ip)) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is outside cluster.nodeCIDR ${c.nodeCIDR}`);
        else if (edge !== null) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is the ${edge} address of cluster.nodeCIDR ${c.nodeCIDR}`);
        else if (owner !== undefined) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is already used by nodes[${owner}]`);
        else nodeIpOwner.set(ip, i);
      }
    }
    if (n.podCIDR !== undefined) {
      const pr = cidrAt(r, `${at}.podCIDR`, n.podCIDR);
      if (pr !== null) {
        const clash = nodeRanges.findIndex((o) => o !== null && cidrOverlaps(o, pr));
        if (pc !== null && (pr.prefix < pc.prefix || !cidrContains(pc, pr.addr))) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} is outside cluster.podCIDR ${c.podCIDR}`);
        } else if (pr.prefix > 30) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} is too small for a node (at most /30: network, bridge, a pod, broadcast)`);
        } else if (clash >= 0) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} overlaps nodes[${clash}].podCIDR ${t.nodes[clash]!.podCIDR ?? ''}`);
        } else {
          nodeRanges[i] = pr;
        }
      }
    }
    if (n.external) {
      for (const f of ['vtepIP', 'vtepMAC', 'podCIDR'] as const) {
        if (n[f] === undefined) r.err(at, undefined, `missing required field ${q(f)} (the node is external)`);
      }
      if (n.vtepMAC !== undefined && !isUnicastMac(parseMac(n.vtepMAC))) {
        r.err(`${at}.vtepMAC`, n.vtepMAC, `${q(n.vtepMAC)} is not a unicast MAC address`);
      }
    } else {
      for (const f of ['vtepIP', 'vtepMAC'] as const) {
        if (n[f] !== undefined) r.err(`${at}.${f}`, n[f], `${q(n[f])} is only allowed when external is true`);
      }
    }
    // The schema checks the shape "host:port"; `podwire up` binds an IPv4 address and a port 1-65535 (tryParseIpv4Port).
    if (n.vtep !== undefined && tryParseIpv4Port(n.vtep.bind) === null) {
      const b = n.vtep.bind;
      const host = b.slice(0, b.lastIndexOf(':'));
      const port = b.slice(b.lastIndexOf(':') + 1);
      const why = tryParseIpv4(host) === null ? `${q(host)} is not an IPv4 address (the VXLAN socket binds an address)` : `port ${port} is not a port (1-65535)`;
      r.err(`${at}.vtep.bind`, b, `${q(b)}: ${why}`);
    }
  });

  const up = c.dns?.upstream;
  if (up !== undefined && tryParseIpv4Port(up) === null) {
    r.err('cluster.dns.upstream', up, `${q(up)} is not "IPv4:port" (port 1-65535): the DNS server forwards to an address, not a name`);
  }

  // Derived defaults: node addresses from .11, node podCIDRs from the second /24.
  const nodeIps: (number | null)[] = t.nodes.map((n) => (n.ip === undefined ? null : tryParseIpv4(n.ip)));
  if (r.errors.length === errorsBeforeNodes && pc !== null && sc !== null && nc !== null) {
    const ipam = new Ipam({ podCIDR: pc, serviceCIDR: sc, nodeCIDR: nc });
    t.nodes.forEach((_, i) => {
      const ip = nodeIps[i];
      const range = nodeRanges[i];
      if (ip !== null && ip !== undefined) ipam.allocateNodeIp(ip);
      if (range !== null && range !== undefined) ipam.allocateNodePodCidr(range);
    });
    let ipFull = false;
    let rangeFull = false;
    t.nodes.forEach((n, i) => {
      try {
        if (nodeIps[i] === null && !ipFull) nodeIps[i] = ipam.allocateNodeIp();
      } catch (e) {
        if (!(e instanceof IpamError)) throw e;
        ipFull = true;
        r.err('cluster.nodeCIDR', c.nodeCIDR,
          `${q(c.nodeCIDR)} has no address left for nodes[${i}] ${q(n.name)} (node addresses are given from .11 upward)`);
      }
      try {
        if (nodeRanges[i] === null && !rangeFull) nodeRanges[i] = ipam.allocateNodePodCidr();
      } catch (e) {
        if (!(e instanceof IpamError)) throw e;
        rangeFull = true;
        r.err('cluster.podCIDR', c.podCIDR,
          `${q(c.podCIDR)} has no /24 left for nodes[${i}] ${q(n.name)}: too many nodes (each node gets the next /24, from the second one on)`);
      }
    });
  }

  // --- pods ------------------------------------------------------------------------------
  const dns = c.dnsReplicas > 0 ? dnsPods(t) : [];
  if (c.dnsReplicas > 0 && dns.length === 0) {
    r.err('cluster.dnsReplicas', c.dnsReplicas, `${c.dnsReplicas} needs a node that is not external`);
  }
  const podIndex = new Map<string, number>();
  const podIpOwner = new Map<number, number>();
  const attachOwner = new Map<string, number>();
  const perNode = t.nodes.map(() => 0);
  for (const p of dns) perNode[nodeIndex.get(p.node) ?? 0]! += 1;
  t.pods.forEach((p, i) => {
    const at = `pods[${i}]`;
    const key = `${p.namespace}/${p.name}`;
    const first = podIndex.get(key);
    if (first !== undefined) r.err(`${at}.name`, p.name, `${q(p.name)} is a duplicate of pods[${first}] (namespace ${q(p.namespace)})`);
    else podIndex.set(key, i);
    if (dns.some((d) => d.namespace === p.namespace && d.name === p.name)) {
      r.err(`${at}.name`, p.name, `${q(p.name)} is reserved in namespace ${q(DNS_NAMESPACE)} for the cluster DNS (cluster.dnsReplicas)`);
    }
    const ni = nodeIndex.get(p.node);
    if (ni === undefined) r.err(`${at}.node`, p.node, `${q(p.node)} is not a node`);
    else perNode[ni]! += 1;
    const range = ni === undefined ? null : nodeRanges[ni];
    if (p.ip !== undefined) {
      const ip = ipAt(r, `${at}.ip`, p.ip);
      if (ip !== null && range !== null && range !== undefined && ni !== undefined) {
        const where = `node ${q(p.node)} podCIDR ${formatCidr(range)}`;
        const edge = edgeOf(range, ip);
        const owner = podIpOwner.get(ip);
        if (!cidrContains(range, ip)) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is outside ${where}`);
        else if (edge !== null) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is the ${edge} address of ${where}`);
        else if (ip - range.addr === 1) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is the bridge address of node ${q(p.node)} (${t.nodes[ni]!.bridge})`);
        else if (owner !== undefined) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is already used by pods[${owner}]`);
        else podIpOwner.set(ip, i);
      }
    }
    const listeners = new Map<string, number>();
    p.apps.forEach((a, k) => {
      const port = a.port ?? DEFAULT_APP_PORTS[a.type];
      for (const proto of APP_PROTOCOLS[a.type]) {
        const other = listeners.get(`${proto}/${port}`);
        if (other !== undefined) r.err(`${at}.apps[${k}].port`, port, `${port} is already used by apps[${other}] (${proto})`);
        else listeners.set(`${proto}/${port}`, k);
      }
    });
    if (p.attach !== undefined) {
      if (p.apps.length > 0) {
        r.err(`${at}.apps`, p.apps, `must be empty for an attached pod: the real namespace runs its own processes`);
      }
      const given = (['netns', 'pid', 'container'] as const).filter((f) => f in p.attach!);
      if (given.length !== 1) {
        const { offloads: _default, ...written } = p.attach as Record<string, unknown>;
        r.err(`${at}.attach`, p.attach, `${q(written)} must have exactly one of netns, pid, container`);
        return;
      }
      if ('runtime' in p.attach && !('container' in p.attach)) {
        const rt = (p.attach as { runtime: string }).runtime;
        r.err(`${at}.attach.runtime`, rt, `${q(rt)} needs container (it names the container's engine)`);
      }
      const field = given[0]!;
      const value = (p.attach as unknown as Record<string, string | number>)[field]!;
      const owner = attachOwner.get(`${field}:${value}`);
      if (owner !== undefined) r.err(`${at}.attach.${field}`, value, `${q(value)} is already attached as pods[${owner}]`);
      else attachOwner.set(`${field}:${value}`, i);
    }
  });
  t.nodes.forEach((n, i) => {
    const range = nodeRanges[i];
    if (range === null || range === undefined) return;
    const room = range.prefix <= 30 ? cidrSize(range) - 3 : 0;
    if (perNode[i]! > room) {
      const s = formatCidr(range);
      r.err(`nodes[${i}].podCIDR`, s, `${q(s)} is too small for the ${perNode[i]} pods on node ${q(n.name)} (room for ${room})`);
    }
  });

  // --- services --------------------------------------------------------------------------
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

  const policies = checkNetworkPolicies(r, t);
  checkNetem(r, t);

  if (r.errors.length > 0) return { errors: r.errors, warnings: r.warnings };
  const topology = fill(t, nodeIps, nodeRanges);
  if (t.namespaces !== undefined) topology.namespaces = t.namespaces;
  if (policies.length > 0 || t.networkPolicies !== undefined) topology.networkPolicies = policies;
  try {
    planCluster(topology); // safety net: pools too small for what is left to allocate (service IPs, NodePorts)
  } catch (e) {
    if (!(e instanceof IpamError)) throw e;
    const path = e.field === 'service IP' ? 'cluster.serviceCIDR' : e.field === 'nodePort' ? 'services' : '';
    r.err(path, e.value, e.message);
    return { errors: r.errors, warnings: r.warnings };
  }
  return { errors: r.errors, warnings: r.warnings, topology };
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

/**
 * NetworkPolicies as the API server validates them (netpol/validate.ts), errors at
 * `networkPolicies[i].<Kubernetes field path>`; namespaces named once; one policy per ns/name.
 */
function checkNetworkPolicies(r: Report, t: SchemaTopology): NetworkPolicy[] {
  const seenNs = new Map<string, number>();
  (t.namespaces ?? []).forEach((n, i) => {
    const first = seenNs.get(n.name);
    if (first !== undefined) r.err(`namespaces[${i}].name`, n.name, `${q(n.name)} is already defined by namespaces[${first}]`);
    else seenNs.set(n.name, i);
  });
  const out: NetworkPolicy[] = [];
  const seen = new Map<string, number>();
  (t.networkPolicies ?? []).forEach((p, i) => {
    const v = validateNetworkPolicy(p);
    if (!v.ok) {
      for (const e of v.errors) r.err(e.path === '' ? `networkPolicies[${i}]` : `networkPolicies[${i}].${e.path}`, e.value, e.message);
      return;
    }
    const key = `${v.policy.metadata.namespace}/${v.policy.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) r.err(`networkPolicies[${i}].metadata.name`, v.policy.metadata.name, `${q(key)} is already defined by networkPolicies[${first}]`);
    else seen.set(key, i);
    out.push(v.policy);
  });
  return out;
}

/** netem settings (compiled as the element will: tc's rules and units) and the interfaces they name. */
function checkNetem(r: Report, t: SchemaTopology): void {
  const one = (at: string, spec: NetemSpec): void => {
    const warnings: string[] = [];
    try {
      compileNetem(spec, warnings);
    } catch (e) {
      if (!(e instanceof NetemError)) throw e;
      r.err(`${at}.${e.field}`, e.value, e.message);
    }
    for (const w of warnings) r.warn(at, spec, w);
  };
  t.nodes.forEach((n, i) => { if (n.netem !== undefined) one(`nodes[${i}].netem`, n.netem); });
  t.pods.forEach((p, i) => { if (p.netem !== undefined) one(`pods[${i}].netem`, p.netem); });
  const owners = new Set<string>([...t.nodes.map((n) => n.name), ...t.pods.map((p) => p.name),
    ...t.pods.map((p) => (p.namespace === 'default' ? p.name : `${p.name}.${p.namespace}`))]);
  const seen = new Map<string, number>();
  (t.links ?? []).forEach((l, i) => {
    const at = `links[${i}]`;
    const owner = l.interface.slice(0, l.interface.indexOf('/'));
    if (!owners.has(owner)) r.err(`${at}.interface`, l.interface, `${q(l.interface)}: ${q(owner)} is not a node or a pod`);
    for (const d of l.direction === 'both' ? ['egress', 'ingress'] : [l.direction ?? 'egress']) {
      const key = `${l.interface} ${d}`;
      const first = seen.get(key);
      if (first !== undefined) r.err(`${at}.interface`, l.interface, `${q(l.interface)} ${d} is already impaired by links[${first}]`);
      else seen.set(key, i);
    }
    one(`${at}.netem`, l.netem);
  });
}

/** The topology with derived defaults filled in (call only when there are no errors). */
function fill(t: SchemaTopology, ips: (number | null)[], ranges: (Cidr | null)[]): Topology {
  return {
    cluster: t.cluster,
    nodes: t.nodes.map((n, i): NodeSpec => ({ ...n, ip: formatIpv4(ips[i]!), podCIDR: formatCidr(ranges[i]!) })),
    pods: t.pods.map((p): PodSpec => ({
      ...p, apps: p.apps.map((a): AppSpec => ({ type: a.type, port: a.port ?? DEFAULT_APP_PORTS[a.type] })),
    })),
    services: t.services.map((s): ServiceSpec => ({
      ...s, ports: (s.ports ?? []).map((p): ServicePortSpec => ({ ...p, targetPort: p.targetPort ?? p.port })),
    })),
    ...(t.links !== undefined ? { links: t.links } : {}),
  };
}
