/**
 * ServiceProxy: kube-proxy's rules on one node, as the NAT policy of the node's netfilter
 * hooks (src/netfilter NatHooks asks it about every NEW connection; conntrack does the rest,
 * including the reverse translation of replies).
 *
 * Rules, per service port (`sync` rebuilds them from the services and their endpoints, as
 * kube-proxy's syncProxyRules does; scheduler load and affinity survive for endpoints that stay):
 *   - ClusterIP: dst VIP:port/proto -> one endpoint podIP:targetPort (iptables mode: the
 *     KUBE-SVC chain's random rules; ipvs mode: the service's IPVS scheduler). The target port
 *     is the endpoint's own (a named targetPort resolves per pod, endpoint-ports.ts); a pod
 *     without the named port is no endpoint of that service port.
 *   - NodePort: dst any local address of this node (not 127/8; nftables mode: the primary
 *     address only) : nodePort/proto -> endpoint. externalIPs and a LoadBalancer's ingress IPs:
 *     dst that address : port/proto, on any node the packet enters. All three are external:
 *     under externalTrafficPolicy Local, traffic from outside the pod CIDR goes only to
 *     endpoints on this node, client address kept (no masquerade); none here -> dropped,
 *     `no-local-endpoints`. From inside the pod CIDR or from the node itself it goes to every
 *     endpoint, as kube-proxy does (the node's own traffic masqueraded).
 *   - internalTrafficPolicy Local: cluster IP traffic only to this node's endpoints; none ->
 *     dropped, `no-local-endpoints`.
 *   - Masquerade (KUBE-MARK-MASQ, mark 0x4000; SNAT to the egress interface's address at
 *     POSTROUTING): ClusterIP traffic from outside the pod CIDR, external traffic under
 *     policy Cluster, and hairpin traffic (an endpoint reaching itself through its service).
 *   - Endpoint conditions (endpoint-conditions.ts, KEP-1669): Cluster traffic goes to the ready
 *     endpoints, or when none is ready anywhere to the serving terminating ones; Local traffic
 *     to this node's ready endpoints, else this node's serving terminating ones.
 *   - A service port without endpoints: no DNAT and a refusal in the decision (`out.refuse`): ProxyHooks
 *     answers ICMP port unreachable and drops the packet as `no-endpoints` (kube-proxy REJECTs).
 *   - ClientIP session affinity: per service port and node (iptables `recent` lists / IPVS
 *     persistence), sticky until the timeout since the last new connection.
 *
 * State exposed: `rules()` (one line per service port and endpoint, iptables/IPVS names).
 * Trace (via NatHooks): dnat detail { service, mode, vip, port, endpoint, pod, scheduler, rule,
 * nodePort? }. Counters: `connections` per endpoint through the Backends load counters.
 */
import type { Engine } from '../engine/engine.js';
import type { NetNamespace } from '../net/netns.js';
import { cidrContains, formatCidr, formatIpv4, type Cidr } from '../wire/addr.js';
import { MARK_MASQ, type DnatDecision, type NatPolicy } from '../netfilter/nat-policy.js';
import { Affinity, Backends, type SchedulerName } from './schedulers.js';
import { categorizeEndpoints } from './endpoint-conditions.js';
import { portEndpoints } from './endpoint-ports.js';
import { endpointChainName, ipvsRuleName, nftChainName, nftEndpointBase, nftServiceBase, serviceChainName, servicePortName } from './proxy-names.js';
import type { ProxyMode, ServicePlan, ServicePortPlan } from './types.js';
import { SCTP_PROTOCOL as SCTP } from '../wire/sctp.js';
import { TCP_PROTOCOL as TCP } from '../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';

/** A service with its endpoints resolved to addresses (services.ts computes these). */
export interface ResolvedEndpoint {
  pod: string;
  node: string;
  ip: number;
  /** EndpointSlice conditions (endpoint-conditions.ts); absent as kube-proxy reads nil: ready, serving, not terminating. */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  /** EndpointSlice hints (trafficDistribution): forZones / forNodes names. */
  zoneHints?: readonly string[];
  nodeHints?: readonly string[];
  /**
   * The endpoint's port for each of `plan.ports` (same order; NO_PORT: the pod does not have
   * that named port, so it is no endpoint of it): FindPort's answers (endpoint-ports.ts).
   * Absent: every numeric targetPort.
   */
  ports?: readonly number[];
}
export interface ResolvedService {
  plan: ServicePlan;
  endpoints: readonly ResolvedEndpoint[];
}

