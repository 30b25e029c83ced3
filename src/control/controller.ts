/**
 * Controller: the one façade the CLI and the REST API both call for a running cluster
 * (Click's read/write handlers, as one object). Reads answer from the cluster as it is;
 * every mutation (pods, services, conntrack deletes, captures, attach, traces) runs under
 * one FIFO lock, so an asynchronous step (attach waits for `ip` commands) never lets
 * another request see or build on a half-applied change. The engine itself is
 * single-threaded: a synchronous mutation is atomic by construction.
 *
 * Errors are ControlErrors (status 400/404/409/501/503, the JSON pointer of the bad field
 * and its value); errors from the layers below are mapped here, nowhere else.
 */
import { attachPod, cleanupLeftovers, detachPod, type AttachedPod } from '../io/attach.js';
import type { Cluster, NodeRuntime } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { canonicalPodKey, parsePodRef, reservedServiceName } from '../kube/names.js';
import { DEFAULT_APP_PORTS } from '../kube/plan.js';
import { NO_PORT } from '../kube/endpoint-ports.js';
import { endpointPortsOf } from '../kube/slice-endpoints.js';
import { runTrace, runTraces, type TraceFlow, type TraceOptions, type TraceProto, type TraceSpread, type Journey, type LoopAbort } from '../kube/trace.js';
import type { AppType, AttachMode, AttachSpec, IpvsScheduler, PodPlan, Protocol, ServicePlan, ServiceType } from '../kube/types.js';
import { conntrackSummary } from '../netfilter/conntrack-dump.js';
import type { ConntrackFilter, ConntrackTable } from '../netfilter/conntrack.js';
import type { ConntrackEntryView } from '../netfilter/conntrack-dump.js';
import { parseIpv4 } from '../wire/addr.js';
import type { NetpolNamespace, NetworkPolicy } from '../kube/netpol/types.js';
import { CaptureManager } from './captures.js';
import { NetemControl } from './netem.js';
import { badRequest, conflict, ControlError, Mutex, notAvailable, notFound, toControlError } from './errors.js';
import { attachError, attachTarget, conntrackFilter } from './inputs.js';
import { FlowLog } from './flows.js';
import { inspectChecked, type InspectView } from './inspect.js';
import { nodeRules, type RulesQuery } from './rules.js';
import { dnsLookup } from './dns-lookup.js';
import { fdbView, interfacesView, neighborsView, podView, routesView, serviceView, statsView, topologyView, type PodView, type ServiceView } from './views.js';

export interface PodBody {
  name: string;
  node: string;
  namespace?: string;
  ip?: string;
  labels?: Record<string, string>;
  apps?: { type: AppType; port?: number }[];
  attach?: { netns?: string; pid?: number; container?: string; runtime?: 'docker' | 'podman'; mode?: AttachMode };
  ready?: boolean;
  terminating?: boolean;
  /** Container ports (`name`, `containerPort`, `protocol`): what named targetPorts and NetworkPolicy ports resolve to. */
  ports?: PodPlan['ports'];
}

/** PATCH /pods/:name: a merge patch of `metadata.labels` (RFC 7386: null removes the key). */
export interface PodPatchBody {
  labels: Record<string, string | null>;
}

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

export interface AttachBody {
  pod: string;
  netns?: string;
  pid?: number;
  /** A Docker or Podman container (name or id): its PID is asked of the engine, and again when it restarts. */
  container?: string;
  runtime?: 'docker' | 'podman';
  /** tap (default), second (eth1 beside the container's own network) or veth (take over its eth0's veth host end). */
  mode?: AttachMode;
  /** For a pod that is not in the topology: it is added on this node. */
  node?: string;
  namespace?: string;
  ip?: string;
  labels?: Record<string, string>;
  /** TAP offload mode (IFF_VNET_HDR, GSO pass-through); default: the topology's attach.offloads, else off. */
  offloads?: boolean;
}

export interface TraceBody {
  from: string;
  to: string;
  /** icmp, udp or tcp in any case. */
  proto?: TraceProto | (string & {});
  port?: number;
  size?: number;
  count?: number;
}

export interface TraceAnswer {
  request: Journey;
  reply: Journey | null;
  reset: Journey | null;
  replyKind?: 'reply' | 'icmp-error';
  loopAbort?: LoopAbort;
  /** With `count`: */
  count?: number;
  spread?: TraceSpread[];
  flows?: TraceFlow[];
}

