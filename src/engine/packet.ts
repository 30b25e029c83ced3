/**
 * Packets and the packet pool (after Snabb's core/packet.h).
 *
 * A packet is a fixed-size slot carved once from one slab, with `start`/`end` offsets into
 * it. `start` begins at HEADROOM bytes into the slot, so encapsulation (VXLAN adds 50
 * bytes) moves `start` back instead of copying. Metadata slots travel with the packet:
 * ingress interface, trace id (0 = not traced), mark, conntrack entry and direction.
 *
 * The pool never allocates after construction: `alloc()` pops a free index, `free()`
 * pushes it back. Exhaustion is a normal condition (alloc returns null; the caller counts
 * a `pool-exhausted` drop), a double free is a bug and throws.
 */

import { ipv4HeaderLength, ipv4Protocol } from '../wire/ipv4.js';

export const DEFAULT_HEADROOM = 128;
export const DEFAULT_SLOT_SIZE = 2048;
export const DEFAULT_POOL_SIZE = 16384;

export class Packet {
  /** The whole slot; frame bytes are buf[start, end). */
  readonly buf: Buffer;
  /** Index of the slot in its pool. */
  readonly index: number;
  start: number;
  end: number;
  /** Interface index the packet arrived on (set by the receiving device), 0 = none. */
  inIf = 0;
  /** Trace id; 0 means not traced (one branch per element). */
  trace = 0;
  /** Free-form mark (like skb->mark): netfilter and the service proxy use it. */
  mark = 0;
  /** Conntrack entry index, -1 for none. */
  ct = -1;
  /** Conntrack direction: 0 original, 1 reply. */
  ctDir = 0;
  /** Offset of the L3 header once a device has found it, -1 before. */
  l3 = -1;
  /**
   * Offset of the L4 header (l3 + the IPv4 header's length) and the IPv4 protocol number,
   * set with `l3` by the namespace that validated the header (`checkIpv4`), so conntrack,
   * NAT, local delivery, policy and the tunnel read them instead of decoding the header
   * again; valid while `l3` is (a device that moves `start` past or before the header
   * resets `l3`). -1 and 0 when unknown.
   */
  l4 = -1;
  proto = 0;
  /**
   * The bridge port a frame entered a bridge by, as (bridge id * 65536 + port + 1); 0 for none.
   * It survives the trip up to L3 and back (DNAT on the node), so a bridge can tell that a
   * frame is going back out of the port it came in by: br_netfilter's hairpin case.
   */
  brIn = 0;
  /**
   * Every checksum in the packet (IPv4 header, UDP/TCP/ICMP) is known to be valid, like
   * Linux's skb->ip_summed = CHECKSUM_UNNECESSARY over veth: set by the namespace's output
   * path (packets podwire's own stack built; a tunnel's outer packet keeps its inner
   * packet's value); kept by in-place rewrites (they update checksums incrementally,
   * RFC 1624, so a valid checksum stays valid); false after `alloc()`, so bytes from
   * outside (TAP reads, datagrams from the VXLAN socket, frames injected by tests or pcap)
   * are verified. A shard link carries it across with the frame (`FRAME_CSUM_OK`). Receivers skip verification when it is set; they do not
   * set it after verifying (a verified UDP datagram may carry an unverified VXLAN frame).
   */
  csumOk = false;
  /**
   * Payload bytes of the datagram beyond `end` that this packet does not hold: a copy of a
   * frame's headers that stands for the whole frame (Bridge.switchOutside's br_netfilter
   * probe). conntrack's window tracking counts them in a TCP segment's length. 0 otherwise.
   */
  missing = 0;
  /** True while the packet sits in the free list. */
  inPool = true;

  constructor(buf: Buffer, index: number, headroom: number) {
    this.buf = buf;
    this.index = index;
    this.start = headroom;
    this.end = headroom;
  }

  /**
   * Records the IPv4 header at `l3` (already checked: `checkIpv4`, or built here): `l3`,
   * `l4` behind it, `proto`.
   */
  setIpv4(l3: number): void {
    this.setDecoded(l3, l3 + ipv4HeaderLength(this.buf, l3), ipv4Protocol(this.buf, l3));
  }

