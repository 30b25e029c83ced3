/**
 * Controller: the one façade the CLI and the REST API both call for a running cluster
 * (Click's read/write handlers, as one object). Reads answer from the cluster as it is;
 * every mutation (pods, services, conntrack deletes, captures, attach, traces) runs under
 * one FIFO lock, so an asynchronous step (attach waits for `ip` commands) never lets
 * another request see or build on a half-applied change. The engine itself is
 * single-threaded: a synchronous mutation is atomic by construction.
 *
 * Errors are ControlErrors (status 400/404/409/501/503, the JSON pointer of the bad field
 * and its value); errors from the layers below are mapped here and in the modules this
 * class composes, one per noun: nodes.ts, pods.ts, services.ts, netpol.ts (NetworkPolicies
 * and namespace labels), conntrack.ts, traces.ts, attach.ts; captures.ts, flows.ts and
 * netem.ts are objects of their own. The lock and the lifecycle (close) stay here.
 */
import { detachPod } from '../io/attach.js';
import type { Cluster } from '../kube/cluster.js';
import type { NetpolNamespace, NetworkPolicy } from '../kube/netpol/types.js';
import type { ConntrackEntryView } from '../netfilter/conntrack-dump.js';
import { attach, attachedTarget, cleanup, detach, type AttachBody } from './attach.js';
import { CaptureManager } from './captures.js';
import { conntrackEntries, conntrackText, deleteConntrack, type ConntrackQuery } from './conntrack.js';
import { dnsLookup } from './dns-lookup.js';
import { ControlError, Mutex } from './errors.js';
import { FlowLog } from './flows.js';
import { inspectChecked, type InspectView } from './inspect.js';
import { NetemControl } from './netem.js';
import { applyNetworkPolicies, deleteNetworkPolicy, networkPolicies, setNamespaceLabels } from './netpol.js';
import { nodeRulesText, nodeTable, type NodeTable } from './nodes.js';
import { addPod, patchPod, removePod, type PodBody, type PodPatchBody } from './pods.js';
import type { RulesQuery } from './rules.js';
import { addService, removeService, serviceEndpoints, type ServiceBody } from './services.js';
import { trace, type TraceAnswer, type TraceBody } from './traces.js';
import { statsView, topologyView, type PodView, type ServiceView } from './views.js';

export type { AttachBody } from './attach.js';
export type { ConntrackQuery } from './conntrack.js';
export type { PodBody, PodPatchBody } from './pods.js';
export type { ServiceBody } from './services.js';
export type { TraceAnswer, TraceBody } from './traces.js';

export interface ControllerOptions {
  /** Folder for capture files (default `captures`). */
  capturesDir?: string;
}

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
    return topologyView(this.cluster, (k) => attachedTarget(this.cluster, k));
  }

  /** Everything allocated, per node (src/control/inspect.ts; `GET /inspect`, `podwire inspect`). */
  inspect(node?: string): InspectView {
    return inspectChecked(this.cluster, node ?? null);
  }

  nodeTable(name: string, table: NodeTable): Record<string, unknown> {
    return nodeTable(this.cluster, name, table);
  }

  /** A name looked up from a pod as its resolver would, in dig's format (src/control/dns-lookup.ts). */
  dns(q: { from: string; name: string; type?: string }): string {
    return dnsLookup(this.cluster, q);
  }

  /** kube-proxy's rules on a node, as iptables-save or ipvsadm print them (src/control/rules.ts). */
  rules(name: string, q: Omit<RulesQuery, 'node'>): string {
    return nodeRulesText(this.cluster, name, q);
  }

  endpoints(name: string, namespace?: string): Record<string, unknown> {
    return serviceEndpoints(this.cluster, name, namespace);
  }

  conntrack(q: ConntrackQuery): { entries: (ConntrackEntryView & { node: string })[]; count: number } {
    return conntrackEntries(this.cluster, q);
  }

  /** `conntrack -L` text, one `# node` header line per node, then its entries; the summary line last. */
  conntrackText(q: ConntrackQuery): { text: string; count: number; summary: string } {
    return conntrackText(this.cluster, q);
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

  /** GET /networkpolicies: the policies in creation order, and every namespace with its labels. */
  networkPolicies(): { items: NetworkPolicy[]; namespaces: NetpolNamespace[] } {
    return networkPolicies(this.cluster);
  }

  // ---- mutations ----------------------------------------------------------------------

  addPod(body: PodBody): Promise<PodView> {
    return this.mutate(() => addPod(this.cluster, body, this.serializer));
  }

  removePod(ref: string): Promise<{ removed: string; detached: boolean }> {
    return this.mutate(() => removePod(this.cluster, ref));
  }

  /** PATCH /pods/:name: a merge patch of the pod's labels (src/control/pods.ts). */
  patchPod(ref: string, body: PodPatchBody): Promise<PodView> {
    return this.mutate(() => patchPod(this.cluster, ref, body));
  }

  addService(body: ServiceBody): Promise<ServiceView> {
    return this.mutate(() => addService(this.cluster, body));
  }

  removeService(name: string, namespace?: string): Promise<{ removed: string }> {
    return this.mutate(() => removeService(this.cluster, name, namespace));
  }

  /** POST /networkpolicies: one NetworkPolicy or `{ items }`, created or replaced, all or nothing (src/control/netpol.ts). */
  applyNetworkPolicies(body: unknown): Promise<{ created: string[]; updated: string[] }> {
    return this.mutate(() => applyNetworkPolicies(this.cluster, body));
  }

  /** PUT /namespaces/:name: a namespace's labels (NetworkPolicy namespaceSelectors see them at once); the automatic `kubernetes.io/metadata.name` stays. */
  setNamespaceLabels(name: string, labels: Record<string, string>): Promise<NetpolNamespace> {
    return this.mutate(() => setNamespaceLabels(this.cluster, name, labels));
  }

  /** DELETE /networkpolicies/:namespace/:name. */
  deleteNetworkPolicy(namespace: string, name: string): Promise<{ removed: string }> {
    return this.mutate(() => deleteNetworkPolicy(this.cluster, namespace, name));
  }

  deleteConntrack(q: ConntrackQuery): Promise<{ deleted: number; perNode: Record<string, number> }> {
    return this.mutate(() => deleteConntrack(this.cluster, q));
  }

  trace(body: TraceBody): Promise<TraceAnswer> {
    return this.mutate(() => trace(this.cluster, body));
  }

  attach(body: AttachBody): Promise<PodView> {
    return this.mutate(() => attach(this.cluster, body, this.serializer));
  }

  detach(ref: string): Promise<{ detached: string }> {
    return this.mutate(() => detach(this.cluster, ref));
  }

  /** `podwire cleanup`: removes TAP devices a podwire left behind (idempotent). */
  static cleanup(): Promise<{ removed: { netns: string; name: string }[]; failed: { netns: string; name: string; error: string }[] }> {
    return cleanup();
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
}
