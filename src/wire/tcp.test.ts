import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from './errors.js';
import {
  TcpFlag, TcpPacket, emitTcp, fillTcpChecksum, parseTcp, parseTcpOptions, tcpHeaderLen, tcpOptionsLen, writeTcpHeader,
  type TcpOption, type TcpRepr,
} from './tcp.js';

const runs = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

const POD1 = 0x0af40102; // 10.244.1.2
const POD3 = 0x0af40203; // 10.244.2.3

// A SYN with the options and order Linux sends (MSS, SACK-permitted, timestamps, NOP,
// window scale 7) and Linux's initial window 64240; built by hand, not a capture.
// 10.244.1.2:45678 -> 10.244.2.3:80. Checksum 0xb7fb cross-checked with a Python RFC 1071 sum.
const SYN = hex(`
  b2 6e 00 50 3b 9a ca 07 00 00 00 00 a0 02 fa f0 b7 fb 00 00
  02 04 05 b4 04 02 08 0a 00 25 c3 a1 00 00 00 00 01 03 03 07
`);
//  b2 6e        source port 45678
//  00 50        destination port 80
//  3b 9a ca 07  sequence number 1000000007
//  00 00 00 00  acknowledgment number 0
//  a0           data offset 10 words (40 bytes), reserved 0
//  02           flags SYN
//  fa f0        window 64240
//  b7 fb        checksum
//  00 00        urgent pointer
//  02 04 05 b4  MSS 1460
//  04 02        SACK permitted
//  08 0a ...    timestamps TSval 0x0025c3a1, TSecr 0
//  01           NOP
//  03 03 07     window scale 7
const SYN_REPR: TcpRepr = {
  srcPort: 45678, dstPort: 80, seq: 1000000007, ack: 0, flags: TcpFlag.SYN, window: 64240, urgent: 0,
  options: [
    { kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }, { kind: 'timestamps', tsVal: 0x0025c3a1, tsEcr: 0 },
    { kind: 'nop' }, { kind: 'window-scale', shift: 7 },
  ],
};

