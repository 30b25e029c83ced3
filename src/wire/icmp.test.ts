import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum } from './checksum.js';
import { WireError } from './errors.js';
import {
  IcmpCode, IcmpPacket, IcmpType, emitIcmp, emitIcmpError, icmpLen, isIcmpError, parseIcmp, writeIcmpEchoHeader, type IcmpRepr,
} from './icmp.js';

const runs = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

// An echo request shaped like Linux iputils `ping` sends (built by hand, not a capture):
// 56 data bytes = a 16-byte struct timeval (tv_sec 1700000000, tv_usec 123456, little-endian)
// followed by the pattern 0x10..0x37. Checksum 0x95b5 cross-checked with a Python RFC 1071 sum.
const ECHO = hex(`
  08 00 95 b5 0d 3e 00 01
  00 f1 53 65 00 00 00 00 40 e2 01 00 00 00 00 00
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27
  28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37
`);
//  08     type 8 echo request
//  00     code 0
//  95 b5  checksum
//  0d 3e  identifier 0x0d3e
//  00 01  sequence 1
const ECHO_DATA = ECHO.subarray(8);

// The IPv4 header of a UDP DNS query 10.244.1.2 -> 10.96.0.10 (total length 82, id 0x3c1a,
// DF, ttl 64, header checksum 0xe821) and the first 8 bytes of its UDP header.
const ORIG_IP = hex('45 00 00 52 3c 1a 40 00 40 11 e8 21 0a f4 01 02 0a 60 00 0a');
const ORIG_UDP8 = hex('cf 08 00 35 00 3e 0d c0');
// Port unreachable quoting them; checksum 0x1fc1 (Python).
const PORT_UNREACH = hex(`03 03 1f c1 00 00 00 00 ${[...ORIG_IP, ...ORIG_UDP8].map((b) => b.toString(16)).join(' ')}`);
//  03 03  dest unreachable / port unreachable, 1f c1 checksum, 4 unused bytes, quote

