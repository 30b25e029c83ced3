/**
 * Cluster DNS to the specification, asked by real `dig` from an attached network namespace
 * (a TAP into an emulated two-node cluster), over UDP (+notcp) and TCP (+tcp) alike: service
 * A, AAAA NODATA with the SOA, NXDOMAIN with the SOA, names outside the zone forwarded to
 * `cluster.dns.upstream` (a resolver this test runs on 127.0.0.1), SRV with the A in additional, PTR,
 * pod A, dns-version TXT, ExternalName CNAME, headless A and `<hostname>.<svc>`, names in
 * any case, and a headless service of 60 endpoints whose UDP answer is truncated (TC) so dig
 * retries over TCP. glibc's `getent hosts` and bind's `nslookup` resolve short names through
 * the resolv.conf podwire hands out (written to /etc/netns/<ns>/resolv.conf, which `ip netns
 * exec` shows as /etc/resolv.conf). tshark decodes every DNS message of the capture without a
 * warning. The namespace, its /etc/netns directory, the runner and the capture are removed in
 * afterAll.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { cleanupLeftovers } from '../../src/io/attach.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, Runner, type Reply } from './attach-util.js';
import { tsharkFields } from './tshark-util.js';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage } from '../../src/wire/dns.js';

/**
 * The upstream resolver on 127.0.0.1 that `cluster.dns.upstream` points at: A 192.0.2.7 for
 * api.example.com (a documentation address: it only appears in answers), SERVFAIL for the rest.
 */
