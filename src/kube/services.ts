/**
 * The service layer of a cluster: what the API server's endpoints controller, kube-proxy
 * and CoreDNS's watch do together, in one object the builder owns.
 *
 * - Endpoints follow pods: every service's endpoints are recomputed from the pods' labels
 *   whenever pods or services are added or removed at run time (`sync`). A service with
 *   EndpointSlices given (manifests) takes their endpoints instead (slice-endpoints.ts); they
 *   do not follow pod changes, as the slices of a dump do not.
 * - kube-proxy, per emulated node: a `ServiceProxy` (the rules) as the NAT policy of the
 *   node's netfilter hooks (`NatHooks`), with one conntrack table per node, as in Linux
 *   (`cluster.conntrack.max` entries, netfilter's or kube-proxy's timeouts).
 * - With `cluster.flushStaleUdp` on, every sync reconciles each node's UDP conntrack entries
 *   as kube-proxy's CleanStaleEntries (pkg/proxy/conntrack/cleanup.go): for each UDP service
 *   port with at least one serving endpoint, an entry to one of its frontends (cluster IP,
 *   load-balancer and external IPs at the port; any address at its NodePort) whose reply
 *   source is no serving endpoint is deleted. That covers an endpoint that went away or
 *   stopped serving, and a service that goes from no endpoints to some; a service with no
 *   serving endpoint is left alone. Off, stale entries keep sending datagrams to the dead
 *   address until they time out.
 * - Cluster DNS: one `ClusterDnsRecords` for the cluster, kept in step with the services;
 *   the kube-dns pods' `dns` app serves it (`dnsApp`).
 */
import type { Timer } from '../engine/scheduler.js';
import type { NetNamespace } from '../net/netns.js';
import { formatIpv4, macFromIpv4, parseCidr, parseIpv4 } from '../wire/addr.js';
import { DnsServer } from '../apps/dns-server.js';
import { ConntrackTable, KUBE_PROXY_TIMEOUTS, LINUX_TIMEOUTS } from '../netfilter/conntrack.js';
import { NatHooks } from '../netfilter/nat-hooks.js';
import { ClusterDnsRecords, type DnsEndpoint, type DnsService } from './dns-records.js';
import { PodIndex } from './selector.js';
import type { Closable } from './pod-apps.js';
import { ServiceProxy, type ResolvedService } from './service-proxy.js';
import { podConditions, topologyHints } from './endpoint-conditions.js';
import { endpointPorts, portEndpoints } from './endpoint-ports.js';
import { sliceEndpoints } from './slice-endpoints.js';
import { HealthCheckServers } from './health-check.js';
import { needsHealthCheck } from './plan.js';
import { BridgedHooks, ProxyHooks } from './proxy-hooks.js';
import type { Cluster } from './cluster.js';
import { reservedServiceName } from './names.js';
import type {
  ExternalTrafficPolicy, InternalTrafficPolicy, IpvsScheduler, TrafficDistribution, Protocol, ServicePlan, ServicePortPlan, ServiceType, SessionAffinity,
} from './types.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';

/** A service added at run time; defaults as in the topology schema. */
export interface ServiceInput {
  name: string;
  namespace?: string;
  type?: ServiceType;
  /** Dotted IPv4 or uint32; allocated from serviceCIDR when absent; `None`: headless. */
  clusterIP?: string | number;
  /** type ExternalName: the CNAME target. */
  externalName?: string;
  selector?: Record<string, string>;
  /** targetPort: a number, or a container port name resolved on each pod (endpoint-ports.ts). */
  ports: { name?: string; port: number; targetPort?: number | string; protocol?: Protocol; nodePort?: number }[];
  sessionAffinity?: SessionAffinity;
  sessionAffinityTimeout?: number;
  externalTrafficPolicy?: ExternalTrafficPolicy;
  internalTrafficPolicy?: InternalTrafficPolicy;
  /** Dotted IPv4 or uint32. */
  externalIPs?: (string | number)[];
  loadBalancerIPs?: (string | number)[];
  loadBalancerSourceRanges?: string[];
  scheduler?: IpvsScheduler;
  weights?: Record<string, number>;
  publishNotReadyAddresses?: boolean;
  /** LoadBalancer with externalTrafficPolicy Local: allocated like a NodePort when absent. */
  healthCheckNodePort?: number;
  trafficDistribution?: TrafficDistribution;
}

