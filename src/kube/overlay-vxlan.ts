/**
 * The vxlan overlay, programmed as flannel's vxlan backend does on every node:
 *
 *   ip link add flannel.1 type vxlan id <vni> dstport <port> local <node IP> nolearning
 *   ip addr add <podCIDR .0>/32 dev flannel.1            (MTU = underlay MTU - 50)
 *   per remote node (emulated here, external, or another podwire process):
 *     ip route add <remote podCIDR> via <remote podCIDR .0> dev flannel.1 onlink
 *     ip neigh add <remote podCIDR .0> lladdr <remote VTEP MAC> dev flannel.1 nud permanent
 *     bridge fdb append <remote VTEP MAC> dev flannel.1 dst <remote VTEP IP>
 *
 * Real-socket mode: a node with `vtep.bind` sends its VXLAN datagrams through a UDP socket
 * bound there (the host kernel adds outer IP/UDP), to each peer's `vtep.bind` (or
 * `vtepIP:port`), and feeds what the socket receives into decap; the engine then runs on
 * the wall clock and the socket kicks the scheduler after each batch of datagrams it read
 * (`onBatch`). The socket comes
 * from `ClusterOptions.vxlanTransport` (src/io/vxlan-socket.ts `openVxlanSocket`), so the
 * kube layer never opens sockets itself.
 */
import { formatIpv4 } from '../wire/addr.js';
import { VxlanTunnel, type VxlanTransport } from '../net/vxlan-tunnel.js';
import type { Cluster, NodeRuntime } from './cluster.js';
import type { Overlay } from './overlay.js';
import { sharedRoutes } from './overlay-routes.js';
import { VXLAN_IFNAME } from './names.js';

export { VXLAN_IFNAME } from './names.js';

export interface VxlanOverlay extends Overlay {
  readonly mode: 'vxlan';
  readonly tunnel: VxlanTunnel;
  readonly transport: VxlanTransport | null;
}

export function installVxlan(cluster: Cluster, node: NodeRuntime): VxlanOverlay {
  const e = cluster.engine;
  const cfg = cluster.plan.cluster;
  const n = node.plan;
  const root = node.root;
  const tunnel = e.add(new VxlanTunnel(e, root, {
    node: n.name, ifname: VXLAN_IFNAME, mac: n.vtepMac, vtepIp: n.vtepIp, vni: cfg.vxlan.vni, port: cfg.vxlan.port,
    sourcePortRange: cfg.vxlan.sourcePortRange, udpChecksum: cfg.vxlan.udpChecksum, underlayMtu: cfg.mtu,
  }));
  root.addAddress(VXLAN_IFNAME, n.podCIDR.addr, 32);
  const peers = new Map<number, string>();
  // flannel: the remote subnet's network address is the gateway (frozen routes shared by all nodes).
  const routes = sharedRoutes(cluster, 'vxlan', tunnel.ifindex, (other) => ({
    dst: other.podCIDR.addr, prefix: other.podCIDR.prefix, via: other.podCIDR.addr, dev: tunnel.ifindex, onlink: true, metric: 0, proto: 'static', src: 0,
  }));
  for (const other of cluster.plan.nodes) {
    if (other.name === n.name) continue;
    const gw = other.podCIDR.addr;
    root.routes.add(routes[other.index]!);
    root.neighbors.update(gw, other.vtepMac, tunnel.ifindex, e.now(), true);
    tunnel.fdb.add(other.vtepMac, other.vtepIp);
    if (other.vtepBind !== undefined) peers.set(other.vtepIp, other.vtepBind);
    else if (other.external) peers.set(other.vtepIp, `${formatIpv4(other.vtepIp)}:${cfg.vxlan.port}`);
    else if (n.vtepBind !== undefined) {
      // An emulated peer's IP exists only inside podwire: never send real datagrams to it.
      tunnel.stop();
      throw new Error(`nodes[${other.index}] "${other.name}": node "${n.name}" sends VXLAN on a real socket (vtep.bind), so every other node needs vtep.bind or external: true with a real vtepIP`);
    }
  }

  let transport: VxlanTransport | null = null;
  if (n.vtepBind !== undefined) {
    const factory = cluster.vxlanTransport;
    if (factory === null) {
      tunnel.stop();
      throw new Error(`nodes[${n.index}].vtep.bind ${JSON.stringify(n.vtepBind)}: real-socket VXLAN needs ClusterOptions.vxlanTransport (openVxlanSocket from src/io/vxlan-socket.ts)`);
    }
    transport = factory({
      bind: n.vtepBind,
      peers,
      onDatagram: (buf, off, len, from) => tunnel.receiveDatagram(buf, off, len, from),
      onBatch: () => e.scheduler.kick(), // once per batch the socket read (recvmmsg), not per datagram
    });
    tunnel.transport = transport;
    e.useWallClock();
  }

  let stopped = false;
  const ready = transport === null ? Promise.resolve() : transport.ready;
  return {
    mode: 'vxlan',
    tunnel,
    transport,
    ready,
    stop(): void {
      if (stopped) return;
      stopped = true;
      transport?.close();
      tunnel.transport = null;
      // Removing flannel.1 removes its address, its routes and its neighbour entries.
      tunnel.stop();
    },
  };
}
