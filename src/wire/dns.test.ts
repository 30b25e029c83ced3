import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from './errors.js';
import { DnsHeader, DnsRcode, DnsType, emitDnsMessage, nameToLabels, parseDnsMessage } from './dns.js';
import type { DnsMessage, DnsRdata, DnsRecord } from './dns.js';

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const parsed = (b: Uint8Array, off = 0, len = b.length - off): DnsMessage => {
  const m = parseDnsMessage(b, off, len);
  if (typeof m === 'number') throw new Error(`parse failed: ${m}`);
  return m;
};
const emitted = (m: DnsMessage, size = 4096): Uint8Array => {
  const buf = new Uint8Array(size);
  const n = emitDnsMessage(m, buf, 0);
  expect(n).toBeGreaterThan(0);
  return buf.slice(0, n);
};

// `dig @127.0.0.1 -p 15353 service1.default.svc.cluster.local A`, DiG 9.18.49-1~deb12u3-Debian,
// the UDP payload received by a Node dgram socket on localhost. The bytes are those dig sends
// to 10.96.0.10:53; only the ID and the 8-byte client cookie are random per query.
const DIG_QUERY = hex(`
  94a1                                  # ID 0x94a1
  0120                                  # QR=0 opcode=0 AA=0 TC=0 RD=1 RA=0 Z=0 AD=1 CD=0 RCODE=0
  0001 0000 0000 0001                   # QDCOUNT=1 ANCOUNT=0 NSCOUNT=0 ARCOUNT=1 (the OPT)
  08 7365727669636531                   # "service1"
  07 64656661756c74                     # "default"
  03 737663                             # "svc"
  07 636c7573746572                     # "cluster"
  05 6c6f63616c                         # "local"
  00                                    # root
  0001 0001                             # QTYPE=A QCLASS=IN
  00                                    # OPT owner: root
  0029                                  # TYPE=OPT (41)
  04d0                                  # CLASS = UDP payload size 1232
  00 00 0000                            # TTL: extended RCODE 0, version 0, DO=0, Z=0
  000c                                  # RDLENGTH 12
  000a 0008 2677cb474ac03e9c            # option COOKIE (10), length 8, client cookie
`.replace(/#.*$/gm, ''));

describe('DNS header view', () => {
  it('reads the dig query header field by field', () => {
    const h = new DnsHeader().wrap(DIG_QUERY, 0, DIG_QUERY.length);
    expect(h.check()).toBe(WireError.Ok);
    expect([h.id(), h.qr(), h.opcode(), h.aa(), h.tc(), h.rd(), h.ra(), h.z(), h.ad(), h.cd(), h.rcode()])
      .toEqual([0x94a1, false, 0, false, false, true, false, false, true, false, 0]);
    expect([h.qdCount(), h.anCount(), h.nsCount(), h.arCount()]).toEqual([1, 0, 0, 1]);
  });

  it('rejects fewer than 12 bytes and writes every field in place', () => {
    expect(new DnsHeader().wrap(new Uint8Array(11), 0, 11).check()).toBe(WireError.Truncated);
    const b = new Uint8Array(14);
    const h = new DnsHeader().wrap(b, 2, 12);
    h.setId(0xbeef).setQr(true).setOpcode(5).setAa(true).setTc(true).setRd(true).setRa(true).setAd(true).setCd(true).setRcode(3);
    h.setQdCount(1).setAnCount(2).setNsCount(3).setArCount(0x1234);
    expect(Buffer.from(b).toString('hex')).toBe('0000' + 'beef' + 'afb3' + '0001000200031234');
    h.setQr(false).setOpcode(0).setRcode(0).setAa(false);
    expect(h.flags()).toBe(0x03b0); // TC RD RA AD CD left set
  });
});

describe('parseDnsMessage', () => {
  it('parses the dig query, EDNS and cookie included', () => {
    const m = parsed(DIG_QUERY);
    expect(m.questions).toEqual([{ name: 'service1.default.svc.cluster.local', type: DnsType.A, class: 1 }]);
    expect(m.additional).toEqual([]);
    expect(m.edns).toEqual({ udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [{ code: 10, data: hex('2677cb474ac03e9c') }] });
    // Building the same message gives the same bytes.
    expect(emitted(m)).toEqual(DIG_QUERY);
  });

  it('honours off and len and lower-cases names', () => {
    const b = new Uint8Array(DIG_QUERY.length + 9).fill(0xee);
    b.set(DIG_QUERY, 5);
    b[5 + 13] = 0x53; // 'S'
    expect(parsed(b, 5, DIG_QUERY.length).questions[0]!.name).toBe('service1.default.svc.cluster.local');
  });

  // Response to `_http._tcp.service1.default.svc.cluster.local SRV`, compressed the way
  // CoreDNS (miekg/dns) does it, SRV target included: every later name is a pointer.
  const SRV_RESPONSE = hex(`
    1234 8500 0001 0001 0000 0001
    05 5f68747470 04 5f746370 08 7365727669636531 07 64656661756c74 03 737663 07 636c7573746572 05 6c6f63616c 00
    0021 0001
    c00c 0021 0001 0000001e 0008 0000 0064 0050 c017
    c017 0001 0001 0000001e 0004 0a600064
  `);

  it('follows compression pointers (owner names and SRV target)', () => {
    const m = parsed(SRV_RESPONSE);
    expect([m.id, m.qr, m.aa, m.rd, m.ra, m.rcode]).toEqual([0x1234, true, true, true, false, DnsRcode.NoError]);
    const q = '_http._tcp.service1.default.svc.cluster.local';
    expect(m.answers).toEqual([{ name: q, type: DnsType.SRV, class: 1, ttl: 30, data: { kind: 'srv', priority: 0, weight: 100, port: 80, target: 'service1.default.svc.cluster.local' } }]);
    expect(m.additional).toEqual([{ name: 'service1.default.svc.cluster.local', type: DnsType.A, class: 1, ttl: 30, data: { kind: 'a', address: 0x0a600064 } }]);
    // Our emitter compresses owner names but never the SRV target (RFC 2782).
    const out = emitted(m);
    expect(Buffer.from(out).includes(Buffer.from('c00c0021', 'hex'))).toBe(true);
    expect(out.length).toBe(SRV_RESPONSE.length + 36 - 2);
    expect(parsed(out)).toEqual(m);
  });

  it('reports truncation at every length of valid messages, never throwing', () => {
    for (const msg of [DIG_QUERY, SRV_RESPONSE]) {
      const big = new Uint8Array(msg.length + 16).fill(0);
      big.set(msg, 0);
      for (let n = 0; n < msg.length; n++) {
        expect(parseDnsMessage(msg.subarray(0, n), 0, n)).toBe(WireError.Truncated);
        expect(parseDnsMessage(big, 0, n)).toBe(WireError.Truncated); // len wins over buffer size
      }
      expect(typeof parseDnsMessage(msg, 0, msg.length)).toBe('object');
    }
  });

  const HDR_Q1 = '0001 0000 0001 0000 0000 0000';
  const q = (nameHex: string): Uint8Array => hex(`${HDR_Q1} ${nameHex} 0001 0001`);
  const parseAll = (b: Uint8Array): DnsMessage | number => parseDnsMessage(b, 0, b.length);

  it('rejects pointer loops, forward and out-of-range pointers', () => {
    expect(parseAll(q('c00c'))).toBe(WireError.Malformed); // points at itself
    expect(parseAll(q('c00e c00c'))).toBe(WireError.Malformed); // forward
    expect(parseAll(q('c3ff'))).toBe(WireError.Malformed); // past the end
    // 12: label of 3 octets ('a', c0, 0c) swallowing what looks like a pointer, 16: pointer
    // back to 12. Each pointer points backwards, yet reading never ends: pointers must
    // land strictly before the segment that led to them.
    expect(parseAll(q('03 61 c0 0c c0 0c'))).toBe(WireError.Malformed);
    // Two questions, the second pointing at the first, which points at the second.
    const mutual = hex('0001 0000 0002 0000 0000 0000 c012 0001 0001 c00c 0001 0001');
    expect(parseDnsMessage(mutual, 0, mutual.length)).toBe(WireError.Malformed);
  });

  it('rejects labels over 63 octets and names over 255', () => {
    expect(parseAll(q('40' + '61'.repeat(64) + '00'))).toBe(WireError.Malformed); // 01 label type
    expect(parseAll(q('80 00'))).toBe(WireError.Malformed); // 10 label type
    const lab = (n: number): string => n.toString(16).padStart(2, '0') + '61'.repeat(n);
    const max = q(lab(63).repeat(3) + lab(61) + '00'); // 3*64 + 62 + 1 = 255 octets
    expect(parsed(max).questions[0]!.name.length).toBe(253);
    expect(parseAll(q(lab(63).repeat(3) + lab(62) + '00'))).toBe(WireError.Malformed); // 256
    expect(nameToLabels('a'.repeat(64))).toBeNull();
    expect(nameToLabels(('a'.repeat(63) + '.').repeat(3) + 'a'.repeat(62))).toBeNull();
    expect(nameToLabels('a..b')).toBeNull();
  });

  it('rejects RDATA that disagrees with its type, misplaced or repeated OPT', () => {
    const rr = (s: string): Uint8Array => hex(`0001 8000 0000 0001 0000 0000 ${s}`);
    const bad = [
      rr('00 0001 0001 00000000 0005 0a00000100'), // A with 5 bytes
      rr('00 001c 0001 00000000 0004 0a000001'), // AAAA with 4
      rr('00 0005 0001 00000000 0003 01 61 00 00'.replace('0003', '0004')), // CNAME + trailing byte
      rr('00 0010 0001 00000000 0002 05 61'), // TXT string past RDLENGTH
      rr('00 0029 0200 00000000 0000'), // OPT in the answer section
    ];
    for (const b of bad) expect(parseDnsMessage(b, 0, b.length)).toBe(WireError.Malformed);
    const opt = '00 0029 0200 00000000 0000';
    const twice = hex(`0001 0000 0000 0000 0000 0002 ${opt} ${opt}`);
    expect(parseDnsMessage(twice, 0, twice.length)).toBe(WireError.Malformed);
    const named = hex('0001 0000 0000 0000 0000 0001 01 61 00 0029 0200 00000000 0000');
    expect(parseDnsMessage(named, 0, named.length)).toBe(WireError.Malformed);
    const badOption = hex('0001 0000 0000 0000 0000 0001 00 0029 0200 00000000 0003 000a 00');
    expect(parseDnsMessage(badOption, 0, badOption.length)).toBe(WireError.Malformed);
  });

  it('escapes label bytes that are not printable ASCII, and back', () => {
    const b = q('04 612e5c20 02 ff41 00');
    const m = parsed(b);
    expect(m.questions[0]!.name).toBe('a\\.\\\\\\032.\\255a');
    const out = emitted(m);
    expect(out).toEqual(q('04 612e5c20 02 ff61 00'));
  });

  it('never throws on arbitrary bytes, nor on mutated valid messages', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), fc.nat(20), (b, off) => {
      const r = parseDnsMessage(b, Math.min(off, b.length), b.length);
      expect(typeof r === 'number' || typeof r === 'object').toBe(true);
    }), { numRuns: RUNS });
    const seeds = [DIG_QUERY, SRV_RESPONSE];
    fc.assert(fc.property(fc.nat(1), fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (which, flips) => {
      const b = Uint8Array.from(seeds[which]!);
      for (const [at, v] of flips) b[at % b.length] = v;
      const r = parseDnsMessage(b, 0, b.length);
      if (typeof r === 'object') expect(emitDnsMessage(r, new Uint8Array(65536), 0)).toBeGreaterThan(0);
    }), { numRuns: RUNS });
  });
});

