/**
 * ICMP for IPv4, RFC 792; "fragmentation needed" with the next-hop MTU, RFC 1191.
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |   Type (0)    |   Code (1)    |         Checksum (2)          |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |   echo:  Identifier (4)       |   echo:  Sequence Number (6)  |
 *     |   dest unreachable / time exceeded: unused (4..7), except     |
 *     |   frag needed:  unused (4)    |   Next-Hop MTU (6)            |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |  echo: data ...                                               |
 *     |  errors: original IP header + first 8 bytes of its payload    |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum covers the whole ICMP message (no pseudo-header). The echo identifier plays
 * the role of a port for conntrack and NAT, hence `setEchoIdentFixChecksum`.
 *
 * Unknown types are plain numbers and round-trip through `{ kind: 'other' }`. On receipt the
 * unused bytes 4..7 of errors are ignored (RFC 4884 puts a length there); emit writes zeros.
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { checksum, update16, update32 } from './checksum.js';
import { WireError } from './errors.js';

/** IP protocol number of ICMP. */
export const ICMP_PROTOCOL = 1;
/** Type, code, checksum and the 4 type-specific bytes. */
export const ICMP_HEADER_LEN = 8;

/** ICMP type echo reply (the dataplane's number; IcmpType names it). */
export const ICMP_ECHO_REPLY = 0;
/** ICMP type echo request. */
export const ICMP_ECHO_REQUEST = 8;

/** ICMP types (IANA registry); an open set: any byte is valid. */
export const IcmpType = {
  EchoReply: ICMP_ECHO_REPLY,
  DestUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: ICMP_ECHO_REQUEST,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
} as const;
export type IcmpType = (typeof IcmpType)[keyof typeof IcmpType];

/** Codes of DestUnreachable (RFC 792, RFC 1122, RFC 1812) and of TimeExceeded. */
export const IcmpCode = {
  // DestUnreachable
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtocolUnreachable: 2,
  PortUnreachable: 3,
  FragNeeded: 4,
  SourceRouteFailed: 5,
  DstNetUnknown: 6,
  DstHostUnknown: 7,
  SrcHostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetUnreachableForTos: 11,
  HostUnreachableForTos: 12,
  CommProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
  // TimeExceeded
  TtlExceeded: 0,
  FragReassembly: 1,
} as const;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const IDENT = 4;
const SEQ = 6;
const MTU = 6;
const REST = 4;

const EMPTY = new Uint8Array(0);

/** True for the types that quote an original datagram (dest unreachable, source quench, redirect, time exceeded, parameter problem). */
export function isIcmpError(type: number): boolean {
  return type === IcmpType.DestUnreachable || type === IcmpType.SourceQuench || type === IcmpType.Redirect
    || type === IcmpType.TimeExceeded || type === IcmpType.ParameterProblem;
}

/**
 * A view over an ICMP message, re-pointed per packet with `wrap`. Call `check()` once; when
 * it returned 0 every accessor is safe. Offsets it returns are absolute in `buf`. The
 * quoted datagram of an error is not validated here: wrap an IPv4 view over
 * `originalOffset()`/`originalLen()` and check that.
 */
