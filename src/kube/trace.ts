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
import { formatIpv4, tryParseIpv4, tryParsePort } from '../wire/addr.js';
import { replyRst } from '../apps/tcp-seg.js';
import { ICMP_ECHO_REQUEST, ICMP_PROTOCOL, writeIcmpEchoHeader } from '../wire/icmp.js';
import { IPV4_MIN_HEADER_LEN, writeIpv4Header } from '../wire/ipv4.js';
import { fillTcpChecksum, TCP_PROTOCOL, TcpFlag, writeTcpHeader } from '../wire/tcp.js';
import { UDP_HEADER_LEN, UDP_PROTOCOL, writeUdpHeader } from '../wire/udp.js';
import type { NetNamespace } from '../net/netns.js';
import type { Cluster } from './cluster.js';
import { canonicalPodKey } from './names.js';
import { EXTERNAL, externalClient } from './external-client.js';
import { looksLikeDnsName, resolveFromPod, type TraceResolve } from './trace-dns.js';

export type TraceProto = 'icmp' | 'udp' | 'tcp';

export interface TraceOptions {
  /** A pod, a node (its root namespace: what a hostNetwork pod sends from), or `external` (a client on the underlay). */
  from: string;
  /** A pod name, a node name, an IPv4 address, or a service name (`svc` or `svc.namespace`), each optionally with `:PORT`. */
  to: string;
  proto?: TraceProto;
  port?: number;
  /** The probe's IPv4 total length in bytes, headers included (default: the protocol's small probe); DF is set. */
  size?: number;
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
   * What `reply` is: the destination's answer (`reply`), or an ICMP error a namespace on the
   * way sent about the request (`icmp-error`: port or host unreachable, fragmentation
   * needed, time exceeded); absent when there is no reply.
   */
  replyKind?: 'reply' | 'icmp-error';
  /** The probe's IPv4 total length (bytes), when given. */
  size?: number;
  /** The probe's source port (TCP, UDP) or echo identifier (ICMP). */
  sport?: number;
  /**
   * Present when `to` was a DNS name the source pod resolved first (its stub resolver's
   * queries through the cluster DNS, search list and ndots:5 as kubelet's resolv.conf sets them).
   */
  resolve?: TraceResolve;
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
  /** `notFound`: the value names nothing in the cluster (an edge answers 404), else it is malformed (400). */
  constructor(readonly field: string, readonly value: unknown, message: string, readonly notFound = false) {
    super(`${field}: ${JSON.stringify(value)} ${message}`);
  }
}

/** `name:PORT` -> [name, port]; anything else -> [to, null]. A bad port is an error naming `to`. */
export function splitTargetPort(to: string): [string, number | null] {
  const m = /^(.+):([^:]*)$/.exec(to);
  if (m === null) return [to, null];
  const port = tryParsePort(m[2]!);
  if (port === null || port < 1) throw new TraceInputError('to', to, 'has a port that is not an integer from 1 to 65535 (NAME:PORT, IP:PORT)');
  return [m[1]!, port];
}

const have = (what: string, names: Iterable<string>): string => {
  const l = [...names];
  return `${what} ${l.length === 0 ? 'none' : l.join(', ')}`;
};

/** Resolves a trace target to an address: pod key (or display name, `root.default`), node name, service name, or dotted IPv4. */
export function resolveTarget(cluster: Cluster, to: string): number {
  const pod = cluster.pods.get(canonicalPodKey(to));
  if (pod !== undefined) return pod.plan.ip;
  const ip = tryParseIpv4(to);
  if (ip !== null) return ip;
  const parts = to.split('.');
  const [name, ns = 'default'] = parts;
  // `svc` or `svc.namespace` exactly; a longer name (`svc.ns.svc.cluster.local`) is a DNS name.
  const svc = parts.length <= 2 ? cluster.plan.services.find((s) => s.name === name && s.namespace === ns) : undefined;
  if (svc !== undefined && svc.clusterIP !== 0) return svc.clusterIP; // headless, ExternalName: no virtual IP (a DNS name, below)
  const node = cluster.plan.nodes.find((n) => n.name === to);
  if (node !== undefined) return node.ip;
  const services = cluster.plan.services.filter((s) => s.clusterIP !== 0).map((s) => (s.namespace === 'default' ? s.name : `${s.name}.${s.namespace}`));
  throw new TraceInputError('to', to, `is not a pod, a service, a node or an IPv4 address (have ${have('pods', cluster.pods.keys())}; ${have('services', services)}; ${have('nodes', cluster.plan.nodes.map((n) => n.name))})`, true);
}

