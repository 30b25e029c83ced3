/**
 * The cluster as the article draws it, from `GET /topology`: per node a group holding each
 * pod's namespace (its `eth0`), the root namespace (the `vethN` ends, the bridge `cbr0`,
 * kube-proxy's iptables/IPVS, `flannel.1` under the VXLAN overlay, `eth0`), and the cluster
 * network (underlay) joining every node's `eth0`. Pure data: no DOM, no layout.
 *
 * Element ids are the capture and stats names (`node1/cbr0`, `pod1/eth0`), so a click on a
 * box can start a capture and read counters without a mapping table.
 */

export interface TopologyNode {
  name: string; ip: string; podCIDR: string; bridge: string; bridgeIp: string;
  external: boolean; emulated: boolean;
}
export interface TopologyPod {
  name: string; namespace: string; key: string; node: string; ip: string; mac?: string; veth: string;
  system?: boolean; attached?: unknown;
}
export interface TopologyService {
  name: string; namespace: string; clusterIP: string; type?: string;
  ports: { port: number; targetPort?: number | string; protocol: string; name?: string }[];
  endpoints: string[]; system?: boolean;
}
export interface TopologyJson {
  cluster: { name: string; overlay?: string; proxyMode?: string; vxlan?: { vni: number; port: number } };
  nodeCIDR?: string;
  nodes: TopologyNode[];
  pods: TopologyPod[];
  services: TopologyService[];
  supportsServices?: boolean;
}

export type ElemKind = 'node' | 'netns' | 'pod' | 'iface' | 'veth' | 'bridge' | 'proxy' | 'vxlan' | 'underlay';

export interface Elem {
  id: string;
  kind: ElemKind;
  /** The name drawn (and read by screen readers): `pod1`, `eth0`, `cbr0`, `flannel.1`. */
  label: string;
  /** A second line: an address, a CIDR. */
  sub: string;
  /** The group it is drawn in (null: top level). */
  parent: string | null;
  node: string;
  /** The interface name captures and stats use (`node1/cbr0`), when it is an interface. */
  iface: string | null;
}

export interface Wire {
  id: string;
  from: string;
  to: string;
  /** veth: a veth pair; port: a bridge port; path: the way through the root namespace. */
  kind: 'veth' | 'port' | 'path';
}

export interface Diagram {
  cluster: string;
  overlay: string;
  elems: Elem[];
  wires: Wire[];
  /** Node names in topology order. */
  nodes: string[];
  byId: Map<string, Elem>;
}

const PROXY_LABEL: Record<string, string> = { iptables: 'iptables', ipvs: 'IPVS', nftables: 'nftables' };

