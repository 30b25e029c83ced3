/**
 * UDP, RFC 768.
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |        Source Port (0)        |     Destination Port (2)      |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |          Length (4)           |         Checksum (6)          |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                          data ...                             |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length counts the header and the data (minimum 8). The checksum covers the IPv4
 * pseudo-header (source, destination, zero, protocol 17, UDP length), the header and the
 * data. A checksum field of 0 means "not computed" (allowed over IPv4) and is always
 * accepted; a computed 0 is therefore sent as 0xffff (`udpFinal`). NAT setters keep a zero
 * checksum zero.
 *
 * The view's `len` is what the IP layer says is the UDP datagram (IPv4 payload length);
 * the length field may be shorter (trailing bytes are ignored) but never longer.
 */

import { readU16, writeU16 } from './addr.js';
import { checksum, pseudoHeaderSum, udpFinal, update16, update32 } from './checksum.js';
import { WireError } from './errors.js';

/** IP protocol number of UDP. */
export const UDP_PROTOCOL = 17;
/** Fixed header length. */
export const UDP_HEADER_LEN = 8;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

const EMPTY = new Uint8Array(0);

/**
 * A view over a UDP datagram, re-pointed per packet with `wrap`. Call `check()` once; when
 * it returned 0 every accessor is safe. Offsets it returns are absolute in `buf`.
 */
export class UdpPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** 0; Truncated below 8 bytes; BadLength when the length field is < 8 or past `len`. */
  check(): number {
    if (this.len < UDP_HEADER_LEN || this.off < 0 || this.off + this.len > this.buf.length) return WireError.Truncated;
    const l = this.length();
    if (l < UDP_HEADER_LEN || l > this.len) return WireError.BadLength;
    return WireError.Ok;
  }

  srcPort(): number { return readU16(this.buf, this.off + SRC_PORT); }
  dstPort(): number { return readU16(this.buf, this.off + DST_PORT); }
  /** The length field: header + data. */
  length(): number { return readU16(this.buf, this.off + LENGTH); }
  checksum(): number { return readU16(this.buf, this.off + CHECKSUM); }
  payloadOffset(): number { return this.off + UDP_HEADER_LEN; }
  /** Data bytes according to the length field. */
  payloadLen(): number { return this.length() - UDP_HEADER_LEN; }

  /** True when the checksum field is 0 (not computed) or the pseudo-header sum verifies. */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum() === 0) return true;
    const l = this.length();
    return checksum(this.buf, this.off, l, pseudoHeaderSum(src, dst, UDP_PROTOCOL, l)) === 0;
  }

  /** Computes and writes the checksum over `length()` bytes (the data must be in place). */
  fillChecksum(src: number, dst: number): void {
    fillUdpChecksum(this.buf, this.off, src, dst);
  }

  setSrcPort(v: number): void { writeU16(this.buf, this.off + SRC_PORT, v); }
  setDstPort(v: number): void { writeU16(this.buf, this.off + DST_PORT, v); }
  setLength(v: number): void { writeU16(this.buf, this.off + LENGTH, v); }
  setChecksum(v: number): void { writeU16(this.buf, this.off + CHECKSUM, v); }

  /** NAT: rewrites the source port and updates the checksum (RFC 1624); a zero checksum stays zero. */
  setSrcPortFixChecksum(v: number): void {
    const old = this.srcPort();
    this.setSrcPort(v);
    const c = this.checksum();
    if (c !== 0) this.setChecksum(udpFinal(update16(c, old, v & 0xffff)));
  }

  /** NAT: rewrites the destination port and updates the checksum; a zero checksum stays zero. */
  setDstPortFixChecksum(v: number): void {
    const old = this.dstPort();
    this.setDstPort(v);
    const c = this.checksum();
    if (c !== 0) this.setChecksum(udpFinal(update16(c, old, v & 0xffff)));
  }

  /**
   * NAT: the IP layer rewrote an address from `oldAddr` to `newAddr` (uint32); updates the
   * checksum for the pseudo-header change. A zero checksum stays zero.
   */
  fixChecksumForAddrChange(oldAddr: number, newAddr: number): void {
    const c = this.checksum();
    if (c !== 0) this.setChecksum(udpFinal(update32(c, oldAddr >>> 0, newAddr >>> 0)));
  }
}

