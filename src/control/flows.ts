/**
 * The flow log (`podwire observe`, `GET /flows`, `podwire demo --observe`): the engine's
 * FlowTap (src/engine/flow-tap.ts) turned into Hubble-like flow events, kept in a bounded
 * ring (the last `capacity` events) and handed to live subscribers (the SSE stream).
 *
 * The ring keeps each event as numbers (addresses, ports, protocol, flags, time, node and
 * drop reason ids): recording costs a few typed-array writes, so a drop storm stays cheap.
 * An event with names is built when it is read (`GET /flows`) or handed to a live
 * subscriber, so its names are those of that moment: addresses are matched to pods (by pod
 * IP) and the destination to a service (cluster IP, external or load-balancer IP and port,
 * or a node's address and a NodePort); a NEW connection that kube-proxy DNATed shows the
 * endpoint it chose as the destination and the service it was sent to. The overlay's own
 * VXLAN datagrams between two nodes are not shown as flows (they carry the flows shown),
 * unless one is dropped. The engine calls a FlowLog only while it is attached
 * (`attach()`/`detach()`); when none is, the dataplane pays a null check.
 */
import type { Cluster } from '../kube/cluster.js';
import type { PodPlan, ServicePlan } from '../kube/types.js';
import { FlowState, type FlowTap } from '../engine/flow-tap.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { formatIpv4, readU16, readU32 } from '../wire/addr.js';
import { ICMP_PROTOCOL as ICMP } from '../wire/icmp.js';
import { TCP_PROTOCOL as TCP } from '../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';
import { ipv4Dst, ipv4HeaderLength, ipv4IsLaterFragment, ipv4Protocol, ipv4Src } from '../wire/ipv4.js';

export interface FlowEndpoint {
  ip: string;
  port?: number;
  pod?: string;
  namespace?: string;
}

export interface FlowEvent {
  /** Sequence number in this log (1, 2, ...): the SSE `id`. */
  id: number;
  /** ISO 8601, from the cluster's clock (virtual time for emulated-only clusters, else the wall clock). */
  time: string;
  node: string;
  source: FlowEndpoint;
  destination: FlowEndpoint & { service?: string };
  protocol: string;
  verdict: 'forwarded' | 'dropped';
  dropReason?: string;
  /** TCP only: `SYN`, `SYN,ACK`, `FIN,ACK`, `RST`. */
  tcpFlags?: string;
  /** True for a packet of the reply direction (server to client). */
  isReply: boolean;
  summary: string;
}

export interface FlowFilter {
  /** A pod (`name`, `namespace/name` or its key `name.namespace`) as source or destination. */
  pod?: string;
  /** A service (`name`, `namespace/name` or `name.namespace`) as destination. */
  service?: string;
  verdict?: 'forwarded' | 'dropped';
  /** TCP, UDP, ICMP (any case). */
  protocol?: string;
}

export const DEFAULT_FLOW_CAPACITY = 4096;

const PROTO_NAMES: Readonly<Record<number, string>> = { [ICMP]: 'ICMP', [TCP]: 'TCP', [UDP]: 'UDP' };
const ICMP_TYPES: Readonly<Record<number, string>> = {
  0: 'EchoReply', 3: 'DestinationUnreachable', 5: 'Redirect', 8: 'EchoRequest', 11: 'TimeExceeded', 12: 'ParameterProblem',
};
/** Flag names in the order Hubble prints them. */
const TCP_FLAGS: readonly [number, string][] = [[0x02, 'SYN'], [0x01, 'FIN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR']];

export function tcpFlagsText(f: number): string {
  return TCP_FLAGS.filter(([bit]) => (f & bit) !== 0).map(([, n]) => n).join(',');
}

export function protocolName(proto: number): string {
  return PROTO_NAMES[proto] ?? String(proto);
}

const refs = (name: string, namespace: string): string[] => [name, `${namespace}/${name}`, `${name}.${namespace}`];

export function matchesFlow(e: FlowEvent, f: FlowFilter): boolean {
  if (f.verdict !== undefined && e.verdict !== f.verdict) return false;
  if (f.protocol !== undefined && e.protocol.toLowerCase() !== f.protocol.toLowerCase()) return false;
  if (f.pod !== undefined) {
    const is = (x: FlowEndpoint): boolean => x.pod !== undefined && refs(x.pod, x.namespace ?? 'default').includes(f.pod!);
    if (!is(e.source) && !is(e.destination)) return false;
  }
  if (f.service !== undefined) {
    const s = e.destination.service;
    if (s === undefined) return false;
    const [ns, name] = s.split('/') as [string, string];
    if (!refs(name, ns).includes(f.service)) return false;
  }
  return true;
}

