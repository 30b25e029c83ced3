/**
 * Byte-level operations of a namespace's forwarding path, on the packet's own bytes
 * (no views, no allocation): writing the Ethernet header of an IPv4 frame from MACs
 * already split into their 16-bit and 32-bit halves (the DstCache keeps them that way);
 * filling in the source address of a locally built packet. (Header checks, TTL and
 * checksum are src/wire/ipv4.ts's.)
 */
import type { Packet } from '../engine/packet.js';
import { readU16, writeU16 } from '../wire/addr.js';
import { update32 } from '../wire/checksum.js';
import { IpProtocol, ipv4HeaderLength, ipv4Protocol, ipv4SetSrcFixChecksum, ipv4Src } from '../wire/ipv4.js';
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

/** Writes a source address into a packet built with 0 there, fixing IPv4 and L4 checksums. */
export function fillSource(p: Packet, l3: number, src: number): void {
  const b = p.buf;
  if (ipv4Src(b, l3) !== 0 || src === 0) return;
  ipv4SetSrcFixChecksum(b, l3, src);
  const proto = ipv4Protocol(b, l3);
  const l4 = l3 + ipv4HeaderLength(b, l3);
  const off = proto === IpProtocol.Tcp ? l4 + 16 : proto === IpProtocol.Udp ? l4 + 6 : -1;
  if (off < 0 || off + 2 > p.end) return;
  const old = readU16(b, off);
  if (proto === IpProtocol.Udp && old === 0) return;
  const c = update32(old, 0, src);
  writeU16(b, off, proto === IpProtocol.Udp && c === 0 ? 0xffff : c);
}
