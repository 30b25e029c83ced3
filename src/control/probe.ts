/**
 * The façade's side of `podwire probe` and `podwire netpol diff` (the CLI and `POST /probe`
 * share it): run the probes of src/kube/probe.ts on a cluster, in virtual time on a cluster
 * built for them (fresh tables, deterministic), or on a running `podwire up` in wall time
 * (each round is drained, then the event loop gets `WALL_ROUND_MS` for answers from
 * attached pods and timers). The diff compares two probe results connection by connection.
 */
import { loadCluster } from './load.js';
import { ControlError } from './errors.js';
import type { Cluster } from '../kube/cluster.js';
import {
  PROBE_PROTOCOLS, ProbeInputError, ProbePlan, probeCluster, type ProbeOptions, type ProbeProtocol, type ProbeRecord, type ProbeResult,
} from '../kube/probe.js';

export { renderPingall, renderProbeMatrix, probeKey } from '../kube/probe-text.js';
export { PROBE_PROTOCOLS, type ProbeOptions, type ProbeProtocol, type ProbeRecord, type ProbeResult } from '../kube/probe.js';

/** Wall time: how long a round waits for answers after the synchronous drain. */
const WALL_ROUND_MS = 100;
/** Link services a wall-time round drains at once (as a trace does). */
const WALL_STEPS = 100_000;

export type ProbeShape = 'matrix' | 'pingall';

/** The body of `POST /probe` (also what the CLI's flags become). */
export interface ProbeBody {
  ports?: number[];
  protocols?: string[];
  targets?: string[];
  services?: boolean;
  /**
   * `matrix` (default): Cyclonus' probes (TCP, UDP, SCTP on 80, 81 unless given). `pingall`:
   * ICMP between the pods (unless protocols are given) and every service port. `auto`:
   * pingall for a cluster without NetworkPolicies, else matrix.
   */
  shape?: ProbeShape | 'auto';
}

/** A probe result and the shape it was taken in. */
export type ShapedProbe = ProbeResult & { shape: ProbeShape; policies: number };

/** Validates a probe body into options (400 naming the field and value). */
export function probeOptions(body: ProbeBody, shape: ProbeShape = 'matrix'): ProbeOptions {
  const protocols = body.protocols?.map((p, i) => {
    const u = p.toUpperCase();
    if (!PROBE_PROTOCOLS.includes(u as ProbeProtocol)) {
      throw new ControlError(400, `protocols[${i}]: ${JSON.stringify(p)} must be one of ${PROBE_PROTOCOLS.map((x) => x.toLowerCase()).join(', ')}`, `/protocols/${i}`, p);
    }
    return u as ProbeProtocol;
  });
  const pingall = shape === 'pingall';
  return {
    ...(body.ports !== undefined ? { ports: body.ports } : {}),
    ...(protocols !== undefined ? { protocols } : pingall ? { protocols: ['ICMP'] as ProbeProtocol[] } : {}),
    ...(body.targets !== undefined ? { targets: body.targets } : {}),
    ...(body.services !== undefined || pingall ? { services: body.services ?? true } : {}),
  };
}

/** The shape a body asks for on `cluster` (`auto`: pingall when it has no NetworkPolicies). */
export function probeShape(body: ProbeBody, cluster: Cluster): ProbeShape {
  if (body.shape === 'auto') return policyCount(cluster) === 0 ? 'pingall' : 'matrix';
  return body.shape ?? 'matrix';
}

/** Validates `body` and probes the running `cluster` in the shape it asks for. */
export async function probeBodyOn(cluster: Cluster, body: ProbeBody): Promise<ShapedProbe> {
  const shape = probeShape(body, cluster);
  const r = await probeRunning(cluster, probeOptions(body, shape));
  return { ...r, shape, policies: policyCount(cluster) };
}