export function diagramOf(t: TopologyJson): Diagram {
  const elems: Elem[] = [];
  const wires: Wire[] = [];
  const overlay = t.cluster.overlay ?? 'vxlan';
  const proxy = t.supportsServices === false ? null : PROXY_LABEL[t.cluster.proxyMode ?? 'iptables'] ?? 'iptables';
  const add = (e: Elem): void => { elems.push(e); };
  const wire = (from: string, to: string, kind: Wire['kind']): void => { wires.push({ id: `${from}--${to}`, from, to, kind }); };
  for (const n of t.nodes) {
    const g = `node:${n.name}`;
    add({ id: g, kind: 'node', label: n.name, sub: `${n.ip} · pods ${n.podCIDR}${n.external ? ' · external' : ''}`, parent: null, node: n.name, iface: null });
    const root = `${n.name}/root`;
    add({ id: root, kind: 'netns', label: 'root namespace', sub: '', parent: g, node: n.name, iface: null });
    const eth0 = `${n.name}/eth0`;
    if (n.external || !n.emulated) {
      add({ id: eth0, kind: 'iface', label: 'eth0', sub: n.ip, parent: root, node: n.name, iface: null });
      continue;
    }
    const pods = t.pods.filter((p) => p.node === n.name).sort((a, b) => vethIndex(a.veth) - vethIndex(b.veth));
    const bridge = `${n.name}/${n.bridge}`;
    for (const p of pods) {
      add({ id: p.key, kind: 'pod', label: p.key, sub: p.ip, parent: g, node: n.name, iface: null });
      add({ id: `${p.key}/eth0`, kind: 'iface', label: 'eth0', sub: p.ip, parent: p.key, node: n.name, iface: `${p.key}/eth0` });
      add({ id: `${n.name}/${p.veth}`, kind: 'veth', label: p.veth, sub: '', parent: root, node: n.name, iface: `${n.name}/${p.veth}` });
      wire(`${p.key}/eth0`, `${n.name}/${p.veth}`, 'veth');
      wire(`${n.name}/${p.veth}`, bridge, 'port');
    }
    add({ id: bridge, kind: 'bridge', label: n.bridge, sub: `${n.bridgeIp}/${n.podCIDR.split('/')[1] ?? '24'}`, parent: root, node: n.name, iface: bridge });
    let last = bridge;
    if (proxy !== null) {
      add({ id: `${n.name}/proxy`, kind: 'proxy', label: proxy, sub: 'kube-proxy', parent: root, node: n.name, iface: null });
      wire(last, `${n.name}/proxy`, 'path');
      last = `${n.name}/proxy`;
    }
    if (overlay === 'vxlan') {
      add({ id: `${n.name}/flannel.1`, kind: 'vxlan', label: 'flannel.1', sub: `VXLAN ${t.cluster.vxlan?.vni ?? 1}`, parent: root, node: n.name, iface: `${n.name}/flannel.1` });
      wire(last, `${n.name}/flannel.1`, 'path');
      last = `${n.name}/flannel.1`;
    }
    add({ id: eth0, kind: 'iface', label: 'eth0', sub: n.ip, parent: root, node: n.name, iface: eth0 });
    wire(last, eth0, 'path');
  }
  add({ id: 'underlay', kind: 'underlay', label: 'cluster network (underlay)', sub: t.nodeCIDR ?? '', parent: null, node: '', iface: null });
  return { cluster: t.cluster.name, overlay, elems, wires, nodes: t.nodes.map((n) => n.name), byId: new Map(elems.map((e) => [e.id, e])) };
}

function vethIndex(v: string): number {
  const m = /(\d+)$/.exec(v);
  return m === null ? 0 : Number(m[1]);
}

/** The fields of a trace hop the diagram needs (src/engine/trace.ts `Hop`). */
export interface HopLike {
  node: string;
  netns: string;
  device: string;
  action: string;
  detail: Record<string, unknown>;
}

/**
 * Where on the diagram a hop happens: the interface it names, the pod or root namespace when
 * it names none (a `send` before routing), kube-proxy's box for conntrack and NAT, the
 * underlay for the switch. A veth hop is drawn at the end it arrives on.
 */
export function elemOfHop(d: Diagram, h: HopLike): string | null {
  if (h.netns === 'underlay') return 'underlay';
  const has = (id: string): string | null => (d.byId.has(id) ? id : null);
  if (h.action === 'veth' && typeof h.detail['to'] === 'string') {
    const [ns, dev] = h.detail['to'].split('/');
    const id = ns === 'root' ? `${h.node}/${dev ?? ''}` : `${ns ?? ''}/${dev ?? ''}`;
    if (d.byId.has(id)) return id;
  }
  if (h.netns === 'root') {
    return has(`${h.node}/${h.device}`)
      // conntrack, kube-proxy's NAT and the NetworkPolicy filter (`netpol`) are all netfilter: the iptables box.
      ?? (['iptables', 'ipvs', 'nftables', 'conntrack', 'kube-proxy', 'netpol'].includes(h.device) ? has(`${h.node}/proxy`) : null)
      ?? has(`${h.node}/root`);
  }
  const pod = podKeyOf(d, h.netns);
  if (pod === null) return has(`node:${h.node}`);
  return h.device === '' ? pod : has(`${pod}/${h.device}`) ?? pod;
}

/** A hop's namespace name is the pod key, or `KEY.default` for a key reading like `root` (docs/architecture.md). */
function podKeyOf(d: Diagram, netns: string): string | null {
  if (d.byId.get(netns)?.kind === 'pod') return netns;
  const bare = netns.endsWith('.default') ? netns.slice(0, -'.default'.length) : null;
  return bare !== null && d.byId.get(bare)?.kind === 'pod' ? bare : null;
}
