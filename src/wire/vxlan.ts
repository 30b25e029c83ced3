/**
 * VXLAN, RFC 7348: an Ethernet frame in UDP (destination port 4789, Linux's default 8472).
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |R|R|R|R|I|R|R|R|   (0)         Reserved (1..3)                 |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |         VXLAN Network Identifier (VNI) (4..6) |  Reserved (7) |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                inner Ethernet frame (8) ...                   |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The I flag (0x08) must be set. Reserved bits are written as zero and ignored on receipt
 * (RFC 7348 section 5), never an error. The outer UDP source port is a hash of the inner
 * flow (section 5: "a hash of fields from the inner packet"), so that ECMP in the underlay
 * keeps a flow on one path: `flowHash` / `flowHashIpv4` and `vxlanSourcePort`.
 */

import { readU16, readU32 } from './addr.js';
import { Decode, decodes } from './decodes.js';
import { WireError } from './errors.js';
import { IpProtocol, ipv4Dst, ipv4HeaderLength, ipv4IsFragment, ipv4Protocol, ipv4Src } from './ipv4.js';

/** IANA-assigned VXLAN port. */
export const VXLAN_PORT_IANA = 4789;
/** The Linux kernel's default (pre-IANA) port; flannel's VXLAN backend uses it. */
export const VXLAN_PORT_LINUX = 8472;
export const VXLAN_HEADER_LEN = 8;
/** Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8: the inner MTU is the underlay MTU - 50. */
export const VXLAN_OVERHEAD = 50;
/** The I flag: the VNI is valid. */
export const VXLAN_FLAG_I = 0x08;
/**
 * Default source port range: Linux's default `net.ipv4.ip_local_port_range` (32768 60999),
 * which the kernel VXLAN device uses when no `srcport` range is configured. Ours is
 * inclusive of both ends (Linux's arithmetic never yields the top port).
 */
export const VXLAN_SRC_PORT_MIN = 32768;
export const VXLAN_SRC_PORT_MAX = 60999;

const FLAGS = 0;
const VNI = 4;

const EMPTY = new Uint8Array(0);

/**
 * A view over a VXLAN header and its inner frame, re-pointed per packet with `wrap`. Call
 * `check()` once; when it returned 0 every accessor is safe. Offsets are absolute in `buf`.
 */
export class VxlanPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** 0; Truncated below 8 bytes; Malformed when the I flag is clear. Reserved bits are ignored. */
  check(): number {
    if (this.len < VXLAN_HEADER_LEN || this.off < 0 || this.off + this.len > this.buf.length) return WireError.Truncated;
    if (!this.iFlag()) return WireError.Malformed;
    return WireError.Ok;
  }

  /** The whole flags byte (I flag and reserved bits). */
  flags(): number { return this.buf[this.off + FLAGS]!; }
  iFlag(): boolean { return (this.buf[this.off + FLAGS]! & VXLAN_FLAG_I) !== 0; }
  /** 24-bit VXLAN network identifier. */
  vni(): number { return readU32(this.buf, this.off + VNI) >>> 8; }
  /** The inner Ethernet frame. */
  payloadOffset(): number { return this.off + VXLAN_HEADER_LEN; }
  payloadLen(): number { return this.len - VXLAN_HEADER_LEN; }

  setFlags(v: number): void { this.buf[this.off + FLAGS] = v & 0xff; }
  /** Writes the 24-bit VNI; the reserved byte after it is left alone. */
  setVni(v: number): void {
    const o = this.off + VNI;
    this.buf[o] = (v >>> 16) & 0xff;
    this.buf[o + 1] = (v >>> 8) & 0xff;
    this.buf[o + 2] = v & 0xff;
  }
}

/** The meaning of a VXLAN header. */
export interface VxlanRepr {
  /** 0..0xffffff. */
  readonly vni: number;
}

/** Validates the header (Truncated, Malformed without the I flag) and returns the VNI. Allocates. */
export function parseVxlan(p: VxlanPacket): VxlanRepr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  return { vni: p.vni() };
}

/** Bytes `emitVxlan` writes. */
export function vxlanHeaderLen(_repr: VxlanRepr): number {
  return VXLAN_HEADER_LEN;
}

/**
 * Writes the 8-byte header at `off` (I flag set, reserved bits zero) and returns 8. Throws
 * RangeError when the buffer is too small or the VNI is out of range (bugs of the caller).
 */
