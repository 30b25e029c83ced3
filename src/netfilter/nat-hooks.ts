/**
 * NatHooks: the conntrack + NAT data path of one namespace (a node's root netns), plugged
 * into the namespace's hook points (src/net/hooks.ts) by the builder in src/kube.
 *
 * Behaviour, as Linux's nf_conntrack + nf_nat at their default priorities:
 *   PREROUTING / OUTPUT  parse the 5-tuple (TCP/UDP ports; ICMP echo: sport = identifier,
 *       dport = type << 8 | code), look it up in either direction.
 *       hit, original direction: advance the state, DNAT as the entry says
 *           (dst := reply source), hops `conntrack` {state: 'established'} and `dnat`;
 *       hit, reply direction: advance the state, un-SNAT (dst := original source) when
 *           the entry is SNATed, hops `conntrack` {state: 'reply'} and `un-snat`;
 *       miss: a NEW connection (TCP: a plain SYN; ICMP: an echo request), the policy's
 *           `dnat()` decides, the entry is created with the reply tuple of that decision,
 *           the packet is DNATed, hops `conntrack` {state: 'new'} and `dnat` (the policy's
 *           detail). Table full: dropped as `conntrack-table-full` (only NEW connections
 *           ever get there);
 *       ICMP errors: the quoted datagram's tuple (inverted) finds the RELATED connection;
 *           the outer header and the quote are NATed together (nat.ts).
 *   POSTROUTING  for an entry not yet confirmed, the policy's `snat()` decides (masquerade,
 *       hairpin SNAT), the reply tuple is changed (`setReply`, source port remapped when
 *       the tuple is taken, as Linux's get_unique_tuple) and the packet SNATed, hop `snat`.
 *       Later packets: SNAT in the original direction, un-DNAT (src := original dst) in
 *       the reply direction, hops `snat` / `un-dnat`.
 *   INPUT  as POSTROUTING without asking the policy (kube-proxy has no SNAT at INPUT).
 * Linux too does un-SNAT at PREROUTING and un-DNAT at POSTROUTING/INPUT: the routing
 * decision sees the real destination, the sender sees the VIP.
 *
 * Bridged frames (br_netfilter: a bridge switching a frame between two pods calls the host's
 * hooks, src/kube BridgedHooks): `bridgedPrerouting` / `bridgedPostrouting` do what
 * `prerouting` / `postrouting` do, but conntrack's routine hops (`conntrack`, and NAT hops
 * that change no address) stay out of the journey, which reads as the bridge's story; a NAT
 * that changes an address shows as its usual action with detail { from, to, conntrack,
 * bridged: true }: `from` the old address, `to` the new one (with the port for TCP/UDP/SCTP),
 * `conntrack` 'reply' in the reply direction (ICMP errors included), else the state. Drops
 * keep their `drop` hop.
 *
 * Packet.ct / Packet.ctDir are set at PREROUTING/OUTPUT (-1 when untracked) for the later
 * hooks of the same packet in this namespace. The table lookup goes through a small flow
 * cache (the last tuples found, valid while `ConntrackTable.generation` stands): the same
 * answers and stats, without hashing and probing for a flow seen just before.
 *
 * INVALID packets (TCP that fits no transition, e.g. a first packet that is not a SYN;
 * an echo reply without request; truncated L4 headers) are accepted untouched and counted
 * `invalid`: Linux marks them INVALID and does no NAT; kube-proxy drops them only with an
 * explicit rule, which podwire leaves to the policy layer. Fragments and protocols other
 * than TCP/UDP/ICMP are not tracked (`untracked`).
 *
 * Two tuples must stay unique in the table: when a DNAT decision makes a reply tuple that
 * another entry has, the source port (ICMP: identifier) is remapped and the entry marked
 * SNAT with the source address unchanged (counter `port-remap`).
 *
 * Confirmation races (`cpus` > 1). Linux creates a connection's entry unconfirmed at
 * PREROUTING/OUTPUT (nf_conntrack_in) and inserts it into the hash at POSTROUTING/INPUT
 * (__nf_conntrack_confirm); two packets of one new tuple handled at the same time on two CPUs
 * (glibc's A and AAAA queries, sent together from one UDP socket) both miss, both get a NAT
 * decision, and the second to confirm finds the first: nf_ct_resolve_clash. podwire handles
 * packets one after the other, so it models the CPUs: with `cpus` = n, the packets a node
 * handles within one instant of the clock run on CPUs 0, 1, ..., n-1 in turn, and a packet
 * does not see an entry created in the same instant on another CPU that has no reply yet
 * (that CPU has not confirmed it: it is still between its hooks). Such a packet gets its own
 * DNAT decision from the policy; at POSTROUTING/INPUT (its confirmation) it clashes with the
 * entry: the same reply tuple (same endpoint) resolves it as __nf_ct_resolve_clash does
 * (nf_ct_match: the packet joins the entry, `clash_resolve`); a different endpoint is
 * dropped (`insert-failed`: NF_CT_STAT insert_failed and drop), as kernels without
 * nf_ct_resolve_clash_harder do (later kernels insert such a UDP loser with IPS_NAT_CLASH).
 * The same race on the SNAT side (the "SNAT race"): MASQUERADE keeps a connection's source
 * port when no confirmed entry uses the reply tuple it makes (nf_nat_used_tuple sees only
 * the hash); an entry of another CPU in the same instant is not there yet, so two
 * connections from different pods with the same source port both keep it, and the second
 * confirmation clashes on the reply tuple: dropped, `insert-failed` (its original tuple
 * differs, nf_ct_match cannot merge them).
 * With `cpus` = 1 (the default) nothing of this runs.
 *
 * `randomFully` (MASQUERADE --random-fully, NF_NAT_RANGE_PROTO_RANDOM_FULLY): the SNAT
 * source port is drawn at random from 1024-65535 for every connection and probed upwards from
 * there (nf_nat_l4proto_unique_tuple), instead of keeping the original port when free.
 *
 * Counters: NAT_HOOK_COUNTERS. Drop reasons: `conntrack-table-full` (the table is full and
 * early_drop found no entry to evict, see ConntrackTable.create), `nat-port-exhausted`,
 * `insert-failed` (a confirmation clash, above). Not an
 * element: the builder registers it with the engine (`addCounted`, kind `conntrack`, name
 * `<node>/conntrack`) so that its drops reach the stats.
 * The policy contract (NatPolicy, DnatDecision, MARK_MASQ) lives in nat-policy.ts and is
 * re-exported here; the tuple parser in packet-tuple.ts.
 */

