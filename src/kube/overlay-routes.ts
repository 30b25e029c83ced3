/**
 * The overlay's routes to the other nodes, built once per cluster and shared by every node
 * (used by both overlays: overlay.ts for routed, overlay-vxlan.ts for VXLAN).
 */
import type { Route } from '../net/route-table.js';
import type { Cluster } from './cluster.js';

/**
 * The overlay's route to every node's pod CIDR (index = node index), frozen and built once
 * per cluster and device: every node programmes the same route objects but its own (the
 * route table keeps a frozen route instead of copying it), so n nodes hold n^2 map entries
 * but only n route objects. Each node's table still lists exactly what flannel programmes.
 */
export function sharedRoutes(cluster: Cluster, mode: string, dev: number, make: (n: Cluster['plan']['nodes'][number]) => Route): readonly Route[] {
  const key = `${mode}/${dev}`;
  let routes = cluster.overlayRoutes.get(key);
  if (routes === undefined) {
    routes = cluster.plan.nodes.map((n) => Object.freeze(make(n)));
    cluster.overlayRoutes.set(key, routes);
  }
  return routes;
}
