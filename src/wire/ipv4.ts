/**
 * IPv4, RFC 791 (header), RFC 2474/3168 (DSCP/ECN), RFC 1071/1624 (header checksum).
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |Version|  IHL  |   DSCP    |ECN|          Total Length         |  0
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |         Identification        |R|D|M|     Fragment Offset     |  4
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |  Time to Live |    Protocol   |         Header Checksum       |  8
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                       Source Address                          | 12
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                    Destination Address                        | 16
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                    Options (IHL > 5)          |    Padding    | 20
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * IHL counts 32-bit words (5..15, so 20..60 bytes). R is reserved (ignored here), D is
 * Don't Fragment, M is More Fragments. The fragment offset field counts 8-byte units: the
 * view exposes both `fragOffsetUnits()` (as on the wire) and `fragOffsetBytes()`; the Repr
 * uses bytes. The checksum covers the header only.
 *
 * The buffer may hold more than Total Length bytes (Ethernet pads short frames to 60):
 * `payloadLen()` is computed from Total Length, never from the buffer.
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { checksum, update16, update32 } from './checksum.js';
import { Decode, decodes } from './decodes.js';
import { WireError } from './errors.js';

/** IP protocol numbers (IANA registry); an open set: any 8-bit number is valid. */
export const IpProtocol = {
  HopByHop: 0,
  Icmp: 1,
  Igmp: 2,
  IpIp: 4,
  Tcp: 6,
  Udp: 17,
  Ipv6: 41,
  Gre: 47,
  Esp: 50,
  Ah: 51,
  Icmpv6: 58,
  Sctp: 132,
} as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

/** Header length without options. */
export const IPV4_MIN_HEADER_LEN = 20;
/** Header length with the most options IHL can describe (15 words). */
export const IPV4_MAX_HEADER_LEN = 60;

const VER_IHL = 0;
const DSCP_ECN = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

const EMPTY = new Uint8Array(0);

// Static readers over (buffer, offset of the header): what the dataplane runs, and what the
// view's accessors below call, so the view's property tests exercise them. Unchecked: the
// caller ran `checkIpv4` on the header (or built it).

/** Header length in bytes (IHL * 4). */
export function ipv4HeaderLength(b: Uint8Array, l3: number): number { return (b[l3 + VER_IHL]! & 0x0f) << 2; }
/** Total Length: header plus payload, in bytes. */
export function ipv4TotalLength(b: Uint8Array, l3: number): number { return (b[l3 + TOTAL_LEN]! << 8) | b[l3 + TOTAL_LEN + 1]!; }
/** The flags + fragment offset word. */
export function ipv4FlagsFrag(b: Uint8Array, l3: number): number { return (b[l3 + FLAGS_FRAG]! << 8) | b[l3 + FLAGS_FRAG + 1]!; }
/** True for a fragment (More Fragments set or a non-zero offset): no L4 header to read as a whole datagram's. */
export function ipv4IsFragment(b: Uint8Array, l3: number): boolean { return ((b[l3 + FLAGS_FRAG]! & 0x3f) | b[l3 + FLAGS_FRAG + 1]!) !== 0; }
/** True for a fragment after the first (non-zero offset): it holds no L4 header at all. */
export function ipv4IsLaterFragment(b: Uint8Array, l3: number): boolean { return ((b[l3 + FLAGS_FRAG]! & 0x1f) | b[l3 + FLAGS_FRAG + 1]!) !== 0; }
/** True when Don't Fragment is set. */
export function ipv4DontFragment(b: Uint8Array, l3: number): boolean { return (b[l3 + FLAGS_FRAG]! & (FLAG_DF >>> 8)) !== 0; }
export function ipv4Ttl(b: Uint8Array, l3: number): number { return b[l3 + TTL]!; }
export function ipv4Tos(b: Uint8Array, l3: number): number { return b[l3 + DSCP_ECN]!; }
export function ipv4Ident(b: Uint8Array, l3: number): number { return readU16(b, l3 + IDENT); }
export function ipv4Checksum(b: Uint8Array, l3: number): number { return readU16(b, l3 + CHECKSUM); }
export function ipv4Protocol(b: Uint8Array, l3: number): number { return b[l3 + PROTOCOL]!; }
// The address readers spell the read out instead of calling readU32: one function, not two,
// against V8's per-function inlining budget on the hot path (each is inlined at every use).
export function ipv4Src(b: Uint8Array, l3: number): number {
  return ((b[l3 + 12]! << 24) | (b[l3 + 13]! << 16) | (b[l3 + 14]! << 8) | b[l3 + 15]!) >>> 0;
}
export function ipv4Dst(b: Uint8Array, l3: number): number {
  return ((b[l3 + 16]! << 24) | (b[l3 + 17]! << 16) | (b[l3 + 18]! << 8) | b[l3 + 19]!) >>> 0;
}