describe('IcmpPacket', () => {
  it('parses a ping echo request field by field', () => {
    const p = new IcmpPacket().wrap(ECHO, 0, ECHO.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.type()).toBe(IcmpType.EchoRequest);
    expect(p.code()).toBe(0);
    expect(p.checksum()).toBe(0x95b5);
    expect(p.echoIdent()).toBe(0x0d3e);
    expect(p.echoSeq()).toBe(1);
    expect(p.payloadOffset()).toBe(8);
    expect(p.payloadLen()).toBe(56);
    expect(p.isError()).toBe(false);
    expect(p.verifyChecksum()).toBe(true);
    expect(parseIcmp(p)).toEqual({ kind: 'echo-request', ident: 0x0d3e, seq: 1, data: Uint8Array.from(ECHO_DATA) });
  });

  it('builds the same bytes, and the reply (checksum 0x9db5, Python)', () => {
    const buf = new Uint8Array(70).fill(0xee);
    const req: IcmpRepr = { kind: 'echo-request', ident: 0x0d3e, seq: 1, data: ECHO_DATA };
    expect(emitIcmp(req, buf, 2)).toBe(64);
    expect(icmpLen(req)).toBe(64);
    expect(buf.subarray(2, 66)).toEqual(ECHO);
    expect(buf[1]).toBe(0xee);
    expect(buf[66]).toBe(0xee);
    emitIcmp({ ...req, kind: 'echo-reply' }, buf, 0);
    expect([buf[0], buf[1], buf[2], buf[3]]).toEqual([0, 0, 0x9d, 0xb5]);
  });

  it('parses a port unreachable and builds it with emitIcmpError from the original datagram', () => {
    const p = new IcmpPacket().wrap(PORT_UNREACH, 0, PORT_UNREACH.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.isError()).toBe(true);
    expect(p.checksum()).toBe(0x1fc1);
    expect(p.originalOffset()).toBe(8);
    expect(p.originalLen()).toBe(28);
    expect(parseIcmp(p)).toEqual({ kind: 'dest-unreachable', code: IcmpCode.PortUnreachable, original: PORT_UNREACH.slice(8) });
    // The whole original datagram (82 bytes): only header + 8 bytes are quoted.
    const orig = new Uint8Array(82);
    orig.set(ORIG_IP, 0);
    orig.set(ORIG_UDP8, 20);
    orig.fill(0x5a, 28);
    const out = new Uint8Array(40);
    expect(emitIcmpError(out, 2, IcmpType.DestUnreachable, IcmpCode.PortUnreachable, 0, orig, 0, 82)).toBe(36);
    expect(out.subarray(2, 38)).toEqual(PORT_UNREACH);
  });

  it('builds frag-needed with the next-hop MTU (RFC 1191; checksum 0x1a16, Python)', () => {
    const orig = Uint8Array.from([...ORIG_IP, ...ORIG_UDP8]);
    const out = new Uint8Array(36);
    emitIcmpError(out, 0, IcmpType.DestUnreachable, IcmpCode.FragNeeded, 1450, orig, 0, orig.length);
    expect(Array.from(out.subarray(0, 8))).toEqual([3, 4, 0x1a, 0x16, 0, 0, 0x05, 0xaa]);
    const p = new IcmpPacket().wrap(out, 0, 36);
    expect(p.nextHopMtu()).toBe(1450);
    expect(parseIcmp(p)).toEqual({ kind: 'dest-unreachable', code: 4, nextHopMtu: 1450, original: orig });
    const r = parseIcmp(p) as IcmpRepr;
    const again = new Uint8Array(36);
    emitIcmp(r, again, 0);
    expect(again).toEqual(out);
  });

  it('emitIcmpError quotes fewer bytes of a short datagram and handles an overlapping source', () => {
    const orig = Uint8Array.from([...ORIG_IP, 1, 2, 3]);
    const out = new Uint8Array(31);
    expect(emitIcmpError(out, 0, IcmpType.TimeExceeded, IcmpCode.TtlExceeded, 0, orig, 0, orig.length)).toBe(31);
    expect(new IcmpPacket().wrap(out, 0, 31).verifyChecksum()).toBe(true);
    expect(parseIcmp(new IcmpPacket().wrap(out, 0, 31))).toEqual({ kind: 'time-exceeded', code: 0, original: orig });
    // In place: the original sits at 8 in a packet buffer, the error is built at 0 (and at 20).
    for (const at of [0, 4, 20]) {
      const buf = new Uint8Array(60);
      buf.set(orig, 8);
      const n = emitIcmpError(buf, at, IcmpType.TimeExceeded, 0, 0, buf, 8, orig.length);
      expect(buf.subarray(at + 8, at + n)).toEqual(orig);
      expect(checksum(buf, at, n)).toBe(0);
    }
  });

  it('rejects impossible lengths, bad checksums and errors without an IPv4 quote', () => {
    const p = new IcmpPacket();
    for (let n = 0; n < 8; n++) expect(p.wrap(ECHO, 0, n).check()).toBe(WireError.Truncated);
    expect(p.wrap(ECHO, 1, 64).check()).toBe(WireError.Truncated);
    expect(parseIcmp(p.wrap(ECHO, 0, 63))).toBe(WireError.BadChecksum);
    const bad = Uint8Array.from(PORT_UNREACH);
    bad[8] = 0x65; // version 6
    p.wrap(bad, 0, bad.length).fillChecksum();
    expect(parseIcmp(p)).toBe(WireError.Malformed);
    bad[8] = 0x4f; // IHL 60 > 28 quoted bytes
    p.fillChecksum();
    expect(parseIcmp(p)).toBe(WireError.Malformed);
    p.wrap(bad, 0, 27).fillChecksum(); // fewer than 20 quoted bytes
    expect(parseIcmp(p)).toBe(WireError.Malformed);
  });

  it('keeps unknown types and echo with a non-zero code byte for byte', () => {
    const b = hex('0d 00 00 00 12 34 00 07 01 02 03 04 05'); // timestamp request, odd length
    const p = new IcmpPacket().wrap(b, 0, b.length);
    p.fillChecksum();
    const r = parseIcmp(p);
    expect(r).toEqual({ kind: 'other', type: 13, code: 0, rest: 0x12340007, data: hex('01 02 03 04 05') });
    const y = new Uint8Array(b.length);
    emitIcmp(r as IcmpRepr, y, 0);
    expect(y).toEqual(b);
    const e = Uint8Array.from(ECHO);
    p.wrap(e, 0, e.length).setCode(1);
    p.fillChecksum();
    expect((parseIcmp(p) as IcmpRepr).kind).toBe('other');
    expect(isIcmpError(IcmpType.ParameterProblem)).toBe(true);
    expect(isIcmpError(IcmpType.EchoReply)).toBe(false);
  });

  it('echo identifier rewrite (NAT) equals a full recompute', () => {
    const b = Uint8Array.from(ECHO);
    const p = new IcmpPacket().wrap(b, 0, b.length);
    p.setEchoIdentFixChecksum(0x8001);
    expect(p.echoIdent()).toBe(0x8001);
    const inc = p.checksum();
    p.fillChecksum();
    expect(inc).toBe(p.checksum());
  });

  it('an all-zero echo reply keeps the only valid checksum, 0xffff', () => {
    const b = new Uint8Array(8);
    const p = new IcmpPacket().wrap(b, 0, 8);
    p.setEchoIdent(5);
    p.fillChecksum();
    expect(p.checksum()).toBe(0xfffa);
    p.setEchoIdentFixChecksum(0);
    expect(p.checksum()).toBe(0xffff);
    expect(p.verifyChecksum()).toBe(true);
    p.setEchoIdentFixChecksum(0);
    expect(p.checksum()).toBe(0xffff);
  });
});

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const quote = fc.tuple(fc.integer({ min: 5, max: 15 }), fc.uint8Array({ maxLength: 80 })).map(([ihl, rest]) => {
  const q = new Uint8Array(ihl * 4 + rest.length);
  q[0] = 0x40 | ihl;
  q.set(rest.subarray(0, Math.max(0, q.length - 1)), 1);
  return q;
});
const reprArb: fc.Arbitrary<IcmpRepr> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: u16, seq: u16, data: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ kind: fc.constant('dest-unreachable' as const), code: u8.filter((c) => c !== 4), original: quote }),
  fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.constant(4), nextHopMtu: u16, original: quote }),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: u8, original: quote }),
  fc.record({
    kind: fc.constant('other' as const), type: u8.filter((t) => t !== 0 && t !== 3 && t !== 8 && t !== 11),
    code: u8, rest: fc.integer({ min: 0, max: 0xffffffff }), data: fc.uint8Array({ maxLength: 100 }),
  }),
);

