/**
 * TCP, RFC 9293 (was RFC 793); options: MSS (RFC 9293), window scale and timestamps
 * (RFC 7323), SACK-permitted (RFC 2018); CWR/ECE (RFC 3168).
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |        Source Port (0)        |     Destination Port (2)      |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                     Sequence Number (4)                       |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                  Acknowledgment Number (8)                    |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     | Offset| Rsrvd |C|E|U|A|P|R|S|F|          Window (14)          |
 *     |  (12) |       |W|C|R|C|S|S|Y|I|                               |
 *     |       |       |R|E|G|K|H|T|N|N|                               |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |         Checksum (16)         |     Urgent Pointer (18)       |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                    Options (20) ...           |    Padding    |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                             data ...                          |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Data offset counts 32-bit words (5..15, header 20..60 bytes). The checksum covers the
 * IPv4 pseudo-header (source, destination, zero, protocol 6, segment length), the header
 * and the data. `flags()` returns the low 12 bits of bytes 12..13 (the 8 flags plus the 4
 * reserved bits), so reserved bits round-trip. The view's `len` is the segment length as
 * the IP layer gives it. Flag combinations are not judged here (conntrack does that).
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { checksum, pseudoHeaderSum, update16, update32 } from './checksum.js';
import { WireError } from './errors.js';

/** IP protocol number of TCP. */
export const TCP_PROTOCOL = 6;
/** Header length without options. */
export const TCP_HEADER_LEN = 20;
/** Maximum options length (data offset 15). */
export const TCP_MAX_OPTIONS_LEN = 40;