/** kube-proxy's IPVS dummy device (pkg/proxy/ipvs defaultDummyDevice). */
export const IPVS_DUMMY = 'kube-ipvs0';
const ipOf = (a: string | number): number => (typeof a === 'string' ? parseIpv4(a) : a >>> 0);
/** conntrack's garbage collection: every 10 s of engine time, up to 4096 entries per node (Linux's gc worker). */
const GC_INTERVAL_MS = 10_000;
const GC_BUDGET = 4096;

export class ServiceController {
  readonly records: ClusterDnsRecords;
  readonly proxies = new Map<string, ServiceProxy>();
  readonly conntrack = new Map<string, ConntrackTable>();
  readonly hooks = new Map<string, ProxyHooks>();
  /** Every service with its endpoints, as last synced (what each node's proxy was given). */
  private synced: readonly ResolvedService[] = [];
  private gcTimer: Timer | null = null;
  /** kube-proxy's healthCheckNodePort servers on every emulated node (health-check.ts). */
  private health: HealthCheckServers | null = null;

  constructor(private readonly cluster: Cluster) {
    const plan = cluster.plan;
    this.records = new ClusterDnsRecords({ domain: plan.dnsDomain, kubernetesClusterIP: plan.kubernetesServiceIp, ttl: plan.cluster.dns?.ttl ?? 5 });
    for (const s of plan.services) this.records.setService(dnsService(s));
    for (const p of plan.pods) this.records.setPod({ name: p.name, namespace: p.namespace, ip: p.ip });
  }

  /** The `dns` pod app: the cluster DNS server over these records. */
  readonly dnsApp = (ns: NetNamespace, port: number): Closable => {
    const engine = this.cluster.engine;
    const server = engine.addCounted(DnsServer.start(ns, this.records, port, `${ns.name}/dns`, this.cluster.dnsUpstream()));
    return { close: () => { server.close(); engine.removeCounted(server); } };
  };

  /** Programs kube-proxy on every emulated node (call once the nodes exist). */
  install(): void {
    const c = this.cluster;
    const cfg = c.plan.cluster;
    for (const [name, node] of c.nodes) {
      const proxy = new ServiceProxy({
        engine: c.engine, node: name, root: node.root, podCIDR: c.plan.podCIDR, mode: cfg.proxyMode,
        serviceCIDR: c.ipam.serviceCIDR, primaryIp: node.plan.ip, ...(node.plan.zone !== undefined ? { zone: node.plan.zone } : {}),
      });
      const table = new ConntrackTable({
        capacity: cfg.conntrack.max, timeouts: cfg.conntrack.timeouts === 'kube-proxy' ? KUBE_PROXY_TIMEOUTS : LINUX_TIMEOUTS,
        kernel: cfg.conntrack.kernel, tcpBeLiberal: cfg.conntrack.tcpBeLiberal,
      });
      const where = { node: name, netns: 'root', device: cfg.proxyMode };
      const nat = c.engine.addCounted(new NatHooks(c.engine, where, table, proxy));
      const hooks = c.engine.addCounted(new ProxyHooks(c.engine, where, node.root, nat, proxy));
      // kube-proxy's KUBE-FORWARD INVALID drop: iptables and IPVS modes, unless be_liberal is set (PR #120412)
      hooks.dropInvalid = cfg.proxyMode !== 'nftables' && !cfg.conntrack.tcpBeLiberal;
      node.root.hooks = hooks;
      const br = node.root.iface(node.plan.bridge);
      if (br !== undefined) node.bridge.netfilter = new BridgedHooks(hooks, br.ifindex, { ...where, device: node.plan.bridge });
      this.proxies.set(name, proxy);
      this.conntrack.set(name, table);
      this.hooks.set(name, hooks);
    }
    this.health = new HealthCheckServers(new Map([...c.nodes].map(([name, node]) => [name, node.root])));
    this.sync();
    if (this.hooks.size > 0) this.scheduleGc();
  }

  /** Stops the conntrack sweeper (the cluster is closing). */
  stop(): void {
    if (this.gcTimer !== null) this.cluster.engine.scheduler.cancel(this.gcTimer);
    this.gcTimer = null;
    this.health?.close();
  }

