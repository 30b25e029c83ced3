/**
 * The wire layer against real frames: bytes written by the Linux kernel (6.18), iputils ping,
 * curl, dig and the kernel's VXLAN device, captured by tools/capture-fixtures.sh and stored as
 * hex in test/fixtures/real-frames.ts. For each frame:
 *
 *   - every field the views and Reprs expose equals what tshark 4.0.17 decoded (the expected
 *     values are literals, each commented with the tshark field it comes from);
 *   - the checksums verify (IPv4, ICMP, UDP, TCP; the datagram quoted by ICMP errors too);
 *   - emit(parse(x)) reproduces the whole frame byte for byte;
 *   - NAT-style incremental rewrites (RFC 1624) give the same checksum as a full recompute.
 *
 * No root needed: only the capture script touches the network.
 */
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac, parseIpv4 as ip4 } from './addr.js';
import { ArpPacket, emitArp, parseArp } from './arp.js';
import { checksum } from './checksum.js';
import { emitDnsMessage, parseDnsMessage } from './dns.js';
import type { DnsMessage } from './dns.js';
import { emitEthernet, EtherType, EthernetFrame, ethernetHeaderLen, parseEthernet } from './ethernet.js';
import { emitIcmp, emitIcmpError, IcmpPacket, parseIcmp } from './icmp.js';
import { emitIpv4, IpProtocol, Ipv4Packet, parseIpv4Header } from './ipv4.js';
import { emitTcp, fillTcpChecksum, parseTcp, TcpFlag, TcpPacket } from './tcp.js';
import type { TcpRepr } from './tcp.js';
import { emitUdp, fillUdpChecksum, parseUdp, UdpPacket } from './udp.js';
import { emitVxlan, parseVxlan, VXLAN_PORT_IANA, VXLAN_PORT_LINUX, VxlanPacket } from './vxlan.js';
import * as F from '../../test/fixtures/real-frames.js';

// ------------------------------------------------------------------------------ helpers

const frame = (hex: string): Uint8Array => F.frameBytes(hex);

function ok<T>(r: T | number): T {
  if (typeof r === 'number') throw new Error(`parse failed with WireError ${r}`);
  return r;
}

/** Views over one frame: Ethernet, then IPv4 at its payload (callers go deeper). */
function l2(buf: Uint8Array): EthernetFrame {
  const e = new EthernetFrame().wrap(buf, 0, buf.length);
  expect(e.check()).toBe(0);
  return e;
}
function l3(buf: Uint8Array, e: EthernetFrame = l2(buf)): Ipv4Packet {
  const p = new Ipv4Packet().wrap(buf, e.payloadOffset(), e.payloadLen());
  expect(p.check()).toBe(0);
  return p;
}
function icmpOf(ip: Ipv4Packet): IcmpPacket {
  const m = new IcmpPacket().wrap(ip.buf, ip.payloadOffset(), ip.payloadLen());
  expect(m.check()).toBe(0);
  return m;
}
function udpOf(ip: Ipv4Packet): UdpPacket {
  const u = new UdpPacket().wrap(ip.buf, ip.payloadOffset(), ip.payloadLen());
  expect(u.check()).toBe(0);
  return u;
}
function tcpOf(ip: Ipv4Packet): TcpPacket {
  const t = new TcpPacket().wrap(ip.buf, ip.payloadOffset(), ip.payloadLen());
  expect(t.check()).toBe(0);
  return t;
}

function ethFields(e: EthernetFrame) {
  return { dst: formatMac(e.dstMac()), src: formatMac(e.srcMac()), type: e.etherType() };
}
function ipFields(p: Ipv4Packet) {
  return {
    headerLen: p.headerLen(), dscp: p.dscp(), ecn: p.ecn(), totalLen: p.totalLen(), ident: p.ident(),
    dontFrag: p.dontFrag(), moreFrags: p.moreFrags(), fragOffset: p.fragOffsetBytes(), ttl: p.ttl(),
    protocol: p.protocol(), checksum: p.checksum(), src: formatIpv4(p.srcAddr()), dst: formatIpv4(p.dstAddr()),
  };
}
function udpFields(u: UdpPacket) {
  return { srcPort: u.srcPort(), dstPort: u.dstPort(), length: u.length(), checksum: u.checksum() };
}
function tcpFields(t: TcpPacket) {
  return {
    srcPort: t.srcPort(), dstPort: t.dstPort(), seq: t.seq(), ack: t.ack(), headerLen: t.headerLen(),
    flags: t.flags(), window: t.window(), checksum: t.checksum(), urgent: t.urgentPtr(), payloadLen: t.payloadLen(),
  };
}

/** iputils ping's echo data after its 16-byte struct timeval: byte i is i & 0xff. */
function expectPingPattern(data: Uint8Array, from = 16): void {
  for (let i = from; i < data.length; i++) expect(data[i], `echo data byte ${i}`).toBe(i & 0xff);
}

/**
 * Re-emits the frame at buf[off, off+len) from its Reprs into `out` at the same offset and
 * returns the bytes written: Ethernet (+802.1Q) -> ARP | IPv4 -> ICMP | TCP (+data) |
 * UDP -> DNS | VXLAN -> (recursively) the inner frame | other data. UDP/TCP checksums are
 * filled as the original had them (a zero UDP checksum stays zero).
 */
function reemit(buf: Uint8Array, off: number, len: number, out: Uint8Array): number {
  const e = new EthernetFrame().wrap(buf, off, len);
  const er = ok(parseEthernet(e));
  let o = off + emitEthernet(er, out, off);
  if (er.etherType === EtherType.Arp) {
    return o + emitArp(ok(parseArp(new ArpPacket().wrap(buf, o, len - (o - off)))), out, o) - off;
  }
  expect(er.etherType).toBe(EtherType.Ipv4);
  const ip = new Ipv4Packet().wrap(buf, o, len - (o - off));
  const ir = ok(parseIpv4Header(ip));
  const l4 = o + emitIpv4(ir, out, o);
  const l4len = ir.payloadLen;
  if (ir.protocol === IpProtocol.Icmp) {
    return l4 + emitIcmp(ok(parseIcmp(new IcmpPacket().wrap(buf, l4, l4len))), out, l4) - off;
  }
  if (ir.protocol === IpProtocol.Tcp) {
    const t = new TcpPacket().wrap(buf, l4, l4len);
    const hl = emitTcp(ok(parseTcp(t, ir.src, ir.dst)), out, l4);
    out.set(buf.subarray(l4 + hl, l4 + l4len), l4 + hl);
    fillTcpChecksum(out, l4, l4len, ir.src, ir.dst);
    return l4 + l4len - off;
  }
  expect(ir.protocol).toBe(IpProtocol.Udp);
  const u = new UdpPacket().wrap(buf, l4, l4len);
  const ur = ok(parseUdp(u, ir.src, ir.dst));
  const d = l4 + emitUdp(ur, out, l4);
  if (ur.dstPort === VXLAN_PORT_LINUX || ur.dstPort === VXLAN_PORT_IANA) {
    const vx = new VxlanPacket().wrap(buf, d, ur.payloadLen);
    const inner = d + emitVxlan(ok(parseVxlan(vx)), out, d);
    expect(reemit(buf, inner, vx.payloadLen(), out)).toBe(vx.payloadLen());
  } else if (ur.srcPort === 53 || ur.dstPort === 53) {
    expect(emitDnsMessage(ok(parseDnsMessage(buf, d, ur.payloadLen)), out, d)).toBe(ur.payloadLen);
  } else {
    out.set(buf.subarray(d, d + ur.payloadLen), d);
  }
  if (u.checksum() !== 0) fillUdpChecksum(out, l4, ir.src, ir.dst);
  return l4 + l4len - off;
}

