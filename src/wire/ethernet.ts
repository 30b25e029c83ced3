/**
 * Ethernet II (IEEE 802.3 clause 3, DIX framing) with an optional IEEE 802.1Q tag.
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                 destination MAC (6 bytes) ...                 |
 *     +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |                               |    source MAC (6 bytes) ...   |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *     |                                                               |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |       EtherType (12)          |  payload ...                  |   untagged: 14 bytes
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *     802.1Q: EtherType 0x8100 (TPID) at 12, then the TCI and the inner EtherType:
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |        TPID 0x8100 (12)       | PCP |D|      VLAN ID (14)     |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |     inner EtherType (16)      |  payload ...                  |   tagged: 18 bytes
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The frame check sequence is not part of the bytes we see (TAPs and pcap omit it). Short
 * frames may carry padding up to 60 bytes: the payload length here is "everything after the
 * header"; the next protocol's own length field (IPv4 total length) says what is real.
 * Only one tag is decoded (0x88a8 service tags are an ordinary unknown type here). Unknown
 * EtherTypes are plain numbers and round-trip.
 */

import { readMac, readU16, writeMac, writeU16 } from './addr.js';
import { Decode, decodes } from './decodes.js';
import { WireError } from './errors.js';

/** EtherType IPv4 (the dataplane compares against these numbers; EtherType names them). */
export const ETH_P_IPV4 = 0x0800;
/** EtherType ARP. */
export const ETH_P_ARP = 0x0806;
/** EtherType of an 802.1Q tag. */
export const ETH_P_8021Q = 0x8100;

/** EtherType values (IEEE registry); an open set: any 16-bit number is valid. */
export const EtherType = {
  Ipv4: ETH_P_IPV4,
  Arp: ETH_P_ARP,
  Vlan: ETH_P_8021Q,
  Ipv6: 0x86dd,
  QinQ: 0x88a8,
  Lldp: 0x88cc,
} as const;
export type EtherType = (typeof EtherType)[keyof typeof EtherType];

/** Untagged header length. */
export const ETHERNET_HEADER_LEN = 14;
/** Header length with one 802.1Q tag. */
export const ETHERNET_VLAN_HEADER_LEN = 18;
/** Minimum frame length without the FCS (shorter frames are padded by the sender). */
export const ETHERNET_MIN_FRAME_LEN = 60;

const DST = 0;
const SRC = 6;
const TYPE = 12;
const TCI = 14;
const INNER_TYPE = 16;

const EMPTY = new Uint8Array(0);

/**
 * The frame of `len` bytes at `off`, decoded where a device receives it: the type of the
 * payload (after an 802.1Q tag when there is one) in the low 16 bits and the header length
 * (14 or 18) above them, i.e. `headerLen << 16 | type`; -1 when the frame is shorter than
 * its header. What `EthernetFrame.check()`, `innerEtherType()` and `headerLen()` compute,
 * in one call and without a view; counted as one decode (decodes.ts).
 */
export function ethernetType(b: Uint8Array, off: number, len: number): number {
  decodes[Decode.Ethernet]!++;
  if (len < ETHERNET_HEADER_LEN || off + len > b.length) return -1;
  const type = (b[off + TYPE]! << 8) | b[off + TYPE + 1]!;
  if (type !== EtherType.Vlan) return (ETHERNET_HEADER_LEN << 16) | type;
  if (len < ETHERNET_VLAN_HEADER_LEN) return -1;
  return (ETHERNET_VLAN_HEADER_LEN << 16) | (b[off + INNER_TYPE]! << 8) | b[off + INNER_TYPE + 1]!;
}

/** The EtherType field at `off + 12`, unchecked (no tag handling, no decode counted): a field read of a frame the caller checked. */
export function etherTypeField(b: Uint8Array, off: number): number { return (b[off + TYPE]! << 8) | b[off + TYPE + 1]!; }

/**
 * A view over an Ethernet frame, re-pointed per packet with `wrap`. Call `check()` once;
 * when it returned 0 every accessor is safe. Offsets it returns are absolute in `buf`.
 */
export class EthernetFrame {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** 0, or WireError.Truncated when shorter than the header (14, or 18 with a tag). */
  check(): number {
    return ethernetType(this.buf, this.off, this.len) < 0 ? WireError.Truncated : WireError.Ok;
  }