// ------------------------------------------------------------------ generated messages

const label = fc.constantFrom('a', 'b', 'svc', 'default', 'cluster', 'local', 'x-1', '_tcp', '_http', 'kube-system');
const name = fc.array(label, { maxLength: 6 }).map((ls) => ls.join('.'));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const typed = (type: fc.Arbitrary<number>, data: fc.Arbitrary<DnsRdata>): fc.Arbitrary<[number, DnsRdata]> => fc.tuple(type, data);
const rdata = fc.oneof(
  typed(fc.constant(DnsType.A), u32.map((address): DnsRdata => ({ kind: 'a', address }))),
  typed(fc.constant(DnsType.AAAA), bytes(16, 16).map((address): DnsRdata => ({ kind: 'aaaa', address }))),
  typed(fc.constantFrom(DnsType.NS, DnsType.CNAME, DnsType.PTR), name.map((target): DnsRdata => ({ kind: 'name', target }))),
  typed(fc.constant(DnsType.MX), fc.tuple(u16, name).map(([preference, exchange]): DnsRdata => ({ kind: 'mx', preference, exchange }))),
  typed(fc.constant(DnsType.SRV), fc.tuple(u16, u16, u16, name).map(([priority, weight, port, target]): DnsRdata => ({ kind: 'srv', priority, weight, port, target }))),
  typed(fc.constant(DnsType.TXT), fc.array(bytes(0, 40), { minLength: 1, maxLength: 3 }).map((strings): DnsRdata => ({ kind: 'txt', strings }))),
  typed(fc.constant(DnsType.SOA), fc.tuple(name, name, u32, u32, u32, u32, u32).map(([mname, rname, serial, refresh, retry, expire, minimum]): DnsRdata => ({ kind: 'soa', mname, rname, serial, refresh, retry, expire, minimum }))),
  typed(fc.constantFrom(99, 257, 65280), bytes(0, 30).map((b): DnsRdata => ({ kind: 'raw', bytes: b }))),
);
const record: fc.Arbitrary<DnsRecord> = fc.tuple(name, rdata, u16, u32).map(([n, [type, data], cls, ttl]) => ({ name: n, type, class: cls, ttl, data }));
const records = fc.array(record, { maxLength: 4 });
const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: u16, qr: fc.boolean(), opcode: fc.integer({ min: 0, max: 15 }), aa: fc.boolean(), tc: fc.boolean(), rd: fc.boolean(),
  ra: fc.boolean(), ad: fc.boolean(), cd: fc.boolean(), rcode: fc.integer({ min: 0, max: 15 }),
  questions: fc.array(fc.record({ name, type: u16, class: u16 }), { maxLength: 3 }),
  answers: records, authority: records, additional: records,
  edns: fc.option(fc.record({
    udpSize: u16, extRcode: fc.integer({ min: 0, max: 255 }), version: fc.integer({ min: 0, max: 255 }), dnssecOk: fc.boolean(),
    options: fc.array(fc.record({ code: u16, data: bytes(0, 12) }), { maxLength: 3 }),
  }), { nil: undefined }),
}, { requiredKeys: ['id', 'qr', 'opcode', 'aa', 'tc', 'rd', 'ra', 'ad', 'cd', 'rcode', 'questions', 'answers', 'authority', 'additional'] });

