import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IpHost } from '../net/ip-host.js';
import { checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../wire/dns.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';
import { ClusterDnsRecords } from '../kube/dns-records.js';
import { fakePair, ipv4ChecksumOk } from './testing/fake-host.js';
import { DnsServer } from './dns-server.js';
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
