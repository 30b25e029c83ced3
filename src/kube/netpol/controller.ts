/**
 * The cluster's NetworkPolicies at run time: the API server's store (policies and namespace
 * labels) and what a CNI's agent does with it (recompiles the per-pod verdict table,
 * evaluate.ts `NetpolModel`, whenever a policy, a namespace or a pod changes; every node's
 * filter, filter.ts, reads the current table).
 *
 * Changes are all or nothing: `apply` validates every object first (validate.ts) and
 * refuses the lot with Kubernetes' field paths when one is bad, leaving the running
 * policies untouched. Denials are counted per policy (`deniedBy`), by `ns/name`.
 */
import { compileNetpol, type NetpolModel } from './evaluate.js';
import { validateNetworkPolicy } from './validate.js';
import { NAMESPACE_NAME_LABEL, type NetpolError, type NetpolNamespace, type NetpolNode, type NetpolPod, type NetpolWorld, type NetworkPolicy } from './types.js';

/** What the controller reads from the cluster on every recompile. */
export interface NetpolWorldSource {
  pods(): NetpolPod[];
  nodes(): NetpolNode[];
}

export type NetpolApplyResult =
  | { ok: true; created: string[]; updated: string[] }
  | { ok: false; errors: (NetpolError & { index: number })[] };

const keyOf = (p: NetworkPolicy): string => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;

export class NetpolController {
  /** By `ns/name`, in creation order (an update keeps its place). */
  private readonly byKey = new Map<string, NetworkPolicy>();
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private current: NetpolModel | null = null;
  /** Denied NEW connections per policy `ns/name` (every policy that isolated the denying side). */
  readonly deniedBy = new Map<string, number>();
  /** Bumped on every recompile. */
  version = 0;
  /** Called after every recompile (the cluster's flowtable drops its entries). */
  onRecompile: (() => void) | null = null;

  constructor(private readonly source: NetpolWorldSource, policies: readonly NetworkPolicy[] = [], namespaces: readonly NetpolNamespace[] = []) {
    for (const n of namespaces) this.nsLabels.set(n.name, { ...(n.labels ?? {}) });
    for (const p of policies) this.byKey.set(keyOf(p), p);
    this.recompile();
  }

  /** The verdict table, or null while there is no policy at all (nothing is isolated: the filters pass everything). */
  get model(): NetpolModel | null {
    return this.current;
  }

  list(): NetworkPolicy[] {
    return [...this.byKey.values()].map((p) => structuredClone(p));
  }

  get(namespace: string, name: string): NetworkPolicy | undefined {
    const p = this.byKey.get(`${namespace}/${name}`);
    return p === undefined ? undefined : structuredClone(p);
  }

  /** Everything the policies are evaluated in now (for `evaluate` / `compileNetpol` outside the dataplane: probes, diffs). */
  world(): NetpolWorld {
    return { policies: this.list(), namespaces: this.namespaces(), pods: this.source.pods(), nodes: this.source.nodes() };
  }

  /** Namespaces with their labels, the automatic `kubernetes.io/metadata.name` included: declared ones, then those of pods and policies. */
  namespaces(): NetpolNamespace[] {
    const m = this.current ?? compileNetpol({ policies: [], namespaces: this.declaredNamespaces(), pods: this.source.pods() });
    return [...m.namespaces].map(([name, labels]) => ({ name, labels: { ...labels } }));
  }

  /** Creates or replaces policies (kubectl apply); all or nothing. */
  apply(inputs: readonly unknown[]): NetpolApplyResult {
    const errors: (NetpolError & { index: number })[] = [];
    const valid: NetworkPolicy[] = [];
    inputs.forEach((input, index) => {
      const v = validateNetworkPolicy(input);
      if (v.ok) valid.push(v.policy);
      else for (const e of v.errors) errors.push({ ...e, index });
    });
    const seen = new Set<string>();
    valid.forEach((p, index) => {
      if (seen.has(keyOf(p))) errors.push({ index, path: 'metadata.name', value: p.metadata.name, message: `Duplicate value: ${JSON.stringify(p.metadata.name)}: ${keyOf(p)} is given twice` });
      seen.add(keyOf(p));
    });
    if (errors.length > 0) return { ok: false, errors };
    const created: string[] = [];
    const updated: string[] = [];
    for (const p of valid) {
      const k = keyOf(p);
      (this.byKey.has(k) ? updated : created).push(k);
      this.byKey.set(k, p);
    }
    this.recompile();
    return { ok: true, created, updated };
  }

  /** Deletes one policy; false when there is none of that name. */
  remove(namespace: string, name: string): boolean {
    if (!this.byKey.delete(`${namespace}/${name}`)) return false;
    this.recompile();
    return true;
  }

  /** Sets a namespace's labels (the automatic name label cannot be changed). */
  setNamespace(name: string, labels: Record<string, string>): void {
    this.nsLabels.set(name, { ...labels });
    this.recompile();
  }

  /** Pods came, went or changed labels: the selectors are resolved again. */
  podsChanged(): void {
    this.recompile();
  }

  /** Counts a denial for each policy that isolated the denying side. */
  countDenied(m: NetpolModel, policies: readonly number[]): void {
    for (const i of policies) {
      const k = m.policyNames[i]!;
      this.deniedBy.set(k, (this.deniedBy.get(k) ?? 0) + 1);
    }
  }

  /** For /stats: how many policies, and the denials per policy. */
  stats(): { policies: number; deniedBy: Record<string, number> } {
    return { policies: this.byKey.size, deniedBy: Object.fromEntries([...this.deniedBy].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  }

  private declaredNamespaces(): NetpolNamespace[] {
    return [...this.nsLabels].map(([name, labels]) => ({ name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } }));
  }

  private recompile(): void {
    this.version++;
    this.onRecompile?.();
    this.current = this.byKey.size === 0 ? null : compileNetpol({
      policies: [...this.byKey.values()], namespaces: this.declaredNamespaces(), pods: this.source.pods(), nodes: this.source.nodes(),
    });
  }
}
