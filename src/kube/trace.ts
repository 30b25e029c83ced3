/**
 * `podwire trace`: sends one packet (ICMP echo, UDP datagram or TCP SYN) from a pod with
 * the trace flag set, lets the cluster run, and returns the packet's journey and its
 * reply's, hop by hop, in the JSON shape of the CLI and the API:
 *
 *   { request: Journey, reply: Journey | null, reset: Journey | null, loopAbort?: { runs, drops } }
 *   Journey = { delivered: boolean, dropReason: string | null, hops: Hop[] }
 *
 * `loopAbort` is there only when the cluster never became idle while the trace ran (a loop:
 * the scheduler gave up and dropped what was queued, see src/engine/scheduler.ts).
 *
 * A request is delivered when a `deliver` hop was recorded and the journey does not end in
 * a drop; its reply (echo reply, UDP echo, SYN-ACK or RST, or an ICMP error) is the
 * journey the destination's answer took back.
 *
 * The trace leaves the cluster as it found it. The TCP probe has no connection behind it
 * (a SYN scan's probe): a segment that comes back for it gets a RST, as a kernel answers a
 * segment for a connection it did not open (RFC 9293 3.10.7.1: SEQ = the segment's ACK),
 * so the listener drops its half-open connection and every conntrack table on the way
 * moves the entry to CLOSE (Linux nf_conntrack_proto_tcp: 10 s) instead of SYN_RECV (60 s)
 * that a later real connection from the same port would run into. That RST is the third
 * journey, `reset`. Each probe takes an echo id / local port that no socket of the pod
 * holds and no conntrack entry tracks towards the target (`probePort`).
 */
import type { Hop } from '../engine/trace.js';
import { formatIpv4, tryParseIpv4 } from '../wire/addr.js';
import { checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { writeU16, writeU32 } from '../wire/addr.js';
import { replyRst } from '../apps/tcp-seg.js';
import type { NetNamespace } from '../net/netns.js';
import type { Cluster } from './cluster.js';
import { canonicalPodKey } from './names.js';

export type TraceProto = 'icmp' | 'udp' | 'tcp';

export interface TraceOptions {
  from: string;
  /** A pod name, an IPv4 address, or a service name (`svc` or `svc.namespace`). */
  to: string;
  proto?: TraceProto;
  port?: number;
  /** Virtual milliseconds to let pass for ARP retries and late replies (default 5000). */
  waitMs?: number;
}

export interface Journey {
  delivered: boolean;
  dropReason: string | null;
  hops: Hop[];
}

export interface TraceResult {
  from: string;
  to: string;
  dst: string;
  proto: TraceProto;
  port: number | null;
  request: Journey;
  reply: Journey | null;
  /** The RST the source sent back for the SYN-ACK of a TCP probe (null for ICMP, UDP, and a TCP probe without a SYN-ACK). */
  reset: Journey | null;
  /**
   * Present when the cluster never became idle during the trace (a forwarding or echo loop):
   * the scheduler aborted `runs` runs at its step limit and dropped the `drops` packets still
   * queued (`loop-abort`; the traced packet among them gets that drop hop).
   */
  loopAbort?: LoopAbort;
}

export interface LoopAbort {
  runs: number;
  drops: number;
}

export class TraceInputError extends Error {
  constructor(readonly field: string, readonly value: unknown, message: string) {
    super(`${field}: ${JSON.stringify(value)} ${message}`);
  }
}

/** Resolves a trace target to an address: pod key (or display name, `root.default`), service name, or dotted IPv4. */
export function resolveTarget(cluster: Cluster, to: string): number {
  const pod = cluster.pods.get(canonicalPodKey(to));
  if (pod !== undefined) return pod.plan.ip;
  const ip = tryParseIpv4(to);
  if (ip !== null) return ip;
  const [name, ns = 'default'] = to.split('.');
  const svc = cluster.plan.services.find((s) => s.name === name && s.namespace === ns);
  if (svc !== undefined) return svc.clusterIP;
  throw new TraceInputError('to', to, 'is not a pod, a service or an IPv4 address');
}

export function defaultPort(proto: TraceProto): number | null {
  return proto === 'icmp' ? null : proto === 'udp' ? 7 : 80;
}

const TRACE_PAYLOAD = Buffer.from('podwire trace\n');
/**
 * Wall time: link services a trace drains at most, synchronously (Scheduler.drain): until
 * idle as before, but a cluster that never idles (an echo loop) holds the API for tens of
 * milliseconds at most, not for good.
 */
const WALL_TRACE_STEPS = 100_000;

export function runTrace(cluster: Cluster, opts: TraceOptions): TraceResult {
  const proto = opts.proto ?? 'icmp';
  if (proto !== 'icmp' && proto !== 'udp' && proto !== 'tcp') throw new TraceInputError('proto', proto, 'must be one of icmp, udp, tcp');
  const srcPod = cluster.pods.get(canonicalPodKey(opts.from));
  if (srcPod === undefined) throw new TraceInputError('from', opts.from, `is not a pod (have ${[...cluster.pods.keys()].join(', ')})`);
  const dst = resolveTarget(cluster, opts.to);
  const port = proto === 'icmp' ? null : (opts.port ?? defaultPort(proto));
  if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new TraceInputError('port', port, 'must be an integer 1-65535');
  const e = cluster.engine;
  const ns = srcPod.ns;
  const src = ns.sourceFor(dst);
  const p = ns.alloc();
  if (p === null) throw new Error('packet pool exhausted');
  const b = p.buf;
  const s = p.start;
  let l4len: number;
  let protoNum: number;
  let bound: number;
  if (proto === 'icmp') {
    protoNum = 1;
    l4len = 8 + 56;
    bound = ns.bind(1, probePort(cluster, ns, 1, src, dst, 8 << 8), (q) => ns.free(q));
    b[s + 20] = 8; b[s + 21] = 0;
    writeU16(b, s + 22, 0);
    writeU16(b, s + 24, bound);
    writeU16(b, s + 26, 1);
    for (let i = 0; i < 56; i++) b[s + 28 + i] = i < TRACE_PAYLOAD.length ? TRACE_PAYLOAD[i]! : i;
    writeU16(b, s + 22, checksum(b, s + 20, l4len));
  } else if (proto === 'udp') {
    protoNum = 17;
    l4len = 8 + TRACE_PAYLOAD.length;
    bound = ns.bind(17, probePort(cluster, ns, 17, src, dst, port!), (q) => ns.free(q));
    writeU16(b, s + 20, bound);
    writeU16(b, s + 22, port!);
    writeU16(b, s + 24, l4len);
    writeU16(b, s + 26, 0);
    TRACE_PAYLOAD.copy(b, s + 28);
  } else {
    protoNum = 6;
    l4len = 24;
    // No socket behind the probe: what comes back (a SYN-ACK) gets a RST, as from a kernel.
    bound = ns.bind(6, probePort(cluster, ns, 6, src, dst, port!), (q, info) => {
      if (info.protocol === 6) replyRst(ns, q, info.l3, info.l4, info.payloadLen, e.rng.u32() & 0xffff);
      ns.free(q);
    });
    writeU16(b, s + 20, bound);
    writeU16(b, s + 22, port!);
    writeU32(b, s + 24, e.rng.u32());
    writeU32(b, s + 28, 0);
    b[s + 32] = 6 << 4; b[s + 33] = 0x02; // SYN
    writeU16(b, s + 34, 64240);
    writeU16(b, s + 36, 0);
    writeU16(b, s + 38, 0);
    b[s + 40] = 2; b[s + 41] = 4;
    writeU16(b, s + 42, Math.min(1460, srcPod.plan.mtu - 40));
  }
  const ident = proto === 'icmp' ? bound : e.rng.u32() & 0xffff;
  // IPv4 header
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, 20 + l4len);
  writeU16(b, s + 4, ident);
  writeU16(b, s + 6, 0x4000);
  b[s + 8] = 64; b[s + 9] = protoNum;
  writeU16(b, s + 10, 0);
  writeU32(b, s + 12, src);
  writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  if (proto !== 'icmp') {
    const off = proto === 'udp' ? s + 26 : s + 36;
    const c = checksum(b, s + 20, l4len, pseudoHeaderSum(src, dst, protoNum, l4len));
    writeU16(b, off, c === 0 && proto === 'udp' ? 0xffff : c);
  }
  p.end = s + 20 + l4len;
  const id = e.trace.begin();
  p.trace = id;
  const sched = e.scheduler;
  const aborts = sched.loopAborts;
  const abortDrops = sched.loopAbortDrops;
  try {
    ns.output(p);
    if (e.clock.kind === 'virtual') e.advance(opts.waitMs ?? 5000);
    else e.scheduler.drain(WALL_TRACE_STEPS);
  } finally {
    ns.unbind(protoNum, bound);
  }
  const replyId = e.trace.replyIdOf(id);
  const resetId = replyId !== 0 ? e.trace.replyIdOf(replyId) : 0;
  const request = journey(e.trace.end(id));
  const reply = replyId !== 0 ? journey(e.trace.end(replyId)) : null;
  const reset = resetId !== 0 ? journey(e.trace.end(resetId)) : null;
  const r: TraceResult = { from: opts.from, to: opts.to, dst: formatIpv4(dst), proto, port, request, reply, reset };
  if (sched.loopAborts > aborts) r.loopAbort = { runs: sched.loopAborts - aborts, drops: sched.loopAbortDrops - abortDrops };
  return r;
}