/** Conntrack filters as they come from a query string or CLI flags (strings or numbers). */
export interface ConntrackQuery {
  proto?: string | number;
  src?: string;
  dst?: string;
  sport?: string | number;
  dport?: string | number;
  node?: string;
}

export interface ControllerOptions {
  /** Folder for capture files (default `captures`). */
  capturesDir?: string;
}

const APP_PROTOCOLS: Readonly<Record<AppType, readonly string[]>> = { http: ['TCP'], 'tcp-echo': ['TCP'], 'udp-echo': ['UDP'], sctp: ['SCTP'], dns: ['UDP', 'TCP'] };

export class Controller {
  readonly captures: CaptureManager;
  /** The flow log (`GET /flows`): every conntrack decision and counted drop, the last 4096 kept. */
  readonly flows: FlowLog;
  /** Link impairment (netem): src/control/netem.ts. */
  readonly netem: NetemControl;
  readonly startedAt = new Date();
  private readonly lock = new Mutex();
  private closing = false;

  constructor(readonly cluster: Cluster, opts: ControllerOptions = {}) {
    this.captures = new CaptureManager(cluster, opts.capturesDir ?? 'captures', this.startedAt);
    this.flows = new FlowLog(cluster).attach();
    this.netem = new NetemControl(() => this.cluster, (fn) => this.mutate(fn));
  }

  // ---- reads --------------------------------------------------------------------------

  topology(): Record<string, unknown> {
    return topologyView(this.cluster, (k) => this.attachedTarget(k));
  }

  /** Everything allocated, per node (src/control/inspect.ts; `GET /inspect`, `podwire inspect`). */
  inspect(node?: string): InspectView {
    return inspectChecked(this.cluster, node ?? null);
  }

  nodeTable(name: string, table: 'fdb' | 'routes' | 'neighbors' | 'interfaces'): Record<string, unknown> {
    const c = this.cluster;
    const n = c.nodes.get(name);
    if (n === undefined) {
      if (c.plan.nodes.some((p) => p.name === name)) throw conflict('/name', name, 'is not emulated by this podwire instance (an external node or another host\'s)');
      throw notFound('/name', name, 'node', c.plan.nodes.map((p) => p.name));
    }
    switch (table) {
      case 'fdb': return fdbView(c, n);
      case 'routes': return routesView(n);
      case 'neighbors': return neighborsView(c, n);
      case 'interfaces': return interfacesView(c, n);
    }
  }

  /** A name looked up from a pod as its resolver would, in dig's format (src/control/dns-lookup.ts). */
  dns(q: { from: string; name: string; type?: string }): string {
    return dnsLookup(this.cluster, q);
  }

  /** kube-proxy's rules on a node, as iptables-save or ipvsadm print them (src/control/rules.ts). */
  rules(name: string, q: Omit<RulesQuery, 'node'>): string {
    const c = this.cluster;
    if (!c.nodes.has(name) && c.plan.nodes.some((p) => p.name === name)) {
      throw conflict('/name', name, 'is not emulated by this podwire instance (an external node or another host\'s)');
    }
    try {
      return nodeRules(c, { ...q, node: name });
    } catch (e) {
      if (e instanceof ControlError && e.field === '/node') throw new ControlError(e.status, e.message, '/name', e.value);
      throw e;
    }
  }

