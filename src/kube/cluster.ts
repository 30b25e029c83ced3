/**
 * The builder and runtime of an emulated cluster: turns a ClusterPlan into namespaces,
 * bridges, veth pairs, the underlay switch and routes, and keeps them for inspection,
 * tracing, capture and live changes (pods added and removed while running).
 *
 * Per emulated node: a root namespace (IP forwarding on) with `eth0` on the underlay
 * (node IP), the bridge device (`cbr0`, holding the pods' gateway address .1), and the
 * overlay's routes to the other nodes' pod CIDRs. Per pod: a namespace with `eth0`
 * (pod IP, MTU, default route via the bridge address) joined by a veth pair whose host
 * end is a port of the node's bridge. Nodes' `eth0`s meet on one emulated L2 switch,
 * the underlay (trace hop `underlay`).
 *
 * Names (names.ts): a pod's namespace is registered as `<node>/pod/<key>`, apart from the
 * node's own elements, so any valid pod name works (`root`, `cbr0`, `veth0`, `web.v1`).
 * `addPod` is all or nothing: a failure at any step undoes the steps before it.
 */
import { Engine, type EngineOptions } from '../engine/engine.js';
import { connect, type Element } from '../engine/element.js';
import { Bridge } from '../net/bridge.js';
import { Veth } from '../net/veth.js';
import { Flowtable, type FlowtableOptions } from '../net/flowtable.js';
import { NetNamespace } from '../net/netns.js';
import { NeighborLimit } from '../net/neighbor-limit.js';
import type { CapturePoint } from '../engine/link.js';
import { Impairments } from './impairments.js';
import type { VxlanTransportFactory } from '../net/vxlan-tunnel.js';
import type { DnsUpstream } from '../apps/dns-server.js';
import type { Route } from '../net/route-table.js';
import { formatIpv4, macFromIpv4, tryParseIpv4Port } from '../wire/addr.js';
import type { ClusterPlan, NodePlan, PodPlan, ServicePlan, Topology } from './types.js';
import { Ipam } from './ipam.js';
import { planCluster, podPlan } from './plan.js';
import { startPodApps, type DnsAppFactory, type PodApps } from './pod-apps.js';
import { installOverlay, type Overlay } from './overlay.js';
import { ServiceController, type ServiceInput } from './services.js';
import { NetpolController } from './netpol/controller.js';
import { NetpolFilter } from './netpol/filter.js';
import { canonicalPodKey, podDisplayName, podElementKey, podKey, UNDERLAY } from './names.js';

export { podKey, UNDERLAY } from './names.js';

export interface NodeRuntime {
  readonly plan: NodePlan;
  readonly root: NetNamespace;
  readonly bridge: Bridge;
  overlay: Overlay | null;
  /** The node kernel's ARP table count, shared by its root namespace and its pods' (gc_thresh2/3). */
  readonly neigh: NeighborLimit;
}

export interface PodRuntime {
  readonly plan: PodPlan;
  readonly ns: NetNamespace;
  readonly veth: Veth;
  apps: PodApps;
}

/**
 * A pod whose network namespace is real (a process or container joined through a TAP,
 * src/io/attach.ts): the builder does not emulate it. `port` stands where the veth host
 * end would (bridge port `plan.veth` of its node); the attach layer owns and closes it.
 */
export interface AttachedPodRuntime {
  readonly plan: PodPlan;
  readonly port: Element;
  /** Closes the device (idempotent); called by `Cluster.close()`. */
  close(): void;
}

