/**
 * `podwire probe`: the reachability matrix of a cluster, measured with real packets through
 * the dataplane (so through kube-proxy's NAT, conntrack and NetworkPolicy enforcement, as a
 * CNI test such as Cyclonus or the upstream netpol e2e measures a real cluster):
 *
 *   TCP   a SYN; allowed when a SYN-ACK comes back (answered with a RST, as `trace` does,
 *         so no half-open connection stays behind); a RST or an ICMP error is refused;
 *   UDP   a datagram to the server; allowed when a datagram comes back from it;
 *   SCTP  an INIT; allowed when an INIT ACK comes back, an ABORT is refused;
 *   ICMP  an echo request (the `pingall` shape); allowed on an echo reply.
 *
 * Anything else (no answer by the end of the round) is blocked. Every probe carries the
 * trace flag, so its `reason` names where the request (or its answer) stopped, and the
 * verdicts of the policy points it crossed (`policy` hops).
 *
 * Probes go out in rounds, one per protocol and port, from every source pod to every target
 * at once; each takes a local port that no socket of the source holds and no conntrack
 * table tracks towards its target, so it is always a NEW connection. A probe dropped
 * because a neighbour queue was full (many sources resolving one address at once) is sent
 * again in a further round, at most three times (untraced, `reasons: false`: every
 * unanswered probe of a round in which any namespace counted such a drop). `startProbes` sends a round and returns;
 * the caller lets the cluster run (virtual time: `engine.advance`; wall time: the running
 * loop) and calls `collect`, so the API can wait without blocking the event loop.
 *
 * Pods are named `namespace/name` and sorted, as Cyclonus names and orders them. Sources are
 * the emulated pods (attached pods cannot be made to send); targets are every pod, plus the
 * extra addresses given, plus (`services`) every service port (its cluster IP, port and
 * protocol: the connection the proxy translates).
 */
import type { Hop } from '../engine/trace.js';
import { formatIpv4, tryParseIpv4 } from '../wire/addr.js';
import { ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, ICMP_PROTOCOL, writeIcmpEchoHeader } from '../wire/icmp.js';
import { fillTcpChecksum, TCP_PROTOCOL, TcpFlag, writeTcpHeader } from '../wire/tcp.js';
import { UDP_HEADER_LEN, UDP_PROTOCOL, writeUdpHeader } from '../wire/udp.js';
import { emitSctpInit, sctpFirstChunk, SctpChunk } from '../wire/sctp.js';
import { replyRst } from '../apps/tcp-seg.js';
import { NetnsDrop, type NetNamespace } from '../net/netns.js';
import type { L4Info } from '../net/ip-host.js';
import type { Packet } from '../engine/packet.js';
import type { Cluster } from './cluster.js';
import { probePort } from './trace.js';
import { writeIpv4Header } from '../wire/ipv4.js';

export type ProbeProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
export const PROBE_PROTOCOLS: readonly ProbeProtocol[] = ['TCP', 'UDP', 'SCTP', 'ICMP'];

export interface ProbeOptions {
  /** Destination ports (default 80, 81); ignored for ICMP. */
  ports?: number[];
  /** Default TCP, UDP, SCTP. */
  protocols?: ProbeProtocol[];
  /** Extra target addresses (columns after the pods). */
  targets?: string[];
  /** Also probe every service port (cluster IP, port, protocol) from every pod. */
  services?: boolean;
  /** Only these pods (`namespace/name`) as sources and targets (default: every pod). */
  pods?: string[];
  /**
   * Trace every probe for its `reason` (default true). Without, a probe costs about a third:
   * the reason then only says what came back (SYN-ACK, RST, ...) or `no answer`.
   */
  reasons?: boolean;
}

export interface ProbeRecord {
  from: string;
  to: string;
  port: number;
  protocol: ProbeProtocol;
  allowed: boolean;
  reason: string;
}

export interface ProbeResult {
  /** Sources (rows), `namespace/name`, sorted. */
  from: string[];
  /** Targets (columns): pods, then the extra addresses. */
  to: string[];
  ports: number[];
  protocols: ProbeProtocol[];
  probes: ProbeRecord[];
  /** Service probes (`services`): `to` is `namespace/name`, port and protocol the service port's. */
  services: ProbeRecord[];
}

