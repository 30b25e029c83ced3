/**
 * `podwire inspect` / `GET /inspect`: everything a cluster allocated, per node, as one JSON
 * document (the web UI draws its diagram from it, so its shape is documented in
 * docs/api.md and kept stable): every network namespace (the node's root and its pods')
 * with its interfaces (name, ifindex, MAC, addresses, MTU, the veth peer, kind), routes,
 * the bridge with its ports and learned FDB, the VTEP (flannel.1) with its static FDB,
 * then the pods and services (cluster IP, ports, endpoints). Not on a packet path:
 * allocates freely; addresses are formatted here, at the edge.
 *
 * Interface kinds are Linux's `ip -d link` kinds where one exists: `veth`, `bridge`,
 * `vxlan`, `lo`, `tap` (an attached pod's eth0 and its host end), `ether` (the node's
 * underlay NIC), `dummy` (kube-proxy's kube-ipvs0). The host end of a pod's veth pair is
 * listed in the root namespace like `ip link` lists it (`veth0@if2`), with `ifindex`
 * null: podwire numbers only the interfaces of a namespace element.
 */
import type { Cluster, NodeRuntime } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { endpointPortsOf } from '../kube/slice-endpoints.js';
import { VXLAN_IFNAME, type VxlanOverlay } from '../kube/overlay-vxlan.js';
import type { PodPlan, ServicePlan } from '../kube/types.js';
import type { NetIf } from '../net/iface.js';
import type { NetNamespace } from '../net/netns.js';
import { formatRoute } from '../net/route-table.js';
import { formatIpv4, formatMac } from '../wire/addr.js';
import { notFound } from './errors.js';

export type InspectIfKind = 'veth' | 'bridge' | 'vxlan' | 'lo' | 'tap' | 'ether' | 'dummy';

export interface InspectInterface {
  name: string;
  /** Per namespace, as `ip link` numbers them; null for a veth's host end (a bridge port, not a namespace interface here). */
  ifindex: number | null;
  mac: string;
  /** `10.244.1.2/24`, primary first. */
  addresses: string[];
  mtu: number;
  up: boolean;
  /** The other end of a veth pair (or a TAP's): its namespace (`root`, a pod's name) and interface; null for none. */
  peer: { namespace: string; name: string } | null;
  kind: InspectIfKind;
  /** The bridge this interface is a port of (`cbr0`), or null. */
  master: string | null;
}

export interface InspectRoute {
  /** `default`, `10.244.2.0/24`, `10.244.1.0` (a /32). */
  dst: string;
  via: string | null;
  dev: string;
  /** The line as `ip route` prints it. */
  text: string;
}

export interface InspectNamespace {
  /** `root`, or the pod's namespace name (its key; `root.default` when it reads like a node's). */
  name: string;
  kind: 'root' | 'pod';
  /** The pod key (`pod1`, `web.prod`) for a pod namespace, else null. */
  pod: string | null;
  /** True for a pod attached from a real namespace (TAP): podwire does not emulate its stack. */
  attached: boolean;
  interfaces: InspectInterface[];
  routes: InspectRoute[];
}

export interface InspectFdbEntry {
  mac: string;
  /** Bridge port name (`veth0`, `cbr0` for the bridge's own address). */
  port: string;
  static: boolean;
  ageMs: number;
}

export interface InspectBridge {
  name: string;
  ports: { name: string; hairpin: boolean; local: boolean; up: boolean }[];
  fdb: InspectFdbEntry[];
}

export interface InspectVtep {
  name: string;
  vni: number;
  localIp: string;
  mac: string;
  port: number;
  mtu: number;
  /** `bridge fdb append <mac> dev flannel.1 dst <ip>`, one per remote node. */
  fdb: { mac: string; dst: string }[];
}

export interface InspectNode {
  name: string;
  ip: string;
  podCIDR: string;
  /** False for a node this instance does not emulate (external, or another host's): no namespaces then. */
  emulated: boolean;
  namespaces: InspectNamespace[];
  bridges: InspectBridge[];
  /** Routes of the root namespace (the same as namespaces[0].routes). */
  routes: InspectRoute[];
  vtep: InspectVtep | null;
}

