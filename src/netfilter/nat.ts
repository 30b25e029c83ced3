/**
 * NAT rewrites of an IPv4 packet in place, with incremental checksum updates (RFC 1624
 * eqn. 3 through src/wire/checksum.ts; never a full recompute).
 *
 * A rewrite of one side (source or destination) changes, for the packet at `l3`:
 *   - the IPv4 address: header checksum HC' = ~(~HC + ~a_hi + ~a_lo + a'_hi + a'_lo);
 *   - TCP/UDP: the port, and the L4 checksum for both the address (it is part of the
 *     pseudo-header) and the port. A UDP checksum of 0 ("none") stays 0, a computed 0 is
 *     sent as 0xffff (udpFinal);
 *   - SCTP: the port; its CRC32c has no pseudo-header, so an address change leaves it, a
 *     port change recomputes it over the packet (no incremental form; Linux sctp_manip_pkt);
 *   - ICMP echo request/reply: the identifier plays the port (conntrack tuples carry it as
 *     sport), so `newPort` is written into it; pass the current identifier to leave it.
 *     The ICMP checksum has no pseudo-header: only the identifier enters it;
 *   - other protocols, other ICMP types and non-first fragments: the address only.
 *
 * ICMP errors quote the packet that caused them: when the error travels back through the
 * NAT, `natRewriteIcmpErrorInner` rewrites one side of the quoted header too (address,
 * its header checksum, port or echo identifier, the quoted UDP/TCP/ICMP checksum when the
 * quote reaches it) and carries every changed 16-bit word into the outer ICMP checksum,
 * which covers the quote. All quoted fields sit at even offsets from the ICMP header
 * (quote at +8, IHL a multiple of 4), so each change is a plain update16/update32.
 *
 * Lengths come from the IPv4 header, which the namespace validated before any hook; L4
 * fields are only touched when the packet (or quote) is long enough to hold them.
 */

import { readU16, writeU16 } from '../wire/addr.js';
import { udpFinal, update16, update32 } from '../wire/checksum.js';
import { ipv4Checksum, ipv4HeaderLength, ipv4IsLaterFragment, ipv4Protocol, ipv4RewriteAddress, ipv4TotalLength } from '../wire/ipv4.js';
import { SCTP_PROTOCOL as SCTP, fillSctpChecksum } from '../wire/sctp.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_PROTOCOL as ICMP } from '../wire/icmp.js';
import { TCP_PROTOCOL as TCP } from '../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';

/** Which side of a packet a rewrite changes. */
export const NatSide = { Src: 0, Dst: 1 } as const;
export type NatSide = (typeof NatSide)[keyof typeof NatSide];

/** True for the ICMP types whose identifier conntrack uses as the "port". */
export function isIcmpEcho(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
}

/**
 * RFC 1624 eqn. 3 yields 0 where a full recompute yields 0xffff for one message only: all
 * bytes zero (an echo reply with identifier, sequence and data 0). Scanned only then.
 */
function icmpFinal(buf: Uint8Array, off: number, len: number, c: number): number {
  if (c !== 0 || buf[off] !== 0 || buf[off + 1] !== 0) return c;
  const end = off + len;
  for (let i = off + 4; i < end; i++) if (buf[i] !== 0) return c;
  return 0xffff;
}

/** SNAT / un-DNAT: rewrites the source address and port (or echo identifier) of the packet at `l3`. */
export function natRewriteSrc(buf: Uint8Array, l3: number, newIp: number, newPort: number): void {
  natRewrite(buf, l3, NatSide.Src, newIp, newPort);
}

/** DNAT / un-SNAT: rewrites the destination address and port (or echo identifier) of the packet at `l3`. */
export function natRewriteDst(buf: Uint8Array, l3: number, newIp: number, newPort: number): void {
  natRewrite(buf, l3, NatSide.Dst, newIp, newPort);
}

/** Rewrites one side of the packet at `l3` (see the header). */
export function natRewrite(buf: Uint8Array, l3: number, side: number, newIpIn: number, newPortIn: number): void {
  natRewriteAt(buf, l3, l3 + ipv4HeaderLength(buf, l3), ipv4Protocol(buf, l3), side, newIpIn, newPortIn);
}

/**
 * `natRewrite` of a packet whose header the caller decoded: L4 header at `l4`, IPv4
 * protocol `proto` (Packet.l4/proto; what the dataplane's NAT runs).
 */