export interface ClusterOptions {
  engine?: EngineOptions;
  /**
   * Emulate only this node; every other node is a peer reached over VXLAN at its
   * `vtep.bind` address (multi-host: one topology file, one podwire per host).
   */
  hostNode?: string;
  /** Opens the UDP sockets of nodes with `vtep.bind` (src/io/vxlan-socket.ts `openVxlanSocket`). */
  vxlanTransport?: VxlanTransportFactory;
  /**
   * Opens the cluster DNS's upstream (`cluster.dns.upstream`, src/io/dns-upstream.ts
   * `openDnsUpstream`); `wake` runs the scheduler after an answer came back. Without it,
   * names outside the zone are SERVFAIL even when an upstream is configured.
   */
  dnsUpstream?: (addr: { host: string; port: number }, wake: () => void) => DnsUpstream & { close(): void };
  /**
   * The same-node flowtable fast path (src/net/flowtable.ts, docs/flowtable.md): true or
   * options turn it on, false off; absent: the topology's `cluster.flowtable` (default off).
   */
  flowtable?: boolean | FlowtableOptions;
}

export class Cluster {
  readonly engine: Engine;
  readonly plan: ClusterPlan;
  readonly ipam: Ipam;
  readonly nodes = new Map<string, NodeRuntime>();
  readonly pods = new Map<string, PodRuntime>();
  /** Pods with `attach:` that are joined to a real namespace (`attachPod` in src/io/attach.ts), by pod key. */
  readonly attached = new Map<string, AttachedPodRuntime>();
  readonly underlay: Bridge;
  /** Starts the cluster DNS server in a kube-dns pod (installed by the service layer). */
  dnsApp: DnsAppFactory | null = null;
  /** Services: endpoints, kube-proxy on every node (NAT hooks + conntrack), cluster DNS records. */
  readonly services: ServiceController;
  /** The overlay's frozen routes, shared by every node (overlay.ts `sharedRoutes`), by mode and device. */
  readonly overlayRoutes = new Map<string, readonly Route[]>();
  /** Socket factory for `vtep.bind` nodes, or null (then such nodes are an error). */
  readonly vxlanTransport: VxlanTransportFactory | null;
  private readonly dnsUpstreamFactory: NonNullable<ClusterOptions['dnsUpstream']> | null;
  private dnsUpstreamOpen: (DnsUpstream & { close(): void }) | null = null;
  /** Impaired links (netem on interface directions): src/kube/impairments.ts. */
  readonly impairments: Impairments = new Impairments(this);
  /** Every node of the topology, emulated or not (names a pod's display name must not read as). */
  private readonly nodeNames: Set<string>;
  /** NetworkPolicies and namespace labels; enforced by a filter on every emulated node (docs/networkpolicy.md). */
  readonly netpol: NetpolController;
  /** The same-node fast path, or null when off (ClusterOptions.flowtable, `cluster.flowtable`). */
  readonly flowtable: Flowtable | null;

  constructor(readonly topology: Topology, opts: ClusterOptions = {}) {
    this.engine = new Engine({ seed: topology.cluster.seed, ...opts.engine });
    const ft = opts.flowtable ?? topology.cluster.flowtable ?? false;
    this.flowtable = ft === false ? null : new Flowtable(this.engine, ft === true ? {} : ft);
    this.ipam = new Ipam(topology.cluster);
    this.plan = planCluster(topology, this.ipam);
    this.nodeNames = new Set(this.plan.nodes.map((n) => n.name));
    this.services = new ServiceController(this);
    this.dnsApp = this.services.dnsApp;
    const e = this.engine;
    this.underlay = e.add(new Bridge(e, UNDERLAY, {
      where: { node: UNDERLAY, netns: UNDERLAY, device: 'switch' }, mac: macFromIpv4(this.plan.nodeCIDR.addr, 0x02fe),
      hopAction: 'underlay',
    }));
    this.vxlanTransport = opts.vxlanTransport ?? null;
    this.dnsUpstreamFactory = opts.dnsUpstream ?? null;
    const host = opts.hostNode;
    if (host !== undefined) {
      const hn = this.plan.nodes.find((n) => n.name === host);
      if (hn === undefined || hn.external) {
        throw new Error(`hostNode ${JSON.stringify(host)} is not an emulated node of the topology (have ${this.plan.nodes.filter((n) => !n.external).map((n) => n.name).join(', ')})`);
      }
    }
    for (const n of this.plan.nodes) if (!n.external && (host === undefined || n.name === host)) this.buildNode(n);
    for (const n of this.nodes.values()) n.overlay = installOverlay(this, n);
    // Pods with `attach:` are real: src/io/attach.ts `attachTopologyPods` wires them in later.
    for (const p of this.plan.pods) if (p.attach === undefined) this.buildPod(p);
    this.services.install();
    this.netpol = new NetpolController({
      pods: () => this.plan.pods.map((p) => ({
        name: p.name, namespace: p.namespace, labels: p.labels, ip: formatIpv4(p.ip), node: p.node, ...(p.ports !== undefined ? { ports: p.ports } : {}),
      })),
      // Every address a node's own traffic comes from: eth0, the bridge (the pods' gateway), flannel.1 (.0 of its podCIDR).
      nodes: () => this.plan.nodes.map((n) => ({ name: n.name, ips: [n.ip, n.bridgeIp, n.podCIDR.addr].map(formatIpv4) })),
    }, topology.networkPolicies ?? [], topology.namespaces ?? []);
    if (this.flowtable !== null) this.netpol.onRecompile = this.flowtable.invalidate.bind(this.flowtable);
    for (const [name, hooks] of this.services.hooks) {
      hooks.netpol = this.engine.addCounted(new NetpolFilter(this.engine, name, this.netpol, this.services.conntrack.get(name)!));
    }
    this.impairments.applyTopology();
  }