export class IcmpPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** 0, or Truncated below the 8-byte header. */
  check(): number {
    if (this.len < ICMP_HEADER_LEN || this.off < 0 || this.off + this.len > this.buf.length) return WireError.Truncated;
    return WireError.Ok;
  }

  type(): number { return this.buf[this.off + TYPE]!; }
  code(): number { return this.buf[this.off + CODE]!; }
  checksum(): number { return readU16(this.buf, this.off + CHECKSUM); }
  /** Echo request/reply identifier. */
  echoIdent(): number { return readU16(this.buf, this.off + IDENT); }
  /** Echo request/reply sequence number. */
  echoSeq(): number { return readU16(this.buf, this.off + SEQ); }
  /** Next-hop MTU of DestUnreachable/FragNeeded (0 from pre-RFC 1191 routers). */
  nextHopMtu(): number { return readU16(this.buf, this.off + MTU); }
  /** Bytes 4..7 as a uint32 (the type-specific word). */
  rest(): number { return readU32(this.buf, this.off + REST); }
  /** Echo data or the quoted datagram start here. */
  payloadOffset(): number { return this.off + ICMP_HEADER_LEN; }
  payloadLen(): number { return this.len - ICMP_HEADER_LEN; }
  isError(): boolean { return isIcmpError(this.type()); }
  /** Offset of the quoted IP header of an error (same as payloadOffset). */
  originalOffset(): number { return this.off + ICMP_HEADER_LEN; }
  originalLen(): number { return this.len - ICMP_HEADER_LEN; }

  /** True when the checksum over the whole message verifies. */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.len) === 0;
  }

  /** Computes and writes the checksum over `len` bytes. */
  fillChecksum(): void {
    writeU16(this.buf, this.off + CHECKSUM, 0);
    writeU16(this.buf, this.off + CHECKSUM, checksum(this.buf, this.off, this.len));
  }

  setType(v: number): void { this.buf[this.off + TYPE] = v & 0xff; }
  setCode(v: number): void { this.buf[this.off + CODE] = v & 0xff; }
  setChecksum(v: number): void { writeU16(this.buf, this.off + CHECKSUM, v); }
  setEchoIdent(v: number): void { writeU16(this.buf, this.off + IDENT, v); }
  setEchoSeq(v: number): void { writeU16(this.buf, this.off + SEQ, v); }
  setNextHopMtu(v: number): void { writeU16(this.buf, this.off + MTU, v); }

  /** NAT of an echo: rewrites the identifier and updates the checksum (RFC 1624). */
  setEchoIdentFixChecksum(v: number): void {
    const old = this.echoIdent();
    this.setEchoIdent(v);
    this.adjustChecksum16(old, v & 0xffff);
  }

  /**
   * The 16-bit word at an even distance from the start of the message changed from `oldWord`
   * to `newWord` (NAT of the quoted datagram of an error): updates the checksum.
   */
  adjustChecksum16(oldWord: number, newWord: number): void {
    if (oldWord === newWord) return;
    this.setChecksum(this.finish(update16(this.checksum(), oldWord, newWord)));
  }

  /** As adjustChecksum16 for an aligned 32-bit field (a quoted IPv4 address). */
  adjustChecksum32(oldValue: number, newValue: number): void {
    if (oldValue >>> 0 === newValue >>> 0) return;
    this.setChecksum(this.finish(update32(this.checksum(), oldValue >>> 0, newValue >>> 0)));
  }

  /**
   * RFC 1624 eqn. 3 yields 0 where a full recompute yields 0xffff for exactly one message:
   * all bytes zero (an echo reply with ident, seq and data 0), whose only valid checksum is
   * 0xffff. Scanned only when the result is 0 and the type/code word is 0.
   */
  private finish(c: number): number {
    if (c !== 0 || this.buf[this.off]! !== 0 || this.buf[this.off + 1]! !== 0) return c;
    const end = this.off + this.len;
    for (let i = this.off + 4; i < end; i++) if (this.buf[i]! !== 0) return c;
    return 0xffff;
  }
}

/** An echo request or reply. `data` is a copy of the echo data. */
export interface IcmpEchoRepr {
  readonly kind: 'echo-request' | 'echo-reply';
  readonly ident: number;
  readonly seq: number;
  readonly data: Uint8Array;
}

/** Destination unreachable. `nextHopMtu` is present (possibly 0) for FragNeeded only. */
export interface IcmpDestUnreachableRepr {
  readonly kind: 'dest-unreachable';
  readonly code: number;
  readonly nextHopMtu?: number;
  /** The quoted datagram: original IP header + at least 8 bytes of its payload (a copy). */
  readonly original: Uint8Array;
}

export interface IcmpTimeExceededRepr {
  readonly kind: 'time-exceeded';
  readonly code: number;
  readonly original: Uint8Array;
}

/** Any other type (and echo with a non-zero code), kept byte for byte. */
export interface IcmpOtherRepr {
  readonly kind: 'other';
  readonly type: number;
  readonly code: number;
  /** Bytes 4..7 as a uint32. */
  readonly rest: number;
  readonly data: Uint8Array;
}

export type IcmpRepr = IcmpEchoRepr | IcmpDestUnreachableRepr | IcmpTimeExceededRepr | IcmpOtherRepr;

function copyOut(buf: Uint8Array, off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(buf.subarray(off, off + len));
  return out;
}

/** The quoted datagram holds an IPv4 header: version 4, IHL >= 5, IHL*4 within the bytes. */
function validOriginal(buf: Uint8Array, off: number, len: number): boolean {
  if (len < 20) return false;
  const b = buf[off]!;
  return b >>> 4 === 4 && (b & 0x0f) >= 5 && (b & 0x0f) * 4 <= len;
}

/**
 * Validates a message (length, checksum; errors must quote an IPv4 header, else Malformed)
 * and returns its meaning. Data is copied. Allocates (not for the hot path).
 */
export function parseIcmp(p: IcmpPacket): IcmpRepr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  if (!p.verifyChecksum()) return WireError.BadChecksum;
  const type = p.type();
  const code = p.code();
  const po = p.payloadOffset();
  const pl = p.payloadLen();
  if ((type === IcmpType.EchoRequest || type === IcmpType.EchoReply) && code === 0) {
    return {
      kind: type === IcmpType.EchoRequest ? 'echo-request' : 'echo-reply',
      ident: p.echoIdent(), seq: p.echoSeq(), data: copyOut(p.buf, po, pl),
    };
  }
  if (type === IcmpType.DestUnreachable || type === IcmpType.TimeExceeded) {
    if (!validOriginal(p.buf, po, pl)) return WireError.Malformed;
    const original = copyOut(p.buf, po, pl);
    if (type === IcmpType.TimeExceeded) return { kind: 'time-exceeded', code, original };
    if (code === IcmpCode.FragNeeded) return { kind: 'dest-unreachable', code, nextHopMtu: p.nextHopMtu(), original };
    return { kind: 'dest-unreachable', code, original };
  }
  return { kind: 'other', type, code, rest: p.rest(), data: copyOut(p.buf, po, pl) };
}

