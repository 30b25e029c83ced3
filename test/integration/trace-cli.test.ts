/**
 * `podwire trace` flags through `main(argv, io)` (issue 19, item 3): --to NAME:PORT and
 * IP:PORT, --proto in any case, --size, --count, --pcap DIR, --from NODE|external, and the
 * usage errors (exit 2) naming the flag and the value: --port with ICMP, a port twice, a flag
 * given twice, out-of-range numbers, --pcap with --api; an unknown --to lists the candidates;
 * with --json every error is JSON; counts in English ("1 packet", "2 services").
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { externalTopology, LB_IP, NODE_PORT } from '../fixtures/trace-external.js';
import { demoApi, runCli } from './helpers.js';

const DEMO = 'examples/demo.yaml';
const tmp = mkdtempSync(join(tmpdir(), 'podwire-trace-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const EXT = join(tmp, 'external.yaml');
writeFileSync(EXT, externalTopology());
const run = runCli;

describe('podwire trace: targets, protocols, sources', () => {
  it('--to NAME:PORT and --to IP:PORT; --proto TCP in capitals', async () => {
    const a = await run('trace', DEMO, '--from', 'pod1', '--to', 'service1:80', '--proto', 'TCP');
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/^pod1 -> service1:80 \(10\.96\.0\.2\), TCP port 80$/m);
    const b = await run('trace', DEMO, '--from', 'pod1', '--to', '10.244.2.2:9000', '--proto', 'Udp');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/^pod1 -> 10\.244\.2\.2:9000 \(10\.244\.2\.2\), UDP port 9000$/m);
    expect(b.out).toMatch(/delivered to the socket on UDP port 9000/);
  });

  it('--from NODE and --from external (a NodePort, a LoadBalancer IP)', async () => {
    const n = await run('trace', DEMO, '--from', 'node2', '--to', 'pod1');
    expect(n.code, n.err).toBe(0);
    expect(n.out).toMatch(/^ {3}1\. The root namespace of node2 sends an ICMP packet from 10\.244\.2\.0 to 10\.244\.1\.2/m);
    const np = await run('trace', EXT, '--from', 'external', '--to', `node1:${NODE_PORT}`, '--proto', 'tcp');
    expect(np.code, np.err).toBe(0);
    expect(np.out).toMatch(/matches NodePort 30080 on node1's address 192\.168\.56\.11 \(default\/far\)/);
    const lb = await run('trace', EXT, '--from', 'external', '--to', `${LB_IP}:80`, '--proto', 'tcp', '--json');
    expect(lb.code, lb.err).toBe(0);
    const j = JSON.parse(lb.out) as { request: { hops: { node: string; action: string }[] } };
    expect(j.request.hops[0]).toMatchObject({ node: 'external', action: 'send' });
  });

  it('an unknown --to lists the pods, services and nodes, as --from lists its candidates (exit 1)', async () => {
    const to = await run('trace', DEMO, '--from', 'pod1', '--to', 'nowhere');
    expect(to.code).toBe(1);
    expect(to.err).toMatch(/^podwire trace: to: "nowhere" is not a pod, a service, a node or an IPv4 address \(have pods pod1, pod2, pod3, kube-dns-1\.kube-system; services service1, kube-dns\.kube-system; nodes node1, node2\); as a DNS name from pod1 it does not resolve \(not-found, 8 queries in 0 ms: nowhere\.default\.svc\.cluster\.local NXDOMAIN, nowhere\.svc\.cluster\.local NXDOMAIN, nowhere\.cluster\.local NXDOMAIN, nowhere SERVFAIL\)$/);
    const from = await run('trace', DEMO, '--from', 'nobody', '--to', 'pod2');
    expect(from.err).toMatch(/from: "nobody" is not a pod \(have pod1, .*; or a node: node1, node2; or external, a client on the underlay\)/);
  });

  it('a failed ARP shows the ICMP host unreachable under "ICMP error", not "reply" (exit 1: not delivered)', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', '10.244.2.99');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ICMP error \(host unreachable, from node2\):$/m);
    expect(r.out).not.toMatch(/^reply/m);
    const j = JSON.parse((await run('trace', DEMO, '--from', 'pod1', '--to', '10.244.2.99', '--json')).out) as { replyKind: string };
    expect(j.replyKind).toBe('icmp-error');
  });
});

describe('podwire trace --size and --count', () => {
  it('--size 1500 from outside to a NodePort across the overlay: fragmentation needed, MTU 1450, from node1', async () => {
    const r = await run('trace', EXT, '--from', 'external', '--to', `node1:${NODE_PORT}`, '--proto', 'tcp', '--size', '1500');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^external -> node1:30080 \(192\.168\.56\.11\), TCP port 30080, 1500 bytes \(DF\)$/m);
    expect(r.out).toMatch(/answers with ICMP type 3 code 4 \(fragmentation needed and DF set\) \(next-hop MTU 1450\) to 192\.168\.56\.254\./);
    expect(r.out).toMatch(/^ICMP error \(fragmentation needed and DF set, MTU 1450, from node1\):$/m);
    expect((await run('trace', EXT, '--from', 'external', '--to', `node1:${NODE_PORT}`, '--proto', 'tcp', '--size', '1450')).code).toBe(0);
  });

  it('--count 10 prints the spread over the endpoints; --count 1 in the singular', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'service1:80', '--proto', 'tcp', '--count', '10');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('pod1 -> service1:80 (10.96.0.2), TCP port 80: 10 new flows, spread over 2 endpoints:');
    const rows = lines.slice(1, 3).map((l) => /^ {2}(pod[23]) \((10\.244\.\d\.\d:8080)\) +(\d+) flows? +(\d+)%$/.exec(l));
    expect(rows.every((m) => m !== null), r.out).toBe(true);
    expect(rows.reduce((a, m) => a + Number(m![3]), 0)).toBe(10);
    expect(lines[3]).toBe('=> all 10 delivered');
    const one = await run('trace', DEMO, '--from', 'pod1', '--to', 'pod2', '--count', '1');
    expect(one.out).toMatch(/: 1 new flow, spread over 1 endpoint:\n {2}pod2 \(10\.244\.1\.3\) +1 flow +100%\n=> delivered$/);
    const j = JSON.parse((await run('trace', DEMO, '--from', 'pod1', '--to', 'service1:80', '--proto', 'tcp', '--count', '4', '--json')).out) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['count', 'flows', 'reply', 'request', 'reset', 'spread']);
    expect(j['count']).toBe(4);
  });

  it('--pcap DIR writes the captures and puts time and frames on every hop', async () => {
    const dir = join(tmp, 'caps');
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--pcap', dir);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(dir)).toContain('pod1_eth0.pcapng');
    expect(r.out).toMatch(/^ {3}1\. pod1 sends an ICMP packet .*\. \[\+0 us\]$/m);
    expect(r.out).toMatch(/^ {3}5\. The packet crosses the veth pair \(pod1\/eth0 -> root\/veth0\).* \[\+\d+ us, node1_veth0\.pcapng #\d+\]$/m);
    expect(r.out).toMatch(/^captures \(\d+ files in .*caps, open them in Wireshark or tshark; \[\+us, file #frame\] on each hop\):$/m);
    expect(r.out).toMatch(/node2_veth1?\.pcapng {2}1 packet$|pod2_eth0\.pcapng {2}1 packet$/m); // an ARP flood: one frame, in the singular
    const j = JSON.parse((await run('trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--pcap', dir, '--json')).out) as { captures: unknown[]; request: { hops: { captures?: unknown[] }[] } };
    expect(j.captures.length).toBeGreaterThan(5);
    expect(j.request.hops.some((h) => (h.captures?.length ?? 0) > 0)).toBe(true);
  });
});

describe('podwire trace usage errors (exit 2) name the flag and the value', () => {
  const cases: [string[], RegExp][] = [
    [['--from', 'pod1', '--to', 'pod2', '--port', '80'], /^podwire trace: --port "80" goes with --proto udp or tcp \(ICMP has no ports\)/],
    [['--from', 'pod1', '--to', 'pod2:80'], /^podwire trace: --to "pod2:80" names a port: give --proto udp or tcp/],
    [['--from', 'pod1', '--to', 'pod2:80', '--proto', 'tcp', '--port', '80'], /^podwire trace: --to "pod2:80" and --port "80": give the port once/],
    [['--from', 'pod1', '--to', 'pod2:http', '--proto', 'tcp'], /^podwire trace: --to "pod2:http": the port after ':' must be an integer from 1 to 65535/],
    [['--from', 'pod1', '--to', 'pod2', '--to', 'pod3'], /^podwire trace: --to is given more than once \("pod2" and "pod3"\): give it once/],
    [['--from', 'pod1', '--from', 'pod1', '--to', 'pod3'], /^podwire trace: --from is given more than once/],
    [['--from', 'pod1', '--to', 'pod3', '--pcap', 'a', '--pcap', 'b'], /^podwire trace: --pcap is given more than once \("a" and "b"\): give it once/],
    [['--from', 'pod1', '--to', 'pod3', '--proto', 'sctp'], /^podwire trace: --proto "sctp" must be icmp, udp or tcp/],
    [['--from', 'pod1', '--to', 'pod3', '--count', '0'], /^podwire trace: --count "0" must be an integer from 1 to 1000/],
    [['--from', 'pod1', '--to', 'pod3', '--count', 'many'], /^podwire trace: --count "many" must be an integer from 1 to 1000/],
    [['--from', 'pod1', '--to', 'pod3', '--size', '27'], /^podwire trace: --size "27" must be an integer from 28 to 1920/],
    [['--from', 'pod1', '--to', 'pod3:80', '--proto', 'tcp', '--size', '43'], /^podwire trace: --size "43" must be an integer from 44 to 1920/],
    [['--from', 'pod1', '--to', 'pod3', '--size', '9000'], /^podwire trace: --size "9000" must be an integer from 28 to 1920/],
  ];
  for (const [args, want] of cases) {
    it(args.join(' '), async () => {
      const r = await run('trace', DEMO, ...args);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(want);
    });
  }

  it('--pcap goes with TOPOLOGY, not with --api', async () => {
    const r = await run('trace', '--api', 'http://127.0.0.1:1', '--from', 'pod1', '--to', 'pod2', '--pcap', join(tmp, 'x'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^podwire trace: --pcap DIR goes with TOPOLOGY/);
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('a repeated flag is a usage error in the other commands too (one parser)', async () => {
    const r = await run('validate', DEMO, '--json', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err)).toEqual({ error: '--json is given more than once: give it once', usage: true }); // --json: as JSON
    const c = await run('cleanup', '--json', '--json');
    expect(c.code).toBe(2);
  });
});

describe('--json: errors are JSON too', () => {
  it('a usage error: { error, usage: true } on stderr, exit 2, nothing on stdout', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'pod2', '--port', '80', '--json');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(JSON.parse(r.err)).toEqual({ error: '--port "80" goes with --proto udp or tcp (ICMP has no ports)', usage: true });
  });

  it('a runtime error: { error, field, value }, exit 1', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'nowhere', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err)).toMatchObject({ error: expect.stringMatching(/^to: "nowhere" is not a pod/), field: '/to', value: 'nowhere' });
    const missing = await run('trace', join(tmp, 'missing.yaml'), '--from', 'pod1', '--to', 'pod2', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.err)).toMatchObject({ error: expect.stringContaining('missing.yaml') });
  });
});

describe('English plurals where the CLI counts', () => {
  it('validate: "1 node, 1 pod, 1 service"; "2 nodes, ..." stays plural', async () => {
    const one = join(tmp, 'one.yaml');
    writeFileSync(one, 'cluster: { dnsReplicas: 0 }\nnodes: [ { name: node1 } ]\npods: [ { name: a, node: node1, labels: { app: a } } ]\nservices: [ { name: s, selector: { app: a }, ports: [ { port: 80 } ] } ]\n');
    const r = await run('validate', one);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`${one}: valid (1 node, 1 pod, 1 service); list what it allocates: podwire inspect ${one}`);
    expect((await run('validate', DEMO)).out).toMatch(/valid \(2 nodes, 3 pods, 1 service\); list what/);
  });
});

describe('podwire trace --api with the new flags (a running API, wall clock off: the demo controller)', () => {
  const api = demoApi();
  const url = (): string => {
    const a = api.app.server.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return `http://127.0.0.1:${a.port}`;
  };
  it('--to NAME:PORT --proto TCP --count 4 prints the spread; --size and --from external go through POST /trace', async () => {
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const r = await run('trace', '--api', url(), '--from', 'pod1', '--to', 'service1:80', '--proto', 'TCP', '--count', '4');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^pod1 -> service1:80 \(10\.96\.0\.2\), TCP port 80: 4 new flows, spread over [12] endpoints?:$/m);
    expect(r.out).toMatch(/^=> all 4 delivered$/m);
    const big = await run('trace', '--api', url(), '--from', 'pod1', '--to', 'pod3', '--size', '1451');
    expect(big.code).toBe(1);
    expect(big.out).toMatch(/^pod1 -> pod3 \(10\.244\.2\.2\), ICMP echo, 1451 bytes \(DF\)$/m);
    expect(big.out).toMatch(/=> dropped \(frag-needed\)/);
    const ext = await run('trace', '--api', url(), '--from', 'external', '--to', 'node2');
    expect(ext.code, ext.err).toBe(0);
    expect(ext.out).toMatch(/^ {3}1\. The external client sends an ICMP packet from 192\.168\.56\.254 to 192\.168\.56\.12/m);
    const bad = await run('trace', '--api', url(), '--from', 'pod1', '--to', 'nowhere', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.err)).toMatchObject({ field: '/to', value: 'nowhere', status: 404 });
  });
});