  private buildNode(n: NodePlan): void {
    const e = this.engine;
    const c = this.plan.cluster;
    const root = e.add(new NetNamespace(e, { node: n.name, name: 'root', forwarding: true }), `${n.name}/root`);
    const neigh = new NeighborLimit(c.neighbor?.gcThresh2 ?? 512, c.neighbor?.gcThresh3 ?? 1024);
    root.neighbors.share(neigh);
    const bridge = e.add(new Bridge(e, `${n.name}/${n.bridge}`, { where: { node: n.name, netns: 'root', device: n.bridge }, mac: n.bridgeMac }));
    bridge.flowtable = this.flowtable;
    // The bridge device: an interface of the root namespace whose frames go to the bridge's local port.
    root.addInterface(n.bridge, 'bridge', n.bridgeMac, this.plan.podMtu);
    root.addAddress(n.bridge, n.bridgeIp, n.podCIDR.prefix);
    bridge.addPort(n.bridge);
    bridge.setLocalPort(n.bridge);
    connect(e, root.ports.out(`if:${n.bridge}`), bridge.ports.in(n.bridge));
    connect(e, bridge.ports.out(n.bridge), root.ports.in(`if:${n.bridge}`));
    // eth0 on the underlay switch.
    root.addInterface('eth0', 'ether', n.mac, c.mtu);
    root.addAddress('eth0', n.ip, this.plan.nodeCIDR.prefix);
    this.underlay.addPort(n.name);
    connect(e, root.ports.out('if:eth0'), this.underlay.ports.in(n.name));
    connect(e, this.underlay.ports.out(n.name), root.ports.in('if:eth0'));
    this.nodes.set(n.name, { plan: n, root, bridge, overlay: null, neigh });
  }