export interface InspectPod {
  name: string;
  namespace: string;
  key: string;
  node: string;
  ip: string;
  mac: string;
  veth: string;
  labels: Record<string, string>;
  emulated: boolean;
  attached: boolean;
}

export interface InspectService {
  name: string;
  namespace: string;
  type: string;
  /** null for a headless or ExternalName service. */
  clusterIP: string | null;
  /** targetPort: a number, or the container port name each pod resolves on its own. */
  ports: { name: string | null; port: number; targetPort: number | string; protocol: string; nodePort: number | null }[];
  /** `ports`: the pod's own port for each service port (FindPort), null where it has none (no endpoint of that port). */
  endpoints: { pod: string; ip: string | null; node: string | null; ports: (number | null)[] }[];
}

export interface InspectView {
  cluster: string;
  overlay: string;
  /** The node asked for (`?node=`), or null for all. */
  node: string | null;
  nodes: InspectNode[];
  pods: InspectPod[];
  services: InspectService[];
}

const KIND: Readonly<Record<string, InspectIfKind>> = {
  veth: 'veth', bridge: 'bridge', vxlan: 'vxlan', loopback: 'lo', tap: 'tap', ether: 'ether', dummy: 'dummy',
};

function routesOf(ns: NetNamespace): InspectRoute[] {
  const name = (i: number): string => ns.ifaceAt(i)?.name ?? `if${i}`;
  return ns.routes.list().map((r) => ({
    dst: r.prefix === 0 && r.dst === 0 ? 'default' : r.prefix === 32 ? formatIpv4(r.dst) : `${formatIpv4(r.dst)}/${r.prefix}`,
    via: r.via === 0 ? null : formatIpv4(r.via),
    dev: name(r.dev),
    text: formatRoute(r, name),
  }));
}

function ifaceOf(i: NetIf, peer: InspectInterface['peer'], master: string | null, kind?: InspectIfKind): InspectInterface {
  return {
    name: i.name, ifindex: i.ifindex, mac: formatMac(i.mac), addresses: i.addrs.map((a) => `${formatIpv4(a.ip)}/${a.prefix}`),
    mtu: i.mtu, up: i.up, peer, kind: kind ?? KIND[i.kind] ?? 'ether', master,
  };
}

function nodeView(c: Cluster, n: NodeRuntime, pods: readonly PodPlan[]): InspectNode {
  const plan = n.plan;
  const bridge = plan.bridge;
  const now = c.engine.now();
  const onNode = pods.filter((p) => p.node === plan.name);
  const nsName = (p: PodPlan): string => c.podDisplayName(podKey(p));
  const rootIfs = n.root.interfaces().map((i) => ifaceOf(i, null, null));
  // The host ends of the pods' veth pairs (and attached pods' TAP ports): ports of the bridge.
  for (const p of onNode) {
    const key = podKey(p);
    const emulated = c.pods.has(key);
    const attached = c.attached.has(key);
    if (!emulated && !attached) continue;
    rootIfs.push({
      name: p.veth, ifindex: null, mac: formatMac(p.vethMac), addresses: [], mtu: p.mtu, up: true,
      peer: { namespace: nsName(p), name: 'eth0' }, kind: attached ? 'tap' : 'veth', master: bridge,
    });
  }
  const rootRoutes = routesOf(n.root);
  const namespaces: InspectNamespace[] = [{ name: 'root', kind: 'root', pod: null, attached: false, interfaces: rootIfs, routes: rootRoutes }];
  for (const p of onNode) {
    const key = podKey(p);
    const rt = c.pods.get(key);
    if (rt !== undefined) {
      namespaces.push({
        name: rt.ns.name, kind: 'pod', pod: key, attached: false,
        interfaces: rt.ns.interfaces().map((i) => ifaceOf(i, i.name === 'eth0' ? { namespace: 'root', name: p.veth } : null, null)),
        routes: routesOf(rt.ns),
      });
    } else if (c.attached.has(key)) {
      // A real namespace: what podwire configured in it (eth0, the pod address, the default route).
      const gw = formatIpv4(p.gateway);
      namespaces.push({
        name: nsName(p), kind: 'pod', pod: key, attached: true,
        interfaces: [{
          name: 'eth0', ifindex: null, mac: formatMac(p.mac), addresses: [`${formatIpv4(p.ip)}/${p.prefixLength}`], mtu: p.mtu, up: true,
          peer: { namespace: 'root', name: p.veth }, kind: 'tap', master: null,
        }],
        routes: [{ dst: 'default', via: gw, dev: 'eth0', text: `default via ${gw} dev eth0` }],
      });
    }
  }
  const br = n.bridge;
  const bridges: InspectBridge[] = [{
    name: bridge,
    ports: br.portList().map((pt) => ({ name: pt.name, hairpin: pt.hairpin, local: pt.local, up: pt.up })),
    fdb: br.fdb.entries(now).map((e) => ({ mac: formatMac(e.mac), port: br.portName(e.port), static: e.isStatic, ageMs: Math.round(e.ageMs) })),
  }];
  const t = n.overlay?.mode === 'vxlan' ? (n.overlay as VxlanOverlay).tunnel : null;
  const vtep: InspectVtep | null = t === null ? null : {
    name: VXLAN_IFNAME, vni: t.vni, localIp: formatIpv4(plan.vtepIp), mac: formatMac(plan.vtepMac),
    port: c.plan.cluster.vxlan.port, mtu: n.root.iface(VXLAN_IFNAME)?.mtu ?? c.plan.cluster.mtu - 50,
    fdb: t.fdb.entries(),
  };
  return { name: plan.name, ip: formatIpv4(plan.ip), podCIDR: `${formatIpv4(plan.podCIDR.addr)}/${plan.podCIDR.prefix}`, emulated: true, namespaces, bridges, routes: rootRoutes, vtep };
}

