import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IpHost } from '../net/ip-host.js';
import { checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../wire/dns.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';
import { ClusterDnsRecords } from '../kube/dns-records.js';
import { fakePair, ipv4ChecksumOk } from './testing/fake-host.js';
import { DnsServer, type DnsUpstream } from './dns-server.js';
import { TcpConnection } from './tcp-conn.js';

function query(id: number, name: string, type: number = DnsType.A): Buffer {
  const msg: DnsMessage = {
    id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0,
    questions: [{ name, type, class: 1 }], answers: [], authority: [], additional: [],
  };
  const buf = Buffer.alloc(512);
  const n = emitDnsMessage(msg, buf, 0);
  return buf.subarray(0, n);
}

function sendUdp(host: IpHost, dst: number, sport: number, dport: number, payload: Uint8Array): void {
  const p = host.alloc()!;
  const s = p.start;
  emitIpv4({
    src: 0, dst, protocol: IpProtocol.Udp, ttl: 64, payloadLen: 8 + payload.length, ident: 7, dscp: 0, ecn: 0,
    dontFrag: false, moreFrags: false, fragOffset: 0,
  }, p.buf, s);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, p.buf, s + 20);
  p.buf.set(payload, s + 28);
  fillUdpChecksum(p.buf, s + 20, 0, dst);
  p.end = s + 28 + payload.length;
  host.output(p);
}

