/**
 * Nodes for the control façade: a node this instance emulates looked up by name (404 for an
 * unknown one, 409 for an external node or another host's), its tables (FDB, routes,
 * neighbours, interfaces: views.ts) and kube-proxy's rules on it (rules.ts).
 */
import type { Cluster, NodeRuntime } from '../kube/cluster.js';
import { conflict, ControlError, notFound } from './errors.js';
import { nodeRules, type RulesQuery } from './rules.js';
import { fdbView, interfacesView, neighborsView, routesView } from './views.js';

export type NodeTable = 'fdb' | 'routes' | 'neighbors' | 'interfaces';

/** The emulated node `name`; errors name `field`. */
export function emulatedNode(c: Cluster, name: string, field: string): NodeRuntime {
  const n = c.nodes.get(name);
  if (n !== undefined) return n;
  if (c.plan.nodes.some((p) => p.name === name)) throw conflict(field, name, 'is not a node this podwire instance emulates');
  throw notFound(field, name, 'node', c.plan.nodes.map((p) => p.name));
}

/** One of a node's tables, as `GET /nodes/:name/<table>` answers it. */
export function nodeTable(c: Cluster, name: string, table: NodeTable): Record<string, unknown> {
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

/** kube-proxy's rules on node `name`, as iptables-save or ipvsadm print them; the node named at `/name`. */
export function nodeRulesText(c: Cluster, name: string, q: Omit<RulesQuery, 'node'>): string {
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
