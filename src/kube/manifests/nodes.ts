/**
 * Node objects: name, InternalIP, spec.podCIDR, the taints that keep pods off
 * (NoSchedule, NoExecute), spec.unschedulable and the zone label; the nodes pods can be
 * placed on; and the document's `nodes:` (Node objects, else podwire's own `nodes:`, else
 * node1 and node2).
 */
import { tryParseIpv4 } from '../../wire/addr.js';
import type { KubeObjects } from '../types.js';
import type { KubeEntry } from './objects.js';
import type { Origin } from './reporter.js';
import type { SourceObject } from './source.js';
import { isObj, labelsOf, str, type Obj } from './values.js';

/** The well-known zone label (k8s.io/api/core/v1 LabelTopologyZone). */
const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Nodes of a cluster given neither Node objects nor podwire's `nodes:`. */
const DEFAULT_NODE_COUNT = 2;

export interface Taint { key: string; value?: string; effect: string }
export interface Toleration { key?: string; operator?: string; value?: string; effect?: string }

export interface NodeDraft { name: string; ip?: string; podCIDR?: string; taints: Taint[]; unschedulable: boolean }

/** Whether one of the tolerations tolerates the taint (core/v1 Toleration.ToleratesTaint). */
export function tolerates(tolerations: Toleration[], t: Taint): boolean {
  return tolerations.some((o) => (o.effect === undefined || o.effect === '' || o.effect === t.effect) && (o.operator === 'Exists'
    ? o.key === undefined || o.key === '' || o.key === t.key
    : o.key === t.key && (o.value ?? '') === (t.value ?? '')));
}

/** The Node objects, in order, with their origins; their zones go into `objects.zones`. */
export function readNodes(kube: KubeEntry[], objects: KubeObjects): { nodes: NodeDraft[]; origins: Origin[] } {
  const nodes: NodeDraft[] = [];
  const origins: Origin[] = [];
  for (const k of kube) {
    if (k.kind !== 'Node') continue;
    const o = k.at.obj;
    const spec = isObj(o['spec']) ? o['spec'] : {};
    const status = isObj(o['status']) ? o['status'] : {};
    const n: NodeDraft = { name: k.name, taints: [], unschedulable: spec['unschedulable'] === true };
    const podCIDR = str(spec['podCIDR']);
    if (podCIDR !== undefined && podCIDR !== '') n.podCIDR = podCIDR;
    const addrs = Array.isArray(status['addresses']) ? status['addresses'] : [];
    const internal = addrs.findIndex((a) => isObj(a) && a['type'] === 'InternalIP' && tryParseIpv4(String(a['address'])) !== null);
    const fields: Record<string, string> = { name: 'metadata.name', podCIDR: 'spec.podCIDR', ip: 'status.addresses' };
    if (internal >= 0) {
      n.ip = String((addrs[internal] as Obj)['address']);
      fields['ip'] = `status.addresses[${internal}].address`;
    }
    if (Array.isArray(spec['taints'])) {
      for (const t of spec['taints']) if (isObj(t) && (t['effect'] === 'NoSchedule' || t['effect'] === 'NoExecute')) {
        const taint: Taint = { key: String(t['key'] ?? ''), effect: String(t['effect']) };
        if (t['value'] !== undefined) taint.value = String(t['value']);
        n.taints.push(taint);
      }
    }
    const zone = labelsOf(o['metadata'])[ZONE_LABEL];
    if (zone !== undefined) objects.zones[k.name] = zone;
    nodes.push(n);
    origins.push({ at: k.at, object: k.label, fields });
  }
  return { nodes, origins };
}

/** Nodes pods can be placed on, in node order: Node objects, else podwire's nodes: (not the external ones), else node1, node2. */
export function emulatedNodeNames(nodes: NodeDraft[], podwireNodes: unknown[]): string[] {
  return nodes.length > 0
    ? nodes.map((n) => n.name)
    : podwireNodes.length > 0
      ? podwireNodes.filter((n) => isObj(n) && n['external'] !== true).map((n) => String((n as Obj)['name']))
      : Array.from({ length: DEFAULT_NODE_COUNT }, (_, i) => `node${i + 1}`);
}

/** The document's `nodes:`; their origins go into `origins` (`nodes[i]`). */
export function nodeDocs(
  nodes: NodeDraft[], nodeOrigins: Origin[], podwireNodes: unknown[], clusterAt: SourceObject | undefined,
  objects: KubeObjects, origins: Map<string, Origin>,
): unknown[] {
  const docNodes: unknown[] = nodes.length > 0
    ? nodes.map((n) => ({
      name: n.name, ...(n.ip !== undefined ? { ip: n.ip } : {}), ...(n.podCIDR !== undefined ? { podCIDR: n.podCIDR } : {}),
      ...(objects.zones[n.name] !== undefined ? { zone: objects.zones[n.name] } : {}),
    }))
    : podwireNodes.length > 0 ? podwireNodes : emulatedNodeNames(nodes, podwireNodes).map((name) => ({ name }));
  if (nodes.length > 0) nodeOrigins.forEach((o, i) => origins.set(`nodes[${i}]`, o));
  else if (clusterAt !== undefined && podwireNodes.length > 0) podwireNodes.forEach((_, i) => origins.set(`nodes[${i}]`, { at: clusterAt, object: '', fields: {} }));
  return docNodes;
}