/**
 * Why a NEW connection to a service was refused (ProxyHooks' drop reasons), and whether
 * kube-proxy REJECTs it (ICMP port unreachable: the client sees "connection refused") or
 * DROPs it (the client times out). The last two are nftables mode's `cluster-ips-check`.
 */
export const PROXY_DROPS = ['no-endpoints', 'no-local-endpoints', 'invalid-cluster-ip-port', 'unallocated-cluster-ip', 'lb-source-not-allowed'] as const;
export const PROXY_REJECTS: readonly boolean[] = [true, false, true, false, false];
const NO_ENDPOINTS = 0;
const NO_LOCAL_ENDPOINTS = 1;
const INVALID_PORT = 2;
const UNALLOCATED = 3;
const LB_SOURCE = 4;

interface Endpoint {
  pod: string;
  node: string;
  ip: number;
  port: number;
  /** ip * 65536 + port: the identity affinity and load carry over by. */
  key: number;
  /** Tag handed to conntrack; `released(tag)` finds the endpoint again. */
  tag: number;
  /** KUBE-SEP-... (a sha256: computed when first shown, see `ruleName`). */
  sepChain: string;
}

interface VirtualService {
  svc: ServicePlan;
  port: ServicePortPlan;
  proto: number;
  name: string;
  /** Every endpoint this node may send to (CategorizeEndpoints' allReachable), with its load. */
  endpoints: Endpoint[];
  backends: Backends;
  /** Indices (into endpoints) of the Cluster-policy endpoints, and their own load view. */
  cluster: number[];
  clusterBackends: Backends;
  /** Indices (into endpoints) of the Local-policy endpoints (this node's), and their own load view. */
  local: number[];
  localBackends: Backends;
  /** Some endpoint anywhere is usable: without one, refusals are REJECTs (no-endpoints). */
  hasAny: boolean;
  affinity: Affinity | null;
  svcChain: string;
  scheduler: SchedulerName;
}

export interface ServiceProxyOptions {
  engine: Engine;
  node: string;
  root: NetNamespace;
  podCIDR: Cidr;
  mode: ProxyMode;
  /** nftables mode: the service CIDR (`cluster-ips-check` drops its unallocated addresses). */
  serviceCIDR?: Cidr;
  /** nftables mode: the node's primary address, the only one NodePorts answer on. */
  primaryIp?: number;
  /** The node's zone (trafficDistribution hints). */
  zone?: string;
}

const keyOf = (ip: number, port: number, proto: number): number => (ip * 65536 + port) * 4 + (proto === UDP ? 1 : proto === SCTP ? 2 : 0);

export class ServiceProxy implements NatPolicy {
  readonly node: string;
  readonly mode: ProxyMode;
  /** Connections refused by reason (PROXY_DROPS order). */
  readonly refused = PROXY_DROPS.map(() => 0);
  private readonly engine: Engine;
  private readonly root: NetNamespace;
  private readonly podCIDR: Cidr;
  private vips = new Map<number, VirtualService>();
  /** Every cluster IP with a service port (nftables mode's `cluster-ips` set). */
  private clusterIps = new Set<number>();
  private readonly serviceCIDR: Cidr | null;
  private readonly primaryIp: number;
  private readonly zone: string;
  private nodePorts = new Map<number, VirtualService>();
  /** externalIPs and LoadBalancer ingress IPs: ip:port/proto -> service port (external traffic). */
  private externals = new Map<number, VirtualService>();
  /** tag -> [service port name, endpoint key]; stable across syncs. */
  private readonly tags = new Map<number, { vs: string; key: number }>();
  private readonly tagOf = new Map<string, number>();
  private byName = new Map<string, VirtualService>();
  private nextTag = 1;
  /** Services synced but not built into rules yet (see `sync`). */
  private pending: readonly ResolvedService[] | null = null;

  constructor(opts: ServiceProxyOptions) {
    this.engine = opts.engine;
    this.node = opts.node;
    this.root = opts.root;
    this.podCIDR = opts.podCIDR;
    this.mode = opts.mode;
    this.serviceCIDR = opts.serviceCIDR ?? null;
    this.primaryIp = opts.primaryIp ?? 0;
    this.zone = opts.zone ?? '';
  }