import { Counters, indexOf, type Counted } from '../engine/counters.js';
import type { Engine } from '../engine/engine.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { Verdict, type PacketHooks } from '../net/hooks.js';
import { formatIpv4, readU16 } from '../wire/addr.js';
import { ipv4Dst, ipv4Src } from '../wire/ipv4.js';
import { ICMP_ECHO_REQUEST, ICMP_PROTOCOL as ICMP, isIcmpError } from '../wire/icmp.js';
import { ConntrackTable, CtDir, CtStatus, NatFlag, TcpState } from './conntrack.js';
import { FlowState } from '../engine/flow-tap.js';
import { TCP_STATE_NAMES, tcpNewOk } from './conntrack-tcp.js';
import { WINDOW_FAILURES } from './conntrack-window.js';
import { protoName } from './conntrack-dump.js';
import { NatSide, natRewriteAt, natRewriteDst, natRewriteIcmpErrorInner, natRewriteSrc } from './nat.js';
import type { DnatDecision, NatPolicy } from './nat-policy.js';
import { PacketTuple, TupleKind } from './packet-tuple.js';
import { TCP_PROTOCOL as TCP, TcpFlag } from '../wire/tcp.js';

export { MARK_MASQ, type DnatDecision, type NatPolicy } from './nat-policy.js';

export const NAT_HOOK_COUNTERS = [
  'new', 'established', 'reply', 'related', 'invalid', 'untracked', 'dnat', 'snat', 'un-dnat', 'un-snat', 'port-remap',
  'clash-resolve',
] as const;
export const NatHookCounter = indexOf(NAT_HOOK_COUNTERS);
export const NAT_HOOK_DROPS = ['conntrack-table-full', 'nat-port-exhausted', 'insert-failed'] as const;
export const NatHookDrop = indexOf(NAT_HOOK_DROPS);

/** SYN | FIN | RST: the TCP packets a flow log shows (flow-tap.ts). */
const TCP_STATE_FLAGS = 0x07;
/** Slots of the flow cache (a power of two). */
const FLOW_CACHE = 8;
/** Candidate ports tried when a tuple is taken. */
const PORT_TRIES = 128;

/**
 * What `prerouting`/`output` return when the policy refused a NEW connection (`decision.refuse`):
 * not a Verdict the namespace knows; the hooks that wrap NatHooks (ProxyHooks) turn it into
 * REJECT or DROP. No conntrack entry exists for the packet.
 */
export const NAT_REFUSED = 3;

/** decideSnat's answers. */
const SNAT_OK = 0, SNAT_NO_PORT = 1, SNAT_CLASH = 2;
/** Packet.ct of a packet that lost a confirmation race to a different endpoint: dropped at its confirmation. */
const CT_CLASH = -2;
/**
 * Packet.ct of a packet conntrack marked INVALID (`--ctstate INVALID`): no entry, no NAT.
 * kube-proxy's KUBE-FORWARD drop reads it (proxy-hooks.ts); it is -1 for everything else.
 */