  /** Expired entries are reclaimed on lookup anyway; the sweep releases their scheduler load (lc, wlc, sed, nq). */
  private scheduleGc(): void {
    this.gcTimer = this.cluster.engine.scheduler.after(GC_INTERVAL_MS, () => {
      for (const h of this.hooks.values()) h.nat.gc(GC_BUDGET);
      this.scheduleGc();
    });
  }

  /** Recomputes endpoints from the pods, reprograms every node, flushes stale UDP entries. */
  sync(): void {
    const c = this.cluster;
    const plan = c.plan;
    const index = new PodIndex(plan.pods);
    const zones = new Map(plan.nodes.map((n) => [n.name, n.zone]));
    const resolved: ResolvedService[] = [];
    // CleanStaleEntries' maps: UDP frontend (ip * 65536 + port) and NodePort -> the serving endpoint IPs
    const udpFrontends = new Map<number, Set<number>>();
    const udpNodePorts = new Map<number, Set<number>>();
    const podsByIp = new Map(plan.pods.map((p) => [p.ip, p]));
    const udpServing = (s: ServicePlan, endpoints: ResolvedService['endpoints']): void => {
      s.ports.forEach((port, k) => {
        if (port.protocol !== 'UDP') return;
        const serving = new Set<number>();
        for (const e of portEndpoints(endpoints, port, k)) if (e.serving) serving.add(e.ip);
        if (serving.size === 0) return; // kube-proxy: a service without endpoints needs no cleaning
        for (const ip of [s.clusterIP, ...s.loadBalancerIPs, ...s.externalIPs]) udpFrontends.set((ip >>> 0) * 65536 + port.port, serving);
        if (port.nodePort !== undefined && port.nodePort !== 0) udpNodePorts.set(port.nodePort, serving);
      });
    };
    for (const s of plan.services) {
      if (s.sliceEndpoints !== undefined) {
        // EndpointSlices given (manifests): taken as they are instead of the selector's (slice-endpoints.ts).
        const given = sliceEndpoints(s.ports, s.sliceEndpoints, podsByIp);
        s.endpoints = given.pods.map((p) => p.name);
        this.records.setService(dnsService(s, given.dns));
        if (s.headless === true || s.externalName !== undefined) continue;
        resolved.push({ plan: s, endpoints: given.endpoints });
        udpServing(s, given.endpoints);
        continue;
      }
      const selected = index.select(s.namespace, s.selector);
      s.endpoints = selected.map((p) => p.name);
      // EndpointSlice conditions per pod (endpoint-conditions.ts): what each node's kube-proxy categorizes.
      const pna = s.publishNotReadyAddresses === true;
      // Endpoints controller: hostname only when the pod's subdomain names this service; DNS
      // serves the ready endpoints (publishNotReadyAddresses: all of them).
      const conds = selected.map((p) => podConditions(p, pna));
      const dnsEndpoints = selected.filter((_, k) => conds[k]!.ready);
      // Each with its EndpointSlice ports (headless SRV records carry them, CoreDNS findServices).
      this.records.setService(dnsService(s, dnsEndpoints.map((p) => ({
        ip: p.ip, ...(p.hostname !== undefined && p.subdomain === s.name ? { hostname: p.hostname } : {}), ports: endpointPorts(p, s.ports),
      }))));
      if (s.headless === true || s.externalName !== undefined) continue; // kube-proxy: no virtual IP, no rules
      // EndpointSlice controller: each pod's own port per service port (FindPort; endpoint-ports.ts).
      const endpoints = selected.map((p, k) => ({
        pod: p.name, node: p.node, ip: p.ip, ...conds[k]!, ...topologyHints(s.trafficDistribution, p.node, zones.get(p.node), conds[k]!.ready),
        ports: endpointPorts(p, s.ports),
      }));
      resolved.push({ plan: s, endpoints });
      udpServing(s, endpoints);
    }
    this.synced = resolved;
    for (const proxy of this.proxies.values()) proxy.sync(resolved);
    this.health?.sync(resolved);
    if (plan.cluster.proxyMode === 'ipvs' && this.proxies.size > 0) this.bindIpvsAddresses();
    if (plan.cluster.flushStaleUdp && (udpFrontends.size > 0 || udpNodePorts.size > 0)) {
      const now = c.engine.now();
      for (const t of this.conntrack.values()) {
        t.deleteIf(UDP, now, (e) => {
          const reply = t.replySrc(e) >>> 0;
          const front = udpFrontends.get((t.origDst(e) >>> 0) * 65536 + t.origDport(e));
          if (front !== undefined && !front.has(reply)) return true;
          const np = udpNodePorts.get(t.origDport(e));
          return np !== undefined && !np.has(reply);
        });
      }
    }
    for (const p of plan.pods) this.records.setPod({ name: p.name, namespace: p.namespace, ip: p.ip });
    c.flowtable?.invalidate(); // endpoints and rules may have changed
  }