/** The namespace a trace starts in: a pod's, a node's root namespace, or the external client's. */
export function resolveSource(cluster: Cluster, from: string): NetNamespace {
  const pod = cluster.pods.get(canonicalPodKey(from));
  if (pod !== undefined) return pod.ns;
  const node = cluster.nodes.get(from);
  if (node !== undefined) return node.root;
  if (from === EXTERNAL) return externalClient(cluster);
  throw new TraceInputError('from', from, `is not a pod (have ${[...cluster.pods.keys()].join(', ')}; or a node: ${[...cluster.nodes.keys()].join(', ')}; or ${EXTERNAL}, a client on the underlay)`, true);
}

export function defaultPort(proto: TraceProto): number | null {
  return proto === 'icmp' ? null : proto === 'udp' ? 7 : 80;
}

/** The smallest probe of each protocol (IPv4 total length): ICMP echo with 56 bytes of data, UDP with the payload, TCP SYN with MSS. */
export function defaultSize(proto: TraceProto): number {
  return proto === 'icmp' ? 20 + 8 + 56 : proto === 'udp' ? 20 + 8 + TRACE_PAYLOAD.length : 20 + 24;
}

/** The smallest size a probe of `proto` may have: its headers (and the TCP SYN's MSS option). */
export function minSize(proto: TraceProto): number {
  return proto === 'tcp' ? 44 : 28;
}

const TRACE_PAYLOAD = Buffer.from('podwire trace\n');

/** A probe's data: TRACE_PAYLOAD, then the bytes' own offsets (mod 256) up to `len`. */
function fillPayload(b: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < len; i++) b[off + i] = i < TRACE_PAYLOAD.length ? TRACE_PAYLOAD[i]! : i;
}
/**
 * Wall time: link services a trace drains at most, synchronously (Scheduler.drain): until
 * idle as before, but a cluster that never idles (an echo loop) holds the API for tens of
 * milliseconds at most, not for good.
 */
const WALL_TRACE_STEPS = 100_000;