export const CT_INVALID = -3;
/** Entries remembered as created in the current instant (per CPU), for the race model. */
const IN_FLIGHT = 16;

export class NatHooks implements PacketHooks, Counted {
  readonly kind = 'conntrack';
  readonly counters = new Counters(NAT_HOOK_COUNTERS);
  readonly drops = new Counters(NAT_HOOK_DROPS);
  /** Owner name for drops: `<node>/conntrack`. */
  readonly name: string;
  /** The policy's answer on the last NEW connection (its `refuse` and `detail` read by ProxyHooks after NAT_REFUSED). */
  readonly decision: DnatDecision = { ip: 0, port: 0, mark: 0, tag: 0, detail: {}, refuse: -1 };
  /** The tuple of the packet being processed (of the quoted datagram, inverted, for ICMP errors). */
  private readonly tu = new PacketTuple();
  /** The tuple `passesUnchanged` reads (apart from `tu`, which a packet in the hooks owns). */
  private readonly peekTu = new PacketTuple();
  /**
   * Flow cache (see the header): FLOW_CACHE slots of 6 int32 (src, dst, ports, proto, answer,
   * table generation), a slot chosen by an xor of the tuple. Packets come in runs of a few
   * flows (a batch; a tunnel's inner and outer packets).
   */
  private readonly fc = new Int32Array(FLOW_CACHE * 6).fill(-1);
  /**
   * CPUs of the node for the confirmation race model (see the header); 1: no races. The
   * entries created in the current instant and the CPU each was made on.
   */
  cpus = 1;
  /** MASQUERADE --random-fully (see the header). */
  randomFully = false;
  /** The CPU of the packet between its PREROUTING/OUTPUT and its POSTROUTING/INPUT. */
  private cpu = 0;
  private instant = -1;
  private tick = 0;
  private readonly flightEntry = new Int32Array(IN_FLIGHT);
  private readonly flightCpu = new Int32Array(IN_FLIGHT);
  private flights = 0;

  constructor(
    private readonly engine: Engine,
    private readonly where: Where,
    readonly table: ConntrackTable,
    private readonly policy: NatPolicy,
  ) {
    this.name = `${where.node}/conntrack`;
    const released = policy.released;
    if (released !== undefined) {
      table.onRelease = (e) => {
        if ((table.natFlags(e) & NatFlag.Dnat) !== 0) released.call(policy, table.tag(e));
      };
    }
  }

  prerouting(p: Packet, l3: number, inIf: number): number {
    return this.track(p, l3, inIf, null);
  }

  output(p: Packet, l3: number): number {
    return this.track(p, l3, 0, null);
  }

  postrouting(p: Packet, l3: number, outIf: number): number {
    return this.post(p, l3, outIf, true, null);
  }

  input(p: Packet, l3: number, inIf: number): number {
    return this.post(p, l3, inIf, false, null);
  }

  /**
   * PREROUTING of a frame the bridge `at` switches (br_netfilter): `prerouting` with the
   * bridged hops, recorded at `at` (see the header).
   */
  bridgedPrerouting(p: Packet, l3: number, inIf: number, at: Where): number {
    return this.track(p, l3, inIf, at);
  }

  /** POSTROUTING of a frame the bridge `at` switches (br_netfilter): `postrouting` with the bridged hops (see the header). */
  bridgedPostrouting(p: Packet, l3: number, outIf: number, at: Where): number {
    return this.post(p, l3, outIf, true, at);
  }

  /**
   * True when the hooks would pass the packet at `l3` unchanged, told by a lookup without
   * side effects: a tracked tuple of a live, confirmed entry that NATs neither direction (no
   * SYN: one could restart a closing connection; with several CPUs, an entry that has seen its
   * reply, so no confirmation race). Its state and window checks still run when the packet
   * takes the hooks; they may find it INVALID. Bridge.switchOutside asks this before it runs
   * br_netfilter on a frame outside the engine, so a frame NAT would rewrite goes to the engine
   * without having touched the table.
   */
  passesUnchanged(p: Packet, l3: number): boolean {
    if (p.l3 !== l3 || p.l4 <= l3) p.setIpv4(l3);
    const tu = this.peekTu;
    if (tu.parse(p.buf, l3, p.l4, p.proto) !== TupleKind.Normal) return false;
    if (tu.proto === TCP && (tu.flags & TcpFlag.SYN) !== 0) return false;
    const t = this.table;
    const v = t.peek(tu.proto, tu.src, tu.dst, tu.sport, tu.dport, this.engine.now());
    if (v < 0) return false;
    const e = v >> 1;
    if (!t.isConfirmed(e) || t.natFlags(e) !== 0) return false;
    return this.cpus === 1 || (t.status(e) & CtStatus.SeenReply) !== 0;
  }