function expectRoundTrip(buf: Uint8Array): void {
  const out = new Uint8Array(buf.length).fill(0xa5); // garbage: every byte must be written
  expect(reemit(buf, 0, buf.length, out)).toBe(buf.length);
  expect(Buffer.from(out).toString('hex')).toBe(Buffer.from(buf).toString('hex'));
}

/** Full recompute of the IPv4 header checksum on a copy of the header. */
function ipFull(p: Ipv4Packet): number {
  const c = new Uint8Array(p.buf.subarray(p.off, p.off + p.headerLen()));
  c[10] = 0; c[11] = 0;
  return checksum(c, 0, c.length);
}
/** Full recompute of a TCP checksum (copy, checksum field zeroed). */
function tcpFull(t: TcpPacket, src: number, dst: number): number {
  const c = new Uint8Array(t.buf.subarray(t.off, t.off + t.len));
  fillTcpChecksum(c, 0, c.length, src, dst);
  return (c[16]! << 8) | c[17]!;
}
function udpFull(u: UdpPacket, src: number, dst: number): number {
  const c = new Uint8Array(u.buf.subarray(u.off, u.off + u.length()));
  fillUdpChecksum(c, 0, src, dst);
  return (c[6]! << 8) | c[7]!;
}
function icmpFull(m: IcmpPacket): number {
  const c = new Uint8Array(m.buf.subarray(m.off, m.off + m.len));
  new IcmpPacket().wrap(c, 0, c.length).fillChecksum();
  return (c[2]! << 8) | c[3]!;
}

/** IPv4 rewrites on a copy: SNAT, DNAT, TTL set and decrement, each against a full recompute. */
function expectIpv4Incremental(hex: string, ipOffset = 14): void {
  const buf = frame(hex);
  const p = new Ipv4Packet().wrap(buf, ipOffset, buf.length - ipOffset);
  expect(p.check()).toBe(0);
  p.setSrcAddrFixChecksum(ip4('100.64.0.1'));
  expect(p.checksum()).toBe(ipFull(p));
  p.setDstAddrFixChecksum(ip4('203.0.113.254'));
  expect(p.checksum()).toBe(ipFull(p));
  const ttl = p.ttl();
  expect(p.decTtlFixChecksum()).toBe(ttl - 1);
  expect(p.checksum()).toBe(ipFull(p));
  p.setTtlFixChecksum(255);
  expect(p.checksum()).toBe(ipFull(p));
  expect(p.verifyChecksum()).toBe(true);
}

/** A transport NAT on a copy: DNAT address + port (TCP or UDP), checksums against full recomputes. */
function expectL4Dnat(hex: string, kind: 'tcp' | 'udp'): void {
  const buf = frame(hex);
  const ip = l3(buf);
  const oldDst = ip.dstAddr();
  const newDst = ip4('10.96.0.10');
  ip.setDstAddrFixChecksum(newDst);
  expect(ip.checksum()).toBe(ipFull(ip));
  if (kind === 'tcp') {
    const t = tcpOf(ip);
    t.fixChecksumForAddrChange(oldDst, newDst);
    t.setDstPortFixChecksum(30080);
    t.setSrcPortFixChecksum(61000);
    t.setSeqFixChecksum((t.seq() + 0x10000001) >>> 0);
    t.setAckFixChecksum((t.ack() + 7) >>> 0);
    expect(t.checksum()).toBe(tcpFull(t, ip.srcAddr(), newDst));
    expect(t.verifyChecksum(ip.srcAddr(), newDst)).toBe(true);
  } else {
    const u = udpOf(ip);
    const zero = u.checksum() === 0;
    u.fixChecksumForAddrChange(oldDst, newDst);
    u.setDstPortFixChecksum(30053);
    u.setSrcPortFixChecksum(61000);
    expect(u.checksum()).toBe(zero ? 0 : udpFull(u, ip.srcAddr(), newDst));
    expect(u.verifyChecksum(ip.srcAddr(), newDst)).toBe(true);
  }
}

const ALL_IPV4 = {
  ICMP_ECHO_REQUEST: F.ICMP_ECHO_REQUEST,
  ICMP_ECHO_REPLY: F.ICMP_ECHO_REPLY,
  ICMP_TIME_EXCEEDED: F.ICMP_TIME_EXCEEDED,
  ICMP_FRAG_NEEDED: F.ICMP_FRAG_NEEDED,
  UDP_TO_CLOSED_PORT: F.UDP_TO_CLOSED_PORT,
  ICMP_PORT_UNREACHABLE: F.ICMP_PORT_UNREACHABLE,
  TCP_SYN: F.TCP_SYN,
  TCP_SYN_ACK: F.TCP_SYN_ACK,
  TCP_HTTP_GET: F.TCP_HTTP_GET,
  TCP_FIN: F.TCP_FIN,
  DNS_QUERY: F.DNS_QUERY,
  DNS_RESPONSE: F.DNS_RESPONSE,
  VXLAN_8472_ICMP_ECHO_REQUEST: F.VXLAN_8472_ICMP_ECHO_REQUEST,
  VXLAN_4789_ICMP_ECHO_REPLY: F.VXLAN_4789_ICMP_ECHO_REPLY,
};
const ALL = {
  ARP_REQUEST: F.ARP_REQUEST,
  ARP_REPLY: F.ARP_REPLY,
  VLAN_ICMP_ECHO_REQUEST: F.VLAN_ICMP_ECHO_REQUEST,
  ...ALL_IPV4,
};

// ------------------------------------------------------------------------------- ARP

