/**
 * JSON views of a running cluster for the control façade: the topology as it is now,
 * per-node tables (FDB, routes, neighbours, interfaces with counters) and statistics
 * (every element's counters and drop reasons, link drops, the packet pool). Not on a
 * packet path: allocates freely. Addresses are formatted here, at the edge.
 */
import type { Cluster, NodeRuntime } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import type { PodPlan, ServicePlan } from '../kube/types.js';
import type { VxlanOverlay } from '../kube/overlay-vxlan.js';
import type { Link } from '../engine/link.js';
import { formatCidr, formatIpv4, formatMac } from '../wire/addr.js';

export interface PodView {
  name: string;
  namespace: string;
  key: string;
  node: string;
  ip: string;
  mac: string;
  gateway: string;
  veth: string;
  labels: Record<string, string>;
  apps: { type: string; port: number }[];
  system: boolean;
  /** False for pods of external nodes (another host emulates them). */
  emulated: boolean;
  attached: { netns: string } | { pid: number } | null;
  /** Container ports (`name`, `containerPort`, `protocol`): what NetworkPolicy named ports resolve to; present when the pod has them. */
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  /** Present only when not the default: the pod is unready / being deleted. */
  ready?: false;
  terminating?: true;
}

export interface ServiceView {
  name: string;
  namespace: string;
  type: string;
  clusterIP: string;
  ports: ServicePlan['ports'];
  selector: Record<string, string>;
  endpoints: string[];
  sessionAffinity: string;
  externalTrafficPolicy: string;
  internalTrafficPolicy: string;
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  system: boolean;
  publishNotReadyAddresses?: true;
  healthCheckNodePort?: number;
}

export function podView(c: Cluster, p: PodPlan, attached: PodView['attached']): PodView {
  return {
    name: p.name, namespace: p.namespace, key: podKey(p), node: p.node, ip: formatIpv4(p.ip), mac: formatMac(p.mac),
    gateway: formatIpv4(p.gateway), veth: p.veth, labels: { ...p.labels }, apps: p.apps.map((a) => ({ type: a.type, port: a.port })),
    system: p.system, emulated: c.pods.has(podKey(p)), attached,
    ...(p.ready === false ? { ready: false as const } : {}), ...(p.terminating === true ? { terminating: true as const } : {}),
    ...(p.ports !== undefined ? { ports: p.ports.map((x) => ({ ...x })) } : {}),
  };
}

export function serviceView(s: ServicePlan): ServiceView {
  return {
    name: s.name, namespace: s.namespace, type: s.type, clusterIP: formatIpv4(s.clusterIP), ports: s.ports.map((p) => ({ ...p })),
    selector: { ...s.selector }, endpoints: [...s.endpoints], sessionAffinity: s.sessionAffinity,
    externalTrafficPolicy: s.externalTrafficPolicy, internalTrafficPolicy: s.internalTrafficPolicy,
    externalIPs: s.externalIPs.map(formatIpv4), loadBalancerIPs: s.loadBalancerIPs.map(formatIpv4),
    loadBalancerSourceRanges: (s.loadBalancerSourceRanges ?? []).map(formatCidr), system: s.system,
    ...(s.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true as const } : {}),
    ...(s.healthCheckNodePort !== undefined ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
  };
}

export function topologyView(c: Cluster, attachedOf: (key: string) => PodView['attached']): Record<string, unknown> {
  const plan = c.plan;
  return {
    cluster: plan.cluster,
    podCIDR: formatCidr(plan.podCIDR),
    serviceCIDR: formatCidr(plan.serviceCIDR),
    nodeCIDR: formatCidr(plan.nodeCIDR),
    podMtu: plan.podMtu,
    nodes: plan.nodes.map((n) => ({
      name: n.name, ip: formatIpv4(n.ip), podCIDR: formatCidr(n.podCIDR), bridge: n.bridge, bridgeIp: formatIpv4(n.bridgeIp),
      external: n.external, emulated: c.nodes.has(n.name), vtepIp: formatIpv4(n.vtepIp), vtepMac: formatMac(n.vtepMac),
      ...(n.vtepBind !== undefined ? { vtepBind: n.vtepBind } : {}),
    })),
    pods: plan.pods.map((p) => podView(c, p, attachedOf(podKey(p)))),
    services: plan.services.map(serviceView),
    supportsServices: c.supportsServices,
  };
}

export function fdbView(c: Cluster, n: NodeRuntime): Record<string, unknown> {
  const now = c.engine.now();
  return {
    node: n.plan.name, bridge: n.plan.bridge,
    ports: n.bridge.portList(),
    entries: n.bridge.fdb.entries(now).map((e) => ({ mac: formatMac(e.mac), port: e.port, portName: n.bridge.portName(e.port), ageMs: Math.round(e.ageMs), static: e.isStatic })),
    overflow: n.bridge.fdb.overflow,
  };
}

export function routesView(n: NodeRuntime): Record<string, unknown> {
  return { node: n.plan.name, netns: 'root', routes: n.root.routeList() };
}

