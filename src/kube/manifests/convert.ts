/**
 * Kubernetes objects -> a podwire topology document (one model, two front doors). The
 * document then goes through podwire's own validation (topology.ts) like a topology file;
 * its errors are mapped back onto the objects (`origins`) so they name file, line, object and
 * Kubernetes field path:
 *
 *     deploy.yaml:14: Deployment/default/web: spec.replicas: -1 must be >= 0
 *
 * Kinds: Namespace, Node, Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Service are
 * modelled; NetworkPolicy is enforced (and also kept as data); an EndpointSlice gives its
 * Service's endpoints (slices.ts; also kept as data, `KubeObjects`); anything else is listed once as ignored. Workloads become pods with
 * the names Kubernetes gives (names.ts), placed as the default scheduler would in the simple
 * case: fewest pods first, ties by node order, taints honoured.
 */
import { cidrContains, cidrOf, formatCidr, tryParseIpv4 } from '../../wire/addr.js';
import { NODE_PORT_MAX, NODE_PORT_MIN } from '../ipam.js';
import { selectorMatches } from '../selector.js';
import type { AppSpec, AttachSpec, KubeObjects, TopologyError } from '../types.js';

export type { KubeObjects } from '../types.js';
import { NameGenerator, podTemplateHash } from './names.js';
import { lineOf } from './source.js';
import { parseEndpointSlice, type ParsedSlice } from './slices.js';
import type { SourceObject } from './source.js';

/** What a path of the generated document stands for: the object, and how its fields are named there. */
export interface Origin {
  at: SourceObject;
  /** `Kind/ns/name`, or '' for podwire's own cluster document. */
  object: string;
  /** podwire field (first segment after `pods[i].` etc.) -> Kubernetes field path. */
  fields: Record<string, string>;
  /** Service ports: podwire port index -> index in spec.ports. */
  portIndex?: number[];
}

