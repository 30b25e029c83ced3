/**
 * Pods for the control façade: a pod added (emulated, or attached when the body names a
 * target), removed (an attached one detached), its labels patched. Bodies are checked
 * before the cluster changes: the node emulated here, the name and IP free, no two apps
 * on one port and protocol, the dns app only with DNS records. Every function here runs
 * under the Controller's lock.
 */
import type { Cluster } from '../kube/cluster.js';
import { podKey } from '../kube/cluster.js';
import { canonicalPodKey } from '../kube/names.js';
import { DEFAULT_APP_PORTS } from '../kube/plan.js';
import type { AppType, AttachMode, PodPlan } from '../kube/types.js';
import { parseIpv4 } from '../wire/addr.js';
import { attachedTarget, doAttach, runDetach, type Serialize } from './attach.js';
import { badRequest, conflict, notAvailable, notFound, toControlError } from './errors.js';
import { attachTarget } from './inputs.js';
import { emulatedNode } from './nodes.js';
import { podView, type PodView } from './views.js';

export interface PodBody {
  name: string;
  node: string;
  namespace?: string;
  ip?: string;
  labels?: Record<string, string>;
  apps?: { type: AppType; port?: number }[];
  attach?: { netns?: string; pid?: number; container?: string; runtime?: 'docker' | 'podman'; mode?: AttachMode };
  ready?: boolean;
  terminating?: boolean;
  /** Container ports (`name`, `containerPort`, `protocol`): what named targetPorts and NetworkPolicy ports resolve to. */
  ports?: PodPlan['ports'];
}

/** PATCH /pods/:name: a merge patch of `metadata.labels` (RFC 7386: null removes the key). */
export interface PodPatchBody {
  labels: Record<string, string | null>;
}

const APP_PROTOCOLS: Readonly<Record<AppType, readonly string[]>> = { http: ['TCP'], 'tcp-echo': ['TCP'], 'udp-echo': ['UDP'], sctp: ['SCTP'], dns: ['UDP', 'TCP'] };

/** POST /pods. */
export async function addPod(c: Cluster, body: PodBody, serialize: Serialize): Promise<PodView> {
  const namespace = body.namespace ?? 'default';
  const key = podKey({ name: body.name, namespace });
  const node = emulatedNode(c, body.node, '/node');
  if (c.plan.pods.some((p) => podKey(p) === key)) throw conflict('/name', body.name, `is already a pod${namespace === 'default' ? '' : ` in namespace ${namespace}`}`);
  const ip = body.ip === undefined ? undefined : parseIpv4(body.ip);
  if (ip !== undefined && c.plan.pods.some((p) => p.ip === ip)) throw conflict('/ip', body.ip, 'is already used by another pod');
  const apps = (body.apps ?? []).map((a) => ({ type: a.type, port: a.port ?? DEFAULT_APP_PORTS[a.type] }));
  const seen = new Map<string, number>();
  apps.forEach((a, i) => {
    for (const proto of APP_PROTOCOLS[a.type]) {
      if (seen.has(`${proto}/${a.port}`)) throw conflict(`/apps/${i}/port`, a.port, `is already used by apps[${seen.get(`${proto}/${a.port}`)}] (${proto})`);
      seen.set(`${proto}/${a.port}`, i);
    }
  });
  if (apps.some((a) => a.type === 'dns') && c.dnsApp === null) throw notAvailable('the dns app', 'this cluster has no DNS records (services layer)');
  const fields = { 'pod IP': '/ip', [`node ${JSON.stringify(body.node)} podCIDR`]: '/ip' };
  if (body.attach !== undefined) {
    if (apps.length > 0) throw badRequest('/apps', body.apps, 'must be empty for an attached pod: the real namespace runs its own processes');
    const target = attachTarget(body.attach, '/attach');
    await doAttach(c, { name: body.name, namespace, node: node.plan.name, ...(body.ip !== undefined ? { ip: body.ip } : {}), ...(body.labels !== undefined ? { labels: body.labels } : {}) }, target, fields, serialize);
  } else {
    try {
      c.addPod({
        name: body.name, namespace, node: body.node, ...(ip !== undefined ? { ip } : {}), labels: body.labels ?? {}, apps,
        ...(body.ready !== undefined ? { ready: body.ready } : {}), ...(body.terminating !== undefined ? { terminating: body.terminating } : {}),
        ...(body.ports !== undefined ? { ports: body.ports } : {}),
      });
    } catch (e) {
      throw toControlError(e, fields);
    }
  }
  return podView(c, c.plan.pods.find((p) => podKey(p) === key)!, attachedTarget(c, key));
}

/** DELETE /pods/:name: an emulated pod removed, an attached one detached. */
export async function removePod(c: Cluster, ref: string): Promise<{ removed: string; detached: boolean }> {
  const name = canonicalPodKey(ref);
  if (c.attached.has(name)) {
    await runDetach(c, name);
    return { removed: name, detached: true };
  }
  if (!c.pods.has(name)) {
    if (c.plan.pods.some((p) => podKey(p) === name)) throw conflict('/name', ref, 'is not emulated by this podwire instance (on an external node, or an attach: pod not attached)');
    throw notFound('/name', ref, 'pod', c.plan.pods.map(podKey));
  }
  c.removePod(name);
  return { removed: name, detached: false };
}

/**
 * PATCH /pods/:name `{ labels: { key: value | null } }`: a merge patch of the pod's labels
 * (null removes a key). Services' endpoints and NetworkPolicies follow at once; tracked
 * connections keep going (Cluster.setPodLabels). A pod of another instance's node is a 409:
 * its labels are that instance's, and changing them here only would split the cluster.
 */
export function patchPod(c: Cluster, ref: string, body: PodPatchBody): PodView {
  const key = canonicalPodKey(ref);
  const plan = c.plan.pods.find((p) => podKey(p) === key);
  if (plan === undefined) throw notFound('/name', ref, 'pod', c.plan.pods.map(podKey));
  if (!c.nodes.has(plan.node)) throw conflict('/name', ref, `is not emulated by this podwire instance (node ${plan.node} is external)`);
  c.setPodLabels(key, body.labels);
  return podView(c, plan, attachedTarget(c, key));
}