  /**
   * Reprograms every rule from `services`; keeps load counts and affinities of endpoints that
   * stay. The rules are built on first use (a NEW connection, a release, a listing), from the
   * last services synced: in a cluster of many nodes most nodes never see most services, and
   * building every node's rules up front is O(nodes x endpoints).
   */
  sync(services: readonly ResolvedService[]): void {
    this.pending = services;
  }

  private materialize(): void {
    const services = this.pending!;
    this.pending = null;
    const vips = new Map<number, VirtualService>();
    const nodePorts = new Map<number, VirtualService>();
    const externals = new Map<number, VirtualService>();
    const byName = new Map<string, VirtualService>();
    const clusterIps = new Set<number>();
    for (const s of services) {
      if (s.plan.ports.length > 0) clusterIps.add(s.plan.clusterIP);
      for (const [k, port] of s.plan.ports.entries()) {
        const proto = port.protocol === 'UDP' ? UDP : port.protocol === 'SCTP' ? SCTP : TCP;
        const name = servicePortName(s.plan.namespace, s.plan.name, port.name);
        const old = this.byName.get(`${name}/${port.protocol}`);
        const vs = this.build(s, k, port, proto, name, old);
        byName.set(`${name}/${port.protocol}`, vs);
        vips.set(keyOf(s.plan.clusterIP, port.port, proto), vs);
        if (port.nodePort !== undefined) nodePorts.set(keyOf(0, port.nodePort, proto), vs);
        for (const ip of s.plan.externalIPs) externals.set(keyOf(ip, port.port, proto), vs);
        if (s.plan.type === 'LoadBalancer') for (const ip of s.plan.loadBalancerIPs) externals.set(keyOf(ip, port.port, proto), vs);
      }
    }
    this.vips = vips;
    this.clusterIps = clusterIps;
    this.nodePorts = nodePorts;
    this.externals = externals;
    this.byName = byName;
  }

  private build(s: ResolvedService, k: number, port: ServicePortPlan, proto: number, name: string, old: VirtualService | undefined): VirtualService {
    const full = `${name}/${port.protocol}`;
    // kube-proxy: CategorizeEndpoints (ready, else serving and terminating; Cluster and Local
    // apart), over this service port's endpoints, each with its own target port.
    const cat = categorizeEndpoints(portEndpoints(s.endpoints, port, k), this.node, this.zone);
    const endpoints: Endpoint[] = cat.reachable.map((e) => {
      const key = e.ip * 65536 + e.targetPort;
      const tkey = `${full}|${key}`;
      let tag = this.tagOf.get(tkey);
      if (tag === undefined) {
        tag = this.nextTag++;
        this.tagOf.set(tkey, tag);
        this.tags.set(tag, { vs: full, key });
      }
      return { pod: e.pod, node: e.node, ip: e.ip, port: e.targetPort, key, tag, sepChain: '' };
    });
    const weights = endpoints.map((e) => s.plan.weights[e.pod] ?? 1);
    const backends = new Backends(weights);
    const cluster: number[] = [];
    const local: number[] = [];
    cat.reachable.forEach((e, i) => {
      if (cat.cluster.includes(e)) cluster.push(i);
      if (cat.local.includes(e)) local.push(i);
    });
    const clusterBackends = new Backends(cluster.map((i) => weights[i]!));
    const localBackends = new Backends(local.map((i) => weights[i]!));
    const timeoutMs = s.plan.sessionAffinityTimeout * 1000;
    let affinity: Affinity | null = null;
    if (s.plan.sessionAffinity === 'ClientIP') {
      affinity = old?.affinity !== null && old?.affinity !== undefined && old.affinity.timeoutMs === timeoutMs ? old.affinity : new Affinity(timeoutMs);
    }
    if (old !== undefined) {
      // Carry the load of endpoints that stay; forget affinities to endpoints that left.
      const stays = new Set(endpoints.map((e) => e.key));
      old.endpoints.forEach((e, i) => {
        const j = endpoints.findIndex((n) => n.key === e.key);
        if (j >= 0) backends.active[j] = old.backends.active[i]!;
        if (!stays.has(e.key)) affinity?.forgetKey(e.key);
      });
      cluster.forEach((i, k) => { clusterBackends.active[k] = backends.active[i]!; });
      local.forEach((i, k) => { localBackends.active[k] = backends.active[i]!; });
    }
    return {
      svc: s.plan, port, proto, name, endpoints, backends, cluster, clusterBackends, local, localBackends, hasAny: cat.hasAny, affinity,
      svcChain: this.mode === 'nftables'
        ? nftChainName('service', nftServiceBase(s.plan.namespace, s.plan.name, port.protocol, port.name ?? ''))
        : serviceChainName(name, port.protocol),
      scheduler: this.mode === 'ipvs' ? s.plan.scheduler : 'random',
    };
  }