  endpoints(name: string, namespace?: string): Record<string, unknown> {
    this.needServices('service endpoints');
    const s = this.findService(name, namespace);
    const pods = new Map(this.cluster.plan.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    return {
      service: s.name, namespace: s.namespace, clusterIP: serviceView(s).clusterIP,
      ports: s.ports.map((p) => ({ ...p })),
      endpoints: s.endpoints.map((n) => {
        const p = pods.get(`${s.namespace}/${n}`);
        // Each pod's own port per service port (FindPort); a named port it lacks is no endpoint of it.
        const own = p === undefined ? [] : endpointPortsOf(s, p); // its EndpointSlices' ports, when given
        const ports = s.ports.map((sp, k) => ({ n: own[k] ?? NO_PORT, proto: sp.protocol })).filter((x) => x.n !== NO_PORT).map((x) => `${x.n}/${x.proto}`);
        return { pod: n, node: p?.node ?? null, ip: p === undefined ? null : podView(this.cluster, p, null).ip, ports };
      }),
    };
  }

  conntrack(q: ConntrackQuery): { entries: (ConntrackEntryView & { node: string })[]; count: number } {
    const { filter, tables } = this.conntrackSelect(q);
    const now = this.cluster.engine.now();
    const entries: (ConntrackEntryView & { node: string })[] = [];
    for (const [node, t] of tables) for (const e of t.entries(now, filter)) entries.push({ node, ...e });
    return { entries, count: entries.length };
  }

  /** `conntrack -L` text, one `# node` header line per node, then its entries; the summary line last. */
  conntrackText(q: ConntrackQuery): { text: string; count: number; summary: string } {
    const { filter, tables } = this.conntrackSelect(q);
    const now = this.cluster.engine.now();
    let text = '';
    let count = 0;
    for (const [node, t] of tables) {
      const body = t.dump(now, filter);
      const n = body === '' ? 0 : body.split('\n').length - 1;
      count += n;
      text += `# ${node}: ${n} flow entries\n${body}`;
    }
    return { text, count, summary: conntrackSummary(count) };
  }

  stats(): Record<string, unknown> {
    return statsView(this.cluster);
  }

  health(): Record<string, unknown> {
    const c = this.cluster;
    return {
      status: this.closing ? 'stopping' : 'ok', cluster: c.plan.cluster.name, startedAt: this.startedAt.toISOString(),
      uptimeMs: Date.now() - this.startedAt.getTime(), clock: c.engine.clock.kind,
      nodes: c.nodes.size, pods: c.pods.size, attached: [...c.attached.keys()], services: c.plan.services.length,
      captures: this.captures.runningCount, liveCaptures: this.captures.liveCount, supportsServices: c.supportsServices,
      pendingOperations: this.lock.pending,
    };
  }

  // ---- mutations ----------------------------------------------------------------------

  addPod(body: PodBody): Promise<PodView> {
    return this.mutate(async () => {
      const c = this.cluster;
      const namespace = body.namespace ?? 'default';
      const key = podKey({ name: body.name, namespace });
      const node = this.emulatedNode(body.node, '/node');
      if (c.plan.pods.some((p) => podKey(p) === key)) throw conflict('/name', body.name, `is already a pod${namespace === 'default' ? '' : ` in namespace ${namespace}`}`);
      const ip = body.ip === undefined ? undefined : parseIpv4(body.ip);
      if (ip !== undefined && c.plan.pods.some((p) => p.ip === ip)) throw conflict('/ip', body.ip, 'is already used by another pod');
      const apps = (body.apps ?? []).map((a) => ({ type: a.type, port: a.port ?? DEFAULT_APP_PORTS[a.type] }));
      const seen = new Map<string, number>();
      apps.forEach((a, i) => {
        for (const proto of APP_PROTOCOLS[a.type]) {
          if (seen.has(`${proto}/${a.port}`)) throw conflict(`/apps/${i}/port`, a.port, `is already used by apps[${seen.get(`${proto}/${a.port}`)}] (${proto})`);
          seen.set(`${proto}/${a.port}`, i);
        }
      });
      if (apps.some((a) => a.type === 'dns') && c.dnsApp === null) throw notAvailable('the dns app', 'this cluster has no DNS records (services layer)');
      const fields = { 'pod IP': '/ip', [`node ${JSON.stringify(body.node)} podCIDR`]: '/ip' };
      if (body.attach !== undefined) {
        if (apps.length > 0) throw badRequest('/apps', body.apps, 'must be empty for an attached pod: the real namespace runs its own processes');
        const target = attachTarget(body.attach, '/attach');
        await this.doAttach({ name: body.name, namespace, node: node.plan.name, ...(body.ip !== undefined ? { ip: body.ip } : {}), ...(body.labels !== undefined ? { labels: body.labels } : {}) }, target, fields);
      } else {
        try {
          c.addPod({
            name: body.name, namespace, node: body.node, ...(ip !== undefined ? { ip } : {}), labels: body.labels ?? {}, apps,
            ...(body.ready !== undefined ? { ready: body.ready } : {}), ...(body.terminating !== undefined ? { terminating: body.terminating } : {}),
            ...(body.ports !== undefined ? { ports: body.ports } : {}),
          });
        } catch (e) {
          throw toControlError(e, fields);
        }
      }
      return podView(c, c.plan.pods.find((p) => podKey(p) === key)!, this.attachedTarget(key));
    });
  }

  removePod(ref: string): Promise<{ removed: string; detached: boolean }> {
    return this.mutate(async () => {
      const c = this.cluster;
      const name = canonicalPodKey(ref);
      if (c.attached.has(name)) {
        await this.runDetach(name);
        return { removed: name, detached: true };
      }
      if (!c.pods.has(name)) {
        if (c.plan.pods.some((p) => podKey(p) === name)) throw conflict('/name', ref, 'is not emulated by this podwire instance (on an external node, or an attach: pod not attached)');
        throw notFound('/name', ref, 'pod', c.plan.pods.map(podKey));
      }
      c.removePod(name);
      return { removed: name, detached: false };
    });
  }

  /**
   * PATCH /pods/:name `{ labels: { key: value | null } }`: a merge patch of the pod's labels
   * (null removes a key). Services' endpoints and NetworkPolicies follow at once; tracked
   * connections keep going (Cluster.setPodLabels). A pod of another instance's node is a 409:
   * its labels are that instance's, and changing them here only would split the cluster.
   */
  patchPod(ref: string, body: PodPatchBody): Promise<PodView> {
    return this.mutate(() => {
      const c = this.cluster;
      const key = canonicalPodKey(ref);
      const plan = c.plan.pods.find((p) => podKey(p) === key);
      if (plan === undefined) throw notFound('/name', ref, 'pod', c.plan.pods.map(podKey));
      if (!c.nodes.has(plan.node)) throw conflict('/name', ref, `is not emulated by this podwire instance (node ${plan.node} is external)`);
      c.setPodLabels(key, body.labels);
      return podView(c, plan, this.attachedTarget(key));
    });
  }

  addService(body: ServiceBody): Promise<ServiceView> {
    return this.mutate(() => {
      this.needServices('services');
      const c = this.cluster;
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
    });
  }

  removeService(name: string, namespace?: string): Promise<{ removed: string }> {
    return this.mutate(() => {
      this.needServices('services');
      const s = this.findService(name, namespace);
      this.cluster.removeService(s.name, s.namespace);
      return { removed: `${s.namespace}/${s.name}` };
    });
  }

  /** GET /networkpolicies: the policies in creation order, and every namespace with its labels. */
  networkPolicies(): { items: NetworkPolicy[]; namespaces: NetpolNamespace[] } {
    return { items: this.cluster.netpol.list(), namespaces: this.cluster.netpol.namespaces() };
  }

  /**
   * POST /networkpolicies: one NetworkPolicy, or `{ items: [...] }`; created or replaced
   * (kubectl apply), all or nothing. A bad one is refused with its Kubernetes field path
   * (`spec.ingress[0].from[1].ipBlock.except[0]`; `field` is the same as a JSON pointer).
   */
  applyNetworkPolicies(body: unknown): Promise<{ created: string[]; updated: string[] }> {
    return this.mutate(() => {
      const multi = body !== null && typeof body === 'object' && !Array.isArray(body) && Array.isArray((body as { items?: unknown }).items);
      const list = multi ? (body as { items: unknown[] }).items : [body];
      const r = this.cluster.netpol.apply(list);
      if (r.ok) return { created: r.created, updated: r.updated };
      const pointer = (e: { index: number; path: string }): string => {
        const tail = e.path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((x) => x !== '').map((x) => `/${x}`).join('');
        return multi ? `/items/${e.index}${tail}` : tail;
      };
      const first = r.errors[0]!;
      const text = r.errors.map((e) => `${multi ? `items[${e.index}].` : ''}${e.path === '' ? '' : `${e.path}: `}${e.message}`).join('; ');
      throw new ControlError(400, `NetworkPolicy is invalid: ${text}`, pointer(first), first.value ?? null);
    });
  }

  /** PUT /namespaces/:name: a namespace's labels (NetworkPolicy namespaceSelectors see them at once); the automatic `kubernetes.io/metadata.name` stays. */
  setNamespaceLabels(name: string, labels: Record<string, string>): Promise<NetpolNamespace> {
    return this.mutate(() => {
      if (Object.hasOwn(labels, 'kubernetes.io/metadata.name') && labels['kubernetes.io/metadata.name'] !== name) {
        throw badRequest('/labels/kubernetes.io~1metadata.name', labels['kubernetes.io/metadata.name'], `must be the namespace's name ${JSON.stringify(name)}`);
      }
      this.cluster.netpol.setNamespace(name, labels);
      return this.cluster.netpol.namespaces().find((n) => n.name === name)!;
    });
  }

  /** DELETE /networkpolicies/:namespace/:name. */
  deleteNetworkPolicy(namespace: string, name: string): Promise<{ removed: string }> {
    return this.mutate(() => {
      if (!this.cluster.netpol.remove(namespace, name)) {
        throw notFound('/name', `${namespace}/${name}`, 'networkpolicy', this.cluster.netpol.list().map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`));
      }
      return { removed: `${namespace}/${name}` };
    });
  }

  deleteConntrack(q: ConntrackQuery): Promise<{ deleted: number; perNode: Record<string, number> }> {
    return this.mutate(() => {
      const { filter, tables } = this.conntrackSelect(q);
      const now = this.cluster.engine.now();
      const perNode: Record<string, number> = {};
      let deleted = 0;
      for (const [node, t] of tables) {
        perNode[node] = t.deleteWhere(filter, now);
        deleted += perNode[node];
      }
      return { deleted, perNode };
    });
  }

  trace(body: TraceBody): Promise<TraceAnswer> {
    return this.mutate(() => {
      try {
        const opts: TraceOptions = {
          from: body.from, to: body.to, ...(body.proto !== undefined ? { proto: body.proto.toLowerCase() as TraceProto } : {}),
          ...(body.port !== undefined ? { port: body.port } : {}), ...(body.size !== undefined ? { size: body.size } : {}),
        };
        if (body.count !== undefined) {
          const m = runTraces(this.cluster, opts, body.count);
          const f = m.first;
          return { request: f.request, reply: f.reply, reset: f.reset, count: m.flows.length, spread: m.spread, flows: m.flows };
        }
        const r = runTrace(this.cluster, opts);
        return {
          ...(r.resolve !== undefined ? { resolve: r.resolve } : {}),
          request: r.request, reply: r.reply, reset: r.reset, ...(r.replyKind !== undefined ? { replyKind: r.replyKind } : {}),
          ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}),
        };
      } catch (e) {
        throw toControlError(e);
      }
    });
  }

  attach(body: AttachBody): Promise<PodView> {
    return this.mutate(async () => {
      const c = this.cluster;
      const target = attachTarget(body, '');
      // `pod` is a key (`name`, `name.namespace`), or the bare name when `namespace` is given.
      const ref = body.namespace === undefined ? parsePodRef(body.pod) : { name: body.pod, namespace: body.namespace };
      const namespace = ref.namespace;
      const key = podKey(ref);
      if (c.attached.has(key)) throw conflict('/pod', body.pod, 'is already attached');
      if (c.pods.has(key)) throw conflict('/pod', body.pod, 'is an emulated pod: remove it first (DELETE /pods/NAME) or attach under a new name');
      const planned = c.plan.pods.find((p) => podKey(p) === key);
      if (planned !== undefined) {
        this.emulatedNode(planned.node, '/pod');
        const offloads = body.offloads ?? planned.attach?.offloads;
        await this.doAttach(key, target, {}, offloads);
      } else {
        if (body.node === undefined) throw notFound('/pod', body.pod, 'pod (give node to add it)', c.plan.pods.map(podKey));
        this.emulatedNode(body.node, '/node');
        const spec = { name: ref.name, namespace, node: body.node, ...(body.ip !== undefined ? { ip: body.ip } : {}), ...(body.labels !== undefined ? { labels: body.labels } : {}) };
        await this.doAttach(spec, target, { 'pod IP': '/ip', [`node ${JSON.stringify(body.node)} podCIDR`]: '/ip' }, body.offloads);
      }
      return podView(c, c.plan.pods.find((p) => podKey(p) === key)!, this.attachedTarget(key));
    });
  }

  detach(ref: string): Promise<{ detached: string }> {
    return this.mutate(async () => {
      const pod = canonicalPodKey(ref);
      if (!this.cluster.attached.has(pod)) {
        throw notFound('/pod', ref, 'attached pod', this.cluster.attached.keys());
      }
      await this.runDetach(pod);
      return { detached: pod };
    });
  }

  /** `podwire cleanup`: removes TAP devices a podwire left behind (idempotent). */
  static async cleanup(): Promise<{ removed: { netns: string; name: string }[]; failed: { netns: string; name: string; error: string }[] }> {
    try {
      return await cleanupLeftovers();
    } catch (e) {
      throw new ControlError(500, `cleanup failed: ${(e as Error).message}`);
    }
  }

  /** A container's re-join after its restart runs under the lock, like any other mutation. */
  readonly serializer = (fn: () => Promise<void>): Promise<void> => this.mutate(fn);

  /** Runs under the lock; refused (503) once closing. */
  mutate<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ControlError(503, 'podwire is shutting down'));
    return this.lock.run(async () => {
      if (this.closing) throw new ControlError(503, 'podwire is shutting down');
      try {
        return await fn();
      } finally {
        this.flows.invalidate(); // pods or services may have changed: names are looked up afresh
      }
    });
  }

  /** Stops captures and live streams (files flushed, closed), detaches attached pods, closes the cluster. */
  async close(): Promise<{ errors: string[] }> {
    const errors: string[] = [];
    await this.lock.run(async () => {
      if (this.closing) return;
      this.closing = true;
      try { this.captures.close(); } catch (e) { errors.push(`captures: ${(e as Error).message}`); }
      this.flows.close();
      for (const pod of [...this.cluster.attached.keys()]) {
        try { await detachPod(this.cluster, pod); } catch (e) { errors.push(`detach ${pod}: ${(e as Error).message}`); }
      }
      this.cluster.close();
    });
    return { errors };
  }

  get isClosing(): boolean {
    return this.closing;
  }

  // ---- helpers ------------------------------------------------------------------------

  private attachedTarget(key: string): PodView['attached'] {
    const a = this.cluster.attached.get(key) as AttachedPod | undefined;
    if (a === undefined) return null;
    return {
      ...a.target, ...(a.mode !== 'tap' ? { mode: a.mode } : {}), interface: a.ifname,
      ...(a.container !== null ? { pid: a.container.pid, id: a.container.id, rejoins: a.rejoins ?? 0 } : {}),
    };
  }

  private emulatedNode(name: string, field: string): NodeRuntime {
    const c = this.cluster;
    const n = c.nodes.get(name);
    if (n !== undefined) return n;
    if (c.plan.nodes.some((p) => p.name === name)) throw conflict(field, name, 'is not a node this podwire instance emulates');
    throw notFound(field, name, 'node', c.plan.nodes.map((p) => p.name));
  }

  private needServices(what: string): void {
    if (!this.cluster.supportsServices) throw notAvailable(what, 'this cluster has no service proxy (kube-proxy layer) installed');
  }

  private findService(name: string, namespace?: string): ServicePlan {
    const [n, ns] = namespace !== undefined ? [name, namespace] : name.includes('.') ? name.split('.', 2) as [string, string] : [name, 'default'];
    const s = this.cluster.plan.services.find((x) => x.name === n && x.namespace === ns);
    if (s === undefined) throw notFound('/name', name, 'service', this.cluster.plan.services.map((x) => (x.namespace === 'default' ? x.name : `${x.name}.${x.namespace}`)));
    return s;
  }

  private conntrackSelect(q: ConntrackQuery): { filter: ConntrackFilter; tables: [string, ConntrackTable][] } {
    this.needServices('conntrack');
    const filter = conntrackFilter(q);
    const all = [...this.cluster.services.conntrack.entries()];
    if (q.node !== undefined) {
      const t = all.filter(([n]) => n === q.node);
      if (t.length === 0) throw notFound('/node', q.node, 'node', all.map(([n]) => n));
      return { filter, tables: t };
    }
    return { filter, tables: all };
  }

  private async doAttach(pod: Parameters<typeof attachPod>[1], target: AttachSpec, fields: Readonly<Record<string, string>>, offloads?: boolean): Promise<void> {
    try {
      await attachPod(this.cluster, pod, target, { ...(offloads !== undefined ? { offloads } : {}), serialize: this.serializer });
    } catch (e) {
      throw attachError(e, fields);
    }
  }

  private async runDetach(pod: string): Promise<void> {
    try {
      await detachPod(this.cluster, pod);
    } catch (e) {
      throw attachError(e, {});
    }
  }
}