export function runTrace(cluster: Cluster, opts: TraceOptions): TraceResult {
  const proto = opts.proto ?? 'icmp';
  if (proto !== 'icmp' && proto !== 'udp' && proto !== 'tcp') throw new TraceInputError('proto', proto, 'must be one of icmp, udp, tcp');
  const [toName, toPort] = splitTargetPort(opts.to);
  if (proto === 'icmp' && toPort !== null) throw new TraceInputError('to', opts.to, 'names a port, but ICMP has none (give proto udp or tcp)');
  if (proto === 'icmp' && opts.port !== undefined) throw new TraceInputError('port', opts.port, 'is given, but ICMP has no ports (give proto udp or tcp)');
  if (toPort !== null && opts.port !== undefined && opts.port !== toPort) throw new TraceInputError('port', opts.port, `differs from the port of to (${opts.to})`);
  const ns = resolveSource(cluster, opts.from);
  let dst: number;
  let resolved: TraceResolve | undefined;
  try {
    dst = resolveTarget(cluster, toName);
  } catch (err) {
    // Not a name the cluster knows as an object: from a pod, a DNS name its resolver looks up.
    const pod = cluster.pods.get(canonicalPodKey(opts.from));
    if (!(err instanceof TraceInputError) || !err.notFound || pod === undefined || !looksLikeDnsName(toName)) throw err;
    const res = resolveFromPod(cluster, ns, pod.plan.namespace, toName);
    if (res === null) throw err;
    if (res.address === null) {
      const tried = res.queries.filter((q) => q.type === 'A').map((q) => `${q.name} ${q.result}`).join(', ');
      throw new TraceInputError('to', opts.to, `${err.message.slice(err.message.indexOf(' is not') + 1)}; as a DNS name from ${opts.from} it does not resolve `
        + `(${res.outcome}, ${res.queries.length} queries in ${res.ms} ms: ${tried})`, true);
    }
    dst = tryParseIpv4(res.address)!;
    resolved = res;
  }
  const port = proto === 'icmp' ? null : (toPort ?? opts.port ?? defaultPort(proto));
  if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new TraceInputError('port', port, 'must be an integer 1-65535');
  const size = opts.size ?? defaultSize(proto);
  const maxSize = Math.min(65535, cluster.engine.pool.maxFrame);
  if (!Number.isInteger(size) || size < minSize(proto) || size > maxSize) {
    throw new TraceInputError('size', opts.size, `must be an integer from ${minSize(proto)} to ${maxSize} (the IPv4 total length of a ${proto} probe, headers included)`);
  }
  const e = cluster.engine;
  const src = ns.sourceFor(dst);
  const p = ns.alloc();
  if (p === null) throw new Error('packet pool exhausted');
  const b = p.buf;
  const s = p.start;
  const l4 = s + IPV4_MIN_HEADER_LEN;
  const l4len = size - IPV4_MIN_HEADER_LEN;
  let protoNum: number;
  let bound: number;
  if (proto === 'icmp') {
    protoNum = ICMP_PROTOCOL;
    bound = ns.bind(protoNum, probePort(cluster, ns, protoNum, src, dst, ICMP_ECHO_REQUEST << 8), (q) => ns.free(q));
    fillPayload(b, l4 + 8, l4len - 8);
    writeIcmpEchoHeader(b, l4, ICMP_ECHO_REQUEST, bound, 1, l4len);
  } else if (proto === 'udp') {
    protoNum = UDP_PROTOCOL;
    bound = ns.bind(protoNum, probePort(cluster, ns, protoNum, src, dst, port!), (q) => ns.free(q));
    fillPayload(b, l4 + UDP_HEADER_LEN, l4len - UDP_HEADER_LEN);
    writeUdpHeader(b, l4, bound, port!, l4len - UDP_HEADER_LEN, src, dst);
  } else {
    protoNum = TCP_PROTOCOL;
    // No socket behind the probe: what comes back (a SYN-ACK) gets a RST, as from a kernel.
    bound = ns.bind(protoNum, probePort(cluster, ns, protoNum, src, dst, port!), (q, info) => {
      if (info.protocol === TCP_PROTOCOL) replyRst(ns, q, info.l3, info.l4, info.payloadLen, e.rng.u32() & 0xffff);
      ns.free(q);
    });
    const hl = writeTcpHeader(b, l4, bound, port!, e.rng.u32(), 0, TcpFlag.SYN, 64240, Math.min(1460, ns.mtuFor(dst) - 40));
    b.fill(0, l4 + hl, l4 + l4len); // a SYN with data (--size): zeros
    fillTcpChecksum(b, l4, l4len, src, dst);
  }
  const ident = proto === 'icmp' ? bound : e.rng.u32() & 0xffff;
  writeIpv4Header(b, s, src, dst, protoNum, size, ident);
  p.end = s + size;
  const id = e.trace.begin();
  p.trace = id;
  const sched = e.scheduler;
  const aborts = sched.loopAborts;
  const abortDrops = sched.loopAbortDrops;
  const wasTimed = e.trace.timed;
  e.trace.timed = true;
  try {
    ns.output(p);
    if (e.clock.kind === 'virtual') e.advance(opts.waitMs ?? 5000);
    else e.scheduler.drain(WALL_TRACE_STEPS);
  } finally {
    e.trace.timed = wasTimed;
    ns.unbind(protoNum, bound);
  }
  const replyId = e.trace.replyIdOf(id);
  const resetId = replyId !== 0 ? e.trace.replyIdOf(replyId) : 0;
  const request = journey(e.trace.end(id));
  const reply = replyId !== 0 ? journey(e.trace.end(replyId)) : null;
  const reset = resetId !== 0 ? journey(e.trace.end(resetId)) : null;
  const r: TraceResult = { from: opts.from, to: opts.to, dst: formatIpv4(dst), proto, port, request, reply, reset };
  if (resolved !== undefined) r.resolve = resolved;
  if (reply !== null) r.replyKind = request.hops.some((h) => h.action === 'icmp-error') ? 'icmp-error' : 'reply';
  if (opts.size !== undefined) r.size = size;
  r.sport = bound;
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
export function probePort(cluster: Cluster, ns: NetNamespace, proto: number, src: number, dst: number, dport: number, what = 'trace'): number {
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
  throw new Error(`${ns.name}: no free ${icmp ? 'echo identifier' : 'local port'} for a ${what} to ${formatIpv4(dst)}`);
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

/** One of `count` flows: where the proxy sent it and whether it arrived. */
export interface TraceFlow {
  /** The probe's source port (TCP, UDP) or echo identifier (ICMP): a new one per flow. */
  sport: number | null;
  /** The endpoint kube-proxy chose (`ip:port`), or the destination itself when nothing translated it. */
  endpoint: string;
  /** The pod behind `endpoint`, when it is one. */
  pod: string | null;
  delivered: boolean;
}

/** How `count` flows were spread: one row per endpoint, in the order first chosen. */
export interface TraceSpread {
  endpoint: string;
  pod: string | null;
  flows: number;
  delivered: number;
}

export interface TraceCountResult {
  /** The first flow's whole trace. */
  first: TraceResult;
  flows: TraceFlow[];
  spread: TraceSpread[];
}

export const MAX_TRACE_COUNT = 1000;

/**
 * `count` traces of the same probe, each a new flow (a source port or echo identifier no
 * conntrack table knows, `probePort`), and how the proxy spread them over the endpoints:
 * the load balancing of iptables' random probabilities, an IPVS scheduler or session
 * affinity, flow by flow.
 */
export function runTraces(cluster: Cluster, opts: TraceOptions, count: number): TraceCountResult {
  if (!Number.isInteger(count) || count < 1 || count > MAX_TRACE_COUNT) throw new TraceInputError('count', count, `must be an integer from 1 to ${MAX_TRACE_COUNT}`);
  let first: TraceResult | null = null;
  const flows: TraceFlow[] = [];
  const rows = new Map<string, TraceSpread>();
  for (let i = 0; i < count; i++) {
    const r = runTrace(cluster, opts);
    first ??= r;
    const f = flowOf(r);
    flows.push(f);
    let row = rows.get(f.endpoint);
    if (row === undefined) rows.set(f.endpoint, row = { endpoint: f.endpoint, pod: f.pod, flows: 0, delivered: 0 });
    row.flows++;
    if (f.delivered) row.delivered++;
  }
  return { first: first!, flows, spread: [...rows.values()] };
}

function flowOf(r: TraceResult): TraceFlow {
  const hops = r.request.hops;
  const dnat = hops.find((h) => h.action === 'dnat' && h.detail['endpoint'] !== undefined);
  const deliver = [...hops].reverse().find((h) => h.action === 'deliver');
  const endpoint = dnat !== undefined ? String(dnat.detail['endpoint']) : r.port !== null ? `${r.dst}:${r.port}` : r.dst;
  const pod = dnat?.detail['pod'] !== undefined ? String(dnat.detail['pod']) : deliver !== undefined && deliver.netns !== 'root' ? deliver.netns : null;
  return { sport: r.sport ?? null, endpoint, pod, delivered: r.request.delivered };
}