describe('DnsServer', () => {
  it('answers A queries for services from the records, with valid checksums', () => {
    const { engine, a, b } = fakePair(64);
    const records = new ClusterDnsRecords();
    records.setService({ name: 'service1', namespace: 'default', clusterIP: 0x0a600002, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    const server = DnsServer.start(b, records);
    const got: DnsMessage[] = [];
    let udpOk = false;
    a.bind(IpProtocol.Udp, 40000, (p, info) => {
      expect(ipv4ChecksumOk(p)).toBe(true);
      udpOk = checksum(p.buf, info.l4, p.end - info.l4, pseudoHeaderSum(info.src, info.dst, 17, p.end - info.l4)) === 0;
      expect([info.src, info.sport, info.dport]).toEqual([b.addr, 53, 40000]);
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m !== 'number') got.push(m);
      a.free(p);
    });
    sendUdp(a, b.addr, 40000, 53, query(0x1234, 'service1.default.svc.cluster.local'));
    sendUdp(a, b.addr, 40000, 53, query(0x1235, 'nope.default.svc.cluster.local'));
    engine.runUntilIdle();
    expect(udpOk).toBe(true);
    expect(got.map((m) => [m.id, m.rcode, m.answers.map((r) => r.data)])).toEqual([
      [0x1234, DnsRcode.NoError, [{ kind: 'a', address: 0x0a600002 }]],
      [0x1235, DnsRcode.NXDomain, []],
    ]);
    // Records follow services: removed, the name is gone.
    records.removeService('service1', 'default');
    sendUdp(a, b.addr, 40000, 53, query(0x1236, 'service1.default.svc.cluster.local'));
    engine.runUntilIdle();
    expect(got[2]!.rcode).toBe(DnsRcode.NXDomain);
    expect(server.counters.toJSON()).toEqual({ queries: 3, answers: 3 });
    expect(server.kind).toBe('dns-server');
    expect(engine.pool.available).toBe(64);
  });

  it('frees what is not a query (a response, or garbage) without answering', () => {
    const { engine, a, b } = fakePair(64);
    const server = DnsServer.start(b, new ClusterDnsRecords());
    let answers = 0;
    a.bind(IpProtocol.Udp, 40001, (p) => { answers++; a.free(p); });
    sendUdp(a, b.addr, 40001, 53, Buffer.from([1, 2, 3]));
    const resp = query(1, 'x.cluster.local');
    resp[2]! |= 0x80; // QR = response
    sendUdp(a, b.addr, 40001, 53, resp);
    engine.runUntilIdle();
    expect(answers).toBe(0);
    expect(server.counters.get('no-answer')).toBe(2);
    expect(server.drops.get('dns-not-a-query')).toBe(2);
    expect(engine.pool.available).toBe(64);
    server.close();
  });
});

describe('DnsServer over TCP (RFC 7766) and its counters', () => {
  const framed = (m: Uint8Array): Buffer => Buffer.concat([Buffer.from([m.length >>> 8, m.length & 0xff]), m]);

  it('answers several length-prefixed queries on one connection, pipelined and split across segments, without the UDP limit', async () => {
    const { engine, a, b } = fakePair(256);
    const records = new ClusterDnsRecords();
    const ports = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, port: 1000 + i, protocol: 'TCP' as const }));
    records.setService({ name: 'wide', namespace: 'default', clusterIP: 0x0a600009, ports });
    const server = DnsServer.start(b, records);
    const c = TcpConnection.connect(a, b.addr, 53);
    let got = Buffer.alloc(0);
    c.onData((d) => { got = Buffer.concat([got, d]); });
    const q1 = framed(query(1, 'kubernetes.default.svc.cluster.local'));
    const q2 = framed(query(2, 'wide.default.svc.cluster.local', DnsType.SRV));
    const q3 = framed(query(3, 'nope.default.svc.cluster.local'));
    c.write(Buffer.concat([q1, q2]));
    c.write(q3.subarray(0, 5));
    engine.runUntilIdle();
    c.write(q3.subarray(5));
    engine.runUntilIdle();
    const msgs: DnsMessage[] = [];
    for (let off = 0; off + 2 <= got.length;) {
      const len = got.readUInt16BE(off);
      const m = parseDnsMessage(got, off + 2, len);
      if (typeof m === 'number') throw new Error(`bad answer ${m}`);
      msgs.push(m);
      off += 2 + len;
    }
    expect(msgs.map((m) => [m.id, m.rcode, m.tc, m.answers.length])).toEqual([[1, DnsRcode.NoError, false, 1], [2, DnsRcode.NoError, false, 30], [3, DnsRcode.NXDomain, false, 0]]);
    expect(server.counters.toJSON()).toMatchObject({ queries: 3, answers: 3, 'tcp-connections': 1, 'tcp-queries': 3 });
    // Over UDP without EDNS the same SRV answer is over 512 bytes: TC=1, counted.
    const udp: DnsMessage[] = [];
    a.bind(IpProtocol.Udp, 40002, (p, info) => { const m = parseDnsMessage(p.buf, info.payload, info.payloadLen); if (typeof m !== 'number') udp.push(m); a.free(p); });
    sendUdp(a, b.addr, 40002, 53, query(4, 'wide.default.svc.cluster.local', DnsType.SRV));
    engine.runUntilIdle();
    expect(udp.map((m) => [m.id, m.tc])).toEqual([[4, true]]);
    expect(server.counters.get('truncated')).toBe(1);
    c.close();
    engine.runUntilIdle();
    server.close();
  });

  it('counts FORMERR and NOTIMP answers, and resets a connection that announces an oversized message', () => {
    const { engine, a, b } = fakePair(64);
    const server = DnsServer.start(b, new ClusterDnsRecords());
    a.bind(IpProtocol.Udp, 40003, (p) => a.free(p));
    const two = query(5, 'x.cluster.local');
    two[5] = 2; // QDCOUNT 2
    sendUdp(a, b.addr, 40003, 53, two);
    const status = query(6, 'x.cluster.local');
    status[2] = (status[2]! & ~0x78) | (2 << 3); // opcode STATUS
    sendUdp(a, b.addr, 40003, 53, status);
    engine.runUntilIdle();
    expect(server.counters.toJSON()).toMatchObject({ formerr: 1, notimp: 1, answers: 2 });
    const c = TcpConnection.connect(a, b.addr, 53);
    c.write(Buffer.from([0xff, 0xff, 0, 0]));
    let err: Error | null = null;
    c.onClose((e) => { err = e; });
    engine.runUntilIdle();
    expect(server.drops.get('dns-tcp-oversize')).toBe(1);
    expect(err).not.toBeNull();
    server.close();
  });
});