  /** Builds and wires a pod; on any failure everything it made is undone before the error is thrown. */
  private buildPod(p: PodPlan): PodRuntime | null {
    const node = this.nodes.get(p.node);
    if (node === undefined) return null; // on an external node: not emulated here
    const e = this.engine;
    const key = podKey(p);
    if (this.pods.has(key)) throw new Error(`pod "${key}" exists`);
    const ns = new NetNamespace(e, { node: p.node, name: this.podDisplayName(key) });
    ns.neighbors.share(node.neigh); // one ARP table per kernel: the pod's entries count on its node
    const eth0 = ns.addInterface('eth0', 'veth', p.mac, p.mtu);
    ns.addAddress('eth0', p.ip, p.prefixLength);
    ns.addRoute({ dst: 0, prefix: 0, via: p.gateway, dev: 'eth0' });
    const veth = new Veth(e, `${p.node}/${p.veth}`, {
      a: { where: eth0.where, ifindex: eth0.ifindex, mac: p.mac, mtu: p.mtu },
      b: { where: { node: p.node, netns: 'root', device: p.veth }, ifindex: 0, mac: p.vethMac, mtu: p.mtu },
    });
    veth.flowtable = this.flowtable;
    const rt: PodRuntime = { plan: p, ns, veth, apps: { running: [], stop: () => undefined } };
    let ported = false;
    try {
      e.add(ns, podElementKey(p.node, key));
      e.add(veth);
      connect(e, ns.ports.out('if:eth0'), veth.ports.in('a'));
      connect(e, veth.ports.out('a'), ns.ports.in('if:eth0'));
      // kubelet's hairpinMode hairpin-veth: a pod may reach itself through a service.
      node.bridge.addPort(p.veth, { hairpin: this.plan.cluster.hairpinMode });
      ported = true;
      connect(e, veth.ports.out('b'), node.bridge.ports.in(p.veth));
      connect(e, node.bridge.ports.out(p.veth), veth.ports.in('b'));
      rt.apps = startPodApps(ns, p, this);
    } catch (err) {
      this.unwirePod(rt, node, ported);
      throw err;
    }
    this.pods.set(key, rt);
    return rt;
  }

  /** Undoes what `buildPod` did (any part of it): apps, the bridge port (when it added it), links, registrations. */
  private unwirePod(rt: PodRuntime, node: NodeRuntime, bridgePort: boolean): void {
    rt.apps.stop();
    rt.ns.neighbors.unshare();
    if (bridgePort) node.bridge.removePort(rt.plan.veth);
    for (const el of [rt.veth, rt.ns]) {
      for (const inp of el.ports.inputs) if (inp !== null) el.ports.removeIn(inp.name);
      for (const out of [...el.ports.outputs.keys()]) el.ports.removeOut(out);
    }
    this.engine.remove(rt.veth);
    this.engine.remove(rt.ns, podElementKey(rt.plan.node, podKey(rt.plan)));
  }

  /** How pod `key` is named in hops, capture points and stats (names.ts `podDisplayName`). */
  podDisplayName(key: string): string {
    return podDisplayName(key, this.nodeNames);
  }

  /** True once kube-proxy's service translation is installed on the nodes (services issue). */
  get supportsServices(): boolean {
    return this.services.proxies.size > 0;
  }

  /** Stops apps and overlays (closing any real sockets); the cluster is unusable afterwards. */
  /** The upstream of `cluster.dns.upstream`, opened once on first use; null when none is configured or can be opened. */
  dnsUpstream(): DnsUpstream | null {
    const spec = this.plan.cluster.dns?.upstream;
    if (spec === undefined || this.dnsUpstreamFactory === null) return null;
    if (this.dnsUpstreamOpen === null) {
      const a = tryParseIpv4Port(spec);
      if (a === null) return null;
      this.dnsUpstreamOpen = this.dnsUpstreamFactory({ host: a.host, port: a.port }, () => this.engine.scheduler.kick());
    }
    return this.dnsUpstreamOpen;
  }

  close(): void {
    this.dnsUpstreamOpen?.close();
    this.dnsUpstreamOpen = null;
    this.services.stop();
    for (const p of this.pods.values()) p.apps.stop();
    for (const a of this.attached.values()) a.close();
    for (const n of this.nodes.values()) n.overlay?.stop();
    this.engine.scheduler.stopRealtime();
  }