/**
 * Writes the checksum of the datagram at `off` (its length field and data must be in
 * place): RFC 768 over the pseudo-header, a computed 0 sent as 0xffff.
 */
export function fillUdpChecksum(buf: Uint8Array, off: number, src: number, dst: number): void {
  const l = readU16(buf, off + LENGTH);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + CHECKSUM, udpFinal(checksum(buf, off, l, pseudoHeaderSum(src, dst, UDP_PROTOCOL, l))));
}

/** Ports, length (8 + `dataLen`) and checksum of a datagram whose data is already at off + 8. */
export function writeUdpHeader(buf: Uint8Array, off: number, srcPort: number, dstPort: number, dataLen: number, src: number, dst: number): void {
  writeU16(buf, off + SRC_PORT, srcPort);
  writeU16(buf, off + DST_PORT, dstPort);
  writeU16(buf, off + LENGTH, UDP_HEADER_LEN + dataLen);
  fillUdpChecksum(buf, off, src, dst);
}

/** Ports and length (8 + `dataLen`) with checksum 0 ("not computed", RFC 768): a VXLAN tunnel's outer datagram by default. */
export function writeUdpHeaderNoChecksum(buf: Uint8Array, off: number, srcPort: number, dstPort: number, dataLen: number): void {
  writeU16(buf, off + SRC_PORT, srcPort);
  writeU16(buf, off + DST_PORT, dstPort);
  writeU16(buf, off + LENGTH, UDP_HEADER_LEN + dataLen);
  writeU16(buf, off + CHECKSUM, 0);
}

/** The meaning of a UDP header. The data itself is the caller's. */
export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Data bytes (the length field is 8 + payloadLen). */
  readonly payloadLen: number;
}

/**
 * Validates a datagram (lengths, checksum against the pseudo-header of `src`/`dst`,
 * destination port not 0 -> Malformed) and returns its header. Allocates (not for the hot path).
 */
export function parseUdp(p: UdpPacket, src: number, dst: number): UdpRepr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  if (!p.verifyChecksum(src, dst)) return WireError.BadChecksum;
  if (p.dstPort() === 0) return WireError.Malformed;
  return { srcPort: p.srcPort(), dstPort: p.dstPort(), payloadLen: p.payloadLen() };
}

/** Bytes `emitUdp` writes: the 8-byte header (the datagram is 8 + payloadLen). */
export function udpHeaderLen(_repr: UdpRepr): number {
  return UDP_HEADER_LEN;
}

/**
 * Writes the header at `off` with a zero checksum and returns 8. Put the data at `off + 8`,
 * then call `fillUdpChecksum` (or leave 0: no checksum). Throws RangeError when the buffer
 * is too small or a field is out of range (bugs of the caller, not bad packets).
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, off: number): number {
  if (off < 0 || off + UDP_HEADER_LEN > buf.length) {
    throw new RangeError(`emitUdp: 8 bytes do not fit at offset ${off} of ${buf.length}`);
  }
  if (repr.payloadLen < 0 || repr.payloadLen > 0xffff - UDP_HEADER_LEN) {
    throw new RangeError(`emitUdp: payloadLen ${repr.payloadLen} out of range (0..65527)`);
  }
  writeU16(buf, off + SRC_PORT, repr.srcPort);
  writeU16(buf, off + DST_PORT, repr.dstPort);
  writeU16(buf, off + LENGTH, UDP_HEADER_LEN + repr.payloadLen);
  writeU16(buf, off + CHECKSUM, 0);
  return UDP_HEADER_LEN;
}
