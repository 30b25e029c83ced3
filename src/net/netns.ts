/**
 * NetNamespace: the IPv4 stack of one Linux network namespace (a pod, or a node's root).
 *
 * Ports: for every interface `if:<name>`, one input (frames arriving) and one output
 * (frames leaving). Behaviour, per arriving frame: Ethernet check and destination filter;
 * ARP (netns-arp.ts: answer requests for local addresses, learn senders, release queued
 * packets); IPv4 check (lengths, checksum), PREROUTING hook, then local delivery (l4.ts:
 * ICMP echo reply, UDP/TCP sockets, ICMP port unreachable / TCP RST when nothing listens)
 * or forwarding (when `forwarding` is on: TTL check and ICMP time exceeded, longest-prefix
 * route, ICMP net unreachable, DF + MTU check and ICMP fragmentation needed, TTL decrement
 * with the RFC 1624 checksum update, POSTROUTING hook, neighbour resolution, Ethernet
 * framing). Locally generated packets (`output`) take the OUTPUT hook and the same
 * route/neighbour path; those to one of the namespace's own addresses (or 127/8) go out of
 * `lo` and come back in through its ring, in a later scheduler step, as Linux loops them
 * through the loopback device (so a socket answering itself never recurses). ICMP the
 * namespace generates itself: netns-icmp.ts.
 *
 * Martians (Linux ip_route_input_slow, route_localnet and accept_local off): a packet on
 * any interface but `lo` whose source is multicast, limited broadcast, 0/8, loopback or
 * one of the namespace's own addresses is dropped as `martian-source`; one to 0/8 or
 * 127/8 as `martian-destination`.
 *
 * Per-destination decisions (local or routed, route, egress, next hop and its MAC) are
 * cached in a DstCache (dst-cache.ts), invalidated by any route, address, interface or
 * neighbour change, and by the neighbour's own ageing deadline: the answers are those of
 * the tables, only cheaper. Interfaces and addresses: netns-ifaces.ts; byte operations of
 * the forwarding path (header checksum, TTL, Ethernet header, source fill-in): frame-ops.ts.
 *
 * State exposed: interfaces (with counters), routes, neighbours, sockets.
 * Drop reasons: NETNS_DROPS (netns-drops.ts). Trace hops: send, route, forward,
 * arp-request, arp-reply, deliver, icmp-error, drop.
 */