describe('real ARP (kernel neighbour resolution before `ping -c 1 10.244.1.3`)', () => {
  it('request: tshark #1', () => {
    const buf = frame(F.ARP_REQUEST);
    expect(buf.length).toBe(42); // frame.len: 42 (veth does not pad to 60)
    const e = l2(buf);
    expect(ethFields(e)).toEqual({
      dst: 'ff:ff:ff:ff:ff:ff', // eth.dst: Broadcast
      src: '02:42:0a:f4:01:02', // eth.src
      type: 0x0806, //             eth.type: ARP
    });
    const a = new ArpPacket().wrap(buf, e.payloadOffset(), e.payloadLen());
    expect(a.check()).toBe(0);
    expect([a.htype(), a.ptype(), a.hlen(), a.plen()]).toEqual([1, 0x0800, 6, 4]); // arp.hw.type, arp.proto.type, arp.hw.size, arp.proto.size
    expect(parseArp(a)).toEqual({
      operation: 1, //                        arp.opcode: request (1)
      senderMac: 0x02420af40102, //           arp.src.hw_mac: 02:42:0a:f4:01:02
      senderIp: ip4('10.244.1.2'), //         arp.src.proto_ipv4
      targetMac: 0, //                        arp.dst.hw_mac: 00:00:00:00:00:00
      targetIp: ip4('10.244.1.3'), //         arp.dst.proto_ipv4
    });
  });

  it('reply: tshark #2', () => {
    const buf = frame(F.ARP_REPLY);
    const e = l2(buf);
    expect(ethFields(e)).toEqual({
      dst: '02:42:0a:f4:01:02', // eth.dst
      src: '02:42:0a:f4:01:03', // eth.src
      type: 0x0806, //             eth.type: ARP
    });
    expect(parseArp(new ArpPacket().wrap(buf, 14, 28))).toEqual({
      operation: 2, //                        arp.opcode: reply (2)
      senderMac: 0x02420af40103, //           arp.src.hw_mac: 02:42:0a:f4:01:03
      senderIp: ip4('10.244.1.3'), //         arp.src.proto_ipv4
      targetMac: 0x02420af40102, //           arp.dst.hw_mac: 02:42:0a:f4:01:02
      targetIp: ip4('10.244.1.2'), //         arp.dst.proto_ipv4
    });
  });
});

// ------------------------------------------------------------------------------ ICMP echo

describe('real ICMP echo (`ping -c 1 10.244.1.3`, iputils 20221126)', () => {
  it('request: tshark #3', () => {
    const buf = frame(F.ICMP_ECHO_REQUEST);
    expect(buf.length).toBe(98); // frame.len: 98
    const e = l2(buf);
    expect(ethFields(e)).toEqual({ dst: '02:42:0a:f4:01:03', src: '02:42:0a:f4:01:02', type: 0x0800 }); // eth.dst, eth.src, eth.type: IPv4
    const ip = l3(buf, e);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, //     ip.hdr_len: 20
      dscp: 0, ecn: 0, //   ip.dsfield: 0x00
      totalLen: 84, //      ip.len: 84
      ident: 0x659e, //     ip.id: 0x659e
      dontFrag: true, //    ip.flags.df: 1 (ping sets DF: PMTU discovery)
      moreFrags: false, //  ip.flags.mf: 0
      fragOffset: 0, //     ip.frag_offset: 0
      ttl: 64, //           ip.ttl: 64
      protocol: 1, //       ip.proto: ICMP
      checksum: 0xbd1e, //  ip.checksum: 0xbd1e [correct]
      src: '10.244.1.2', // ip.src
      dst: '10.244.1.3', // ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum()]).toEqual([8, 0, 0x660e]); // icmp.type: 8, icmp.code: 0, icmp.checksum: 0x660e [correct]
    expect(m.verifyChecksum()).toBe(true);
    const r = ok(parseIcmp(m));
    expect(r.kind).toBe('echo-request');
    if (r.kind !== 'echo-request') return;
    expect(r.ident).toBe(0x1d7a); // icmp.ident: 7546 (0x1d7a)
    expect(r.seq).toBe(1); //        icmp.seq: 1
    expect(r.data.length).toBe(56); // 8-byte timestamp + data.len: 48
    expectPingPattern(r.data);
  });

  it('reply: tshark #4 (the kernel echoes ident, seq and data; DF clear)', () => {
    const req = frame(F.ICMP_ECHO_REQUEST);
    const buf = frame(F.ICMP_ECHO_REPLY);
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0x00
      totalLen: 84, //      ip.len: 84
      ident: 0x5ce8, //     ip.id: 0x5ce8
      dontFrag: false, //   ip.flags.df: 0
      moreFrags: false, //  ip.flags.mf: 0
      fragOffset: 0, //     ip.frag_offset: 0
      ttl: 64, //           ip.ttl: 64
      protocol: 1, //       ip.proto: ICMP
      checksum: 0x05d5, //  ip.checksum: 0x05d5 [correct]
      src: '10.244.1.3', // ip.src
      dst: '10.244.1.2', // ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum(), m.echoIdent(), m.echoSeq()]).toEqual([0, 0, 0x6e0e, 0x1d7a, 1]); // icmp.type 0, code 0, checksum 0x6e0e, ident 7546, seq 1
    expect(m.verifyChecksum()).toBe(true);
    // Same data as the request: only the type byte differs, so the checksum differs by 0x0800.
    expect(Buffer.from(buf.subarray(42)).equals(Buffer.from(req.subarray(42)))).toBe(true);
    expect(m.checksum()).toBe(0x660e + 0x0800);
  });
});

// ------------------------------------------------------------------------------ ICMP errors

