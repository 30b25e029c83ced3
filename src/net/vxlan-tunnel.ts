/**
 * VxlanTunnel (RFC 7348): the kernel's VXLAN device as flannel's vxlan backend uses it
 * (`flannel.1`, `ip link add flannel.1 type vxlan id 1 dstport 8472 nolearning`), in a
 * node's root namespace.
 *
 * Ports: input `inner` (frames the namespace transmits on `flannel.1`), output `inner`
 * (decapsulated frames, received by the namespace on `flannel.1`). The constructor adds
 * the interface (kind `vxlan`, MTU = underlay MTU - 50) and wires both directions.
 *
 * Encap: the inner destination MAC is looked up in the tunnel's own FDB (MAC -> remote
 * VTEP IP, static entries as `bridge fdb append <mac> dev flannel.1 dst <ip>`); a miss is
 * dropped (`fdb-miss`: no default all-zeros entry, as flannel). Outer IPv4 (src = local
 * VTEP, DF clear as Linux's default `df unset`, TTL 64, ECN copied from the inner header),
 * UDP (dst = configured port, src = hash of the inner flow in the source port range,
 * checksum zero unless `udpChecksum`) and the VXLAN header (I flag, VNI) are written into
 * the headroom (`p.prepend`, no copy) and the packet goes to the namespace's `output()`,
 * which routes it out eth0 like any local packet (OUTPUT/POSTROUTING, ARP, framing).
 * With a `transport` (real-socket mode) only the VXLAN header is prepended and the
 * datagram goes to the socket instead; the host kernel adds outer IP and UDP.
 *
 * Decap: UDP port `port` is bound in the namespace. The namespace's UDP layer has already
 * dropped outer fragments (`fragment`) and bad non-zero checksums (`bad-checksum`) under
 * its own drop reasons, as Linux verifies before `encap_rcv`. Here: VXLAN header (I flag;
 * reserved bits ignored), VNI, inner frame length; the outer headers are stripped
 * (`p.start` moves forward) and the inner frame leaves through `inner`.
 *
 * State: FDB entries, VNI, port. Counters: below. Drop reasons: VXLAN_DROPS.
 * Trace hops: `vxlan-encap` {vni, outerSrc, outerDst, srcPort, dstPort, innerDstMac},
 * `vxlan-decap` {vni, from}.
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, connect, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { formatIpv4, formatMac, readMac, readU32, writeU32 } from '../wire/addr.js';
import { VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_OVERHEAD, flowHash, flowHashDecoded, flowHashIpv4, vxlanSourcePort } from '../wire/vxlan.js';
import type { L4Info } from './ip-host.js';
import type { NetIf } from './iface.js';
import type { NetNamespace } from './netns.js';
import { ETHERNET_HEADER_LEN as ETH_LEN, ETH_P_IPV4, etherTypeField } from '../wire/ethernet.js';
import { IPV4_MIN_HEADER_LEN as IP_LEN, writeIpv4Header } from '../wire/ipv4.js';
import { UDP_HEADER_LEN as UDP_LEN, UDP_PROTOCOL, fillUdpChecksum, writeUdpHeaderNoChecksum } from '../wire/udp.js';

export const VXLAN_DROPS = [
  'runt', 'fdb-miss', 'no-headroom', 'not-vxlan', 'wrong-vni', 'inner-runt', 'pool-exhausted', 'transport-error',
] as const;
export const VxlanDrop = indexOf(VXLAN_DROPS);
const VXLAN_COUNTERS = ['tx-packets', 'tx-bytes', 'rx-packets', 'rx-bytes', 'socket-tx', 'socket-rx'] as const;
const C = indexOf(VXLAN_COUNTERS);

/** Outer IPv4 + UDP + VXLAN, written in front of the inner frame. */
const ENCAP_LEN = IP_LEN + UDP_LEN + VXLAN_HEADER_LEN;

/**
 * Real-socket underlay (implemented in src/io/vxlan-socket.ts, so src/net never imports
 * node:dgram): carries VXLAN datagrams (header + inner frame) to a peer VTEP.
 */
export interface VxlanTransport {
  /** Sends buf[off, off+len) to the VTEP `dst` (uint32); false when it could not (no peer, busy, closed). */
  send(buf: Uint8Array, off: number, len: number, dst: number): boolean;
  /** Resolves once the socket is bound; rejects with the bind error. */
  readonly ready: Promise<void>;
  close(): void;
  /** Counters of the socket and the kernel's drops at it, for the stats view (not the hot path). */
  stats?(): VxlanTransportStats;
}