describe('emitDnsMessage', () => {
  it('round-trips generated messages: parse(emit(m)) = m and emit(parse(x)) = x', () => {
    fc.assert(fc.property(message, fc.nat(9), (m, off) => {
      const buf = new Uint8Array(4096 + off);
      const n = emitDnsMessage(m, buf, off);
      expect(n).toBeGreaterThanOrEqual(12);
      const back = parsed(buf, off, n);
      expect(back).toEqual(m);
      expect(emitted(back)).toEqual(buf.subarray(off, off + n));
    }), { numRuns: Math.ceil(RUNS / 5) });
  });

  it('compresses repeated names and suffixes', () => {
    const n = 'service1.default.svc.cluster.local';
    const m: DnsMessage = {
      id: 1, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0,
      questions: [{ name: n, type: DnsType.A, class: 1 }],
      answers: [{ name: n, type: DnsType.A, class: 1, ttl: 30, data: { kind: 'a', address: 0x0a600064 } },
        { name: 'service2.default.svc.cluster.local', type: DnsType.CNAME, class: 1, ttl: 30, data: { kind: 'name', target: 'x.svc.cluster.local' } }],
      authority: [], additional: [],
    };
    const out = emitted(m);
    // header 12, question 36 + 4, answer 1: c00c + 10 + 4, answer 2: 08 service2 c015 + 10 + rdata (01 78 c01d)
    expect(out.length).toBe(12 + 40 + 16 + (9 + 2 + 10 + 4));
    expect(Buffer.from(out.subarray(68)).toString('hex')).toBe('08' + Buffer.from('service2').toString('hex') + 'c015' + '0005000100' + '00001e0004' + '0178c01d');
    expect(Buffer.from(out.subarray(52, 54)).toString('hex')).toBe('c00c');
    expect(parsed(out)).toEqual(m);
  });

  it('returns -1 when the message does not fit, writing nothing past the limit', () => {
    const m = parsed(DIG_QUERY);
    for (let size = 0; size < DIG_QUERY.length; size++) {
      const buf = new Uint8Array(DIG_QUERY.length + 8).fill(0xaa);
      expect(emitDnsMessage(m, buf, 4, size)).toBe(-1);
      expect(buf.subarray(4 + size).every((v) => v === 0xaa)).toBe(true);
      expect(emitDnsMessage(m, new Uint8Array(size), 0)).toBe(-1);
    }
    expect(emitDnsMessage(m, new Uint8Array(DIG_QUERY.length), 0)).toBe(DIG_QUERY.length);
  });

  it('returns -1 for names and fields that cannot be encoded', () => {
    const base = parsed(DIG_QUERY);
    const buf = new Uint8Array(2048);
    expect(emitDnsMessage({ ...base, questions: [{ name: 'a'.repeat(64), type: 1, class: 1 }] }, buf, 0)).toBe(-1);
    expect(emitDnsMessage({ ...base, questions: [{ name: 'a..b', type: 1, class: 1 }] }, buf, 0)).toBe(-1);
    const txt: DnsRecord = { name: 'a', type: DnsType.TXT, class: 1, ttl: 0, data: { kind: 'txt', strings: [new Uint8Array(256)] } };
    expect(emitDnsMessage({ ...base, answers: [txt] }, buf, 0)).toBe(-1);
    const aaaa: DnsRecord = { name: 'a', type: DnsType.AAAA, class: 1, ttl: 0, data: { kind: 'aaaa', address: new Uint8Array(4) } };
    expect(emitDnsMessage({ ...base, answers: [aaaa] }, buf, 0)).toBe(-1);
  });
});
