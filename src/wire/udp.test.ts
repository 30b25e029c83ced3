import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from './errors.js';
import { UdpPacket, emitUdp, fillUdpChecksum, parseUdp, udpHeaderLen, type UdpRepr } from './udp.js';

const runs = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

const POD1 = 0x0af40102; // 10.244.1.2
const DNS_VIP = 0x0a60000a; // 10.96.0.10

// A DNS query for kubernetes.default.svc.cluster.local A, built by hand (not a capture):
// 10.244.1.2:53000 -> 10.96.0.10:53. Checksum 0x0dc0 cross-checked with a Python RFC 1071 sum.
const DNS_QUERY = hex(`
  cf 08 00 35 00 3e 0d c0
  4a 2f 01 00 00 01 00 00 00 00 00 00
  0a 6b 75 62 65 72 6e 65 74 65 73 07 64 65 66 61 75 6c 74 03 73 76 63
  07 63 6c 75 73 74 65 72 05 6c 6f 63 61 6c 00 00 01 00 01
`);
//  cf 08  source port 53000
//  00 35  destination port 53
//  00 3e  length 62 (8 + 54)
//  0d c0  checksum
//  then the DNS header (id 0x4a2f, flags 0x0100 RD, qdcount 1) and the question.

describe('UdpPacket', () => {
  it('parses a DNS query field by field', () => {
    const p = new UdpPacket().wrap(DNS_QUERY, 0, DNS_QUERY.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.srcPort()).toBe(53000);
    expect(p.dstPort()).toBe(53);
    expect(p.length()).toBe(62);
    expect(p.checksum()).toBe(0x0dc0);
    expect(p.payloadOffset()).toBe(8);
    expect(p.payloadLen()).toBe(54);
    expect((DNS_QUERY[p.payloadOffset()]! << 8) | DNS_QUERY[p.payloadOffset() + 1]!).toBe(0x4a2f);
    expect(p.verifyChecksum(POD1, DNS_VIP)).toBe(true);
    expect(p.verifyChecksum(POD1, DNS_VIP + 1)).toBe(false);
    expect(parseUdp(p, POD1, DNS_VIP)).toEqual({ srcPort: 53000, dstPort: 53, payloadLen: 54 });
  });

  it('builds the same bytes', () => {
    const buf = new Uint8Array(70).fill(0xee);
    const repr: UdpRepr = { srcPort: 53000, dstPort: 53, payloadLen: 54 };
    expect(emitUdp(repr, buf, 4)).toBe(udpHeaderLen(repr));
    buf.set(DNS_QUERY.subarray(8), 12);
    fillUdpChecksum(buf, 4, POD1, DNS_VIP);
    expect(buf.subarray(4, 66)).toEqual(DNS_QUERY);
    expect(buf[3]).toBe(0xee);
    expect(buf[66]).toBe(0xee);
  });

  it('honours the offset and ignores bytes past the length field', () => {
    const buf = new Uint8Array(3 + DNS_QUERY.length + 4);
    buf.set(DNS_QUERY, 3);
    const p = new UdpPacket().wrap(buf, 3, DNS_QUERY.length + 4);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.payloadOffset()).toBe(11);
    expect(p.payloadLen()).toBe(54);
    expect(p.verifyChecksum(POD1, DNS_VIP)).toBe(true);
  });

  it('rejects every impossible length', () => {
    const p = new UdpPacket();
    for (let n = 0; n < 8; n++) expect(p.wrap(DNS_QUERY, 0, n).check()).toBe(WireError.Truncated);
    expect(p.wrap(DNS_QUERY, 0, 61).check()).toBe(WireError.BadLength); // field says 62
    expect(p.wrap(DNS_QUERY, 1, 62).check()).toBe(WireError.Truncated); // past the buffer
    const b = Uint8Array.from(DNS_QUERY);
    for (let l = 0; l < 8; l++) {
      b[4] = 0; b[5] = l;
      expect(p.wrap(b, 0, b.length).check()).toBe(WireError.BadLength);
    }
    b[5] = 8;
    expect(p.wrap(b, 0, b.length).check()).toBe(WireError.Ok);
    expect(p.payloadLen()).toBe(0);
    b[4] = 0xff; b[5] = 0xff;
    expect(p.wrap(b, 0, b.length).check()).toBe(WireError.BadLength);
    expect(parseUdp(p, POD1, DNS_VIP)).toBe(WireError.BadLength);
  });

  it('rejects a bad checksum and destination port 0', () => {
    const b = Uint8Array.from(DNS_QUERY);
    b[20] = b[20]! ^ 1;
    const p = new UdpPacket().wrap(b, 0, b.length);
    expect(parseUdp(p, POD1, DNS_VIP)).toBe(WireError.BadChecksum);
    b[20] = b[20]! ^ 1;
    p.setDstPortFixChecksum(0);
    expect(p.verifyChecksum(POD1, DNS_VIP)).toBe(true);
    expect(parseUdp(p, POD1, DNS_VIP)).toBe(WireError.Malformed);
  });

  it('accepts a zero checksum as "none", and keeps it zero through NAT', () => {
    const b = Uint8Array.from(DNS_QUERY);
    b[6] = 0; b[7] = 0;
    const p = new UdpPacket().wrap(b, 0, b.length);
    expect(p.verifyChecksum(0x01020304, 0x05060708)).toBe(true);
    p.setSrcPortFixChecksum(40000);
    p.setDstPortFixChecksum(5353);
    p.fixChecksumForAddrChange(DNS_VIP, 0x0af40203);
    expect(p.checksum()).toBe(0);
    expect(p.srcPort()).toBe(40000);
    expect(p.dstPort()).toBe(5353);
  });

  it('sends a computed 0 as 0xffff (RFC 768), and verifies it', () => {
    // 10.0.0.1:1234 -> 10.0.0.2:5678, 2 data bytes d0 d7: the sum folds to 0xffff (found by a Python search)
    const b = hex('04 d2 16 2e 00 0a 00 00 d0 d7');
    fillUdpChecksum(b, 0, 0x0a000001, 0x0a000002);
    expect((b[6]! << 8) | b[7]!).toBe(0xffff);
    expect(new UdpPacket().wrap(b, 0, 10).verifyChecksum(0x0a000001, 0x0a000002)).toBe(true);
  });

  it('NAT fix-ups equal a full recompute (kube-proxy DNAT of the DNS VIP)', () => {
    const b = Uint8Array.from(DNS_QUERY);
    const p = new UdpPacket().wrap(b, 0, b.length);
    const coredns = 0x0af40205; // 10.244.2.5
    p.fixChecksumForAddrChange(DNS_VIP, coredns);
    p.setDstPortFixChecksum(5353);
    const inc = p.checksum();
    p.fillChecksum(POD1, coredns);
    expect(inc).toBe(p.checksum());
    expect(p.verifyChecksum(POD1, coredns)).toBe(true);
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const datagram = fc.record({
  srcPort: u16, dstPort: fc.integer({ min: 1, max: 0xffff }),
  payload: fc.uint8Array({ maxLength: 64 }), src: u32, dst: u32, lead: fc.nat({ max: 5 }),
});

function build(d: { srcPort: number; dstPort: number; payload: Uint8Array; src: number; dst: number; lead: number }): Uint8Array {
  const b = new Uint8Array(d.lead + 8 + d.payload.length);
  emitUdp({ srcPort: d.srcPort, dstPort: d.dstPort, payloadLen: d.payload.length }, b, d.lead);
  b.set(d.payload, d.lead + 8);
  fillUdpChecksum(b, d.lead, d.src, d.dst);
  return b;
}

describe('UDP properties', () => {
  it('check() and parse never throw on arbitrary bytes', () => {
    const p = new UdpPacket();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat({ max: 90 }), u32, u32, (b, len, s, d) => {
      const c = p.wrap(b, 0, len).check();
      expect(c === WireError.Ok || c === WireError.Truncated || c === WireError.BadLength).toBe(true);
      const r = parseUdp(p, s, d);
      if (c !== WireError.Ok) expect(r).toBe(c);
    }), { numRuns: runs });
  });

  it('emit(parse(x)) equals x', () => {
    const p = new UdpPacket();
    fc.assert(fc.property(datagram, (d) => {
      const x = build(d);
      const r = parseUdp(p.wrap(x, d.lead, x.length - d.lead), d.src, d.dst);
      if (typeof r === 'number') throw new Error(`parse failed: ${r}`);
      const y = new Uint8Array(x.length);
      emitUdp(r, y, d.lead);
      y.set(x.subarray(p.payloadOffset(), p.payloadOffset() + r.payloadLen), d.lead + 8);
      fillUdpChecksum(y, d.lead, d.src, d.dst);
      expect(Buffer.compare(y, x)).toBe(0);
    }), { numRuns: runs });
  });

  it('incremental fix-ups equal a full recompute for random rewrites', () => {
    const p = new UdpPacket();
    fc.assert(fc.property(datagram, u16, u16, u32, u32, (d, sp, dp, ns, nd) => {
      const x = build(d);
      p.wrap(x, d.lead, x.length - d.lead);
      p.setSrcPortFixChecksum(sp);
      p.setDstPortFixChecksum(dp);
      p.fixChecksumForAddrChange(d.src, ns);
      p.fixChecksumForAddrChange(d.dst, nd);
      const inc = p.checksum();
      p.fillChecksum(ns, nd);
      expect(inc).toBe(p.checksum());
      expect(p.verifyChecksum(ns, nd)).toBe(true);
    }), { numRuns: runs });
  });
});
