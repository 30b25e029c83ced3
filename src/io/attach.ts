/**
 * Attaching a real network namespace as a pod of an emulated cluster.
 *
 * `attachPod(cluster, pod, target)`: a TAP device is created (named `pwa` + 8 hex digits of
 * a hash of cluster and pod, with the alias `podwire:<cluster>/<pod>`), given the pod's MAC
 * and MTU, moved into the target namespace (a named netns, `ip netns add`, or a process's:
 * `{ pid }`, which is how a Docker/Podman container is reached), renamed `eth0` there,
 * addressed (pod IP / node pod-CIDR prefix), brought up with `lo`, and given the default
 * route via the node bridge's address. In the emulator a TapPort takes the veth host end's
 * place: bridge port `plan.veth` of the pod's node, captured as `node1/vethN` and
 * `<pod>/eth0`. The first attach switches the engine to the wall clock.
 *
 * Pods with `attach:` in the topology are planned (address, services, DNS) but not
 * emulated; `attachTopologyPods` joins them. A pod given as a spec is added at run time
 * (address allocated, services and DNS follow) and forgotten again by `detachPod`.
 *
 * Teardown: closing the TAP's file descriptor deletes a non-persistent TAP wherever it is,
 * so `detachPod`, `Cluster.close()` and the death of the process (SIGKILL included) all
 * remove the device. `cleanupLeftovers` deletes podwire TAPs that outlived their process
 * (only a persistent TAP can: podwire never makes one, but `ip tuntap`/`tunctl` can) in the
 * root namespace or a named namespace, found by name prefix or alias; a non-persistent one is
 * held open by a running podwire and is left alone (reported as in use).
 *
 * Control plane only (iproute2 through src/io/netlink-ip.ts); no packet path here.
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { Cluster, AttachedPodRuntime } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { connect, type Element } from '../engine/element.js';
import type { AttachSpec, PodPlan } from '../kube/types.js';
import { formatIpv4, formatMac, macFromIpv4, parseIpv4 } from '../wire/addr.js';
import * as ipx from './netlink-ip.js';
import { TapDevice, TunOffload, type TapOpenOptions } from './tap.js';
import { TapPort } from './tap-port.js';

/** Name prefix of podwire's attach TAPs in the root namespace (before the move). */
export const TAP_PREFIX = 'pwa';
/** Interface alias prefix; survives the move and the rename to eth0. */
export const ALIAS_PREFIX = 'podwire:';

/** A pod to add while running and attach. */
export interface AttachPodSpec {
  name: string;
  namespace?: string;
  node: string;
  /** Pod IP; default: the next free address of the node's pod CIDR. */
  ip?: string;
  labels?: Record<string, string>;
}

export interface AttachOptions {
  /** Interface name inside the namespace. Default `eth0`. */
  ifname?: string;
  /** TAP options (slot/batch sizes, addon path). */
  tap?: TapOpenOptions;
  /**
   * Offload mode: the TAP gets IFF_VNET_HDR with TUN_F_CSUM|TSO4|TSO6, so the pod's kernel
   * hands over TCP segments of up to 64 KiB and partial checksums; GSO frames between two
   * such pods on one node pass through the bridge whole (see src/io/tap-port-vnet.ts).
   * Default false.
   */
  offloads?: boolean;
}

export interface AttachedPod extends AttachedPodRuntime {
  /** Pod key (`name`, or `name.namespace` outside `default`). */
  readonly pod: string;
  readonly target: AttachSpec;
  /** The TAP's name at creation (root namespace), e.g. `pwa1f2e3d4c`. */
  readonly tapName: string;
  /** Its name inside the target namespace. */
  readonly ifname: string;
  readonly port: TapPort;
  /** Lines of the pod's /etc/resolv.conf for cluster DNS. */
  readonly resolvConf: string[];
  /** Capture points: `node1/vethN` (host end) and `<pod>/eth0` (the pod's display name: `root.default/eth0`). */
  readonly capturePoints: string[];
  /** Added by attachPod from a spec (forgotten on detach) rather than planned from the topology. */
  readonly runtimeAdded: boolean;
}

export class AttachError extends Error {
  readonly code = 'ERR_PODWIRE_ATTACH';
  constructor(readonly field: string, readonly value: unknown, message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'AttachError';
  }
}

/** The TAP name of `pod` in `cluster`: stable, 11 bytes, found again by `podwire cleanup`. */
export function tapNameFor(clusterName: string, pod: string): string {
  return TAP_PREFIX + createHash('sha256').update(`${clusterName}/${pod}`).digest('hex').slice(0, 8);
}

/** Linux keeps an interface alias of at most IFALIASZ - 1 = 255 bytes (`dev_set_alias`). */
const ALIAS_MAX = 255;