describe('real ICMP errors from the Linux router pwfx-b (quote: IP header + as much as fits in 576)', () => {
  it('time exceeded: `ping -c 1 -t 1 10.244.3.2`, tshark #6', () => {
    const buf = frame(F.ICMP_TIME_EXCEEDED);
    expect(buf.length).toBe(126); // frame.len: 126
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, //      ip.hdr_len: 20
      dscp: 48, ecn: 0, //   ip.dsfield: 0xc0 (CS6: Linux sends ICMP errors with TOS 0xc0)
      totalLen: 112, //      ip.len: 112
      ident: 0x5d0c, //      ip.id: 0x5d0c
      dontFrag: false, //    ip.flags.df: 0
      moreFrags: false, fragOffset: 0, // ip.flags.mf: 0, ip.frag_offset: 0
      ttl: 64, //            ip.ttl: 64
      protocol: 1, //        ip.proto: ICMP
      checksum: 0x04d5, //   ip.checksum: 0x04d5 [correct]
      src: '10.244.1.3', //  ip.src: the router's address on the way back
      dst: '10.244.1.2', //  ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum(), m.rest()]).toEqual([11, 0, 0xf4ff, 0]); // icmp.type 11, icmp.code 0, icmp.checksum 0xf4ff, unused 0
    expect(m.verifyChecksum()).toBe(true);
    const r = ok(parseIcmp(m));
    expect(r.kind).toBe('time-exceeded');
    if (r.kind !== 'time-exceeded') return;
    expect(r.code).toBe(0);
    expect(r.original.length).toBe(84); // the whole original datagram is quoted (84 < 548)
    // The quoted datagram: the echo request as the router received it (TTL 1, not yet decremented).
    const q = new Ipv4Packet().wrap(buf, m.originalOffset(), m.originalLen());
    expect(q.check()).toBe(0);
    expect(ipFields(q)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0x00
      totalLen: 84, //      ip.len: 84
      ident: 0xf516, //     ip.id: 0xf516
      dontFrag: true, moreFrags: false, fragOffset: 0, // ip.flags.df: 1, ip.flags.mf: 0, ip.frag_offset: 0
      ttl: 1, //            ip.ttl: 1
      protocol: 1, //       ip.proto: ICMP
      checksum: 0x6aa7, //  ip.checksum: 0x6aa7
      src: '10.244.1.2', // ip.src
      dst: '10.244.3.2', // ip.dst
    });
    expect(q.verifyChecksum()).toBe(true);
    const qm = new IcmpPacket().wrap(buf, q.payloadOffset(), q.payloadLen());
    expect([qm.type(), qm.code(), qm.checksum(), qm.echoIdent(), qm.echoSeq()]).toEqual([8, 0, 0xa4c0, 0x1d80, 1]); // icmp.type 8, checksum 0xa4c0, ident 7552, seq 1
    expect(qm.verifyChecksum()).toBe(true); // whole echo quoted: its checksum verifies too
  });

  it('fragmentation needed: `ping -c 1 -M do -s 1472 10.244.3.2` into a 1400-byte MTU, tshark #8', () => {
    const buf = frame(F.ICMP_FRAG_NEEDED);
    expect(buf.length).toBe(590); // frame.len: 590 = 14 + 576
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 48, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0xc0
      totalLen: 576, //     ip.len: 576 (RFC 1812 4.3.2.3: as much as fits in 576)
      ident: 0x5d20, //     ip.id: 0x5d20
      dontFrag: false, moreFrags: false, fragOffset: 0, // ip.flags: 0x0
      ttl: 64, //           ip.ttl: 64
      protocol: 1, //       ip.proto: ICMP
      checksum: 0x02f1, //  ip.checksum: 0x02f1 [correct]
      src: '10.244.1.3', // ip.src
      dst: '10.244.1.2', // ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum(), m.nextHopMtu()]).toEqual([3, 4, 0xf056, 1400]); // icmp.type 3, icmp.code 4, icmp.checksum 0xf056, icmp.mtu 1400
    expect(m.rest()).toBe(1400); // unused 0x0000 + MTU
    expect(m.verifyChecksum()).toBe(true);
    const r = ok(parseIcmp(m));
    expect(r).toMatchObject({ kind: 'dest-unreachable', code: 4, nextHopMtu: 1400 });
    if (r.kind !== 'dest-unreachable') return;
    expect(r.original.length).toBe(548); // 576 - 20 - 8
    const q = new Ipv4Packet().wrap(buf, m.originalOffset(), m.originalLen());
    // The quote is cut: its Total Length (1500) exceeds the bytes present, so check() says BadLength
    // and a consumer must read the quoted header without check() (as conntrack does for errors).
    expect(q.check()).toBe(4);
    expect(ipFields(q)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0x00
      totalLen: 1500, //    ip.len: 1500
      ident: 0x0000, //     ip.id: 0x0000 (Linux: DF set and no fragmentation possible -> id 0)
      dontFrag: true, moreFrags: false, fragOffset: 0, // ip.flags.df: 1
      ttl: 64, //           ip.ttl: 64 (the MTU check comes before the TTL decrement)
      protocol: 1, //       ip.proto: ICMP
      checksum: 0x1b36, //  ip.checksum: 0x1b36
      src: '10.244.1.2', // ip.src
      dst: '10.244.3.2', // ip.dst
    });
    expect(q.verifyChecksum()).toBe(true);
    const qm = new IcmpPacket().wrap(buf, q.payloadOffset(), m.originalLen() - 20);
    expect([qm.type(), qm.code(), qm.checksum(), qm.echoIdent(), qm.echoSeq()]).toEqual([8, 0, 0x2153, 0x1d98, 1]); // icmp.type 8, checksum 0x2153, ident 7576, seq 1
    // The quoted echo is cut at 528 of its 1480 bytes; iputils fills the data after the 16-byte
    // timestamp with i & 0xff, so the original can be rebuilt and its checksum verified.
    const quoted = buf.subarray(qm.off + 8, buf.length);
    expectPingPattern(quoted);
    const whole = new Uint8Array(1480);
    whole.set(buf.subarray(qm.off, buf.length));
    for (let i = 8 + quoted.length; i < 1480; i++) whole[i] = (i - 8) & 0xff;
    expect(checksum(whole, 0, whole.length)).toBe(0);
  });

  it('port unreachable: UDP to closed port 33434, tshark #9 and #10', () => {
    const dgram = frame(F.UDP_TO_CLOSED_PORT);
    expect(dgram.length).toBe(49); // frame.len: 49 (no padding on veth)
    const dip = l3(dgram);
    expect(ipFields(dip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0x00
      totalLen: 35, //      ip.len: 35
      ident: 0x92fa, //     ip.id: 0x92fa
      dontFrag: true, moreFrags: false, fragOffset: 0, // ip.flags.df: 1
      ttl: 64, //           ip.ttl: 64
      protocol: 17, //      ip.proto: UDP
      checksum: 0x8fe3, //  ip.checksum: 0x8fe3 [correct]
      src: '10.244.1.2', // ip.src
      dst: '10.244.1.3', // ip.dst
    });
    const u = udpOf(dip);
    expect(udpFields(u)).toEqual({
      srcPort: 37337, //    udp.srcport: 37337 (ephemeral)
      dstPort: 33434, //    udp.dstport: 33434
      length: 15, //        udp.length: 15
      checksum: 0x3016, //  udp.checksum: 0x3016 [correct]
    });
    expect(u.verifyChecksum(dip.srcAddr(), dip.dstAddr())).toBe(true);
    expect(ok(parseUdp(u, dip.srcAddr(), dip.dstAddr()))).toEqual({ srcPort: 37337, dstPort: 33434, payloadLen: 7 });
    expect(Buffer.from(dgram.subarray(42)).toString()).toBe('podwire'); // data: 706f6477697265

    const buf = frame(F.ICMP_PORT_UNREACHABLE);
    expect(buf.length).toBe(77); // frame.len: 77
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 48, ecn: 0, // ip.dsfield: 0xc0
      totalLen: 63, //      ip.len: 63
      ident: 0x5d6d, //     ip.id: 0x5d6d
      dontFrag: false, moreFrags: false, fragOffset: 0, // ip.flags: 0x0
      ttl: 64, //           ip.ttl: 64
      protocol: 1, //       ip.proto: ICMP
      checksum: 0x04a5, //  ip.checksum: 0x04a5 [correct]
      src: '10.244.1.3', // ip.src
      dst: '10.244.1.2', // ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum(), m.rest()]).toEqual([3, 3, 0x150a, 0]); // icmp.type 3, icmp.code 3, icmp.checksum 0x150a
    expect(m.verifyChecksum()).toBe(true);
    const r = ok(parseIcmp(m));
    expect(r).toEqual({ kind: 'dest-unreachable', code: 3, original: dgram.subarray(14) }); // quote = the whole 35-byte datagram
    // The quoted datagram verifies all the way down (its UDP checksum too: it is complete).
    const q = new Ipv4Packet().wrap(buf, m.originalOffset(), m.originalLen());
    expect(q.check()).toBe(0);
    expect(q.verifyChecksum()).toBe(true);
    const qu = udpOf(q);
    expect(udpFields(qu)).toEqual({ srcPort: 37337, dstPort: 33434, length: 15, checksum: 0x3016 }); // udp.* inside icmp
    expect(qu.verifyChecksum(q.srcAddr(), q.dstAddr())).toBe(true);
  });

  it('podwire\'s emitIcmpError quotes header + 8 bytes (RFC 792); Linux quotes up to 576 (RFC 1812)', () => {
    const dgram = frame(F.UDP_TO_CLOSED_PORT);
    const linux = frame(F.ICMP_PORT_UNREACHABLE);
    const out = new Uint8Array(64);
    const n = emitIcmpError(out, 0, 3, 3, 0, dgram, 14, 35);
    expect(n).toBe(8 + 28);
    // Same type/code/unused and the same first 28 quoted bytes; Linux adds the 7 data bytes.
    expect(Buffer.from(out.subarray(4, n)).equals(Buffer.from(linux.subarray(34 + 4, 34 + n)))).toBe(true);
    expect([out[0], out[1]]).toEqual([linux[34], linux[35]]);
    expect(new IcmpPacket().wrap(out, 0, n).verifyChecksum()).toBe(true);
    expect(linux.length - 34).toBe(8 + 35);
  });
});

