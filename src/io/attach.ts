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
 * Names: attach-names.ts; mode veth's host-end probe: attach-veth.ts; leftovers: attach-cleanup.ts.
 * Control plane only (iproute2 through src/io/netlink-ip.ts); no packet path here.
 */
import { access } from 'node:fs/promises';
import type { Cluster, AttachedPodRuntime } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { connect, type Element } from '../engine/element.js';
import type { AttachMode, AttachSpec, PodPlan } from '../kube/types.js';
import { cidrContains, formatCidr, formatIpv4, formatMac, macFromIpv4, parseIpv4, parseMac } from '../wire/addr.js';
import { CONTAINER_RUNTIMES, ContainerError, runningContainer, watchContainer, type ContainerInfo, type ContainerRuntime, type ContainerWatch } from './container.js';
import * as ipx from './netlink-ip.js';
import { PacketDevice } from './packet.js';
import { TapDevice, TunOffload, type TapOpenOptions } from './tap.js';
import { TapPort, type TapEndpoint } from './tap-port.js';
import { tapAliasFor, tapNameFor } from './attach-names.js';
import { nsPathOf, probeVeth, setSysctl, type VethProbe } from './attach-veth.js';
import { listTaps } from './attach-cleanup.js';

export { ALIAS_PREFIX, TAP_PREFIX, tapAliasFor, tapNameFor } from './attach-names.js';
export { cleanupLeftovers, type CleanupOptions, type CleanupResult } from './attach-cleanup.js';

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
  /** How the pod joins (AttachSpec.mode); default: the target's mode, else `tap`. */
  mode?: AttachMode;
  /** Runs a container's re-join after a restart (the controller passes its lock). Default: at once. */
  serialize?: (fn: () => Promise<void>) => Promise<void>;
}

export const ATTACH_MODES: readonly AttachMode[] = ['tap', 'second', 'veth'];

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
  readonly mode: AttachMode;
  /** Where the pod's interface is now (a container's: its PID's namespace, followed across restarts). */
  readonly netns: ipx.NetnsRef & object | string;
  /** The container, as its engine described it when the pod joined; null for a netns or pid target. */
  readonly container: ContainerInfo | null;
  /** Mode veth: puts the veth's host end back as it was (its bridge, arp_ignore). */
  readonly restore: (() => Promise<void>) | null;
  /** The container's restart watch (docker events), or null. */
  watch?: ContainerWatch | null;
  /** How often the pod joined a restarted container's new namespace. */
  rejoins?: number;
  /** The last failed re-join, if any. */
  rejoinError?: string;
}

export class AttachError extends Error {
  readonly code = 'ERR_PODWIRE_ATTACH';
  constructor(readonly field: string, readonly value: unknown, message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.name = 'AttachError';
  }
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
  if ('container' in t) return `container ${t.container}`;
  return 'netns' in t ? `netns ${t.netns}` : `pid ${t.pid}`;
}