/** Flag bits as returned by `flags()`. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;
export type TcpFlag = (typeof TcpFlag)[keyof typeof TcpFlag];

/** Option kinds (IANA registry); an open set. */
export const TcpOptionKind = {
  Eol: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const OFFSET = 12;
const FLAGS = 12;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

const EMPTY = new Uint8Array(0);

// Static readers over (buffer, offset of the TCP header): what the dataplane runs (conntrack's
// tuple, the RST answer) and what the view's accessors call. Unchecked: the caller knows the
// header is there.

export function tcpSrcPort(b: Uint8Array, l4: number): number { return readU16(b, l4 + SRC_PORT); }
export function tcpDstPort(b: Uint8Array, l4: number): number { return readU16(b, l4 + DST_PORT); }
export function tcpSeq(b: Uint8Array, l4: number): number { return readU32(b, l4 + SEQ); }
export function tcpAck(b: Uint8Array, l4: number): number { return readU32(b, l4 + ACK); }
/** The flags byte (TcpFlag bits CWR..FIN; the reserved bits are in the byte before). */
export function tcpFlagsByte(b: Uint8Array, l4: number): number { return b[l4 + FLAGS + 1]!; }
/** Header length in bytes (data offset * 4). */
export function tcpHeaderLength(b: Uint8Array, l4: number): number { return (b[l4 + OFFSET]! >>> 4) << 2; }
export function tcpWindow(b: Uint8Array, l4: number): number { return readU16(b, l4 + WINDOW); }

/**
 * A view over a TCP segment, re-pointed per packet with `wrap`. Call `check()` once; when
 * it returned 0 every accessor is safe. Offsets it returns are absolute in `buf`.
 */
export class TcpPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** 0; Truncated below 20 bytes; BadHeaderLength when the data offset is < 5 or past `len`. */
  check(): number {
    if (this.len < TCP_HEADER_LEN || this.off < 0 || this.off + this.len > this.buf.length) return WireError.Truncated;
    const d = this.dataOffset();
    if (d < 5 || d * 4 > this.len) return WireError.BadHeaderLength;
    return WireError.Ok;
  }

  srcPort(): number { return tcpSrcPort(this.buf, this.off); }
  dstPort(): number { return tcpDstPort(this.buf, this.off); }
  seq(): number { return tcpSeq(this.buf, this.off); }
  ack(): number { return tcpAck(this.buf, this.off); }
  /** Header length in 32-bit words. */
  dataOffset(): number { return this.buf[this.off + OFFSET]! >>> 4; }
  headerLen(): number { return tcpHeaderLength(this.buf, this.off); }
  /** Flag bits (TcpFlag) plus the reserved bits 0x100..0x800. */
  flags(): number { return readU16(this.buf, this.off + FLAGS) & 0x0fff; }
  hasFlags(mask: number): boolean { return (this.flags() & mask) === mask; }
  window(): number { return tcpWindow(this.buf, this.off); }
  checksum(): number { return readU16(this.buf, this.off + CHECKSUM); }
  urgentPtr(): number { return readU16(this.buf, this.off + URGENT); }
  optionsOffset(): number { return this.off + TCP_HEADER_LEN; }
  optionsLen(): number { return this.headerLen() - TCP_HEADER_LEN; }
  payloadOffset(): number { return this.off + this.headerLen(); }
  payloadLen(): number { return this.len - this.headerLen(); }

  /** True when the checksum over `segLen` bytes (default: the view's length) verifies. */
  verifyChecksum(src: number, dst: number, segLen: number = this.len): boolean {
    return checksum(this.buf, this.off, segLen, pseudoHeaderSum(src, dst, TCP_PROTOCOL, segLen)) === 0;
  }

  /** Computes and writes the checksum over `segLen` bytes (header and data in place). */
  fillChecksum(src: number, dst: number, segLen: number = this.len): void {
    fillTcpChecksum(this.buf, this.off, segLen, src, dst);
  }

  setSrcPort(v: number): void { writeU16(this.buf, this.off + SRC_PORT, v); }
  setDstPort(v: number): void { writeU16(this.buf, this.off + DST_PORT, v); }
  setSeq(v: number): void { writeU32(this.buf, this.off + SEQ, v); }
  setAck(v: number): void { writeU32(this.buf, this.off + ACK, v); }
  /** Header length in bytes (a multiple of 4, 20..60). */
  setHeaderLen(n: number): void {
    this.buf[this.off + OFFSET] = ((n >>> 2) << 4) | (this.buf[this.off + OFFSET]! & 0x0f);
  }
  setFlags(v: number): void {
    this.buf[this.off + FLAGS] = (this.buf[this.off + FLAGS]! & 0xf0) | ((v >>> 8) & 0x0f);
    this.buf[this.off + FLAGS + 1] = v & 0xff;
  }
  setWindow(v: number): void { writeU16(this.buf, this.off + WINDOW, v); }
  setChecksum(v: number): void { writeU16(this.buf, this.off + CHECKSUM, v); }
  setUrgentPtr(v: number): void { writeU16(this.buf, this.off + URGENT, v); }

  /** NAT: rewrites the source port and updates the checksum (RFC 1624). */
  setSrcPortFixChecksum(v: number): void {
    const old = this.srcPort();
    this.setSrcPort(v);
    this.setChecksum(update16(this.checksum(), old, v & 0xffff));
  }

  /** NAT: rewrites the destination port and updates the checksum. */
  setDstPortFixChecksum(v: number): void {
    const old = this.dstPort();
    this.setDstPort(v);
    this.setChecksum(update16(this.checksum(), old, v & 0xffff));
  }

  /** Rewrites the sequence number and updates the checksum. */
  setSeqFixChecksum(v: number): void {
    const old = this.seq();
    this.setSeq(v);
    this.setChecksum(update32(this.checksum(), old, v >>> 0));
  }

  /** Rewrites the acknowledgment number and updates the checksum. */
  setAckFixChecksum(v: number): void {
    const old = this.ack();
    this.setAck(v);
    this.setChecksum(update32(this.checksum(), old, v >>> 0));
  }

  /** NAT: the IP layer rewrote an address (uint32); updates the checksum for the pseudo-header. */
  fixChecksumForAddrChange(oldAddr: number, newAddr: number): void {
    this.setChecksum(update32(this.checksum(), oldAddr >>> 0, newAddr >>> 0));
  }
}