export function natRewriteAt(buf: Uint8Array, l3: number, l4: number, proto: number, side: number, newIpIn: number, newPortIn: number): void {
  const newIp = newIpIn >>> 0;
  const newPort = newPortIn & 0xffff;
  const ihl = l4 - l3;
  const total = ipv4TotalLength(buf, l3);
  const oldIp = ipv4RewriteAddress(buf, l3, side === NatSide.Dst, newIp);
  if (ipv4IsLaterFragment(buf, l3)) return; // a non-first fragment has no L4 header
  const l4len = Math.min(total, buf.length - l3) - ihl;
  if (proto === TCP) {
    if (l4len < 20) return;
    const portOff = l4 + (side === NatSide.Dst ? 2 : 0);
    const oldPort = readU16(buf, portOff);
    writeU16(buf, l4 + 16, update16(update32(readU16(buf, l4 + 16), oldIp, newIp), oldPort, newPort));
    writeU16(buf, portOff, newPort);
  } else if (proto === UDP) {
    if (l4len < 8) return;
    const portOff = l4 + (side === NatSide.Dst ? 2 : 0);
    const oldPort = readU16(buf, portOff);
    const c = readU16(buf, l4 + 6);
    if (c !== 0) writeU16(buf, l4 + 6, udpFinal(update16(update32(c, oldIp, newIp), oldPort, newPort)));
    writeU16(buf, portOff, newPort);
  } else if (proto === SCTP) {
    if (l4len < 12) return;
    const portOff = l4 + (side === NatSide.Dst ? 2 : 0);
    if (readU16(buf, portOff) === newPort) return;
    writeU16(buf, portOff, newPort);
    fillSctpChecksum(buf, l4, l4len);
  } else if (proto === ICMP) {
    if (l4len < 8 || !isIcmpEcho(buf[l4]!)) return;
    const oldId = readU16(buf, l4 + 4);
    if (oldId === newPort) return;
    writeU16(buf, l4 + 4, newPort);
    writeU16(buf, l4 + 2, icmpFinal(buf, l4, l4len, update16(readU16(buf, l4 + 2), oldId, newPort)));
  }
}

/**
 * Rewrites one side of the datagram quoted by the ICMP error at `l3` (address, port or
 * echo identifier) and fixes the quoted header checksum, the quoted L4 checksum when the
 * quote holds it, and the outer ICMP checksum. The outer IPv4 header is the caller's
 * (`natRewriteSrc/Dst`). Returns false (nothing changed) when the quote holds no IPv4 header.
 */
export function natRewriteIcmpErrorInner(buf: Uint8Array, l3: number, side: number, newIpIn: number, newPortIn: number): boolean {
  const newIp = newIpIn >>> 0;
  const newPort = newPortIn & 0xffff;
  const ihl = ipv4HeaderLength(buf, l3);
  const icmp = l3 + ihl;
  const icmpLen = Math.min(ipv4TotalLength(buf, l3), buf.length - l3) - ihl;
  const inner = icmp + 8;
  const quoteLen = icmpLen - 8;
  if (quoteLen < 20 || buf[inner]! >>> 4 !== 4) return false;
  const innerIhl = ipv4HeaderLength(buf, inner);
  if (innerIhl < 20 || innerIhl > quoteLen) return false;
  let ic = readU16(buf, icmp + 2);

  const ck = ipv4Checksum(buf, inner);
  const oldIp = ipv4RewriteAddress(buf, inner, side === NatSide.Dst, newIp);
  if (oldIp !== newIp) ic = update32(update16(ic, ck, ipv4Checksum(buf, inner)), oldIp, newIp);
  const proto = ipv4Protocol(buf, inner);
  const l4 = inner + innerIhl;
  const l4len = quoteLen - innerIhl;
  if (!ipv4IsLaterFragment(buf, inner)) {
    if ((proto === TCP || proto === UDP || proto === SCTP) && l4len >= 4) {
      const portOff = l4 + (side === NatSide.Dst ? 2 : 0);
      const oldPort = readU16(buf, portOff);
      writeU16(buf, portOff, newPort);
      ic = update16(ic, oldPort, newPort);
      if (proto === SCTP) { writeU16(buf, icmp + 2, ic); return true; } // a quote's CRC32c covers bytes it lacks: left as quoted
      const ckOff = proto === UDP ? l4 + 6 : l4 + 16;
      if (l4len >= ckOff - l4 + 2) {
        const c = readU16(buf, ckOff);
        if (proto === TCP || c !== 0) {
          let nc = update16(update32(c, oldIp, newIp), oldPort, newPort);
          if (proto === UDP) nc = udpFinal(nc);
          writeU16(buf, ckOff, nc);
          ic = update16(ic, c, nc);
        }
      }
    } else if (proto === ICMP && l4len >= 8 && isIcmpEcho(buf[l4]!)) {
      const oldId = readU16(buf, l4 + 4);
      if (oldId !== newPort) {
        const c = readU16(buf, l4 + 2);
        const nc = update16(c, oldId, newPort);
        writeU16(buf, l4 + 4, newPort);
        writeU16(buf, l4 + 2, nc);
        ic = update16(update16(ic, oldId, newPort), c, nc);
      }
    }
  }
  writeU16(buf, icmp + 2, ic);
  return true;
}
