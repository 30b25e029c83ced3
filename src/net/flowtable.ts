/**
 * Flowtable: a fast path for one path shape, a pod to another pod of the same node over the
 * node's bridge (pod1 eth0 -> veth -> cbr0 -> veth -> pod2 eth0), issue 21. Off unless the
 * cluster asks for it (`cluster.flowtable: true`, or the Cluster option `flowtable`);
 * docs/flowtable.md has the rules it keeps and what it does not cover.
 *
 * What it remembers: for a flow the bridge switched between two pods (learn, called by
 * `Bridge.forward` after br_netfilter accepted the frame), keyed by the ingress veth, the
 * frame's MACs and its IPv4 5-tuple: the bridge, its ingress and egress port, the links
 * veth -> bridge (l2), bridge -> veth (l3), veth -> receiving namespace (l4), the egress veth,
 * and the generations it was made under. Only when the frame's conntrack entry is
 * established (confirmed, reply seen, no NAT, one CPU: `BridgeNetfilter.established`), the
 * frame is untagged IPv4 with a 20-byte header, not a fragment, TCP or UDP, and the path is
 * exactly veth -> bridge -> veth -> namespace (no netem, no TAP, no other element between).
 *
 * A hit (forward, called by `Veth.push` for a frame entering a pod's end, after the veth's
 * own checks and counters) carries the frame to l4 directly, doing per packet everything the
 * skipped elements would do that anyone can observe: l2's and l3's counters, the bridge's rx,
 * forwarded and tx counters, the FDB's learn (ageing timestamps) and lookup (`peek`, which
 * must still answer the cached port), the ingress stamp, br_netfilter through the same
 * `bridged` call (conntrack's state, timeouts and TCP window tracking per packet, the
 * NetworkPolicy filter, kube-proxy's INVALID drop), the egress veth's counters, MTU check and
 * ingress interface. Whatever it cannot vouch for before it starts, it leaves to the slow
 * path, untouched: a traced packet, a capture tap or flow observer anywhere, a ring of the
 * path (l2, l3) that is not empty (so a fast frame never overtakes a slow one of its flow),
 * a generation that moved (links connected, disconnected or re-pointed: Engine.wiringGen;
 * the bridge's ports, hairpin flags or local port: Bridge.generation; an FDB entry removed,
 * expired or moved: Fdb.generation; services, endpoints, NetworkPolicy: `invalidate()`), an
 * FDB answer that changed, a frame larger than the egress veth's MTU. A generation that
 * moved or an FDB answer that changed clears the entry; the other cases keep it.
 *
 * Not an element: no ports, no counters in the stats (its hit and miss counts are its own,
 * for tests and benchmarks), no allocation on a hit or a miss.
 */
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import { readU16, readU32 } from '../wire/addr.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN } from '../wire/ethernet.js';
import { TCP_PROTOCOL } from '../wire/tcp.js';
import { UDP_PROTOCOL } from '../wire/udp.js';
import type { Bridge } from './bridge.js';
import { Veth } from './veth.js';

/** Bytes up to and including the ports of a TCP/UDP header behind a 20-byte IPv4 header. */
const MIN_FRAME = ETH_HLEN + 20 + 4;
/** EtherType IPv4 then version 4, IHL 5: the top 24 bits of the word at frame offset 12. */
const IPV4_IHL5 = 0x080045;
const TWO_32 = 0x1_0000_0000;

/** Which invalidation to leave out (tests only: shows the differential test catches it). */
export type FlowtableDebugSkip = 'wiring' | 'bridge' | 'fdb' | 'policy' | 'rings';
const SKIP_WIRING = 1, SKIP_BRIDGE = 2, SKIP_FDB = 4, SKIP_RINGS = 8;
const SKIP_BITS: Record<FlowtableDebugSkip, number> = { wiring: SKIP_WIRING, bridge: SKIP_BRIDGE, fdb: SKIP_FDB, policy: 0, rings: SKIP_RINGS };

export interface FlowtableOptions {
  /** Slots of the direct-mapped table (a power of two); default 1024. */
  slots?: number;
  /**
   * Tests only: leave one invalidation out (the flowtable is then wrong on purpose). 'fdb'
   * trusts the FDB's first answer: neither its generation nor the per-packet answer is checked.
   */
  debugSkip?: FlowtableDebugSkip;
}