  dnat(proto: number, src: number, dst: number, sport: number, dport: number, inIf: number, traced: boolean, out: DnatDecision): boolean {
    if (this.pending !== null) this.materialize();
    if (proto !== TCP && proto !== UDP && proto !== SCTP) return this.mode === 'nftables' ? this.clusterIpsCheck(dst, dport, traced, out) : false;
    let vs = this.vips.get(keyOf(dst, dport, proto));
    // External traffic: a NodePort, an externalIP or a LoadBalancer IP (kube-proxy's KUBE-EXT chain).
    let nodePort = false;
    let external = false;
    if (vs === undefined && this.externals.size > 0) {
      vs = this.externals.get(keyOf(dst, dport, proto));
      external = vs !== undefined;
      // loadBalancerSourceRanges (KUBE-FW-<h> / nft firewall-<h>): a LoadBalancer IP takes only
      // its ranges' sources (and itself, when a range holds the node's IP: allowFromNode);
      // NodePorts and externalIPs bypass them, as in kube-proxy.
      if (vs !== undefined && !this.lbSourceAllowed(vs.svc, src, dst)) return this.refuseSource(vs, dst, dport, traced, out);
    }
    if (vs === undefined) {
      // nftables mode: NodePorts on the node's primary address only (--nodeport-addresses primary).
      // IPVS mode: not on the cluster IPs bound to kube-ipvs0 (GetAllLocalAddressesExcept(defaultDummyDevice)).
      const nodeAddr = this.mode === 'nftables' ? dst === this.primaryIp
        : (dst >>> 24) !== 127 && this.root.isLocal(dst) && !(this.mode === 'ipvs' && this.clusterIps.has(dst));
      vs = this.nodePorts.size === 0 || !nodeAddr ? undefined : this.nodePorts.get(keyOf(0, dport, proto));
      if (vs === undefined) return this.mode === 'nftables' ? this.clusterIpsCheck(dst, dport, traced, out) : false;
      nodePort = true;
      external = true;
    }
    const fromPods = cidrContains(this.podCIDR, src);
    // Which endpoints: external traffic under externalTrafficPolicy Local, except from pods and
    // from the node itself (kube-proxy's KUBE-EXT short-circuits those to every endpoint, the
    // node's masqueraded); cluster IP traffic under internalTrafficPolicy Local.
    const fromNode = this.root.isLocalAddr(src);
    const localOnly = external
      ? vs.svc.externalTrafficPolicy === 'Local' && !fromPods && !fromNode
      : vs.svc.internalTrafficPolicy === 'Local';
    const n = localOnly ? vs.local.length : vs.cluster.length;
    // No usable endpoint anywhere: REJECT; endpoints elsewhere but none here under Local: DROP.
    const why = localOnly && vs.hasAny ? NO_LOCAL_ENDPOINTS : NO_ENDPOINTS;
    if (n === 0) return this.refuse(vs, why, dst, dport, nodePort, traced, out);
    const now = this.engine.now();
    let i = -1;
    if (vs.affinity !== null) {
      const k = vs.affinity.lookup(src, now);
      if (k >= 0) i = this.indexOfKey(vs, k, localOnly);
    }
    let chosen = '';
    if (i < 0) {
      const b = localOnly ? vs.localBackends : vs.clusterBackends;
      const j = b.pick(vs.scheduler, this.engine.rng, src, dst);
      if (j < 0) return this.refuse(vs, why, dst, dport, nodePort, traced, out);
      i = localOnly ? vs.local[j]! : vs.cluster[j]!;
      chosen = vs.scheduler;
    } else {
      chosen = 'affinity';
    }
    const ep = vs.endpoints[i]!;
    this.acquire(vs, i);
    vs.affinity?.record(src, ep.key, now);
    // KUBE-MARK-MASQ, as kube-proxy's chains set it: external traffic under policy Cluster
    // (KUBE-EXT's "masquerade traffic"), under policy Local only the node's own ("masquerade
    // LOCAL traffic"; pod traffic short-circuits to KUBE-SVC unmasqueraded); cluster IP traffic
    // from outside the cluster CIDR; and hairpin (KUBE-SEP's `-s <endpoint>`).
    const masq = (external ? vs.svc.externalTrafficPolicy === 'Cluster' || fromNode : !fromPods) || src === ep.ip;
    out.ip = ep.ip;
    out.port = ep.port;
    out.mark = masq ? MARK_MASQ : 0;
    out.tag = ep.tag;
    if (traced) {
      out.detail = {
        service: `${vs.svc.namespace}/${vs.svc.name}`, mode: this.mode, vip: formatIpv4(dst), port: dport,
        endpoint: `${formatIpv4(ep.ip)}:${ep.port}`, pod: ep.pod, scheduler: chosen,
        rule: this.ruleName(vs, ep, nodePort), masquerade: masq,
        ...(nodePort ? { nodePort: dport } : {}),
        ...(external && !nodePort ? { external: formatIpv4(dst) } : {}),
        ...(src === ep.ip ? { hairpin: true } : {}),
      };
    }
    return true;
  }