/** Where a counted drop's IPv4 header is: after an Ethernet header, else where a device found L3; -1 for none (ARP, runts). */
function ipv4At(p: Packet): number {
  const b = p.buf;
  const s = p.start;
  if (p.end - s >= 34 && readU16(b, s + 12) === 0x0800 && b[s + 14]! >>> 4 === 4) return s + 14;
  if (p.l3 >= s && p.end - p.l3 >= 20 && b[p.l3]! >>> 4 === 4) return p.l3;
  return -1;
}

interface Names {
  pods: Map<number, PodPlan>;
  /** `ip:port/proto` -> service; NodePorts as `*:port/proto`. */
  services: Map<string, ServicePlan>;
  podsLen: number;
  servicesLen: number;
}

/** Per event, the slots of `nums` (uint32): addresses, ports (+1, 0 = none), protocol, flags. */
const N_SRC = 0;
const N_DST = 1;
const N_NAT_DST = 2;
const N_SPORT = 3;
const N_DPORT = 4;
const N_NAT_DPORT = 5;
const N_PROTO = 6;
const N_FLAGS = 7;
const N_WORDS = 8;
/** `flags` bits beside the TCP flags byte. */
const F_REPLY = 0x100;

export class FlowLog implements FlowTap {
  /**
   * The ring holds numbers, not events: recording one is a few typed-array writes (cheap
   * enough for a drop storm); events with names are built when read (`recent`) or when a
   * live subscriber wants them, with the pod and service names of that moment.
   */
  private readonly nums: Uint32Array;
  private readonly times: Float64Array;
  /** Node and drop reason per event, as indices into `strings` (0: none). */
  private readonly strs: Uint16Array;
  private readonly strings: string[] = [''];
  private readonly stringIds = new Map<string, number>([['', 0]]);
  private head = 0;
  private size = 0;
  private seq = 0;
  private readonly subscribers = new Set<(e: FlowEvent) => void>();
  private readonly enders = new Set<() => void>();
  private names: Names | null = null;
  private readonly vxlanPort: number;
  private readonly nodeIps: Set<number>;

  constructor(private readonly cluster: Cluster, readonly capacity = DEFAULT_FLOW_CAPACITY) {
    this.nums = new Uint32Array(capacity * N_WORDS);
    this.times = new Float64Array(capacity);
    this.strs = new Uint16Array(capacity * 2);
    this.vxlanPort = cluster.plan.cluster.overlay === 'vxlan' ? cluster.plan.cluster.vxlan.port : -1;
    this.nodeIps = new Set(cluster.plan.nodes.map((x) => x.ip));
  }

  /** Starts receiving the engine's flow events. */
  attach(): this {
    this.cluster.engine.flowTap = this;
    return this;
  }

  detach(): void {
    if (this.cluster.engine.flowTap === this) this.cluster.engine.flowTap = null;
  }

  /** Forgets the pod and service names cached for matching (after pods or services changed). */
  invalidate(): void {
    this.names = null;
  }

  /** Events kept (at most `capacity`), oldest first, those matching `f`; the last `limit` of them. */
  recent(f: FlowFilter = {}, limit = this.capacity): FlowEvent[] {
    const out: FlowEvent[] = [];
    const start = (this.head - this.size + this.capacity) % this.capacity;
    const firstId = this.seq - this.size + 1;
    for (let i = 0; i < this.size; i++) {
      const e = this.event((start + i) % this.capacity, firstId + i);
      if (matchesFlow(e, f)) out.push(e);
    }
    return out.length > limit ? out.slice(out.length - limit) : out;
  }

  /** Calls `fn` for every new event matching `f`, `onEnd` when the log closes; returns the unsubscribe function. */
  subscribe(f: FlowFilter, fn: (e: FlowEvent) => void, onEnd?: () => void): () => void {
    const sub = (e: FlowEvent): void => { if (matchesFlow(e, f)) fn(e); };
    this.subscribers.add(sub);
    if (onEnd !== undefined) this.enders.add(onEnd);
    return () => {
      this.subscribers.delete(sub);
      if (onEnd !== undefined) this.enders.delete(onEnd);
    };
  }

