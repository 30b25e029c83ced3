/**
 * Workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet) expanded into the pods their
 * controllers would create, with the names and labels Kubernetes gives them (names.ts):
 * a Deployment's ReplicaSet `<name>-<pod-template-hash>`, a StatefulSet's ordinals with
 * their hostnames, a DaemonSet's pod on every node whose taints it tolerates. A workload
 * whose pods (or ReplicaSets) are among the objects is not expanded again.
 */
import { selectorMatches } from '../selector.js';
import type { KubeObjects } from '../types.js';
import { NameGenerator, podTemplateHash } from './names.js';
import { emulatedNodeNames, tolerates, type NodeDraft } from './nodes.js';
import type { KubeEntry } from './objects.js';
import { annotate, podSpecOf, type PodFields, type PodList } from './pods.js';
import type { Origin, Reporter } from './reporter.js';
import { isInt, isObj, labelsOf, str, type Obj } from './values.js';

export const WORKLOADS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);

export interface WorkloadContext {
  r: Reporter;
  list: PodList;
  objects: KubeObjects;
  seed: number;
  /** `Kind/ns/name` of the owners named by the objects (objects.ts). */
  owners: Set<string>;
  nodes: NodeDraft[];
  podwireNodes: unknown[];
}

/** One workload's pods into `ctx.list` (none after an error, or when it is owned). */
export function expandWorkload(k: KubeEntry, ctx: WorkloadContext): void {
  const { r, list, objects, seed, owners, nodes, podwireNodes } = ctx;
  const o = k.at.obj;
  const spec = isObj(o['spec']) ? o['spec'] : {};
  const replicas = spec['replicas'] ?? 1;
  if (!isInt(replicas) || replicas < 0) {
    r.err(k.at, k.label, 'spec.replicas', replicas, `${String(replicas)} must be >= 0`);
    return;
  }
  const template = spec['template'];
  if (!isObj(template)) {
    r.err(k.at, k.label, 'spec.template', undefined, 'Required value');
    return;
  }
  const tlabels = labelsOf(template['metadata']);
  const sel = isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined;
  if (!isObj(spec['selector'])) {
    r.err(k.at, k.label, 'spec.selector', spec['selector'], 'Required value');
    return;
  }
  if (isObj(sel)) {
    const m: Record<string, string> = {};
    for (const [a, b] of Object.entries(sel)) m[a] = String(b);
    if (!selectorMatches(m, tlabels)) {
      r.err(k.at, k.label, 'spec.template.metadata.labels', tlabels, '`selector` does not match template `labels`');
      return;
    }
  }
  const ps = podSpecOf(r, k, template['spec'], 'spec.template.spec');
  if (ps === null) return;
  if (owners.has(`${k.kind}/${k.namespace}/${k.name}`)) return; // its pods (or ReplicaSets) are in the objects
  const probe: PodFields = { name: k.name, namespace: k.namespace, labels: {}, ports: ps.ports, apps: ps.apps, tolerations: [] };
  if (!annotate(r, k, template['metadata'], 'spec.template.metadata.annotations', probe)) return;
  if (probe.attach !== undefined) {
    r.err(k.at, k.label, 'spec.template.metadata.annotations', undefined, 'podwire.io/attach-* names one real namespace: only on a Pod');
    return;
  }
  ps.apps = probe.apps;
  const origin: Origin = { at: k.at, object: k.label, fields: { name: 'metadata.name', labels: 'spec.template.metadata.labels', apps: 'spec.template.spec.containers' } };
  const gen = new NameGenerator(seed, `${k.kind}/${k.namespace}/${k.name}`);
  const tspec = template['spec'] as Obj;
  const fixedNode = str(tspec['nodeName']);
  const base = { namespace: k.namespace, ports: ps.ports, apps: ps.apps, tolerations: ps.tolerations };
  const withNode = (d: PodFields): PodFields => (fixedNode !== undefined && fixedNode !== '' && d.node === undefined ? { ...d, node: fixedNode } : d);
  if (k.kind === 'Deployment') {
    // Deployment controller: ReplicaSet <name>-<pod-template-hash>, label pod-template-hash on its pods.
    const status = isObj(o['status']) ? o['status'] : {};
    const hash = podTemplateHash(template, isInt(status['collisionCount']) ? status['collisionCount'] : undefined);
    for (let i = 0; i < replicas; i++) {
      list.add(withNode({ ...base, name: list.takeName(k.namespace, `${k.name}-${hash}-`, gen), labels: { ...tlabels, 'pod-template-hash': hash } }), origin, ps.hostNetwork);
    }
  } else if (k.kind === 'ReplicaSet') {
    for (let i = 0; i < replicas; i++) list.add(withNode({ ...base, name: list.takeName(k.namespace, `${k.name}-`, gen), labels: { ...tlabels } }), origin, ps.hostNetwork);
  } else if (k.kind === 'StatefulSet') {
    // StatefulSet controller: ordinal names, the pod-name and pod-index labels, hostname = name.
    const serviceName = str(spec['serviceName']);
    for (let i = 0; i < replicas; i++) {
      const name = list.takeName(k.namespace, `${k.name}-${i}`, null);
      objects.hostnames[`${k.namespace}/${name}`] = { hostname: name, ...(serviceName !== undefined && serviceName !== '' ? { subdomain: serviceName } : {}) };
      const dns = serviceName !== undefined && serviceName !== '' ? { hostname: name, subdomain: serviceName } : {};
      list.add(withNode({ ...base, name, ...dns, labels: { ...tlabels, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i) } }), origin, ps.hostNetwork);
    }
  } else {
    // DaemonSet: one pod per (emulated, schedulable for it) node; replicas does not apply.
    const names = emulatedNodeNames(nodes, podwireNodes);
    names.forEach((node, i) => {
      const taints = nodes[i]?.taints ?? [];
      if (taints.some((t) => !tolerates(ps.tolerations, t))) return;
      list.add({ ...base, name: list.takeName(k.namespace, `${k.name}-`, gen), labels: { ...tlabels }, node }, origin, ps.hostNetwork);
    });
  }
}