  /** Resolves once every real socket (nodes with `vtep.bind`) is bound; rejects with a bind error. */
  async ready(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.overlay?.ready));
  }

  /** A pod by key (`pod1`, `web.v1`) or display name (`root.default`). */
  pod(name: string): PodRuntime {
    const p = this.pods.get(canonicalPodKey(name));
    if (p === undefined) throw new Error(`no pod "${name}" (have ${[...this.pods.keys()].join(', ')})`);
    return p;
  }

  node(name: string): NodeRuntime {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no emulated node "${name}" (have ${[...this.nodes.keys()].join(', ')})`);
    return n;
  }

  /** The pod (or node root namespace) that owns an IPv4 address, if any. */
  ownerOf(ip: number): NetNamespace | null {
    for (const p of this.pods.values()) if (p.plan.ip === ip) return p.ns;
    for (const n of this.nodes.values()) if (n.root.isLocal(ip)) return n.root;
    return null;
  }

  /** Adds a pod while running: allocates its address (unless given) and wires it in. All or nothing. */
  addPod(spec: {
    name: string; namespace?: string; node: string; ip?: number; labels?: Record<string, string>; apps?: PodPlan['apps']; ready?: boolean; terminating?: boolean;
    /** Container ports: what a service's named targetPort resolves to on this pod (endpoint-ports.ts), and NetworkPolicy's named ports. */
    ports?: PodPlan['ports'];
  }): PodRuntime {
    const node = this.nodes.get(spec.node);
    if (node === undefined) throw new Error(`pod "${spec.name}": node "${spec.node}" is not an emulated node`);
    const namespace = spec.namespace ?? 'default';
    const key = podKey({ name: spec.name, namespace });
    if (this.pods.has(key) || this.plan.pods.some((p) => podKey(p) === key)) throw new Error(`pod "${key}" exists`);
    const ip = this.ipam.allocatePodIp(spec.node, spec.ip);
    let veth: string | null = null;
    let plan: PodPlan | null = null;
    try {
      veth = this.ipam.allocateVeth(spec.node);
      plan = podPlan({
        name: spec.name, namespace, node: spec.node, labels: spec.labels ?? {}, apps: spec.apps ?? [],
        ...(spec.ports !== undefined && spec.ports.length > 0 ? { ports: spec.ports } : {}),
        ...(spec.ready === false ? { ready: false } : {}), ...(spec.terminating === true ? { terminating: true } : {}),
      }, node.plan, ip, veth, this.plan.podMtu, false);
      this.plan.pods.push(plan);
      const rt = this.buildPod(plan)!;
      this.services.sync();
      this.netpol.podsChanged();
      return rt;
    } catch (err) {
      // Leave nothing behind: the pod, its plan entry, its DNS record, its address and veth name.
      const rt = this.pods.get(key);
      if (rt !== undefined && rt.plan === plan) {
        this.unwirePod(rt, node, true);
        this.pods.delete(key);
      }
      const i = plan === null ? -1 : this.plan.pods.indexOf(plan);
      if (i >= 0) this.plan.pods.splice(i, 1);
      this.ipam.releasePodIp(spec.node, ip);
      if (veth !== null) this.ipam.releaseVeth(spec.node, veth);
      if (plan !== null) {
        try { this.services.podRemoved(plan.name, plan.namespace); } catch { /* the first error is the one to report */ }
      }
      throw err;
    }
  }

  /** Removes a pod while running (by key or display name): stops its apps, unwires and frees its devices and address. */
  removePod(name: string): void {
    const rt = this.pod(name);
    const node = this.node(rt.plan.node);
    this.unwirePod(rt, node, true);
    this.ipam.releasePodIp(rt.plan.node, rt.plan.ip);
    this.ipam.releaseVeth(rt.plan.node, rt.plan.veth);
    this.pods.delete(podKey(rt.plan));
    const i = this.plan.pods.indexOf(rt.plan);
    if (i >= 0) this.plan.pods.splice(i, 1);
    this.services.podRemoved(rt.plan.name, rt.plan.namespace);
    this.netpol.podsChanged();
  }

  /**
   * Sets a pod's Ready condition and/or marks it terminating (deletionTimestamp set): its
   * endpoints' conditions change and every node's kube-proxy resyncs (endpoint-conditions.ts).
   */
  setPodConditions(name: string, conditions: { ready?: boolean; terminating?: boolean }): void {
    const plan = this.pod(name).plan;
    if (conditions.ready !== undefined) {
      if (conditions.ready) delete plan.ready;
      else plan.ready = false;
    }
    if (conditions.terminating !== undefined) {
      if (conditions.terminating) plan.terminating = true;
      else delete plan.terminating;
    }
    this.services.sync();
  }

  /**
   * Changes a pod's labels while running (`kubectl label`, a merge patch of
   * `metadata.labels`: a key set to null is removed, any other is set). What selects on labels
   * follows at once, as the endpoints controller and a CNI's agent react to the pod update:
   * every Service's endpoints (and so kube-proxy's rules on every node) and every
   * NetworkPolicy's selected pods and peers. Connections already tracked keep going: kube-proxy
   * leaves a TCP entry to an endpoint that went away (UDP ones are flushed with
   * `cluster.flushStaleUdp`), and the policy filter checks only NEW connections
   * (docs/networkpolicy.md). The pod is found by key or display name among the pods of the
   * plan, emulated or attached. Returns the labels now.
   */
  setPodLabels(name: string, patch: Readonly<Record<string, string | null>>): Record<string, string> {
    const key = canonicalPodKey(name);
    const plan = this.plan.pods.find((p) => podKey(p) === key);
    if (plan === undefined) throw new Error(`no pod "${name}" (have ${this.plan.pods.map(podKey).join(', ')})`);
    const labels = { ...plan.labels };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete labels[k];
      else labels[k] = v;
    }
    plan.labels = labels;
    this.services.sync();
    this.netpol.podsChanged();
    return { ...labels };
  }

  /** Adds a service while running (cluster IP from the IPAM unless given); endpoints, rules and DNS follow. */
  addService(spec: ServiceInput): ServicePlan {
    return this.services.addService(spec);
  }

  /** Removes a service while running: rules, DNS name, cluster IP and NodePorts go. */
  removeService(name: string, namespace = 'default'): void {
    this.services.removeService(name, namespace);
  }

  /** Every interface that can be captured, named `node1/eth0`, `node1/cbr0`, `node1/veth0`, `node1/lo`, `pod1/eth0`, `pod1/lo`. */
  capturePoints(): CapturePoint[] {
    const out: CapturePoint[] = [];
    for (const n of this.nodes.values()) {
      for (const nif of n.root.interfaces()) {
        // lo's one ring is both directions: tapped once, as tcpdump -i lo shows each packet once.
        const tx = nif === n.root.lo ? null : nif.outPort?.link ?? null;
        out.push({ name: `${n.plan.name}/${nif.name}`, description: `${nif.kind} in ${n.plan.name}'s root namespace`, rx: nif.inPort?.link ?? null, tx });
      }
      for (const p of this.pods.values()) {
        if (p.plan.node !== n.plan.name) continue;
        out.push({
          name: `${n.plan.name}/${p.plan.veth}`, description: `host end of ${p.ns.name}'s veth pair`,
          rx: p.veth.ports.out('b').link, tx: p.veth.ports.in('b').link,
        });
      }
      for (const a of this.attached.values()) {
        if (a.plan.node !== n.plan.name || !n.bridge.ports.outputs.has(a.plan.veth)) continue;
        const shown = this.podDisplayName(podKey(a.plan));
        out.push({
          name: `${n.plan.name}/${a.plan.veth}`, description: `host end of attached pod ${shown} (TAP)`,
          rx: n.bridge.ports.in(a.plan.veth).link, tx: n.bridge.ports.out(a.plan.veth).link,
        });
        out.push({
          name: `${shown}/eth0`, description: `eth0 of attached pod ${shown} on ${a.plan.node} (TAP)`,
          rx: n.bridge.ports.out(a.plan.veth).link, tx: n.bridge.ports.in(a.plan.veth).link,
        });
      }
    }
    for (const p of this.pods.values()) {
      const nif = p.ns.iface('eth0')!;
      out.push({ name: `${p.ns.name}/eth0`, description: `eth0 of pod ${p.ns.name} on ${p.plan.node}`, rx: nif.inPort?.link ?? null, tx: nif.outPort?.link ?? null });
      out.push({ name: `${p.ns.name}/lo`, description: `loopback of pod ${p.ns.name} (packets to itself)`, rx: p.ns.lo.inPort?.link ?? null, tx: null });
    }
    return this.impairments.adjust(out);
  }
}

