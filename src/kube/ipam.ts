/**
 * IP address management: node addresses (nodeCIDR), per-node pod ranges (podCIDR split
 * into /24s), pod addresses, service virtual IPs (serviceCIDR), NodePorts and host-side
 * veth names. `Ipam` allocates and releases at run time as pods and services come and go;
 * `planCluster` uses it once to resolve a validated `Topology` into a
 * `ClusterPlan` of numbers.
 *
 * Every allocation is deterministic: the lowest free value from a fixed starting point
 * (node IPs from .11, node podCIDRs from /24 number 1, pod IPs from .2, service IPs from
 * .2 skipping .10, NodePorts from 30000), so a released value is the next one handed out.
 * No clock, no RNG.
 *
 * Reserved, never handed out:
 *   - pod range of a node:  .0 (network), .1 (bridge/gateway), the broadcast address
 *   - serviceCIDR:          .0, .1 (the `kubernetes` service), .10 (kube-dns), broadcast
 *   - nodeCIDR:             .0 and broadcast (.1-.10 can be given explicitly)
 *
 * Errors are `IpamError`s whose message names the field and the value
 * (`node "node1" podCIDR 10.244.1.0/24 is full`) and whose `code` says what happened.
 */

import {
  cidrContains, cidrOverlaps, cidrSize, cidrSubnet, formatCidr, formatIpv4, macFromIpv4, nthHost, parseCidr, parseIpv4, parseMac,
} from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { PodIndex } from './selector.js';
import type { AppSpec, ClusterPlan, NodePlan, PodPlan, PodSpec, ServicePlan, SliceEndpoint, Topology } from './types.js';
import { sliceEndpoints } from './slice-endpoints.js';
import { VXLAN_OVERHEAD } from '../wire/vxlan.js';

/** Every node's pod range is a /24 of the cluster podCIDR; node i (0-based) gets block i+1. */
export const NODE_POD_PREFIX = 24;
/** First host number handed out to nodes without an explicit ip: .11, .12, ... */
export const FIRST_NODE_HOST = 11;
/** First host number handed out to pods: .1 is the bridge. */
export const FIRST_POD_HOST = 2;
/** Host numbers in serviceCIDR that are never allocated: the `kubernetes` service and kube-dns. */
export const KUBERNETES_SERVICE_HOST = 1;
export const DNS_SERVICE_HOST = 10;
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

export type IpamErrorCode = 'outside' | 'reserved' | 'taken' | 'full' | 'unknown-node' | 'duplicate-node' | 'not-allocated';