describe('TcpPacket', () => {
  it('parses a Linux-style SYN field by field', () => {
    const p = new TcpPacket().wrap(SYN, 0, SYN.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.srcPort()).toBe(45678);
    expect(p.dstPort()).toBe(80);
    expect(p.seq()).toBe(1000000007);
    expect(p.ack()).toBe(0);
    expect(p.dataOffset()).toBe(10);
    expect(p.headerLen()).toBe(40);
    expect(p.flags()).toBe(TcpFlag.SYN);
    expect(p.hasFlags(TcpFlag.SYN)).toBe(true);
    expect(p.hasFlags(TcpFlag.SYN | TcpFlag.ACK)).toBe(false);
    expect(p.window()).toBe(64240);
    expect(p.checksum()).toBe(0xb7fb);
    expect(p.urgentPtr()).toBe(0);
    expect(p.optionsOffset()).toBe(20);
    expect(p.optionsLen()).toBe(20);
    expect(p.payloadOffset()).toBe(40);
    expect(p.payloadLen()).toBe(0);
    expect(p.verifyChecksum(POD1, POD3)).toBe(true);
    expect(p.verifyChecksum(POD1, POD3, 40)).toBe(true);
    expect(p.verifyChecksum(POD3 + 1, POD3)).toBe(false);
    expect(parseTcp(p, POD1, POD3)).toEqual(SYN_REPR);
  });

  it('builds the same bytes', () => {
    const buf = new Uint8Array(44).fill(0xee);
    expect(tcpHeaderLen(SYN_REPR)).toBe(40);
    expect(emitTcp(SYN_REPR, buf, 2)).toBe(40);
    fillTcpChecksum(buf, 2, 40, POD1, POD3);
    expect(buf.subarray(2, 42)).toEqual(SYN);
    expect([buf[1], buf[42]]).toEqual([0xee, 0xee]);
  });

  it('reads seq/ack above 2^31 as unsigned and flags with reserved bits', () => {
    const b = Uint8Array.from(SYN);
    const p = new TcpPacket().wrap(b, 0, b.length);
    p.setSeq(0xfffffffe);
    p.setAck(0x80000000);
    p.setFlags(TcpFlag.ACK | TcpFlag.FIN | TcpFlag.CWR | TcpFlag.ECE | 0x100);
    expect(p.seq()).toBe(0xfffffffe);
    expect(p.ack()).toBe(0x80000000);
    expect(p.flags()).toBe(0x1d1);
    expect(p.dataOffset()).toBe(10); // setFlags leaves the data offset alone
    p.setHeaderLen(24);
    expect(p.headerLen()).toBe(24);
    expect(p.flags()).toBe(0x1d1);
  });

  it('rejects every impossible length', () => {
    const p = new TcpPacket();
    for (let n = 0; n < 20; n++) expect(p.wrap(SYN, 0, n).check()).toBe(WireError.Truncated);
    for (let n = 20; n < 40; n++) expect(p.wrap(SYN, 0, n).check()).toBe(WireError.BadHeaderLength);
    expect(p.wrap(SYN, 1, 40).check()).toBe(WireError.Truncated);
    const b = Uint8Array.from(SYN);
    for (let d = 0; d < 5; d++) {
      b[12] = d << 4;
      expect(p.wrap(b, 0, 40).check()).toBe(WireError.BadHeaderLength);
    }
    b[12] = 0xf0;
    expect(p.wrap(b, 0, 40).check()).toBe(WireError.BadHeaderLength);
    expect(parseTcp(p, POD1, POD3)).toBe(WireError.BadHeaderLength);
  });

  it('rejects bad checksums, port 0 and malformed options', () => {
    const b = Uint8Array.from(SYN);
    const p = new TcpPacket().wrap(b, 0, b.length);
    b[39] = 8;
    expect(parseTcp(p, POD1, POD3)).toBe(WireError.BadChecksum);
    p.fillChecksum(POD1, POD3);
    expect(parseTcp(p, POD1, POD3)).not.toBeTypeOf('number');
    for (const opt of ['02 01 00 00', '02 05 00 00', '08', '01 01 01 fe']) {
      b.set(hex(opt), 36);
      p.fillChecksum(POD1, POD3);
      expect(parseTcp(p, POD1, POD3)).toBe(WireError.Malformed);
    }
    b.set(hex('01 01 01 01'), 36);
    p.setSrcPort(0);
    p.fillChecksum(POD1, POD3);
    expect(parseTcp(p, POD1, POD3)).toBe(WireError.Malformed);
  });

  it('keeps unknown options, odd lengths and bytes after EOL, byte for byte', () => {
    // SACK block (kind 5), MSS with a wrong length, an experimental option, EOL + non-zero junk
    const opts = hex('05 0a 00 00 00 01 00 00 00 02 02 03 05 fd 04 12 34 00 00 07');
    const r = parseTcpOptions(opts, 0, opts.length) as TcpOption[];
    expect(r).toEqual([
      { kind: 'raw', type: 5, data: hex('00 00 00 01 00 00 00 02') },
      { kind: 'raw', type: 2, data: hex('05') },
      { kind: 'raw', type: 0xfd, data: hex('12 34') },
      { kind: 'eol' },
      { kind: 'padding', bytes: hex('00 07') },
    ]);
    expect(tcpOptionsLen(r)).toBe(20);
    const repr: TcpRepr = { ...SYN_REPR, options: r };
    const buf = new Uint8Array(40);
    emitTcp(repr, buf, 0);
    expect(buf.subarray(20)).toEqual(opts);
  });

  it('pads options to 32 bits with zeros, and refuses more than 40 bytes', () => {
    const buf = new Uint8Array(60).fill(0xee);
    const n = emitTcp({ ...SYN_REPR, options: [{ kind: 'mss', mss: 1400 }, { kind: 'nop' }] }, buf, 0);
    expect(n).toBe(28);
    expect(Array.from(buf.subarray(20, 28))).toEqual([2, 4, 0x05, 0x78, 1, 0, 0, 0]);
    expect(buf[12]! >>> 4).toBe(7);
    const tooMany: TcpOption[] = Array.from({ length: 5 }, () => ({ kind: 'timestamps', tsVal: 1, tsEcr: 2 }));
    expect(() => emitTcp({ ...SYN_REPR, options: tooMany }, buf, 0)).toThrow(RangeError);
    expect(() => emitTcp(SYN_REPR, buf, 30)).toThrow(RangeError);
  });

  it('NAT fix-ups equal a full recompute (DNAT of a service VIP, SNAT of the source)', () => {
    const b = new Uint8Array(45);
    b.set(SYN);
    b.set(hex('47 45 54 20 2f'), 40); // "GET /" as data, odd length
    const p = new TcpPacket().wrap(b, 0, 45);
    const vip = 0x0a600001; // 10.96.0.1
    p.fillChecksum(POD1, vip);
    p.fixChecksumForAddrChange(vip, POD3);
    p.setDstPortFixChecksum(8080);
    p.fixChecksumForAddrChange(POD1, 0xc0a80001);
    p.setSrcPortFixChecksum(61000);
    const inc = p.checksum();
    p.fillChecksum(0xc0a80001, POD3);
    expect(inc).toBe(p.checksum());
    expect(p.verifyChecksum(0xc0a80001, POD3)).toBe(true);
  });
});

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const optionArb: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant({ kind: 'nop' as const }),
  fc.record({ kind: fc.constant('mss' as const), mss: u16 }),
  fc.record({ kind: fc.constant('window-scale' as const), shift: u8 }),
  fc.constant({ kind: 'sack-permitted' as const }),
  fc.record({ kind: fc.constant('timestamps' as const), tsVal: u32, tsEcr: u32 }),
  fc.record({ kind: fc.constant('raw' as const), type: fc.integer({ min: 9, max: 255 }), data: fc.uint8Array({ maxLength: 12 }) }),
);
const optionsArb = fc.tuple(fc.array(optionArb, { maxLength: 8 }), fc.boolean(), fc.uint8Array({ maxLength: 3 }))
  .map(([os, eol, junk]): TcpOption[] => {
    const out: TcpOption[] = [];
    for (const o of os) {
      if (tcpOptionsLen([...out, o]) > 36) break; // room left for EOL + padding
      out.push(o);
    }
    if (eol) {
      out.push({ kind: 'eol' });
      if (junk.length > 0) out.push({ kind: 'padding', bytes: junk });
    }
    return out;
  });
