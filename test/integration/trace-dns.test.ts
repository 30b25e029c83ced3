/**
 * `trace --to NAME` where NAME is a DNS name: the source pod's stub resolver walks the search
 * list under ndots:5 (A and AAAA per name, through the emulated network to kube-dns), the
 * trace goes to the address found and shows every query; a name that does not resolve is an
 * error that lists what was asked.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture } from '../../src/io/capture-reader.js';
import { traceTopology } from '../../src/control/local.js';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { runTrace, TraceInputError } from '../../src/kube/trace.js';
import { formatIpv4 } from '../../src/wire/addr.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const dnsQueries = (c: ReturnType<typeof clusterFromTopology>): number =>
  c.engine.countedOwners().filter(([k]) => k.endsWith('/dns')).reduce((n, [, o]) => n + (o.counters.toJSON()['queries'] ?? 0), 0);

const run = runCli;

describe('trace to a DNS name', () => {
  it('a fully qualified name without its dot: 3 search names first (6 queries), then the name; the trace reaches the service', () => {
    const c = clusterFromTopology(demo);
    try {
      const vip = formatIpv4(c.plan.services.find((s) => s.name === 'service1')!.clusterIP);
      const before = dnsQueries(c);
      const t = runTrace(c, { from: 'pod1', to: 'service1.default.svc.cluster.local', proto: 'tcp', port: 80 });
      expect(t.dst).toBe(vip);
      expect(t.reply?.delivered).toBe(true);
      expect(t.resolve).toMatchObject({ outcome: 'answer', answeredName: 'service1.default.svc.cluster.local', address: vip, before: 3, ndots: 5 });
      expect(t.resolve!.queries.map((q) => `${q.name} ${q.type} ${q.result}`)).toEqual([
        'service1.default.svc.cluster.local.default.svc.cluster.local A NXDOMAIN', 'service1.default.svc.cluster.local.default.svc.cluster.local AAAA NXDOMAIN',
        'service1.default.svc.cluster.local.svc.cluster.local A NXDOMAIN', 'service1.default.svc.cluster.local.svc.cluster.local AAAA NXDOMAIN',
        'service1.default.svc.cluster.local.cluster.local A NXDOMAIN', 'service1.default.svc.cluster.local.cluster.local AAAA NXDOMAIN',
        'service1.default.svc.cluster.local A NOERROR', 'service1.default.svc.cluster.local AAAA NOERROR',
      ]);
      // Real packets: kube-dns counted every one.
      expect(dnsQueries(c) - before).toBe(8);
      // With the trailing dot: one name, two queries.
      const abs = runTrace(c, { from: 'pod1', to: 'service1.default.svc.cluster.local.', proto: 'icmp' });
      expect(abs.resolve!.queries).toHaveLength(2);
      expect(abs.resolve!.before).toBe(0);
    } finally {
      c.close();
    }
  });

  it('a headless pod name and a pod A record resolve through the search list; `svc` and `svc.ns` stay service names', () => {
    const c = clusterFromTopology(`${demo.trimEnd()}\n  - { name: db, clusterIP: None, selector: { app: web }, ports: [{ name: http, port: 8080 }] }\n`);
    try {
      // Headless: no virtual IP, so `db` is a DNS name; its A records are the endpoints (pod2, pod3).
      const t = runTrace(c, { from: 'pod1', to: 'db', proto: 'tcp', port: 8080 });
      expect(t.resolve).toMatchObject({ answeredName: 'db.default.svc.cluster.local', before: 0 });
      expect(['10.244.1.3', '10.244.2.2']).toContain(t.dst);
      expect(t.reply?.delivered).toBe(true);
      expect(t.request.hops.some((h) => h.action === 'dnat')).toBe(false);
    } finally {
      c.close();
    }
    const c2 = clusterFromTopology(demo);
    try {
      const t = runTrace(c2, { from: 'pod1', to: '10-244-2-2.default.pod', proto: 'icmp' });
      expect(t.resolve).toMatchObject({ answeredName: '10-244-2-2.default.pod.cluster.local', address: '10.244.2.2', before: 2 });
      expect(t.reply?.delivered).toBe(true);
      expect(runTrace(c2, { from: 'pod1', to: 'service1.default', proto: 'icmp' }).resolve).toBeUndefined();
    } finally {
      c2.close();
    }
  });

  it('a name that does not resolve is a not-found error naming every name asked', () => {
    const c = clusterFromTopology(demo);
    try {
      let err: unknown;
      try { runTrace(c, { from: 'pod1', to: 'api.example.com', proto: 'icmp' }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(TraceInputError);
      expect((err as TraceInputError).notFound).toBe(true);
      expect((err as Error).message).toMatch(/as a DNS name from pod1 it does not resolve \(not-found, 8 queries in 0 ms: api\.example\.com\.default\.svc\.cluster\.local NXDOMAIN, api\.example\.com\.svc\.cluster\.local NXDOMAIN, api\.example\.com\.cluster\.local NXDOMAIN, api\.example\.com SERVFAIL\)/);
      // From a node there is no pod resolver: the plain error.
      expect(() => runTrace(c, { from: 'node1', to: 'api.example.com', proto: 'icmp' })).toThrow(/is not a pod, a service, a node or an IPv4 address \(have/);
    } finally {
      c.close();
    }
  });

  it('the lookup is in the captures: every query and answer on pod1/eth0, before the probe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podwire-trace-dns-'));
    try {
      const r = await traceTopology(examplePath('demo.yaml'), { from: 'pod1', to: 'service1.default.svc.cluster.local', proto: 'tcp', port: 80 }, { pcap: dir });
      const eth0 = r.captures!.find((f) => f.interface === 'pod1/eth0')!;
      const frames = readCapture(readFileSync(eth0.file)).packets.map((p) => p.data).filter((d) => d.readUInt16BE(12) === 0x0800);
      const ports = frames.map((d) => (d[23] === 17 ? [d.readUInt16BE(34), d.readUInt16BE(36)] : null));
      const queries = ports.filter((p) => p !== null && p[1] === 53).length;
      const answers = ports.filter((p) => p !== null && p[0] === 53).length;
      expect([queries, answers]).toEqual([8, 8]);
      // The DNS traffic comes first, then the SYN to the service.
      const firstTcp = frames.findIndex((d) => d[23] === 6);
      expect(ports.slice(0, firstTcp).filter((p) => p !== null)).toHaveLength(16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('podwire trace prints the lookup and what ndots cost; --json carries it', async () => {
    const r = await run('trace', 'examples/demo.yaml', '--from', 'pod1', '--to', 'service1.default.svc.cluster.local', '--proto', 'tcp', '--port', '80');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[1]).toBe('resolve service1.default.svc.cluster.local from pod1 (nameserver 10.96.0.10; search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5):');
    expect(lines[2]).toBe('  service1.default.svc.cluster.local.default.svc.cluster.local. IN A -> NXDOMAIN');
    expect(r.out).toMatch(/^ {2}3 names asked before service1\.default\.svc\.cluster\.local \(6 queries\): service1\.default\.svc\.cluster\.local has 4 dots, fewer than ndots:5, so the search list comes first; `service1\.default\.svc\.cluster\.local\.` \(a trailing dot\) asks it at once$/m);
    expect(r.out).toMatch(/^ {2}answer from service1\.default\.svc\.cluster\.local: 10\.96\.0\.\d+$/m);
    const j = JSON.parse((await run('trace', 'examples/demo.yaml', '--from', 'pod1', '--to', 'service1.default.svc.cluster.local.', '--json')).out) as { resolve: { queries: unknown[] } };
    expect(j.resolve.queries).toHaveLength(2);
    const bad = await run('trace', 'examples/demo.yaml', '--from', 'pod1', '--to', 'nosuch.example.org');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/does not resolve/);
  });
});
