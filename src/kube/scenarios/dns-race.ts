/**
 * Scenario `dns-conntrack-race`: glibc's stub resolver sends the A and AAAA queries of one
 * getaddrinfo() together from one UDP socket (sendmmsg). A UDP connect() creates no
 * conntrack entry, so both packets are new to the node's conntrack; handled at the same time
 * on two CPUs, both miss, both are DNATed by kube-proxy's random choice of a kube-dns
 * endpoint, and the second to confirm clashes with the first (nf_conntrack_core.c
 * __nf_conntrack_confirm -> nf_ct_resolve_clash). Same endpoint: resolved; another one:
 * dropped, `conntrack -S` insert_failed. The resolver waits its `timeout:5` and asks again:
 * lookups take 5 s, at random. podwire's node CPUs: NatHooks.cpus (src/netfilter/nat-hooks.ts).
 * Fix: the queries over TCP (`options use-vc`): one connection, its SYN alone creates the
 * entry, both queries follow on it. (Also: `single-request-reopen`, NodeLocal DNSCache.)
 */
import { TcpConnection } from '../../apps/tcp.js';
import { DnsType, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../../wire/dns.js';
import { formatIpv4, writeU16 } from '../../wire/addr.js';
import type { NetNamespace } from '../../net/netns.js';
import type { Cluster } from '../cluster.js';
import { buildCluster, UdpClient, type Scenario } from './scenario.js';

const YAML = `
cluster: { name: dns-race, overlay: vxlan, dnsReplicas: 2 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: app, node: node1 }
  - { name: web-0, node: node2, labels: { app: web }, apps: [ { type: http, port: 8080 } ] }
services:
  - { name: web, selector: { app: web }, ports: [ { port: 80, targetPort: 8080 } ] }
`;

const NAME = 'web.default.svc.cluster.local';
const LOOKUPS = 10;
/** resolv.conf `options timeout:5` (glibc's RES_TIMEOUT default). */
const TIMEOUT_MS = 5000;

function query(id: number, type: number): Buffer {
  const msg: DnsMessage = {
    id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0,
    questions: [{ name: NAME, type, class: 1 }], answers: [], authority: [], additional: [],
  };
  const b = Buffer.alloc(512);
  return b.subarray(0, emitDnsMessage(msg, b, 0));
}

/** One getaddrinfo() over UDP, glibc style: A and AAAA at once from one socket, each resent after `timeout` until answered. */
function lookupUdp(c: Cluster, ns: NetNamespace, dns: number, id: number): { ms: number; resent: number } {
  const got = new Set<number>();
  const sock = new UdpClient(ns, dns, 53);
  const realSend = (q: Buffer): void => { sock.send(q); };
  const qs = [query(id, DnsType.A), query(id + 1, DnsType.AAAA)];
  const t0 = c.engine.now();
  let resent = 0;
  qs.forEach(realSend); // sendmmsg: both in one instant
  for (let waited = 0; got.size < 2 && waited < 4 * TIMEOUT_MS;) {
    c.engine.advance(10);
    waited += 10;
    for (const d of sock.inbox.splice(0)) {
      const m = parseDnsMessage(d, 0, d.length);
      if (typeof m !== 'number') got.add(m.id);
    }
    if (got.size < 2 && waited % TIMEOUT_MS === 0) {
      for (const q of qs) if (!got.has(q.readUInt16BE(0))) { realSend(q); resent++; }
    }
  }
  sock.close();
  return { ms: c.engine.now() - t0, resent };
}

/** The same lookup with `options use-vc`: both queries on one TCP connection (RFC 7766 framing). */
async function lookupTcp(c: Cluster, ns: NetNamespace, dns: number, id: number): Promise<{ ms: number; resent: number }> {
  const t0 = c.engine.now();
  const k = TcpConnection.connect(ns, dns, 53, { timeoutMs: TIMEOUT_MS });
  let buf = Buffer.alloc(0);
  let answers = 0;
  k.onData((d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { buf = buf.subarray(2 + buf.readUInt16BE(0)); answers++; }
  });
  const framed = [query(id, DnsType.A), query(id + 1, DnsType.AAAA)].map((q) => { const f = Buffer.alloc(2 + q.length); writeU16(f, 0, q.length); q.copy(f, 2); return f; });
  k.write(Buffer.concat(framed));
  for (let waited = 0; answers < 2 && waited < 4 * TIMEOUT_MS; waited += 10) c.engine.advance(10);
  const ms = c.engine.now() - t0;
  if (k.state !== 'closed') k.close();
  c.engine.advance(100);
  await Promise.resolve();
  return { ms, resent: 0 };
}

export const dnsRace: Scenario = {
  name: 'dns-conntrack-race',
  summary: 'A and AAAA queries from one socket race through conntrack to two kube-dns pods: insert_failed, 5 s lookups',
  remedy: 'resolv.conf options use-vc (DNS over TCP; also single-request-reopen, or NodeLocal DNSCache)',
  issues: ['kubernetes/kubernetes#56903', 'kubernetes/kubernetes#62628', 'weaveworks/weave#3287'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx);
    for (const h of c.services.hooks.values()) h.nat.cpus = 2; // two CPUs per node
    const dns = c.plan.dnsServiceIp;
    const ns = c.pod('app').ns;
    const times: { ms: number; resent: number }[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      times.push(ctx.fix ? await lookupTcp(c, ns, dns, 100 + 2 * i) : lookupUdp(c, ns, dns, 100 + 2 * i));
      c.engine.advance(1000);
    }
    const t = c.services.conntrack.get('node1')!;
    const slow = times.filter((x) => x.ms >= TIMEOUT_MS);
    const counters = {
      insert_failed: t.stats.clashInsertFailed, clash_resolve: t.stats.clashResolve, 'lookups': LOOKUPS, 'lookups of 5 s or more': slow.length,
      'queries resent': times.reduce((a, x) => a + x.resent, 0),
    };
    const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms} ms`);
    const notes = [
      `app -> kube-dns ${formatIpv4(dns)}:53 (endpoints kube-dns-1 on node1, kube-dns-2 on node2), ${LOOKUPS} getaddrinfo("${NAME}")${ctx.fix ? ' over TCP (use-vc)' : ', A and AAAA together from one UDP socket'}`,
      `lookup times: ${times.map((x) => fmt(x.ms)).join(', ')}`,
      `node1# conntrack -S: insert_failed=${t.stats.clashInsertFailed} clash_resolve=${t.stats.clashResolve}`,
    ];
    if (slow.length > 0) {
      return {
        symptom: `time getent ahosts ${NAME}: real ${(slow[0]!.ms / 1000).toFixed(3)}s in ${slow.length} of ${LOOKUPS} runs (the AAAA answer never comes; glibc resends it after timeout:5)`,
        failed: true, hop: 'node1/conntrack (confirmation of the AAAA query)',
        reason: `nf_conntrack: insert_failed ${t.stats.clashInsertFailed}: the A query's entry won the race, the AAAA DNATed to the other kube-dns pod is dropped`, counters, notes,
      };
    }
    return { symptom: `all ${LOOKUPS} lookups answered in at most ${fmt(Math.max(...times.map((x) => x.ms)))}`, failed: false, hop: null, reason: null, counters, notes };
  },
};
