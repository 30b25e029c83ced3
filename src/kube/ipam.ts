/**
 * IP address management: node addresses (nodeCIDR), per-node pod ranges (podCIDR split
 * into /24s), pod addresses, service virtual IPs (serviceCIDR), NodePorts and host-side
 * veth names. `Ipam` allocates and releases at run time as pods and services come and go;
 * `planCluster` (plan.ts) uses it once to resolve a validated `Topology` into a
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

import { cidrContains, cidrOverlaps, cidrSize, cidrSubnet, formatCidr, formatIpv4, parseCidr } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';

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