export class ProbeInputError extends Error {
  constructor(readonly field: string, readonly value: unknown, message: string) {
    super(`${field}: ${JSON.stringify(value)} ${message}`);
  }
}

const PROTO_NUM: Record<ProbeProtocol, number> = { TCP: 6, UDP: 17, SCTP: 132, ICMP: 1 };
const PAYLOAD = Buffer.from('podwire probe\n');
const MAX_ATTEMPTS = 3;

/** `namespace/name` of a pod plan. */
export function probeName(p: { name: string; namespace: string }): string {
  return `${p.namespace}/${p.name}`;
}

interface Pending {
  rec: ProbeRecord;
  ns: NetNamespace;
  dst: number;
  proto: number;
  local: number;
  trace: number;
  answer: string | null;
  refused: string | null;
  attempts: number;
}

interface Target {
  name: string;
  ip: number;
}

/** One round in flight: `collect` after the cluster ran. */
export interface ProbeRound {
  collect(): void;
}

/**
 * Plans every probe of `opts` on `cluster`; `run(round)` sends rounds until all are decided.
 * The driver (probeCluster below for virtual time, the Controller for wall time) owns time.
 */
export class ProbePlan {
  readonly result: ProbeResult;
  private readonly rounds: Pending[][] = [];
  private readonly traced: boolean;
  private retry: Pending[] = [];

