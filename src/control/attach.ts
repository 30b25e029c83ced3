/**
 * Attach for the control façade: a real network namespace, process or container joined to
 * the cluster as a pod (src/io/attach.ts) and detached again, its errors as ControlErrors
 * (inputs.ts attachError); the attach target a pod's view shows; `podwire cleanup`. Every
 * function here runs under the Controller's lock; a container's re-join after its restart
 * is queued on the same lock (`serialize`).
 */
import { attachPod, cleanupLeftovers, detachPod, type AttachedPod } from '../io/attach.js';
import type { Cluster } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { canonicalPodKey, parsePodRef } from '../kube/names.js';
import type { AttachMode, AttachSpec } from '../kube/types.js';
import { conflict, ControlError, notFound } from './errors.js';
import { attachError, attachTarget } from './inputs.js';
import { emulatedNode } from './nodes.js';
import { podView, type PodView } from './views.js';

export interface AttachBody {
  pod: string;
  netns?: string;
  pid?: number;
  /** A Docker or Podman container (name or id): its PID is asked of the engine, and again when it restarts. */
  container?: string;
  runtime?: 'docker' | 'podman';
  /** tap (default), second (eth1 beside the container's own network) or veth (take over its eth0's veth host end). */
  mode?: AttachMode;
  /** For a pod that is not in the topology: it is added on this node. */
  node?: string;
  namespace?: string;
  ip?: string;
  labels?: Record<string, string>;
  /** TAP offload mode (IFF_VNET_HDR, GSO pass-through); default: the topology's attach.offloads, else off. */
  offloads?: boolean;
}

/** Runs a step under the Controller's lock (Controller.serializer). */
export type Serialize = (fn: () => Promise<void>) => Promise<void>;

/** The attach target of pod `key` as its view shows it, or null when it is not attached. */
export function attachedTarget(c: Cluster, key: string): PodView['attached'] {
  const a = c.attached.get(key) as AttachedPod | undefined;
  if (a === undefined) return null;
  return {
    ...a.target, ...(a.mode !== 'tap' ? { mode: a.mode } : {}), interface: a.ifname,
    ...(a.container !== null ? { pid: a.container.pid, id: a.container.id, rejoins: a.rejoins ?? 0 } : {}),
  };
}

/** POST /attach: a planned pod attached, or a new one added on `node` and attached. */
export async function attach(c: Cluster, body: AttachBody, serialize: Serialize): Promise<PodView> {
  const target = attachTarget(body, '');
  // `pod` is a key (`name`, `name.namespace`), or the bare name when `namespace` is given.
  const ref = body.namespace === undefined ? parsePodRef(body.pod) : { name: body.pod, namespace: body.namespace };
  const namespace = ref.namespace;
  const key = podKey(ref);
  if (c.attached.has(key)) throw conflict('/pod', body.pod, 'is already attached');
  if (c.pods.has(key)) throw conflict('/pod', body.pod, 'is an emulated pod: remove it first (DELETE /pods/NAME) or attach under a new name');
  const planned = c.plan.pods.find((p) => podKey(p) === key);
  if (planned !== undefined) {
    emulatedNode(c, planned.node, '/pod');
    const offloads = body.offloads ?? planned.attach?.offloads;
    await doAttach(c, key, target, {}, serialize, offloads);
  } else {
    if (body.node === undefined) throw notFound('/pod', body.pod, 'pod (give node to add it)', c.plan.pods.map(podKey));
    emulatedNode(c, body.node, '/node');
    const spec = { name: ref.name, namespace, node: body.node, ...(body.ip !== undefined ? { ip: body.ip } : {}), ...(body.labels !== undefined ? { labels: body.labels } : {}) };
    await doAttach(c, spec, target, { 'pod IP': '/ip', [`node ${JSON.stringify(body.node)} podCIDR`]: '/ip' }, serialize, body.offloads);
  }
  return podView(c, c.plan.pods.find((p) => podKey(p) === key)!, attachedTarget(c, key));
}

/** DELETE /attach/:pod. */
export async function detach(c: Cluster, ref: string): Promise<{ detached: string }> {
  const pod = canonicalPodKey(ref);
  if (!c.attached.has(pod)) {
    throw notFound('/pod', ref, 'attached pod', c.attached.keys());
  }
  await runDetach(c, pod);
  return { detached: pod };
}

/** `podwire cleanup`: removes TAP devices a podwire left behind (idempotent). */
export async function cleanup(): Promise<{ removed: { netns: string; name: string }[]; failed: { netns: string; name: string; error: string }[] }> {
  try {
    return await cleanupLeftovers();
  } catch (e) {
    throw new ControlError(500, `cleanup failed: ${(e as Error).message}`);
  }
}

/** Attaches `pod` (a planned pod's key, or a new pod's spec); attach errors mapped with `fields`. */
export async function doAttach(
  c: Cluster, pod: Parameters<typeof attachPod>[1], target: AttachSpec, fields: Readonly<Record<string, string>>, serialize: Serialize, offloads?: boolean,
): Promise<void> {
  try {
    await attachPod(c, pod, target, { ...(offloads !== undefined ? { offloads } : {}), serialize });
  } catch (e) {
    throw attachError(e, fields);
  }
}

/** Detaches an attached pod, its errors as ControlErrors. */
export async function runDetach(c: Cluster, pod: string): Promise<void> {
  try {
    await detachPod(c, pod);
  } catch (e) {
    throw attachError(e, {});
  }
}
