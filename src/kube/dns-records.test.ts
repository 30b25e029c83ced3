import { describe, expect, it } from 'vitest';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage } from '../wire/dns.js';
import type { DnsMessage, DnsRecord } from '../wire/dns.js';
import { ClusterDnsRecords, searchCandidates } from './dns-records.js';

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const FQDN = 'service1.default.svc.cluster.local';

function cluster(opts: ConstructorParameters<typeof ClusterDnsRecords>[0] = {}): ClusterDnsRecords {
  const c = new ClusterDnsRecords(opts);
  c.setService({ name: 'service1', namespace: 'default', clusterIP: ip('10.96.0.100'), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
  c.setService({
    name: 'multi', namespace: 'shop', clusterIP: ip('10.96.7.7'),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 9000, protocol: 'TCP' }],
  });
  return c;
}

const a = (name: string, addr: string): DnsRecord => ({ name, type: DnsType.A, class: 1, ttl: 5, data: { kind: 'a', address: ip(addr) } });

describe('ClusterDnsRecords.answer', () => {
  it('answers A for <svc>.<ns>.svc.<zone> and for kubernetes.default', () => {
    const c = cluster();
    expect(c.answer(FQDN, DnsType.A)).toEqual({ rcode: DnsRcode.NoError, answers: [a(FQDN, '10.96.0.100')], authority: [], additional: [] });
    expect(c.answer('kubernetes.default.svc.cluster.local', DnsType.A).answers).toEqual([a('kubernetes.default.svc.cluster.local', '10.96.0.1')]);
    expect(new ClusterDnsRecords({ kubernetesClusterIP: null }).answer('kubernetes.default.svc.cluster.local', DnsType.A).rcode).toBe(DnsRcode.NXDomain);
  });

  it('answers SRV for _<port>._<proto>.<svc> with the A record as additional', () => {
    const c = cluster();
    const q = `_http._tcp.${FQDN}`;
    const r = c.answer(q, DnsType.SRV);
    expect(r.rcode).toBe(DnsRcode.NoError);
    expect(r.answers).toEqual([{ name: q, type: DnsType.SRV, class: 1, ttl: 5, data: { kind: 'srv', priority: 0, weight: 100, port: 80, target: FQDN } }]);
    expect(r.additional).toEqual([a(FQDN, '10.96.0.100')]);
    expect(c.answer('_dns._udp.multi.shop.svc.cluster.local', DnsType.SRV).answers[0]!.data).toMatchObject({ port: 53, target: 'multi.shop.svc.cluster.local' });
    // Wrong protocol, unknown port name, unnamed port: NXDOMAIN.
    expect(c.answer('_dns._tcp.multi.shop.svc.cluster.local', DnsType.SRV).rcode).toBe(DnsRcode.NXDomain);
    expect(c.answer('_grpc._tcp.multi.shop.svc.cluster.local', DnsType.SRV).rcode).toBe(DnsRcode.NXDomain);
    expect(c.answer('_sctp._sctp.multi.shop.svc.cluster.local', DnsType.SRV).rcode).toBe(DnsRcode.NXDomain);
    // A on the SRV name gives the cluster IP; `_tcp.<svc>` is an empty non-terminal.
    expect(c.answer(q, DnsType.A).answers).toEqual([a(q, '10.96.0.100')]);
    expect(c.answer(`_tcp.${FQDN}`, DnsType.SRV)).toMatchObject({ rcode: DnsRcode.NoError, answers: [] });
  });

  it('answers SRV on the bare service name with every port, weight split evenly', () => {
    const r = cluster().answer('multi.shop.svc.cluster.local', DnsType.SRV);
    expect(r.answers.map((x) => x.data)).toEqual([8080, 53, 9000].map((port) => ({ kind: 'srv', priority: 0, weight: 33, port, target: 'multi.shop.svc.cluster.local' })));
    expect(r.additional).toEqual([a('multi.shop.svc.cluster.local', '10.96.7.7')]);
  });

  it('returns NXDOMAIN with the SOA for unknown names in the zone', () => {
    const c = cluster();
    for (const n of ['nosuch.default.svc.cluster.local', 'service1.other.svc.cluster.local', 'nosuchns.svc.cluster.local',
      'x.service1.default.svc.cluster.local.extra.svc.cluster.local', 'foo.cluster.local', 'a.b.c.d.e.f.g.svc.cluster.local']) {
      const r = c.answer(n, DnsType.A);
      expect(r.rcode, n).toBe(DnsRcode.NXDomain);
      expect(r.answers).toEqual([]);
      expect(r.authority).toHaveLength(1);
      expect(r.authority[0]).toMatchObject({ name: 'cluster.local', type: DnsType.SOA, data: { kind: 'soa', mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', minimum: 5 } });
    }
  });

  it('returns NODATA for a known name with another type, and for empty non-terminals', () => {
    const c = cluster();
    for (const [n, t] of [[FQDN, DnsType.AAAA], [FQDN, DnsType.TXT], ['svc.cluster.local', DnsType.A],
      ['default.svc.cluster.local', DnsType.A], ['kube-system.svc.cluster.local', DnsType.A], ['shop.svc.cluster.local', DnsType.A],
      ['cluster.local', DnsType.A]] as const) {
      const r = c.answer(n, t);
      expect([n, r.rcode, r.answers.length, r.authority[0]?.type]).toEqual([n, DnsRcode.NoError, 0, DnsType.SOA]);
    }
    expect(c.answer('cluster.local', DnsType.SOA).answers[0]?.type).toBe(DnsType.SOA);
  });

  it('is case-insensitive and accepts a trailing dot', () => {
    const r = cluster().answer('SERVICE1.Default.SVC.Cluster.Local.', DnsType.A);
    expect(r.answers).toEqual([a(FQDN, '10.96.0.100')]);
    expect(new ClusterDnsRecords({ domain: 'Cluster.Local.' }).domain).toBe('cluster.local');
  });

  it('forgets removed services and bumps the SOA serial on every change', () => {
    const c = cluster();
    const serial = (): number => { const d = c.answer('cluster.local', DnsType.SOA).answers[0]!.data; return d.kind === 'soa' ? d.serial : -1; };
    const s0 = serial();
    expect(c.removeService('Service1', 'DEFAULT')).toBe(true);
    expect(c.removeService('service1', 'default')).toBe(false);
    expect(c.answer(FQDN, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    expect(c.answer(`_http._tcp.${FQDN}`, DnsType.SRV).rcode).toBe(DnsRcode.NXDomain);
    expect(serial()).toBe(s0 + 1);
    c.setService({ name: 'service1', namespace: 'default', clusterIP: ip('10.96.0.200'), ports: [] });
    expect(c.answer(FQDN, DnsType.A).answers).toEqual([a(FQDN, '10.96.0.200')]);
    expect(c.answer(FQDN, DnsType.SRV)).toMatchObject({ rcode: DnsRcode.NoError, answers: [] });
  });

  it('answers SERVFAIL outside the cluster domain (CoreDNS `.:53` without forward: no next plugin), or REFUSED on request', () => {
    expect(cluster().answer('example.com', DnsType.A)).toEqual({ rcode: DnsRcode.ServFail, answers: [], authority: [], additional: [] });
    expect(cluster().answer('notcluster.local', DnsType.A).rcode).toBe(DnsRcode.ServFail);
    expect(cluster({ outsideZone: 'refused' }).answer('example.com', DnsType.A).rcode).toBe(DnsRcode.Refused);
  });

  it('answers dns-version TXT "1.1.0" with TTL 28800, NODATA for other types', () => {
    const r = cluster().answer('DNS-Version.cluster.local', DnsType.TXT);
    expect(r.answers).toEqual([{ name: 'dns-version.cluster.local', type: DnsType.TXT, class: 1, ttl: 28800, data: { kind: 'txt', strings: [new TextEncoder().encode('1.1.0')] } }]);
    expect(cluster().answer('dns-version.cluster.local', DnsType.A)).toMatchObject({ rcode: DnsRcode.NoError, answers: [] });
    expect(cluster().answer('x.dns-version.cluster.local', DnsType.TXT).rcode).toBe(DnsRcode.NXDomain);
  });

  it('takes the TTL from the options', () => {
    expect(cluster({ ttl: 30 }).answer(FQDN, DnsType.A).answers[0]?.ttl).toBe(30);
  });

  it('answers a headless service with one A per endpoint, SRV per endpoint x port, hostnames, PTR; none -> NXDOMAIN', () => {
    const c = cluster();
    const H = 'db.default.svc.cluster.local';
    c.setService({
      name: 'db', namespace: 'default', clusterIP: null, ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      endpoints: [{ ip: ip('10.244.1.5'), hostname: 'db-0' }, { ip: ip('10.244.2.6') }],
    });
    expect(c.answer(H, DnsType.A).answers).toEqual([a(H, '10.244.1.5'), a(H, '10.244.2.6')]);
    expect(c.answer(H, DnsType.AAAA)).toMatchObject({ rcode: DnsRcode.NoError, answers: [] });
    const srv = c.answer(`_pg._tcp.${H}`, DnsType.SRV);
    expect(srv.answers.map((x) => x.data)).toEqual([
      { kind: 'srv', priority: 0, weight: 50, port: 5432, target: `db-0.${H}` },
      { kind: 'srv', priority: 0, weight: 50, port: 5432, target: `10-244-2-6.${H}` }, // CoreDNS endpointHostname: the dashed IP
    ]);
    expect(srv.additional).toEqual([a(`db-0.${H}`, '10.244.1.5'), a(`10-244-2-6.${H}`, '10.244.2.6')]);
    expect(c.answer(`DB-0.${H}`, DnsType.A).answers).toEqual([a(`db-0.${H}`, '10.244.1.5')]);
    expect(c.answer(`10-244-2-6.${H}`, DnsType.A).answers).toEqual([a(`10-244-2-6.${H}`, '10.244.2.6')]);
    expect(c.answer(`bogus.${H}`, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    expect(c.answer('5.1.244.10.in-addr.arpa', DnsType.PTR).answers.map((x) => x.data)).toEqual([{ kind: 'name', target: `db-0.${H}` }]);
    c.setService({ name: 'db', namespace: 'default', clusterIP: null, ports: [], endpoints: [] });
    expect(c.answer(H, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    expect(c.answer(H, DnsType.SRV).rcode).toBe(DnsRcode.NXDomain);
  });

  it('headless SRV carries each endpoint\'s own port; an endpoint without the port has no record for it (CoreDNS findServices: Port from the EndpointSlice)', () => {
    const c = cluster();
    const H = 'web.default.svc.cluster.local';
    // targetPort http: 8080 on web-0, 9090 on web-1, not declared on 10.244.3.7; metrics (targetPort 9100) on all.
    c.setService({
      name: 'web', namespace: 'default', clusterIP: null,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }, { name: 'grpc', port: 90, protocol: 'TCP' }],
      endpoints: [
        { ip: ip('10.244.1.5'), hostname: 'web-0', ports: [8080, 9100, 0] },
        { ip: ip('10.244.2.6'), hostname: 'web-1', ports: [9090, 9100, 0] },
        { ip: ip('10.244.3.7'), ports: [0, 9100, 0] },
      ],
    });
    const http = c.answer(`_http._tcp.${H}`, DnsType.SRV);
    expect(http.answers.map((x) => x.data)).toEqual([
      { kind: 'srv', priority: 0, weight: 50, port: 8080, target: `web-0.${H}` },
      { kind: 'srv', priority: 0, weight: 50, port: 9090, target: `web-1.${H}` },
    ]);
    expect(http.additional).toEqual([a(`web-0.${H}`, '10.244.1.5'), a(`web-1.${H}`, '10.244.2.6')]);
    expect(c.answer(`_metrics._tcp.${H}`, DnsType.SRV).answers.map((x) => x.data)).toEqual([
      { kind: 'srv', priority: 0, weight: 33, port: 9100, target: `web-0.${H}` },
      { kind: 'srv', priority: 0, weight: 33, port: 9100, target: `web-1.${H}` },
      { kind: 'srv', priority: 0, weight: 33, port: 9100, target: `10-244-3-7.${H}` },
    ]);
    expect(c.answer(`_grpc._tcp.${H}`, DnsType.SRV).rcode).toBe(DnsRcode.NXDomain); // no endpoint has it: errNoItems
    expect(c.answer(H, DnsType.A).answers).toHaveLength(3); // A records: every ready endpoint
  });

  it('answers an ExternalName service with a CNAME, chasing in-cluster targets', () => {
    const c = cluster();
    const E = 'ext.default.svc.cluster.local';
    c.setService({ name: 'ext', namespace: 'default', clusterIP: null, ports: [], externalName: 'www.Example.com.' });
    const cname = { name: E, type: DnsType.CNAME, class: 1, ttl: 5, data: { kind: 'name', target: 'www.example.com' } };
    expect(c.answer(E, DnsType.CNAME).answers).toEqual([cname]);
    expect(c.answer(E, DnsType.A)).toMatchObject({ rcode: DnsRcode.NoError, answers: [cname] });
    expect(c.answer(`x.${E}`, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    c.setService({ name: 'in', namespace: 'default', clusterIP: null, ports: [], externalName: FQDN });
    expect(c.answer('in.default.svc.cluster.local', DnsType.A).answers.map((x) => x.type)).toEqual([DnsType.CNAME, DnsType.A]);
  });

  it('answers PTR for service cluster IPs only', () => {
    const c = cluster();
    expect(c.answer('100.0.96.10.in-addr.arpa', DnsType.PTR).answers).toEqual([{ name: '100.0.96.10.in-addr.arpa', type: DnsType.PTR, class: 1, ttl: 5, data: { kind: 'name', target: FQDN } }]);
    expect(c.answer('5.1.244.10.in-addr.arpa', DnsType.PTR).rcode).toBe(DnsRcode.ServFail); // falls through to the (absent) upstream
  });

  it('answers pod A records per the pods mode', () => {
    const name = '10-244-1-5.default.pod.cluster.local';
    expect(cluster().answer(name, DnsType.A).answers).toEqual([a(name, '10.244.1.5')]);
    expect(cluster().answer('10-244-1-256.default.pod.cluster.local', DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    expect(cluster({ pods: 'disabled' }).answer(name, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    const v = cluster({ pods: 'verified' });
    expect(v.answer(name, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    v.setPod({ name: 'pod1', namespace: 'default', ip: ip('10.244.1.5') });
    expect(v.answer(name, DnsType.A).answers).toEqual([a(name, '10.244.1.5')]);
    expect(v.answer('10-244-1-5.shop.pod.cluster.local', DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    v.removePod('pod1', 'default');
    expect(v.answer(name, DnsType.A).rcode).toBe(DnsRcode.NXDomain);
  });
});

describe('searchCandidates (resolv.conf: search <ns>.svc.cluster.local svc.cluster.local cluster.local, ndots:5)', () => {
  it('tries the search list first for names with fewer than ndots dots', () => {
    expect(searchCandidates('service1', 'default')).toEqual([FQDN, 'service1.svc.cluster.local', 'service1.cluster.local', 'service1']);
    expect(searchCandidates('service1.default', 'shop')).toEqual([
      'service1.default.shop.svc.cluster.local', 'service1.default.svc.cluster.local', 'service1.default.cluster.local', 'service1.default']);
    // Four dots: still below ndots, so even the fully qualified name goes through the list first.
    expect(searchCandidates(FQDN, 'default')[0]).toBe(`${FQDN}.default.svc.cluster.local`);
    expect(searchCandidates(FQDN, 'default').at(-1)).toBe(FQDN);
  });

  it('tries the name as given first at ndots dots, and only it with a trailing dot', () => {
    expect(searchCandidates('a.b.c.d.e.f', 'ns')).toEqual(['a.b.c.d.e.f', 'a.b.c.d.e.f.ns.svc.cluster.local', 'a.b.c.d.e.f.svc.cluster.local', 'a.b.c.d.e.f.cluster.local']);
    expect(searchCandidates(`${FQDN}.`, 'default')).toEqual([FQDN]);
    expect(searchCandidates('example.com', 'default', { ndots: 1 })[0]).toBe('example.com');
    expect(searchCandidates('web', 'prod', { domain: 'corp.internal' })[0]).toBe('web.prod.svc.corp.internal');
    expect(searchCandidates(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}`, 'default')).toHaveLength(1);
  });

  it('resolves the way a pod would: first candidate with an answer', () => {
    const c = cluster();
    const resolve = (n: string, ns: string): string | undefined =>
      c.searchCandidates(n, ns).find((x) => c.answer(x, DnsType.A).answers.length > 0);
    expect(resolve('service1', 'default')).toBe(FQDN);
    expect(resolve('service1.default', 'shop')).toBe(FQDN);
    expect(resolve('multi', 'shop')).toBe('multi.shop.svc.cluster.local');
    expect(resolve('service1', 'shop')).toBeUndefined();
  });
});

// ------------------------------------------------------------------ answerQuery on bytes

function query(name: string, type: number, opts: { id?: number; edns?: number; version?: number; opcode?: number } = {}): Uint8Array {
  const m: DnsMessage = {
    id: opts.id ?? 0x94a1, qr: false, opcode: opts.opcode ?? 0, aa: false, tc: false, rd: true, ra: false, ad: true, cd: false, rcode: 0,
    questions: [{ name, type, class: 1 }], answers: [], authority: [], additional: [],
    edns: opts.edns === undefined ? undefined : { udpSize: opts.edns, extRcode: 0, version: opts.version ?? 0, dnssecOk: false, options: [{ code: 10, data: new Uint8Array(8).fill(7) }] },
  };
  const buf = new Uint8Array(512);
  return buf.slice(0, emitDnsMessage(m, buf, 0));
}

function respond(c: ClusterDnsRecords, req: Uint8Array, outSize = 4096): { bytes: Uint8Array; msg: DnsMessage } {
  const out = new Uint8Array(outSize);
  const n = c.answerQuery(req, out);
  expect(n).toBeGreaterThan(0);
  const msg = parseDnsMessage(out, 0, n);
  if (typeof msg === 'number') throw new Error(`unparsable response: ${msg}`);
  return { bytes: out.slice(0, n), msg };
}

describe('ClusterDnsRecords.answerQuery', () => {
  it('answers dig\'s query: id and RD copied, QR AA set, RA clear, question echoed, TTL 5 (CoreDNS defaultTTL), EDNS', () => {
    const { bytes, msg } = respond(cluster(), query(FQDN, DnsType.A, { edns: 1232 }));
    expect(Buffer.from(bytes.subarray(0, 12)).toString('hex')).toBe('94a1' + '8500' + '0001' + '0001' + '0000' + '0001');
    expect(msg.questions).toEqual([{ name: FQDN, type: DnsType.A, class: 1 }]);
    expect(msg.answers).toEqual([a(FQDN, '10.96.0.100')]);
    // CoreDNS reuses the client's OPT: its UDP size, version 0, the cookie echoed (request.SetSizeAndDo).
    expect(msg.edns).toEqual({ udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [{ code: 10, data: new Uint8Array(8).fill(7) }] });
    // The answer's owner is a pointer to the question: c00c, then A IN, TTL 5, 4 bytes.
    expect(Buffer.from(bytes.subarray(52, 68)).toString('hex')).toBe('c00c' + '0001' + '0001' + '00000005' + '0004' + '0a600064');
  });

  it('carries NXDOMAIN and NODATA with the SOA, SRV with additional', () => {
    const c = cluster();
    const nx = respond(c, query('nosuch.default.svc.cluster.local', DnsType.A)).msg;
    expect([nx.rcode, nx.aa, nx.answers.length, nx.authority[0]?.type, nx.edns]).toEqual([DnsRcode.NXDomain, true, 0, DnsType.SOA, undefined]);
    const nodata = respond(c, query(FQDN, DnsType.AAAA)).msg;
    expect([nodata.rcode, nodata.answers.length, nodata.authority.length]).toEqual([DnsRcode.NoError, 0, 1]);
    const srv = respond(c, query(`_http._tcp.${FQDN}`, DnsType.SRV)).msg;
    expect([srv.answers[0]?.type, srv.additional]).toEqual([DnsType.SRV, [a(FQDN, '10.96.0.100')]]);
    const servfail = respond(c, query('example.com', DnsType.A)).msg;
    expect([servfail.rcode, servfail.aa]).toEqual([DnsRcode.ServFail, false]);
  });

  it('answers FORMERR to unparsable queries with a readable header, NOTIMP to other opcodes', () => {
    const c = cluster();
    const good = query(FQDN, DnsType.A, { id: 0x4242 });
    const cut = respond(c, good.subarray(0, 20)).msg;
    expect([cut.id, cut.qr, cut.rcode, cut.rd, cut.questions.length]).toEqual([0x4242, true, DnsRcode.FormErr, true, 0]);
    const none = Uint8Array.from(good);
    none[5] = 0; // QDCOUNT 0
    expect(respond(c, none).msg.rcode).toBe(DnsRcode.FormErr);
    const status = respond(c, query(FQDN, DnsType.A, { opcode: 2 })).msg;
    expect([status.rcode, status.opcode]).toEqual([DnsRcode.NotImp, 2]);
    const badvers = respond(c, query(FQDN, DnsType.A, { edns: 1232, version: 1 })).msg;
    expect([badvers.rcode, badvers.edns?.extRcode, badvers.answers.length]).toEqual([0, 1, 0]);
  });

  it('echoes the client\'s EDNS UDP size and only the options CoreDNS passes on', () => {
    const req = parseDnsMessage(query(FQDN, DnsType.A, { edns: 4096 }), 0, 512);
    if (typeof req === 'number') throw new Error('bad query');
    req.edns!.options.push({ code: 99, data: new Uint8Array([1]) }, { code: 12, data: new Uint8Array(4) });
    const buf = new Uint8Array(512);
    const { msg } = respond(cluster(), buf.slice(0, emitDnsMessage(req, buf, 0)));
    expect([msg.edns?.udpSize, msg.edns?.options.map((o) => o.code)]).toEqual([4096, [10, 12]]);
  });

  it('sends nothing for responses and runts; -1 when the output buffer is too small', () => {
    const c = cluster();
    const out = new Uint8Array(512);
    expect(c.answerQuery(new Uint8Array(11), out)).toBe(0);
    const resp = respond(c, query(FQDN, DnsType.A)).bytes;
    expect(c.answerQuery(resp, out)).toBe(0);
    expect(c.answerQuery(query(FQDN, DnsType.A), new Uint8Array(30))).toBe(-1);
  });

  it('sets TC when the answer exceeds the client UDP size, and not over EDNS or TCP', () => {
    const c = cluster();
    const ports = Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, port: 1000 + i, protocol: 'TCP' as const }));
    c.setService({ name: 'wide', namespace: 'default', clusterIP: ip('10.96.9.9'), ports });
    const name = 'wide.default.svc.cluster.local';
    const small = respond(c, query(name, DnsType.SRV));
    // miekg/dns Truncate: as many whole answer records as fit in 512 bytes, TC set, no additional.
    expect([small.msg.tc, small.bytes.length <= 512, small.msg.additional.length]).toEqual([true, true, 0]);
    expect(small.msg.answers.length).toBeGreaterThan(0);
    expect(small.msg.answers.length).toBeLessThan(12);
    const all = c.answer(name, DnsType.SRV).answers;
    const oneMore = { ...small.msg, answers: all.slice(0, small.msg.answers.length + 1) };
    expect(emitDnsMessage(oneMore, new Uint8Array(4096), 0, 512)).toBe(-1); // the cut is maximal

    expect(small.msg.questions[0]?.name).toBe(name);
    const big = respond(c, query(name, DnsType.SRV, { edns: 1232 }));
    expect([big.msg.tc, big.msg.answers.length, big.bytes.length > 512]).toEqual([false, 12, true]);
    const out = new Uint8Array(4096);
    const n = c.answerQuery(query(name, DnsType.SRV), out, 0, { tcp: true });
    expect(n).toBeGreaterThan(512);
  });
});
