/**
 * How a node reaches the other nodes' pod CIDRs (`cluster.overlay`):
 *
 * - `routed` (flannel's host-gw): one route per remote node, `podCIDR via <node IP> dev eth0`;
 *   the packet leaves eth0 unchanged and the underlay carries it to that node.
 * - `vxlan` (flannel's vxlan backend): a `flannel.1` VXLAN device; see overlay-vxlan.ts.
 */
import type { Cluster, NodeRuntime } from './cluster.js';
import { installVxlan } from './overlay-vxlan.js';
import { sharedRoutes } from './overlay-routes.js';

export interface Overlay {
  readonly mode: 'routed' | 'vxlan';
  /** Removes the overlay's devices, routes and sockets. */
  stop(): void;
  /** Resolves once the overlay's real sockets (if any) are bound. */
  readonly ready?: Promise<void>;
}

export function installOverlay(cluster: Cluster, node: NodeRuntime): Overlay {
  if (cluster.plan.cluster.overlay === 'vxlan') return installVxlan(cluster, node);
  const root = node.root;
  const eth0 = root.iface('eth0');
  if (eth0 === undefined) throw new Error(`${node.plan.name}/root: no interface "eth0"`);
  const routes = sharedRoutes(cluster, 'routed', eth0.ifindex, (other) => ({
    dst: other.podCIDR.addr, prefix: other.podCIDR.prefix, via: other.ip, dev: eth0.ifindex, onlink: false, metric: 0, proto: 'static', src: 0,
  }));
  const self = node.plan.index;
  for (let i = 0; i < routes.length; i++) if (i !== self) root.routes.add(routes[i]!);
  return {
    mode: 'routed',
    stop(): void {
      for (let i = 0; i < routes.length; i++) if (i !== self) root.routes.remove(routes[i]!.dst, routes[i]!.prefix);
    },
  };
}