  /**
   * IPVS mode: kube-proxy binds every cluster IP, external IP and load-balancer IP to the
   * dummy device `kube-ipvs0` of each node (pkg/proxy/ipvs: defaultDummyDevice, /32, no
   * route), so the node itself answers for them: a ping gets an echo reply. An external or
   * load-balancer IP that is already an address of another interface of the node is not bound
   * ("We must not add the address to the dummy device if it exist on another interface":
   * shouldBind := !nodeAddressSet.Has). iptables and nftables modes bind nothing.
   */
  private bindIpvsAddresses(): void {
    const svcs = this.cluster.plan.services.filter((s) => s.ports.length > 0 && s.headless !== true && s.externalName === undefined);
    const clusterIPs = svcs.map((s) => s.clusterIP);
    const outside = svcs.flatMap((s) => [...s.externalIPs, ...s.loadBalancerIPs]);
    for (const node of this.cluster.nodes.values()) {
      const root = node.root;
      const dev = root.iface(IPVS_DUMMY) ?? root.addInterface(IPVS_DUMMY, 'dummy', macFromIpv4(node.plan.ip, 0x02d0), 1500);
      const onOthers = new Set(root.interfaces().filter((i) => i !== dev).flatMap((i) => i.addrs.map((a) => a.ip)));
      const want = new Set([...clusterIPs, ...outside.filter((ip) => !onOthers.has(ip))]);
      const have = new Set(dev.addrs.map((a) => a.ip));
      for (const ip of have) if (!want.has(ip)) root.removeAddress(IPVS_DUMMY, ip);
      for (const ip of want) if (!have.has(ip)) root.addAddress(IPVS_DUMMY, ip, 32, false);
    }
  }

  /** A pod went away: forget its DNS record, then resync. */
  podRemoved(name: string, namespace: string): void {
    this.records.removePod(name, namespace);
    this.sync();
  }

  /** Adds a service while running: allocates its cluster IP and NodePorts (unless given). All or nothing. */
  addService(spec: ServiceInput): ServicePlan {
    const c = this.cluster;
    const namespace = spec.namespace ?? 'default';
    const reserved = reservedServiceName(spec.name, namespace, c.plan.cluster.dnsReplicas);
    if (reserved !== null) throw new Error(`service ${JSON.stringify(spec.name)} ${reserved}`);
    if (c.plan.services.some((s) => s.name === spec.name && s.namespace === namespace)) {
      throw new Error(`service "${spec.name}" exists in namespace "${namespace}"`);
    }
    const type = spec.type ?? 'ClusterIP';
    const headless = spec.clusterIP === 'None' && type !== 'ExternalName';
    const noVip = headless || type === 'ExternalName';
    const given = typeof spec.clusterIP === 'string' && !noVip ? parseIpv4(spec.clusterIP) : typeof spec.clusterIP === 'number' ? spec.clusterIP : undefined;
    const clusterIP = noVip ? 0 : c.ipam.allocateServiceIp(given);
    const taken: number[] = [];
    let added: ServicePlan | null = null;
    try {
      const ports = (spec.ports ?? []).map((p): ServicePortPlan => {
        const out: ServicePortPlan = { port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP' };
        if (p.name !== undefined) out.name = p.name;
        if (p.nodePort !== undefined || type === 'NodePort' || type === 'LoadBalancer') {
          const np = p.nodePort !== undefined && taken.includes(p.nodePort) ? p.nodePort : c.ipam.allocateNodePort(p.nodePort);
          if (!taken.includes(np)) taken.push(np);
          out.nodePort = np;
        }
        return out;
      });
      const eTP = spec.externalTrafficPolicy ?? 'Cluster';
      if (spec.healthCheckNodePort !== undefined && !needsHealthCheck({ type, externalTrafficPolicy: eTP })) {
        throw new Error(`healthCheckNodePort ${spec.healthCheckNodePort} may only be set when type is LoadBalancer and externalTrafficPolicy is Local`);
      }
      let hc: number | undefined;
      if (needsHealthCheck({ type, externalTrafficPolicy: eTP })) {
        hc = c.ipam.allocateNodePort(spec.healthCheckNodePort);
        taken.push(hc);
      }
      const plan: ServicePlan = {
        name: spec.name, namespace, type, clusterIP, ports, selector: { ...spec.selector },
        sessionAffinity: spec.sessionAffinity ?? 'None', sessionAffinityTimeout: spec.sessionAffinityTimeout ?? 10800,
        externalTrafficPolicy: spec.externalTrafficPolicy ?? 'Cluster', internalTrafficPolicy: spec.internalTrafficPolicy ?? 'Cluster',
        externalIPs: (spec.externalIPs ?? []).map(ipOf), loadBalancerIPs: (spec.loadBalancerIPs ?? []).map(ipOf),
        loadBalancerSourceRanges: (spec.loadBalancerSourceRanges ?? []).map((r) => parseCidr(r.trim())),
        scheduler: spec.scheduler ?? c.plan.cluster.ipvsScheduler,
        weights: { ...spec.weights }, endpoints: [], system: false,
        ...(type === 'ExternalName' ? { externalName: spec.externalName ?? '' } : headless ? { headless: true } : {}),
        ...(spec.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true } : {}),
        ...(hc !== undefined ? { healthCheckNodePort: hc } : {}),
        ...(spec.trafficDistribution !== undefined ? { trafficDistribution: spec.trafficDistribution } : {}),
      };
      c.plan.services.push(plan);
      added = plan;
      this.records.setService(dnsService(plan));
      this.sync();
      return plan;
    } catch (e) {
      if (added !== null) {
        c.plan.services.splice(c.plan.services.indexOf(added), 1);
        this.records.removeService(added.name, added.namespace);
        try { this.sync(); } catch { /* the first error is the one to report */ }
      }
      if (!noVip) c.ipam.releaseServiceIp(clusterIP);
      for (const np of taken) c.ipam.releaseNodePort(np);
      throw e;
    }
  }

