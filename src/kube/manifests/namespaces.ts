/**
 * Namespace objects: the namespaces the other objects may live in (with the four a cluster
 * starts with), a warning for an object in any other, and their labels in the document (what
 * a NetworkPolicy's namespaceSelector matches).
 */
import type { KubeEntry } from './objects.js';
import type { Reporter } from './reporter.js';
import { labelsOf, q, type Obj } from './values.js';

/** The namespaces every cluster has. */
const BUILT_IN = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The built-in namespaces and every Namespace object's. */
export function namespacesOf(kube: KubeEntry[]): Set<string> {
  const namespaces = new Set(BUILT_IN);
  for (const k of kube) if (k.kind === 'Namespace') namespaces.add(k.name);
  return namespaces;
}

/** A warning for each namespaced object whose namespace is not among `known`. */
export function warnUnknownNamespaces(kube: KubeEntry[], known: Set<string>, r: Reporter): void {
  for (const k of kube) if (!['Namespace', 'Node'].includes(k.kind) && !known.has(k.namespace)) {
    r.warn(k.at, k.label, 'metadata.namespace', k.namespace, `namespace ${q(k.namespace)} is not among the objects`);
  }
}

/** The document's `namespaces:`: each Namespace object's name and labels. */
export function namespaceDocs(kube: KubeEntry[]): Obj[] {
  return kube.filter((k) => k.kind === 'Namespace').map((k) => ({ name: k.name, labels: labelsOf(k.at.obj['metadata']) }));
}