/**
 * The one validation of an IPv4 header the dataplane runs, over the `len` bytes at `l3`
 * (what the packet holds from there): 0, or Truncated (fewer than 20 bytes), BadVersion
 * (version != 4), BadHeaderLength (IHL < 5 or header past the bytes), BadLength (Total
 * Length below the header length or past the bytes), in Linux ip_rcv_core's order. Not the
 * checksum (`headerChecksumOk`: a caller skips it for packets it vouches for). Counted as
 * one decode (decodes.ts).
 */
export function checkIpv4(b: Uint8Array, l3: number, len: number): number {
  decodes[Decode.Ipv4]!++;
  // The common header (version 4, IHL 5) answered here; the rest in order below. Kept small:
  // every namespace's receive and send path inlines this, within V8's inlining budget.
  if (b[l3] === 0x45 && len >= IPV4_MIN_HEADER_LEN && l3 + len <= b.length) {
    const tl = (b[l3 + TOTAL_LEN]! << 8) | b[l3 + TOTAL_LEN + 1]!;
    if (tl >= IPV4_MIN_HEADER_LEN && tl <= len) return WireError.Ok;
  }
  return checkIpv4Slow(b, l3, len);
}

/** checkIpv4 for any header: ip_rcv_core's checks in its order (exported for the test that checkIpv4's fast answer equals it). */
export function checkIpv4Slow(b: Uint8Array, l3: number, len: number): number {
  if (len < IPV4_MIN_HEADER_LEN || l3 + len > b.length) return WireError.Truncated;
  const vihl = b[l3 + VER_IHL]!;
  if (vihl >>> 4 !== 4) return WireError.BadVersion;
  const hl = (vihl & 0x0f) << 2;
  if (hl < IPV4_MIN_HEADER_LEN || hl > len) return WireError.BadHeaderLength;
  const tl = ipv4TotalLength(b, l3);
  if (tl < hl || tl > len) return WireError.BadLength;
  return WireError.Ok;
}

/**
 * TTL - 1 with the header checksum fixed (what `Ipv4Packet.decTtlFixChecksum` runs)
 * (RFC 1624 eqn. 3: the word TTL << 8 | protocol drops by 0x0100, so ~0x0100 = 0xfeff is
 * added to the complemented checksum). The caller has checked TTL > 1.
 */
export function ipv4DecTtl(b: Uint8Array, l3: number): void {
  const s = (~((b[l3 + 10]! << 8) | b[l3 + 11]!) & 0xffff) + 0xfeff;
  const c = ~((s & 0xffff) + (s >>> 16)) & 0xffff;
  b[l3 + 10] = c >>> 8;
  b[l3 + 11] = c;
  b[l3 + 8] = b[l3 + 8]! - 1;
}