/**
 * The alias podwire gives an attach TAP: `podwire:<cluster>/<pod>`; a pod key too long for
 * it (pod names go up to 253 characters) keeps its head and ends with `~` + 8 hex digits of
 * a hash of the whole key, so the alias still names one pod.
 */
export function tapAliasFor(clusterName: string, pod: string): string {
  const full = `${ALIAS_PREFIX}${clusterName}/${pod}`;
  if (full.length <= ALIAS_MAX) return full;
  const hash = createHash('sha256').update(pod).digest('hex').slice(0, 8);
  return `${full.slice(0, ALIAS_MAX - 9)}~${hash}`;
}

/** /etc/resolv.conf lines for a pod in Kubernetes `namespace` (kubelet's ClusterFirst policy). */
export function resolvConfLines(cluster: Cluster, namespace: string): string[] {
  const d = cluster.plan.dnsDomain;
  if (cluster.plan.cluster.dnsReplicas === 0) return ['# cluster DNS is off (cluster.dnsReplicas: 0)'];
  return [
    `nameserver ${formatIpv4(cluster.plan.dnsServiceIp)}`,
    `search ${namespace}.svc.${d} svc.${d} ${d}`,
    'options ndots:5',
  ];
}

function describeTarget(t: AttachSpec): string {
  return 'netns' in t ? `netns ${t.netns}` : `pid ${t.pid}`;
}

async function checkTarget(t: AttachSpec): Promise<void> {
  if ('netns' in t) {
    const all = await ipx.netnsList();
    if (!all.includes(t.netns)) {
      throw new AttachError('attach.netns', t.netns, `attach.netns: no network namespace ${JSON.stringify(t.netns)} (ip netns list has ${all.length > 0 ? all.join(', ') : 'none'})`);
    }
  } else {
    if (!Number.isInteger(t.pid) || t.pid <= 0) throw new AttachError('attach.pid', t.pid, `attach.pid: ${String(t.pid)} is not a process id`);
    try { await access(`/proc/${t.pid}/ns/net`); } catch {
      throw new AttachError('attach.pid', t.pid, `attach.pid: no process ${t.pid} (or its network namespace is not visible: run as root)`);
    }
  }
}

/** The pod's plan: a pending topology pod, or a new one added from `spec`. */
function resolvePlan(cluster: Cluster, pod: string | AttachPodSpec, target: AttachSpec | undefined): { plan: PodPlan; added: boolean } {
  if (typeof pod === 'string') {
    const plan = cluster.plan.pods.find((p) => podKey(p) === pod);
    if (plan === undefined) throw new AttachError('pod', pod, `pod ${JSON.stringify(pod)} is not in the topology (give a spec with name and node to add it)`);
    if (cluster.pods.has(pod)) throw new AttachError('pod', pod, `pod ${JSON.stringify(pod)} is emulated; remove it first or attach a new pod`);
    if (plan.attach === undefined && target === undefined) throw new AttachError('target', undefined, `pod ${JSON.stringify(pod)} has no attach: in the topology; give a target`);
    return { plan, added: false };
  }
  const node = cluster.node(pod.node);
  const namespace = pod.namespace ?? 'default';
  const key = podKey({ name: pod.name, namespace });
  if (cluster.plan.pods.some((p) => podKey(p) === key)) return resolvePlan(cluster, key, target);
  const ip = cluster.ipam.allocatePodIp(pod.node, pod.ip !== undefined ? parseIpv4(pod.ip) : undefined);
  const plan: PodPlan = {
    name: pod.name, namespace, node: pod.node, nodeIndex: node.plan.index, ip, mac: macFromIpv4(ip),
    gateway: node.plan.bridgeIp, prefixLength: node.plan.podCIDR.prefix, mtu: cluster.plan.podMtu,
    veth: cluster.ipam.allocateVeth(pod.node), vethMac: macFromIpv4(ip, 0x02ee), labels: { ...pod.labels },
    apps: [], system: false, ...(target !== undefined ? { attach: { ...target } } : {}),
  };
  cluster.plan.pods.push(plan);
  return { plan, added: true };
}

function forgetPlan(cluster: Cluster, plan: PodPlan): void {
  cluster.ipam.releasePodIp(plan.node, plan.ip);
  cluster.ipam.releaseVeth(plan.node, plan.veth);
  const i = cluster.plan.pods.indexOf(plan);
  if (i >= 0) cluster.plan.pods.splice(i, 1);
  cluster.services.podRemoved(plan.name, plan.namespace);
}