/** Writes the checksum of the `segLen`-byte segment at `off` (header and data in place). */
export function fillTcpChecksum(buf: Uint8Array, off: number, segLen: number, src: number, dst: number): void {
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + CHECKSUM, checksum(buf, off, segLen, pseudoHeaderSum(src, dst, TCP_PROTOCOL, segLen)));
}

/**
 * A header at `off` for the segments the dataplane makes itself (connections' segments,
 * resets, SYN probes): ports, seq, ack, the flags byte (CWR..FIN, `flags & 0xff`), window,
 * urgent pointer 0, checksum 0, and an MSS option when `mss` > 0. Returns the header length
 * (20, or 24 with the option); put the data after it, then `fillTcpChecksum`. No Repr, no
 * allocation, no checks: the caller has the room (the same bytes as `emitTcp`).
 */
export function writeTcpHeader(
  buf: Uint8Array, off: number, srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window: number, mss: number,
): number {
  const hl = mss > 0 ? TCP_HEADER_LEN + 4 : TCP_HEADER_LEN;
  writeU16(buf, off + SRC_PORT, srcPort);
  writeU16(buf, off + DST_PORT, dstPort);
  writeU32(buf, off + SEQ, seq);
  writeU32(buf, off + ACK, ack);
  buf[off + OFFSET] = (hl >>> 2) << 4;
  buf[off + FLAGS + 1] = flags & 0xff;
  writeU16(buf, off + WINDOW, window);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + URGENT, 0);
  if (mss > 0) {
    buf[off + TCP_HEADER_LEN] = TcpOptionKind.Mss;
    buf[off + TCP_HEADER_LEN + 1] = 4;
    writeU16(buf, off + TCP_HEADER_LEN + 2, mss);
  }
  return hl;
}

/**
 * One option as it appears on the wire. Known kinds with an unexpected length, and unknown
 * kinds, are `raw` (kind and data; the length byte is 2 + data.length). Bytes after an EOL
 * are kept in `padding` (normally zeros), so emit(parse(x)) reproduces x exactly.
 */
export type TcpOption =
  | { readonly kind: 'eol' }
  | { readonly kind: 'nop' }
  | { readonly kind: 'mss'; readonly mss: number }
  | { readonly kind: 'window-scale'; readonly shift: number }
  | { readonly kind: 'sack-permitted' }
  | { readonly kind: 'timestamps'; readonly tsVal: number; readonly tsEcr: number }
  | { readonly kind: 'raw'; readonly type: number; readonly data: Uint8Array }
  | { readonly kind: 'padding'; readonly bytes: Uint8Array };

/** The meaning of a TCP header. `window` is the raw field (unscaled); the data is the caller's. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** TcpFlag bits (plus reserved bits 0x100..0x800, normally 0). */
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  readonly options: readonly TcpOption[];
}

/** A fresh copy (Buffer#slice would alias the packet). */
function copyOut(buf: Uint8Array, off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(buf.subarray(off, off + len));
  return out;
}

/** Parses the options area [off, off+len); returns the list or WireError.Malformed. */
export function parseTcpOptions(buf: Uint8Array, off: number, len: number): TcpOption[] | number {
  const out: TcpOption[] = [];
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.Eol) {
      out.push({ kind: 'eol' });
      i++;
      if (i < end) out.push({ kind: 'padding', bytes: copyOut(buf, i, end - i) });
      break;
    }
    if (kind === TcpOptionKind.Nop) {
      out.push({ kind: 'nop' });
      i++;
      continue;
    }
    if (i + 1 >= end) return WireError.Malformed;
    const l = buf[i + 1]!;
    if (l < 2 || i + l > end) return WireError.Malformed;
    if (kind === TcpOptionKind.Mss && l === 4) out.push({ kind: 'mss', mss: readU16(buf, i + 2) });
    else if (kind === TcpOptionKind.WindowScale && l === 3) out.push({ kind: 'window-scale', shift: buf[i + 2]! });
    else if (kind === TcpOptionKind.SackPermitted && l === 2) out.push({ kind: 'sack-permitted' });
    else if (kind === TcpOptionKind.Timestamps && l === 10) {
      out.push({ kind: 'timestamps', tsVal: readU32(buf, i + 2), tsEcr: readU32(buf, i + 6) });
    } else out.push({ kind: 'raw', type: kind, data: copyOut(buf, i + 2, l - 2) });
    i += l;
  }
  return out;
}

