/**
 * NetworkPolicy end to end, through the product path: `podwire up` with two attached
 * namespaces (x/a on node1, y/b on node2, over VXLAN), real `curl` and a real long-lived TCP
 * connection (python) between them, and policies applied at run time with
 * `POST /api/v1/networkpolicies`:
 *  - a default-deny-ingress policy in y makes a new curl fail within 1 s (curl --max-time 1);
 *  - the TCP connection established before it keeps working (podwire's choice: policy is
 *    checked on NEW connections; conntrack lets an established one through, as Calico and
 *    Cilium do; docs/networkpolicy.md);
 *  - an allow policy (from namespace x, port 8080) makes curl work again, nothing restarted;
 *  - the drops are counted as `policy-denied`, per policy, in /stats.
 * Every namespace and process made here is removed in afterAll (processes by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, killAndWait, Procs, removeTestLeftovers, startPodwireUp, waitFor } from './attach-util.js';

const ECHO_SERVER = `
import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(('0.0.0.0', 9000), H).serve_forever()
`;

/** One TCP connection, a line every 100 ms; prints "ok N" per echoed line, "fail ..." and exits when it breaks. */
const ECHO_CLIENT = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], 9000), timeout=3)
f = s.makefile('rwb')
n = 0
while True:
    try:
        f.write(b'line %d\\n' % n); f.flush()
        if f.readline() != b'line %d\\n' % n: raise Exception('bad echo')
    except Exception as e:
        print('fail', e, flush=True); sys.exit(1)
    n += 1
    print('ok', n, flush=True)
    time.sleep(0.1)
`;

describeE2E('NetworkPolicy with attached pods, real curl and TCP', ['root', 'tun', 'netns', 'curl', 'python3'], () => {
  const cluster = uniq('pwnetpol');
  const nsA = uniq('pwnetpolA');
  const nsB = uniq('pwnetpolB');
  const dir = mkdtempSync(join(tmpdir(), 'podwire-netpol-e2e-'));
  const topo = join(dir, 'topology.yaml');
  const procs = new Procs();
  const mine: ChildProcess[] = [];

  beforeAll(async () => {
    buildDist();
    await ipx.netnsAdd(nsA);
    await ipx.netnsAdd(nsB);
    writeFileSync(topo, `cluster: { name: ${cluster}, dnsReplicas: 0 }
nodes: [{ name: node1 }, { name: node2 }]
namespaces:
  - { name: x, labels: { team: x } }
  - { name: y, labels: { team: y } }
pods:
  - { name: a, namespace: x, node: node1, ip: 10.244.1.2, labels: { pod: a }, attach: { netns: ${nsA} } }
  - { name: b, namespace: y, node: node2, ip: 10.244.2.2, labels: { pod: b }, attach: { netns: ${nsB} }, ports: [ { name: http, containerPort: 8080 } ] }
`);
  }, 120_000);

  afterAll(async () => {
    try {
      for (const c of mine) await killAndWait(c); // only processes this test started, by PID
      await procs.stopAll();
    } finally {
      expect(await removeTestLeftovers(cluster, dir, [nsA, nsB])).toEqual([]);
    }
  }, 30_000);

  it('default-deny at run time: a new curl fails within 1 s, an established TCP connection keeps going, an allow policy opens it again', async () => {
    const up = startPodwireUp(topo);
    mine.push(up.child);
    const api = await up.api;
    const post = async (body: unknown): Promise<number> => (await fetch(`${api}/networkpolicies`, {
      method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(2000),
    })).status;
    procs.start(nsB, 'python3', '-m', 'http.server', '--bind', '0.0.0.0', '8080');
    procs.start(nsB, 'python3', '-c', ECHO_SERVER);
    const curl = async (maxTime: string): Promise<{ ok: boolean; ms: number }> => {
      const t0 = performance.now();
      try {
        await inNs(nsA, 'curl', '-s', '-o', '/dev/null', '--max-time', maxTime, 'http://10.244.2.2:8080/');
        return { ok: true, ms: performance.now() - t0 };
      } catch {
        return { ok: false, ms: performance.now() - t0 };
      }
    };
    expect(await waitFor(async () => (await curl('2')).ok, 20_000)).toBe(true);

    // The long-lived connection, opened before any policy.
    const client = spawn('ip', ['netns', 'exec', nsA, 'python3', '-u', '-c', ECHO_CLIENT, '10.244.2.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    mine.push(client);
    let echoed = 0;
    let failed = '';
    client.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        const m = /^ok (\d+)/.exec(line);
        if (m !== null) echoed = Number(m[1]);
        else if (line.startsWith('fail')) failed = line;
      }
    });
    expect(await waitFor(() => echoed >= 3, 10_000)).toBe(true);

    expect(await post({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-all', namespace: 'y' }, spec: { podSelector: {} } })).toBe(201);
    const denied = await curl('1');
    expect(denied.ok).toBe(false);
    expect(denied.ms).toBeLessThan(1500); // curl gave up at its 1 s limit: the SYN never got an answer
    const before = echoed;
    expect(await waitFor(() => echoed >= before + 10, 10_000)).toBe(true); // the established connection: still echoing
    expect(failed).toBe('');

    const allow = {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-from-x', namespace: 'y' },
      spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }], ports: [{ port: 'http' }] }] },
    };
    expect(await post(allow)).toBe(201);
    expect((await curl('2')).ok).toBe(true);

    const stats = await (await fetch(`${api}/stats`, { signal: AbortSignal.timeout(2000) })).json() as { dropReasons: Record<string, number>; networkPolicies: { policies: number; deniedBy: Record<string, number> } };
    expect(stats.dropReasons['policy-denied']).toBeGreaterThanOrEqual(1);
    expect(stats.networkPolicies.policies).toBe(2);
    expect(stats.networkPolicies.deniedBy['y/deny-all']).toBeGreaterThanOrEqual(1);
    expect(stats.networkPolicies.deniedBy['y/allow-from-x'] ?? 0).toBe(0); // it did not exist while curl was refused
    expect(failed).toBe('');
  }, 90_000);
});