// ------------------------------------------------------------------------------ TCP

describe('real TCP (`curl http://10.244.1.3:8080/hello.txt` to `python3 -m http.server`)', () => {
  it('SYN with Linux\'s options MSS, SACK_PERM, TS, NOP, WS: tshark #11', () => {
    const buf = frame(F.TCP_SYN);
    expect(buf.length).toBe(74); // frame.len: 74
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // ip.hdr_len: 20, ip.dsfield: 0x00
      totalLen: 60, //      ip.len: 60
      ident: 0x21b0, //     ip.id: 0x21b0
      dontFrag: true, moreFrags: false, fragOffset: 0, // ip.flags.df: 1
      ttl: 64, //           ip.ttl: 64
      protocol: 6, //       ip.proto: TCP
      checksum: 0x0120, //  ip.checksum: 0x0120 [correct]
      src: '10.244.1.2', // ip.src
      dst: '10.244.1.3', // ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const t = tcpOf(ip);
    expect(tcpFields(t)).toEqual({
      srcPort: 51652, //     tcp.srcport: 51652
      dstPort: 8080, //      tcp.dstport: 8080
      seq: 1083148366, //    tcp.seq_raw: 1083148366
      ack: 0, //             tcp.ack_raw: 0
      headerLen: 40, //      tcp.hdr_len: 40
      flags: TcpFlag.SYN, // tcp.flags: 0x0002 (SYN)
      window: 64240, //      tcp.window_size_value: 64240
      checksum: 0x3a63, //   tcp.checksum: 0x3a63 [correct]
      urgent: 0, //          tcp.urgent_pointer: 0
      payloadLen: 0, //      tcp.len: 0
    });
    expect(t.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    expect(ok(parseTcp(t, ip.srcAddr(), ip.dstAddr())).options).toEqual([ // tcp.option_kind: 2,4,8,1,3
      { kind: 'mss', mss: 1460 }, //                                      tcp.options.mss_val: 1460
      { kind: 'sack-permitted' }, //                                      SACK_PERM
      { kind: 'timestamps', tsVal: 2810093835, tsEcr: 0 }, //             tcp.options.timestamp.tsval / tsecr
      { kind: 'nop' }, //                                                 NOP
      { kind: 'window-scale', shift: 10 }, //                             tcp.options.wscale.shift: 10 (x1024)
    ]);
  });

  it('SYN-ACK: tshark #12', () => {
    const buf = frame(F.TCP_SYN_ACK);
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 60, // ip.hdr_len 20, ip.dsfield 0x00, ip.len 60
      ident: 0x0000, //     ip.id: 0x0000 (Linux: SYN-ACK with DF gets id 0)
      dontFrag: true, moreFrags: false, fragOffset: 0, // ip.flags.df: 1
      ttl: 64, protocol: 6, // ip.ttl 64, ip.proto TCP
      checksum: 0x22d0, //  ip.checksum: 0x22d0 [correct]
      src: '10.244.1.3', dst: '10.244.1.2', // ip.src, ip.dst
    });
    const t = tcpOf(ip);
    expect(tcpFields(t)).toEqual({
      srcPort: 8080, //      tcp.srcport: 8080
      dstPort: 51652, //     tcp.dstport: 51652
      seq: 1455412138, //    tcp.seq_raw: 1455412138
      ack: 1083148367, //    tcp.ack_raw: 1083148367 (the SYN's seq + 1)
      headerLen: 40, //      tcp.hdr_len: 40
      flags: TcpFlag.SYN | TcpFlag.ACK, // tcp.flags: 0x0012
      window: 65160, //      tcp.window_size_value: 65160
      checksum: 0x3593, //   tcp.checksum: 0x3593 [correct]
      urgent: 0, payloadLen: 0, // tcp.urgent_pointer 0, tcp.len 0
    });
    expect(t.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    expect(ok(parseTcp(t, ip.srcAddr(), ip.dstAddr())).options).toEqual([
      { kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }, // tcp.options.mss_val 1460, SACK_PERM
      { kind: 'timestamps', tsVal: 278906397, tsEcr: 2810093835 }, // tsval, tsecr = the SYN's tsval
      { kind: 'nop' }, { kind: 'window-scale', shift: 10 }, // NOP, tcp.options.wscale.shift 10
    ]);
  });

  it('data (HTTP GET): tshark #14', () => {
    const buf = frame(F.TCP_HTTP_GET);
    expect(buf.length).toBe(154); // frame.len: 154
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 140, // ip.len: 140
      ident: 0x21b2, //     ip.id: 0x21b2
      dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 6, // ip.flags.df 1, ip.ttl 64, TCP
      checksum: 0x00ce, //  ip.checksum: 0x00ce [correct]
      src: '10.244.1.2', dst: '10.244.1.3',
    });
    const t = tcpOf(ip);
    expect(tcpFields(t)).toEqual({
      srcPort: 51652, dstPort: 8080, // tcp.srcport, tcp.dstport
      seq: 1083148367, //    tcp.seq_raw: 1083148367
      ack: 1455412139, //    tcp.ack_raw: 1455412139
      headerLen: 32, //      tcp.hdr_len: 32
      flags: TcpFlag.PSH | TcpFlag.ACK, // tcp.flags: 0x0018
      window: 63, //         tcp.window_size_value: 63 (scaled x1024)
      checksum: 0x2bc3, //   tcp.checksum: 0x2bc3 [correct]
      urgent: 0, //          tcp.urgent_pointer: 0
      payloadLen: 88, //     tcp.len: 88
    });
    expect(t.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    expect(ok(parseTcp(t, ip.srcAddr(), ip.dstAddr())).options).toEqual([ // tcp.option_kind: 1,1,8
      { kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: 2810093835, tsEcr: 278906397 },
    ]);
    const http = Buffer.from(buf.subarray(t.payloadOffset())).toString('latin1');
    expect(http).toBe('GET /hello.txt HTTP/1.1\r\nHost: 10.244.1.3:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n');
  });

  it('FIN: tshark #20', () => {
    const buf = frame(F.TCP_FIN);
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 52, // ip.len: 52
      ident: 0x99e2, //     ip.id: 0x99e2
      dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 6,
      checksum: 0x88f5, //  ip.checksum: 0x88f5 [correct]
      src: '10.244.1.3', dst: '10.244.1.2',
    });
    const t = tcpOf(ip);
    expect(tcpFields(t)).toEqual({
      srcPort: 8080, dstPort: 51652,
      seq: 1455412344, //    tcp.seq_raw: 1455412344 (relative 206)
      ack: 1083148455, //    tcp.ack_raw: 1083148455 (relative 89)
      headerLen: 32, //      tcp.hdr_len: 32
      flags: TcpFlag.FIN | TcpFlag.ACK, // tcp.flags: 0x0011
      window: 64, //         tcp.window_size_value: 64
      checksum: 0x617f, //   tcp.checksum: 0x617f [correct]
      urgent: 0, payloadLen: 0,
    });
    expect(t.hasFlags(TcpFlag.FIN)).toBe(true);
    expect(t.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    const r: TcpRepr = ok(parseTcp(t, ip.srcAddr(), ip.dstAddr()));
    expect(r.options).toEqual([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: 278906400, tsEcr: 2810093838 }]);
  });
});