  /** Sweeps expired entries (for a periodic timer): `table.gc(now, budget)`. */
  gc(budget = 4096): number {
    return this.table.gc(this.engine.now(), budget);
  }

  /** PREROUTING/OUTPUT; `br`: where the bridge is when it switches the frame (bridged hops, see the header), else null. */
  private track(p: Packet, l3: number, inIf: number, br: Where | null): number {
    p.ct = -1;
    p.ctDir = 0;
    if (p.l3 !== l3 || p.l4 <= l3) p.setIpv4(l3); // a caller that did not decode it (tests, hand-built packets)
    const kind = this.tu.parse(p.buf, l3, p.l4, p.proto);
    if (p.missing !== 0) this.tu.end = (this.tu.end + p.missing) >>> 0; // a header-only probe (Packet.missing)
    if (kind === TupleKind.Untracked) {
      this.counters.values[NatHookCounter.untracked]!++;
      return Verdict.Accept;
    }
    if (kind === TupleKind.Invalid) return this.invalid(p, br);
    const t = this.table;
    const now = this.engine.now();
    if (kind === TupleKind.IcmpError) return this.relatedPre(p, l3, now, br);
    let v = this.lookup(now);
    if (v >= 0 && this.tu.proto === TCP && (v & 1) === CtDir.Original && tcpNewOk(this.tu.flags)) {
      const s = t.tcpState(v >> 1);
      if (s === TcpState.TimeWait || s === TcpState.Close) {
        t.delete(v >> 1); // a new connection on the old tuple: Linux kills the entry and starts over
        v = -1;
      }
    }
    let cpu = 0;
    if (this.cpus > 1) {
      if (now !== this.instant) { this.instant = now; this.tick = 0; this.flights = 0; }
      cpu = this.tick++ % this.cpus;
      this.cpu = cpu;
      if (v >= 0 && (v & 1) === CtDir.Original && this.inFlight(v >> 1, cpu)) return this.race(p, l3, inIf, v, cpu, br);
    }
    if (v < 0) return this.newConnection(p, l3, inIf, now, cpu, br);
    return this.trackHit(p, l3, v, now, br);
  }

  /** A packet of entry `v` (entry << 1 | dir): state, then DNAT or un-SNAT as the entry says. */
  private trackHit(p: Packet, l3: number, v: number, now: number, br: Where | null): number {
    const t = this.table;
    const e = v >> 1;
    const dir = v & 1;
    const ft = this.engine.flowTap;
    // Observed (flow-tap.ts): the first packet of the reply direction; TCP's SYN, FIN and RST.
    const flowEvent = ft !== null && ((this.tu.flags & TCP_STATE_FLAGS) !== 0 || (dir === CtDir.Reply && (t.status(e) & CtStatus.SeenReply) === 0));
    if (!t.update(e, dir, this.tu.flags, now, this.tu)) return this.invalid(p, br, t.window.lastFailure);
    p.ct = e;
    p.ctDir = dir;
    if (flowEvent) this.flowEvent(e, dir);
    const nat = t.natFlags(e);
    const icmp = this.tu.proto === ICMP;
    const routine = p.trace !== 0 && br === null;
    if (dir === CtDir.Original) {
      this.counters.values[NatHookCounter.established]!++;
      if (routine) this.hopConntrack(p, 'established', e);
      if ((nat & NatFlag.Dnat) !== 0) {
        natRewriteAt(p.buf, l3, p.l4, p.proto, NatSide.Dst, t.replySrc(e), t.replySport(e));
        this.counters.values[NatHookCounter.dnat]!++;
        if (p.trace !== 0) this.hopNat(p, br, 'dnat', this.tu.dst, this.tu.dport, t.replySrc(e), t.replySport(e), icmp, 'established');
      }
    } else {
      this.counters.values[NatHookCounter.reply]!++;
      if (routine) this.hopConntrack(p, 'reply', e);
      if ((nat & NatFlag.Snat) !== 0) {
        natRewriteAt(p.buf, l3, p.l4, p.proto, NatSide.Dst, t.origSrc(e), t.origSport(e));
        this.counters.values[NatHookCounter['un-snat']]!++;
        if (p.trace !== 0) this.hopNat(p, br, 'un-snat', this.tu.dst, this.tu.dport, t.origSrc(e), t.origSport(e), icmp, 'reply');
      }
    }
    return Verdict.Accept;
  }