  /** Removes a service while running: its rules, DNS name, cluster IP and NodePorts go. */
  removeService(name: string, namespace = 'default'): void {
    const c = this.cluster;
    const i = c.plan.services.findIndex((s) => s.name === name && s.namespace === namespace);
    if (i < 0) throw new Error(`no service "${name}" in namespace "${namespace}"`);
    const s = c.plan.services[i]!;
    c.plan.services.splice(i, 1);
    this.records.removeService(name, namespace);
    if (s.clusterIP !== c.plan.dnsServiceIp && s.clusterIP !== 0) c.ipam.releaseServiceIp(s.clusterIP); // .10 is reserved, never allocated; 0: no VIP
    for (const np of new Set(s.ports.map((p) => p.nodePort).filter((p): p is number => p !== undefined))) c.ipam.releaseNodePort(np);
    if (s.healthCheckNodePort !== undefined) c.ipam.releaseNodePort(s.healthCheckNodePort);
    this.sync();
  }

  /** The services and their endpoints every node's kube-proxy programs (rules-iptables, rules-ipvs). */
  resolved(): readonly ResolvedService[] {
    return this.synced;
  }

  /** kube-proxy's rules on `node`, one line each (for the API and tests). */
  rules(node: string): string[] {
    return this.proxies.get(node)?.rules() ?? [];
  }

  /** `ns/name` -> cluster IP, for messages. */
  describe(): string[] {
    return this.cluster.plan.services.map((s) => {
      const vip = s.externalName !== undefined ? `ExternalName ${s.externalName}` : s.headless === true ? 'None' : formatIpv4(s.clusterIP);
      return `${s.namespace}/${s.name} ${vip} -> ${s.endpoints.join(', ') || '(no endpoints)'}`;
    });
  }
}

/** The DNS view of a service; `endpoints` (the selected pods' addresses) answer PTR for them. */
function dnsService(s: ServicePlan, endpoints: DnsEndpoint[] = []): DnsService {
  return {
    name: s.name, namespace: s.namespace, clusterIP: s.headless === true || s.externalName !== undefined ? null : s.clusterIP, endpoints,
    ...(s.externalName !== undefined ? { externalName: s.externalName } : {}),
    ports: s.ports.map((p) => (p.name !== undefined ? { name: p.name, port: p.port, protocol: p.protocol } : { port: p.port, protocol: p.protocol })),
  };
}