/** An upstream that keeps what it is asked; `answer` replies later (as a socket would). */
class FakeUpstream implements DnsUpstream {
  readonly asked: { msg: Uint8Array; done: (a: Uint8Array | null) => void }[] = [];
  query(msg: Uint8Array, done: (a: Uint8Array | null) => void): void { this.asked.push({ msg, done }); }
  /** Answers query `i` with `answers` A records of 1.2.3.4 (or null: no answer in time). */
  answer(i: number, answers: number | null): void {
    const q = this.asked[i]!;
    if (answers === null) { q.done(null); return; }
    const m = parseDnsMessage(q.msg, 0, q.msg.length);
    if (typeof m === 'number') throw new Error('bad query');
    const res: DnsMessage = {
      ...m, qr: true, ra: true, answers: Array.from({ length: answers }, (_, k) => ({
        name: m.questions[0]!.name, type: DnsType.A, class: 1, ttl: 300, data: { kind: 'a' as const, address: 0x01020300 + k },
      })),
    };
    const out = Buffer.alloc(4096);
    q.done(out.subarray(0, emitDnsMessage(res, out, 0)));
  }
}

describe('DnsServer forwarding (CoreDNS forward)', () => {
  it('forwards names outside the zone, answers in-zone ones itself, SERVFAIL when the upstream gives nothing', () => {
    const { engine, a, b } = fakePair(64);
    const records = new ClusterDnsRecords();
    records.setService({ name: 'service1', namespace: 'default', clusterIP: 0x0a600002, ports: [] });
    const up = new FakeUpstream();
    const server = DnsServer.start(b, records, 53, 'dns', up);
    const got: DnsMessage[] = [];
    a.bind(IpProtocol.Udp, 40010, (p, info) => {
      expect(ipv4ChecksumOk(p)).toBe(true);
      expect(checksum(p.buf, info.l4, p.end - info.l4, pseudoHeaderSum(info.src, info.dst, 17, p.end - info.l4))).toBe(0);
      expect([info.src, info.sport, info.dport]).toEqual([b.addr, 53, 40010]);
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m !== 'number') got.push(m);
      a.free(p);
    });
    sendUdp(a, b.addr, 40010, 53, query(0x0101, 'service1.default.svc.cluster.local'));
    sendUdp(a, b.addr, 40010, 53, query(0x0102, 'api.example.com'));
    sendUdp(a, b.addr, 40010, 53, query(0x0103, 'www.example.org'));
    sendUdp(a, b.addr, 40010, 53, query(0x0104, `${[2, 0, 96, 10].join('.')}.in-addr.arpa`, DnsType.PTR));
    sendUdp(a, b.addr, 40010, 53, query(0x0105, '9.9.9.9.in-addr.arpa', DnsType.PTR));
    engine.runUntilIdle();
    // In the zone and the service's own reverse name: answered at once; the other three wait upstream.
    expect(got.map((m) => [m.id, m.rcode])).toEqual([[0x0101, DnsRcode.NoError], [0x0104, DnsRcode.NoError]]);
    expect(up.asked.map((q) => parseDnsMessage(q.msg, 0, q.msg.length))).toMatchObject([
      { id: 0x0102, questions: [{ name: 'api.example.com' }] }, { id: 0x0103 }, { id: 0x0105, questions: [{ type: DnsType.PTR }] },
    ]);
    expect(engine.pool.available).toBe(64); // nothing held while waiting
    up.answer(0, 2);
    up.answer(1, null);
    engine.runUntilIdle();
    expect(got.slice(2).map((m) => [m.id, m.rcode, m.answers.length, m.ra])).toEqual([
      [0x0102, DnsRcode.NoError, 2, true], [0x0103, DnsRcode.ServFail, 0, true],
    ]);
    expect(got[3]!.questions).toEqual([{ name: 'www.example.org', type: DnsType.A, class: 1 }]);
    expect(server.counters.toJSON()).toMatchObject({ queries: 5, answers: 4, forwarded: 3, 'upstream-answers': 1, 'upstream-failures': 1 });
    // An answer whose id is not the query's (a confused upstream) is a failure too.
    const q = up.asked[2]!;
    const wrong = Buffer.from(q.msg); wrong[0] = wrong[0]! ^ 0xff; wrong[2] = wrong[2]! | 0x80;
    q.done(wrong);
    engine.runUntilIdle();
    expect(got[4]).toMatchObject({ id: 0x0105, rcode: DnsRcode.ServFail });
    expect(engine.pool.available).toBe(64);
    server.close();
  });

  it('an upstream answer over 512 bytes reaches a UDP client without EDNS truncated (TC, no records), a TCP client whole', () => {
    const { engine, a, b } = fakePair(64);
    const up = new FakeUpstream();
    const server = DnsServer.start(b, new ClusterDnsRecords(), 53, 'dns', up);
    const got: DnsMessage[] = [];
    a.bind(IpProtocol.Udp, 40011, (p, info) => {
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m !== 'number') got.push(m);
      a.free(p);
    });
    sendUdp(a, b.addr, 40011, 53, query(7, 'big.example.com'));
    engine.runUntilIdle();
    up.answer(0, 40); // 40 A records: about 1 KB
    engine.runUntilIdle();
    expect(got).toMatchObject([{ id: 7, tc: true, answers: [] }]);
    expect(server.counters.get('truncated')).toBe(1);
    const c = TcpConnection.connect(a, b.addr, 53);
    let bytes = Buffer.alloc(0);
    c.onData((d) => { bytes = Buffer.concat([bytes, d]); });
    const tq = query(8, 'big.example.com');
    c.write(Buffer.concat([Buffer.from([tq.length >> 8, tq.length & 0xff]), tq]));
    engine.runUntilIdle();
    expect(up.asked).toHaveLength(2);
    up.answer(1, 40);
    engine.runUntilIdle();
    const len = bytes.readUInt16BE(0);
    expect(bytes.length).toBe(2 + len);
    expect(parseDnsMessage(bytes, 2, len)).toMatchObject({ id: 8, tc: false, answers: expect.arrayContaining([expect.anything()]) });
    expect((parseDnsMessage(bytes, 2, len) as DnsMessage).answers).toHaveLength(40);
    c.close();
    engine.runUntilIdle();
    server.close();
  });

  it('a client advertising EDNS 1232 with a cookie option (as dig sends it) gets a 700-byte upstream answer whole over UDP', () => {
    const { engine, a, b } = fakePair(64);
    const up = new FakeUpstream();
    const server = DnsServer.start(b, new ClusterDnsRecords(), 53, 'dns', up);
    const got: DnsMessage[] = [];
    a.bind(IpProtocol.Udp, 40013, (p, info) => {
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m !== 'number') got.push(m);
      a.free(p);
    });
    const msg: DnsMessage = {
      id: 11, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: true, cd: false, rcode: 0,
      questions: [{ name: 'big.example.com', type: DnsType.A, class: 1 }], answers: [], authority: [], additional: [],
      edns: { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [{ code: 10, data: new Uint8Array(8).fill(7) }] },
    };
    const buf = Buffer.alloc(512);
    const q = buf.subarray(0, emitDnsMessage(msg, buf, 0));
    sendUdp(a, b.addr, 40013, 53, q);
    engine.runUntilIdle();
    up.answer(0, 40);
    engine.runUntilIdle();
    expect(got).toHaveLength(1);
    expect(got[0]!.tc).toBe(false);
    expect(got[0]!.answers).toHaveLength(40);
    expect(server.counters.get('truncated')).toBe(0);
    server.close();
  });

  it('without an upstream, names outside the zone stay SERVFAIL and nothing is forwarded', () => {
    const { engine, a, b } = fakePair(64);
    const server = DnsServer.start(b, new ClusterDnsRecords());
    const got: DnsMessage[] = [];
    a.bind(IpProtocol.Udp, 40012, (p, info) => {
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m !== 'number') got.push(m);
      a.free(p);
    });
    sendUdp(a, b.addr, 40012, 53, query(9, 'api.example.com'));
    engine.runUntilIdle();
    expect(got.map((m) => m.rcode)).toEqual([DnsRcode.ServFail]);
    expect(server.counters.get('forwarded')).toBe(0);
    server.close();
  });
});

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 2000);