const EPHEMERAL_LOW = 32768; // Linux ip_local_port_range, as l4.ts binds port 0
const EPHEMERAL_SPAN = 60999 - EPHEMERAL_LOW + 1;

/**
 * A probe's local port (its echo identifier for ICMP, any of 1-65535) that no socket of
 * `ns` holds and that no node's conntrack tracks as (src, id/port) -> (dst, `dport`) in
 * either direction: the probe never joins a ping or a connection in flight (or one whose
 * entry lingers in TIME_WAIT). Starts at a random candidate and walks on.
 */
function probePort(cluster: Cluster, ns: NetNamespace, proto: number, src: number, dst: number, dport: number): number {
  const icmp = proto === 1;
  const low = icmp ? 0 : EPHEMERAL_LOW;
  const span = icmp ? 65536 : EPHEMERAL_SPAN;
  const taken = new Set(ns.l4.bound(proto));
  const tables = [...cluster.services.conntrack.values()];
  const now = cluster.engine.now();
  const first = cluster.engine.rng.u32() % span;
  for (let i = 0; i < span; i++) {
    const c = low + ((first + i) % span);
    if (c === 0 || taken.has(c)) continue;
    if (tables.some((t) => t.inUse(proto, src, dst, c, dport, now))) continue;
    return c;
  }
  throw new Error(`${ns.name}: no free ${icmp ? 'echo identifier' : 'local port'} for a trace to ${formatIpv4(dst)}`);
}

function journey(hops: Hop[]): Journey {
  const last = hops[hops.length - 1];
  const dropped = last !== undefined && last.action === 'drop';
  return {
    delivered: !dropped && hops.some((h) => h.action === 'deliver'),
    dropReason: dropped ? String(last.detail['reason'] ?? 'unknown') : null,
    hops,
  };
}
