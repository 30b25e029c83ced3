import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpv4, readU16, readU32, writeU16, writeU32 } from '../wire/addr.js';
import { checksum } from '../wire/checksum.js';
import { emitSctpInit, sctpChecksumOk } from '../wire/sctp.js';
import { PacketTuple, TupleKind } from './packet-tuple.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import { TcpPacket } from '../wire/tcp.js';
import { UdpPacket } from '../wire/udp.js';
import { IcmpPacket } from '../wire/icmp.js';
import { NatSide, natRewriteDst, natRewriteIcmpErrorInner, natRewriteSrc } from './nat.js';
import { buildIcmpError, buildPacket, recomputeAll, type PacketSpec } from './test-packets.js';

const runs = Number(process.env.PODWIRE_FC_RUNS ?? 2000);
const ip = parseIpv4;
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/**
 * Byte equality for the property loops. `expect(a).toEqual(b)` on typed arrays walks them
 * element by element through vitest's generic equality, which is most of a case's cost at
 * CI's 100,000 cases; this compares directly and calls it only to report a mismatch.
 */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  let same = actual.length === expected.length;
  for (let i = 0; same && i < actual.length; i++) same = actual[i] === expected[i];
  if (!same) expect(actual).toEqual(expected);
}

/** Packet copy with every checksum recomputed from scratch. */
function recomputed(buf: Uint8Array, off: number): Uint8Array {
  const c = Uint8Array.from(buf);
  recomputeAll(c, off);
  return c;
}

const spec: fc.Arbitrary<PacketSpec> = fc.record({
  proto: fc.constantFrom(6, 17, 1),
  src: u32, dst: u32, sport: u16, dport: u16,
  payload: fc.uint8Array({ maxLength: 41 }),
  flags: fc.integer({ min: 0, max: 0xff }),
  icmpType: fc.constantFrom(0, 8),
  udpNoChecksum: fc.boolean(),
});