/** What a real socket reports (`/stats` `vxlanSocket.<node>`). */
export interface VxlanTransportStats {
  /** `native` (the addon: recvmmsg, SO_RCVBUFFORCE) or `dgram` (Node's, the fallback). */
  backend: string;
  bind: string;
  /** Receive buffer the kernel granted (bytes; twice what was asked), and what was asked. */
  rcvbuf: number;
  rcvbufRequested: number;
  /** Whether SO_RCVBUFFORCE was allowed (else SO_RCVBUF, capped by net.core.rmem_max). */
  rcvbufForced: boolean;
  /** Datagrams the kernel dropped at this socket (sk_drops: /proc/net/udp `drops`, `ss -uam` `d`). */
  kernelDrops: number;
  rxDatagrams: number;
  rxBatches: number;
  [counter: string]: number | string | boolean;
}

/** Called with every datagram the socket receives; `from` is the sender's IPv4 (uint32). */
export type VxlanDatagramHandler = (buf: Uint8Array, off: number, len: number, from: number) => void;

export interface VxlanTransportOptions {
  /** "host:port" to bind. */
  bind: string;
  /** VTEP IP (uint32) -> "host:port" of that peer's socket. */
  peers: ReadonlyMap<number, string>;
  onDatagram: VxlanDatagramHandler;
  /** Called once after each batch of onDatagram calls (a transport calls it at least once after any datagram). */
  onBatch?: () => void;
  /** Asynchronous socket errors after binding (default: ignored, counted by the caller). */
  onError?: (e: Error) => void;
}

export type VxlanTransportFactory = (opts: VxlanTransportOptions) => VxlanTransport;

/** The tunnel's FDB: inner MAC (48-bit integer) -> remote VTEP IP (uint32); static entries, fixed capacity. */
export class VtepFdb {
  overflow = 0;
  private readonly map = new Map<number, number>();
  /** The last MAC looked up and its VTEP (a Map.get keyed by a double is slow); -1 = none. */
  private lastMac = -1;
  private lastVtep = -1;
  constructor(readonly capacity = 4096) {}

  get size(): number {
    return this.map.size;
  }

  /** `bridge fdb append <mac> dev flannel.1 dst <ip>` (one destination per MAC: a second one replaces it). */
  add(mac: number, vtep: number): void {
    if (!this.map.has(mac) && this.map.size >= this.capacity) {
      this.overflow++;
      throw new Error(`vxlan fdb full (${this.capacity} entries): cannot add ${formatMac(mac)}`);
    }
    this.map.set(mac, vtep >>> 0);
    this.lastMac = -1;
  }

  remove(mac: number): boolean {
    this.lastMac = -1;
    return this.map.delete(mac);
  }

  /** The VTEP of `mac`, or -1. */
  lookup(mac: number): number {
    if (mac === this.lastMac) return this.lastVtep;
    const v = this.map.get(mac);
    if (v === undefined) return -1;
    this.lastMac = mac;
    this.lastVtep = v;
    return v;
  }

  entries(): { mac: string; dst: string }[] {
    return [...this.map].sort((a, b) => a[0] - b[0]).map(([m, ip]) => ({ mac: formatMac(m), dst: formatIpv4(ip) }));
  }
}

export interface VxlanTunnelOptions {
  node: string;
  /** Interface name in the namespace; default `flannel.1`. */
  ifname?: string;
  /** MAC of the VXLAN device. */
  mac: number;
  /** Local VTEP address (outer source). */
  vtepIp: number;
  vni: number;
  /** Outer UDP destination port, also the port bound for decap. */
  port: number;
  sourcePortRange: readonly [number, number];
  udpChecksum: boolean;
  underlayMtu: number;
  /** Outer DF bit (Linux `df set`); default false (`df unset`, the kernel default). */
  df?: boolean;
  ttl?: number;
}

export class VxlanTunnel implements Element {
  readonly kind = 'vxlan';
  readonly name: string;
  readonly ports: Ports;
  readonly counters = new Counters(VXLAN_COUNTERS);
  readonly drops = new Counters(VXLAN_DROPS);
  readonly fdb = new VtepFdb();
  readonly nif: NetIf;
  readonly vni: number;
  readonly port: number;
  readonly vtepIp: number;
  /** Real-socket underlay; null: outer packets go through the namespace (emulated underlay). */
  transport: VxlanTransport | null = null;
  private readonly out: OutPort;
  private readonly where: Where;
  private readonly srcLo: number;
  private readonly srcHi: number;
  private readonly udpChecksum: boolean;
  private readonly df: boolean;
  private readonly ttl: number;
  private readonly hashSeed: number;
  private ipId: number;
  private readonly handler: (p: Packet, info: L4Info) => void;

