import { describe, expect, it } from 'vitest';
import type { IpHost } from '../net/ip-host.js';
import { checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../wire/dns.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';
import { ClusterDnsRecords } from '../kube/dns-records.js';
import { fakePair, ipv4ChecksumOk } from './testing/fake-host.js';
import { DnsServer } from './dns-server.js';

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
    expect(engine.pool.available).toBe(64);
    server.close();
  });
});