async function checkTarget(t: AttachSpec): Promise<void> {
  if ('container' in t) {
    if (t.runtime !== undefined && !CONTAINER_RUNTIMES.includes(t.runtime)) {
      throw new AttachError('attach.runtime', t.runtime, `attach.runtime: ${JSON.stringify(t.runtime)} is not a container runtime (docker or podman)`);
    }
    return; // asked of the engine when the pod joins (resolveNs)
  }
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

/** Where the target's network is now: a named netns, or a PID's (a container's, asked of its engine). */
async function resolveNs(t: AttachSpec): Promise<{ ns: ipx.NetnsRef & object | string; container: ContainerInfo | null }> {
  if ('netns' in t) return { ns: t.netns, container: null };
  if ('pid' in t) return { ns: { pid: t.pid }, container: null };
  try {
    const c = await runningContainer(t.container, t.runtime ?? 'docker');
    return { ns: { pid: c.pid }, container: c };
  } catch (e) {
    if (e instanceof ContainerError) throw new AttachError('attach.container', t.container, e.message, e);
    throw e;
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
  cluster.netpol.podsChanged();
}

function unwire(cluster: Cluster, plan: PodPlan, port: Element): void {
  const bridge = cluster.nodes.get(plan.node)?.bridge;
  if (bridge !== undefined && bridge.ports.outputs.has(plan.veth)) bridge.removePort(plan.veth);
  for (const inp of port.ports.inputs) if (inp !== null) port.ports.removeIn(inp.name);
  for (const o of [...port.ports.outputs.keys()]) port.ports.removeOut(o);
  cluster.engine.remove(port);
}

/** What `join` made: the port wired to the bridge, and how to put the namespace's side back. */
interface Joined {
  port: TapPort;
  /** The TAP's name at creation, or the veth host end taken over (mode veth). */
  tapName: string;
  ifname: string;
  /** Mode veth: the host end's former bridge and arp_ignore, restored at detach. */
  restore: (() => Promise<void>) | null;
}

/**
 * Puts the pod's interface into `ns` and wires a port for it to the node bridge: a TAP as
 * eth0 (mode tap) or eth1 (mode second), or a packet socket on the host end of the veth
 * (mode veth, `probe` given). On failure everything made is removed again and the error
 * names the step.
 */
async function join(cluster: Cluster, plan: PodPlan, key: string, ns: ipx.NetnsRef & object | string, where: string, mode: AttachMode, probe: VethProbe | null, opts: AttachOptions): Promise<Joined> {
  const clusterName = cluster.plan.cluster.name;
  const node = cluster.node(plan.node);
  const e = cluster.engine;
  let tap: TapDevice | null = null;
  let dev: TapEndpoint | null = null;
  let port: TapPort | null = null;
  let restore: (() => Promise<void>) | null = null;
  const ifname = opts.ifname ?? (mode === 'second' ? 'eth1' : 'eth0');
  let tapName = tapNameFor(clusterName, key);
  let step = 'open the TAP device';
  try {
    if (probe !== null) {
      tapName = probe.hostIf;
      const hostWhere = probe.hostNs === undefined ? 'podwire\'s namespace' : `netns ${probe.hostNs}`;
      const undo: (() => Promise<void>)[] = [];
      restore = async () => { for (const u of undo.reverse()) await u().catch(() => undefined); };
      if (probe.master !== null) {
        step = `take ${probe.hostIf} (${hostWhere}) off its bridge ${probe.master}`;
        await ipx.ip(['link', 'set', 'dev', probe.hostIf, 'nomaster'], probe.hostNs);
        const m = probe.master;
        undo.push(() => ipx.ip(['link', 'set', 'dev', probe.hostIf, 'master', m], probe.hostNs).then(() => undefined));
      }
      step = `stop ${probe.hostIf} answering ARP for the host's addresses (arp_ignore)`;
      const key = `net.ipv4.conf.${probe.hostIf}.arp_ignore`;
      const old = await setSysctl(key, '8', probe.hostNs);
      undo.push(() => setSysctl(key, old, probe.hostNs).then(() => undefined));
      step = `open a packet socket on ${probe.hostIf} (${hostWhere})`;
      await ipx.setLinkUp(probe.hostIf, probe.hostNs);
      dev = PacketDevice.open(probe.hostIf, nsPathOf(probe.hostNs));
    } else {
      tap = TapDevice.open(tapName, opts.offloads === true
        ? { vnetHdr: true, offloads: TunOffload.Csum | TunOffload.Tso4 | TunOffload.Tso6, ...opts.tap }
        : opts.tap ?? {});
      dev = tap;
      step = 'set its alias, MAC and MTU';
      await ipx.ip(['link', 'set', 'dev', tapName, 'alias', tapAliasFor(clusterName, key)]);
      await ipx.setLinkMac(tapName, formatMac(plan.mac));
      await ipx.setLinkMtu(tapName, plan.mtu);
      step = `move it into ${where}`;
      await ipx.moveLinkToNetns(tapName, ns);
      step = mode === 'second'
        ? `rename it ${ifname} (does the namespace already have an ${ifname}?)`
        : `rename it ${ifname} (does the namespace already have an ${ifname}? a container needs --network none, or mode second to keep its own)`;
      await ipx.renameLink(tapName, ifname, ns);
      step = `configure its address, lo and ${mode === 'second' ? 'routes for the pod and service CIDRs' : 'the default route'}`;
      await ipx.addAddress(ifname, `${formatIpv4(plan.ip)}/${plan.prefixLength}`, ns);
      await ipx.setLinkUp('lo', ns);
      await ipx.setLinkUp(ifname, ns);
      if (mode === 'second') {
        // Only the cluster's ranges: the namespace keeps its own default route (Docker's eth0).
        for (const c of [cluster.plan.podCIDR, cluster.plan.serviceCIDR]) {
          await ipx.ip(['route', 'replace', formatCidr(c), 'via', formatIpv4(plan.gateway), 'dev', ifname], ns);
        }
      } else {
        await ipx.addDefaultRoute(formatIpv4(plan.gateway), { dev: ifname, netns: ns, replace: true });
      }
    }
    step = 'wire it to the node bridge';
    e.useWallClock();
    const p = new TapPort(e, `${plan.node}/${plan.veth}`, dev, {
      where: { node: plan.node, netns: 'root', device: plan.veth }, mtu: plan.mtu, peer: `${cluster.podDisplayName(key)}/${probe !== null ? (opts.ifname ?? 'eth0') : ifname}`,
    });
    port = p;
    e.add(p);
    node.bridge.addPort(plan.veth, { hairpin: cluster.plan.cluster.hairpinMode });
    connect(e, p.ports.out('out'), node.bridge.ports.in(plan.veth));
    connect(e, node.bridge.ports.out(plan.veth), p.ports.in('in'));
    return { port: p, tapName, ifname: probe !== null ? (opts.ifname ?? 'eth0') : ifname, restore };
  } catch (err) {
    dev?.close();
    if (port !== null) unwire(cluster, plan, port);
    if (restore !== null) await restore();
    const why = err instanceof Error ? err.message : String(err);
    throw Object.assign(new Error(`could not ${step}: ${why}`, { cause: err }), { step });
  }
}

/**
 * Joins a real namespace to the cluster as `pod`: a pod of the topology (by key, `target`
 * defaulting to its `attach:`) or a new pod (`spec`, `target` required). Resolves once the
 * device is configured and wired; on failure everything created is removed again.
 * A container target is found through its engine; when it restarts (new PID, new network
 * namespace) the pod joins the new namespace with the same address and MAC (`opts.serialize`
 * runs that step, e.g. under the controller's lock).
 */
export async function attachPod(cluster: Cluster, pod: string | AttachPodSpec, target?: AttachSpec, opts: AttachOptions = {}): Promise<AttachedPod> {
  if (typeof pod !== 'string' && target === undefined) throw new AttachError('target', undefined, `pod ${JSON.stringify(pod.name)}: a target ({ netns }, { pid } or { container }) is needed`);
  if (target !== undefined) await checkTarget(target);
  const key = typeof pod === 'string' ? pod : podKey({ name: pod.name, namespace: pod.namespace ?? 'default' });
  if (cluster.attached.has(key)) throw new AttachError('pod', key, `pod ${JSON.stringify(key)} is already attached`);
  const planned = typeof pod === 'string' ? cluster.plan.pods.find((p) => podKey(p) === pod) : undefined;
  const tgt0 = target ?? planned?.attach;
  if (target === undefined && tgt0 !== undefined) await checkTarget(tgt0);
  const mode: AttachMode = opts.mode ?? tgt0?.mode ?? 'tap';
  if (!ATTACH_MODES.includes(mode)) throw new AttachError('attach.mode', mode, `attach.mode: ${JSON.stringify(mode)} is not one of ${ATTACH_MODES.join(', ')}`);
  // The namespace first (a container: asked of its engine), so nothing is planned for a target that is not there.
  let ns: ipx.NetnsRef & object | string | undefined;
  let container: ContainerInfo | null = null;
  let probe: VethProbe | null = null;
  if (tgt0 !== undefined) {
    ({ ns, container } = await resolveNs(tgt0));
    if (mode === 'veth') {
      try { probe = await probeVeth(ns, opts.ifname ?? 'eth0', describeTarget(tgt0)); } catch (err) {
        throw new AttachError('attach.mode', mode, `attaching pod ${key} to ${describeTarget(tgt0)} in mode veth: ${(err as Error).message}`, err);
      }
    }
  }
  const spec = typeof pod === 'string' || probe === null || pod.ip !== undefined ? pod : { ...pod, ip: formatIpv4(probe.ip) };
  const { plan, added } = resolvePlan(cluster, spec, target);
  const tgt = target ?? plan.attach!;
  if (ns === undefined) ({ ns, container } = await resolveNs(tgt));
  const where = describeTarget(tgt);
  let joined: Joined;
  try {
    if (probe !== null) checkVethPlan(cluster, plan, probe, where);
    joined = await join(cluster, plan, key, ns, where, mode, probe, opts);
  } catch (err) {
    if (added) forgetPlan(cluster, plan);
    if (err instanceof AttachError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new AttachError('attach', tgt, `attaching pod ${key} to ${where}: ${why}`, (err as { cause?: unknown }).cause ?? err);
  }
  const a = makeAttached(cluster, key, plan, tgt, added, joined, ns, container, mode);
  cluster.attached.set(key, a);
  if (added) {
    cluster.services.sync();
    cluster.netpol.podsChanged();
  }
  if (container !== null) startWatch(cluster, key, tgt as { container: string; runtime?: ContainerRuntime }, container.id, mode, opts);
  cluster.impairments.applyPending(); // declared netem on this pod's interfaces
  return a;
}

/** Mode veth keeps the container's address: it must be the pod's, in the node's pod range, routed via its bridge. */
function checkVethPlan(cluster: Cluster, plan: PodPlan, probe: VethProbe, where: string): void {
  const node = cluster.node(plan.node).plan;
  if (!cidrContains(node.podCIDR, probe.ip)) {
    throw new AttachError('attach.mode', 'veth', `${where}: its eth0 has ${formatIpv4(probe.ip)}/${probe.prefix}, outside ${plan.node}'s pod CIDR ${formatCidr(node.podCIDR)}; mode veth keeps the container's address, so its network must use the node's range (e.g. docker network create --subnet ${formatCidr(node.podCIDR)} --gateway ${formatIpv4(node.bridgeIp)}), or use mode second`);
  }
  if (plan.ip !== probe.ip) {
    throw new AttachError('attach.mode', 'veth', `${where}: its eth0 has ${formatIpv4(probe.ip)} but pod ${plan.name} is planned with ${formatIpv4(plan.ip)}; give the pod ip: ${formatIpv4(probe.ip)}`);
  }
  if (probe.gateway !== null && probe.gateway !== node.bridgeIp) {
    throw new AttachError('attach.mode', 'veth', `${where}: its default route goes via ${formatIpv4(probe.gateway)}, not ${plan.node}'s bridge ${formatIpv4(node.bridgeIp)}; give its network that gateway, or use mode second`);
  }
  plan.mac = parseMac(probe.mac);
  plan.mtu = probe.mtu;
}

function makeAttached(cluster: Cluster, key: string, plan: PodPlan, tgt: AttachSpec, added: boolean, j: Joined, ns: ipx.NetnsRef & object | string, container: ContainerInfo | null, mode: AttachMode): AttachedPod {
  return {
    pod: key, plan, target: { ...tgt }, tapName: j.tapName, ifname: j.ifname, port: j.port, runtimeAdded: added, mode,
    netns: ns, container, restore: j.restore,
    resolvConf: resolvConfLines(cluster, plan.namespace),
    capturePoints: [`${plan.node}/${plan.veth}`, `${cluster.podDisplayName(key)}/${j.ifname}`],
    close: () => {
      (cluster.attached.get(key) as AttachedPod | undefined)?.watch?.close();
      j.port.close();
    },
  };
}

/** Watches a container for restarts: its pod joins the new namespace, same address and MAC. */
function startWatch(cluster: Cluster, key: string, tgt: { container: string; runtime?: ContainerRuntime }, id: string, mode: AttachMode, opts: AttachOptions): void {
  const runtime = tgt.runtime ?? 'docker';
  const serialize = opts.serialize ?? ((f: () => Promise<void>) => f());
  const w = watchContainer(id, runtime, () => {
    serialize(async () => {
      const a = cluster.attached.get(key) as AttachedPod | undefined;
      if (a === undefined || a.watch !== w) return;
      const c = await runningContainer(id, runtime).catch(() => null);
      if (c === null || (a.container !== null && c.pid === a.container.pid)) return;
      a.port.close();
      if (a.rejoinError === undefined) unwire(cluster, a.plan, a.port);
      await a.restore?.();
      const ns = { pid: c.pid };
      const where = describeTarget(tgt);
      try {
        const probe = mode === 'veth' ? await probeVeth(ns, opts.ifname ?? 'eth0', where) : null;
        if (probe !== null) checkVethPlan(cluster, a.plan, probe, where);
        const j = await join(cluster, a.plan, key, ns, where, mode, probe, opts);
        const b = { ...makeAttached(cluster, key, a.plan, a.target, a.runtimeAdded, j, ns, c, mode), watch: w, rejoins: (a.rejoins ?? 0) + 1 };
        cluster.attached.set(key, b);
      } catch (err) {
        a.rejoinError = `${where} restarted; joining its new namespace failed: ${(err as Error).message}`;
      }
    }).catch(() => undefined);
  });
  const a = cluster.attached.get(key) as AttachedPod;
  (a as { watch: ContainerWatch | null }).watch = w;
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
  a.watch?.close();
  a.port.close();
  if (a.rejoinError === undefined) unwire(cluster, a.plan, a.port); // a failed re-join unwired it already
  if (a.runtimeAdded) forgetPlan(cluster, a.plan);
  if (a.restore !== null) await a.restore();
  if (a.mode === 'veth') return; // the container's own eth0 is not podwire's: nothing of ours is in it
  const ns: ipx.NetnsRef = a.netns;
  const alias = tapAliasFor(cluster.plan.cluster.name, pod);
  for (const l of await listTaps(ns).catch(() => [])) {
    if (l.alias === alias) await ipx.deleteLink(l.name, ns).catch(() => undefined);
  }
}
