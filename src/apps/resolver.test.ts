import { describe, expect, it } from 'vitest';
import { ClusterDnsRecords, searchCandidates } from '../kube/dns-records.js';
import { DnsServer } from './dns-server.js';
import { StubResolver, type ResolverResult } from './resolver.js';
import { fakePair } from './testing/fake-host.js';

const VIP = 0x0a600002;

function setup(): ReturnType<typeof fakePair> & { records: ClusterDnsRecords } {
  const pair = fakePair(64);
  const records = new ClusterDnsRecords();
  records.setService({ name: 'service1', namespace: 'default', clusterIP: VIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
  return { ...pair, records };
}

describe('StubResolver (glibc: search list, A and AAAA in parallel, RES_TIMEOUT 5 s x 2)', () => {
  it('a short name: A and AAAA of the first search name leave together, one round trip, the A answers', () => {
    const { engine, a, b, records } = setup();
    const server = DnsServer.start(b, records);
    const r = new StubResolver(a, 'pod1/resolver');
    let got: ResolverResult | null = null;
    r.lookup(searchCandidates('service1', 'default'), { nameserver: b.addr }, (x) => { got = x; });
    engine.runUntilIdle();
    expect(got).toMatchObject({ outcome: 'answer', name: 'service1.default.svc.cluster.local', addresses: [VIP] });
    expect(got!.queries.map((q) => [q.name, q.type, q.result])).toEqual([
      ['service1.default.svc.cluster.local', 'A', 'NOERROR'], ['service1.default.svc.cluster.local', 'AAAA', 'NOERROR'],
    ]);
    expect(server.counters.get('queries')).toBe(2);
    expect(engine.pool.available).toBe(64);
  });

  it('ndots:5: a fully qualified name without its dot costs the whole search list first (8 queries before the name itself)', () => {
    const { engine, a, b, records } = setup();
    DnsServer.start(b, records);
    const r = new StubResolver(a, 'pod1/resolver');
    let got: ResolverResult | null = null;
    r.lookup(searchCandidates('service1.default.svc.cluster.local', 'default'), { nameserver: b.addr }, (x) => { got = x; });
    engine.runUntilIdle();
    expect(got!.outcome).toBe('answer');
    expect(got!.queries.filter((q) => q.type === 'A').map((q) => [q.name, q.result])).toEqual([
      ['service1.default.svc.cluster.local.default.svc.cluster.local', 'NXDOMAIN'],
      ['service1.default.svc.cluster.local.svc.cluster.local', 'NXDOMAIN'],
      ['service1.default.svc.cluster.local.cluster.local', 'NXDOMAIN'],
      ['service1.default.svc.cluster.local', 'NOERROR'],
    ]);
    expect(got!.queries).toHaveLength(8);
  });

  it('SERVFAIL goes on to the next name; every name failing is not-found', () => {
    const { engine, a, b, records } = setup();
    DnsServer.start(b, records);
    let got: ResolverResult | null = null;
    new StubResolver(a, 'r').lookup(searchCandidates('api.example.com', 'default'), { nameserver: b.addr }, (x) => { got = x; });
    engine.runUntilIdle();
    expect(got!.outcome).toBe('not-found');
    expect(got!.queries.filter((q) => q.type === 'A').map((q) => q.result)).toEqual(['NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN', 'SERVFAIL']);
  });

  it('no answer: both queries sent again after 5 s, then a timeout at 10 s ends the lookup (no next search name)', () => {
    const { engine, a, b } = setup(); // no DNS server on b: its port 53 drops the queries
    let got: ResolverResult | null = null;
    const r = new StubResolver(a, 'r');
    r.lookup(searchCandidates('service1', 'default'), { nameserver: b.addr }, (x) => { got = x; });
    engine.runUntilIdle();
    engine.advance(4999);
    expect(got).toBeNull();
    engine.advance(1);
    expect(r.counters.get('queries-sent')).toBe(4);
    engine.advance(4999);
    expect(got).toBeNull();
    engine.advance(1);
    expect(got).toMatchObject({ outcome: 'timeout', name: null });
    expect(got!.endMs - got!.startMs).toBe(10_000);
    expect(got!.queries.map((q) => [q.attempt, q.sentMs - got!.startMs, q.result])).toEqual([[1, 0, 'timeout'], [1, 0, 'timeout'], [2, 5000, 'timeout'], [2, 5000, 'timeout']]);
    expect(engine.pool.available).toBe(64);
  });

  it('a lost AAAA answer makes the name wait for the timeout although the A came back (the 5 s of the conntrack race)', () => {
    const { engine, a, b, records } = setup();
    DnsServer.start(b, records);
    let n = 0;
    b.lose = () => (n++ === 1); // b's second packet out: the AAAA answer
    let got: ResolverResult | null = null;
    new StubResolver(a, 'r').lookup(searchCandidates('service1', 'default'), { nameserver: b.addr }, (x) => { got = x; });
    engine.runUntilIdle();
    expect(got).toBeNull();
    engine.advance(5000);
    engine.runUntilIdle();
    expect(got).toMatchObject({ outcome: 'answer', addresses: [VIP] });
    expect(got!.endMs - got!.startMs).toBe(5000);
  });
});