export interface Converted {
  document: Record<string, unknown>;
  /** `pods[3]` / `services[0]` / `nodes[1]` / `cluster` -> where it came from. */
  origins: Map<string, Origin>;
  errors: TopologyError[];
  warnings: TopologyError[];
  objects: KubeObjects;
  /** `EndpointSlice/ns/name` -> where it is (for the warnings about its addresses, index.ts). */
  slices: Map<string, SourceObject>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const q = (v: unknown): string => JSON.stringify(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

const DNS_LABELS_KEY = 'k8s-app';
const WORKLOADS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);
const STORED = new Set(['NetworkPolicy', 'EndpointSlice']);
/** The well-known zone label (k8s.io/api/core/v1 LabelTopologyZone). */
const ZONE_LABEL = 'topology.kubernetes.io/zone';

interface Taint { key: string; value?: string; effect: string }
interface Toleration { key?: string; operator?: string; value?: string; effect?: string }

interface NodeDraft { name: string; ip?: string; podCIDR?: string; taints: Taint[]; unschedulable: boolean }

interface ContainerPort { name?: string; port: number; protocol: string }

interface PodDraft {
  name: string;
  namespace: string;
  node?: string;
  ip?: string;
  labels: Record<string, string>;
  ports: ContainerPort[];
  apps: AppSpec[];
  tolerations: Toleration[];
  attach?: AttachSpec;
  /** spec.hostname / spec.subdomain (StatefulSet: the pod name / spec.serviceName): DNS names under a headless Service. */
  hostname?: string;
  subdomain?: string;
  /** status.conditions Ready not "True" (a manifest without status: ready, as an emulated pod runs). */
  ready?: false;
  /** metadata.deletionTimestamp set: the pod is terminating. */
  terminating?: true;
  origin: Origin;
}

class Reporter {
  readonly errors: TopologyError[] = [];
  readonly warnings: TopologyError[] = [];
  private add(list: TopologyError[], at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    const e: TopologyError = { path, value, message };
    if (object !== '') e.object = object;
    if (at !== undefined) {
      e.source = at.source;
      e.line = lineOf(at, path);
    }
    list.push(e);
  }
  err(at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    this.add(this.errors, at, object, path, value, message);
  }
  warn(at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    this.add(this.warnings, at, object, path, value, message);
  }
}

/** The smallest CIDR with a prefix of at most `maxPrefix` holding every address. */
function cover(ips: number[], maxPrefix: number): string | undefined {
  if (ips.length === 0) return undefined;
  for (let p = maxPrefix; p >= 0; p--) {
    const c = cidrOf(ips[0]!, p);
    if (ips.every((ip) => cidrContains(c, ip))) return formatCidr(c);
  }
  return undefined;
}

function labelsOf(meta: unknown): Record<string, string> {
  const l = isObj(meta) ? meta['labels'] : undefined;
  const out: Record<string, string> = {};
  if (isObj(l)) for (const [k, v] of Object.entries(l)) out[k] = String(v);
  return out;
}

function tolerates(tolerations: Toleration[], t: Taint): boolean {
  return tolerations.some((o) => (o.effect === undefined || o.effect === '' || o.effect === t.effect) && (o.operator === 'Exists'
    ? o.key === undefined || o.key === '' || o.key === t.key
    : o.key === t.key && (o.value ?? '') === (t.value ?? '')));
}

export function convert(all: SourceObject[]): Converted {
  const r = new Reporter();
  const origins = new Map<string, Origin>();
  const objects: KubeObjects = { networkPolicies: [], endpointSlices: [], sliceEndpoints: {}, services: [], zones: {}, hostnames: {}, ignored: {} };

  // --- podwire's own document: cluster (and nodes when there are no Node objects) --------
  let clusterDoc: Obj = {};
  let clusterAt: SourceObject | undefined;
  let podwireNodes: unknown[] = [];
  const kube: { at: SourceObject; kind: string; name: string; namespace: string; label: string }[] = [];
  const seen = new Map<string, SourceObject>();
  for (const at of all) {
    const o = at.obj;
    if (o['apiVersion'] === undefined && o['kind'] === undefined) {
      const extra = Object.keys(o).filter((k) => k !== 'cluster' && k !== 'nodes');
      if (extra.length > 0) {
        r.err(at, '', extra[0]!, extra[0], `unknown field ${q(extra[0])}: a document without apiVersion and kind is podwire's (cluster:, nodes:)`);
      } else if (clusterAt !== undefined) {
        r.err(at, '', '', undefined, `a second podwire document (the first is at ${clusterAt.source}:${clusterAt.line})`);
      } else {
        clusterAt = at;
        if (isObj(o['cluster'])) clusterDoc = o['cluster'];
        else if (o['cluster'] !== undefined) r.err(at, '', 'cluster', o['cluster'], `${q(o['cluster'])} must be a mapping`);
        if (Array.isArray(o['nodes'])) podwireNodes = o['nodes'];
        else if (o['nodes'] !== undefined) r.err(at, '', 'nodes', o['nodes'], `${q(o['nodes'])} must be a list`);
      }
      continue;
    }
    const kind = str(o['kind']);
    const meta = o['metadata'];
    const name = isObj(meta) ? str(meta['name']) ?? (kind === 'Pod' ? str(meta['generateName']) : undefined) : undefined;
    const namespace = isObj(meta) ? str(meta['namespace']) ?? 'default' : 'default';
    if (kind === undefined || str(o['apiVersion']) === undefined) {
      r.err(at, '', kind === undefined ? 'kind' : 'apiVersion', undefined, `missing required field ${q(kind === undefined ? 'kind' : 'apiVersion')}`);
      continue;
    }
    if (name === undefined) {
      r.err(at, kind, 'metadata.name', undefined, 'Required value: name or generateName is required');
      continue;
    }
    const clusterScoped = kind === 'Namespace' || kind === 'Node';
    const label = clusterScoped ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
    const first = seen.get(label);
    if (first !== undefined && !(kind === 'Pod' && str((meta as Obj)['name']) === undefined)) {
      r.err(at, label, 'metadata.name', name, `${q(name)} is defined twice (first at ${first.source}:${first.line})`);
      continue;
    }
    seen.set(label, at);
    kube.push({ at, kind, name, namespace, label });
  }
  const dnsReplicas = isInt(clusterDoc['dnsReplicas']) ? clusterDoc['dnsReplicas'] : 1;
  const seed = isInt(clusterDoc['seed']) ? clusterDoc['seed'] : 1;

  // Owned objects: a workload whose pods (or ReplicaSets) are in the objects is not expanded again.
  const owners = new Set<string>();
  for (const k of kube) {
    const refs = isObj(k.at.obj['metadata']) ? (k.at.obj['metadata'] as Obj)['ownerReferences'] : undefined;
    if (Array.isArray(refs)) for (const ref of refs) if (isObj(ref)) owners.add(`${String(ref['kind'])}/${k.namespace}/${String(ref['name'])}`);
  }

  // --- namespaces and nodes ---------------------------------------------------------------
  const namespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  const nodes: NodeDraft[] = [];
  const nodeOrigin: Origin[] = [];
  for (const k of kube) {
    const o = k.at.obj;
    if (k.kind === 'Namespace') namespaces.add(k.name);
    if (k.kind !== 'Node') continue;
    const spec = isObj(o['spec']) ? o['spec'] : {};
    const status = isObj(o['status']) ? o['status'] : {};
    const n: NodeDraft = { name: k.name, taints: [], unschedulable: spec['unschedulable'] === true };
    const podCIDR = str(spec['podCIDR']);
    if (podCIDR !== undefined && podCIDR !== '') n.podCIDR = podCIDR;
    const addrs = Array.isArray(status['addresses']) ? status['addresses'] : [];
    const internal = addrs.findIndex((a) => isObj(a) && a['type'] === 'InternalIP' && tryParseIpv4(String(a['address'])) !== null);
    const fields: Record<string, string> = { name: 'metadata.name', podCIDR: 'spec.podCIDR', ip: 'status.addresses' };
    if (internal >= 0) {
      n.ip = String((addrs[internal] as Obj)['address']);
      fields['ip'] = `status.addresses[${internal}].address`;
    }
    if (Array.isArray(spec['taints'])) {
      for (const t of spec['taints']) if (isObj(t) && (t['effect'] === 'NoSchedule' || t['effect'] === 'NoExecute')) {
        const taint: Taint = { key: String(t['key'] ?? ''), effect: String(t['effect']) };
        if (t['value'] !== undefined) taint.value = String(t['value']);
        n.taints.push(taint);
      }
    }
    const zone = labelsOf(o['metadata'])[ZONE_LABEL];
    if (zone !== undefined) objects.zones[k.name] = zone;
    nodes.push(n);
    nodeOrigin.push({ at: k.at, object: k.label, fields });
  }
  const podwireNodeCount = 2;

  // --- pods: bare pods, then workloads --------------------------------------------------
  const pods: PodDraft[] = [];
  const podNames = new Set<string>();
  const takeName = (ns: string, base: string, gen: NameGenerator | null): string => {
    let name = gen === null ? base : gen.generate(base);
    while (gen !== null && podNames.has(`${ns}/${name}`)) name = gen.generate(base); // the controller retries a taken name
    podNames.add(`${ns}/${name}`);
    return name;
  };
  /** Nodes pods can be placed on, in node order: Node objects, else podwire's nodes: (not the external ones), else node1, node2. */
  const emulatedNodeNames = (): string[] => nodes.length > 0
    ? nodes.map((n) => n.name)
    : podwireNodes.length > 0
      ? podwireNodes.filter((n) => isObj(n) && n['external'] !== true).map((n) => String((n as Obj)['name']))
      : Array.from({ length: podwireNodeCount }, (_, i) => `node${i + 1}`);

  /** Reads a pod spec (of a Pod or a template) into ports, apps and tolerations; errors at `base`. */
  const podSpecOf = (k: (typeof kube)[number], spec: unknown, base: string): Pick<PodDraft, 'ports' | 'apps' | 'tolerations'> & { hostNetwork: boolean } | null => {
    if (!isObj(spec)) {
      r.err(k.at, k.label, base, undefined, 'Required value');
      return null;
    }
    const containers = spec['containers'];
    if (!Array.isArray(containers) || containers.length === 0) {
      r.err(k.at, k.label, `${base}.containers`, containers, 'Required value: must have at least one container');
      return null;
    }
    const ports: ContainerPort[] = [];
    const apps: AppSpec[] = [];
    const listening = new Set<string>();
    let ok = true;
    // The containers, then the sidecars (init containers with restartPolicy Always): the order
    // FindPort searches a named targetPort in (pkg/api/v1/pod/util.go), first match winning.
    const inits = Array.isArray(spec['initContainers']) ? spec['initContainers'] : [];
    const all = [
      ...containers.map((c, ci) => ({ c, where: `containers[${ci}]` })),
      ...inits.map((c, ci) => ({ c, where: `initContainers[${ci}]` })).filter(({ c }) => isObj(c) && c['restartPolicy'] === 'Always'),
    ];
    all.forEach(({ c, where }) => {
      const list = isObj(c) ? c['ports'] : undefined;
      if (!Array.isArray(list)) return;
      list.forEach((p, pi) => {
        const at = `${base}.${where}.ports[${pi}]`;
        if (!isObj(p)) return;
        const port = p['containerPort'];
        const protocol = p['protocol'] === undefined ? 'TCP' : String(p['protocol']);
        if (!isInt(port) || port < 1 || port > 65535) {
          r.err(k.at, k.label, `${at}.containerPort`, port, `${q(port)} must be between 1 and 65535, inclusive`);
          ok = false;
          return;
        }
        if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) {
          r.err(k.at, k.label, `${at}.protocol`, protocol, `${q(protocol)}: supported values: "SCTP", "TCP", "UDP"`);
          ok = false;
          return;
        }
        const cp: ContainerPort = { port, protocol };
        if (typeof p['name'] === 'string') cp.name = p['name'];
        ports.push(cp);
        if (listening.has(`${protocol}/${port}`)) return;
        listening.add(`${protocol}/${port}`);
        // An emulated container answers on every port it declares: TCP with podwire's HTTP app
        // (it answers with the pod's name), UDP with echo, SCTP with INIT ACK to an INIT.
        apps.push({ type: protocol === 'TCP' ? 'http' : protocol === 'UDP' ? 'udp-echo' : 'sctp', port });
      });
    });
    if (!ok) return null;
    const tolerations = Array.isArray(spec['tolerations']) ? (spec['tolerations'] as unknown[]).filter(isObj).map((t) => t as Toleration) : [];
    return { ports, apps, tolerations, hostNetwork: spec['hostNetwork'] === true };
  };