  /** `table.lookup` of the parsed tuple, through the flow cache. */
  private lookup(now: number): number {
    const tu = this.tu;
    const t = this.table;
    const src = tu.src | 0;
    const dst = tu.dst | 0;
    const ports = ((tu.sport & 0xffff) << 16) | (tu.dport & 0xffff);
    const x = src ^ dst ^ ports;
    const fc = this.fc;
    const i = ((x ^ (x >>> 16) ^ (x >>> 8)) & (FLOW_CACHE - 1)) * 6;
    if (fc[i] === src && fc[i + 1] === dst && fc[i + 2] === ports && fc[i + 3] === tu.proto && fc[i + 5] === (t.generation | 0)) {
      return t.lookupAgain(fc[i + 4]!, now);
    }
    const v = t.lookup(tu.proto, tu.src, tu.dst, tu.sport, tu.dport, now);
    if (v >= 0) {
      fc[i] = src;
      fc[i + 1] = dst;
      fc[i + 2] = ports;
      fc[i + 3] = tu.proto;
      fc[i + 4] = v;
      fc[i + 5] = t.generation;
    }
    return v;
  }

  /** True when entry `e` was created in this instant on a CPU other than `cpu` and has seen no reply: not confirmed yet there. */
  private inFlight(e: number, cpu: number): boolean {
    if ((this.table.status(e) & CtStatus.SeenReply) !== 0) return false;
    for (let i = 0; i < this.flights; i++) if (this.flightEntry[i] === e) return this.flightCpu[i] !== cpu;
    return false;
  }

  /**
   * A packet that raced entry `v`'s creator on another CPU: its own NAT decision now, the
   * clash at its confirmation (header). Same endpoint: it joins the entry (clash_resolve).
   */
  private race(p: Packet, l3: number, inIf: number, v: number, cpu: number, br: Where | null): number {
    const t = this.table;
    const e = v >> 1;
    const { proto, src, dst, sport, dport } = this.tu;
    const d = this.decision;
    d.mark = 0;
    d.tag = 0;
    d.refuse = -1;
    const dnat = this.policy.dnat(proto, src, dst, sport, dport, inIf, p.trace !== 0, d);
    if (d.refuse >= 0) return NAT_REFUSED;
    if (dnat && d.tag !== 0) this.policy.released?.call(this.policy, d.tag >>> 0); // the loser's entry never joins the table
    const rsrc = dnat ? d.ip >>> 0 : dst;
    const rsport = dnat ? d.port & 0xffff : proto === ICMP ? sport : dport;
    if (p.trace !== 0 && br === null) this.engine.trace.hop(p.trace, this.where, 'conntrack', { state: 'new', cpu, race: 'an entry of this tuple made on another CPU is not confirmed yet' });
    // nf_ct_resolve_clash: only protocols with allow_clash (UDP, ICMP; not TCP) may be merged.
    if (proto !== TCP && rsrc === t.replySrc(e) && rsport === t.replySport(e)) {
      // __nf_ct_resolve_clash: nf_ct_match, the packet takes the winner's entry.
      t.stats.clashResolve++;
      this.counters.values[NatHookCounter['clash-resolve']]!++;
      return this.trackHit(p, l3, v, this.engine.now(), br);
    }
    if (dnat) natRewriteAt(p.buf, l3, p.l4, p.proto, NatSide.Dst, rsrc, rsport);
    p.ct = CT_CLASH;
    p.ctDir = CtDir.Original;
    return Verdict.Accept;
  }

  private newConnection(p: Packet, l3: number, inIf: number, now: number, cpu: number, br: Where | null): number {
    const proto = this.tu.proto;
    if (proto === TCP ? !tcpNewOk(this.tu.flags) : proto === ICMP && this.tu.dport >>> 8 !== ICMP_ECHO_REQUEST) {
      return this.invalid(p, br);
    }
    const t = this.table;
    const { src, dst, sport, dport } = this.tu;
    const d = this.decision;
    d.mark = 0;
    d.tag = 0;
    d.refuse = -1;
    const dnat = this.policy.dnat(proto, src, dst, sport, dport, inIf, p.trace !== 0, d);
    if (d.refuse >= 0) return NAT_REFUSED; // refused: no entry (an unconfirmed entry dies with its packet)
    const icmp = proto === ICMP;
    const rsrc = dnat ? d.ip >>> 0 : dst;
    let rsport = dnat ? d.port & 0xffff : icmp ? sport : dport;
    let rdport = icmp ? dport & 0xff : sport; // ICMP reply tuple: echo reply (type 0), same code
    let nat = dnat ? NatFlag.Dnat : 0;
    if (t.inUse(proto, rsrc, src, rsport, rdport, now)) {
      const q = this.freePort(proto, rsrc, src, rsport, rdport, now);
      if (q < 0) {
        this.engine.dropCounted(p, this, NatHookDrop['nat-port-exhausted'], this.where);
        return Verdict.Stolen;
      }
      if (icmp) rsport = q;
      else rdport = q;
      nat |= NatFlag.Snat; // source address kept, port (identifier) changed at POSTROUTING
      this.counters.values[NatHookCounter['port-remap']]!++;
    }
    const e = t.create(proto, src, dst, sport, dport, rsrc, src, rsport, rdport, now);
    if (e < 0) {
      this.engine.dropCounted(p, this, NatHookDrop['conntrack-table-full'], this.where);
      return Verdict.Stolen;
    }
    t.update(e, CtDir.Original, this.tu.flags, now, this.tu);
    t.setNatFlags(e, nat);
    if (this.cpus > 1 && this.flights < IN_FLIGHT) {
      this.flightEntry[this.flights] = e;
      this.flightCpu[this.flights++] = cpu;
    }
    if (dnat) {
      t.setMark(e, d.mark >>> 0);
      t.setTag(e, d.tag >>> 0);
      p.mark |= d.mark;
    }
    p.ct = e;
    p.ctDir = CtDir.Original;
    this.counters.values[NatHookCounter.new]!++;
    if (p.trace !== 0 && br === null) this.hopConntrack(p, 'new', e);
    if (dnat) {
      natRewriteAt(p.buf, l3, p.l4, p.proto, NatSide.Dst, rsrc, rsport);
      this.counters.values[NatHookCounter.dnat]!++;
      if (p.trace !== 0) {
        if (br === null) this.engine.trace.hop(p.trace, this.where, 'dnat', d.detail);
        else this.hopBridged(p, br, 'dnat', dst, rsrc, rsport, icmp, 'new');
      }
    }
    return Verdict.Accept;
  }