// ------------------------------------------------------------------------------ DNS

describe('real DNS (`dig @10.244.1.3 service1.default.svc.cluster.local A`, DiG 9.18.49)', () => {
  it('query: tshark #24', () => {
    const buf = frame(F.DNS_QUERY);
    expect(buf.length).toBe(117); // frame.len: 117
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 103, // ip.len: 103
      ident: 0xa17f, //     ip.id: 0xa17f
      dontFrag: false, moreFrags: false, fragOffset: 0, // ip.flags: 0x0 (dig's UDP socket: no PMTU discovery)
      ttl: 64, protocol: 17, // ip.ttl 64, ip.proto UDP
      checksum: 0xc11a, //  ip.checksum: 0xc11a [correct]
      src: '10.244.1.2', dst: '10.244.1.3',
    });
    const u = udpOf(ip);
    expect(udpFields(u)).toEqual({
      srcPort: 40904, //   udp.srcport: 40904
      dstPort: 53, //      udp.dstport: 53
      length: 83, //       udp.length: 83
      checksum: 0xfa5e, // udp.checksum: 0xfa5e [correct]
    });
    expect(u.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    const msg: DnsMessage = ok(parseDnsMessage(buf, u.payloadOffset(), u.payloadLen()));
    expect(msg).toEqual({
      id: 0xfd5e, //                          dns.id: 0xfd5e
      qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: true, cd: false, rcode: 0, // dns.flags: 0x0120 (RD, AD)
      questions: [{ name: 'service1.default.svc.cluster.local', type: 1, class: 1 }], // dns.qry.name, dns.qry.type: A, class IN
      answers: [], authority: [], additional: [], // dns.count.answers 0, auth_rr 0; add_rr 1 = the OPT
      edns: {
        udpSize: 1232, //                     dns.rr.udp_payload_size: 1232
        extRcode: 0, version: 0, dnssecOk: false, // higher bits 0, EDNS0 version 0, DO 0
        options: [{ code: 10, data: Uint8Array.from(Buffer.from('d44fb39e08415b09', 'hex')) }], // dns.opt.code: COOKIE, dns.opt.cookie.client
      },
    });
  });

  it('response (name compressed with a pointer to the question): tshark #25', () => {
    const buf = frame(F.DNS_RESPONSE);
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 107, // ip.len: 107
      ident: 0xfce1, //     ip.id: 0xfce1
      dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 17, // ip.flags.df 1
      checksum: 0x25b4, //  ip.checksum: 0x25b4 [correct]
      src: '10.244.1.3', dst: '10.244.1.2',
    });
    const u = udpOf(ip);
    expect(udpFields(u)).toEqual({
      srcPort: 53, dstPort: 40904, // udp.srcport, udp.dstport
      length: 87, //       udp.length: 87
      checksum: 0x02cf, // udp.checksum: 0x02cf [correct]
    });
    expect(u.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    // The answer's owner is the pointer 0xc00c (offset 12: the question name).
    const ans = u.payloadOffset() + 12 + 36 + 4;
    expect([buf[ans], buf[ans + 1]]).toEqual([0xc0, 0x0c]);
    expect(ok(parseDnsMessage(buf, u.payloadOffset(), u.payloadLen()))).toEqual({
      id: 0xfd5e, //                          dns.id: 0xfd5e
      qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0, // dns.flags: 0x8500
      questions: [{ name: 'service1.default.svc.cluster.local', type: 1, class: 1 }],
      answers: [{ // dns.count.answers: 1
        name: 'service1.default.svc.cluster.local', type: 1, class: 1, // dns.resp.name, type A, class IN
        ttl: 30, //                           dns.resp.ttl: 30
        data: { kind: 'a', address: ip4('10.96.0.1') }, // dns.a: 10.96.0.1
      }],
      authority: [], additional: [],
      edns: { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [] }, // OPT: 1232, data length 0
    });
  });
});

// ------------------------------------------------------------------------------ 802.1Q