function inputError(e: unknown): unknown {
  if (e instanceof ProbeInputError) {
    const [name, idx] = e.field.replace(']', '').split('[');
    return new ControlError(400, e.message, `/${name}${idx !== undefined ? `/${idx}` : ''}`, e.value);
  }
  return e;
}

/** Probes `cluster` as it runs: virtual time advances per round, wall time drains and waits. */
export async function probeRunning(cluster: Cluster, opts: ProbeOptions): Promise<ProbeResult> {
  let plan: ProbePlan;
  try {
    if (cluster.engine.clock.kind === 'virtual') return probeCluster(cluster, opts);
    plan = new ProbePlan(cluster, opts);
  } catch (e) {
    throw inputError(e);
  }
  for (let r = plan.next(); r !== null; r = plan.next()) {
    cluster.engine.scheduler.drain(WALL_STEPS);
    await new Promise((res) => setTimeout(res, WALL_ROUND_MS));
    cluster.engine.scheduler.drain(WALL_STEPS);
    r.collect();
  }
  return plan.result;
}

/** Builds the cluster of `file` (topology or manifests) for the probes, probes, closes it. */
export async function probeTopology(file: string, body: ProbeBody): Promise<ShapedProbe> {
  const cluster = await loadCluster(file);
  try {
    return await probeBodyOn(cluster, body);
  } finally {
    cluster.close();
  }
}

/** NetworkPolicies the cluster holds (the probe's pingall shape is for clusters with none). */
export function policyCount(cluster: Cluster): number {
  return cluster.netpol.stats().policies;
}

export interface ProbeDiff {
  /** Connections allowed after and not before. */
  opened: ProbeRecord[];
  /** Connections allowed before and not after. */
  closed: ProbeRecord[];
  /** Probes compared (present in both). */
  compared: number;
}

/** What changed between two probe results, per (from, to, port, protocol); records of `after`'s side. */
export function diffProbes(before: ProbeResult, after: ProbeResult): ProbeDiff {
  const key = (p: ProbeRecord): string => `${p.from} ${p.to} ${p.port} ${p.protocol}`;
  const old = new Map<string, ProbeRecord>();
  for (const p of [...before.probes, ...before.services]) old.set(key(p), p);
  const opened: ProbeRecord[] = [];
  const closed: ProbeRecord[] = [];
  let compared = 0;
  for (const p of [...after.probes, ...after.services]) {
    const o = old.get(key(p));
    if (o === undefined) continue;
    compared++;
    if (!o.allowed && p.allowed) opened.push(p);
    else if (o.allowed && !p.allowed) closed.push(p);
  }
  return { opened, closed, compared };
}

/** `podwire netpol diff BEFORE AFTER`: probes both clusters the same way and compares. */
export async function diffTopologies(before: string, after: string, body: ProbeBody): Promise<ProbeDiff & { before: ProbeResult; after: ProbeResult }> {
  const b = await probeTopology(before, { ...body, shape: 'matrix' });
  const a = await probeTopology(after, { ...body, shape: 'matrix' });
  return { ...diffProbes(b, a), before: b, after: a };
}

/** The diff as text: `+ x/a -> y/b TCP/80  (reason)` for opened, `-` for closed, then counts. */
export function renderDiff(d: ProbeDiff): string {
  const line = (sign: string, p: ProbeRecord): string =>
    `${sign} ${p.from} -> ${p.to} ${p.protocol === 'ICMP' ? 'ICMP' : `${p.protocol}/${p.port}`}  (${p.reason})`;
  const out: string[] = [];
  if (d.opened.length > 0) out.push(`opened (${d.opened.length}):`, ...d.opened.map((p) => line('+', p)));
  if (d.closed.length > 0) out.push(`closed (${d.closed.length}):`, ...d.closed.map((p) => line('-', p)));
  out.push(`${d.opened.length} opened, ${d.closed.length} closed, ${d.compared - d.opened.length - d.closed.length} unchanged of ${d.compared} connections`);
  return `${out.join('\n')}\n`;
}
