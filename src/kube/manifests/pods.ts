/**
 * Pods: a pod spec (a Pod's or a workload template's) read into container ports, the apps an
 * emulated container runs and tolerations; podwire's annotations (`podwire.io/apps`,
 * `podwire.io/attach-*`); a bare Pod converted with its node, IP, readiness, termination
 * and DNS hostname; the pods taken so far, their names kept unique per namespace; and the
 * document's `pods:`.
 */
import type { AppSpec, AttachSpec, KubeObjects } from '../types.js';
import { NameGenerator } from './names.js';
import type { Toleration } from './nodes.js';
import type { KubeEntry } from './objects.js';
import type { Origin, Reporter } from './reporter.js';
import { isInt, isObj, labelsOf, q, str, type Obj } from './values.js';

/** The label of cluster DNS pods (kube-dns, CoreDNS): podwire runs its own. */
const DNS_LABELS_KEY = 'k8s-app';

export interface ContainerPort { name?: string; port: number; protocol: string }

export interface PodDraft {
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

/** A pod before its origin is known. */
export type PodFields = Omit<PodDraft, 'origin'>;

/** What a pod spec says about the network. */
export type PodSpecRead = Pick<PodDraft, 'ports' | 'apps' | 'tolerations'> & { hostNetwork: boolean };

/** The pods converted so far, in order, and the names they took. */
export class PodList {
  readonly pods: PodDraft[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly r: Reporter, private readonly dnsReplicas: number) {}

  /** `base` itself (gen null), or a name generated from it that no pod of the namespace has. */
  takeName(ns: string, base: string, gen: NameGenerator | null): string {
    let name = gen === null ? base : gen.generate(base);
    while (gen !== null && this.names.has(`${ns}/${name}`)) name = gen.generate(base); // the controller retries a taken name
    this.names.add(`${ns}/${name}`);
    return name;
  }

  /** Adds the pod, unless it runs in its node's network namespace or is cluster DNS (a warning says so). */
  add(d: PodFields, origin: Origin, hostNetwork: boolean): void {
    if (hostNetwork) {
      this.r.warn(origin.at, origin.object, 'spec.hostNetwork', true, `pod ${q(d.name)} shares its node's network namespace: not emulated as a pod`);
      return;
    }
    if (this.dnsReplicas > 0 && d.namespace === 'kube-system' && d.labels[DNS_LABELS_KEY] === 'kube-dns') {
      this.r.warn(origin.at, origin.object, 'metadata.labels', d.labels, `pod ${q(d.name)} is cluster DNS: podwire runs its own kube-dns (cluster.dnsReplicas)`);
      return;
    }
    this.pods.push({ ...d, origin });
  }
}

/** Reads a pod spec (of a Pod or a template) into ports, apps and tolerations; errors at `base`. */
export function podSpecOf(r: Reporter, k: KubeEntry, spec: unknown, base: string): PodSpecRead | null {
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
}

/**
 * podwire's annotations: `podwire.io/apps: "tcp-echo:7,udp-echo:5353"` replaces the apps the
 * container ports would start; `podwire.io/attach-netns: NAME` / `podwire.io/attach-pid: PID`
 * make the pod a real network namespace (docs/attach.md). False after an error.
 */
export function annotate(r: Reporter, k: KubeEntry, meta: unknown, base: string, d: PodFields): boolean {
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
}

/** A bare Pod: added to `list` unless it is finished or in error; its DNS hostname goes into `objects.hostnames`. */
export function convertPod(k: KubeEntry, r: Reporter, list: PodList, objects: KubeObjects, seed: number): void {
  const o = k.at.obj;
  const meta = o['metadata'] as Obj;
  const spec = o['spec'];
  const ps = podSpecOf(r, k, spec, 'spec');
  if (ps === null) return;
  const status = isObj(o['status']) ? o['status'] : {};
  if (status['phase'] === 'Succeeded' || status['phase'] === 'Failed') {
    r.warn(k.at, k.label, 'status.phase', status['phase'], `${q(status['phase'])}: the pod is not running, not emulated`);
    return;
  }
  const explicit = str(meta['name']);
  const name = explicit !== undefined ? list.takeName(k.namespace, explicit, null) : list.takeName(k.namespace, k.name, new NameGenerator(seed, `Pod/${k.namespace}/${k.name}`));
  const d: PodFields = { name, namespace: k.namespace, labels: labelsOf(meta), ...ps };
  if (!annotate(r, k, meta, 'metadata.annotations', d)) return;
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
  list.add(d, { at: k.at, object: k.label, fields: { name: 'metadata.name', node: 'spec.nodeName', ip: 'status.podIP', labels: 'metadata.labels', apps: 'spec.containers', attach: 'metadata.annotations' } }, ps.hostNetwork);
}

/** The document's `pods:` (the placed ones); their origins go into `origins` (`pods[i]`). */
export function podDocs(pods: PodDraft[], origins: Map<string, Origin>): Obj[] {
  return pods.filter((p) => p.node !== undefined).map((p, i) => {
    origins.set(`pods[${i}]`, p.origin);
    return { name: p.name, namespace: p.namespace, node: p.node, ...(p.ip !== undefined ? { ip: p.ip } : {}), labels: p.labels, apps: p.apps, ...(p.attach !== undefined ? { attach: p.attach } : {}),
      ...(p.hostname !== undefined ? { hostname: p.hostname } : {}), ...(p.subdomain !== undefined ? { subdomain: p.subdomain } : {}),
      ...(p.ready === false ? { ready: false } : {}), ...(p.terminating === true ? { terminating: true } : {}),
      ...(p.ports.length > 0 ? { ports: p.ports.map((c) => ({ ...(c.name !== undefined ? { name: c.name } : {}), containerPort: c.port, protocol: c.protocol })) } : {}) };
  });
}