  snat(proto: number, origSrc: number, origDst: number, natDst: number, natDport: number, outIf: number, mark: number): number {
    if ((mark & MARK_MASQ) === 0) return 0;
    // MASQUERADE: the egress interface's address towards the new destination.
    return this.root.ifaceAt(outIf)?.addrFor(natDst) ?? 0;
  }

  released(tag: number): void {
    if (this.pending !== null) this.materialize();
    const t = this.tags.get(tag);
    if (t === undefined) return;
    const vs = this.byName.get(t.vs);
    if (vs === undefined) return;
    const i = vs.endpoints.findIndex((e) => e.key === t.key);
    if (i < 0) return;
    vs.backends.release(i);
    const k = vs.cluster.indexOf(i);
    if (k >= 0) vs.clusterBackends.release(k);
    const j = vs.local.indexOf(i);
    if (j >= 0) vs.localBackends.release(j);
  }

  /** Active connections per endpoint of a service port (`ns/name:port/PROTO`), by pod. */
  load(servicePort: string): Record<string, number> {
    if (this.pending !== null) this.materialize();
    const vs = this.byName.get(servicePort);
    const out: Record<string, number> = {};
    if (vs !== undefined) vs.endpoints.forEach((e, i) => { out[e.pod] = vs.backends.active[i]!; });
    return out;
  }

  /** The rules as kube-proxy would list them: iptables chains, or ipvsadm-style lines. */
  rules(): string[] {
    if (this.pending !== null) this.materialize();
    const out: string[] = [];
    for (const vs of this.byName.values()) {
      const vip = `${formatIpv4(vs.svc.clusterIP)}:${vs.port.port}/${vs.port.protocol}`;
      if (vs.endpoints.length === 0) out.push(`${vip} ${vs.name}: no endpoints (REJECT)`);
      for (const ep of vs.endpoints) out.push(`${vip} ${this.ruleName(vs, ep, false)}`);
      if (vs.port.nodePort !== undefined) out.push(`*:${vs.port.nodePort}/${vs.port.protocol} -> ${vs.svcChain} (NodePort, ${vs.svc.externalTrafficPolicy})`);
    }
    return out;
  }

  private ruleName(vs: VirtualService, ep: Endpoint, nodePort: boolean): string {
    if (this.mode === 'ipvs') return ipvsRuleName(vs.port.protocol, nodePort ? 'NodePort' : formatIpv4(vs.svc.clusterIP), nodePort ? vs.port.nodePort! : vs.port.port, vs.scheduler, `${formatIpv4(ep.ip)}:${ep.port}`);
    if (this.mode === 'nftables') {
      const base = nftServiceBase(vs.svc.namespace, vs.svc.name, vs.port.protocol, vs.port.name ?? '');
      if (ep.sepChain === '') ep.sepChain = nftChainName('endpoint', nftEndpointBase(base, formatIpv4(ep.ip), ep.port));
      return `${nodePort ? `service-nodeports -> ${nftChainName('external', base)} -> ` : 'service-ips -> '}${vs.svcChain} -> ${ep.sepChain}`;
    }
    if (ep.sepChain === '') ep.sepChain = endpointChainName(vs.name, vs.port.protocol, `${formatIpv4(ep.ip)}:${ep.port}`);
    return `${nodePort ? 'KUBE-NODEPORTS -> ' : ''}${vs.svcChain} -> ${ep.sepChain}`;
  }