  /** Detaches from the engine and ends every subscription (shutdown). */
  close(): void {
    this.detach();
    this.subscribers.clear();
    const enders = [...this.enders];
    this.enders.clear();
    for (const f of enders) f();
  }

  /** Events recorded so far (ids run from 1 to this). */
  get total(): number {
    return this.seq;
  }

  /** Live subscriptions (SSE streams) now. */
  get watchers(): number {
    return this.subscribers.size;
  }

  // ---- FlowTap --------------------------------------------------------------------------

  dropped(p: Packet, where: Where, reason: string): void {
    const l3 = ipv4At(p);
    if (l3 < 0) return; // not IP (ARP, a runt): not a flow
    const b = p.buf;
    const proto = ipv4Protocol(b, l3);
    const src = ipv4Src(b, l3);
    const dst = ipv4Dst(b, l3);
    const l4 = l3 + ipv4HeaderLength(b, l3);
    const frag = ipv4IsLaterFragment(b, l3);
    const hasL4 = !frag && p.end - l4 >= (proto === TCP ? 14 : proto === ICMP ? 2 : 4);
    let sport = -1;
    let dport = -1;
    let flags = 0;
    if (hasL4 && (proto === TCP || proto === UDP)) {
      sport = readU16(b, l4);
      dport = readU16(b, l4 + 2);
      if (proto === TCP) flags = b[l4 + 13]!;
    } else if (hasL4 && proto === ICMP) dport = (b[l4]! << 8) | b[l4 + 1]!;
    this.record(where.node, proto, src, sport, dst, dport, dst, dport, flags, reason);
  }

  tracked(where: Where, state: number, proto: number, src: number, sport: number, dst: number, dport: number, natDst: number, natDport: number, tcpFlags: number): void {
    // The overlay's own datagrams (VXLAN between two nodes) carry the flows shown: not flows themselves.
    if (proto === UDP && (dport === this.vxlanPort || sport === this.vxlanPort) && this.nodeIps.has(src) && this.nodeIps.has(dst)) return;
    this.record(where.node, proto, src, sport, dst, dport, natDst, natDport, tcpFlags | (state === FlowState.Reply ? F_REPLY : 0), '');
  }

  // ---- events ---------------------------------------------------------------------------

  private stringId(s: string): number {
    const id = this.stringIds.get(s);
    if (id !== undefined) return id;
    if (this.strings.length > 0xffff) return 0;
    this.strings.push(s);
    this.stringIds.set(s, this.strings.length - 1);
    return this.strings.length - 1;
  }

  /** Writes one event into the ring (reason '' for forwarded); builds it only for live subscribers. */
  private record(
    node: string, proto: number, src: number, sport: number, dst: number, dport: number, natDst: number, natDport: number,
    flags: number, reason: string,
  ): void {
    const i = this.head;
    const w = i * N_WORDS;
    const n = this.nums;
    n[w + N_SRC] = src;
    n[w + N_DST] = dst;
    n[w + N_NAT_DST] = natDst;
    n[w + N_SPORT] = sport + 1;
    n[w + N_DPORT] = dport + 1;
    n[w + N_NAT_DPORT] = natDport + 1;
    n[w + N_PROTO] = proto;
    n[w + N_FLAGS] = flags;
    this.times[i] = this.cluster.engine.clock.epochMs();
    this.strs[i * 2] = this.stringId(node);
    this.strs[i * 2 + 1] = reason === '' ? 0 : this.stringId(reason);
    this.head = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.seq++;
    if (this.subscribers.size > 0) {
      const e = this.event(i, this.seq);
      for (const s of this.subscribers) s(e);
    }
  }