const reprArb: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: fc.integer({ min: 1, max: 0xffff }), dstPort: fc.integer({ min: 1, max: 0xffff }), seq: u32, ack: u32,
  flags: fc.integer({ min: 0, max: 0xfff }), window: u16, urgent: u16, options: optionsArb,
});

describe('TCP properties', () => {
  it('check() and parse never throw on arbitrary bytes', () => {
    const p = new TcpPacket();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat({ max: 90 }), u32, u32, (b, len, s, d) => {
      const c = p.wrap(b, 0, len).check();
      const r = parseTcp(p, s, d);
      if (c !== WireError.Ok) expect(r).toBe(c);
      parseTcpOptions(b, 0, Math.min(len, b.length));
    }), { numRuns: runs });
  });

  it('emit(parse(x)) equals x for segments built from arbitrary Reprs', () => {
    const p = new TcpPacket();
    fc.assert(fc.property(reprArb, fc.uint8Array({ maxLength: 40 }), u32, u32, (r, data, src, dst) => {
      const h = tcpHeaderLen(r);
      const x = new Uint8Array(h + data.length);
      expect(emitTcp(r, x, 0)).toBe(h);
      x.set(data, h);
      fillTcpChecksum(x, 0, x.length, src, dst);
      const back = parseTcp(p.wrap(x, 0, x.length), src, dst);
      if (typeof back === 'number') throw new Error(`parse failed: ${back}`);
      const y = new Uint8Array(x.length);
      emitTcp(back, y, 0);
      y.set(data, h);
      fillTcpChecksum(y, 0, y.length, src, dst);
      expect(Buffer.compare(y, x)).toBe(0);
      expect(emitTcp(parseTcp(p.wrap(y, 0, y.length), src, dst) as TcpRepr, new Uint8Array(h), 0)).toBe(h);
    }), { numRuns: runs });
  });

  it('writeTcpHeader writes the bytes emitTcp writes (no options, or MSS), and parse reads its fields back', () => {
    const p = new TcpPacket();
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), u32, u32, u8, u16, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffff })),
      fc.uint8Array({ maxLength: 40 }), fc.nat({ max: 5 }), u32, u32,
      (sport, dport, seq, ack, flags, window, mss, data, lead, src, dst) => {
        const options: TcpOption[] = mss > 0 ? [{ kind: 'mss', mss }] : [];
        const r: TcpRepr = { srcPort: sport, dstPort: dport, seq, ack, flags, window, urgent: 0, options };
        const h = tcpHeaderLen(r);
        const x = new Uint8Array(lead + h + data.length).fill(0xee);
        const y = new Uint8Array(x.length).fill(0xee);
        expect(writeTcpHeader(x, lead, sport, dport, seq, ack, flags, window, mss)).toBe(h);
        expect(emitTcp(r, y, lead)).toBe(h);
        x.set(data, lead + h);
        y.set(data, lead + h);
        fillTcpChecksum(x, lead, h + data.length, src, dst);
        fillTcpChecksum(y, lead, h + data.length, src, dst);
        expect(Buffer.compare(x, y)).toBe(0);
        expect(parseTcp(p.wrap(x, lead, h + data.length), src, dst)).toEqual(r);
      },
    ), { numRuns: runs });
  });

  it('incremental fix-ups equal a full recompute for random rewrites', () => {
    const p = new TcpPacket();
    fc.assert(fc.property(
      reprArb, fc.uint8Array({ maxLength: 40 }), u32, u32, u16, u16, u32, u32, u32, u32,
      (r, data, src, dst, sp, dp, ns, nd, seq, ack) => {
        const h = tcpHeaderLen(r);
        const x = new Uint8Array(h + data.length);
        emitTcp(r, x, 0);
        x.set(data, h);
        p.wrap(x, 0, x.length).fillChecksum(src, dst);
        p.setSrcPortFixChecksum(sp);
        p.setDstPortFixChecksum(dp);
        p.fixChecksumForAddrChange(src, ns);
        p.fixChecksumForAddrChange(dst, nd);
        p.setSeqFixChecksum(seq);
        p.setAckFixChecksum(ack);
        const inc = p.checksum();
        p.fillChecksum(ns, nd);
        expect(inc).toBe(p.checksum());
      },
    ), { numRuns: runs });
  });
});