export function emitVxlan(repr: VxlanRepr, buf: Uint8Array, off: number): number {
  if (off < 0 || off + VXLAN_HEADER_LEN > buf.length) {
    throw new RangeError(`emitVxlan: 8 bytes do not fit at offset ${off} of ${buf.length}`);
  }
  if (!Number.isInteger(repr.vni) || repr.vni < 0 || repr.vni > 0xffffff) {
    throw new RangeError(`emitVxlan: vni ${repr.vni} out of range (0..16777215)`);
  }
  const v = repr.vni;
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (v >>> 16) & 0xff;
  buf[off + 5] = (v >>> 8) & 0xff;
  buf[off + 6] = v & 0xff;
  buf[off + 7] = 0;
  return VXLAN_HEADER_LEN;
}

// ---------------------------------------------------------------------------------------
// Flow hash for the outer source port

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Bob Jenkins' lookup3 final mix over three words, as Linux's `jhash_3words` (the kernel
 * hashes the flow keys with jhash, `__skb_get_hash`). Returns a uint32.
 */
export function jhash3(a0: number, b0: number, c0: number, initval: number): number {
  const iv = (initval + 0xdeadbeef + (3 << 2)) | 0;
  let a = (a0 + iv) | 0;
  let b = (b0 + iv) | 0;
  let c = (c0 + iv) | 0;
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}

/**
 * A symmetric hash of a flow: both directions of a connection hash alike, as Linux's
 * `__flow_hash_consistentify` orders the endpoints before hashing. Addresses are uint32,
 * ports 0 for protocols without ports. `seed` comes from the context's seeded RNG (a node's
 * hash secret); no allocation.
 */
export function flowHash(src: number, dst: number, proto: number, sport: number, dport: number, seed = 0): number {
  let a = src >>> 0;
  let b = dst >>> 0;
  let pa = sport & 0xffff;
  let pb = dport & 0xffff;
  if (b < a || (b === a && pb < pa)) {
    const t = a; a = b; b = t;
    const u = pa; pa = pb; pb = u;
  }
  return jhash3(a, b, ((pa << 16) | pb) >>> 0, (seed ^ (proto & 0xff)) | 0);
}

/**
 * `flowHash` of the IPv4 packet at `l3off` (`l3len` bytes, header already checked by the
 * caller): addresses and protocol, plus the ports of TCP (6), UDP (17) and SCTP (132) when
 * the packet is not a fragment and the ports are within `l3len` (fragments of a datagram
 * thus all hash alike). No allocation.
 */
export function flowHashIpv4(buf: Uint8Array, l3off: number, l3len: number, seed = 0): number {
  if (l3len < 20) return 0;
  decodes[Decode.Ipv4]!++; // the header's length and protocol, read here
  return flowHashDecoded(buf, l3off, l3off + ipv4HeaderLength(buf, l3off), ipv4Protocol(buf, l3off), l3off + l3len, seed);
}

/**
 * `flowHashIpv4` of a packet whose header the caller decoded: L4 header at `l4`, protocol
 * `proto`, the packet's bytes ending at `end` (Packet.l3/l4/proto/end): no decode (Linux
 * reads the ports again here too, its flow dissector, unless the skb carries a hash).
 */
export function flowHashDecoded(buf: Uint8Array, l3: number, l4: number, proto: number, end: number, seed = 0): number {
  let sport = 0;
  let dport = 0;
  if (!ipv4IsFragment(buf, l3) && (proto === IpProtocol.Tcp || proto === IpProtocol.Udp || proto === IpProtocol.Sctp) && l4 >= l3 + 20 && l4 + 4 <= end) {
    sport = readU16(buf, l4);
    dport = readU16(buf, l4 + 2);
  }
  return flowHash(ipv4Src(buf, l3), ipv4Dst(buf, l3), proto, sport, dport, seed);
}

/**
 * Maps a 32-bit hash into [min, max] (inclusive) for the outer UDP source port, as Linux's
 * `udp_flow_src_port`: the hash is folded (`hash ^= hash << 16`, only its upper bits pick
 * the port) and scaled by multiplication rather than modulo.
 */
export function vxlanSourcePort(hash: number, min: number = VXLAN_SRC_PORT_MIN, max: number = VXLAN_SRC_PORT_MAX): number {
  if (max <= min) return min;
  const h = (hash ^ (hash << 16)) >>> 0;
  return min + Math.floor((h * (max - min + 1)) / 4294967296);
}