/** True when the IPv4 header checksum over [l3, l3 + hl) verifies (RFC 1071; hl <= 60, so two folds suffice). */
export function ipv4HeaderChecksumOk(b: Uint8Array, l3: number, hl: number): boolean {
  // The 20-byte header unrolled (two bytes per word: a 16-bit sum of byte pairs), options looped.
  let s = ((b[l3]! + b[l3 + 2]! + b[l3 + 4]! + b[l3 + 6]! + b[l3 + 8]! + b[l3 + 10]! + b[l3 + 12]! + b[l3 + 14]!
    + b[l3 + 16]! + b[l3 + 18]!) << 8)
    + b[l3 + 1]! + b[l3 + 3]! + b[l3 + 5]! + b[l3 + 7]! + b[l3 + 9]! + b[l3 + 11]! + b[l3 + 13]! + b[l3 + 15]!
    + b[l3 + 17]! + b[l3 + 19]!;
  for (let i = l3 + 20, end = l3 + hl; i < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

// Static writers: what the dataplane's in-place rewrites run, and what the view's setters call.

export function ipv4SetTtl(b: Uint8Array, l3: number, v: number): void { b[l3 + TTL] = v; }
export function ipv4SetSrc(b: Uint8Array, l3: number, ip: number): void { writeU32(b, l3 + SRC, ip); }
export function ipv4SetDst(b: Uint8Array, l3: number, ip: number): void { writeU32(b, l3 + DST, ip); }
export function ipv4SetTotalLength(b: Uint8Array, l3: number, v: number): void { writeU16(b, l3 + TOTAL_LEN, v); }
export function ipv4SetIdent(b: Uint8Array, l3: number, v: number): void { writeU16(b, l3 + IDENT, v); }
export function ipv4SetChecksum(b: Uint8Array, l3: number, v: number): void { writeU16(b, l3 + CHECKSUM, v); }
/**
 * INET_ECN_set_ce (include/net/inet_ecn.h): marks an ECN-capable packet Congestion
 * Experienced, the checksum fixed incrementally; true when the packet is CE now, false for
 * Not-ECT (which a qdisc drops instead of marking).
 */
export function ipv4SetCe(b: Uint8Array, l3: number): boolean {
  const tos = b[l3 + DSCP_ECN]!;
  const ecn = (tos + 1) & 3; // ECT(1) 01 -> 2, ECT(0) 10 -> 3, CE 11 -> 0, Not-ECT 00 -> 1
  if ((ecn & 2) === 0) return ecn === 0;
  const old = (b[l3 + VER_IHL]! << 8) | tos;
  b[l3 + DSCP_ECN] = tos | 3;
  writeU16(b, l3 + CHECKSUM, update16(readU16(b, l3 + CHECKSUM), old, old | 3));
  return true;
}
/** Writes the header checksum computed from scratch over the header's `hl` bytes. */
export function ipv4FillChecksum(b: Uint8Array, l3: number, hl: number): void {
  writeU16(b, l3 + CHECKSUM, 0);
  writeU16(b, l3 + CHECKSUM, checksum(b, l3, hl));
}
/** SNAT: writes the source address and updates the header checksum incrementally (RFC 1624). */
export function ipv4SetSrcFixChecksum(b: Uint8Array, l3: number, ip: number): void {
  writeU16(b, l3 + CHECKSUM, update32(readU16(b, l3 + CHECKSUM), ipv4Src(b, l3), ip >>> 0));
  writeU32(b, l3 + SRC, ip);
}
/** DNAT: writes the destination address and updates the header checksum incrementally. */
export function ipv4SetDstFixChecksum(b: Uint8Array, l3: number, ip: number): void {
  writeU16(b, l3 + CHECKSUM, update32(readU16(b, l3 + CHECKSUM), ipv4Dst(b, l3), ip >>> 0));
  writeU32(b, l3 + DST, ip);
}
/**
 * NAT's address rewrite (`natRewriteAt`): the destination (`dst`) or source address set to
 * `ip` with the header checksum fixed incrementally when it changes; returns the address it
 * replaced (the L4 checksum's fix-up needs it). One function on NAT's path, not four.
 */
export function ipv4RewriteAddress(b: Uint8Array, l3: number, dst: boolean, ip: number): number {
  // Reads and writes spelled out, not readU32/writeU16/writeU32: NAT's rewrite is not
  // inlined into its caller, and every nested call it inlines counts against V8's budget
  // for it (the nat.dnat figures lost ~25% with the helpers nested here).
  const off = l3 + (dst ? DST : SRC);
  const old = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  if (old !== ip) {
    const c = update32((b[l3 + CHECKSUM]! << 8) | b[l3 + CHECKSUM + 1]!, old, ip);
    b[l3 + CHECKSUM] = c >>> 8;
    b[l3 + CHECKSUM + 1] = c;
    b[off] = ip >>> 24;
    b[off + 1] = ip >>> 16;
    b[off + 2] = ip >>> 8;
    b[off + 3] = ip;
  }
  return old;
}

/**
 * Turns a received header into its reply's, in place: source and destination swapped, TTL
 * and Total Length written, the checksum recomputed over the header's bytes (options kept).
 */
export function ipv4TurnAround(b: Uint8Array, l3: number, ttl: number, total: number): void {
  const src = ipv4Src(b, l3);
  writeU32(b, l3 + SRC, ipv4Dst(b, l3));
  writeU32(b, l3 + DST, src);
  b[l3 + TTL] = ttl;
  writeU16(b, l3 + TOTAL_LEN, total);
  ipv4FillChecksum(b, l3, ipv4HeaderLength(b, l3));
}

/**
 * A view over an IPv4 packet, re-pointed per packet with `wrap`. `check()` validates the
 * lengths once; then every accessor is safe. Offsets it returns are absolute in `buf`.
 */
export class Ipv4Packet {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /**
   * 0, or: Truncated (fewer than 20 bytes), BadVersion (version != 4), BadHeaderLength
   * (IHL < 5 or header past the available bytes), BadLength (total length below the header
   * length or above the available bytes). Does not look at the checksum: `verifyChecksum()`.
   */
  check(): number {
    return checkIpv4(this.buf, this.off, this.len);
  }

  version(): number { return this.buf[this.off + VER_IHL]! >>> 4; }
  /** Header length in 32-bit words (5..15 when valid). */
  ihl(): number { return this.buf[this.off + VER_IHL]! & 0x0f; }
  /** Header length in bytes (ihl * 4). */
  headerLen(): number { return ipv4HeaderLength(this.buf, this.off); }
  dscp(): number { return this.buf[this.off + DSCP_ECN]! >>> 2; }
  ecn(): number { return this.buf[this.off + DSCP_ECN]! & 0x03; }
  /** Total Length: header plus payload, in bytes. */
  totalLen(): number { return ipv4TotalLength(this.buf, this.off); }
  ident(): number { return readU16(this.buf, this.off + IDENT); }
  /** The whole flags + fragment offset word. */
  flagsFragWord(): number { return ipv4FlagsFrag(this.buf, this.off); }
  dontFrag(): boolean { return ipv4DontFragment(this.buf, this.off); }
  moreFrags(): boolean { return (this.flagsFragWord() & FLAG_MF) !== 0; }
  /** Fragment offset as on the wire, in 8-byte units (0..8191). */
  fragOffsetUnits(): number { return this.flagsFragWord() & FRAG_MASK; }
  /** Fragment offset in bytes (units * 8). */
  fragOffsetBytes(): number { return (this.flagsFragWord() & FRAG_MASK) << 3; }
  ttl(): number { return ipv4Ttl(this.buf, this.off); }
  protocol(): number { return ipv4Protocol(this.buf, this.off); }
  checksum(): number { return readU16(this.buf, this.off + CHECKSUM); }
  srcAddr(): number { return ipv4Src(this.buf, this.off); }
  dstAddr(): number { return ipv4Dst(this.buf, this.off); }
  optionsOffset(): number { return this.off + IPV4_MIN_HEADER_LEN; }
  optionsLen(): number { return this.headerLen() - IPV4_MIN_HEADER_LEN; }
  payloadOffset(): number { return this.off + this.headerLen(); }
  /** Total Length minus the header: Ethernet padding after the packet is not payload. */
  payloadLen(): number { return this.totalLen() - this.headerLen(); }

  /** True when the header checksum verifies (the one's complement sum of the header is 0xffff). */
  verifyChecksum(): boolean {
    return ipv4HeaderChecksumOk(this.buf, this.off, this.headerLen());
  }
  /** Computes the header checksum from scratch and writes it. */
  fillChecksum(): void { ipv4FillChecksum(this.buf, this.off, this.headerLen()); }

  /** Writes version 4 and the header length in bytes (a multiple of 4, 20..60). */
  setHeaderLen(bytes: number): void { this.buf[this.off + VER_IHL] = 0x40 | ((bytes >>> 2) & 0x0f); }
  setDscp(v: number): void {
    const i = this.off + DSCP_ECN;
    this.buf[i] = ((v & 0x3f) << 2) | (this.buf[i]! & 0x03);
  }
  setEcn(v: number): void {
    const i = this.off + DSCP_ECN;
    this.buf[i] = (this.buf[i]! & 0xfc) | (v & 0x03);
  }
  setTotalLen(v: number): void { ipv4SetTotalLength(this.buf, this.off, v); }
  setIdent(v: number): void { writeU16(this.buf, this.off + IDENT, v); }
  /** Writes the whole flags + fragment offset word. */
  setFlagsFragWord(v: number): void { writeU16(this.buf, this.off + FLAGS_FRAG, v); }
  setDontFrag(on: boolean): void {
    const w = this.flagsFragWord();
    this.setFlagsFragWord(on ? w | FLAG_DF : w & ~FLAG_DF);
  }
  setMoreFrags(on: boolean): void {
    const w = this.flagsFragWord();
    this.setFlagsFragWord(on ? w | FLAG_MF : w & ~FLAG_MF);
  }
  /** Fragment offset in bytes: a multiple of 8, at most 65528 (lower bits are dropped). */
  setFragOffsetBytes(bytes: number): void {
    this.setFlagsFragWord((this.flagsFragWord() & ~FRAG_MASK) | ((bytes >>> 3) & FRAG_MASK));
  }
  setTtl(v: number): void { ipv4SetTtl(this.buf, this.off, v); }
  setProtocol(v: number): void { this.buf[this.off + PROTOCOL] = v; }
  setChecksum(v: number): void { writeU16(this.buf, this.off + CHECKSUM, v); }
  setSrcAddr(ip: number): void { ipv4SetSrc(this.buf, this.off, ip); }
  setDstAddr(ip: number): void { ipv4SetDst(this.buf, this.off, ip); }

  // Rewrites that keep a valid header checksum valid (RFC 1624 eqn. 3, see checksum.ts).

  /** SNAT: writes the source address and updates the header checksum incrementally. */
  setSrcAddrFixChecksum(ip: number): void { ipv4SetSrcFixChecksum(this.buf, this.off, ip); }
  /** DNAT: writes the destination address and updates the header checksum incrementally. */
  setDstAddrFixChecksum(ip: number): void { ipv4SetDstFixChecksum(this.buf, this.off, ip); }
  /** Writes the TTL and updates the checksum through the TTL/protocol word. */
  setTtlFixChecksum(v: number): void {
    const p = this.protocol();
    this.setChecksum(update16(this.checksum(), (this.ttl() << 8) | p, ((v & 0xff) << 8) | p));
    this.setTtl(v);
  }
  /**
   * Forwarding: TTL - 1 with the checksum fixed incrementally, as Click's DecIPTTL does.
   * Returns the new TTL, or -1 (packet untouched) when the TTL was already 0; a router
   * drops TTL <= 1 with ICMP time exceeded before calling this.
   *
   * The TTL is the high byte of the 16-bit word m = ttl << 8 | protocol, so decrementing
   * it makes m' = m - 0x0100. RFC 1624 eqn. 3 gives
   *     HC' = ~(~HC + ~m + m') = ~(~HC + ~m + m - 0x0100)
   * and since ~m + m = 0xffff = -0 in one's complement, ~m + m - 0x0100 = -0x0100, whose
   * one's complement encoding is ~0x0100 = 0xfeff:
   *     HC' = ~(~HC + 0xfeff)
   * One end-around carry suffices: ~HC + 0xfeff <= 0x1fefe, which folds to <= 0xffff.
   */
  decTtlFixChecksum(): number {
    const ttl = this.ttl();
    if (ttl === 0) return -1;
    ipv4DecTtl(this.buf, this.off);
    return ttl - 1;
  }
}

/** True when the packet is a fragment: More Fragments set or a non-zero offset. */
export function isFragment(p: Ipv4Packet): boolean {
  return ipv4IsFragment(p.buf, p.off);
}

/** The meaning of an IPv4 header. */
export interface Ipv4Repr {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl: number;
  /** Bytes after the header (Total Length = header length + payloadLen). */
  readonly payloadLen: number;
  readonly ident: number;
  readonly dscp: number;
  readonly ecn: number;
  readonly dontFrag: boolean;
  readonly moreFrags: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  readonly fragOffset: number;
  /** Raw option bytes, padding included (a multiple of 4, at most 40); absent when none. */
  readonly options?: Uint8Array;
}

export interface Ipv4ParseOptions {
  /** Accept any header checksum: captures of checksum-offloaded traffic carry 0. */
  readonly ignoreChecksum?: boolean;
}

/**
 * Reads the header; returns a WireError code when `check()` fails or (unless
 * `ignoreChecksum`) the checksum does not verify. Allocates (not for the hot path);
 * `options` is a copy.
 */
export function parseIpv4Header(p: Ipv4Packet, opts?: Ipv4ParseOptions): Ipv4Repr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  if (opts?.ignoreChecksum !== true && !p.verifyChecksum()) return WireError.BadChecksum;
  const base = {
    src: p.srcAddr(), dst: p.dstAddr(), protocol: p.protocol(), ttl: p.ttl(), payloadLen: p.payloadLen(),
    ident: p.ident(), dscp: p.dscp(), ecn: p.ecn(), dontFrag: p.dontFrag(), moreFrags: p.moreFrags(),
    fragOffset: p.fragOffsetBytes(),
  };
  const ol = p.optionsLen();
  if (ol === 0) return base;
  const o = p.optionsOffset();
  return { ...base, options: new Uint8Array(p.buf.subarray(o, o + ol)) };
}

/** Header length `emitIpv4` writes for `repr`: 20 plus the options. */
export function ipv4HeaderLen(repr: Ipv4Repr): number {
  return IPV4_MIN_HEADER_LEN + (repr.options?.length ?? 0);
}

/**
 * A 20-byte header (no options, not a fragment) at `off` with its checksum: the writer for
 * the packets the dataplane makes itself (answers, resets, probes, queries). No Repr, no
 * allocation, no checks: the caller has the room. DF is set unless `dontFrag` is false.
 */
export function writeIpv4Header(
  buf: Uint8Array, off: number, src: number, dst: number, protocol: number, totalLen: number, ident: number,
  ttl = 64, dontFrag = true, tos = 0,
): void {
  const frag = dontFrag ? FLAG_DF : 0;
  buf[off + VER_IHL] = 0x45;
  buf[off + DSCP_ECN] = tos;
  writeU16(buf, off + TOTAL_LEN, totalLen);
  writeU16(buf, off + IDENT, ident);
  writeU16(buf, off + FLAGS_FRAG, frag);
  buf[off + TTL] = ttl;
  buf[off + PROTOCOL] = protocol;
  writeU32(buf, off + SRC, src);
  writeU32(buf, off + DST, dst);
  // RFC 1071 over the ten words just written (the checksum word counts as 0), without reading them back.
  let sum = (0x4500 | (tos & 0xff)) + (totalLen & 0xffff) + (ident & 0xffff) + frag + (((ttl & 0xff) << 8) | (protocol & 0xff))
    + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  writeU16(buf, off + CHECKSUM, ~sum & 0xffff);
}

/**
 * Writes the header at `off` with a computed checksum (the payload is the caller's) and
 * returns the header length. Throws RangeError for a header that cannot be encoded
 * (options not a multiple of 4 or over 40 bytes, fragment offset not a multiple of 8,
 * total length over 65535) or a buffer too small: bugs of the caller, not bad packets.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
  const hl = ipv4HeaderLen(repr);
  const ol = hl - IPV4_MIN_HEADER_LEN;
  if (ol % 4 !== 0 || hl > IPV4_MAX_HEADER_LEN) throw new RangeError(`emitIpv4: options length ${ol} must be a multiple of 4, at most 40`);
  if (repr.fragOffset % 8 !== 0 || repr.fragOffset < 0 || repr.fragOffset > FRAG_MASK * 8) {
    throw new RangeError(`emitIpv4: fragment offset ${repr.fragOffset} must be a multiple of 8 in 0..65528`);
  }
  const total = hl + repr.payloadLen;
  if (repr.payloadLen < 0 || total > 0xffff) throw new RangeError(`emitIpv4: total length ${total} out of range 20..65535`);
  if (off < 0 || off + hl > buf.length) throw new RangeError(`emitIpv4: ${hl} bytes do not fit at offset ${off} of ${buf.length}`);
  buf[off + VER_IHL] = 0x40 | (hl >>> 2);
  buf[off + DSCP_ECN] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 0x03);
  writeU16(buf, off + TOTAL_LEN, total);
  writeU16(buf, off + IDENT, repr.ident);
  writeU16(buf, off + FLAGS_FRAG, (repr.dontFrag ? FLAG_DF : 0) | (repr.moreFrags ? FLAG_MF : 0) | (repr.fragOffset >>> 3));
  buf[off + TTL] = repr.ttl;
  buf[off + PROTOCOL] = repr.protocol;
  writeU16(buf, off + CHECKSUM, 0);
  writeU32(buf, off + SRC, repr.src);
  writeU32(buf, off + DST, repr.dst);
  if (repr.options !== undefined) buf.set(repr.options, off + IPV4_MIN_HEADER_LEN);
  writeU16(buf, off + CHECKSUM, checksum(buf, off, hl));
  return hl;
}