describe('natRewriteDst / natRewriteSrc', () => {
  it('DNATs a TCP SYN from a VIP to an endpoint, checksums as a full recompute', () => {
    const buf = new Uint8Array(100);
    buildPacket({ proto: 6, src: ip('10.244.1.2'), dst: ip('10.96.0.20'), sport: 40000, dport: 80, flags: 0x02 }, buf, 14);
    natRewriteDst(buf, 14, ip('10.244.2.2'), 8080);
    const v = new Ipv4Packet().wrap(buf, 14, 40);
    expect(v.dstAddr()).toBe(ip('10.244.2.2'));
    expect(v.verifyChecksum()).toBe(true);
    const t = new TcpPacket().wrap(buf, 34, 20);
    expect(t.dstPort()).toBe(8080);
    expect(t.srcPort()).toBe(40000);
    expect(t.verifyChecksum(ip('10.244.1.2'), ip('10.244.2.2'))).toBe(true);
    expect(buf).toEqual(recomputed(buf, 14));
  });

  it('keeps a zero UDP checksum zero', () => {
    const buf = new Uint8Array(64);
    buildPacket({ proto: 17, src: ip('10.244.1.2'), dst: ip('10.96.0.10'), sport: 5353, dport: 53, udpNoChecksum: true, payload: new Uint8Array(5).fill(7) }, buf, 0);
    natRewriteDst(buf, 0, ip('10.244.2.3'), 5353);
    natRewriteSrc(buf, 0, ip('10.244.1.1'), 33000);
    expect(readU16(buf, 26)).toBe(0);
    const u = new UdpPacket().wrap(buf, 20, 13);
    expect([u.srcPort(), u.dstPort()]).toEqual([33000, 5353]);
    expect(buf).toEqual(recomputed(buf, 0));
  });

  it('sends a UDP checksum that computes to 0 as 0xffff', () => {
    const orig = new Uint8Array(40);
    buildPacket({ proto: 17, src: ip('10.244.1.2'), dst: ip('10.96.0.10'), sport: 5353, dport: 53, payload: new Uint8Array([1, 2, 3]) }, orig, 0);
    let hits = 0;
    for (let port = 0; port <= 0xffff; port++) {
      const buf = Uint8Array.from(orig);
      natRewriteDst(buf, 0, ip('10.244.2.3'), port);
      const full = recomputed(buf, 0);
      if (readU16(full, 26) !== 0xffff) continue;
      hits++;
      expect(readU16(buf, 26)).toBe(0xffff);
    }
    expect(hits).toBe(1);
  });

  it('rewrites the echo identifier as the port of ICMP echo, and nothing else of other ICMP', () => {
    const buf = new Uint8Array(64);
    buildPacket({ proto: 1, src: ip('10.244.1.2'), dst: ip('10.244.2.2'), sport: 7, dport: 0, payload: new Uint8Array([1, 2, 3]) }, buf, 0);
    natRewriteSrc(buf, 0, ip('192.168.0.10'), 4242);
    expect(new IcmpPacket().wrap(buf, 20, 11).echoIdent()).toBe(4242);
    expect(buf).toEqual(recomputed(buf, 0));
    natRewriteDst(buf, 0, ip('10.244.9.9'), 4242); // same identifier: only the address
    expect(new IcmpPacket().wrap(buf, 20, 11).echoIdent()).toBe(4242);
    expect(buf).toEqual(recomputed(buf, 0));
  });

  it('gives 0xffff for the one all-zero echo message, as a full recompute does', () => {
    const buf = new Uint8Array(28);
    buildPacket({ proto: 1, icmpType: 0, src: ip('10.0.0.1'), dst: ip('10.0.0.2'), sport: 9, dport: 0 }, buf, 0);
    writeU16(buf, 26, 0); // sequence 0
    recomputeAll(buf, 0);
    natRewriteDst(buf, 0, ip('10.0.0.3'), 0); // identifier 9 -> 0: the message is now all zeros
    expect(readU16(buf, 22)).toBe(0xffff);
    expect(buf).toEqual(recomputed(buf, 0));
  });

  it('changes only the address of a non-first fragment', () => {
    const buf = new Uint8Array(64);
    buildPacket({ proto: 17, src: ip('10.0.0.1'), dst: ip('10.0.0.2'), sport: 1, dport: 2, payload: new Uint8Array(16).fill(9) }, buf, 0);
    const v = new Ipv4Packet().wrap(buf, 0, 44);
    v.setFragOffsetBytes(8);
    v.fillChecksum();
    const before = Uint8Array.from(buf.subarray(20));
    natRewriteDst(buf, 0, ip('10.0.0.3'), 99);
    expect(buf.subarray(20)).toEqual(before);
    expect(v.dstAddr()).toBe(ip('10.0.0.3'));
    expect(v.verifyChecksum()).toBe(true);
  });

  it('property: incremental checksums equal full recomputes for TCP, UDP (with and without checksum), ICMP echo', () => {
    fc.assert(fc.property(spec, fc.nat({ max: 7 }), fc.boolean(), u32, u16, (s, off, dst, newIp, newPort) => {
      const buf = new Uint8Array(off + 100);
      const n = buildPacket(s, buf, off);
      const zero = s.proto === 17 && readU16(buf, off + 26) === 0;
      if (dst) natRewriteDst(buf, off, newIp, newPort);
      else natRewriteSrc(buf, off, newIp, newPort);
      expect(readU32(buf, off + (dst ? 16 : 12))).toBe(newIp);
      const portOff = s.proto === 1 ? off + 24 : off + 20 + (dst ? 2 : 0);
      expect(readU16(buf, portOff)).toBe(newPort);
      if (zero) expect(readU16(buf, off + 26)).toBe(0);
      expectBytes(buf.subarray(0, off + n), recomputed(buf, off).subarray(0, off + n));
    }), { numRuns: runs });
  });
});