  constructor(private readonly cluster: Cluster, opts: ProbeOptions = {}) {
    this.traced = opts.reasons ?? true;
    const ports = opts.ports ?? [80, 81];
    const protocols = opts.protocols ?? ['TCP', 'UDP', 'SCTP'];
    ports.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new ProbeInputError(`ports[${i}]`, p, 'must be an integer 1-65535');
    });
    protocols.forEach((p, i) => {
      if (!PROBE_PROTOCOLS.includes(p)) throw new ProbeInputError(`protocols[${i}]`, p, `must be one of ${PROBE_PROTOCOLS.join(', ')}`);
    });
    const only = opts.pods === undefined ? null : new Set(opts.pods);
    const plans = cluster.plan.pods.filter((p) => !p.system && (only === null || only.has(probeName(p)))).sort((a, b) => cmp(probeName(a), probeName(b)));
    if (only !== null && plans.length < only.size) {
      const known = new Set(plans.map(probeName));
      const missing = [...only].find((n) => !known.has(n))!;
      throw new ProbeInputError('pods', missing, 'is not a pod (namespace/name)');
    }
    const byName = new Map<string, NetNamespace>();
    for (const r of cluster.pods.values()) byName.set(probeName(r.plan), r.ns);
    const sources = plans.filter((p) => byName.has(probeName(p)));
    const targets: Target[] = plans.map((p) => ({ name: probeName(p), ip: p.ip }));
    (opts.targets ?? []).forEach((t, i) => {
      const ip = tryParseIpv4(t);
      if (ip === null) throw new ProbeInputError(`targets[${i}]`, t, 'is not an IPv4 address');
      targets.push({ name: formatIpv4(ip), ip });
    });
    this.result = { from: sources.map(probeName), to: targets.map((t) => t.name), ports, protocols, probes: [], services: [] };
    for (const protocol of protocols) {
      for (const port of protocol === 'ICMP' ? [0] : ports) {
        const round: Pending[] = [];
        for (const s of sources) {
          const ns = byName.get(probeName(s))!;
          for (const t of targets) round.push(this.pending(ns, probeName(s), t.name, t.ip, port, protocol, this.result.probes));
        }
        this.rounds.push(round);
      }
    }
    if (opts.services === true) {
      const round: Pending[] = [];
      const svcs = cluster.plan.services.filter((s) => !s.system && s.clusterIP !== 0).sort((a, b) => cmp(probeName(a), probeName(b)));
      for (const s of sources) {
        const ns = byName.get(probeName(s))!;
        for (const svc of svcs) {
          for (const sp of svc.ports) {
            const protocol = sp.protocol as ProbeProtocol;
            round.push(this.pending(ns, probeName(s), probeName(svc), svc.clusterIP, sp.port, protocol, this.result.services));
          }
        }
      }
      if (round.length > 0) this.rounds.push(round);
    }
  }

  private pending(ns: NetNamespace, from: string, to: string, dst: number, port: number, protocol: ProbeProtocol, into: ProbeRecord[]): Pending {
    const rec: ProbeRecord = { from, to, port, protocol, allowed: false, reason: '' };
    into.push(rec);
    return { rec, ns, dst, proto: PROTO_NUM[protocol], local: 0, trace: 0, answer: null, refused: null, attempts: 0 };
  }

  /** The next round to send, or null when every probe is decided. */
  next(): ProbeRound | null {
    let round = this.rounds.shift();
    if (round === undefined) {
      if (this.retry.length === 0) return null;
      round = this.retry;
      this.retry = [];
    }
    const sent = round;
    const full = this.queueFullDrops();
    for (const q of sent) this.send(q);
    return { collect: () => this.collect(sent, this.queueFullDrops() > full) };
  }

  /** `neighbor-queue-full` drops of every namespace so far (untraced probes learn of theirs from it). */
  private queueFullDrops(): number {
    let n = 0;
    const i = NetnsDrop['neighbor-queue-full'];
    for (const p of this.cluster.pods.values()) n += p.ns.drops.values[i]!;
    for (const node of this.cluster.nodes.values()) n += node.root.drops.values[i]!;
    return n;
  }

  private send(q: Pending): void {
    const e = this.cluster.engine;
    const ns = q.ns;
    q.attempts++;
    q.answer = null;
    q.refused = null;
    const src = ns.sourceFor(q.dst);
    const p = ns.alloc();
    if (p === null) {
      q.refused = 'packet pool exhausted';
      return;
    }
    q.local = probePort(this.cluster, ns, q.proto, src, q.dst, q.proto === 1 ? 8 << 8 : q.rec.port, 'probe');
    ns.bind(q.proto, q.local, (r, info) => this.answer(q, r, info));
    const b = p.buf;
    const s = p.start;
    const l4 = s + 20;
    let l4len: number;
    if (q.proto === ICMP_PROTOCOL) {
      l4len = ICMP_HEADER_LEN + PAYLOAD.length;
      PAYLOAD.copy(b, l4 + ICMP_HEADER_LEN);
      writeIcmpEchoHeader(b, l4, ICMP_ECHO_REQUEST, q.local, 1, l4len);
    } else if (q.proto === UDP_PROTOCOL) {
      l4len = UDP_HEADER_LEN + PAYLOAD.length;
      PAYLOAD.copy(b, l4 + UDP_HEADER_LEN);
      writeUdpHeader(b, l4, q.local, q.rec.port, PAYLOAD.length, src, q.dst);
    } else if (q.proto === TCP_PROTOCOL) {
      l4len = writeTcpHeader(b, l4, q.local, q.rec.port, e.rng.u32(), 0, TcpFlag.SYN, 64240, 0);
      fillTcpChecksum(b, l4, l4len, src, q.dst);
    } else {
      l4len = emitSctpInit({ srcPort: q.local, dstPort: q.rec.port, vtag: 0, initiateTag: (e.rng.u32() | 1) >>> 0, initialTsn: e.rng.u32() }, false, b, l4);
    }
    writeIpv4Header(b, s, src, q.dst, q.proto, 20 + l4len, e.rng.u32() & 0xffff);
    p.end = s + 20 + l4len;
    q.trace = this.traced ? e.trace.begin() : 0;
    p.trace = q.trace;
    ns.output(p);
  }

  /** What came back to a probe's socket. */
  private answer(q: Pending, r: Packet, info: L4Info): void {
    const ns = q.ns;
    const b = r.buf;
    if (q.answer === null && q.refused === null) {
      if (info.protocol === 1 && q.proto !== 1) {
        q.refused = `ICMP ${icmpName(b[info.l4]!, b[info.l4 + 1]!)} from ${formatIpv4(info.src)}`;
      } else if (q.proto === 6) {
        const flags = b[info.l4 + 13]!;
        if ((flags & 0x12) === 0x12) q.answer = 'SYN-ACK';
        else if ((flags & 0x04) !== 0) q.refused = `RST from ${formatIpv4(info.src)}:${info.sport}`;
      } else if (q.proto === 132) {
        const c = sctpFirstChunk(b, info.l4, info.payloadLen + 12);
        if (c === SctpChunk.InitAck) q.answer = 'INIT ACK';
        else if (c === SctpChunk.Abort) q.refused = `ABORT from ${formatIpv4(info.src)}:${info.sport}`;
      } else if (q.proto === 17) {
        q.answer = 'UDP reply';
      } else if (b[info.l4] === 0) {
        q.answer = 'echo reply';
      } else {
        q.refused = `ICMP ${icmpName(b[info.l4]!, b[info.l4 + 1]!)} from ${formatIpv4(info.src)}`;
      }
    }
    // No connection behind a TCP probe: a SYN-ACK gets a RST, as a kernel answers it.
    if (info.protocol === 6) replyRst(ns, r, info.l3, info.l4, info.payloadLen, this.cluster.engine.rng.u32() & 0xffff);
    ns.free(r);
  }

  private collect(round: Pending[], queueFull: boolean): void {
    const t = this.cluster.engine.trace;
    for (const q of round) {
      if (q.local !== 0) {
        q.ns.unbind(q.proto, q.local);
        q.local = 0;
      }
      const replyId = q.trace !== 0 ? t.replyIdOf(q.trace) : 0;
      const resetId = replyId !== 0 ? t.replyIdOf(replyId) : 0;
      const hops = q.trace !== 0 ? t.end(q.trace) : [];
      const replyHops = replyId !== 0 ? t.end(replyId) : [];
      if (resetId !== 0) t.end(resetId);
      const dropped = dropOf(hops);
      const lost = q.trace !== 0 ? dropped === 'neighbor-queue-full' : queueFull;
      if (q.answer === null && q.refused === null && lost && q.attempts < MAX_ATTEMPTS) {
        this.retry.push(q);
        continue;
      }
      q.rec.allowed = q.answer !== null;
      q.rec.reason = reasonOf(q, hops, replyHops, dropped);
    }
  }
}