  /** POSTROUTING/INPUT; `br` as for `track`. */
  private post(p: Packet, l3: number, outIf: number, askPolicy: boolean, br: Where | null): number {
    const e = p.ct;
    const t = this.table;
    if (e === CT_CLASH) {
      // nf_ct_resolve_clash's drop: NF_CT_STAT_INC(net, drop); NF_CT_STAT_INC(net, insert_failed).
      p.ct = -1;
      t.stats.clashInsertFailed++;
      this.engine.dropCounted(p, this, NatHookDrop['insert-failed'], this.where);
      return Verdict.Stolen;
    }
    if (e < 0 || !t.isLive(e)) return Verdict.Accept;
    const buf = p.buf;
    if (p.l3 !== l3 || p.l4 <= l3) p.setIpv4(l3);
    const l4 = p.l4;
    const icmp = t.proto(e) === ICMP;
    const related = p.proto === ICMP && isIcmpError(buf[l4]!);
    if (p.ctDir === CtDir.Original) {
      if (!related && !t.isConfirmed(e)) {
        const snat = askPolicy ? this.decideSnat(e, outIf) : SNAT_OK;
        if (snat !== SNAT_OK) {
          if (snat === SNAT_CLASH) t.stats.clashInsertFailed++;
          t.delete(e); // an unconfirmed entry dies with its packet
          this.engine.dropCounted(p, this, NatHookDrop[snat === SNAT_CLASH ? 'insert-failed' : 'nat-port-exhausted'], this.where);
          return Verdict.Stolen;
        }
        t.confirm(e);
        // conntrack's [NEW] event comes at confirm, as Linux's does: the packet got past the filter.
        if (this.engine.flowTap !== null) this.flowNew(e, buf, l4);
      }
      if ((t.natFlags(e) & NatFlag.Snat) === 0) return Verdict.Accept;
      const ip = t.replyDst(e);
      const port = icmp ? t.replySport(e) : t.replyDport(e);
      const from = ipv4Src(buf, l3);
      const fromPort = related || p.proto === ICMP ? readU16(buf, l4 + 4) : readU16(buf, l4);
      if (related) this.natIcmpError(buf, l3, NatSide.Src, ip, port);
      else natRewriteAt(buf, l3, p.l4, p.proto, NatSide.Src, ip, port);
      this.counters.values[NatHookCounter.snat]!++;
      if (p.trace !== 0) this.hopNat(p, br, 'snat', from, fromPort, ip, port, icmp || related, related ? 'related' : 'new');
    } else {
      if ((t.natFlags(e) & NatFlag.Dnat) === 0) return Verdict.Accept;
      const ip = t.origDst(e);
      const port = icmp ? t.origSport(e) : t.origDport(e);
      const from = ipv4Src(buf, l3);
      const fromPort = related || p.proto === ICMP ? readU16(buf, l4 + 4) : readU16(buf, l4);
      if (related) this.natIcmpError(buf, l3, NatSide.Src, ip, port);
      else natRewriteAt(buf, l3, p.l4, p.proto, NatSide.Src, ip, port);
      this.counters.values[NatHookCounter['un-dnat']]!++;
      if (p.trace !== 0) this.hopNat(p, br, 'un-dnat', from, fromPort, ip, port, icmp || related, related && br === null ? 'related' : 'reply');
    }
    return Verdict.Accept;
  }