describe('real 802.1Q (`ping -c 1 10.244.100.3`, tag pushed by the kernel\'s bpf_skb_vlan_push)', () => {
  it('tagged echo request: tshark #34', () => {
    const buf = frame(F.VLAN_ICMP_ECHO_REQUEST);
    expect(buf.length).toBe(102); // frame.len: 102 = 98 + 4-byte tag
    const e = l2(buf);
    expect(ethFields(e)).toEqual({ dst: '02:42:0a:f4:01:03', src: '02:42:0a:f4:01:02', type: 0x8100 }); // eth.type: 802.1Q
    expect(e.hasVlan()).toBe(true);
    expect(e.vlanTci()).toBe(0x0064);
    expect(e.vlanPcp()).toBe(0); //      vlan.priority: 0
    expect(e.vlanDei()).toBe(false); //  vlan.dei: 0
    expect(e.vlanId()).toBe(100); //     vlan.id: 100
    expect(e.innerEtherType()).toBe(0x0800); // vlan.etype: IPv4
    expect(e.headerLen()).toBe(18);
    expect(parseEthernet(e)).toEqual({
      dst: 0x02420af40103, src: 0x02420af40102, etherType: 0x0800, vlan: { id: 100, pcp: 0, dei: false },
    });
    const ip = l3(buf, e);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 84, // ip.len: 84
      ident: 0x53ef, //     ip.id: 0x53ef
      dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 1,
      checksum: 0x08cd, //  ip.checksum: 0x08cd [correct]
      src: '10.244.100.2', dst: '10.244.100.3', // ip.src, ip.dst
    });
    expect(ip.verifyChecksum()).toBe(true);
    const m = icmpOf(ip);
    expect([m.type(), m.code(), m.checksum(), m.echoIdent(), m.echoSeq()]).toEqual([8, 0, 0x70f1, 0x1e66, 1]); // icmp.type 8, checksum 0x70f1, ident 7782, seq 1
    expect(m.verifyChecksum()).toBe(true);
  });
});

// ------------------------------------------------------------------------------ VXLAN

describe('real VXLAN from the kernel\'s vxlan device', () => {
  it('VNI 1 on port 8472, outer UDP checksum 0 (noudpcsum): `ping -c 1 10.245.1.3`, tshark #28', () => {
    const buf = frame(F.VXLAN_8472_ICMP_ECHO_REQUEST);
    expect(buf.length).toBe(148); // frame.len: 148 = 98 inner + 50 overhead
    const e = l2(buf);
    expect(ethFields(e)).toEqual({ dst: '02:42:0a:f4:01:03', src: '02:42:0a:f4:01:02', type: 0x0800 }); // outer eth
    const ip = l3(buf, e);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, // outer ip.dsfield: 0x00 (inherits the inner TOS)
      totalLen: 134, //     outer ip.len: 134
      ident: 0x9395, //     outer ip.id: 0x9395
      dontFrag: false, moreFrags: false, fragOffset: 0, // outer ip.flags: 0x0 (vxlan df unset)
      ttl: 64, //           outer ip.ttl: 64
      protocol: 17, //      outer ip.proto: UDP
      checksum: 0xcee5, //  outer ip.checksum: 0xcee5 [correct]
      src: '10.244.1.2', dst: '10.244.1.3', // outer ip.src, ip.dst: the VTEPs
    });
    expect(ip.verifyChecksum()).toBe(true);
    const u = udpOf(ip);
    expect(udpFields(u)).toEqual({
      srcPort: 34829, //   udp.srcport: 34829 (flow hash in 32768..60999)
      dstPort: 8472, //    udp.dstport: 8472
      length: 114, //      udp.length: 114
      checksum: 0x0000, // udp.checksum: 0x0000 (none)
    });
    expect(u.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true); // zero = not computed: accepted
    const vx = new VxlanPacket().wrap(buf, u.payloadOffset(), u.payloadLen());
    expect(vx.check()).toBe(0);
    expect(vx.flags()).toBe(0x08); //   vxlan.flags: 0x0800 (I flag; the rest reserved, 0)
    expect(vx.vni()).toBe(1); //        vxlan.vni: 1
    expect(buf[vx.off + 7]).toBe(0); // reserved byte after the VNI
    const ie = new EthernetFrame().wrap(buf, vx.payloadOffset(), vx.payloadLen());
    expect(ie.check()).toBe(0);
    expect(ethFields(ie)).toEqual({ dst: '02:42:0a:f5:01:03', src: '02:42:0a:f5:01:02', type: 0x0800 }); // inner eth.dst, eth.src (vx1 MACs)
    const iip = l3(buf, ie);
    expect(ipFields(iip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 84, // inner ip.len: 84
      ident: 0x672a, //     inner ip.id: 0x672a
      dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 1,
      checksum: 0xbb90, //  inner ip.checksum: 0xbb90 [correct]
      src: '10.245.1.2', dst: '10.245.1.3',
    });
    expect(iip.verifyChecksum()).toBe(true);
    const m = icmpOf(iip);
    expect([m.type(), m.code(), m.checksum(), m.echoIdent(), m.echoSeq()]).toEqual([8, 0, 0xe16c, 0x1e34, 1]); // icmp.type 8, checksum 0xe16c, ident 7732, seq 1
    expect(m.verifyChecksum()).toBe(true);
  });

  it('VNI 42 on port 4789, outer UDP checksum computed (udpcsum): reply, tshark #33', () => {
    const buf = frame(F.VXLAN_4789_ICMP_ECHO_REPLY);
    const ip = l3(buf);
    expect(ipFields(ip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 134, // outer ip.len: 134
      ident: 0xfd5d, //     outer ip.id: 0xfd5d
      dontFrag: false, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 17,
      checksum: 0x651d, //  outer ip.checksum: 0x651d [correct]
      src: '10.244.1.3', dst: '10.244.1.2',
    });
    const u = udpOf(ip);
    expect(udpFields(u)).toEqual({
      srcPort: 51213, //   udp.srcport: 51213
      dstPort: 4789, //    udp.dstport: 4789
      length: 114, //      udp.length: 114
      checksum: 0x63e7, // udp.checksum: 0x63e7 [correct]
    });
    expect(u.verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(true);
    // A computed checksum covers the inner frame: flipping one inner byte must break it.
    const bad = frame(F.VXLAN_4789_ICMP_ECHO_REPLY);
    bad[bad.length - 1]! ^= 1;
    expect(new UdpPacket().wrap(bad, 34, 114).verifyChecksum(ip.srcAddr(), ip.dstAddr())).toBe(false);
    const vx = new VxlanPacket().wrap(buf, u.payloadOffset(), u.payloadLen());
    expect(ok(parseVxlan(vx))).toEqual({ vni: 42 }); // vxlan.vni: 42
    expect(vx.flags()).toBe(0x08); //                    vxlan.flags: 0x0800
    const ie = new EthernetFrame().wrap(buf, vx.payloadOffset(), vx.payloadLen());
    expect(ie.check()).toBe(0);
    expect(ethFields(ie)).toEqual({ dst: '02:42:0a:f5:2a:02', src: '02:42:0a:f5:2a:03', type: 0x0800 }); // inner eth (vx42 MACs)
    const iip = l3(buf, ie);
    expect(ipFields(iip)).toEqual({
      headerLen: 20, dscp: 0, ecn: 0, totalLen: 84,
      ident: 0x98b9, //     inner ip.id: 0x98b9
      dontFrag: false, moreFrags: false, fragOffset: 0, ttl: 64, protocol: 1, // inner ip.flags: 0x0 (echo reply)
      checksum: 0x7801, //  inner ip.checksum: 0x7801 [correct]
      src: '10.245.42.3', dst: '10.245.42.2',
    });
    expect(iip.verifyChecksum()).toBe(true);
    const m = icmpOf(iip);
    expect([m.type(), m.code(), m.checksum(), m.echoIdent(), m.echoSeq()]).toEqual([0, 0, 0x8dac, 0x1e36, 1]); // icmp.type 0, checksum 0x8dac, ident 7734, seq 1
    expect(m.verifyChecksum()).toBe(true);
  });
});