function serviceOf(s: ServicePlan, pods: ReadonlyMap<string, PodPlan>): InspectService {
  return {
    name: s.name, namespace: s.namespace, type: s.type, clusterIP: s.clusterIP === 0 ? null : formatIpv4(s.clusterIP),
    ports: s.ports.map((p) => ({ name: p.name ?? null, port: p.port, targetPort: p.targetPort, protocol: p.protocol, nodePort: p.nodePort ?? null })),
    endpoints: s.endpoints.map((name) => {
      const p = pods.get(`${s.namespace}/${name}`);
      const own = p === undefined ? [] : endpointPortsOf(s, p); // the slices' ports, or FindPort's
      const ports = s.ports.map((_, k) => own[k] || null);
      return { pod: name, ip: p === undefined ? null : formatIpv4(p.ip), node: p?.node ?? null, ports };
    }),
  };
}

/** inspectView for `node` given by a user: an unknown node is a 404 naming `/node` and the nodes there are. */
export function inspectChecked(c: Cluster, node: string | null): InspectView {
  if (node !== null && !c.plan.nodes.some((n) => n.name === node)) throw notFound('/node', node, 'node', c.plan.nodes.map((n) => n.name));
  return inspectView(c, node);
}

/** The inspect document; `node` restricts nodes and pods to that node (services stay: they span nodes). */
export function inspectView(c: Cluster, node: string | null = null): InspectView {
  const plan = c.plan;
  const pods = plan.pods;
  const byName = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const nodes: InspectNode[] = [];
  for (const n of plan.nodes) {
    if (node !== null && n.name !== node) continue;
    const rt = c.nodes.get(n.name);
    nodes.push(rt !== undefined ? nodeView(c, rt, pods) : {
      name: n.name, ip: formatIpv4(n.ip), podCIDR: `${formatIpv4(n.podCIDR.addr)}/${n.podCIDR.prefix}`, emulated: false,
      namespaces: [], bridges: [], routes: [], vtep: null,
    });
  }
  return {
    cluster: plan.cluster.name, overlay: plan.cluster.overlay, node,
    nodes,
    pods: pods.filter((p) => node === null || p.node === node).map((p) => {
      const key = podKey(p);
      return {
        name: p.name, namespace: p.namespace, key, node: p.node, ip: formatIpv4(p.ip), mac: formatMac(p.mac), veth: p.veth,
        labels: { ...p.labels }, emulated: c.pods.has(key), attached: c.attached.has(key),
      };
    }),
    services: plan.services.map((s) => serviceOf(s, byName)),
  };
}