  private indexOfKey(vs: VirtualService, key: number, localOnly: boolean): number {
    const eps = vs.endpoints;
    for (let i = 0; i < eps.length; i++) {
      if (eps[i]!.key === key) return (localOnly ? vs.local : vs.cluster).includes(i) ? i : -1;
    }
    return -1;
  }

  private acquire(vs: VirtualService, i: number): void {
    vs.backends.acquire(i);
    const k = vs.cluster.indexOf(i);
    if (k >= 0) vs.clusterBackends.acquire(k);
    const j = vs.local.indexOf(i);
    if (j >= 0) vs.localBackends.acquire(j);
  }

  /**
   * No endpoint: no DNAT, and the connection is refused: the verdict goes back in the decision
   * (`out.refuse`, a PROXY_DROPS index; `out.detail` when traced), for ProxyHooks to answer.
   */
  private refuse(vs: VirtualService, reason: number, dst: number, dport: number, nodePort: boolean, traced: boolean, out: DnatDecision): boolean {
    this.refused[reason]!++;
    out.refuse = reason;
    if (traced) {
      out.detail = {
        service: `${vs.svc.namespace}/${vs.svc.name}`, mode: this.mode, vip: formatIpv4(dst), port: dport,
        ...(nodePort ? { nodePort: dport } : {}),
        reason: PROXY_DROPS[reason],
        rule: this.mode !== 'nftables' ? `${nodePort ? 'KUBE-NODEPORTS -> ' : ''}${vs.svcChain} -> ${PROXY_REJECTS[reason] === true ? 'REJECT' : 'DROP'}`
          : reason === NO_LOCAL_ENDPOINTS ? 'no-endpoint-nodeports -> drop'
            : `${nodePort ? 'no-endpoint-nodeports' : 'no-endpoint-services'} -> reject-chain`,
      };
    }
    return false;
  }

  private lbSourceAllowed(s: ServicePlan, src: number, dst: number): boolean {
    const ranges = s.loadBalancerSourceRanges;
    if (ranges === undefined || ranges.length === 0 || s.type !== 'LoadBalancer' || !s.loadBalancerIPs.includes(dst)) return true;
    for (const r of ranges) if (cidrContains(r, src)) return true;
    // allowFromNode: a range holds the node's IP, so traffic the node sends to its LB IP
    // (SNATted to that IP by something outside kube-proxy) is accepted too.
    return s.loadBalancerIPs.includes(src) && ranges.some((r) => cidrContains(r, this.primaryIp));
  }

  private refuseSource(vs: VirtualService, dst: number, dport: number, traced: boolean, out: DnatDecision): boolean {
    this.refused[LB_SOURCE]!++;
    out.refuse = LB_SOURCE;
    if (traced) {
      out.detail = {
        service: `${vs.svc.namespace}/${vs.svc.name}`, mode: this.mode, vip: formatIpv4(dst), port: dport, reason: PROXY_DROPS[LB_SOURCE],
        rule: this.mode === 'nftables' ? `firewall-ips -> ${nftChainName('firewall', nftServiceBase(vs.svc.namespace, vs.svc.name, vs.port.protocol, vs.port.name ?? ''))} -> drop`
          : `KUBE-FW-${vs.svcChain.slice('KUBE-SVC-'.length)} -> KUBE-PROXY-FIREWALL DROP`,
      };
    }
    return false;
  }

  /**
   * nftables mode's `cluster-ips-check` (filter forward/output, ct state new): a NEW packet
   * that no service port DNATed, to a live cluster IP, is rejected ("Reject traffic to invalid
   * ports of ClusterIPs"); to an unallocated address of the service CIDR, dropped.
   */
  private clusterIpsCheck(dst: number, dport: number, traced: boolean, out: DnatDecision): boolean {
    let reason = -1;
    if (this.clusterIps.has(dst)) reason = INVALID_PORT;
    else if (this.serviceCIDR !== null && cidrContains(this.serviceCIDR, dst)) reason = UNALLOCATED;
    if (reason < 0) return false;
    this.refused[reason]!++;
    out.refuse = reason;
    if (traced) {
      out.detail = {
        mode: this.mode, vip: formatIpv4(dst), port: dport, reason: PROXY_DROPS[reason],
        rule: reason === INVALID_PORT ? 'cluster-ips-check: ip daddr @cluster-ips reject' : `cluster-ips-check: ip daddr ${formatCidr(this.serviceCIDR!)} drop`,
      };
    }
    return false;
  }
}