export class IpamError extends Error {
  override readonly name = 'IpamError';
  constructor(
    readonly code: IpamErrorCode,
    /** What was being allocated: `pod IP`, `service IP`, `nodePort`, `node "node1" podCIDR`, ... */
    readonly field: string,
    readonly value: unknown,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A set of integers [first, last] with some values reserved; hands out the lowest free one.
 * Values are offsets or ports, kept in a Set: pools here hold at most a few thousand entries.
 */
class Pool {
  private readonly used = new Set<number>();
  constructor(
    readonly first: number,
    readonly last: number,
    private readonly reserved: ReadonlyMap<number, string> = new Map(),
  ) {}

  /** Why `v` cannot be taken ('outside' | 'reserved' | 'taken'), or null when it is free. */
  why(v: number, lo = this.first): IpamErrorCode | null {
    if (v < lo || v > this.last) return 'outside';
    if (this.reserved.has(v)) return 'reserved';
    return this.used.has(v) ? 'taken' : null;
  }
  reservedFor(v: number): string | undefined {
    return this.reserved.get(v);
  }
  take(v: number): void {
    this.used.add(v);
  }
  /** Lowest free value from `from` upward, or -1. */
  next(from = this.first): number {
    for (let v = from; v <= this.last; v++) {
      if (!this.used.has(v) && !this.reserved.has(v)) return v;
    }
    return -1;
  }
  release(v: number): boolean {
    return this.used.delete(v);
  }
  /** How many values are neither used nor reserved. */
  free(): number {
    let reservedInside = 0;
    for (const r of this.reserved.keys()) if (r >= this.first && r <= this.last) reservedInside++;
    return this.last - this.first + 1 - reservedInside - this.used.size;
  }
}

interface NodePool {
  podCIDR: Cidr;
  ips: Pool;
  veths: Set<number>;
}

export interface IpamConfig {
  podCIDR: string | Cidr;
  serviceCIDR: string | Cidr;
  nodeCIDR: string | Cidr;
}

const asCidr = (c: string | Cidr): Cidr => (typeof c === 'string' ? parseCidr(c) : c);
const q = JSON.stringify;

/** Host numbers (offsets) of a block: .0 and broadcast are the network and broadcast addresses of blocks up to /30. */
function hostPool(c: Cidr, first: number, reserved: Map<number, string>): Pool {
  const size = cidrSize(c);
  if (size >= 4) {
    reserved.set(0, 'the network address');
    reserved.set(size - 1, 'the broadcast address');
  }
  return new Pool(first, size - 1, reserved);
}

export class Ipam {
  readonly podCIDR: Cidr;
  readonly serviceCIDR: Cidr;
  readonly nodeCIDR: Cidr;
  private readonly nodeIps: Pool;
  /** podCIDRs handed to nodes (explicit or allocated). */
  private readonly nodeRanges: Cidr[] = [];
  /** Every /24 block below this one is taken (allocation resumes here; a release resets it). */
  private blockHint = 1;
  private readonly serviceIps: Pool;
  private readonly nodePorts = new Pool(NODE_PORT_MIN, NODE_PORT_MAX);
  private readonly nodes = new Map<string, NodePool>();

  constructor(config: IpamConfig) {
    this.podCIDR = asCidr(config.podCIDR);
    this.serviceCIDR = asCidr(config.serviceCIDR);
    this.nodeCIDR = asCidr(config.nodeCIDR);
    this.nodeIps = hostPool(this.nodeCIDR, 0, new Map());
    this.serviceIps = hostPool(this.serviceCIDR, 1, new Map([
      [KUBERNETES_SERVICE_HOST, 'the kubernetes service'],
      [DNS_SERVICE_HOST, 'kube-dns'],
    ]));
  }

  // --- nodes -------------------------------------------------------------------------

  /** Takes `ip` (checked) or the next free address from .11 of nodeCIDR. */
  allocateNodeIp(ip?: number): number {
    const c = this.nodeCIDR;
    if (ip === undefined) {
      const n = this.nodeIps.next(FIRST_NODE_HOST);
      if (n < 0) throw new IpamError('full', 'node IP', formatCidr(c), `nodeCIDR ${formatCidr(c)} is full (node addresses start at .${FIRST_NODE_HOST})`);
      this.nodeIps.take(n);
      return (c.addr + n) >>> 0;
    }
    this.takeHost(this.nodeIps, c, ip, 'node IP', 'nodeCIDR');
    return ip >>> 0;
  }

  releaseNodeIp(ip: number): void {
    this.releaseHost(this.nodeIps, this.nodeCIDR, ip, 'node IP');
  }

  /** Takes `cidr` (checked: inside podCIDR, no overlap) or the next free /24 from block 1. */
  allocateNodePodCidr(cidr?: Cidr): Cidr {
    if (cidr === undefined) {
      const blocks = this.podCIDR.prefix <= NODE_POD_PREFIX ? 2 ** (NODE_POD_PREFIX - this.podCIDR.prefix) : 0;
      for (let b = this.blockHint; b < blocks; b++) {
        const sub = cidrSubnet(this.podCIDR, NODE_POD_PREFIX, b);
        if (!this.nodeRanges.some((r) => cidrOverlaps(r, sub))) {
          this.nodeRanges.push(sub);
          this.blockHint = b + 1;
          return sub;
        }
      }
      throw new IpamError('full', 'node podCIDR', formatCidr(this.podCIDR),
        `podCIDR ${formatCidr(this.podCIDR)} has no free /${NODE_POD_PREFIX} left for another node`);
    }
    const s = formatCidr(cidr);
    if (cidr.prefix < this.podCIDR.prefix || !cidrContains(this.podCIDR, cidr.addr)) {
      throw new IpamError('outside', 'node podCIDR', s, `node podCIDR ${s} is outside podCIDR ${formatCidr(this.podCIDR)}`);
    }
    const other = this.nodeRanges.find((r) => cidrOverlaps(r, cidr));
    if (other !== undefined) {
      throw new IpamError('taken', 'node podCIDR', s, `node podCIDR ${s} overlaps ${formatCidr(other)}, already allocated`);
    }
    this.nodeRanges.push(cidr);
    return cidr;
  }

  releaseNodePodCidr(cidr: Cidr): void {
    const i = this.nodeRanges.findIndex((r) => r.addr === cidr.addr && r.prefix === cidr.prefix);
    if (i < 0) throw new IpamError('not-allocated', 'node podCIDR', formatCidr(cidr), `node podCIDR ${formatCidr(cidr)} is not allocated`);
    this.nodeRanges.splice(i, 1);
    this.blockHint = 1;
  }

  /** Registers a node's pod range: its IPs become allocatable (.1 is the bridge). */
  addNode(name: string, podCIDR: Cidr): void {
    if (this.nodes.has(name)) throw new IpamError('duplicate-node', 'node', name, `node ${q(name)} already exists`);
    this.nodes.set(name, {
      podCIDR,
      ips: hostPool(podCIDR, FIRST_POD_HOST, new Map([[1, 'the bridge address']])),
      veths: new Set(),
    });
  }

  /** Forgets a node's pod range and every pod address and veth name in it (not its podCIDR or ip). */
  removeNode(name: string): void {
    this.node(name);
    this.nodes.delete(name);
  }

  // --- pods ----------------------------------------------------------------------------

  /** Takes `ip` (checked against the node's podCIDR) or the next free address from .2. */
  allocatePodIp(node: string, ip?: number): number {
    const n = this.node(node);
    const field = `node ${q(node)} podCIDR`;
    if (ip === undefined) {
      const h = n.ips.next();
      if (h < 0) throw new IpamError('full', field, formatCidr(n.podCIDR), `${field} ${formatCidr(n.podCIDR)} is full`);
      n.ips.take(h);
      return (n.podCIDR.addr + h) >>> 0;
    }
    this.takeHost(n.ips, n.podCIDR, ip, 'pod IP', field, 0);
    return ip >>> 0;
  }

  releasePodIp(node: string, ip: number): void {
    const n = this.node(node);
    this.releaseHost(n.ips, n.podCIDR, ip, 'pod IP');
  }

  /** Addresses still free for pods on `node`. */
  freePodIps(node: string): number {
    return this.node(node).ips.free();
  }

  /** Host-side veth name on `node`: the lowest free `vethN` (veth0, veth1, ...). */
  allocateVeth(node: string): string {
    const used = this.node(node).veths;
    let i = 0;
    while (used.has(i)) i++;
    used.add(i);
    return `veth${i}`;
  }

  releaseVeth(node: string, name: string): void {
    const i = /^veth(0|[1-9][0-9]*)$/.exec(name);
    if (i === null || !this.node(node).veths.delete(Number(i[1]))) {
      throw new IpamError('not-allocated', 'veth', name, `veth ${q(name)} is not allocated on node ${q(node)}`);
    }
  }

  // --- services --------------------------------------------------------------------------

  /** Takes `ip` (checked against serviceCIDR) or the next free one from .2 (never .1 or .10). */
  allocateServiceIp(ip?: number): number {
    const c = this.serviceCIDR;
    if (ip === undefined) {
      const h = this.serviceIps.next(2);
      if (h < 0) throw new IpamError('full', 'service IP', formatCidr(c), `serviceCIDR ${formatCidr(c)} is full`);
      this.serviceIps.take(h);
      return (c.addr + h) >>> 0;
    }
    this.takeHost(this.serviceIps, c, ip, 'service IP', 'serviceCIDR');
    return ip >>> 0;
  }

  releaseServiceIp(ip: number): void {
    this.releaseHost(this.serviceIps, this.serviceCIDR, ip, 'service IP');
  }

  /** Takes `port` (checked: 30000-32767, free) or the lowest free NodePort. */
  allocateNodePort(port?: number): number {
    const p = this.nodePorts;
    if (port === undefined) {
      const n = p.next();
      if (n < 0) throw new IpamError('full', 'nodePort', `${NODE_PORT_MIN}-${NODE_PORT_MAX}`, `nodePort range ${NODE_PORT_MIN}-${NODE_PORT_MAX} is full`);
      p.take(n);
      return n;
    }
    const why = p.why(port);
    if (why === 'outside') throw new IpamError(why, 'nodePort', port, `nodePort ${port} is outside ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
    if (why !== null) throw new IpamError('taken', 'nodePort', port, `nodePort ${port} is already allocated`);
    p.take(port);
    return port;
  }

  releaseNodePort(port: number): void {
    if (!this.nodePorts.release(port)) throw new IpamError('not-allocated', 'nodePort', port, `nodePort ${port} is not allocated`);
  }

  // --- helpers ---------------------------------------------------------------------------

  private node(name: string): NodePool {
    const n = this.nodes.get(name);
    if (n === undefined) throw new IpamError('unknown-node', 'node', name, `node ${q(name)} is not known`);
    return n;
  }

  private takeHost(pool: Pool, c: Cidr, ip: number, what: string, where: string, lo?: number): void {
    const s = formatIpv4(ip);
    if (!cidrContains(c, ip)) throw new IpamError('outside', what, s, `${what} ${s} is outside ${where} ${formatCidr(c)}`);
    const h = (ip - c.addr) >>> 0;
    const why = pool.why(h, lo ?? 0);
    if (why === 'reserved') throw new IpamError(why, what, s, `${what} ${s} is reserved (${pool.reservedFor(h) ?? 'reserved'} of ${where} ${formatCidr(c)})`);
    if (why !== null) throw new IpamError('taken', what, s, `${what} ${s} is already allocated`);
    pool.take(h);
  }

  private releaseHost(pool: Pool, c: Cidr, ip: number, what: string): void {
    if (!cidrContains(c, ip) || !pool.release((ip - c.addr) >>> 0)) {
      throw new IpamError('not-allocated', what, formatIpv4(ip), `${what} ${formatIpv4(ip)} is not allocated`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The plan

/** The cluster DNS that podwire adds when cluster.dnsReplicas > 0. */
export const DNS_NAMESPACE = 'kube-system';
export const DNS_SERVICE_NAME = 'kube-dns';
export const DNS_LABELS: Readonly<Record<string, string>> = { 'k8s-app': 'kube-dns' };
export const DNS_DOMAIN = 'cluster.local';
/** Name of the i-th (0-based) kube-dns pod: kube-dns-1, kube-dns-2, ... */
export const dnsPodName = (i: number): string => `kube-dns-${i + 1}`;
/** VXLAN adds 50 bytes: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
/** Port of an app that does not give one. */
export const DEFAULT_APP_PORTS: Readonly<Record<AppSpec['type'], number>> = { http: 80, 'tcp-echo': 7, 'udp-echo': 7, sctp: 80, dns: 53 };

export { selectorMatches } from './selector.js';

/** The kube-dns pods of a topology: replica i goes to the i-th emulated node, round robin. */
export function dnsPods(t: {
  cluster: { dnsReplicas: number };
  nodes: readonly { name: string; external: boolean }[];
}): PodSpec[] {
  const hosts = t.nodes.filter((n) => !n.external);
  const out: PodSpec[] = [];
  for (let i = 0; i < t.cluster.dnsReplicas && hosts.length > 0; i++) {
    out.push({
      name: dnsPodName(i), namespace: DNS_NAMESPACE, node: hosts[i % hosts.length]!.name,
      labels: { ...DNS_LABELS }, apps: [{ type: 'dns', port: 53 }],
    });
  }
  return out;
}

/**
 * Resolves a validated topology: addresses, MACs, veth names, service IPs and NodePorts.
 * Given values are taken first (file order), then the rest are allocated in file order, so
 * the result depends only on the topology. Allocations are recorded in `ipam` (a fresh one by
 * default): pass your own to keep allocating at run time. Throws `IpamError` on a topology
 * that `validateTopology` would have refused.
 */
export function planCluster(t: Topology, ipam = new Ipam(t.cluster)): ClusterPlan {
  const c = t.cluster;
  const podMtu = c.overlay === 'vxlan' ? c.mtu - VXLAN_OVERHEAD : c.mtu;

  const nodes: NodePlan[] = t.nodes.map((n, index) => {
    const ip = ipam.allocateNodeIp(parseIpv4(n.ip));
    const podCIDR = ipam.allocateNodePodCidr(parseCidr(n.podCIDR));
    ipam.addNode(n.name, podCIDR);
    const bridgeIp = nthHost(podCIDR, 1);
    const plan: NodePlan = {
      name: n.name, index, external: n.external, ip, mac: macFromIpv4(ip, 0x0200), podCIDR, bridge: n.bridge,
      bridgeIp, bridgeMac: macFromIpv4(bridgeIp), vtepIp: n.vtepIP !== undefined ? parseIpv4(n.vtepIP) : ip,
      vtepMac: n.vtepMAC !== undefined ? parseMac(n.vtepMAC) : macFromIpv4(ip, 0x0258),
    };
    if (n.vtep !== undefined) plan.vtepBind = n.vtep.bind;
    if (n.zone !== undefined) plan.zone = n.zone;
    return plan;
  });
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));

  const specs = [...t.pods.map((p) => ({ p, system: false })), ...dnsPods(t).map((p) => ({ p, system: true }))];
  const ips = specs.map(({ p }) => (p.ip !== undefined ? ipam.allocatePodIp(p.node, parseIpv4(p.ip)) : -1));
  const pods: PodPlan[] = specs.map(({ p, system }, i) => {
    const node = nodeByName.get(p.node);
    if (node === undefined) throw new IpamError('unknown-node', 'node', p.node, `node ${JSON.stringify(p.node)} is not known`);
    const ip = ips[i]! >= 0 ? ips[i]! : ipam.allocatePodIp(p.node);
    const plan: PodPlan = {
      name: p.name, namespace: p.namespace, node: p.node, nodeIndex: node.index, ip, mac: macFromIpv4(ip),
      gateway: node.bridgeIp, prefixLength: node.podCIDR.prefix, mtu: podMtu, veth: ipam.allocateVeth(p.node),
      vethMac: macFromIpv4(ip, 0x02ee), labels: { ...p.labels }, apps: p.apps.map((a) => ({ ...a })), system,
    };
    if (p.attach !== undefined) plan.attach = { ...p.attach };
    if (p.hostname !== undefined) plan.hostname = p.hostname;
    if (p.subdomain !== undefined) plan.subdomain = p.subdomain;
    if (p.ports !== undefined) plan.ports = p.ports.map((c) => ({ ...c }));
    if (p.ready === false) plan.ready = false;
    if (p.terminating === true) plan.terminating = true;
    return plan;
  });

  const dnsServiceIp = nthHost(ipam.serviceCIDR, DNS_SERVICE_HOST);
  const noVip = (s: { type: string; clusterIP?: string }): boolean => s.type === 'ExternalName' || s.clusterIP === 'None';
  const vips = t.services.map((s) => (noVip(s) ? 0 : s.clusterIP !== undefined ? ipam.allocateServiceIp(parseIpv4(s.clusterIP)) : -1));
  // NodePorts: given ones first. One number may serve both TCP and UDP within a service.
  for (const s of t.services) {
    const mine = new Set<number>();
    for (const p of s.ports) {
      if (p.nodePort !== undefined && !mine.has(p.nodePort)) mine.add(ipam.allocateNodePort(p.nodePort));
    }
    if (s.healthCheckNodePort !== undefined && needsHealthCheck(s)) ipam.allocateNodePort(s.healthCheckNodePort);
  }
  const given = (s: { name: string; namespace: string }): SliceEndpoint[] | undefined => t.kubernetes?.sliceEndpoints?.[`${s.namespace}/${s.name}`];
  const services: ServicePlan[] = t.services.map((s, i) => ({
    name: s.name, namespace: s.namespace, type: s.type,
    clusterIP: vips[i]! >= 0 ? vips[i]! : ipam.allocateServiceIp(),
    ...(s.type === 'ExternalName' ? { externalName: s.externalName ?? '' } : s.clusterIP === 'None' ? { headless: true } : {}),
    ports: s.ports.map((p) => {
      const out: ServicePlan['ports'][number] = { port: p.port, targetPort: p.targetPort, protocol: p.protocol };
      if (p.name !== undefined) out.name = p.name;
      if (p.nodePort !== undefined) out.nodePort = p.nodePort;
      else if (s.type === 'NodePort' || s.type === 'LoadBalancer') out.nodePort = ipam.allocateNodePort();
      return out;
    }),
    selector: { ...s.selector }, sessionAffinity: s.sessionAffinity, sessionAffinityTimeout: s.sessionAffinityTimeout,
    externalTrafficPolicy: s.externalTrafficPolicy, internalTrafficPolicy: s.internalTrafficPolicy ?? 'Cluster',
    externalIPs: (s.externalIPs ?? []).map(parseIpv4), loadBalancerIPs: (s.loadBalancerIPs ?? []).map(parseIpv4),
    loadBalancerSourceRanges: (s.loadBalancerSourceRanges ?? []).map((r) => parseCidr(r.trim())),
    scheduler: s.scheduler ?? c.ipvsScheduler, weights: { ...s.weights }, endpoints: [], system: false,
    ...(s.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true } : {}),
    ...(s.trafficDistribution !== undefined ? { trafficDistribution: s.trafficDistribution } : {}),
    ...(given(s) !== undefined ? { sliceEndpoints: given(s)! } : {}),
  }));
  // healthCheckNodePort: after the service's NodePorts, as the API server allocates it (after its ports).
  t.services.forEach((s, i) => {
    if (needsHealthCheck(s)) services[i]!.healthCheckNodePort = s.healthCheckNodePort ?? ipam.allocateNodePort();
  });
  if (c.dnsReplicas > 0) {
    services.push({
      name: DNS_SERVICE_NAME, namespace: DNS_NAMESPACE, type: 'ClusterIP', clusterIP: dnsServiceIp,
      ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' }],
      selector: { ...DNS_LABELS }, sessionAffinity: 'None', sessionAffinityTimeout: 10800, externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster', externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [], scheduler: c.ipvsScheduler, weights: {}, endpoints: [], system: true,
    });
  }
  const index = new PodIndex(pods);
  const podsByIp = new Map(pods.map((p) => [p.ip, p]));
  for (const s of services) {
    s.endpoints = s.sliceEndpoints !== undefined
      ? sliceEndpoints(s.ports, s.sliceEndpoints, podsByIp).pods.map((p) => p.name)
      : index.select(s.namespace, s.selector).map((p) => p.name);
  }

  return {
    cluster: c, podCIDR: ipam.podCIDR, serviceCIDR: ipam.serviceCIDR, nodeCIDR: ipam.nodeCIDR, podMtu,
    kubernetesServiceIp: nthHost(ipam.serviceCIDR, KUBERNETES_SERVICE_HOST), dnsServiceIp, dnsDomain: DNS_DOMAIN,
    nodes, pods, services,
  };
}

/** core/v1 NeedsHealthCheck: a LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort. */
export function needsHealthCheck(s: { type: string; externalTrafficPolicy?: string }): boolean {
  return s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
}
