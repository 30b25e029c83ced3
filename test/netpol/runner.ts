/**
 * Runs NetworkPolicy conformance cases (data: upstream-e2e.yaml, cyclonus-cases.ts) on the
 * upstream x/y/z model (src/kube/netpol-model.ts) through the real dataplane: policies are
 * applied to the running cluster (`cluster.netpol`), then `podwire probe`'s engine sends real
 * packets (TCP SYN, UDP, SCTP INIT) in virtual time and the matrix is compared with the
 * expected truth table. One cluster serves every case: between cases every policy is
 * deleted and the model's labels are restored (as Cyclonus resets its cluster).
 */
import { Cluster } from '../../src/kube/cluster.js';
import { netpolModelDocument, MODEL_NAMESPACES, MODEL_PODS } from '../../src/kube/netpol-model.js';
import { probeCluster, type ProbeProtocol, type ProbeResult } from '../../src/kube/probe.js';
import { parseTopology } from '../../src/kube/topology.js';
import { formatIpv4 } from '../../src/wire/addr.js';

export const ALL_PODS = MODEL_NAMESPACES.flatMap((ns) => MODEL_PODS.map((p) => `${ns}/${p}`));

/** Reachability operations, as upstream's Reachability methods (see upstream-e2e.yaml). */
export type ExpectOp =
  | ['peer', string, string, boolean]
  | ['ingress', string, boolean]
  | ['egress', string, boolean]
  | ['pair', string, string, boolean];

export interface Check {
  port: number;
  protocol: ProbeProtocol;
  /** Upstream-style expectation operations (default-true table first)... */
  expect?: ExpectOp[];
  /** ...or a function giving the expected answer per pair (the reference engine's). */
  truth?: (from: string, to: string, port: number, protocol: ProbeProtocol) => boolean;
}

export interface Step {
  apply?: unknown[];
  deleteAll?: boolean;
  delete?: string[];
  podLabels?: Record<string, Record<string, string>>;
  /** Replace the pod's labels instead of adding to them (Cyclonus' set-pod-labels). */
  setPodLabels?: Record<string, Record<string, string>>;
  namespaceLabels?: Record<string, Record<string, string>>;
  setNamespaceLabels?: Record<string, Record<string, string>>;
  check: Check[];
}

export interface ConformanceCase {
  name: string;
  suite?: string;
  tags?: string[];
  pods?: string[];
  steps: Step[];
}

export interface Mismatch {
  check: string;
  from: string;
  to: string;
  expected: boolean;
  actual: boolean;
  reason: string;
}

export function modelCluster(): Cluster {
  const r = parseTopology(JSON.stringify(netpolModelDocument()), 'netpol-model');
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return new Cluster(r.topology);
}

/** Pod address by `ns/name`. */
export function podIp(c: Cluster, name: string): string {
  const p = c.plan.pods.find((q) => `${q.namespace}/${q.name}` === name);
  if (p === undefined) throw new Error(`no pod ${name}`);
  return formatIpv4(p.ip);
}

/** `{ip:x/b}` and `{cidr4:x/b}` (upstream makeLargeCIDRForIP: the /4 around the address). */
export function substitute(c: Cluster, v: unknown): unknown {
  if (typeof v === 'string') {
    return v.replace(/\{(ip|cidr4):([a-z]\/[a-z])\}/g, (_m, kind: string, pod: string) => {
      const ip = podIp(c, pod);
      if (kind === 'ip') return ip;
      const first = Number(ip.split('.')[0]) & 0xf0;
      return `${first}.0.0.0/4`;
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(c, x));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(c, x)]));
  return v;
}

/** `x/a` -> the cluster's pod key `a.x`. */
function podRef(name: string): string {
  const [ns, pod] = name.split('/') as [string, string];
  return `${pod}.${ns}`;
}

/**
 * Replaces pod `ns/name`'s labels (Cyclonus' SetPodLabels) the way the API does it: a merge
 * patch through `Cluster.setPodLabels` (Services and NetworkPolicies follow), removing the
 * keys the new set lacks.
 */
export function replacePodLabels(c: Cluster, name: string, labels: Record<string, string>): void {
  const p = c.plan.pods.find((q) => `${q.namespace}/${q.name}` === name);
  if (p === undefined) throw new Error(`no pod ${name}`);
  c.setPodLabels(podRef(name), { ...Object.fromEntries(Object.keys(p.labels).map((k) => [k, null])), ...labels });
}