describe('ICMP properties', () => {
  it('check() and parse never throw on arbitrary bytes', () => {
    const p = new IcmpPacket();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100, size: 'max' }), fc.nat({ max: 110 }), (b, len) => {
      const c = p.wrap(b, 0, len).check();
      const r = parseIcmp(p);
      if (c !== WireError.Ok) expect(r).toBe(c);
    }), { numRuns: runs });
  });

  it('emit(parse(x)) equals x, and parse(emit(r)) equals r', () => {
    const p = new IcmpPacket();
    fc.assert(fc.property(reprArb, fc.nat({ max: 5 }), (r, lead) => {
      const x = new Uint8Array(lead + icmpLen(r));
      expect(emitIcmp(r, x, lead)).toBe(icmpLen(r));
      const back = parseIcmp(p.wrap(x, lead, icmpLen(r)));
      if (typeof back === 'number') throw new Error(`parse failed: ${back}`);
      expect(back).toEqual(r);
      const y = new Uint8Array(x.length);
      emitIcmp(back, y, lead);
      expect(Buffer.compare(y, x)).toBe(0);
    }), { numRuns: runs });
  });

  it('writeIcmpEchoHeader writes the bytes emitIcmp writes for an echo request or reply, and parse reads it back', () => {
    const p = new IcmpPacket();
    fc.assert(fc.property(fc.constantFrom(0, 8), u16, u16, fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 5 }), (type, ident, seq, data, lead) => {
      const r: IcmpRepr = { kind: type === 8 ? 'echo-request' : 'echo-reply', ident, seq, data };
      const x = new Uint8Array(lead + 8 + data.length).fill(0xee);
      const y = new Uint8Array(x.length).fill(0xee);
      x.set(data, lead + 8);
      writeIcmpEchoHeader(x, lead, type, ident, seq, 8 + data.length);
      emitIcmp(r, y, lead);
      expect(Buffer.compare(x, y)).toBe(0);
      expect(parseIcmp(p.wrap(x, lead, 8 + data.length))).toEqual(r);
    }), { numRuns: runs });
  });

  it('incremental echo-id and quoted-word fix-ups equal a full recompute', () => {
    const p = new IcmpPacket();
    fc.assert(fc.property(
      fc.constantFrom(0, 8), u16, u16, fc.uint8Array({ maxLength: 64 }), u16, fc.nat(), u16,
      (type, ident, seq, data, newIdent, pos, word) => {
        const b = new Uint8Array(8 + data.length);
        emitIcmp({ kind: type === 8 ? 'echo-request' : 'echo-reply', ident, seq, data }, b, 0);
        p.wrap(b, 0, b.length);
        p.setEchoIdentFixChecksum(newIdent);
        if (data.length >= 2) {
          const at = 8 + 2 * (pos % (data.length >> 1));
          const old = (b[at]! << 8) | b[at + 1]!;
          b[at] = word >>> 8; b[at + 1] = word & 0xff;
          p.adjustChecksum16(old, word);
        }
        const inc = p.checksum();
        p.fillChecksum();
        expect(inc).toBe(p.checksum());
        expect(p.verifyChecksum()).toBe(true);
      },
    ), { numRuns: runs });
  });
});