function unwire(cluster: Cluster, plan: PodPlan, port: Element): void {
  const bridge = cluster.nodes.get(plan.node)?.bridge;
  if (bridge !== undefined && bridge.ports.outputs.has(plan.veth)) bridge.removePort(plan.veth);
  for (const inp of port.ports.inputs) if (inp !== null) port.ports.removeIn(inp.name);
  for (const o of [...port.ports.outputs.keys()]) port.ports.removeOut(o);
  cluster.engine.remove(port);
}

/**
 * Joins a real namespace to the cluster as `pod`: a pod of the topology (by key, `target`
 * defaulting to its `attach:`) or a new pod (`spec`, `target` required). Resolves once the
 * device is configured and wired; on failure everything created is removed again.
 */
export async function attachPod(cluster: Cluster, pod: string | AttachPodSpec, target?: AttachSpec, opts: AttachOptions = {}): Promise<AttachedPod> {
  if (typeof pod !== 'string' && target === undefined) throw new AttachError('target', undefined, `pod ${JSON.stringify(pod.name)}: a target ({ netns } or { pid }) is needed`);
  if (target !== undefined) await checkTarget(target);
  const key = typeof pod === 'string' ? pod : podKey({ name: pod.name, namespace: pod.namespace ?? 'default' });
  if (cluster.attached.has(key)) throw new AttachError('pod', key, `pod ${JSON.stringify(key)} is already attached`);
  const { plan, added } = resolvePlan(cluster, pod, target);
  const tgt = target ?? plan.attach!;
  if (target === undefined) await checkTarget(tgt);
  const ifname = opts.ifname ?? 'eth0';
  const clusterName = cluster.plan.cluster.name;
  const tapName = tapNameFor(clusterName, key);
  const node = cluster.node(plan.node);
  const e = cluster.engine;
  const ns: ipx.NetnsRef = 'netns' in tgt ? tgt.netns : { pid: tgt.pid };
  let tap: TapDevice | null = null;
  let port: TapPort | null = null;
  let step = 'open the TAP device';
  try {
    tap = TapDevice.open(tapName, opts.offloads === true
      ? { vnetHdr: true, offloads: TunOffload.Csum | TunOffload.Tso4 | TunOffload.Tso6, ...opts.tap }
      : opts.tap ?? {});
    step = 'set its alias, MAC and MTU';
    await ipx.ip(['link', 'set', 'dev', tapName, 'alias', tapAliasFor(clusterName, key)]);
    await ipx.setLinkMac(tapName, formatMac(plan.mac));
    await ipx.setLinkMtu(tapName, plan.mtu);
    step = `move it into ${describeTarget(tgt)}`;
    await ipx.moveLinkToNetns(tapName, 'netns' in tgt ? tgt.netns : { pid: tgt.pid });
    step = `rename it ${ifname} (does the namespace already have an ${ifname}? a container needs --network none)`;
    await ipx.renameLink(tapName, ifname, ns);
    step = 'configure its address, lo and the default route';
    await ipx.addAddress(ifname, `${formatIpv4(plan.ip)}/${plan.prefixLength}`, ns);
    await ipx.setLinkUp('lo', ns);
    await ipx.setLinkUp(ifname, ns);
    await ipx.addDefaultRoute(formatIpv4(plan.gateway), { dev: ifname, netns: ns, replace: true });
    step = 'wire it to the node bridge';
    e.useWallClock();
    const p = new TapPort(e, `${plan.node}/${plan.veth}`, tap, {
      where: { node: plan.node, netns: 'root', device: plan.veth }, mtu: plan.mtu, peer: `${cluster.podDisplayName(key)}/eth0`,
    });
    port = p;
    e.add(p);
    node.bridge.addPort(plan.veth, { hairpin: cluster.plan.cluster.hairpinMode });
    connect(e, p.ports.out('out'), node.bridge.ports.in(plan.veth));
    connect(e, node.bridge.ports.out(plan.veth), p.ports.in('in'));
  } catch (err) {
    tap?.close();
    if (port !== null) unwire(cluster, plan, port);
    if (added) forgetPlan(cluster, plan);
    const why = err instanceof Error ? err.message : String(err);
    throw new AttachError('attach', tgt, `attaching pod ${key} to ${describeTarget(tgt)}: could not ${step}: ${why}`, err);
  }
  const a: AttachedPod = {
    pod: key, plan, target: { ...tgt }, tapName, ifname, port, runtimeAdded: added,
    resolvConf: resolvConfLines(cluster, plan.namespace),
    capturePoints: [`${plan.node}/${plan.veth}`, `${cluster.podDisplayName(key)}/eth0`],
    close: () => port.close(),
  };
  cluster.attached.set(key, a);
  if (added) cluster.services.sync();
  cluster.impairments.applyPending(); // declared netem on this pod's interfaces
  return a;
}