  dstMac(): number { return readMac(this.buf, this.off + DST); }
  srcMac(): number { return readMac(this.buf, this.off + SRC); }
  /** The outer type field (0x8100 for a tagged frame). */
  etherType(): number { return readU16(this.buf, this.off + TYPE); }
  hasVlan(): boolean { return this.etherType() === EtherType.Vlan; }
  /** The tag control information (PCP, DEI, VID); meaningful only when hasVlan(). */
  vlanTci(): number { return readU16(this.buf, this.off + TCI); }
  /** VLAN ID, 0..4095; 0 when untagged. */
  vlanId(): number { return this.hasVlan() ? this.vlanTci() & 0x0fff : 0; }
  /** Priority code point, 0..7; 0 when untagged. */
  vlanPcp(): number { return this.hasVlan() ? this.buf[this.off + TCI]! >>> 5 : 0; }
  /** Drop eligible indicator; false when untagged. */
  vlanDei(): boolean { return this.hasVlan() && (this.buf[this.off + TCI]! & 0x10) !== 0; }
  /** The type of the payload: after the tag when there is one, else the outer type. */
  innerEtherType(): number {
    const t = this.etherType();
    return t === EtherType.Vlan ? readU16(this.buf, this.off + INNER_TYPE) : t;
  }
  /** 14, or 18 with an 802.1Q tag. */
  headerLen(): number { return this.hasVlan() ? ETHERNET_VLAN_HEADER_LEN : ETHERNET_HEADER_LEN; }
  payloadOffset(): number { return this.off + this.headerLen(); }
  /** Bytes after the header, padding included. */
  payloadLen(): number { return this.len - this.headerLen(); }

  setDstMac(mac: number): void { writeMac(this.buf, this.off + DST, mac); }
  setSrcMac(mac: number): void { writeMac(this.buf, this.off + SRC, mac); }
  /** Writes the outer type field. */
  setEtherType(t: number): void { writeU16(this.buf, this.off + TYPE, t); }
  /** Writes the type after the tag (tagged frames) or the outer type (untagged). */
  setInnerEtherType(t: number): void {
    writeU16(this.buf, this.off + (this.hasVlan() ? INNER_TYPE : TYPE), t);
  }
  /** Writes the TCI of a tagged frame. */
  setVlanTci(tci: number): void { writeU16(this.buf, this.off + TCI, tci); }
}

/** The 802.1Q tag of an EthernetRepr. */
export interface EthernetVlan {
  /** VLAN ID 0..4095. */
  readonly id: number;
  /** Priority code point 0..7. */
  readonly pcp: number;
  /** Drop eligible indicator. */
  readonly dei: boolean;
}

/** The meaning of an Ethernet header. `etherType` is the payload's type (inner one when tagged). */
export interface EthernetRepr {
  readonly dst: number;
  readonly src: number;
  readonly etherType: number;
  readonly vlan?: EthernetVlan;
}

/** Reads the header of a frame; returns a WireError code when `check()` fails. Allocates (not for the hot path). */
export function parseEthernet(frame: EthernetFrame): EthernetRepr | number {
  const err = frame.check();
  if (err !== WireError.Ok) return err;
  const base = { dst: frame.dstMac(), src: frame.srcMac(), etherType: frame.innerEtherType() };
  if (!frame.hasVlan()) return base;
  return { ...base, vlan: { id: frame.vlanId(), pcp: frame.vlanPcp(), dei: frame.vlanDei() } };
}

/** Header length `emitEthernet` writes for `repr`. */
export function ethernetHeaderLen(repr: EthernetRepr): number {
  return repr.vlan === undefined ? ETHERNET_HEADER_LEN : ETHERNET_VLAN_HEADER_LEN;
}

/**
 * Writes the header at `off` (the payload is the caller's) and returns the bytes written.
 * Throws RangeError when the buffer is too small or a VLAN field is out of range: both are
 * bugs of the caller, not bad packets.
 */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  const n = ethernetHeaderLen(repr);
  if (off < 0 || off + n > buf.length) throw new RangeError(`emitEthernet: ${n} bytes do not fit at offset ${off} of ${buf.length}`);
  writeMac(buf, off + DST, repr.dst);
  writeMac(buf, off + SRC, repr.src);
  const v = repr.vlan;
  if (v === undefined) {
    writeU16(buf, off + TYPE, repr.etherType);
    return n;
  }
  if (v.id < 0 || v.id > 0x0fff || v.pcp < 0 || v.pcp > 7) {
    throw new RangeError(`emitEthernet: VLAN id ${v.id} / pcp ${v.pcp} out of range (0..4095 / 0..7)`);
  }
  writeU16(buf, off + TYPE, EtherType.Vlan);
  writeU16(buf, off + TCI, (v.pcp << 13) | (v.dei ? 0x1000 : 0) | v.id);
  writeU16(buf, off + INNER_TYPE, repr.etherType);
  return n;
}
