/**
 * SCTP, RFC 9260: the common header, the first chunk's header, the INIT / INIT ACK /
 * ABORT chunks a connectivity probe needs, and the CRC32c checksum (Appendix A).
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |     Source Port Number (0)    |  Destination Port Number (2)  |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                      Verification Tag (4)                     |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                          Checksum (8)                         |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     | Chunk Type (12)| Chunk Flags  |        Chunk Length (14)      |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                          chunk value ...                      |
 *
 * INIT (1) and INIT ACK (2) values: Initiate Tag (4), a_rwnd (4), outbound streams (2),
 * inbound streams (2), initial TSN (4), then parameters (INIT ACK: a State Cookie, type 7).
 * An INIT travels with verification tag 0; the INIT ACK carries the INIT's Initiate Tag.
 * ABORT (6) with the T bit (flag 1) reflects the tag it was sent for (RFC 9260 8.4, 8.5.1).
 *
 * Checksum (RFC 9260 6.8, Appendix A): CRC32c (Castagnoli, reflected polynomial 0x82F63B78)
 * over the whole SCTP packet with the checksum field zero, no pseudo-header: a NAT that
 * rewrites addresses leaves it alone, one that rewrites ports recomputes it (Linux
 * sctp_manip_pkt does so too). The final value is stored least significant byte first, as
 * Linux's `sctp_compute_cksum` returns it (`cpu_to_le32(~crc32c(~0, ...))`).
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.js';

/** IP protocol number of SCTP. */
export const SCTP_PROTOCOL = 132;
/** Common header length. */
export const SCTP_HEADER_LEN = 12;
/** Chunk types (an open set: any 8-bit number round-trips). */
export const SctpChunk = { Data: 0, Init: 1, InitAck: 2, Abort: 6, CookieEcho: 10, CookieAck: 11 } as const;
/** ABORT's T bit: the verification tag is the receiver's own (reflected). */
export const SCTP_ABORT_T = 1;
/** INIT / INIT ACK fixed value after the chunk header. */
const INIT_FIXED = 16;
/** State Cookie parameter type (INIT ACK). */
const PARAM_STATE_COOKIE = 7;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32c of `len` bytes at `off` (the standard check value of "123456789" is 0xe3069283). */
export function crc32c(buf: Uint8Array, off: number, len: number): number {
  let c = 0xffffffff;
  const end = off + len;
  for (let i = off; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The SCTP checksum of the packet at `off` (`len` bytes), its checksum field taken as zero. */
export function sctpChecksum(buf: Uint8Array, off: number, len: number): number {
  let c = 0xffffffff;
  const end = off + len;
  for (let i = off; i < end; i++) {
    const b = i - off >= 8 && i - off < 12 ? 0 : buf[i]!;
    c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes the checksum of the SCTP packet at `off` into its field (least significant byte first). */
export function fillSctpChecksum(buf: Uint8Array, off: number, len: number): void {
  const c = sctpChecksum(buf, off, len);
  buf[off + 8] = c & 0xff;
  buf[off + 9] = (c >>> 8) & 0xff;
  buf[off + 10] = (c >>> 16) & 0xff;
  buf[off + 11] = c >>> 24;
}

/** True when the checksum field of the SCTP packet at `off` holds its CRC32c. */
export function sctpChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  if (len < SCTP_HEADER_LEN) return false;
  const stored = (buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16) | (buf[off + 11]! << 24)) >>> 0;
  return stored === sctpChecksum(buf, off, len);
}

export const sctpSrcPort = (buf: Uint8Array, off: number): number => readU16(buf, off);
export const sctpDstPort = (buf: Uint8Array, off: number): number => readU16(buf, off + 2);
export const sctpVtag = (buf: Uint8Array, off: number): number => readU32(buf, off + 4);
/** Type of the first chunk; -1 when the packet holds no chunk header. */
export function sctpFirstChunk(buf: Uint8Array, off: number, len: number): number {
  return len >= SCTP_HEADER_LEN + 4 ? buf[off + 12]! : -1;
}
/** Initiate Tag of an INIT / INIT ACK that is the first chunk (caller checked the length: 32 bytes). */
export const sctpInitiateTag = (buf: Uint8Array, off: number): number => readU32(buf, off + 16);

export interface SctpInitRepr {
  srcPort: number;
  dstPort: number;
  /** Common header tag: 0 for an INIT, the peer's Initiate Tag for an INIT ACK. */
  vtag: number;
  initiateTag: number;
  initialTsn: number;
  /** INIT ACK only: the State Cookie's bytes (length of the cookie; its content is opaque). */
  cookieLen?: number;
}

/** Bytes `emitSctpInit` writes. */
export function sctpInitLen(r: SctpInitRepr, ack: boolean): number {
  return SCTP_HEADER_LEN + 4 + INIT_FIXED + (ack ? 4 + (((r.cookieLen ?? 8) + 3) & ~3) : 0);
}

/**
 * Writes an INIT (or, with `ack`, an INIT ACK with a State Cookie of `cookieLen` bytes) at
 * `off`, checksum included; returns its length. a_rwnd 106496 and 10 streams each way, as
 * Linux's defaults offer them.
 */
export function emitSctpInit(r: SctpInitRepr, ack: boolean, buf: Uint8Array, off: number): number {
  const len = sctpInitLen(r, ack);
  writeU16(buf, off, r.srcPort);
  writeU16(buf, off + 2, r.dstPort);
  writeU32(buf, off + 4, r.vtag);
  writeU32(buf, off + 8, 0);
  buf[off + 12] = ack ? SctpChunk.InitAck : SctpChunk.Init;
  buf[off + 13] = 0;
  writeU16(buf, off + 14, len - SCTP_HEADER_LEN);
  writeU32(buf, off + 16, r.initiateTag);
  writeU32(buf, off + 20, 106496);
  writeU16(buf, off + 24, 10);
  writeU16(buf, off + 26, 10);
  writeU32(buf, off + 28, r.initialTsn);
  if (ack) {
    const cookie = r.cookieLen ?? 8;
    writeU16(buf, off + 32, PARAM_STATE_COOKIE);
    writeU16(buf, off + 34, 4 + cookie);
    for (let i = 0; i < ((cookie + 3) & ~3); i++) buf[off + 36 + i] = i < cookie ? (r.initiateTag >>> ((i & 3) * 8)) & 0xff : 0;
  }
  fillSctpChecksum(buf, off, len);
  return len;
}

/**
 * Writes an ABORT without causes at `off`, tag `vtag`, the T bit when `reflected` (the tag
 * is the one the packet answered carried); returns its length (16).
 */
export function emitSctpAbort(srcPort: number, dstPort: number, vtag: number, reflected: boolean, buf: Uint8Array, off: number): number {
  writeU16(buf, off, srcPort);
  writeU16(buf, off + 2, dstPort);
  writeU32(buf, off + 4, vtag);
  writeU32(buf, off + 8, 0);
  buf[off + 12] = SctpChunk.Abort;
  buf[off + 13] = reflected ? SCTP_ABORT_T : 0;
  writeU16(buf, off + 14, 4);
  fillSctpChecksum(buf, off, 16);
  return 16;
}
