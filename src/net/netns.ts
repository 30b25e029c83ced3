/**
 * NetNamespace: the IPv4 stack of one Linux network namespace (a pod, or a node's root).
 *
 * Ports: for every interface `if:<name>`, one input (frames arriving) and one output
 * (frames leaving). Behaviour, per arriving frame: Ethernet check and destination filter;
 * ARP (answer requests for local addresses, learn senders, release queued packets);
 * IPv4 check (lengths, checksum), PREROUTING hook, then local delivery (ICMP echo reply,
 * UDP/TCP sockets, ICMP port unreachable / TCP RST when nothing listens) or forwarding
 * (when `forwarding` is on: TTL check and ICMP time exceeded, longest-prefix route, ICMP
 * net unreachable, DF + MTU check and ICMP fragmentation needed, TTL decrement with the
 * RFC 1624 checksum update, POSTROUTING hook, neighbour resolution, Ethernet framing).
 * Locally generated packets (`output`) take the OUTPUT hook and the same route/neighbour path.
 *
 * State exposed: interfaces (with counters), routes, neighbours, sockets.
 * Drop reasons: see NETNS_DROPS below. Trace hops: send, route, forward, arp-request,
 * arp-reply, deliver, icmp-error, drop.
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';
import type { Where } from '../engine/trace.js';
import { MAC_BROADCAST, formatIpv4, formatMac, isMulticastMac, readU16, writeU16, writeU32 } from '../wire/addr.js';
import { EthernetFrame, EtherType } from '../wire/ethernet.js';
import { ArpOperation, ArpPacket, ARP_LEN } from '../wire/arp.js';
import { Ipv4Packet, IpProtocol } from '../wire/ipv4.js';
import { checksum, update32 } from '../wire/checksum.js';
import { RouteTable, formatRoute, type Route } from './route-table.js';
import { NeighborTable, Enqueue, Probe } from './neighbor.js';
import { NetIf, type IfKind } from './iface.js';
import { Verdict, type PacketHooks } from './hooks.js';
import type { IpHost, L4Handler, L4Info } from './ip-host.js';
import { L4Delivery } from './l4.js';

export const NETNS_DROPS = [
  'runt', 'other-host', 'unknown-ethertype', 'bad-arp', 'arp-not-for-us', 'ipv4-truncated',
  'ipv4-bad-version', 'ipv4-bad-header-length', 'ipv4-bad-length', 'bad-checksum', 'not-forwarding',
  'ttl-exceeded', 'no-route', 'frag-needed', 'fragmentation-unsupported', 'fragment', 'neighbor-queue-full',
  'neighbor-unreachable', 'netfilter-drop', 'no-socket', 'interface-down', 'pool-exhausted', 'martian',
] as const;
export const NetnsDrop = indexOf(NETNS_DROPS);

const ETH_LEN = 14;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;

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
  readonly counters = new Counters(['rx-frames', 'tx-frames', 'delivered', 'forwarded', 'sent', 'icmp-errors-sent']);
  readonly drops = new Counters(NETNS_DROPS);
  readonly routes = new RouteTable();
  readonly neighbors = new NeighborTable();
  readonly l4: L4Delivery;
  forwarding: boolean;
  /** Netfilter hook points; null = no rules (one branch per packet). */
  hooks: PacketHooks | null = null;
  /** Answer ICMP echo requests to local addresses (the kernel does). */
  icmpEcho = true;
  private readonly ifaces: (NetIf | null)[] = [null];
  private readonly ifByName = new Map<string, NetIf>();
  private readonly ifByPort: (NetIf | null)[] = [];
  private readonly localAddrs = new Map<number, NetIf>();
  private readonly where: Where;
  private readonly eth = new EthernetFrame();
  private readonly arp = new ArpPacket();
  private readonly ip = new Ipv4Packet();

  constructor(readonly engine: Engine, opts: NetnsOptions) {
    this.name = opts.name;
    this.node = opts.node;
    this.forwarding = opts.forwarding ?? false;
    this.ports = new Ports(engine, this);
    this.where = { node: opts.node, netns: opts.name, device: '' };
    this.l4 = new L4Delivery(this);
  }

  get elementName(): string {
    return `${this.node}/${this.name}`;
  }

  // ---- interfaces -------------------------------------------------------------------

  addInterface(name: string, kind: IfKind, mac: number, mtu: number): NetIf {
    if (this.ifByName.has(name)) throw new Error(`${this.node}/${this.name}: interface "${name}" exists`);
    let ifindex = this.ifaces.indexOf(null, 1);
    if (ifindex < 0) ifindex = this.ifaces.length;
    const nif = new NetIf(ifindex, name, kind, mac, mtu, this.node, this.name);
    nif.inPort = this.ports.addIn(`if:${name}`);
    nif.outPort = this.ports.addOut(`if:${name}`);
    this.ifaces[ifindex] = nif;
    this.ifByPort[nif.inPort.index] = nif;
    this.ifByName.set(name, nif);
    return nif;
  }

  removeInterface(name: string): void {
    const nif = this.ifByName.get(name);
    if (nif === undefined) return;
    for (const a of nif.addrs) this.localAddrs.delete(a.ip);
    this.routes.removeDev(nif.ifindex);
    for (const p of this.neighbors.removeDev(nif.ifindex)) this.engine.pool.free(p);
    if (nif.inPort !== null) this.ifByPort[nif.inPort.index] = null;
    this.ports.removeIn(`if:${name}`);
    this.ports.removeOut(`if:${name}`);
    this.ifaces[nif.ifindex] = null;
    this.ifByName.delete(name);
  }

  iface(name: string): NetIf | undefined {
    return this.ifByName.get(name);
  }

  ifaceAt(ifindex: number): NetIf | null {
    return this.ifaces[ifindex] ?? null;
  }

  interfaces(): NetIf[] {
    return this.ifaces.filter((x): x is NetIf => x !== null);
  }

  /** Adds an address and its connected route (`proto kernel scope link`), as `ip addr add` does. */
  addAddress(ifname: string, ip: number, prefix: number, connectedRoute = true): void {
    const nif = this.mustIf(ifname);
    nif.addrs.push({ ip, prefix });
    this.localAddrs.set(ip, nif);
    if (connectedRoute && prefix < 32) {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      this.routes.add({ dst: (ip & mask) >>> 0, prefix, via: 0, dev: nif.ifindex, onlink: false, metric: 0, proto: 'kernel', src: ip });
    }
  }

  addRoute(r: Omit<Route, 'dev' | 'metric' | 'proto' | 'src' | 'onlink'> & { dev: string; onlink?: boolean; metric?: number; proto?: Route['proto']; src?: number }): void {
    const nif = this.mustIf(r.dev);
    this.routes.add({ dst: r.dst, prefix: r.prefix, via: r.via, dev: nif.ifindex, onlink: r.onlink ?? false, metric: r.metric ?? 0, proto: r.proto ?? 'static', src: r.src ?? 0 });
  }

  isLocal(ip: number): boolean {
    return this.localAddrs.has(ip) || (ip >>> 24) === 127;
  }

  routeList(): string[] {
    return this.routes.list().map((r) => formatRoute(r, (i) => this.ifaces[i]?.name ?? `if${i}`));
  }

  private mustIf(name: string): NetIf {
    const nif = this.ifByName.get(name);
    if (nif === undefined) throw new Error(`${this.node}/${this.name}: no interface "${name}"`);
    return nif;
  }

  // ---- receive ----------------------------------------------------------------------

  push(port: number, link: Link): void {
    const nif = this.ifByPort[port];
    if (nif === null || nif === undefined) {
      link.flush();
      return;
    }
    for (let p = link.receive(); p !== null; p = link.receive()) this.receiveFrame(p, nif);
  }

  receiveFrame(p: Packet, nif: NetIf): void {
    const len = p.end - p.start;
    nif.rxPackets++;
    nif.rxBytes += len;
    this.counters.values[0]!++;
    p.inIf = nif.ifindex;
    if (!nif.up) return this.dropAt(p, NetnsDrop['interface-down'], nif.where);
    const eth = this.eth.wrap(p.buf, p.start, len);
    if (eth.check() !== 0) return this.dropAt(p, NetnsDrop.runt, nif.where);
    const dst = eth.dstMac();
    if (dst !== nif.mac && !isMulticastMac(dst)) return this.dropAt(p, NetnsDrop['other-host'], nif.where);
    const type = eth.innerEtherType();
    const l3 = p.start + eth.headerLen();
    if (type === EtherType.Ipv4) this.receiveIpv4(p, l3, nif);
    else if (type === EtherType.Arp) this.receiveArp(p, l3, nif);
    else this.dropAt(p, NetnsDrop['unknown-ethertype'], nif.where);
  }

  private receiveArp(p: Packet, l3: number, nif: NetIf): void {
    const arp = this.arp.wrap(p.buf, l3, p.end - l3);
    if (arp.check() !== 0) return this.dropAt(p, NetnsDrop['bad-arp'], nif.where);
    const op = arp.oper();
    const sha = arp.sha();
    const spa = arp.spa();
    const tpa = arp.tpa();
    const now = this.engine.now();
    const owner = this.localAddrs.get(tpa);
    if (owner !== undefined && op === ArpOperation.Request) {
      this.release(this.neighbors.update(spa, sha, nif.ifindex, now));
      // Answer in place: the request becomes the reply (a new frame: no bridge stamp).
      p.brIn = 0;
      arp.setOper(ArpOperation.Reply);
      arp.setTha(sha);
      arp.setTpa(spa);
      arp.setSha(nif.mac);
      arp.setSpa(tpa);
      this.eth.wrap(p.buf, p.start, p.end - p.start);
      this.eth.setDstMac(sha);
      this.eth.setSrcMac(nif.mac);
      if (p.trace !== 0) this.engine.trace.hop(p.trace, nif.where, 'arp-reply', { ip: formatIpv4(tpa), answeredTo: formatIpv4(spa) });
      this.transmit(p, nif);
      return;
    }
    if (owner !== undefined || this.neighbors.lookup(spa, now) !== -1 || this.neighbors.hasPending(spa)) {
      this.release(this.neighbors.update(spa, sha, nif.ifindex, now));
      this.engine.pool.free(p);
      return;
    }
    this.dropAt(p, NetnsDrop['arp-not-for-us'], nif.where);
  }

  private receiveIpv4(p: Packet, l3: number, nif: NetIf): void {
    const ip = this.ip.wrap(p.buf, l3, p.end - l3);
    const code = ip.check();
    if (code !== 0) {
      const reason = code === 1 ? NetnsDrop['ipv4-truncated'] : code === 2 ? NetnsDrop['ipv4-bad-version']
        : code === 3 ? NetnsDrop['ipv4-bad-header-length'] : NetnsDrop['ipv4-bad-length'];
      return this.dropAt(p, reason, nif.where);
    }
    if (!ip.verifyChecksum()) return this.dropAt(p, NetnsDrop['bad-checksum'], nif.where);
    p.end = l3 + ip.totalLen(); // strip Ethernet padding
    p.l3 = l3;
    const src = ip.srcAddr();
    if ((src >>> 24) === 127 || src === 0xffffffff) return this.dropAt(p, NetnsDrop.martian, nif.where);
    const hooks = this.hooks;
    if (hooks !== null) {
      const v = hooks.prerouting(p, l3, nif.ifindex);
      if (v !== Verdict.Accept) return this.verdictDrop(p, v, nif.where);
    }
    const dst = this.ip.wrap(p.buf, l3, p.end - l3).dstAddr();
    if (this.localAddrs.has(dst) || dst === 0xffffffff || (dst >>> 24) === 127) {
      if (hooks !== null) {
        const v = hooks.input(p, l3, nif.ifindex);
        if (v !== Verdict.Accept) return this.verdictDrop(p, v, nif.where);
      }
      this.l4.deliver(p, l3, nif);
      return;
    }
    if (!this.forwarding) return this.dropAt(p, NetnsDrop['not-forwarding'], nif.where);
    this.forward(p, l3, nif);
  }

  private forward(p: Packet, l3: number, inIf: NetIf): void {
    const ip = this.ip.wrap(p.buf, l3, p.end - l3);
    const dst = ip.dstAddr();
    if (ip.ttl() <= 1) {
      this.icmpError(p, l3, 11, 0, 0, inIf);
      return this.dropAt(p, NetnsDrop['ttl-exceeded'], inIf.where);
    }
    const r = this.routes.lookup(dst);
    if (r === null) {
      this.icmpError(p, l3, 3, 0, 0, inIf);
      return this.dropAt(p, NetnsDrop['no-route'], inIf.where);
    }
    const out = this.ifaces[r.dev]!;
    if (p.trace !== 0) this.hopRoute(p.trace, r, out, dst);
    const total = ip.totalLen();
    if (total > out.mtu) {
      if (ip.dontFrag()) {
        this.icmpError(p, l3, 3, 4, out.mtu, inIf);
        return this.dropAt(p, NetnsDrop['frag-needed'], out.where);
      }
      return this.dropAt(p, NetnsDrop['fragmentation-unsupported'], out.where);
    }
    const ttl = ip.decTtlFixChecksum();
    this.counters.values[3]!++;
    if (p.trace !== 0) this.engine.trace.hop(p.trace, out.where, 'forward', { ttl, from: inIf.name, to: out.name });
    this.postroute(p, l3, r, out);
  }

  private postroute(p: Packet, l3: number, r: Route, out: NetIf): void {
    const hooks = this.hooks;
    if (hooks !== null) {
      const v = hooks.postrouting(p, l3, out.ifindex);
      if (v !== Verdict.Accept) return this.verdictDrop(p, v, out.where);
    }
    const dst = this.ip.wrap(p.buf, l3, p.end - l3).dstAddr();
    this.resolveAndSend(p, l3, r.via !== 0 ? r.via : dst, out);
  }

  private resolveAndSend(p: Packet, l3: number, nexthop: number, out: NetIf): void {
    const now = this.engine.now();
    const mac = nexthop === 0xffffffff ? MAC_BROADCAST : this.neighbors.lookup(nexthop, now);
    if (mac >= 0) {
      this.frameAndSend(p, l3, mac, out);
      return;
    }
    p.l3 = l3;
    const r = this.neighbors.enqueue(nexthop, out.ifindex, p, now);
    if (r === Enqueue.QueueFull) return this.dropAt(p, NetnsDrop['neighbor-queue-full'], out.where);
    if (p.trace !== 0) this.engine.trace.hop(p.trace, out.where, 'arp-request', { who: formatIpv4(nexthop), queued: true });
    if (r === Enqueue.QueuedSendRequest) {
      this.sendArpRequest(out, nexthop, 0);
      this.scheduleProbe(nexthop);
    }
  }

  private scheduleProbe(ip: number): void {
    this.engine.scheduler.after(this.neighbors.retransMs, () => {
      const r = this.neighbors.probe(ip, this.engine.now());
      if (r === Probe.Retry) {
        const ifindex = this.neighbors.ifindexOf(ip);
        const nif = ifindex >= 0 ? this.ifaces[ifindex] : null;
        if (nif !== null && nif !== undefined) this.sendArpRequest(nif, ip, 0);
        this.scheduleProbe(ip);
      } else if (r === Probe.Failed) {
        for (const q of this.neighbors.takePending(ip)) {
          const nif = this.ifaces[q.inIf] ?? this.ifaces[this.neighbors.ifindexOf(ip)] ?? null;
          this.dropAt(q, NetnsDrop['neighbor-unreachable'], nif?.where ?? this.where);
        }
      }
    });
  }

  private release(pending: Packet[] | null): void {
    if (pending === null) return;
    for (const q of pending) {
      const ifindex = this.neighbors.ifindexOf(this.nexthopOf(q));
      const out = this.ifaces[ifindex >= 0 ? ifindex : 0];
      const mac = this.neighbors.lookup(this.nexthopOf(q), this.engine.now());
      if (out === null || out === undefined || mac < 0) {
        this.dropAt(q, NetnsDrop['neighbor-unreachable'], this.where);
        continue;
      }
      if (q.trace !== 0) {
        this.engine.trace.hop(q.trace, out.where, 'arp-reply', { ip: formatIpv4(this.nexthopOf(q)), mac: formatMac(mac) });
      }
      this.frameAndSend(q, q.l3, mac, out);
    }
  }

  /** The next hop a queued packet waits for: recomputed from its route (packets carry no extra slot). */
  private nexthopOf(q: Packet): number {
    const dst = this.ip.wrap(q.buf, q.l3, q.end - q.l3).dstAddr();
    const r = this.routes.lookup(dst);
    return r !== null && r.via !== 0 ? r.via : dst;
  }

  private frameAndSend(p: Packet, l3: number, dstMac: number, out: NetIf): void {
    const start = l3 - ETH_LEN;
    const b = p.buf;
    p.start = start;
    writeU16(b, start, Math.floor(dstMac / 0x100000000));
    writeU32(b, start + 2, dstMac % 0x100000000);
    writeU16(b, start + 6, Math.floor(out.mac / 0x100000000));
    writeU32(b, start + 8, out.mac % 0x100000000);
    writeU16(b, start + 12, EtherType.Ipv4);
    this.transmit(p, out);
  }

  private transmit(p: Packet, out: NetIf): void {
    if (!out.up) {
      out.txDropped++;
      return this.dropAt(p, NetnsDrop['interface-down'], out.where);
    }
    out.txPackets++;
    out.txBytes += p.end - p.start;
    this.counters.values[1]!++;
    (out.outPort as OutPort).send(p);
  }

  private sendArpRequest(out: NetIf, target: number, trace: number): void {
    const q = this.engine.pool.alloc();
    if (q === null) return;
    const b = q.buf;
    const s = q.start;
    q.end = s + ETH_LEN + ARP_LEN;
    this.eth.wrap(b, s, ETH_LEN + ARP_LEN);
    this.eth.setDstMac(MAC_BROADCAST);
    this.eth.setSrcMac(out.mac);
    this.eth.setEtherType(EtherType.Arp);
    const arp = this.arp.wrap(b, s + ETH_LEN, ARP_LEN);
    arp.setHtype(1);
    arp.setPtype(EtherType.Ipv4);
    arp.setHlen(6);
    arp.setPlen(4);
    arp.setOper(ArpOperation.Request);
    arp.setSha(out.mac);
    arp.setSpa(out.addrFor(target));
    arp.setTha(0);
    arp.setTpa(target);
    q.trace = trace;
    this.transmit(q, out);
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
    if (this.localAddrs.has(dst)) return dst;
    const r = this.routes.lookup(dst);
    if (r === null) return 0;
    if (r.src !== 0) return r.src;
    return this.ifaces[r.dev]?.addrFor(r.via !== 0 ? r.via : dst) ?? 0;
  }

  mtuFor(dst: number): number {
    const r = this.routes.lookup(dst);
    return r !== null ? (this.ifaces[r.dev]?.mtu ?? 1500) : 1500;
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
    p.brIn = 0; // locally generated, even when an app reuses a received packet
    const ip = this.ip.wrap(p.buf, l3, p.end - l3);
    if (ip.check() !== 0) return this.dropAt(p, NetnsDrop['ipv4-bad-length'], this.where);
    p.l3 = l3;
    this.counters.values[4]!++;
    if (ip.srcAddr() === 0) this.fillSource(p, l3, this.sourceFor(ip.dstAddr()));
    if (p.trace !== 0 && !encap) {
      this.engine.trace.hop(p.trace, this.where, 'send', {
        src: formatIpv4(ip.srcAddr()), dst: formatIpv4(ip.dstAddr()), protocol: ip.protocol(), ttl: ip.ttl(),
      });
    }
    const hooks = this.hooks;
    if (hooks !== null) {
      const v = hooks.output(p, l3);
      if (v !== Verdict.Accept) return this.verdictDrop(p, v, this.where);
    }
    const dst = this.ip.wrap(p.buf, l3, p.end - l3).dstAddr();
    if (this.localAddrs.has(dst) || (dst >>> 24) === 127) {
      const lo = this.ifaces[this.localAddrs.get(dst)?.ifindex ?? 0] ?? this.interfaces()[0];
      if (lo === undefined) return this.dropAt(p, NetnsDrop['no-route'], this.where);
      this.l4.deliver(p, l3, lo);
      return;
    }
    const r = this.routes.lookup(dst);
    if (r === null) return this.dropAt(p, NetnsDrop['no-route'], this.where);
    const out = this.ifaces[r.dev]!;
    if (p.trace !== 0) this.hopRoute(p.trace, r, out, dst);
    if (this.ip.totalLen() > out.mtu) {
      return this.dropAt(p, this.ip.dontFrag() ? NetnsDrop['frag-needed'] : NetnsDrop['fragmentation-unsupported'], out.where);
    }
    this.postroute(p, l3, r, out);
  }

  /** Writes a source address into a packet built with 0 there, fixing IPv4 and L4 checksums. */
  private fillSource(p: Packet, l3: number, src: number): void {
    const ip = this.ip.wrap(p.buf, l3, p.end - l3);
    if (ip.srcAddr() !== 0 || src === 0) return;
    ip.setSrcAddrFixChecksum(src);
    const proto = ip.protocol();
    const l4 = l3 + ip.headerLen();
    const off = proto === IpProtocol.Tcp ? l4 + 16 : proto === IpProtocol.Udp ? l4 + 6 : -1;
    if (off < 0 || off + 2 > p.end) return;
    const old = readU16(p.buf, off);
    if (proto === IpProtocol.Udp && old === 0) return;
    const c = update32(old, 0, src);
    writeU16(p.buf, off, proto === IpProtocol.Udp && c === 0 ? 0xffff : c);
  }

  private hopRoute(trace: number, r: Route, out: NetIf, dst: number): void {
    this.engine.trace.hop(trace, out.where, 'route', {
      dst: formatIpv4(dst), route: formatRoute(r, (i) => this.ifaces[i]?.name ?? `if${i}`), dev: out.name,
      via: r.via !== 0 ? formatIpv4(r.via) : null,
    });
  }

  // ---- ICMP ----------------------------------------------------------------------------

  /** Answers an echo request in place (swap addresses, type 0, checksums fixed). */
  echoReply(p: Packet, l3: number, l4: number): void {
    const b = p.buf;
    const ip = this.ip.wrap(b, l3, p.end - l3);
    const src = ip.srcAddr();
    const dst = ip.dstAddr();
    writeU32(b, l3 + 12, dst);
    writeU32(b, l3 + 16, src);
    b[l3 + 8] = 64;
    writeU16(b, l3 + 10, 0);
    writeU16(b, l3 + 10, checksum(b, l3, ip.headerLen()));
    // Type 8 -> 0: the ICMP checksum word holding the type drops by 0x0800.
    b[l4] = ICMP_ECHO_REPLY;
    const old = readU16(b, l4 + 2);
    let s = old + (ICMP_ECHO_REQUEST << 8);
    s = (s & 0xffff) + (s >>> 16);
    writeU16(b, l4 + 2, s & 0xffff);
    p.trace = this.replyTrace(p.trace);
    p.start = l3;
    this.output(p);
  }

  /**
   * Sends an ICMP error about the packet at `l3` (RFC 792: the original header and its
   * first 8 payload bytes), from the address of the interface it arrived on. Never about
   * an ICMP error, a broadcast, or a fragment other than the first.
   */
  icmpError(orig: Packet, l3: number, type: number, code: number, mtu: number, inIf: NetIf): void {
    const ip = this.ip.wrap(orig.buf, l3, orig.end - l3);
    const osrc = ip.srcAddr();
    if (osrc === 0 || this.isLocal(osrc) && type !== 3) { /* local origin still gets errors for unreachable */ }
    if (ip.fragOffsetBytes() !== 0 || ip.dstAddr() === 0xffffffff) return;
    if (ip.protocol() === IpProtocol.Icmp) {
      const t = orig.buf[l3 + ip.headerLen()];
      if (t !== 0 && t !== 8) return;
    }
    const q = this.engine.pool.alloc();
    if (q === null) return;
    const hl = ip.headerLen();
    const quote = Math.min(orig.end - l3, hl + 8);
    const b = q.buf;
    const s = q.start;
    const total = 20 + 8 + quote;
    b[s] = 0x45; b[s + 1] = 0;
    writeU16(b, s + 2, total);
    writeU16(b, s + 4, this.engine.rng.u32() & 0xffff);
    writeU16(b, s + 6, 0);
    b[s + 8] = 64; b[s + 9] = IpProtocol.Icmp;
    writeU16(b, s + 10, 0);
    writeU32(b, s + 12, inIf.addrFor(osrc) || this.sourceFor(osrc));
    writeU32(b, s + 16, osrc);
    writeU16(b, s + 10, checksum(b, s, 20));
    const l4 = s + 20;
    b[l4] = type; b[l4 + 1] = code;
    writeU16(b, l4 + 2, 0);
    writeU16(b, l4 + 4, 0);
    writeU16(b, l4 + 6, type === 3 && code === 4 ? mtu : 0);
    orig.buf.copy(b, l4 + 8, l3, l3 + quote);
    writeU16(b, l4 + 2, checksum(b, l4, 8 + quote));
    q.end = s + total;
    q.trace = this.replyTrace(orig.trace);
    this.counters.values[5]!++;
    if (orig.trace !== 0) {
      this.engine.trace.hop(orig.trace, inIf.where, 'icmp-error', { type, code, mtu: mtu || undefined, to: formatIpv4(osrc) });
    }
    this.output(q);
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