describe('DnsServer under malformed queries (fuzz)', () => {
  // Malformed shapes a hostile or broken client sends: label lengths over 63 (the 01/10 label
  // types), compression pointers that loop or point forwards, headers cut short, QDCOUNT
  // other than 1, any opcode, and random bytes. Each is answered FORMERR/NOTIMP, or freed.
  const name = 'service1.default.svc.cluster.local';
  const mutated = fc.tuple(fc.nat({ max: 80 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 15 }), fc.nat({ max: 3 }), fc.nat({ max: 2 }))
    .map(([at, byte, opcode, qd, cut]) => {
      const q = Buffer.from(query(9, name));
      q[2] = (q[2]! & 0x87) | (opcode << 3);
      q[5] = qd;
      if (at < q.length) q[at] = byte; // a bad label length, a pointer (0xc0..), anything
      return cut === 0 ? q : q.subarray(0, Math.max(0, q.length - cut * 17));
    });
  const loop = fc.constant(Buffer.concat([Buffer.from(query(9, name)).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])])); // pointer to itself
  const payload = fc.oneof(mutated, loop, fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)));

  it('never throws, answers every query with a readable header (FORMERR/NOTIMP as CoreDNS), and keeps answering', () => {
    const { engine, a, b } = fakePair(64);
    const records = new ClusterDnsRecords();
    records.setService({ name: 'service1', namespace: 'default', clusterIP: 0x0a600002, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    const server = DnsServer.start(b, records);
    const got: DnsMessage[] = [];
    let unparsable = 0;
    a.bind(IpProtocol.Udp, 40010, (p, info) => {
      const m = parseDnsMessage(p.buf, info.payload, info.payloadLen);
      if (typeof m === 'number') unparsable++; else got.push(m);
      a.free(p);
    });
    fc.assert(fc.property(payload, (bytes) => {
      got.length = 0;
      sendUdp(a, b.addr, 40010, 53, bytes);
      engine.runUntilIdle();
      const isQuery = bytes.length >= 12 && (bytes[2]! & 0x80) === 0;
      expect(got.length).toBe(isQuery ? 1 : 0);
      if (isQuery) {
        const r = got[0]!;
        expect(r.id).toBe((bytes[0]! << 8) | bytes[1]!);
        const opcode = (bytes[2]! >>> 3) & 0xf;
        if (opcode !== 0) expect(r.rcode).toBe(DnsRcode.NotImp);
      }
      got.length = 0;
      sendUdp(a, b.addr, 40010, 53, query(7, name));
      engine.runUntilIdle();
      expect(got.map((m) => [m.id, m.rcode, m.answers.length])).toEqual([[7, DnsRcode.NoError, 1]]);
    }), { numRuns: RUNS });
    expect(unparsable).toBe(0); // every answer the server sent parses
    const v = server.counters.toJSON();
    expect((v['formerr'] ?? 0) + (v['notimp'] ?? 0)).toBeGreaterThan(0);
    expect(engine.pool.available).toBe(64);
  });
});