import { Counters } from '../engine/counters.js';
import { Ports, connect, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';
import type { Where } from '../engine/trace.js';
import { MAC_BROADCAST, formatIpv4, readU32 } from '../wire/addr.js';
import { RouteTable, formatRoute, type Route } from './route-table.js';
import { NeighborTable } from './neighbor.js';
import type { IfKind, NetIf } from './iface.js';
import { IfaceTable, type RouteSpec } from './netns-ifaces.js';
import { Verdict, type PacketHooks } from './hooks.js';
import type { IpHost, L4Handler, L4Info } from './ip-host.js';
import { L4Delivery } from './l4.js';
import { DstCache, DstKind } from './dst-cache.js';
import { fillSource, writeEthernetIpv4 } from './frame-ops.js';
import { ArpHandler } from './netns-arp.js';
import { IcmpSender } from './netns-icmp.js';
import { NETNS_COUNTERS, NETNS_DROPS, NetnsCounter, NetnsDrop } from './netns-drops.js';
import { ETH_P_ARP, ETH_P_IPV4, ethernetType } from '../wire/ethernet.js';
import { WireError } from '../wire/errors.js';
import { IcmpCode, IcmpType } from '../wire/icmp.js';
import {
  checkIpv4, ipv4DecTtl, ipv4DontFragment, ipv4Dst, ipv4HeaderChecksumOk, ipv4HeaderLength, ipv4Protocol, ipv4Src, ipv4TotalLength, ipv4Ttl,
} from '../wire/ipv4.js';

/** checkIpv4's answers (WireError) as the drop reasons of a received packet, ip_rcv_core's counters. */
const IPV4_DROP: readonly number[] = [
  -1, NetnsDrop['ipv4-truncated'], NetnsDrop['ipv4-bad-version'], NetnsDrop['ipv4-bad-header-length'], NetnsDrop['ipv4-bad-length'],
];

export { NETNS_DROPS, NetnsDrop };

const TWO_32 = 0x1_0000_0000;
const LOOPBACK_ADDR = 0x7f000001;

export interface NetnsOptions {
  node: string;
  name: string;
  forwarding?: boolean;
}

export class NetNamespace implements Element, IpHost {
  readonly kind = 'netns';
  readonly name: string;
  readonly node: string;
  readonly ports: Ports;
  readonly counters = new Counters(NETNS_COUNTERS);
  readonly drops = new Counters(NETNS_DROPS);
  readonly routes = new RouteTable();
  readonly neighbors = new NeighborTable();
  readonly l4: L4Delivery;
  forwarding: boolean;
  /** Netfilter hook points; null = no rules (one branch per packet). */
  hooks: PacketHooks | null = null;
  /** Answer ICMP echo requests to local addresses (the kernel does). */
  icmpEcho = true;
  /** Where the namespace itself is (hops not tied to one interface). */
  readonly where: Where;
  /** The loopback device (ifindex 1): packets to the namespace's own addresses cross its ring. */
  readonly lo: NetIf;
  private readonly ifs: IfaceTable;
  /** Allocated on the first routing decision: most of a large cluster's namespaces never route. */
  private cache: DstCache | null = null;
  private readonly arp: ArpHandler;
  private readonly icmp: IcmpSender;

  constructor(readonly engine: Engine, opts: NetnsOptions) {
    this.name = opts.name;
    this.node = opts.node;
    this.forwarding = opts.forwarding ?? false;
    this.ports = new Ports(engine, this);
    this.ifs = new IfaceTable(opts.node, opts.name, this.ports, this.routes, this.neighbors, engine.pool);
    this.lo = this.ifs.addLoopback();
    connect(engine, this.lo.outPort!, this.lo.inPort!); // loopback_xmit: what lo sends, it receives
    this.where = { node: opts.node, netns: opts.name, device: '' };
    this.l4 = new L4Delivery(this);
    this.arp = new ArpHandler(this);
    this.icmp = new IcmpSender(this);
  }

  get elementName(): string {
    return `${this.node}/${this.name}`;
  }

  // ---- interfaces (netns-ifaces.ts) ----------------------------------------------------

  addInterface(name: string, kind: IfKind, mac: number, mtu: number): NetIf {
    return this.ifs.add(name, kind, mac, mtu);
  }

  removeInterface(name: string): void {
    this.ifs.remove(name);
  }

  iface(name: string): NetIf | undefined {
    return this.ifs.byName.get(name);
  }

  ifaceAt(ifindex: number): NetIf | null {
    return this.ifs.byIndex[ifindex] ?? null;
  }

  interfaces(): NetIf[] {
    return this.ifs.list();
  }

  /** Adds an address and its connected route (`proto kernel scope link`), as `ip addr add` does. */
  addAddress(ifname: string, ip: number, prefix: number, connectedRoute = true): void {
    this.ifs.addAddress(ifname, ip, prefix, connectedRoute);
  }

  /** Removes one address of an interface (the dummy kube-ipvs0's cluster IPs, as kube-proxy unbinds them). */
  removeAddress(ifname: string, ip: number): void {
    this.ifs.removeAddress(ifname, ip);
  }

  addRoute(r: RouteSpec): void {
    this.ifs.addRoute(r);
  }

  isLocal(ip: number): boolean {
    return this.ifs.localAddrs.has(ip) || (ip >>> 24) === 127;
  }

  /** True when `ip` is an address of one of the interfaces (loopback range excluded). */
  isLocalAddr(ip: number): boolean {
    return this.ifs.localAddrs.has(ip);
  }

  routeList(): string[] {
    return this.routes.list().map((r) => formatRoute(r, (i) => this.ifs.nameOf(i)));
  }

  // ---- the destination cache ----------------------------------------------------------

  /** The DstCache slot holding the decision for `dst` (filled from the tables on a miss). */
  private decide(dst: number): number {
    // The hit, kept small: receive and output inline it (V8's inlining budget); the fill is decideSlow.
    const c = this.cache;
    if (c !== null) {
      const i = c.slot(dst);
      if (c.dst[i] === (dst | 0) && c.rgen[i] === this.routes.version + this.ifs.gen) return i;
    }
    return this.decideSlow(dst);
  }

  private decideSlow(dst: number): number {
    const c = this.cache ?? (this.cache = new DstCache());
    const i = c.slot(dst);
    const gen = this.routes.version + this.ifs.gen;
    if (c.dst[i] === (dst | 0) && c.rgen[i] === gen) return i;
    if (this.ifs.localAddrs.has(dst) || (dst >>> 24) === 127) {
      c.setRoute(i, dst, gen, DstKind.Local, null, null);
      return i;
    }
    const r = this.routes.lookup(dst);
    const out = r !== null ? this.ifs.byIndex[r.dev] ?? null : null;
    c.setRoute(i, dst, gen, out !== null ? DstKind.Route : DstKind.None, out !== null ? r : null, out);
    return i;
  }

  // ---- receive ----------------------------------------------------------------------

  push(port: number, link: Link): void {
    const nif = this.ifs.byPort[port];
    if (nif === null || nif === undefined) {
      link.flush();
      return;
    }
    // Only what was queued when the step began: lo's ring is fed by this very loop (a socket
    // answering itself), and what it sends now is for a later step (Snabb: nreadable at entry).
    for (let n = link.size; n > 0; n--) {
      const p = link.receive();
      if (p === null) break;
      this.receiveFrame(p, nif);
    }
  }

  receiveFrame(p: Packet, nif: NetIf): void {
    const s = p.start;
    const len = p.end - s;
    nif.rxPackets++;
    nif.rxBytes += len;
    this.counters.values[NetnsCounter['rx-frames']]!++;
    p.inIf = nif.ifindex;
    if (!nif.up) return this.dropAt(p, NetnsDrop['interface-down'], nif.where);
    const b = p.buf;
    const et = ethernetType(b, s, len);
    if (et < 0) return this.dropAt(p, NetnsDrop.runt, nif.where);
    const type = et & 0xffff;
    const hl = et >>> 16;
    // Unicast to another MAC: not for us (the I/G bit is bit 0 of the first octet).
    if ((b[s]! & 1) === 0 && ((b[s]! << 8) | b[s + 1]!) * TWO_32 + readU32(b, s + 2) !== nif.mac) {
      return this.dropAt(p, NetnsDrop['other-host'], nif.where);
    }
    if (type === ETH_P_IPV4) this.receiveIpv4(p, s + hl, nif);
    else if (type === ETH_P_ARP) this.arp.receive(p, s + hl, nif);
    else this.dropAt(p, NetnsDrop['unknown-ethertype'], nif.where);
  }

  private receiveIpv4(p: Packet, l3: number, nif: NetIf): void {
    const b = p.buf;
    const err = checkIpv4(b, l3, p.end - l3);
    if (err !== WireError.Ok) return this.dropAt(p, IPV4_DROP[err]!, nif.where);
    const hl = ipv4HeaderLength(b, l3);
    // csumOk: built by podwire's own stack (CHECKSUM_UNNECESSARY over veth); from outside: verified.
    if (!p.csumOk && !ipv4HeaderChecksumOk(b, l3, hl)) return this.dropAt(p, NetnsDrop['bad-checksum'], nif.where);
    p.end = l3 + ipv4TotalLength(b, l3); // strip Ethernet padding
    p.setDecoded(l3, l3 + hl, ipv4Protocol(b, l3));
    const hooks = this.hooks;
    // Linux: a packet looped through lo keeps the route its output chose (ip_rcv_finish does not
    // route it again) and its conntrack entry (nf_conntrack_in skips it at PREROUTING).
    if (nif !== this.lo) {
      const m = this.martian(ipv4Src(b, l3), ipv4Dst(b, l3));
      if (m >= 0) return this.dropAt(p, m, nif.where);
      if (hooks !== null) {
        const v = hooks.prerouting(p, l3, nif.ifindex);
        if (v !== Verdict.Accept) return this.verdictDrop(p, v, nif.where);
      }
    }
    const dst = ipv4Dst(b, l3); // after PREROUTING's DNAT
    const i = dst === 0xffffffff ? -1 : this.decide(dst);
    if (i < 0 || this.cache!.kind[i] === DstKind.Local) {
      if (hooks !== null) {
        const v = hooks.input(p, l3, nif.ifindex);
        if (v !== Verdict.Accept) return this.verdictDrop(p, v, nif.where);
      }
      this.l4.deliver(p, l3, nif);
      return;
    }
    if (!this.forwarding) return this.dropAt(p, NetnsDrop['not-forwarding'], nif.where);
    this.forward(p, l3, nif, dst, i);
  }

  /**
   * Linux ip_route_input_slow's martian checks, in its order (route_localnet, accept_local and
   * rp_filter off): a drop reason, or -1. Linux checks after PREROUTING; podwire before it, so a
   * martian leaves no conntrack entry behind (Linux frees its unconfirmed entry with the packet).
   */
  private martian(src: number, dst: number): number {
    // The common case first, in few bytes (receive inlines this): unicast source and
    // destination outside 0/8, 127/8 and 224/3, so only the local-address check applies.
    const s8 = src >>> 24;
    const d8 = dst >>> 24;
    if (s8 !== 0 && s8 !== 127 && s8 < 224 && d8 !== 0 && d8 !== 127 && d8 < 224) {
      return this.ifs.localAddrs.has(src) ? NetnsDrop['martian-source'] : -1;
    }
    return this.martianSlow(src, dst);
  }

  private martianSlow(src: number, dst: number): number {
    const s8 = src >>> 24;
    const d8 = dst >>> 24;
    if (s8 >>> 4 === 0xe || src === 0xffffffff) return NetnsDrop['martian-source']; // multicast or limited broadcast
    if (d8 >>> 4 === 0xe) { // ip_route_input_mc (before the slow path): ip_mc_validate_source
      return s8 === 127 || (src !== 0 && this.ifs.localAddrs.has(src)) ? NetnsDrop['martian-source'] : -1;
    }
    if (dst === 0xffffffff || (src === 0 && dst === 0)) { // brd_input: fib_validate_source unless the source is 0
      return src !== 0 && this.ifs.localAddrs.has(src) ? NetnsDrop['martian-source'] : -1;
    }
    if (s8 === 0) return NetnsDrop['martian-source']; // ipv4_is_zeronet(saddr)
    if (d8 === 0) return NetnsDrop['martian-destination']; // ipv4_is_zeronet(daddr)
    if (d8 === 127) return NetnsDrop['martian-destination']; // ipv4_is_loopback(daddr)
    if (s8 === 127) return NetnsDrop['martian-source']; // ipv4_is_loopback(saddr)
    // fib_validate_source: "Within the same container, it is regarded as a martian source" (unless accept_local)
    return this.ifs.localAddrs.has(src) ? NetnsDrop['martian-source'] : -1;
  }

  private forward(p: Packet, l3: number, inIf: NetIf, dst: number, i: number): void {
    const b = p.buf;
    const c = this.cache!; // filled by decide()
    const ttl = ipv4Ttl(b, l3);
    if (ttl <= 1) {
      this.icmp.error(p, l3, IcmpType.TimeExceeded, IcmpCode.TtlExceeded, 0, inIf);
      return this.dropAt(p, NetnsDrop['ttl-exceeded'], inIf.where);
    }
    if (c.kind[i] !== DstKind.Route) {
      this.icmp.error(p, l3, IcmpType.DestUnreachable, IcmpCode.NetUnreachable, 0, inIf);
      return this.dropAt(p, NetnsDrop['no-route'], inIf.where);
    }
    const r = c.route[i]!;
    const out = c.out[i]!;
    if (p.trace !== 0) this.hopRoute(p.trace, r, out, dst);
    if (ipv4TotalLength(b, l3) > out.mtu) {
      if (ipv4DontFragment(b, l3)) {
        this.icmp.error(p, l3, IcmpType.DestUnreachable, IcmpCode.FragNeeded, out.mtu, inIf);
        return this.dropAt(p, NetnsDrop['frag-needed'], out.where);
      }
      return this.dropAt(p, NetnsDrop['fragmentation-unsupported'], out.where);
    }
    ipv4DecTtl(b, l3);
    this.counters.values[NetnsCounter['forwarded']]!++;
    if (p.trace !== 0) this.engine.trace.hop(p.trace, out.where, 'forward', { ttl: ttl - 1, from: inIf.name, to: out.name });
    this.postroute(p, l3, r, out, i);
  }

  /**
   * POSTROUTING, then the next hop: the route's gateway, or the destination as the hook
   * left it. Slot `i` of the cache holds (or receives) the neighbour's MAC.
   */
  private postroute(p: Packet, l3: number, r: Route, out: NetIf, i: number): void {
    const hooks = this.hooks;
    if (hooks !== null) {
      const v = hooks.postrouting(p, l3, out.ifindex);
      if (v !== Verdict.Accept) return this.verdictDrop(p, v, out.where);
    }
    this.resolveAndSend(p, l3, r.via !== 0 ? r.via : ipv4Dst(p.buf, l3), out, i);
  }

  private resolveAndSend(p: Packet, l3: number, nexthop: number, out: NetIf, i: number): void {
    const now = this.engine.now();
    const c = this.cache!; // i >= 0: decide() allocated it
    if (i >= 0 && c.ngen[i] === this.neighbors.version && c.nhop[i] === (nexthop | 0) && c.nout[i] === out
      && now < c.until[i]! && c.srcMac[i] === out.mac) {
      writeEthernetIpv4(p, l3, c.dstHi[i]!, c.dstLo[i]!, c.srcHi[i]!, c.srcLo[i]!);
      this.transmit(p, out);
      return;
    }
    const mac = nexthop === 0xffffffff ? MAC_BROADCAST : this.neighbors.lookup(nexthop, now);
    if (mac >= 0) {
      if (i >= 0 && nexthop !== 0xffffffff) {
        c.setNeighbor(i, nexthop, out, mac, this.neighbors.version, this.neighbors.stableUntil(nexthop));
      }
      this.frameAndSend(p, l3, mac, out);
      return;
    }
    this.arp.resolve(p, l3, nexthop, out, now);
  }

  /** Frames the IPv4 packet at `l3` for `dstMac` and transmits it on `out` (internal to src/net). */
  frameAndSend(p: Packet, l3: number, dstMac: number, out: NetIf): void {
    writeEthernetIpv4(p, l3, Math.floor(dstMac / TWO_32), dstMac % TWO_32 | 0, Math.floor(out.mac / TWO_32), out.mac % TWO_32 | 0);
    this.transmit(p, out);
  }

  /** Sends a frame out of `out` (internal to src/net). */
  transmit(p: Packet, out: NetIf): void {
    if (!out.up) {
      out.txDropped++;
      return this.dropAt(p, NetnsDrop['interface-down'], out.where);
    }
    out.txPackets++;
    out.txBytes += p.end - p.start;
    this.counters.values[NetnsCounter['tx-frames']]!++;
    (out.outPort as OutPort).send(p);
  }

  // ---- local output (IpHost) ---------------------------------------------------------

  now(): number {
    return this.engine.now();
  }

  random(): number {
    return this.engine.rng.u32();
  }

  after(ms: number, fn: () => void): Timer {
    return this.engine.scheduler.after(ms, fn);
  }

  cancel(t: Timer): void {
    this.engine.scheduler.cancel(t);
  }

  alloc(): Packet | null {
    return this.engine.pool.alloc();
  }

  free(p: Packet): void {
    this.engine.pool.free(p);
  }

  sourceFor(dst: number): number {
    if (this.ifs.localAddrs.has(dst)) return dst;
    if ((dst >>> 24) === 127) return LOOPBACK_ADDR; // table local: `local 127.0.0.0/8 dev lo src 127.0.0.1`
    const r = this.routes.lookup(dst);
    if (r === null) return 0;
    if (r.src !== 0) return r.src;
    return this.ifs.byIndex[r.dev]?.addrFor(r.via !== 0 ? r.via : dst) ?? 0;
  }

  mtuFor(dst: number): number {
    const r = this.routes.lookup(dst);
    return r !== null ? (this.ifs.byIndex[r.dev]?.mtu ?? 1500) : 1500;
  }

  bind(protocol: number, port: number, handler: L4Handler): number {
    return this.l4.bind(protocol, port, handler);
  }

  unbind(protocol: number, port: number): void {
    this.l4.unbind(protocol, port);
  }

  replyTrace(requestTrace: number): number {
    return requestTrace === 0 ? 0 : this.engine.trace.replyOf(requestTrace);
  }

  hop(trace: number, action: string, detail: Record<string, unknown>): void {
    if (trace !== 0) this.engine.trace.hop(trace, this.where, action, detail);
  }

  /**
   * Sends a locally generated IPv4 packet. As in Linux, the route (and with it a missing
   * source address) is chosen before the OUTPUT hook, and chosen again after it when NAT
   * changed the destination. `encap` marks the outer packet of a tunnel: it is part of the
   * inner packet's journey, so no second `send` hop is recorded for it.
   */
  output(p: Packet, encap = false): void {
    const l3 = p.start;
    const b = p.buf;
    p.brIn = 0; // locally generated, even when an app reuses a received packet
    if (checkIpv4(b, l3, p.end - l3) !== WireError.Ok) return this.dropAt(p, NetnsDrop['ipv4-bad-length'], this.where);
    p.setIpv4(l3);
    // Built by podwire's stack: its checksums are whole (CHECKSUM_UNNECESSARY). A tunnel's outer
    // packet keeps its inner packet's state: the outer headers are computed, the inner bytes
    // (perhaps from a TAP, unverified) are not vouched for.
    if (!encap) p.csumOk = true;
    this.counters.values[NetnsCounter['sent']]!++;
    if (ipv4Src(b, l3) === 0) fillSource(p, l3, this.sourceFor(ipv4Dst(b, l3)));
    if (p.trace !== 0 && !encap) {
      this.engine.trace.hop(p.trace, this.where, 'send', {
        src: formatIpv4(ipv4Src(b, l3)), dst: formatIpv4(ipv4Dst(b, l3)), protocol: ipv4Protocol(b, l3), ttl: ipv4Ttl(b, l3),
      });
    }
    const hooks = this.hooks;
    if (hooks !== null) {
      const v = hooks.output(p, l3);
      if (v !== Verdict.Accept) return this.verdictDrop(p, v, this.where);
    }
    const dst = ipv4Dst(b, l3);
    const i = this.decide(dst);
    const c = this.cache!;
    const kind = c.kind[i];
    if (kind === DstKind.Local) {
      // Linux ip_route_output: an RTN_LOCAL destination leaves by the loopback device, whose
      // ring hands it back in a later step (never a recursive call into the socket).
      const lo = this.lo;
      if (p.trace !== 0) {
        const route = `local ${formatIpv4(dst)} dev lo src ${formatIpv4(this.ifs.localAddrs.has(dst) ? dst : LOOPBACK_ADDR)}`;
        this.engine.trace.hop(p.trace, lo.where, 'route', { dst: formatIpv4(dst), route, dev: lo.name, via: null });
      }
      this.frameAndSend(p, l3, lo.mac, lo);
      return;
    }
    if (kind !== DstKind.Route) return this.dropAt(p, NetnsDrop['no-route'], this.where);
    const out = c.out[i]!;
    const r = c.route[i]!;
    if (p.trace !== 0) this.hopRoute(p.trace, r, out, dst);
    if (ipv4TotalLength(b, l3) > out.mtu) {
      return this.dropAt(p, ipv4DontFragment(b, l3) ? NetnsDrop['frag-needed'] : NetnsDrop['fragmentation-unsupported'], out.where);
    }
    this.postroute(p, l3, r, out, i);
  }

  private hopRoute(trace: number, r: Route, out: NetIf, dst: number): void {
    this.engine.trace.hop(trace, out.where, 'route', {
      dst: formatIpv4(dst), route: formatRoute(r, (i) => this.ifs.nameOf(i)), dev: out.name,
      via: r.via !== 0 ? formatIpv4(r.via) : null,
    });
  }

  // ---- ICMP (netns-icmp.ts) -------------------------------------------------------------

  /** Answers an echo request in place (swap addresses, type 0, checksums fixed). */
  echoReply(p: Packet, l3: number, l4: number): void {
    this.icmp.echoReply(p, l3, l4);
  }

  /** Sends an ICMP error about the packet at `l3` from the address of `inIf` (see netns-icmp.ts). */
  icmpError(orig: Packet, l3: number, type: number, code: number, mtu: number, inIf: NetIf): void {
    this.icmp.error(orig, l3, type, code, mtu, inIf);
  }

  // ---- drops ---------------------------------------------------------------------------

  dropAt(p: Packet, reason: number, where: Where): void {
    this.engine.drop(p, this, reason, where);
  }

  private verdictDrop(p: Packet, v: number, where: Where): void {
    if (v === Verdict.Stolen) return;
    this.dropAt(p, NetnsDrop['netfilter-drop'], where);
  }

  l4Info(): L4Info {
    return this.l4.info;
  }
}