describe('natRewriteIcmpErrorInner', () => {
  const CLIENT = ip('10.244.1.2'), VIP = ip('10.96.0.20'), EP = ip('10.244.2.2');

  it('un-DNATs a port unreachable from an endpoint: outer source and quoted destination become the VIP', () => {
    // The client's UDP datagram after DNAT: CLIENT:5000 -> EP:8080.
    const orig = new Uint8Array(40);
    const n = buildPacket({ proto: 17, src: CLIENT, dst: EP, sport: 5000, dport: 8080, payload: new Uint8Array(12).fill(1) }, orig, 0);
    const buf = new Uint8Array(100);
    const len = buildIcmpError(EP, CLIENT, 3, 3, orig.subarray(0, n), buf, 0);
    natRewriteSrc(buf, 0, VIP, 0);
    expect(natRewriteIcmpErrorInner(buf, 0, NatSide.Dst, VIP, 80)).toBe(true);
    const outer = new Ipv4Packet().wrap(buf, 0, len);
    expect(outer.srcAddr()).toBe(VIP);
    const inner = new Ipv4Packet().wrap(buf, 28, len - 28);
    expect(inner.dstAddr()).toBe(VIP);
    expect(inner.srcAddr()).toBe(CLIENT);
    expect(readU16(buf, 48 + 2)).toBe(80);
    expect(buf.subarray(0, len)).toEqual(recomputed(buf, 0).subarray(0, len));
    expect(new IcmpPacket().wrap(buf, 20, len - 20).verifyChecksum()).toBe(true);
    expect(new UdpPacket().wrap(buf, 48, n - 20).verifyChecksum(CLIENT, VIP)).toBe(true);
  });

  it('refuses a quote without an IPv4 header', () => {
    const buf = new Uint8Array(64);
    const len = buildIcmpError(EP, CLIENT, 3, 3, new Uint8Array(12), buf, 0);
    const before = Uint8Array.from(buf);
    expect(natRewriteIcmpErrorInner(buf, 0, NatSide.Dst, VIP, 80)).toBe(false);
    expect(buf.subarray(0, len)).toEqual(before.subarray(0, len));
  });

  it('property: quoted TCP/UDP/echo datagrams, whole or cut to IHL+8, match full recomputes', () => {
    fc.assert(fc.property(spec, fc.boolean(), u32, u16, u32, u32, fc.constantFrom(3, 11), (s, dstSide, newIp, newPort, osrc, odst, type) => {
      const orig = new Uint8Array(100);
      const n = buildPacket(s, orig, 0);
      const run = (quoteLen: number): Uint8Array => {
        const buf = new Uint8Array(200);
        const len = buildIcmpError(osrc, odst, type, 0, orig.subarray(0, quoteLen), buf, 2);
        // The outer side opposite to the quote's side, as NatHooks does.
        if (dstSide) natRewriteSrc(buf, 2, newIp, 0);
        else natRewriteDst(buf, 2, newIp, 0);
        expect(natRewriteIcmpErrorInner(buf, 2, dstSide ? NatSide.Dst : NatSide.Src, newIp, newPort)).toBe(true);
        expectBytes(buf.subarray(0, 2 + len), recomputed(buf, 2).subarray(0, 2 + len));
        return buf.subarray(2 + 28, 2 + len);
      };
      const whole = run(n);
      expect(readU32(whole, dstSide ? 16 : 12)).toBe(newIp);
      const portOff = s.proto === 1 ? 24 : 20 + (dstSide ? 2 : 0);
      expect(readU16(whole, portOff)).toBe(newPort);
      if (s.proto === 17 && s.udpNoChecksum === true) expect(readU16(whole, 26)).toBe(0);
      const cut = run(Math.min(n, 28));
      // The first IHL+8 quoted bytes come out the same whether the rest was quoted or not.
      expectBytes(cut, whole.subarray(0, cut.length));
    }), { numRuns: runs });
  });
});

describe('SCTP (protocol 132)', () => {
  /** 10.244.1.2:40000 -> 10.96.0.20:80, an INIT. */
  function sctpInit(): Uint8Array {
    const b = new Uint8Array(20 + 32);
    b[0] = 0x45; writeU16(b, 2, b.length); b[8] = 64; b[9] = 132;
    writeU32(b, 12, ip('10.244.1.2')); writeU32(b, 16, ip('10.96.0.20'));
    writeU16(b, 10, checksum(b, 0, 20));
    emitSctpInit({ srcPort: 40000, dstPort: 80, vtag: 0, initiateTag: 7, initialTsn: 9 }, false, b, 20);
    return b;
  }

  it('DNAT of address and port keeps the IPv4 header checksum and recomputes the CRC32c', () => {
    const b = sctpInit();
    natRewriteDst(b, 0, ip('10.244.2.3'), 8080);
    expect(readU32(b, 16)).toBe(ip('10.244.2.3'));
    expect(readU16(b, 22)).toBe(8080);
    expect(checksum(b, 0, 20)).toBe(0);
    expect(sctpChecksumOk(b, 20, 32)).toBe(true);
  });

  it('an address-only rewrite leaves the CRC32c as it was (no pseudo-header)', () => {
    const b = sctpInit();
    const before = b.slice(28, 32);
    natRewriteSrc(b, 0, ip('10.244.1.1'), 40000);
    expect(b.slice(28, 32)).toEqual(before);
    expect(sctpChecksumOk(b, 20, 32)).toBe(true);
  });

  it('conntrack reads its ports as a tuple (PacketTuple), a runt header is invalid', () => {
    const t = new PacketTuple();
    const b = sctpInit();
    expect(t.parse(b, 0)).toBe(TupleKind.Normal);
    expect([t.proto, t.sport, t.dport]).toEqual([132, 40000, 80]);
    const runt = b.slice(0, 28);
    writeU16(runt, 2, 28);
    expect(t.parse(runt, 0)).toBe(TupleKind.Invalid);
  });
});