/** Bytes `emitIcmp` writes: the whole message. */
export function icmpLen(repr: IcmpRepr): number {
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
    case 'other':
      return ICMP_HEADER_LEN + repr.data.length;
    case 'dest-unreachable':
    case 'time-exceeded':
      return ICMP_HEADER_LEN + repr.original.length;
  }
}

/**
 * Writes the whole message at `off`, checksum included, and returns its length. Throws
 * RangeError when the buffer is too small (a bug of the caller, not a bad packet).
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, off: number): number {
  const n = icmpLen(repr);
  if (off < 0 || off + n > buf.length) throw new RangeError(`emitIcmp: ${n} bytes do not fit at offset ${off} of ${buf.length}`);
  let body: Uint8Array;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      buf[off + TYPE] = repr.kind === 'echo-request' ? IcmpType.EchoRequest : IcmpType.EchoReply;
      buf[off + CODE] = 0;
      writeU16(buf, off + IDENT, repr.ident);
      writeU16(buf, off + SEQ, repr.seq);
      body = repr.data;
      break;
    case 'dest-unreachable':
      buf[off + TYPE] = IcmpType.DestUnreachable;
      buf[off + CODE] = repr.code;
      writeU32(buf, off + REST, (repr.nextHopMtu ?? 0) & 0xffff);
      body = repr.original;
      break;
    case 'time-exceeded':
      buf[off + TYPE] = IcmpType.TimeExceeded;
      buf[off + CODE] = repr.code;
      writeU32(buf, off + REST, 0);
      body = repr.original;
      break;
    case 'other':
      buf[off + TYPE] = repr.type;
      buf[off + CODE] = repr.code;
      writeU32(buf, off + REST, repr.rest);
      body = repr.data;
      break;
  }
  buf.set(body, off + ICMP_HEADER_LEN);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + CHECKSUM, checksum(buf, off, n));
  return n;
}

/**
 * The header of an echo request or reply (`type` ICMP_ECHO_REQUEST or ICMP_ECHO_REPLY, code 0)
 * at `off`, for a message of `len` bytes whose data is already at `off + 8`: identifier,
 * sequence number and the checksum over the whole message. The writer for the pings the
 * dataplane makes itself; no Repr, no allocation, no checks (the same bytes as `emitIcmp`).
 */
export function writeIcmpEchoHeader(buf: Uint8Array, off: number, type: number, ident: number, seq: number, len: number): void {
  buf[off + TYPE] = type;
  buf[off + CODE] = 0;
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + IDENT, ident);
  writeU16(buf, off + SEQ, seq);
  writeU16(buf, off + CHECKSUM, checksum(buf, off, len));
}

/**
 * Builds an ICMP error at `off` quoting the datagram at `origOff` (RFC 792: its IP header
 * plus the first 8 bytes of its payload, fewer if the datagram is shorter), computes the
 * checksum and returns the bytes written. `mtu` goes into bytes 6..7 (the next-hop MTU of
 * FragNeeded; pass 0 otherwise). No allocation; `origBuf` may be `buf` (overlap is handled).
 * Throws RangeError when the buffer is too small (a bug of the caller).
 */
export function emitIcmpError(
  buf: Uint8Array, off: number, type: number, code: number, mtu: number,
  origBuf: Uint8Array, origOff: number, origLen: number,
): number {
  const ihl = origLen > 0 ? (origBuf[origOff]! & 0x0f) * 4 : 0;
  const q = Math.max(0, Math.min(origLen, ihl + 8));
  const n = ICMP_HEADER_LEN + q;
  if (off < 0 || off + n > buf.length) throw new RangeError(`emitIcmpError: ${n} bytes do not fit at offset ${off} of ${buf.length}`);
  // Copy the quote first: when origBuf is buf, the header may overlap the original.
  const dst = off + ICMP_HEADER_LEN;
  if (origBuf === buf && dst > origOff) {
    for (let i = q - 1; i >= 0; i--) buf[dst + i] = origBuf[origOff + i]!;
  } else {
    for (let i = 0; i < q; i++) buf[dst + i] = origBuf[origOff + i]!;
  }
  buf[off + TYPE] = type;
  buf[off + CODE] = code;
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + 4, 0);
  writeU16(buf, off + MTU, mtu);
  writeU16(buf, off + CHECKSUM, checksum(buf, off, n));
  return n;
}