  /** First packet at POSTROUTING: asks the policy for SNAT and re-keys the reply tuple. SNAT_OK, or why not. */
  private decideSnat(e: number, outIf: number): number {
    const t = this.table;
    const proto = t.proto(e);
    const snat = this.policy.snat(proto, t.origSrc(e), t.origDst(e), t.replySrc(e), t.replySport(e), outIf, t.mark(e)) >>> 0;
    if (snat === 0 || snat === t.replyDst(e)) return SNAT_OK;
    const now = this.engine.now();
    const rsrc = t.replySrc(e);
    const rsport = t.replySport(e);
    let rdport = t.replyDport(e);
    if (this.randomFully && proto !== ICMP) rdport = 1024 + (this.engine.rng.u32() % 64512); // prandom start
    let q = proto === ICMP ? rsport : rdport;
    const h = t.holder(proto, rsrc, snat, rsport, rdport, now);
    if (h >= 0 && h !== e) {
      // Taken, unless by another CPU's unconfirmed entry: nf_nat_used_tuple cannot see it, the port is kept, and the confirmation clashes.
      if (this.cpus > 1 && this.inFlight(h, this.cpu)) return SNAT_CLASH;
      q = this.freePort(proto, rsrc, snat, rsport, rdport, now);
      if (q < 0) return SNAT_NO_PORT;
      this.counters.values[NatHookCounter['port-remap']]!++;
    }
    if (proto === ICMP) t.setReply(e, rsrc, snat, q, rdport);
    else t.setReply(e, rsrc, snat, rsport, q);
    t.setNatFlags(e, t.natFlags(e) | NatFlag.Snat);
    return SNAT_OK;
  }

  /**
   * A free value for the varying field of a reply tuple (TCP/UDP: its dport, the client's
   * port as the server sees it; ICMP: its sport, the identifier), or -1. Ports keep their
   * range as Linux does: below 1024 stay in 1..1023, others in 1024..65535.
   */
  private freePort(proto: number, rsrc: number, rdst: number, rsport: number, rdport: number, now: number): number {
    const t = this.table;
    const icmp = proto === ICMP;
    const start = icmp ? rsport : rdport;
    for (let i = 0; i < PORT_TRIES; i++) {
      const q = icmp ? (start + i) & 0xffff
        : start < 1024 ? 1 + ((start - 1 + i) % 1023) : 1024 + ((start - 1024 + i) % 64512);
      if (icmp ? !t.inUse(proto, rsrc, rdst, q, rdport, now) : !t.inUse(proto, rsrc, rdst, rsport, q, now)) return q;
    }
    return -1;
  }

  /** ICMP error at PREROUTING/OUTPUT: find the connection of the quoted datagram; DNAT / un-SNAT outer and quote. */
  private relatedPre(p: Packet, l3: number, now: number, br: Where | null): number {
    const t = this.table;
    const v = t.lookup(this.tu.proto, this.tu.src, this.tu.dst, this.tu.sport, this.tu.dport, now);
    if (v < 0) {
      this.counters.values[NatHookCounter.untracked]!++;
      return Verdict.Accept;
    }
    const e = v >> 1;
    const dir = v & 1;
    p.ct = e;
    p.ctDir = dir;
    this.counters.values[NatHookCounter.related]!++;
    if (p.trace !== 0 && br === null) this.hopConntrack(p, 'related', e);
    const nat = t.natFlags(e);
    const from = ipv4Dst(p.buf, l3);
    if (dir === CtDir.Original && (nat & NatFlag.Dnat) !== 0) {
      this.natIcmpError(p.buf, l3, NatSide.Dst, t.replySrc(e), t.replySport(e));
      this.counters.values[NatHookCounter.dnat]!++;
      if (p.trace !== 0) this.hopNat(p, br, 'dnat', from, 0, t.replySrc(e), 0, true, 'related');
    } else if (dir === CtDir.Reply && (nat & NatFlag.Snat) !== 0) {
      this.natIcmpError(p.buf, l3, NatSide.Dst, t.origSrc(e), t.origSport(e));
      this.counters.values[NatHookCounter['un-snat']]!++;
      if (p.trace !== 0) this.hopNat(p, br, 'un-snat', from, 0, t.origSrc(e), 0, true, br !== null ? 'reply' : 'related');
    }
    return Verdict.Accept;
  }

  /**
   * NAT of an ICMP error: the outer header's `side` becomes `ip`, and the quote's opposite
   * side (the quote travelled the other way) becomes `ip`/`port`.
   */
  private natIcmpError(buf: Uint8Array, l3: number, side: number, ip: number, port: number): void {
    natRewriteIcmpErrorInner(buf, l3, side === NatSide.Dst ? NatSide.Src : NatSide.Dst, ip, port);
    if (side === NatSide.Dst) natRewriteDst(buf, l3, ip, 0);
    else natRewriteSrc(buf, l3, ip, 0);
  }

