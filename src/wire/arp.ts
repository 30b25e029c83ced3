/**
 * ARP, RFC 826, for the one pair podwire models: Ethernet hardware addresses (htype 1,
 * hlen 6) and IPv4 protocol addresses (ptype 0x0800, plen 4). 28 bytes:
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |      hardware type (1)        |     protocol type (0x0800)    |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |   hlen (6)    |   plen (4)    |          operation            |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |            sender hardware address (SHA, 6 bytes, at 8)       |
 *     +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                               | sender protocol address (SPA, |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |   4 bytes, at 14)             | target hardware address (THA, |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *     |                        6 bytes, at 18)                        |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |            target protocol address (TPA, 4 bytes, at 24)      |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The address accessors use the fixed offsets above, so they are meaningful only once
 * `check()` has confirmed the Ethernet/IPv4 pair. Operations other than request and reply
 * (RARP 3/4, InARP 8/9) are plain numbers and round-trip.
 */

import { readMac, readU16, readU32, writeMac, writeU16, writeU32 } from './addr.js';
import { EtherType } from './ethernet.js';
import { WireError } from './errors.js';

/** ARP operation codes (open set). */
export const ArpOperation = {
  Request: 1,
  Reply: 2,
} as const;
export type ArpOperation = (typeof ArpOperation)[keyof typeof ArpOperation];

/** ARP hardware type for Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** The fixed part before the addresses (htype, ptype, hlen, plen, oper). */
const FIXED_LEN = 8;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

const EMPTY = new Uint8Array(0);

/** A view over an ARP packet, re-pointed per packet with `wrap`. */
export class ArpPacket {
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
   * 0; WireError.Truncated when shorter than the fixed part or than 28 bytes;
   * WireError.Unsupported when the address pair is not Ethernet (1, 6) / IPv4 (0x0800, 4).
   */
  check(): number {
    if (this.len < FIXED_LEN || this.off + this.len > this.buf.length) return WireError.Truncated;
    if (this.htype() !== ARP_HTYPE_ETHERNET || this.ptype() !== EtherType.Ipv4 || this.hlen() !== 6 || this.plen() !== 4) {
      return WireError.Unsupported;
    }
    if (this.len < ARP_LEN) return WireError.Truncated;
    return WireError.Ok;
  }

  htype(): number { return readU16(this.buf, this.off + HTYPE); }
  ptype(): number { return readU16(this.buf, this.off + PTYPE); }
  hlen(): number { return this.buf[this.off + HLEN]!; }
  plen(): number { return this.buf[this.off + PLEN]!; }
  oper(): number { return readU16(this.buf, this.off + OPER); }
  /** Sender hardware address. */
  sha(): number { return readMac(this.buf, this.off + SHA); }
  /** Sender protocol (IPv4) address. */
  spa(): number { return readU32(this.buf, this.off + SPA); }
  /** Target hardware address (zero in a request). */
  tha(): number { return readMac(this.buf, this.off + THA); }
  /** Target protocol (IPv4) address. */
  tpa(): number { return readU32(this.buf, this.off + TPA); }

  setHtype(v: number): void { writeU16(this.buf, this.off + HTYPE, v); }
  setPtype(v: number): void { writeU16(this.buf, this.off + PTYPE, v); }
  setHlen(v: number): void { this.buf[this.off + HLEN] = v; }
  setPlen(v: number): void { this.buf[this.off + PLEN] = v; }
  /** Writes the fixed Ethernet/IPv4 header fields (htype 1, ptype 0x0800, hlen 6, plen 4). */
  setEthernetIpv4(): void {
    this.setHtype(ARP_HTYPE_ETHERNET);
    this.setPtype(EtherType.Ipv4);
    this.setHlen(6);
    this.setPlen(4);
  }
  setOper(v: number): void { writeU16(this.buf, this.off + OPER, v); }
  setSha(mac: number): void { writeMac(this.buf, this.off + SHA, mac); }
  setSpa(ip: number): void { writeU32(this.buf, this.off + SPA, ip); }
  setTha(mac: number): void { writeMac(this.buf, this.off + THA, mac); }
  setTpa(ip: number): void { writeU32(this.buf, this.off + TPA, ip); }
}

/** The meaning of an Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  readonly operation: number;
  readonly senderMac: number;
  readonly senderIp: number;
  readonly targetMac: number;
  readonly targetIp: number;
}

/** Reads an ARP packet; returns a WireError code when `check()` fails. Allocates (not for the hot path). */
export function parseArp(p: ArpPacket): ArpRepr | number {
  const err = p.check();
  if (err !== WireError.Ok) return err;
  return { operation: p.oper(), senderMac: p.sha(), senderIp: p.spa(), targetMac: p.tha(), targetIp: p.tpa() };
}

/** Always 28: the length `emitArp` writes. */
export function arpLen(_repr: ArpRepr): number {
  return ARP_LEN;
}

/** Writes the 28-byte packet at `off` and returns 28. Throws RangeError when it does not fit (a caller bug). */
export function emitArp(repr: ArpRepr, buf: Uint8Array, off: number): number {
  if (off < 0 || off + ARP_LEN > buf.length) throw new RangeError(`emitArp: ${ARP_LEN} bytes do not fit at offset ${off} of ${buf.length}`);
  writeU16(buf, off + HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(buf, off + PTYPE, EtherType.Ipv4);
  buf[off + HLEN] = 6;
  buf[off + PLEN] = 4;
  writeU16(buf, off + OPER, repr.operation);
  writeMac(buf, off + SHA, repr.senderMac);
  writeU32(buf, off + SPA, repr.senderIp);
  writeMac(buf, off + THA, repr.targetMac);
  writeU32(buf, off + TPA, repr.targetIp);
  return ARP_LEN;
}