/** Runs every round of `opts` on a cluster in virtual time (`waitMs` per round). */
export function probeCluster(cluster: Cluster, opts: ProbeOptions = {}, waitMs = 1000): ProbeResult {
  if (cluster.engine.clock.kind !== 'virtual') throw new Error('probeCluster needs virtual time; use ProbePlan with a running loop');
  const plan = new ProbePlan(cluster, opts);
  for (let r = plan.next(); r !== null; r = plan.next()) {
    cluster.engine.advance(waitMs);
    r.collect();
  }
  return plan.result;
}

function reasonOf(q: Pending, hops: Hop[], replyHops: Hop[], dropped: string | null): string {
  const policy = policyText(hops).concat(policyText(replyHops));
  const verdicts = policy.length > 0 ? `; ${policy.join('; ')}` : '';
  if (q.answer !== null) return `${q.answer}${verdicts}`;
  if (q.refused !== null) return `${q.refused}${verdicts}`;
  if (dropped !== null) return `dropped: ${dropped} at ${whereOf(hops[hops.length - 1]!)}${verdicts}`;
  const rd = dropOf(replyHops);
  if (rd !== null) return `reply dropped: ${rd} at ${whereOf(replyHops[replyHops.length - 1]!)}${verdicts}`;
  return `no answer${verdicts}`;
}

/** The policy verdicts a journey recorded (hops whose action names a policy point, with their text). */
function policyText(hops: Hop[]): string[] {
  const out: string[] = [];
  for (const h of hops) {
    if (!h.action.startsWith('policy')) continue;
    const d = h.detail;
    const text = d['explain'] ?? d['reason'] ?? d['verdict'];
    if (typeof text === 'string' && !out.includes(text)) out.push(text);
  }
  return out;
}

function dropOf(hops: Hop[]): string | null {
  const last = hops[hops.length - 1];
  return last !== undefined && last.action === 'drop' ? String(last.detail['reason'] ?? 'unknown') : null;
}

function whereOf(h: Hop): string {
  return `${h.node}/${h.netns}${h.device !== '' ? `/${h.device}` : ''}`;
}

function icmpName(type: number, code: number): string {
  if (type === 3) return ['net', 'host', 'protocol', 'port'][code] !== undefined ? `${['net', 'host', 'protocol', 'port'][code]} unreachable` : `unreachable code ${code}`;
  if (type === 11) return 'time exceeded';
  return `type ${type} code ${code}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}


