/**
 * Byte-level operations of a namespace's forwarding path, on the packet's own bytes
 * (no views, no allocation): IPv4 header checksum verification, TTL decrement with the
 * incremental checksum fix-up, and writing the Ethernet header of an IPv4 frame from MACs
 * already split into their 16-bit and 32-bit halves (the DstCache keeps them that way);
 * filling in the source address of a locally built packet.
 */
import type { Packet } from '../engine/packet.js';
import { readU16, readU32, writeU16 } from '../wire/addr.js';
import { update32 } from '../wire/checksum.js';
import { IpProtocol } from '../wire/ipv4.js';
import { ETHERNET_HEADER_LEN as ETH_LEN } from '../wire/ethernet.js';

export function writeEthernetIpv4(p: Packet, l3: number, dHi: number, dLo: number, sHi: number, sLo: number): void {
  const b = p.buf;
  const s = l3 - ETH_LEN;
  p.start = s;
  b[s] = dHi >>> 8; b[s + 1] = dHi;
  b[s + 2] = dLo >>> 24; b[s + 3] = dLo >>> 16; b[s + 4] = dLo >>> 8; b[s + 5] = dLo;
  b[s + 6] = sHi >>> 8; b[s + 7] = sHi;
  b[s + 8] = sLo >>> 24; b[s + 9] = sLo >>> 16; b[s + 10] = sLo >>> 8; b[s + 11] = sLo;
  b[s + 12] = 0x08; b[s + 13] = 0x00;
}

/**
 * TTL - 1 with the header checksum fixed exactly as `Ipv4Packet.decTtlFixChecksum` does
 * (RFC 1624 eqn. 3: the word TTL << 8 | protocol drops by 0x0100, so ~0x0100 = 0xfeff is
 * added to the complemented checksum). The caller has checked TTL > 1.
 */
export function decTtl(b: Uint8Array, l3: number): void {
  const s = (~((b[l3 + 10]! << 8) | b[l3 + 11]!) & 0xffff) + 0xfeff;
  const c = ~((s & 0xffff) + (s >>> 16)) & 0xffff;
  b[l3 + 10] = c >>> 8;
  b[l3 + 11] = c;
  b[l3 + 8] = b[l3 + 8]! - 1;
}

/** True when the IPv4 header checksum over [l3, l3 + hl) verifies (RFC 1071; hl <= 60, so two folds suffice). */
export function headerChecksumOk(b: Uint8Array, l3: number, hl: number): boolean {
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

/** Writes a source address into a packet built with 0 there, fixing IPv4 and L4 checksums. */
export function fillSource(p: Packet, l3: number, src: number): void {
  const b = p.buf;
  if (readU32(b, l3 + 12) !== 0 || src === 0) return;
  writeU16(b, l3 + 10, update32(readU16(b, l3 + 10), 0, src));
  b[l3 + 12] = src >>> 24; b[l3 + 13] = src >>> 16; b[l3 + 14] = src >>> 8; b[l3 + 15] = src;
  const proto = b[l3 + 9]!;
  const l4 = l3 + ((b[l3]! & 0x0f) << 2);
  const off = proto === IpProtocol.Tcp ? l4 + 16 : proto === IpProtocol.Udp ? l4 + 6 : -1;
  if (off < 0 || off + 2 > p.end) return;
  const old = readU16(b, off);
  if (proto === IpProtocol.Udp && old === 0) return;
  const c = update32(old, 0, src);
  writeU16(b, off, proto === IpProtocol.Udp && c === 0 ? 0xffff : c);
}