/** One remembered path (the veth keeps its last one, Veth.ftLast). `veth === null`: free. */
export class FlowSlot {
  veth: Veth | null = null;
  /** The frame's first 12 bytes (destination and source MAC) as three words. */
  w0 = 0;
  w1 = 0;
  w2 = 0;
  src = 0;
  dst = 0;
  ports = 0;
  proto = 0;
  srcMac = 0;
  dstMac = 0;
  bridge: Bridge | null = null;
  ingress = -1;
  egress = -1;
  l2: Link | null = null;
  l3: Link | null = null;
  out: Veth | null = null;
  l4: Link | null = null;
  /** The conntrack entry of the flow when it was learned. */
  ct = -1;
  /** The instant of the last hit's FDB lookup and learn (-1: none yet). */
  at = -1;
  wiring = 0;
  bridgeGen = 0;
  fdbGen = 0;
  gen = 0;
}

export class Flowtable {
  /** Frames carried by the fast path. */
  hits = 0;
  /** Frames offered that found no entry, or one that had to be cleared. */
  misses = 0;
  /** Frames that found an entry but went the slow way (ring not empty, MTU, tap, trace). */
  passes = 0;
  /** Entries made (a slot taken by another ingress veth, or a free one). */
  learned = 0;
  /** Services, endpoints or NetworkPolicy changed (see invalidate). */
  private gen = 0;
  private readonly slots: FlowSlot[];
  private readonly mask: number;
  private readonly skip: FlowtableDebugSkip | null;
  /** `skip` as bits (SKIP_*), tested per packet. */
  private readonly skipMask: number;

