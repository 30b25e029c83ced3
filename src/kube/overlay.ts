/**
 * How a node reaches the other nodes' pod CIDRs (`cluster.overlay`):
 *
 * - `routed` (flannel's host-gw): one route per remote node, `podCIDR via <node IP> dev eth0`;
 *   the packet leaves eth0 unchanged and the underlay carries it to that node.
 * - `vxlan` (flannel's vxlan backend): a `flannel.1` VXLAN device; see overlay-vxlan.ts.
 */
import type { Cluster, NodeRuntime } from './cluster.js';
import { installVxlan } from './overlay-vxlan.js';

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
  const added: { dst: number; prefix: number }[] = [];
  for (const other of cluster.plan.nodes) {
    if (other.name === node.plan.name) continue;
    root.addRoute({ dst: other.podCIDR.addr, prefix: other.podCIDR.prefix, via: other.ip, dev: 'eth0' });
    added.push({ dst: other.podCIDR.addr, prefix: other.podCIDR.prefix });
  }
  return {
    mode: 'routed',
    stop(): void {
      for (const r of added) root.routes.remove(r.dst, r.prefix);
    },
  };
}