  /**
   * podwire's annotations: `podwire.io/apps: "tcp-echo:7,udp-echo:5353"` replaces the apps the
   * container ports would start; `podwire.io/attach-netns: NAME` / `podwire.io/attach-pid: PID`
   * make the pod a real network namespace (docs/attach.md). False after an error.
   */
  const annotate = (k: (typeof kube)[number], meta: unknown, base: string, d: Omit<PodDraft, 'origin'>): boolean => {
    const ann = isObj(meta) && isObj(meta['annotations']) ? meta['annotations'] : {};
    const apps = ann['podwire.io/apps'];
    if (apps !== undefined) {
      d.apps = [];
      for (const item of String(apps).split(',').map((x) => x.trim()).filter((x) => x !== '')) {
        const m = /^(http|tcp-echo|udp-echo):([0-9]{1,5})$/.exec(item);
        if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
          r.err(k.at, k.label, `${base}["podwire.io/apps"]`, apps, `${q(item)} must be TYPE:PORT with TYPE http, tcp-echo or udp-echo`);
          return false;
        }
        d.apps.push({ type: m[1] as AppSpec['type'], port: Number(m[2]) });
      }
    }
    const netns = ann['podwire.io/attach-netns'];
    const pid = ann['podwire.io/attach-pid'];
    if (netns !== undefined) d.attach = { netns: String(netns) };
    else if (pid !== undefined) d.attach = { pid: Number(pid) };
    if (d.attach !== undefined) d.apps = []; // the real namespace runs its own processes
    return true;
  };

  const addPod = (d: Omit<PodDraft, 'origin'>, origin: Origin, hostNetwork: boolean): void => {
    if (hostNetwork) {
      r.warn(origin.at, origin.object, 'spec.hostNetwork', true, `pod ${q(d.name)} shares its node's network namespace: not emulated as a pod`);
      return;
    }
    if (dnsReplicas > 0 && d.namespace === 'kube-system' && d.labels[DNS_LABELS_KEY] === 'kube-dns') {
      r.warn(origin.at, origin.object, 'metadata.labels', d.labels, `pod ${q(d.name)} is cluster DNS: podwire runs its own kube-dns (cluster.dnsReplicas)`);
      return;
    }
    pods.push({ ...d, origin });
  };

  for (const k of kube) {
    const o = k.at.obj;
    if (k.kind === 'Pod') {
      const meta = o['metadata'] as Obj;
      const spec = o['spec'];
      const ps = podSpecOf(k, spec, 'spec');
      if (ps === null) continue;
      const status = isObj(o['status']) ? o['status'] : {};
      if (status['phase'] === 'Succeeded' || status['phase'] === 'Failed') {
        r.warn(k.at, k.label, 'status.phase', status['phase'], `${q(status['phase'])}: the pod is not running, not emulated`);
        continue;
      }
      const explicit = str(meta['name']);
      const name = explicit !== undefined ? takeName(k.namespace, explicit, null) : takeName(k.namespace, k.name, new NameGenerator(seed, `Pod/${k.namespace}/${k.name}`));
      const d: Omit<PodDraft, 'origin'> = { name, namespace: k.namespace, labels: labelsOf(meta), ...ps };
      if (!annotate(k, meta, 'metadata.annotations', d)) continue;
      const node = str((spec as Obj)['nodeName']);
      if (node !== undefined && node !== '') d.node = node;
      const ip = str(status['podIP']);
      if (ip !== undefined && ip !== '') d.ip = ip;
      // The EndpointSlice controller reads these (podToEndpoint): serving = Ready, terminating = deletionTimestamp.
      const readyCond = Array.isArray(status['conditions']) ? status['conditions'].filter(isObj).find((c) => c['type'] === 'Ready') : undefined;
      if (readyCond !== undefined && readyCond['status'] !== 'True') d.ready = false;
      if (meta['deletionTimestamp'] !== undefined && meta['deletionTimestamp'] !== null) d.terminating = true;
      const hostname = str((spec as Obj)['hostname']);
      const subdomain = str((spec as Obj)['subdomain']);
      if (hostname !== undefined || subdomain !== undefined) {
        objects.hostnames[`${k.namespace}/${name}`] = { hostname: hostname ?? name, ...(subdomain !== undefined ? { subdomain } : {}) };
      }
      if (hostname !== undefined && hostname !== '') d.hostname = hostname;
      if (subdomain !== undefined && subdomain !== '') d.subdomain = subdomain;
      addPod(d, { at: k.at, object: k.label, fields: { name: 'metadata.name', node: 'spec.nodeName', ip: 'status.podIP', labels: 'metadata.labels', apps: 'spec.containers', attach: 'metadata.annotations' } }, ps.hostNetwork);
      continue;
    }
    if (!WORKLOADS.has(k.kind)) continue;
    const spec = isObj(o['spec']) ? o['spec'] : {};
    const replicas = spec['replicas'] ?? 1;
    if (!isInt(replicas) || replicas < 0) {
      r.err(k.at, k.label, 'spec.replicas', replicas, `${String(replicas)} must be >= 0`);
      continue;
    }
    const template = spec['template'];
    if (!isObj(template)) {
      r.err(k.at, k.label, 'spec.template', undefined, 'Required value');
      continue;
    }
    const tlabels = labelsOf(template['metadata']);
    const sel = isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined;
    if (!isObj(spec['selector'])) {
      r.err(k.at, k.label, 'spec.selector', spec['selector'], 'Required value');
      continue;
    }
    if (isObj(sel)) {
      const m: Record<string, string> = {};
      for (const [a, b] of Object.entries(sel)) m[a] = String(b);
      if (!selectorMatches(m, tlabels)) {
        r.err(k.at, k.label, 'spec.template.metadata.labels', tlabels, '`selector` does not match template `labels`');
        continue;
      }
    }
    const ps = podSpecOf(k, template['spec'], 'spec.template.spec');
    if (ps === null) continue;
    if (owners.has(`${k.kind}/${k.namespace}/${k.name}`)) continue; // its pods (or ReplicaSets) are in the objects
    const probe: Omit<PodDraft, 'origin'> = { name: k.name, namespace: k.namespace, labels: {}, ports: ps.ports, apps: ps.apps, tolerations: [] };
    if (!annotate(k, template['metadata'], 'spec.template.metadata.annotations', probe)) continue;
    if (probe.attach !== undefined) {
      r.err(k.at, k.label, 'spec.template.metadata.annotations', undefined, 'podwire.io/attach-* names one real namespace: only on a Pod');
      continue;
    }
    ps.apps = probe.apps;
    const origin: Origin = { at: k.at, object: k.label, fields: { name: 'metadata.name', labels: 'spec.template.metadata.labels', apps: 'spec.template.spec.containers' } };
    const gen = new NameGenerator(seed, `${k.kind}/${k.namespace}/${k.name}`);
    const tspec = template['spec'] as Obj;
    const fixedNode = str(tspec['nodeName']);
    const base = { namespace: k.namespace, ports: ps.ports, apps: ps.apps, tolerations: ps.tolerations };
    const withNode = (d: Omit<PodDraft, 'origin'>): Omit<PodDraft, 'origin'> => (fixedNode !== undefined && fixedNode !== '' && d.node === undefined ? { ...d, node: fixedNode } : d);
    if (k.kind === 'Deployment') {
      // Deployment controller: ReplicaSet <name>-<pod-template-hash>, label pod-template-hash on its pods.
      const status = isObj(o['status']) ? o['status'] : {};
      const hash = podTemplateHash(template, isInt(status['collisionCount']) ? status['collisionCount'] : undefined);
      for (let i = 0; i < replicas; i++) {
        addPod(withNode({ ...base, name: takeName(k.namespace, `${k.name}-${hash}-`, gen), labels: { ...tlabels, 'pod-template-hash': hash } }), origin, ps.hostNetwork);
      }
    } else if (k.kind === 'ReplicaSet') {
      for (let i = 0; i < replicas; i++) addPod(withNode({ ...base, name: takeName(k.namespace, `${k.name}-`, gen), labels: { ...tlabels } }), origin, ps.hostNetwork);
    } else if (k.kind === 'StatefulSet') {
      // StatefulSet controller: ordinal names, the pod-name and pod-index labels, hostname = name.
      const serviceName = str(spec['serviceName']);
      for (let i = 0; i < replicas; i++) {
        const name = takeName(k.namespace, `${k.name}-${i}`, null);
        objects.hostnames[`${k.namespace}/${name}`] = { hostname: name, ...(serviceName !== undefined && serviceName !== '' ? { subdomain: serviceName } : {}) };
        const dns = serviceName !== undefined && serviceName !== '' ? { hostname: name, subdomain: serviceName } : {};
        addPod(withNode({ ...base, name, ...dns, labels: { ...tlabels, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i) } }), origin, ps.hostNetwork);
      }
    } else {
      // DaemonSet: one pod per (emulated, schedulable for it) node; replicas does not apply.
      const names = emulatedNodeNames();
      names.forEach((node, i) => {
        const taints = nodes[i]?.taints ?? [];
        if (taints.some((t) => !tolerates(ps.tolerations, t))) return;
        addPod({ ...base, name: takeName(k.namespace, `${k.name}-`, gen), labels: { ...tlabels }, node }, origin, ps.hostNetwork);
      });
    }
  }

  // --- scheduling: fewest pods first, ties by node order --------------------------------
  const nodeNames = emulatedNodeNames();
  const load = new Map(nodeNames.map((n) => [n, 0]));
  for (let i = 0; i < dnsReplicas && nodeNames.length > 0; i++) {
    const n = nodeNames[i % nodeNames.length]!; // podwire's kube-dns pods (ipam.ts dnsPods)
    load.set(n, (load.get(n) ?? 0) + 1);
  }
  for (const p of pods) if (p.node !== undefined && load.has(p.node)) load.set(p.node, load.get(p.node)! + 1);
  for (const p of pods) {
    if (p.node !== undefined) continue;
    let best: string | undefined;
    nodeNames.forEach((n, i) => {
      const d = nodes[i];
      if (d !== undefined && (d.unschedulable || d.taints.some((t) => !tolerates(p.tolerations, t)))) return;
      if (best === undefined || load.get(n)! < load.get(best)!) best = n;
    });
    if (best === undefined) {
      r.err(p.origin.at, p.origin.object, 'spec', undefined, `0/${nodeNames.length} nodes are available for pod ${q(p.name)} (untolerated taints or unschedulable)`);
      continue;
    }
    p.node = best;
    load.set(best, load.get(best)! + 1);
  }
  for (const k of kube) if (!['Namespace', 'Node'].includes(k.kind) && !namespaces.has(k.namespace)) {
    r.warn(k.at, k.label, 'metadata.namespace', k.namespace, `namespace ${q(k.namespace)} is not among the objects`);
  }

  // --- services ---------------------------------------------------------------------------
  const services: Obj[] = [];
  const serviceOrigin: Origin[] = [];
  const nodePortOwner = new Map<number, string>();
  const slices: { k: (typeof kube)[number]; parsed: ParsedSlice }[] = [];
  const sliceAt = new Map<string, SourceObject>();
  for (const k of kube) {
    const o = k.at.obj;
    if (k.kind === 'NetworkPolicy') objects.networkPolicies.push(o);
    else if (k.kind === 'EndpointSlice') {
      objects.endpointSlices.push(o);
      const parsed = parseEndpointSlice(o, k.label, {
        err: (path, value, message) => r.err(k.at, k.label, path, value, message),
        warn: (path, value, message) => r.warn(k.at, k.label, path, value, message),
      });
      if (parsed !== null) slices.push({ k, parsed });
    }
    if (STORED.has(k.kind) || k.kind === 'Namespace' || k.kind === 'Node' || k.kind === 'Pod' || WORKLOADS.has(k.kind)) continue;
    if (k.kind !== 'Service') {
      objects.ignored[k.kind] = (objects.ignored[k.kind] ?? 0) + 1;
      continue;
    }
    if (k.namespace === 'default' && k.name === 'kubernetes') continue; // the API server's service: podwire keeps .1 for it
    if (dnsReplicas > 0 && k.namespace === 'kube-system' && k.name === 'kube-dns') {
      r.warn(k.at, k.label, 'metadata.name', k.name, 'podwire runs its own kube-dns service (cluster.dnsReplicas)');
      continue;
    }
    const one = serviceOf(k, r, objects, nodePortOwner);
    if (one === null) continue;
    services.push(one.svc);
    serviceOrigin.push(one.origin);
  }
  // EndpointSlices: their endpoints replace the selector's (slices.ts; services.ts uses them).
  const modelled = new Set(services.map((s) => `${String(s['namespace'])}/${String(s['name'])}`));
  for (const { k, parsed } of slices) {
    const key = `${k.namespace}/${parsed.service}`;
    if (!modelled.has(key)) {
      // The API server's own and podwire's kube-dns (its pods are podwire's) are not the objects' to set.
      const own = key === 'default/kubernetes' || (dnsReplicas > 0 && key === 'kube-system/kube-dns');
      if (!own) r.warn(k.at, k.label, 'metadata.labels', parsed.service, `Service ${q(key)} is not among the objects: the slice is not used`);
      continue;
    }
    (objects.sliceEndpoints[key] ??= []).push(...parsed.endpoints);
    sliceAt.set(k.label, k.at);
  }
  const ignored = Object.entries(objects.ignored);
  if (ignored.length > 0) {
    r.warn(undefined, '', '', objects.ignored, `ignored (podwire models the network only): ${ignored.map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
  }

  // --- the document -----------------------------------------------------------------------
  const cluster: Obj = { ...clusterDoc };
  const ipsOf = (xs: (string | undefined)[]): number[] => xs.map((x) => (x === undefined ? null : tryParseIpv4(x))).filter((x): x is number => x !== null);
  const nodeIps = ipsOf(nodes.map((n) => n.ip));
  if (cluster['nodeCIDR'] === undefined && nodeIps.length > 0 && !nodeIps.every((ip) => cidrContains(cidrOf(tryParseIpv4('192.168.56.0')!, 24), ip))) {
    const c = cover(nodeIps, 24);
    if (c !== undefined) cluster['nodeCIDR'] = c;
  }
  const rangeStarts = ipsOf(nodes.map((n) => n.podCIDR?.split('/')[0]));
  if (cluster['podCIDR'] === undefined && rangeStarts.length > 0 && !rangeStarts.every((ip) => cidrContains(cidrOf(tryParseIpv4('10.244.0.0')!, 16), ip))) {
    const c = cover(rangeStarts, 16);
    if (c !== undefined) cluster['podCIDR'] = c;
  }
  const vips = ipsOf(services.map((s) => str(s['clusterIP'])));
  if (cluster['serviceCIDR'] === undefined && vips.length > 0 && !vips.every((ip) => cidrContains(cidrOf(tryParseIpv4('10.96.0.0')!, 12), ip))) {
    const c = cover(vips, 12);
    if (c !== undefined) cluster['serviceCIDR'] = c;
  }
  if (clusterAt !== undefined) origins.set('cluster', { at: clusterAt, object: '', fields: {} });
  const docNodes: unknown[] = nodes.length > 0
    ? nodes.map((n) => ({
      name: n.name, ...(n.ip !== undefined ? { ip: n.ip } : {}), ...(n.podCIDR !== undefined ? { podCIDR: n.podCIDR } : {}),
      ...(objects.zones[n.name] !== undefined ? { zone: objects.zones[n.name] } : {}),
    }))
    : podwireNodes.length > 0 ? podwireNodes : nodeNames.map((name) => ({ name }));
  if (nodes.length > 0) nodeOrigin.forEach((o, i) => origins.set(`nodes[${i}]`, o));
  else if (clusterAt !== undefined && podwireNodes.length > 0) podwireNodes.forEach((_, i) => origins.set(`nodes[${i}]`, { at: clusterAt!, object: '', fields: {} }));
  const docPods = pods.filter((p) => p.node !== undefined).map((p, i) => {
    origins.set(`pods[${i}]`, p.origin);
    return { name: p.name, namespace: p.namespace, node: p.node, ...(p.ip !== undefined ? { ip: p.ip } : {}), labels: p.labels, apps: p.apps, ...(p.attach !== undefined ? { attach: p.attach } : {}),
      ...(p.hostname !== undefined ? { hostname: p.hostname } : {}), ...(p.subdomain !== undefined ? { subdomain: p.subdomain } : {}),
      ...(p.ready === false ? { ready: false } : {}), ...(p.terminating === true ? { terminating: true } : {}),
      ...(p.ports.length > 0 ? { ports: p.ports.map((c) => ({ ...(c.name !== undefined ? { name: c.name } : {}), containerPort: c.port, protocol: c.protocol })) } : {}) };
  });
  serviceOrigin.forEach((o, i) => origins.set(`services[${i}]`, o));
  // NetworkPolicy: enforced (src/kube/netpol), validated as the API server does; Namespaces: their labels (namespaceSelector).
  const docPolicies: Obj[] = [];
  const docNamespaces: Obj[] = [];
  for (const k of kube) {
    if (k.kind === 'NetworkPolicy') {
      const o = k.at.obj;
      const meta = isObj(o['metadata']) ? o['metadata'] : {};
      origins.set(`networkPolicies[${docPolicies.length}]`, { at: k.at, object: k.label, fields: {} });
      docPolicies.push({ apiVersion: o['apiVersion'], kind: o['kind'], metadata: { name: k.name, namespace: k.namespace, ...(isObj(meta['labels']) ? { labels: meta['labels'] } : {}) }, spec: o['spec'] });
    } else if (k.kind === 'Namespace') {
      docNamespaces.push({ name: k.name, labels: labelsOf(k.at.obj['metadata']) });
    }
  }
  const document: Obj = { cluster, nodes: docNodes, pods: docPods, services };
  if (docNamespaces.length > 0) document['namespaces'] = docNamespaces;
  if (docPolicies.length > 0) document['networkPolicies'] = docPolicies;
  return { document, origins, errors: r.errors, warnings: r.warnings, objects, slices: sliceAt };
}

/** One Service as podwire's model holds it, or null (an error, or a kind of Service stored as data). */
function serviceOf(
  k: { at: SourceObject; name: string; namespace: string; label: string }, r: Reporter, objects: KubeObjects,
  nodePortOwner: Map<number, string>,
): { svc: Obj; origin: Origin } | null {
  const o = k.at.obj;
  const spec = isObj(o['spec']) ? o['spec'] : {};
  const type = spec['type'] === undefined ? 'ClusterIP' : String(spec['type']);
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) {
    r.err(k.at, k.label, 'spec.type', type, `${q(type)}: supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`);
    return null;
  }
  const clusterIP = str(spec['clusterIP']);
  if (type === 'ExternalName') {
    const ext = str(spec['externalName']);
    if (ext === undefined || ext === '') {
      r.err(k.at, k.label, 'spec.externalName', spec['externalName'], 'Required value');
      return null;
    }
    return { svc: { name: k.name, namespace: k.namespace, type, externalName: ext }, origin: { at: k.at, object: k.label, fields: { name: 'metadata.name', externalName: 'spec.externalName' } } };
  }
  const selector: Record<string, string> = {};
  if (isObj(spec['selector'])) for (const [a, b] of Object.entries(spec['selector'])) selector[a] = String(b);
  const rawPorts = Array.isArray(spec['ports']) ? spec['ports'] : [];
  if (rawPorts.length === 0 && clusterIP !== 'None') {
    r.err(k.at, k.label, 'spec.ports', spec['ports'], 'Required value');
    return null;
  }
  const ports: Obj[] = [];
  const portIndex: number[] = [];
  let bad = false;
  rawPorts.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (!isObj(p)) return;
    const protocol = p['protocol'] === undefined ? 'TCP' : String(p['protocol']);
    const port = p['port'];
    if (!isInt(port) || port < 1 || port > 65535) {
      r.err(k.at, k.label, `${at}.port`, port, `${q(port)} must be between 1 and 65535, inclusive`);
      bad = true;
      return;
    }
    if (rawPorts.length > 1 && typeof p['name'] !== 'string') {
      r.err(k.at, k.label, `${at}.name`, undefined, 'Required value');
      bad = true;
    }
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      r.err(k.at, k.label, `${at}.protocol`, protocol, `${q(protocol)}: supported values: "SCTP", "TCP", "UDP"`);
      bad = true;
      return;
    }
    const out: Obj = { port, protocol };
    if (typeof p['name'] === 'string') out['name'] = p['name'];
    // targetPort: a number, or a container port's name, kept as a name: services.ts resolves it
    // on each selected pod as the EndpointSlice controller does (endpoint-ports.ts, FindPort),
    // and the topology check warns when no selected pod has it; absent: the port itself.
    const tp = p['targetPort'];
    if (isInt(tp)) out['targetPort'] = tp;
    else if (typeof tp === 'string' && /^[0-9]+$/.test(tp)) out['targetPort'] = Number(tp);
    else if (typeof tp === 'string') out['targetPort'] = tp;
    else if (tp !== undefined) {
      r.err(k.at, k.label, `${at}.targetPort`, tp, `${q(tp)} must be a port number or a port name`);
      bad = true;
    }
    const np = p['nodePort'];
    if (np !== undefined && np !== 0) {
      if (type === 'ClusterIP') {
        r.err(k.at, k.label, `${at}.nodePort`, np, "Forbidden: may not be used when `type` is 'ClusterIP'");
        bad = true;
      } else if (!isInt(np) || np < NODE_PORT_MIN || np > NODE_PORT_MAX) {
        r.err(k.at, k.label, `${at}.nodePort`, np, `${String(np)}: provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
        bad = true;
      } else {
        const owner = nodePortOwner.get(np);
        if (owner !== undefined && owner !== k.label) {
          r.err(k.at, k.label, `${at}.nodePort`, np, `${np}: provided port is already allocated`);
          bad = true;
        } else {
          nodePortOwner.set(np, k.label);
          out['nodePort'] = np;
        }
      }
    }
    ports.push(out);
    portIndex.push(i);
  });
  if (bad || (ports.length === 0 && clusterIP !== 'None')) return null;
  const svc: Obj = { name: k.name, namespace: k.namespace, type, selector, ports };
  if (clusterIP !== undefined && clusterIP !== '') svc['clusterIP'] = clusterIP;
  const affinity = spec['sessionAffinity'] ?? 'None';
  if (affinity !== 'None' && affinity !== 'ClientIP') {
    r.err(k.at, k.label, 'spec.sessionAffinity', affinity, `${q(affinity)}: supported values: "ClientIP", "None"`);
    return null;
  }
  svc['sessionAffinity'] = affinity;
  const cfg = spec['sessionAffinityConfig'];
  const timeout = isObj(cfg) && isObj(cfg['clientIP']) ? cfg['clientIP']['timeoutSeconds'] : undefined;
  if (affinity === 'ClientIP') {
    // core/v1 defaults: DefaultClientIPServiceAffinitySeconds = 10800; validation: 0 < t <= 86400.
    const t = timeout ?? 10800;
    if (!isInt(t) || t <= 0 || t > 86400) {
      r.err(k.at, k.label, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `${String(t)}: must be greater than 0 and less than 86400`);
      return null;
    }
    svc['sessionAffinityTimeout'] = t;
  }
  const etp = spec['externalTrafficPolicy'];
  if (etp !== undefined && etp !== 'Cluster' && etp !== 'Local') {
    r.err(k.at, k.label, 'spec.externalTrafficPolicy', etp, `${q(etp)}: supported values: "Cluster", "Local"`);
    return null;
  }
  if (etp !== undefined && type !== 'ClusterIP') svc['externalTrafficPolicy'] = etp;
  const itp = spec['internalTrafficPolicy'];
  if (itp !== undefined && itp !== 'Cluster' && itp !== 'Local') {
    r.err(k.at, k.label, 'spec.internalTrafficPolicy', itp, `${q(itp)}: supported values: "Cluster", "Local"`);
    return null;
  }
  if (itp !== undefined) svc['internalTrafficPolicy'] = itp;
  if (Array.isArray(spec['externalIPs']) && spec['externalIPs'].length > 0) svc['externalIPs'] = spec['externalIPs'].map(String);
  // status.loadBalancer.ingress[].ip: what the cloud's controller assigned (hostname-only ingresses have no IP).
  const status = isObj(o['status']) ? o['status'] : {};
  const lb = isObj(status['loadBalancer']) && Array.isArray(status['loadBalancer']['ingress']) ? status['loadBalancer']['ingress'] : [];
  const lbIPs = lb.filter(isObj).map((g) => g['ip']).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  if (type === 'LoadBalancer' && lbIPs.length > 0) svc['loadBalancerIPs'] = lbIPs;
  // kube-proxy trims the ranges ("for backward compatibility", its test feeds " 203.0.113.0/25").
  if (Array.isArray(spec['loadBalancerSourceRanges']) && spec['loadBalancerSourceRanges'].length > 0) {
    svc['loadBalancerSourceRanges'] = spec['loadBalancerSourceRanges'].map((r) => String(r).trim());
  }
  if (spec['publishNotReadyAddresses'] === true) svc['publishNotReadyAddresses'] = true;
  const td = spec['trafficDistribution'];
  if (td !== undefined && td !== 'PreferClose' && td !== 'PreferSameZone' && td !== 'PreferSameNode') {
    r.err(k.at, k.label, 'spec.trafficDistribution', td, `${q(td)}: supported values: "PreferClose", "PreferSameNode", "PreferSameZone"`);
    return null;
  }
  if (td !== undefined) svc['trafficDistribution'] = td;
  // The API server allocated it for a LoadBalancer with externalTrafficPolicy Local (a dump has it).
  if (isInt(spec['healthCheckNodePort']) && type === 'LoadBalancer' && etp === 'Local') svc['healthCheckNodePort'] = spec['healthCheckNodePort'];
  const fields = {
    name: 'metadata.name', clusterIP: 'spec.clusterIP', selector: 'spec.selector', ports: 'spec.ports',
    sessionAffinityTimeout: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', externalIPs: 'spec.externalIPs', loadBalancerIPs: 'status.loadBalancer.ingress',
    healthCheckNodePort: 'spec.healthCheckNodePort',
  };
  return { svc, origin: { at: k.at, object: k.label, portIndex, fields } };
}
