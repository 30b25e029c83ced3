/**
 * The objects as the converters see them: podwire's own document (a document without
 * apiVersion and kind: `cluster:` and `nodes:`, at most one), and every Kubernetes object
 * with its kind, name, namespace and `Kind/ns/name` label. A name defined twice is refused
 * as the API server would (a Pod with only `generateName` may repeat); `ownerReferences`
 * are collected so a workload whose pods (or ReplicaSets) are among the objects is not
 * expanded again.
 */
import type { Reporter } from './reporter.js';
import type { SourceObject } from './source.js';
import { isObj, q, str, type Obj } from './values.js';

/** One Kubernetes object, named. */
export interface KubeEntry {
  at: SourceObject;
  kind: string;
  name: string;
  namespace: string;
  /** `Kind/ns/name` (`Kind/name` for Namespace and Node): how errors name the object. */
  label: string;
}

export interface ObjectIndex {
  /** podwire's `cluster:` ({} when there is none) and the document it came from. */
  clusterDoc: Obj;
  clusterAt: SourceObject | undefined;
  /** podwire's `nodes:` ([] when there are none). */
  podwireNodes: unknown[];
  /** The Kubernetes objects in the order they were read. */
  kube: KubeEntry[];
  /** `Kind/ns/name` of every object another object names as its owner. */
  owners: Set<string>;
}

export function indexObjects(all: SourceObject[], r: Reporter): ObjectIndex {
  let clusterDoc: Obj = {};
  let clusterAt: SourceObject | undefined;
  let podwireNodes: unknown[] = [];
  const kube: KubeEntry[] = [];
  const seen = new Map<string, SourceObject>();
  for (const at of all) {
    const o = at.obj;
    if (o['apiVersion'] === undefined && o['kind'] === undefined) {
      const extra = Object.keys(o).filter((k) => k !== 'cluster' && k !== 'nodes');
      if (extra.length > 0) {
        r.err(at, '', extra[0]!, extra[0], `unknown field ${q(extra[0])}: a document without apiVersion and kind is podwire's (cluster:, nodes:)`);
      } else if (clusterAt !== undefined) {
        r.err(at, '', '', undefined, `a second podwire document (the first is at ${clusterAt.source}:${clusterAt.line})`);
      } else {
        clusterAt = at;
        if (isObj(o['cluster'])) clusterDoc = o['cluster'];
        else if (o['cluster'] !== undefined) r.err(at, '', 'cluster', o['cluster'], `${q(o['cluster'])} must be a mapping`);
        if (Array.isArray(o['nodes'])) podwireNodes = o['nodes'];
        else if (o['nodes'] !== undefined) r.err(at, '', 'nodes', o['nodes'], `${q(o['nodes'])} must be a list`);
      }
      continue;
    }
    const kind = str(o['kind']);
    const meta = o['metadata'];
    const name = isObj(meta) ? str(meta['name']) ?? (kind === 'Pod' ? str(meta['generateName']) : undefined) : undefined;
    const namespace = isObj(meta) ? str(meta['namespace']) ?? 'default' : 'default';
    if (kind === undefined || str(o['apiVersion']) === undefined) {
      r.err(at, '', kind === undefined ? 'kind' : 'apiVersion', undefined, `missing required field ${q(kind === undefined ? 'kind' : 'apiVersion')}`);
      continue;
    }
    if (name === undefined) {
      r.err(at, kind, 'metadata.name', undefined, 'Required value: name or generateName is required');
      continue;
    }
    const clusterScoped = kind === 'Namespace' || kind === 'Node';
    const label = clusterScoped ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
    const first = seen.get(label);
    if (first !== undefined && !(kind === 'Pod' && str((meta as Obj)['name']) === undefined)) {
      r.err(at, label, 'metadata.name', name, `${q(name)} is defined twice (first at ${first.source}:${first.line})`);
      continue;
    }
    seen.set(label, at);
    kube.push({ at, kind, name, namespace, label });
  }

  const owners = new Set<string>();
  for (const k of kube) {
    const refs = isObj(k.at.obj['metadata']) ? (k.at.obj['metadata'] as Obj)['ownerReferences'] : undefined;
    if (Array.isArray(refs)) for (const ref of refs) if (isObj(ref)) owners.add(`${String(ref['kind'])}/${k.namespace}/${String(ref['name'])}`);
  }
  return { clusterDoc, clusterAt, podwireNodes, kube, owners };
}