  /** A flow event for an established entry `e` and the packet whose tuple was parsed: see src/engine/flow-tap.ts. */
  private flowEvent(e: number, dir: number): void {
    const t = this.table;
    const tu = this.tu;
    const ft = this.engine.flowTap!;
    if (dir === CtDir.Reply) {
      // From the endpoint back to the client as it really is (before un-SNAT, the packet's dst may be the node).
      const dport = tu.proto === ICMP ? tu.dport : t.origSport(e); // ICMP: type << 8 | code
      ft.tracked(this.where, FlowState.Reply, tu.proto, tu.src, tu.sport, t.origSrc(e), dport, t.origSrc(e), dport, tu.flags);
    } else {
      ft.tracked(this.where, FlowState.Established, tu.proto, tu.src, tu.sport, tu.dst, tu.dport, t.replySrc(e), t.replySport(e), tu.flags);
    }
  }

  /** The NEW event of entry `e`, confirmed with the packet at `l4`: the tuple the client sent and the endpoint chosen. */
  private flowNew(e: number, buf: Uint8Array, l4: number): void {
    const t = this.table;
    const proto = t.proto(e);
    this.engine.flowTap!.tracked(
      this.where, FlowState.New, proto, t.origSrc(e), t.origSport(e), t.origDst(e), t.origDport(e), t.replySrc(e), t.replySport(e),
      proto === TCP ? buf[l4 + 13]! : 0,
    );
  }

  /** Conntrack marks the packet INVALID (`window`: the WindowFailure when TCP window tracking said so). */
  private invalid(p: Packet, br: Where | null, window = 0): number {
    this.counters.values[NatHookCounter.invalid]!++;
    p.ct = CT_INVALID;
    if (p.trace !== 0 && br === null) {
      const why = WINDOW_FAILURES[window] ?? '';
      this.engine.trace.hop(p.trace, this.where, 'conntrack', why !== '' ? { state: 'invalid', proto: 'tcp', reason: why } : { state: 'invalid', proto: protoName(this.tu.proto) });
    }
    return Verdict.Accept;
  }

  private hopConntrack(p: Packet, state: string, e: number): void {
    const t = this.table;
    const proto = t.proto(e);
    const detail: Record<string, unknown> = {
      state, proto: protoName(proto),
      orig: tupleText(proto, t.origSrc(e), t.origDst(e), t.origSport(e), t.origDport(e)),
      reply: tupleText(proto, t.replySrc(e), t.replyDst(e), t.replySport(e), t.replyDport(e)),
    };
    if (proto === TCP) detail.tcp = TCP_STATE_NAMES[t.tcpState(e)];
    this.engine.trace.hop(p.trace, this.where, 'conntrack', detail);
  }

  /** A NAT hop (traced packets only); on a frame the bridge `br` switches, in the bridged form (hopBridged). */
  private hopNat(
    p: Packet, br: Where | null, action: string, fromIp: number, fromPort: number, toIp: number, toPort: number, noPorts: boolean, ct: string,
  ): void {
    if (br !== null) {
      this.hopBridged(p, br, action, fromIp, toIp, toPort, noPorts, ct);
      return;
    }
    this.engine.trace.hop(p.trace, this.where, action, {
      from: noPorts ? formatIpv4(fromIp) : `${formatIpv4(fromIp)}:${fromPort}`,
      to: noPorts ? formatIpv4(toIp) : `${formatIpv4(toIp)}:${toPort}`,
      conntrack: ct,
    });
  }

  /**
   * The hop of a NAT on a frame the bridge `at` switches (see the header): only when the
   * address changes (a port-only remap stays quiet, as the frame's routine hops do), marked `bridged`.
   */
  private hopBridged(p: Packet, at: Where, action: string, fromIp: number, toIp: number, toPort: number, noPorts: boolean, ct: string): void {
    if (fromIp === toIp) return;
    this.engine.trace.hop(p.trace, at, action, {
      from: formatIpv4(fromIp),
      to: noPorts ? formatIpv4(toIp) : `${formatIpv4(toIp)}:${toPort}`,
      conntrack: ct,
      bridged: true,
    });
  }
}

function tupleText(proto: number, src: number, dst: number, sport: number, dport: number): string {
  if (proto === ICMP) return `${formatIpv4(src)} -> ${formatIpv4(dst)} type=${dport >>> 8} id=${sport}`;
  return `${formatIpv4(src)}:${sport} -> ${formatIpv4(dst)}:${dport}`;
}