  constructor(private readonly engine: Engine, opts: FlowtableOptions = {}) {
    const n = opts.slots ?? 1024;
    if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) throw new Error(`flowtable slots ${n}: expected a power of two`);
    this.slots = Array.from({ length: n }, () => new FlowSlot());
    this.mask = n - 1;
    this.skip = opts.debugSkip ?? null;
    this.skipMask = this.skip === null ? 0 : SKIP_BITS[this.skip];
  }

  /** Entries in use (for tests). */
  get size(): number {
    let n = 0;
    for (const s of this.slots) if (s.veth !== null) n++;
    return n;
  }

  /** A change that could alter a decision the hooks or the policy make: every entry dies (at its next hit). */
  invalidate(): void {
    if (this.skip !== 'policy') this.gen++;
  }

  /** Clears every entry (cold). */
  flush(): void {
    for (const s of this.slots) this.clear(s);
  }

  /**
   * Frame `p` (`bytes` long) entered pod end a of `veth`, which has done its own checks and
   * counting. True when the fast path carried it (to the receiving namespace's ring, or
   * br_netfilter took or dropped it); false: send it on the slow way, nothing was touched.
   */
  forward(p: Packet, veth: Veth, bytes: number): boolean {
    const e = this.engine;
    if (veth.ftEntries === 0 || bytes < MIN_FRAME || p.trace !== 0 || e.flowTap !== null || e.linkTaps !== 0) return false;
    const b = p.buf;
    const o = p.start;
    // Big-endian words read inline (this runs per packet; see readU32).
    if (((b[o + 12]! << 16) | (b[o + 13]! << 8) | b[o + 14]!) !== IPV4_IHL5) return false;
    const src = ((b[o + 26]! << 24) | (b[o + 27]! << 16) | (b[o + 28]! << 8) | b[o + 29]!) >>> 0;
    const dst = ((b[o + 30]! << 24) | (b[o + 31]! << 16) | (b[o + 32]! << 8) | b[o + 33]!) >>> 0;
    const ports = ((b[o + 34]! << 24) | (b[o + 35]! << 16) | (b[o + 36]! << 8) | b[o + 37]!) >>> 0;
    const proto = b[o + 23]!;
    // The veth's last entry first (a pod's traffic comes in runs of one flow), then the table.
    let s = veth.ftLast;
    if (s === null || s.ports !== ports || s.src !== src || s.dst !== dst || s.proto !== proto || s.veth !== veth) {
      s = this.slots[hash(src, dst, ports, proto) & this.mask]!;
      if (s.ports !== ports || s.src !== src || s.dst !== dst || s.proto !== proto || s.veth !== veth) {
        this.misses++;
        return false;
      }
      veth.ftLast = s;
    }
    if (s.w0 !== ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)
      || s.w1 !== ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!)
      || s.w2 !== ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!)
      || (((b[o + 20]! << 8) | b[o + 21]!) & 0x3fff) !== 0) {
      this.misses++;
      return false;
    }
    const br = s.bridge!;
    const fdb = br.fdb;
    const skip = this.skipMask;
    if ((s.wiring !== e.wiringGen && (skip & SKIP_WIRING) === 0) || (s.bridgeGen !== br.generation && (skip & SKIP_BRIDGE) === 0)
      || (s.fdbGen !== fdb.generation && (skip & SKIP_FDB) === 0) || s.gen !== this.gen) {
      this.clear(s);
      this.misses++;
      return false;
    }
    const l2 = s.l2!;
    const l3 = s.l3!;
    const out = s.out!;
    if (((skip & SKIP_RINGS) === 0 && (!l2.empty() || !l3.empty())) || bytes > out.ends.a.mtu + ETH_HLEN) {
      this.passes++;
      return false;
    }
    // The FDB's lookup and learn once per instant of the clock: within one instant, with the
    // FDB's generation unchanged (no entry removed, expired or moved), a second lookup answers
    // what the first did and a second learn writes the same port and timestamp.
    const now = e.now();
    const fresh = now !== s.at;
    if (fresh && (skip & SKIP_FDB) === 0 && fdb.peek(s.dstMac, now) !== s.egress) {
      this.clear(s);
      this.misses++;
      return false;
    }
    s.at = now;
    // Committed: from here on, what the slow path would do, in its order.
    l2.countPassed(bytes);
    this.hits++;
    if (!br.fastSwitch(p, s.ingress, fresh ? s.srcMac : -1, now, bytes)) return true;
    // A packet of another conntrack entry (the flow's entry was deleted and made anew): this
    // one went as the slow path would take it, the next ones go slow until learned again.
    const l4 = s.l4!;
    if (p.ct !== s.ct) this.clear(s);
    l3.countPassed(bytes);
    out.passB(p, bytes);
    l4.transmit(p);
    return true;
  }

  /**
   * The bridge `br` switched `p` from port `ingress` to port `egress` (both pods' ports, the
   * hooks accepted it): remember its path when the flow and the path qualify (see the header).
   */
  learn(p: Packet, br: Bridge, ingress: number, egress: number): void {
    const e = this.engine;
    if (e.flowTap !== null || e.linkTaps !== 0 || egress === ingress) return;
    const nf = br.netfilter;
    if (nf === null || nf.established === undefined || !nf.established(p)) return;
    const buf = p.buf;
    const s0 = p.start;
    if (p.end - s0 < MIN_FRAME || readU32(buf, s0 + 12) >>> 8 !== IPV4_IHL5 || (readU16(buf, s0 + 20) & 0x3fff) !== 0) return;
    const proto = buf[s0 + 23]!;
    if (proto !== TCP_PROTOCOL && proto !== UDP_PROTOCOL) return;
    const src = readU32(buf, s0 + 26);
    const dst = readU32(buf, s0 + 30);
    const ports = readU32(buf, s0 + 34);
    const dstMac = readU16(buf, s0) * TWO_32 + readU32(buf, s0 + 2);
    const srcMac = readU16(buf, s0 + 6) * TWO_32 + readU32(buf, s0 + 8);
    if (srcMac === br.mac || srcMac === dstMac || (buf[s0 + 6]! & 1) !== 0 || (buf[s0]! & 1) !== 0) return;
    // The path must be exactly pod end a -> veth -> bridge -> veth -> a namespace.
    const l2 = br.inLink(ingress);
    if (l2 === null || l2.consumer !== br || l2.port !== ingress) return;
    const from = l2.from?.owner;
    if (!(from instanceof Veth) || l2.from !== from.outB || from.flowtable !== this) return;
    const l3 = br.outLink(egress);
    const out = l3?.consumer;
    if (l3 === null || l3 === undefined || !(out instanceof Veth) || l3.port !== out.inB) return;
    const l4 = out.outA.link;
    if (l4 === null || l4.consumer === null || l4.consumer.kind !== 'netns') return;
    const s = this.slots[hash(src, dst, ports, proto) & this.mask]!;
    if (s.veth !== from) {
      if (s.veth !== null) s.veth.ftEntries--;
      from.ftEntries++;
      this.learned++;
    }
    s.veth = from;
    s.w0 = readU32(buf, s0) | 0;
    s.w1 = readU32(buf, s0 + 4) | 0;
    s.w2 = readU32(buf, s0 + 8) | 0;
    s.src = src;
    s.dst = dst;
    s.ports = ports;
    s.proto = proto;
    s.srcMac = srcMac;
    s.dstMac = dstMac;
    s.bridge = br;
    s.ingress = ingress;
    s.egress = egress;
    s.l2 = l2;
    s.l3 = l3;
    s.out = out;
    s.l4 = l4;
    s.ct = p.ct;
    s.wiring = e.wiringGen;
    s.bridgeGen = br.generation;
    s.fdbGen = br.fdb.generation;
    s.gen = this.gen;
    s.at = -1;
  }

  private clear(s: FlowSlot): void {
    if (s.veth !== null) s.veth.ftEntries--;
    s.veth = null;
    s.bridge = null;
    s.l2 = null;
    s.l3 = null;
    s.out = null;
    s.l4 = null;
  }
}

function hash(src: number, dst: number, ports: number, proto: number): number {
  let h = (src ^ Math.imul(dst, 0x9e3779b1) ^ Math.imul(ports, 0x85ebca6b) ^ proto) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}