async function fakeUpstream(): Promise<{ sock: Socket; port: number; asked: string[] }> {
  const sock = createSocket('udp4');
  const asked: string[] = [];
  sock.on('message', (m, r) => {
    const q = parseDnsMessage(m, 0, m.length);
    if (typeof q === 'number') return;
    const name = q.questions[0]?.name ?? '';
    asked.push(name);
    const known = name.toLowerCase() === 'api.example.com' && q.questions[0]!.type === DnsType.A;
    const out = Buffer.alloc(512);
    const n = emitDnsMessage({
      ...q, qr: true, ra: true, ad: false, rcode: known ? DnsRcode.NoError : DnsRcode.ServFail, additional: [],
      answers: known ? [{ name, type: DnsType.A, class: 1, ttl: 300, data: { kind: 'a', address: 0xc0000207 } }] : [],
    }, out, 0);
    sock.send(out.subarray(0, n), r.port, r.address);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { sock, port: sock.address().port, asked };
}

const MANY = 60;

function topology(cluster: string, ns: string, upstreamPort: number): string {
  const many = Array.from({ length: MANY }, (_, i) => `  - { name: m${i}, node: node${1 + (i % 2)}, labels: { app: many } }`).join('\n');
  return `cluster: { name: ${cluster}, dns: { upstream: "127.0.0.1:${upstreamPort}" } }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: client, node: node1, attach: { netns: ${ns} } }
  - { name: db-0, node: node1, labels: { app: db }, hostname: db-0, subdomain: db }
  - { name: db-1, node: node2, labels: { app: db }, hostname: db-1, subdomain: db }
${many}
services:
  - { name: web, selector: { app: db }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
  - { name: db, clusterIP: None, selector: { app: db }, ports: [{ name: pg, port: 5432 }] }
  - { name: many, clusterIP: None, selector: { app: many }, ports: [{ name: http, port: 80 }] }
  - { name: ext, type: ExternalName, externalName: www.example.com }
`;
}

describeE2E('cluster DNS answers dig from an attached pod, over UDP and TCP', ['root', 'tun', 'netns', 'dig', 'tshark'], () => {
  const cluster = uniq('pwdn');
  const ns = uniq('pwdnA');
  const dir = mkdtempSync(join(tmpdir(), 'podwire-dns-e2e-'));
  const pcap = join(dir, 'dns.pcapng');
  let pw: Runner | undefined;
  let ready: Reply;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>> | undefined;

  beforeAll(async () => {
    buildDist();
    upstream = await fakeUpstream();
    await ipx.netnsAdd(ns);
    writeFileSync(join(dir, 'dns.yaml'), topology(cluster, ns, upstream.port));
    pw = new Runner(join(dir, 'dns.yaml'));
    ready = await pw.ready;
    expect(await pw.cmd(`capture node1/veth0 ${pcap}`)).toMatchObject({ ok: true });
  }, 120_000);

  afterAll(async () => {
    try {
      await pw?.stop();
    } finally {
      upstream?.sock.close();
      await ipx.netnsDelete(ns).catch(() => undefined);
      rmSync(join('/etc/netns', ns), { recursive: true, force: true });
      await cleanupLeftovers({ cluster });
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await ipx.netnsList()).not.toContain(ns);
  }, 60_000);

  const dig = (...args: string[]): Promise<string> => inNs(ns, 'dig', '@10.96.0.10', '+time=2', '+tries=2', ...args);
  /** `+noall +answer` lines, sorted, over UDP and over TCP: both must agree. */
  const answers = async (...args: string[]): Promise<string[]> => {
    const lines = (t: string): string[] => t.split('\n').filter((l) => l !== '' && !l.startsWith(';')).map((l) => l.replace(/\s+/g, ' ')).sort();
    const udp = lines(await dig('+notcp', '+noall', '+answer', ...args));
    const tcp = lines(await dig('+tcp', '+noall', '+answer', ...args));
    expect(tcp, `${args.join(' ')} over TCP`).toEqual(udp);
    return udp;
  };
  const vip = (name: string): string => (ready['services'] as Record<string, string>)[name]!;

  describe('records', () => {
    it('A for a ClusterIP service, TTL 5, aa, any case', async () => {
      expect(await answers('web.default.svc.cluster.local', 'A')).toEqual([`web.default.svc.cluster.local. 5 IN A ${vip('web')}`]);
      expect(await answers('WEB.Default.SVC.cluster.LOCAL', 'A')).toHaveLength(1);
      expect(await dig('+notcp', 'web.default.svc.cluster.local', 'A')).toMatch(/flags: qr aa rd;/);
    });

    it('AAAA of an IPv4 service is NODATA with the SOA; a missing name NXDOMAIN with the SOA; outside the zone SERVFAIL', async () => {
      for (const t of ['+notcp', '+tcp']) {
        const nodata = await dig(t, 'web.default.svc.cluster.local', 'AAAA');
        expect(nodata).toMatch(/status: NOERROR/);
        expect(nodata).toMatch(/ANSWER: 0, AUTHORITY: 1/);
        const nx = await dig(t, 'nosuch.default.svc.cluster.local', 'A');
        expect(nx).toMatch(/status: NXDOMAIN/);
        expect(nx).toMatch(/^cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/m);
        expect(await dig(t, 'example.com', 'A')).toMatch(/status: SERVFAIL/);
      }
    });

    it('names outside the zone go to cluster.dns.upstream (CoreDNS forward) and its answer comes back, over UDP and TCP', async () => {
      expect(await answers('api.example.com', 'A')).toEqual(['api.example.com. 300 IN A 192.0.2.7']);
      const full = await dig('+notcp', 'api.example.com', 'A');
      expect(full).toMatch(/flags: qr rd ra;/); // not authoritative: the upstream's answer
      expect(upstream!.asked.filter((n) => n === 'api.example.com').length).toBeGreaterThanOrEqual(3);
      // In-zone names never reach the upstream.
      expect(upstream!.asked.some((n) => n.endsWith('cluster.local'))).toBe(false);
    });

    it('SRV with the target A in additional; PTR; pod A; dns-version TXT; ExternalName CNAME', async () => {
      expect(await answers('_http._tcp.web.default.svc.cluster.local', 'SRV')).toEqual(['_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.']);
      expect(await dig('+notcp', '_http._tcp.web.default.svc.cluster.local', 'SRV')).toMatch(new RegExp(`^web\\.default\\.svc\\.cluster\\.local\\.\\s+5\\s+IN\\s+A\\s+${vip('web').replaceAll('.', '\\.')}$`, 'm'));
      expect(await answers('-x', vip('web'))).toEqual([`${vip('web').split('.').reverse().join('.')}.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.`]);
      expect(await answers('10-244-1-77.default.pod.cluster.local', 'A')).toEqual(['10-244-1-77.default.pod.cluster.local. 5 IN A 10.244.1.77']);
      expect(await answers('dns-version.cluster.local', 'TXT')).toEqual(['dns-version.cluster.local. 28800 IN TXT "1.1.0"']);
      expect(await answers('ext.default.svc.cluster.local', 'CNAME')).toEqual(['ext.default.svc.cluster.local. 5 IN CNAME www.example.com.']);
    });

    it('headless: one A per endpoint, <hostname>.<svc>, SRV targets per endpoint, PTR of an endpoint', async () => {
      const a = await answers('db.default.svc.cluster.local', 'A');
      expect(a).toHaveLength(2);
      const db0 = (await answers('db-0.db.default.svc.cluster.local', 'A'))[0]!.split(' ').pop()!;
      expect(a.map((l) => l.split(' ').pop())).toContain(db0);
      expect((await answers('_pg._tcp.db.default.svc.cluster.local', 'SRV')).map((l) => l.split(' ').slice(4).join(' '))).toEqual([
        '0 50 5432 db-0.db.default.svc.cluster.local.', '0 50 5432 db-1.db.default.svc.cluster.local.']);
      expect((await answers('-x', db0)).map((l) => l.split(' ').pop())).toContain('db-0.db.default.svc.cluster.local.');
    });
  });

  it(`truncation: ${MANY} headless A records do not fit 512 bytes, TC is set, dig retries over TCP and gets them all`, async () => {
    const udpOnly = await dig('+notcp', '+ignore', '+noedns', 'many.default.svc.cluster.local', 'A');
    expect(udpOnly).toMatch(/flags: qr aa tc rd;/);
    const retried = await dig('+notcp', '+noedns', 'many.default.svc.cluster.local', 'A');
    expect(retried).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried).toMatch(new RegExp(`ANSWER: ${MANY},`));
    expect(await answers('+noedns', 'many.default.svc.cluster.local', 'A')).toHaveLength(MANY);
  });

  it('getent hosts and nslookup resolve short names through the resolv.conf podwire hands out', async () => {
    const attached = (ready['attached'] as { pod: string; resolvConf: string[] }[]).find((a) => a.pod === 'client')!;
    expect(attached.resolvConf).toEqual(['nameserver 10.96.0.10', 'search default.svc.cluster.local svc.cluster.local cluster.local', 'options ndots:5']);
    mkdirSync(join('/etc/netns', ns), { recursive: true });
    writeFileSync(join('/etc/netns', ns, 'resolv.conf'), `${attached.resolvConf.join('\n')}\n`);
    // glibc: `web` has 0 dots < ndots:5, so the search list comes first; the first suffix answers.
    expect((await inNs(ns, 'getent', 'hosts', 'web')).trim().split(/\s+/)).toEqual([vip('web'), 'web.default.svc.cluster.local']);
    expect((await inNs(ns, 'getent', 'hosts', 'db-0.db')).trim().split(/\s+/)[1]).toBe('db-0.db.default.svc.cluster.local');
    // A name no suffix completes: glibc exits 2 (not found) after trying them all and the name itself.
    await expect(inNs(ns, 'getent', 'hosts', 'nosuch')).rejects.toThrow();
    const ns1 = await inNs(ns, 'nslookup', '-timeout=2', 'web');
    expect(ns1).toMatch(/Server:\s+10\.96\.0\.10/);
    expect(ns1).toMatch(new RegExp(`Name:\\s+web\\.default\\.svc\\.cluster\\.local\\nAddress: ${vip('web').replaceAll('.', '\\.')}`));
    const svcShort = await inNs(ns, 'nslookup', '-timeout=2', 'web.default');
    expect(svcShort).toMatch(/Name:\s+web\.default\.svc\.cluster\.local/);
  });

  it('tshark decodes every DNS message of the capture without a malformed or warning mark', async () => {
    const stop = await pw!.cmd('capture-stop');
    expect(stop).toMatchObject({ ok: true });
    const rows = tsharkFields(pcap, ['frame.number', 'dns.flags.response', '_ws.malformed', '_ws.expert.severity'], ['-Y', 'dns']);
    expect(rows.filter((r) => r[1] === '1' || r[1] === 'True').length).toBeGreaterThan(20);
    expect(rows.filter((r) => r[2] !== '')).toEqual([]);
    expect(tsharkFields(pcap, ['frame.number'], ['-Y', '_ws.malformed || _ws.expert.severity >= warning'])).toEqual([]);
  });
});
