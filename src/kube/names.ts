/**
 * Names: what a user may call pods, services and bridges, and how podwire keeps the names
 * of its own elements apart from them, so that any valid Kubernetes name works.
 *
 * - Pod names are DNS-1123 subdomains, as Kubernetes validates them (`POD_NAME_PATTERN` in
 *   schema.ts); namespaces, services and nodes are DNS-1123 labels (no dots).
 * - A pod's key (`cluster.pods`, API paths, trace `from`/`to`) is its name in namespace
 *   `default` and `name.namespace` elsewhere; a dotted name in `default` is keyed
 *   `name.default`. So a key without a dot is a pod of `default`, and a key with one splits
 *   at its last dot into name and namespace (`parsePodRef`): `web.v1` is pod `web` of
 *   namespace `v1`, `web.v1.default` is pod `web.v1` of `default`.
 * - The engine registers a pod's namespace as `<node>/pod/<key>`, never beside the node's
 *   own elements (`<node>/root`, `<node>/<bridge>`, `<node>/vethN`, `<node>/flannel.1`,
 *   `<node>/conntrack`, `<node>/kube-proxy`): a pod may be called `root`, `cbr0` or `veth0`.
 * - A pod whose key reads like something else in hops, capture points and stats (`root`,
 *   the root namespace; `underlay`, the switch; a node's name, `node1/eth0`) is shown as
 *   `<name>.default` there (`podDisplayName`); both spellings find it (`canonicalPodKey`).
 * - The node bridge is an interface of the root namespace: its name must not be one that
 *   namespace already has, nor one of the node's element names (`bridgeNameProblem`).
 * - `kubernetes` (default) and, with cluster DNS, `kube-dns` (kube-system) are the
 *   services podwire stands in for: `reservedServiceName` is the one rule the topology
 *   check and the API share.
 */
import { DNS_NAMESPACE, DNS_SERVICE_NAME } from './plan.js';

export const DEFAULT_NAMESPACE = 'default';
/** The name of every node's root namespace (trace hops: `netns: "root"`). */
export const ROOT_NETNS = 'root';
/** The underlay switch (element key and trace hops). */
export const UNDERLAY = 'underlay';
/** The VXLAN device of every node under `overlay: vxlan` (flannel's name). */
export const VXLAN_IFNAME = 'flannel.1';

/** The key of a pod: `name` in default (unless dotted), else `name.namespace`. */
export function podKey(p: { name: string; namespace: string }): string {
  return p.namespace === DEFAULT_NAMESPACE && !p.name.includes('.') ? p.name : `${p.name}.${p.namespace}`;
}

/** A key (or display name) back to name and namespace: the last dot separates them. */
export function parsePodRef(ref: string): { name: string; namespace: string } {
  const dot = ref.lastIndexOf('.');
  return dot < 0 ? { name: ref, namespace: DEFAULT_NAMESPACE } : { name: ref.slice(0, dot), namespace: ref.slice(dot + 1) };
}

/** The key a reference means: `root.default` -> `root`, `web.v1.default` stays, `pod1` stays. */
export function canonicalPodKey(ref: string): string {
  return podKey(parsePodRef(ref));
}

/** Engine registry key of a pod's network namespace. */
export function podElementKey(node: string, key: string): string {
  return `${node}/pod/${key}`;
}

/**
 * How a pod is named in hops, capture points and stats: its key, or `<key>.default` when
 * the key would read as the root namespace, the underlay, or a node (`nodeNames`).
 */
export function podDisplayName(key: string, nodeNames: { has(name: string): boolean }): string {
  if (key.includes('.')) return key;
  return key === ROOT_NETNS || key === UNDERLAY || nodeNames.has(key) ? `${key}.${DEFAULT_NAMESPACE}` : key;
}

/** Interface names the root namespace of a node already has (veths: `veth0`, `veth1`, ...). */
const ROOT_IFACES = ['lo', 'eth0'];
/** Names the engine registers beside a node's devices (`<node>/<name>`). */
const NODE_ELEMENTS = [ROOT_NETNS, 'conntrack', 'kube-proxy'];

/** Why `bridge` cannot name a node's bridge, or null. `vxlanIf`: the overlay's device, when there is one. */
export function bridgeNameProblem(bridge: string, vxlanIf: string | null): string | null {
  if (bridge === '.' || bridge === '..') return 'is not a valid interface name (Linux: dev_valid_name)';
  if (ROOT_IFACES.includes(bridge) || bridge === vxlanIf) return `is an interface every node's root namespace already has (${[...ROOT_IFACES, ...(vxlanIf !== null ? [vxlanIf] : [])].join(', ')})`;
  if (/^veth(0|[1-9][0-9]*)$/.test(bridge)) return 'is the name of a pod\'s veth host end (veth0, veth1, ... are allocated by podwire)';
  if (NODE_ELEMENTS.includes(bridge)) return `is reserved for podwire's own elements of a node (${NODE_ELEMENTS.join(', ')})`;
  return null;
}

/**
 * Why a service may not be called `name` in `namespace`, or null: `kubernetes` in default
 * (the API server's service: its cluster IP and DNS name are podwire's), `kube-dns` in
 * kube-system while podwire runs the cluster DNS (`dnsReplicas` > 0).
 */
export function reservedServiceName(name: string, namespace: string, dnsReplicas: number): string | null {
  if (namespace === DEFAULT_NAMESPACE && name === 'kubernetes') return `is reserved in namespace "${DEFAULT_NAMESPACE}" (the API server's service)`;
  if (dnsReplicas > 0 && namespace === DNS_NAMESPACE && name === DNS_SERVICE_NAME) {
    return `is reserved in namespace "${DNS_NAMESPACE}" for the cluster DNS (cluster.dnsReplicas)`;
  }
  return null;
}