// ------------------------------------------------------------------------------ all frames

describe('every real frame', () => {
  it.each(Object.entries(ALL))('%s: emit(parse(x)) reproduces the whole frame', (_name, hex) => {
    expectRoundTrip(frame(hex));
  });

  it.each(Object.entries(ALL))('%s: the Ethernet header re-emits from its Repr', (_name, hex) => {
    const buf = frame(hex);
    const r = ok(parseEthernet(new EthernetFrame().wrap(buf, 0, buf.length)));
    const out = new Uint8Array(ethernetHeaderLen(r));
    emitEthernet(r, out, 0);
    expect(Buffer.from(out).equals(Buffer.from(buf.subarray(0, out.length)))).toBe(true);
  });

  it.each(Object.entries(ALL_IPV4))('%s: IPv4 SNAT/DNAT/TTL rewrites equal a full recompute', (_name, hex) => {
    expectIpv4Incremental(hex);
  });

  it('VLAN frame: IPv4 rewrites behind the tag equal a full recompute', () => {
    expectIpv4Incremental(F.VLAN_ICMP_ECHO_REQUEST, 18);
  });

  it('VXLAN frames: rewrites of the inner IPv4 header equal a full recompute', () => {
    expectIpv4Incremental(F.VXLAN_8472_ICMP_ECHO_REQUEST, 14 + 20 + 8 + 8 + 14);
    expectIpv4Incremental(F.VXLAN_4789_ICMP_ECHO_REPLY, 14 + 20 + 8 + 8 + 14);
  });

  it.each(['TCP_SYN', 'TCP_SYN_ACK', 'TCP_HTTP_GET', 'TCP_FIN'] as const)('%s: DNAT + port/seq/ack rewrites equal a full recompute', (name) => {
    expectL4Dnat(F[name], 'tcp');
  });

  it.each(['UDP_TO_CLOSED_PORT', 'DNS_QUERY', 'DNS_RESPONSE', 'VXLAN_4789_ICMP_ECHO_REPLY', 'VXLAN_8472_ICMP_ECHO_REQUEST'] as const)(
    '%s: UDP DNAT + port rewrites equal a full recompute (a zero checksum stays zero)', (name) => {
      expectL4Dnat(F[name], 'udp');
    },
  );

  it.each(['ICMP_ECHO_REQUEST', 'ICMP_ECHO_REPLY', 'VLAN_ICMP_ECHO_REQUEST'] as const)('%s: echo identifier NAT equals a full recompute', (name) => {
    const buf = frame(F[name]);
    const m = icmpOf(l3(buf));
    m.setEchoIdentFixChecksum(0xbeef);
    expect(m.echoIdent()).toBe(0xbeef);
    expect(m.checksum()).toBe(icmpFull(m));
    expect(m.verifyChecksum()).toBe(true);
  });

  it('port unreachable: reverse SNAT of the quoted datagram keeps ICMP, quoted IPv4 and quoted UDP checksums equal to full recomputes', () => {
    // pwfx-a's datagram left through a SNAT (10.244.1.2:37337 -> 100.64.0.1:61000) and the error
    // comes back quoting the translated datagram; undo it here as conntrack would, the other way
    // round: rewrite the quote from the real values to the translated ones.
    const buf = frame(F.ICMP_PORT_UNREACHABLE);
    const m = icmpOf(l3(buf));
    const q = new Ipv4Packet().wrap(buf, m.originalOffset(), m.originalLen());
    const qu = new UdpPacket().wrap(buf, q.payloadOffset(), q.payloadLen());
    const oldSrc = q.srcAddr();
    const newSrc = ip4('100.64.0.1');
    const oldIpSum = q.checksum();
    const oldUdpSum = qu.checksum();
    const oldPort = qu.srcPort();
    q.setSrcAddrFixChecksum(newSrc);
    qu.fixChecksumForAddrChange(oldSrc, newSrc);
    qu.setSrcPortFixChecksum(61000);
    // Every changed 16-bit word of the quote, fed to the ICMP checksum.
    m.adjustChecksum32(oldSrc, newSrc);
    m.adjustChecksum16(oldIpSum, q.checksum());
    m.adjustChecksum16(oldPort, 61000);
    m.adjustChecksum16(oldUdpSum, qu.checksum());
    expect(q.checksum()).toBe(ipFull(q));
    expect(q.verifyChecksum()).toBe(true);
    expect(qu.checksum()).toBe(udpFull(qu, newSrc, q.dstAddr()));
    expect(m.checksum()).toBe(icmpFull(m));
    expect(m.verifyChecksum()).toBe(true);
  });

  it('frag needed: rewriting the quoted destination (DNAT undo) keeps both checksums equal to full recomputes', () => {
    const buf = frame(F.ICMP_FRAG_NEEDED);
    const m = icmpOf(l3(buf));
    const q = new Ipv4Packet().wrap(buf, m.originalOffset(), m.originalLen());
    const oldDst = q.dstAddr();
    const oldIpSum = q.checksum();
    q.setDstAddrFixChecksum(ip4('10.96.0.20'));
    m.adjustChecksum32(oldDst, ip4('10.96.0.20'));
    m.adjustChecksum16(oldIpSum, q.checksum());
    expect(q.checksum()).toBe(ipFull(q));
    expect(m.checksum()).toBe(icmpFull(m));
  });

  it.each(Object.entries(ALL_IPV4))('%s: a one-bit flip in the IPv4 header fails its checksum', (_name, hex) => {
    const buf = frame(hex);
    const ip = l3(buf);
    buf[ip.off + 8]! ^= 0x01; // TTL
    expect(ip.verifyChecksum()).toBe(false);
    expect(parseIpv4Header(ip)).toBe(5); // WireError.BadChecksum
  });
});