  constructor(private readonly engine: Engine, readonly ns: NetNamespace, opts: VxlanTunnelOptions) {
    const ifname = opts.ifname ?? 'flannel.1';
    this.name = `${opts.node}/${ifname}`;
    this.vni = opts.vni;
    this.port = opts.port;
    this.vtepIp = opts.vtepIp >>> 0;
    [this.srcLo, this.srcHi] = opts.sourcePortRange;
    this.udpChecksum = opts.udpChecksum;
    this.df = opts.df ?? false;
    this.ttl = opts.ttl ?? 64;
    this.hashSeed = engine.rng.u32();
    this.ipId = engine.rng.u32() & 0xffff;
    this.ports = new Ports(engine, this);
    this.ports.addIn('inner');
    this.out = this.ports.addOut('inner');
    this.nif = ns.addInterface(ifname, 'vxlan', opts.mac, opts.underlayMtu - VXLAN_OVERHEAD);
    this.where = this.nif.where;
    connect(engine, ns.ports.out(`if:${ifname}`), this.ports.in('inner'));
    connect(engine, this.out, ns.ports.in(`if:${ifname}`));
    // ICMP errors quoting the port come here too (l4.ts): their quote is no VXLAN datagram.
    this.handler = (p, info) => (info.protocol === 17
      ? this.decap(p, info.payload, info.payloadLen, info.src)
      : this.engine.drop(p, this, VxlanDrop['not-vxlan'], this.where));
    ns.bind(17, opts.port, this.handler);
  }

  get ifindex(): number {
    return this.nif.ifindex;
  }

  push(_port: number, link: Link): void {
    for (let p = link.receive(); p !== null; p = link.receive()) this.encap(p);
  }

  private encap(p: Packet): void {
    const b = p.buf;
    const len = p.end - p.start;
    if (len < ETH_LEN) return this.engine.drop(p, this, VxlanDrop.runt, this.where);
    const dstMac = readMac(b, p.start);
    const remote = this.fdb.lookup(dstMac);
    if (remote < 0) return this.engine.drop(p, this, VxlanDrop['fdb-miss'], this.where);
    const inner = p.start;
    const etype = etherTypeField(b, inner);
    const hash = etype !== ETH_P_IPV4
      ? flowHash(readU32(b, inner + 2), readU32(b, inner + 8), 0, 0, 0, this.hashSeed)
      : p.l3 === inner + ETH_LEN && p.l4 > p.l3 // the namespace that sent it decoded the header (Packet.l4/proto)
        ? flowHashDecoded(b, p.l3, p.l4, p.proto, p.end, this.hashSeed)
        : flowHashIpv4(b, inner + ETH_LEN, len - ETH_LEN, this.hashSeed);
    const srcPort = vxlanSourcePort(hash, this.srcLo, this.srcHi);
    const v = this.counters.values;
    v[C['tx-packets']]!++;
    v[C['tx-bytes']]! += len;

    if (this.transport !== null) {
      if (!p.prepend(VXLAN_HEADER_LEN)) return this.engine.drop(p, this, VxlanDrop['no-headroom'], this.where);
      this.writeVxlan(b, p.start);
      if (p.trace !== 0) this.hopEncap(p.trace, remote, 0, dstMac, 'socket');
      if (!this.transport.send(b, p.start, p.end - p.start, remote)) {
        return this.engine.drop(p, this, VxlanDrop['transport-error'], this.where);
      }
      v[C['socket-tx']]!++;
      this.engine.pool.free(p);
      return;
    }

    // The namespace will add 14 bytes of Ethernet in front of the outer IPv4 header.
    if (p.start < ENCAP_LEN + ETH_LEN) return this.engine.drop(p, this, VxlanDrop['no-headroom'], this.where);
    p.prepend(ENCAP_LEN);
    const ip = p.start;
    const udp = ip + IP_LEN;
    const total = p.end - ip;
    const innerTos = etype === ETH_P_IPV4 && len >= ETH_LEN + IP_LEN ? b[inner + ETH_LEN + 1]! : 0;
    const innerEcn = innerTos & 3;
    const tos = innerEcn === 3 ? 2 : innerEcn; // INET_ECN_encapsulate: CE becomes ECT(0)
    const id = (this.ipId + 1) & 0xffff;
    this.ipId = id;
    writeIpv4Header(b, ip, this.vtepIp, remote, UDP_PROTOCOL, total, id, this.ttl, this.df, tos);
    writeUdpHeaderNoChecksum(b, udp, srcPort, this.port, total - IP_LEN - UDP_LEN);
    this.writeVxlan(b, udp + UDP_LEN);
    if (this.udpChecksum) fillUdpChecksum(b, udp, this.vtepIp, remote);
    p.l3 = -1;
    if (p.trace !== 0) this.hopEncap(p.trace, remote, srcPort, dstMac, 'netns');
    this.ns.output(p, true); // the outer packet: part of the inner journey, no new `send` hop
  }