/** Bytes one option takes on the wire. */
function optionLen(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'timestamps':
      return 10;
    case 'raw':
      return 2 + o.data.length;
    case 'padding':
      return o.bytes.length;
  }
}

/** Options length rounded up to a multiple of 4 (emit pads with zero bytes). */
export function tcpOptionsLen(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLen(o);
  return (n + 3) & ~3;
}

/**
 * Validates a segment (lengths, checksum over the view's `len` against the pseudo-header of
 * `src`/`dst`, ports not 0, options well-formed -> else Malformed) and returns its header.
 * Allocates (not for the hot path).
 */
export function parseTcp(p: TcpPacket, src: number, dst: number): TcpRepr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  if (!p.verifyChecksum(src, dst)) return WireError.BadChecksum;
  if (p.srcPort() === 0 || p.dstPort() === 0) return WireError.Malformed;
  const options = parseTcpOptions(p.buf, p.optionsOffset(), p.optionsLen());
  if (typeof options === 'number') return options;
  return {
    srcPort: p.srcPort(), dstPort: p.dstPort(), seq: p.seq(), ack: p.ack(), flags: p.flags(),
    window: p.window(), urgent: p.urgentPtr(), options,
  };
}

/** Bytes `emitTcp` writes: the header with its (padded) options. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + tcpOptionsLen(repr.options);
}

/**
 * Writes the header and options at `off` with a zero checksum and returns the header
 * length. Options are padded with zero bytes to a multiple of 4. Put the data after the
 * header, then call `fillTcpChecksum`. Throws RangeError when the options exceed 40 bytes or
 * the buffer is too small (bugs of the caller, not bad packets).
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number): number {
  const n = tcpHeaderLen(repr);
  if (n > TCP_HEADER_LEN + TCP_MAX_OPTIONS_LEN) throw new RangeError(`emitTcp: options take ${n - TCP_HEADER_LEN} bytes (max 40)`);
  if (off < 0 || off + n > buf.length) throw new RangeError(`emitTcp: ${n} bytes do not fit at offset ${off} of ${buf.length}`);
  writeU16(buf, off + SRC_PORT, repr.srcPort);
  writeU16(buf, off + DST_PORT, repr.dstPort);
  writeU32(buf, off + SEQ, repr.seq);
  writeU32(buf, off + ACK, repr.ack);
  writeU16(buf, off + OFFSET, ((n >>> 2) << 12) | (repr.flags & 0x0fff));
  writeU16(buf, off + WINDOW, repr.window);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + URGENT, repr.urgent);
  let i = off + TCP_HEADER_LEN;
  for (const o of repr.options) {
    switch (o.kind) {
      case 'eol': buf[i] = 0; break;
      case 'nop': buf[i] = 1; break;
      case 'mss': buf[i] = 2; buf[i + 1] = 4; writeU16(buf, i + 2, o.mss); break;
      case 'window-scale': buf[i] = 3; buf[i + 1] = 3; buf[i + 2] = o.shift; break;
      case 'sack-permitted': buf[i] = 4; buf[i + 1] = 2; break;
      case 'timestamps': buf[i] = 8; buf[i + 1] = 10; writeU32(buf, i + 2, o.tsVal); writeU32(buf, i + 6, o.tsEcr); break;
      case 'raw': buf[i] = o.type; buf[i + 1] = 2 + o.data.length; buf.set(o.data, i + 2); break;
      case 'padding': buf.set(o.bytes, i); break;
    }
    i += optionLen(o);
  }
  buf.fill(0, i, off + n);
  return n;
}