export function neighborsView(c: Cluster, n: NodeRuntime): Record<string, unknown> {
  const ifname = (i: number): string => n.root.ifaceAt(i)?.name ?? `if${i}`;
  return {
    node: n.plan.name, netns: 'root',
    neighbors: n.root.neighbors.entries(c.engine.now()).map((e) => ({
      ip: formatIpv4(e.ip), mac: e.mac < 0 ? null : formatMac(e.mac), dev: ifname(e.ifindex), state: e.state, ageMs: Math.round(e.ageMs), pending: e.pending,
    })),
  };
}

export function interfacesView(c: Cluster, n: NodeRuntime): Record<string, unknown> {
  const vethEnds = [...c.pods.values()].filter((p) => p.plan.node === n.plan.name).map((p) => {
    const v = p.veth.counters;
    return {
      name: p.plan.veth, kind: 'veth', peer: `${p.ns.name}/eth0`, mac: formatMac(p.plan.vethMac), mtu: p.plan.mtu,
      master: n.plan.bridge,
      counters: { rxPackets: v.get('b-rx-packets'), rxBytes: v.get('b-rx-bytes'), txPackets: v.get('b-tx-packets'), txBytes: v.get('b-tx-bytes') },
    };
  });
  return { node: n.plan.name, netns: 'root', interfaces: [...n.root.interfaces().map((i) => i.toJSON()), ...vethEnds] };
}

/** Every link joining two elements, once (found through the elements' output ports). */
function links(c: Cluster): Link[] {
  const out: Link[] = [];
  for (const el of c.engine.elements.values()) for (const port of el.ports.outputs.values()) if (port.link !== null) out.push(port.link);
  return out;
}

export function statsView(c: Cluster): Record<string, unknown> {
  const e = c.engine;
  // Elements and the drop owners that are not elements (netfilter hooks): every drop reason.
  const elements = e.countedOwners().map(([key, el]) => ({ name: key, kind: el.kind, counters: el.counters.toJSON(), drops: el.drops.toJSON() }));
  const interfaces: Record<string, unknown> = {};
  for (const n of c.nodes.values()) for (const i of n.root.interfaces()) interfaces[`${n.plan.name}/${i.name}`] = (i.toJSON() as { counters: unknown }).counters;
  for (const p of c.pods.values()) for (const i of p.ns.interfaces()) interfaces[`${p.ns.name}/${i.name}`] = (i.toJSON() as { counters: unknown }).counters;
  const all = links(c);
  const dropping = all.filter((l) => l.drops > 0).map((l) => ({ link: l.name, drops: l.drops, txPackets: l.txPackets }));
  const dropReasons: Record<string, number> = {};
  for (const el of elements) for (const [r, v] of Object.entries(el.drops)) dropReasons[r] = (dropReasons[r] ?? 0) + v;
  // The engine's own drops (not an element's): a full link, a run aborted as a loop, a packet
  // sent out of a port with no link.
  for (const [r, v] of [['link-full', e.linkDrops], ['loop-abort', e.scheduler.loopAbortDrops], ['unconnected-port', e.unconnectedDrops]] as const) {
    if (v > 0) dropReasons[r] = (dropReasons[r] ?? 0) + v;
  }
  const conntrack: Record<string, number> = {};
  // Per node, as `conntrack -S` and /proc/sys/net/netfilter/nf_conntrack_{count,max}.
  const conntrackStats: Record<string, Record<string, number>> = {};
  for (const [node, t] of c.services.conntrack) {
    conntrack[node] = t.count;
    conntrackStats[node] = { entries: t.count, max: t.capacity, ...t.stats };
  }
  // Per node with vtep.bind: the real UDP socket, its receive buffer and the kernel's drops at it.
  const vxlanSocket: Record<string, unknown> = {};
  for (const n of c.nodes.values()) {
    const t = n.overlay?.mode === 'vxlan' ? (n.overlay as VxlanOverlay).transport : null;
    if (t?.stats !== undefined) vxlanSocket[n.plan.name] = t.stats();
  }
  return {
    clock: e.clock.kind,
    now: e.now(),
    pool: { size: e.pool.size, available: e.pool.available, exhausted: e.pool.exhausted },
    engine: {
      linkDrops: e.linkDrops, unconnectedDrops: e.unconnectedDrops, links: all.length,
      // The scheduler (src/engine/scheduler.ts): link services so far, wall-time turns cut short
      // at TURN_MS (a loop that never idles), runs aborted at the step limit and their drops.
      linkServices: e.scheduler.linkServices, yields: e.scheduler.yields,
      loopAborts: e.scheduler.loopAborts, loopAbortDrops: e.scheduler.loopAbortDrops,
      firstDrops: e.firstDrops.slice(0, 100),
    },
    dropReasons,
    linkDrops: dropping,
    conntrack,
    conntrackStats,
    // NetworkPolicy: how many, and NEW connections denied per policy (each policy isolating the denying side).
    networkPolicies: c.netpol.stats(),
    vxlanSocket,
    interfaces,
    elements,
  };
}