  private writeVxlan(b: Buffer, off: number): void {
    const vni = this.vni;
    writeU32(b, off, VXLAN_FLAG_I << 24);
    writeU32(b, off + 4, ((vni & 0xffffff) << 8) >>> 0);
  }

  private hopEncap(trace: number, remote: number, srcPort: number, dstMac: number, underlay: string): void {
    this.engine.trace.hop(trace, this.where, 'vxlan-encap', {
      vni: this.vni, outerSrc: formatIpv4(this.vtepIp), outerDst: formatIpv4(remote),
      srcPort: srcPort === 0 ? null : srcPort, dstPort: this.port, innerDstMac: formatMac(dstMac), underlay,
    });
  }

  /** VXLAN header at buf[off], `len` bytes with the inner frame; the packet's bytes end at off + len. */
  private decap(p: Packet, off: number, len: number, from: number): void {
    const b = p.buf;
    if (len < VXLAN_HEADER_LEN || (b[off]! & VXLAN_FLAG_I) === 0) {
      return this.engine.drop(p, this, VxlanDrop['not-vxlan'], this.where);
    }
    const vni = readU32(b, off + 4) >>> 8;
    if (vni !== this.vni) return this.engine.drop(p, this, VxlanDrop['wrong-vni'], this.where);
    if (len - VXLAN_HEADER_LEN < ETH_LEN) return this.engine.drop(p, this, VxlanDrop['inner-runt'], this.where);
    p.start = off + VXLAN_HEADER_LEN;
    p.end = off + len;
    p.l3 = -1;
    const v = this.counters.values;
    v[C['rx-packets']]!++;
    v[C['rx-bytes']]! += len - VXLAN_HEADER_LEN;
    if (p.trace !== 0) this.engine.trace.hop(p.trace, this.where, 'vxlan-decap', { vni, from: formatIpv4(from) });
    this.out.send(p);
  }

  /**
   * A datagram from the real socket (VXLAN header + inner frame): copied into a pooled
   * packet and decapsulated. The caller runs the scheduler afterwards (`kick()`, once per
   * batch of datagrams: the transport's `onBatch`).
   */
  receiveDatagram(buf: Uint8Array, off: number, len: number, from: number): void {
    const pool = this.engine.pool;
    const p = len <= pool.maxFrame ? pool.alloc() : null;
    if (p === null) {
      this.drops.values[VxlanDrop['pool-exhausted']]!++;
      return;
    }
    // Buffer#copy makes no view (pool.fromBytes would: one subarray per datagram).
    if (Buffer.isBuffer(buf)) buf.copy(p.buf, p.start, off, off + len);
    else p.buf.set(buf.subarray(off, off + len), p.start);
    p.end = p.start + len;
    this.counters.values[C['socket-rx']]!++;
    this.decap(p, p.start, len, from);
  }

  /** Unbinds the port and removes the interface (with its routes and neighbours) from the namespace. */
  stop(): void {
    this.ns.unbind(17, this.port);
    this.ns.removeInterface(this.nif.name);
    this.ports.removeIn('inner');
    this.ports.removeOut('inner');
    this.engine.remove(this);
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name, vni: this.vni, port: this.port, local: formatIpv4(this.vtepIp), mac: formatMac(this.nif.mac),
      mtu: this.nif.mtu, underlay: this.transport === null ? 'emulated' : 'socket', fdb: this.fdb.entries(),
      counters: this.counters.toJSON(), drops: this.drops.toJSON(),
    };
  }
}