  /** `setIpv4` for a caller that has the header's length and protocol at hand (the receive path). */
  setDecoded(l3: number, l4: number, proto: number): void {
    this.l3 = l3;
    this.l4 = l4;
    this.proto = proto;
  }

  get length(): number {
    return this.end - this.start;
  }

  /** Grows the packet at the front by `n` bytes (encapsulation); false when headroom is short. */
  prepend(n: number): boolean {
    if (this.start < n) return false;
    this.start -= n;
    return true;
  }

  /** Removes `n` bytes from the front (decapsulation); false when the packet is shorter. */
  shrinkFront(n: number): boolean {
    if (this.end - this.start < n) return false;
    this.start += n;
    return true;
  }
}

export interface PoolOptions {
  size?: number;
  slotSize?: number;
  headroom?: number;
}

export class PacketPool {
  readonly size: number;
  readonly slotSize: number;
  readonly headroom: number;
  /** Largest frame a packet holds without using headroom. */
  readonly maxFrame: number;
  private readonly slab: Buffer;
  private readonly packets: Packet[];
  private readonly freeList: Int32Array;
  private top: number;
  /** Allocation failures (pool exhausted). */
  exhausted = 0;

  constructor(opts: PoolOptions = {}) {
    this.size = opts.size ?? DEFAULT_POOL_SIZE;
    this.slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    this.headroom = opts.headroom ?? DEFAULT_HEADROOM;
    if (this.headroom < 64 || this.headroom >= this.slotSize) {
      throw new Error(`pool headroom ${this.headroom} must be >= 64 and below the slot size ${this.slotSize}`);
    }
    this.maxFrame = this.slotSize - this.headroom;
    this.slab = Buffer.allocUnsafeSlow(this.size * this.slotSize);
    this.packets = new Array<Packet>(this.size);
    this.freeList = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      this.packets[i] = new Packet(this.slab.subarray(i * this.slotSize, (i + 1) * this.slotSize), i, this.headroom);
      this.freeList[i] = this.size - 1 - i;
    }
    this.top = this.size;
  }

  /** Packets currently free. */
  get available(): number {
    return this.top;
  }

  /** Takes a packet with an empty frame at the headroom, or null when the pool is exhausted. */
  alloc(): Packet | null {
    if (this.top === 0) {
      this.exhausted++;
      return null;
    }
    const p = this.packets[this.freeList[--this.top]!]!;
    p.inPool = false;
    p.start = this.headroom;
    p.end = this.headroom;
    p.inIf = 0;
    p.trace = 0;
    p.mark = 0;
    p.ct = -1;
    p.ctDir = 0;
    p.l3 = -1;
    p.l4 = -1;
    p.proto = 0;
    p.brIn = 0;
    p.csumOk = false;
    p.missing = 0;
    return p;
  }

  free(p: Packet): void {
    if (p.inPool) throw new Error(`packet ${p.index} freed twice`);
    p.inPool = true;
    this.freeList[this.top++] = p.index;
  }

  /** A copy of `p` (bytes at the same offsets and all metadata), or null when exhausted. */
  clone(p: Packet): Packet | null {
    const q = this.alloc();
    if (q === null) return null;
    p.buf.copy(q.buf, p.start, p.start, p.end);
    q.start = p.start;
    q.end = p.end;
    q.inIf = p.inIf;
    q.trace = p.trace;
    q.mark = p.mark;
    q.ct = p.ct;
    q.ctDir = p.ctDir;
    q.l3 = p.l3;
    q.l4 = p.l4;
    q.proto = p.proto;
    q.brIn = p.brIn;
    q.csumOk = p.csumOk;
    return q;
  }

  /** Allocates a packet holding a copy of bytes[off, off+len) at the headroom; null when exhausted or too long. */
  fromBytes(bytes: Uint8Array, off: number, len: number): Packet | null {
    if (len > this.maxFrame) return null;
    const p = this.alloc();
    if (p === null) return null;
    p.buf.set(bytes.subarray(off, off + len), p.start);
    p.end = p.start + len;
    return p;
  }
}
