/**
 * Test helper (not used by the dataplane): builds IPv4 packets with the src/wire emitters,
 * and recomputes every checksum of a packet from scratch, so tests can compare NAT's
 * incremental updates with full recomputes.
 */

import { readU16, writeU16 } from '../wire/addr.js';
import { checksum } from '../wire/checksum.js';
import { emitIcmp } from '../wire/icmp.js';
import { emitIpv4, Ipv4Packet } from '../wire/ipv4.js';
import { emitTcp, fillTcpChecksum } from '../wire/tcp.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';

export interface PacketSpec {
  proto: number;
  src: number;
  dst: number;
  /** TCP/UDP source port; ICMP echo identifier. */
  sport: number;
  /** TCP/UDP destination port (ignored for ICMP). */
  dport: number;
  payload?: Uint8Array;
  /** TCP flags (default ACK). */
  flags?: number;
  /** ICMP type (default 8, echo request). */
  icmpType?: number;
  /** UDP: send without a checksum (0). */
  udpNoChecksum?: boolean;
  ident?: number;
  ttl?: number;
  /**
   * TCP sequence and acknowledgement numbers (default 1000 and 1000: both sides start at
   * 1000 and nothing was acknowledged beyond, so every segment of a test flow stays inside
   * conntrack's window, conntrack-window.ts).
   */
  seq?: number;
  ack?: number;
  /** TCP window (default 65535). */
  window?: number;
}

/** Writes the packet at `off` and returns its length. */
export function buildPacket(s: PacketSpec, buf: Uint8Array, off: number): number {
  const payload = s.payload ?? new Uint8Array(0);
  const l4 = off + 20;
  let l4len: number;
  if (s.proto === 6) {
    const h = emitTcp({
      srcPort: s.sport, dstPort: s.dport, seq: s.seq ?? 1000, ack: s.ack ?? 1000, flags: s.flags ?? 0x10, window: s.window ?? 65535, urgent: 0, options: [],
    }, buf, l4);
    buf.set(payload, l4 + h);
    l4len = h + payload.length;
  } else if (s.proto === 17) {
    emitUdp({ srcPort: s.sport, dstPort: s.dport, payloadLen: payload.length }, buf, l4);
    buf.set(payload, l4 + 8);
    l4len = 8 + payload.length;
  } else if (s.proto === 1) {
    const type = s.icmpType ?? 8;
    l4len = emitIcmp({ kind: type === 0 ? 'echo-reply' : 'echo-request', ident: s.sport, seq: 1, data: payload }, buf, l4);
  } else {
    buf.set(payload, l4);
    l4len = payload.length;
  }
  emitIpv4({
    src: s.src, dst: s.dst, protocol: s.proto, ttl: s.ttl ?? 64, payloadLen: l4len, ident: s.ident ?? 0x1234,
    dscp: 0, ecn: 0, dontFrag: true, moreFrags: false, fragOffset: 0,
  }, buf, off);
  if (s.proto === 6) fillTcpChecksum(buf, l4, l4len, s.src, s.dst);
  if (s.proto === 17 && s.udpNoChecksum !== true) fillUdpChecksum(buf, l4, s.src, s.dst);
  return 20 + l4len;
}

/** An ICMP error (type/code) from `src` to `dst` quoting `quote` (e.g. a whole datagram or its first IHL+8 bytes). */
export function buildIcmpError(src: number, dst: number, type: number, code: number, quote: Uint8Array, buf: Uint8Array, off: number): number {
  const l4 = off + 20;
  const n = type === 11
    ? emitIcmp({ kind: 'time-exceeded', code, original: quote }, buf, l4)
    : emitIcmp({ kind: 'dest-unreachable', code, original: quote }, buf, l4);
  emitIpv4({
    src, dst, protocol: 1, ttl: 64, payloadLen: n, ident: 0x4321, dscp: 0, ecn: 0, dontFrag: false, moreFrags: false, fragOffset: 0,
  }, buf, off);
  return 20 + n;
}

/**
 * Recomputes from scratch every checksum of the packet at `off` (IPv4 header; TCP, UDP
 * unless 0, ICMP; for ICMP errors the quoted header and, when the whole datagram is
 * quoted, its L4 checksum, before the outer ICMP checksum).
 */
export function recomputeAll(buf: Uint8Array, off: number): void {
  const ip = new Ipv4Packet().wrap(buf, off, buf.length - off);
  ip.fillChecksum();
  const l4 = ip.payloadOffset();
  const len = ip.payloadLen();
  if (ip.protocol() === 1 && len >= 28 && buf[l4] !== 0 && buf[l4] !== 8) {
    const inner = new Ipv4Packet().wrap(buf, l4 + 8, len - 8);
    inner.fillChecksum();
    if (len - 8 >= inner.totalLen()) {
      fillL4(buf, inner.payloadOffset(), inner.payloadLen(), inner.protocol(), inner.srcAddr(), inner.dstAddr());
    }
  }
  fillL4(buf, l4, len, ip.protocol(), ip.srcAddr(), ip.dstAddr());
}

function fillL4(buf: Uint8Array, l4: number, len: number, proto: number, src: number, dst: number): void {
  if (proto === 6) fillTcpChecksum(buf, l4, len, src, dst);
  else if (proto === 17) {
    if (readU16(buf, l4 + 6) !== 0) fillUdpChecksum(buf, l4, src, dst);
  } else if (proto === 1) {
    writeU16(buf, l4 + 2, 0);
    writeU16(buf, l4 + 2, checksum(buf, l4, len));
  }
}