/** Back to the model as built: no policies, the model's labels. */
export function resetModel(c: Cluster): void {
  for (const p of c.netpol.list()) c.netpol.remove(p.metadata.namespace ?? 'default', p.metadata.name);
  for (const p of c.plan.pods) if (!p.system) p.labels = { pod: p.name };
  for (const ns of MODEL_NAMESPACES) c.netpol.setNamespace(ns, { ns });
  c.netpol.podsChanged();
}

function labelsOf(c: Cluster, ns: string): Record<string, string> {
  const n = c.netpol.namespaces().find((x) => x.name === ns);
  const out = { ...(n?.labels ?? {}) };
  delete out['kubernetes.io/metadata.name'];
  return out;
}

/** The expected table of upstream operations over `pods` (NewReachability(pods, true), then each op). */
export function expectedTable(pods: string[], ops: ExpectOp[]): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const f of pods) for (const t of pods) m.set(`${f} ${t}`, true);
  const match = (peer: string, pod: string): boolean => peer === '' || peer === pod || (!peer.includes('/') && pod.startsWith(`${peer}/`));
  for (const op of ops) {
    for (const f of pods) {
      for (const t of pods) {
        const k = `${f} ${t}`;
        if (op[0] === 'peer' && match(op[1], f) && match(op[2], t)) m.set(k, op[3]);
        else if (op[0] === 'ingress' && t === op[1]) m.set(k, op[2]);
        else if (op[0] === 'egress' && f === op[1]) m.set(k, op[2]);
        else if (op[0] === 'pair' && f === op[1] && t === op[2]) m.set(k, op[3]);
      }
    }
  }
  return m;
}

/** Applies one step's actions; throws when the cluster refuses a policy. */
export function applyStep(c: Cluster, s: Step): void {
  if (s.deleteAll === true) for (const p of c.netpol.list()) c.netpol.remove(p.metadata.namespace ?? 'default', p.metadata.name);
  for (const k of s.delete ?? []) {
    const [ns, name] = k.split('/') as [string, string];
    if (!c.netpol.remove(ns, name)) throw new Error(`no policy ${k} to delete`);
  }
  if (s.apply !== undefined) {
    const r = c.netpol.apply(s.apply.map((p) => substitute(c, p)));
    if (!r.ok) throw new Error(`policies refused: ${JSON.stringify(r.errors)}`);
  }
  for (const [name, l] of Object.entries(s.podLabels ?? {})) c.setPodLabels(podRef(name), l);
  for (const [name, l] of Object.entries(s.setPodLabels ?? {})) replacePodLabels(c, name, l);
  for (const [ns, l] of Object.entries(s.namespaceLabels ?? {})) c.netpol.setNamespace(ns, { ...labelsOf(c, ns), ...l });
  for (const [ns, l] of Object.entries(s.setNamespaceLabels ?? {})) c.netpol.setNamespace(ns, { ...l });
}

/** Runs a case from a reset model; returns its mismatches (loopback ignored, as upstream's ignoreLoopback). */
export function runCase(c: Cluster, tc: ConformanceCase): { mismatches: Mismatch[]; probes: number; results: ProbeResult[] } {
  resetModel(c);
  const pods = tc.pods ?? ALL_PODS;
  const mismatches: Mismatch[] = [];
  const results: ProbeResult[] = [];
  let probes = 0;
  for (const step of tc.steps) {
    applyStep(c, step);
    for (const chk of step.check) {
      const r = probeCluster(c, { ports: [chk.port], protocols: [chk.protocol], pods });
      results.push(r);
      probes += r.probes.length;
      const want = chk.expect !== undefined ? expectedTable(pods, chk.expect) : null;
      for (const p of r.probes) {
        if (p.from === p.to) continue;
        const expected = want !== null ? want.get(`${p.from} ${p.to}`)! : chk.truth!(p.from, p.to, chk.port, chk.protocol);
        if (expected !== p.allowed) {
          mismatches.push({ check: `${chk.protocol}/${chk.port}`, from: p.from, to: p.to, expected, actual: p.allowed, reason: p.reason });
        }
      }
    }
  }
  return { mismatches, probes, results };
}