/** Attaches every pod of the topology that has `attach:` and is not attached yet. */
/**
 * Whether a topology pod is attached in offload mode: an explicit `offloads` of the caller
 * wins (the benchmarks ask for it), otherwise the pod's `attach.offloads` (default false).
 */
export function effectiveOffloads(opts: AttachOptions, attach: AttachSpec | undefined): boolean | undefined {
  return opts.offloads ?? attach?.offloads;
}

export async function attachTopologyPods(cluster: Cluster, opts: AttachOptions = {}): Promise<AttachedPod[]> {
  const out: AttachedPod[] = [];
  for (const p of cluster.plan.pods) {
    if (p.attach === undefined || !cluster.nodes.has(p.node) || cluster.attached.has(podKey(p))) continue;
    const offloads = effectiveOffloads(opts, p.attach);
    out.push(await attachPod(cluster, podKey(p), undefined, offloads !== undefined ? { ...opts, offloads } : opts));
  }
  return out;
}

/** The attached pods of a cluster. */
export function attachedPods(cluster: Cluster): AttachedPod[] {
  return [...cluster.attached.values()] as AttachedPod[];
}

/**
 * Detaches `pod`: closes the TAP (the device vanishes from the namespace), unwires its
 * bridge port, and deletes any device with its alias still left in the target namespace.
 * A pod added at run time is forgotten (address released, endpoints and DNS follow); a
 * topology pod stays planned and may be attached again. Idempotent.
 */
export async function detachPod(cluster: Cluster, pod: string): Promise<void> {
  const a = cluster.attached.get(pod) as AttachedPod | undefined;
  if (a === undefined) return;
  cluster.attached.delete(pod);
  a.port.close();
  unwire(cluster, a.plan, a.port);
  if (a.runtimeAdded) forgetPlan(cluster, a.plan);
  const ns: ipx.NetnsRef = 'netns' in a.target ? a.target.netns : { pid: a.target.pid };
  const alias = tapAliasFor(cluster.plan.cluster.name, pod);
  for (const l of await listTaps(ns).catch(() => [])) {
    if (l.alias === alias) await ipx.deleteLink(l.name, ns).catch(() => undefined);
  }
}

interface TapInfo { name: string; alias: string; persist: boolean }

async function listTaps(ns?: ipx.NetnsRef): Promise<TapInfo[]> {
  const out = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun'], ns);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as { ifname: string; ifalias?: string; linkinfo?: { info_data?: { persist?: boolean } } }[])
    .map((l) => ({ name: l.ifname, alias: l.ifalias ?? '', persist: l.linkinfo?.info_data?.persist ?? false }));
}

export interface CleanupOptions {
  /** Root-namespace name prefix of podwire TAPs. Default `pwa`. */
  prefix?: string;
  /** Only devices of this cluster (by alias); default: every podwire device. */
  cluster?: string;
}

export interface CleanupResult {
  /** Devices deleted: namespace ('' for the root one) and name. */
  removed: { netns: string; name: string }[];
  /** Non-persistent podwire TAPs: an fd of a running process holds them; not touched. */
  inUse: { netns: string; name: string }[];
  /** Devices that could not be deleted, with the reason. */
  failed: { netns: string; name: string; error: string }[];
}

/**
 * Deletes podwire's leftover TAP devices in the root namespace and in every named namespace
 * (`ip netns list`), found by alias (`podwire:<cluster>/...`) and, in the root namespace, by
 * name prefix. Only persistent ones are leftovers: a non-persistent TAP exists only while a
 * process holds its fd (a running podwire), so it is reported in `inUse`, never deleted.
 * Namespaces of other processes (containers) are not searched: their TAP goes when the
 * podwire that held it exits.
 */
export async function cleanupLeftovers(opts: CleanupOptions = {}): Promise<CleanupResult> {
  const prefix = opts.prefix ?? TAP_PREFIX;
  const alias = opts.cluster !== undefined ? `${ALIAS_PREFIX}${opts.cluster}/` : ALIAS_PREFIX;
  const res: CleanupResult = { removed: [], inUse: [], failed: [] };
  const spaces: (string | undefined)[] = [undefined, ...await ipx.netnsList()];
  for (const ns of spaces) {
    let taps: TapInfo[];
    try { taps = await listTaps(ns); } catch { continue; } // a namespace deleted meanwhile
    for (const t of taps) {
      const mine = t.alias.startsWith(alias) || (ns === undefined && opts.cluster === undefined && t.name.startsWith(prefix));
      if (!mine) continue;
      if (!t.persist) {
        res.inUse.push({ netns: ns ?? '', name: t.name });
        continue;
      }
      try {
        await ipx.deleteLink(t.name, ns);
        res.removed.push({ netns: ns ?? '', name: t.name });
      } catch (err) {
        res.failed.push({ netns: ns ?? '', name: t.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return res;
}
