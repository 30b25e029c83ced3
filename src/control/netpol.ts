/**
 * NetworkPolicies and namespace labels for the control façade: the policies listed,
 * applied (created or replaced as kubectl apply does, all or nothing, a bad one refused
 * with its Kubernetes field path and the same path as a JSON pointer) and deleted; a
 * namespace's labels set (namespaceSelectors see them at once).
 */
import type { Cluster } from '../kube/cluster.js';
import type { NetpolNamespace, NetworkPolicy } from '../kube/netpol/types.js';
import { badRequest, ControlError, notFound } from './errors.js';

/** GET /networkpolicies: the policies in creation order, and every namespace with its labels. */
export function networkPolicies(c: Cluster): { items: NetworkPolicy[]; namespaces: NetpolNamespace[] } {
  return { items: c.netpol.list(), namespaces: c.netpol.namespaces() };
}

/**
 * POST /networkpolicies: one NetworkPolicy, or `{ items: [...] }`; created or replaced
 * (kubectl apply), all or nothing. A bad one is refused with its Kubernetes field path
 * (`spec.ingress[0].from[1].ipBlock.except[0]`; `field` is the same as a JSON pointer).
 */
export function applyNetworkPolicies(c: Cluster, body: unknown): { created: string[]; updated: string[] } {
  const multi = body !== null && typeof body === 'object' && !Array.isArray(body) && Array.isArray((body as { items?: unknown }).items);
  const list = multi ? (body as { items: unknown[] }).items : [body];
  const r = c.netpol.apply(list);
  if (r.ok) return { created: r.created, updated: r.updated };
  const pointer = (e: { index: number; path: string }): string => {
    const tail = e.path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((x) => x !== '').map((x) => `/${x}`).join('');
    return multi ? `/items/${e.index}${tail}` : tail;
  };
  const first = r.errors[0]!;
  const text = r.errors.map((e) => `${multi ? `items[${e.index}].` : ''}${e.path === '' ? '' : `${e.path}: `}${e.message}`).join('; ');
  throw new ControlError(400, `NetworkPolicy is invalid: ${text}`, pointer(first), first.value ?? null);
}

/** PUT /namespaces/:name: a namespace's labels; the automatic `kubernetes.io/metadata.name` stays. */
export function setNamespaceLabels(c: Cluster, name: string, labels: Record<string, string>): NetpolNamespace {
  if (Object.hasOwn(labels, 'kubernetes.io/metadata.name') && labels['kubernetes.io/metadata.name'] !== name) {
    throw badRequest('/labels/kubernetes.io~1metadata.name', labels['kubernetes.io/metadata.name'], `must be the namespace's name ${JSON.stringify(name)}`);
  }
  c.netpol.setNamespace(name, labels);
  return c.netpol.namespaces().find((n) => n.name === name)!;
}

/** DELETE /networkpolicies/:namespace/:name. */
export function deleteNetworkPolicy(c: Cluster, namespace: string, name: string): { removed: string } {
  if (!c.netpol.remove(namespace, name)) {
    throw notFound('/name', `${namespace}/${name}`, 'networkpolicy', c.netpol.list().map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`));
  }
  return { removed: `${namespace}/${name}` };
}