  /** The event in ring slot `i`, with the names of now. */
  private event(i: number, id: number): FlowEvent {
    const w = i * N_WORDS;
    const nm = this.nums;
    const proto = nm[w + N_PROTO]!;
    const dst = nm[w + N_DST]!;
    const dport = nm[w + N_DPORT]! - 1;
    const flags = nm[w + N_FLAGS]! & 0xff;
    const isReply = (nm[w + N_FLAGS]! & F_REPLY) !== 0;
    const reasonId = this.strs[i * 2 + 1]!;
    const reason = reasonId === 0 ? null : this.strings[reasonId]!;
    const n = this.lookupNames();
    const ports = proto === TCP || proto === UDP;
    const source = this.endpoint(n, nm[w + N_SRC]!, ports ? nm[w + N_SPORT]! - 1 : -1);
    const destination: FlowEvent['destination'] = this.endpoint(n, nm[w + N_NAT_DST]!, ports ? nm[w + N_NAT_DPORT]! - 1 : -1);
    if (ports && !isReply) {
      const svc = n.services.get(`${dst}:${dport}/${proto}`) ?? (this.nodeIps.has(dst) ? n.services.get(`*:${dport}/${proto}`) : undefined);
      if (svc !== undefined) destination.service = `${svc.namespace}/${svc.name}`;
    }
    const protocol = protocolName(proto);
    const tcpFlags = proto === TCP ? tcpFlagsText(flags) : '';
    const icmp = proto === ICMP && dport >= 0 ? ICMP_TYPES[dport >>> 8] ?? `type ${dport >>> 8}` : null;
    return {
      id,
      time: new Date(this.times[i]!).toISOString(),
      node: this.strings[this.strs[i * 2]!]!, source, destination, protocol,
      verdict: reason === null ? 'forwarded' : 'dropped',
      ...(reason !== null ? { dropReason: reason } : {}),
      ...(tcpFlags !== '' ? { tcpFlags } : {}),
      isReply,
      summary: reason !== null ? `${protocol} dropped: ${reason}${tcpFlags !== '' ? ` (TCP Flags: ${tcpFlags})` : ''}`
        : tcpFlags !== '' ? `TCP Flags: ${tcpFlags}` : icmp !== null ? `ICMPv4 ${icmp}` : `${protocol}${isReply ? ' reply' : ' new flow'}`,
    };
  }

  private endpoint(n: Names, ip: number, port: number): FlowEndpoint {
    const p = n.pods.get(ip);
    return {
      ip: formatIpv4(ip), ...(port >= 0 ? { port } : {}),
      ...(p !== undefined ? { pod: p.name, namespace: p.namespace } : {}),
    };
  }

  private lookupNames(): Names {
    const plan = this.cluster.plan;
    const have = this.names;
    if (have !== null && have.podsLen === plan.pods.length && have.servicesLen === plan.services.length) return have;
    const pods = new Map<number, PodPlan>();
    for (const p of plan.pods) pods.set(p.ip, p);
    const services = new Map<string, ServicePlan>();
    for (const s of plan.services) {
      for (const sp of s.ports) {
        const pn = sp.protocol === 'UDP' ? UDP : sp.protocol === 'TCP' ? TCP : -1;
        if (pn < 0) continue;
        for (const ip of [s.clusterIP, ...s.externalIPs, ...s.loadBalancerIPs]) if (ip !== 0) services.set(`${ip}:${sp.port}/${pn}`, s);
        if (sp.nodePort !== undefined) services.set(`*:${sp.nodePort}/${pn}`, s);
      }
    }
    this.names = { pods, services, podsLen: plan.pods.length, servicesLen: plan.services.length };
    return this.names;
  }
}

/** One line per event, as `hubble observe` prints them (time, source, destination, verdict, node). */
export function renderFlow(e: FlowEvent): string {
  const at = (x: FlowEndpoint): string => {
    const port = x.port !== undefined ? `:${x.port}` : '';
    return x.pod !== undefined ? `${x.namespace ?? 'default'}/${x.pod}${port} (${x.ip})` : `${x.ip}${port}`;
  };
  const t = e.time.replace('T', ' ').replace('Z', '');
  const svc = e.destination.service !== undefined ? ` service ${e.destination.service}` : '';
  const verdict = e.verdict === 'dropped' ? `DROPPED (${e.dropReason ?? 'unknown'})` : 'FORWARDED';
  const what = e.tcpFlags !== undefined ? `(TCP Flags: ${e.tcpFlags.split(',').join(', ')})`
    : e.protocol === 'ICMP' && e.summary.startsWith('ICMPv4') ? `(${e.summary})` : `(${e.protocol})`;
  return `${t} [${e.node}]: ${at(e.source)} -> ${at(e.destination)}${svc} ${verdict} ${what}${e.isReply ? ' reply' : ''}`;
}
