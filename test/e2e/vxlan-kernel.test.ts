/**
 * VXLAN on real sockets, end to end, inside throwaway network namespaces only:
 *
 * (a) kernel interop: namespace hostB is a real Linux node built with the kernel's own
 *     tools as flannel builds it (flannel.1 vxlan device, cbr0 bridge, a pod namespace,
 *     onlink route + permanent neighbour + fdb entry towards podwire's node1); podwire
 *     runs in namespace hostA as a child process hosting node1 (vtep.bind on the veth
 *     address) with node2 as an `external` node. Real ping and TCP both ways.
 * (b) two podwire processes, each hosting one node of the same topology (`hostNode`),
 *     in two namespaces joined by a veth: pod1 (node1) reaches pod3 (node2).
 *
 * The compiled dist/ is built first (the runner is plain node). Every namespace and
 * process created here is removed in afterAll, even when a test failed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeE2E, uniq } from './prereq.js';
import { buildKernelVxlanNode, DIST, inNs, kernelVxlanTopology, Podwire, sh, type Reply } from './kernel-vxlan-node.js';

function buildDist(): void {
  // dist/ is built once by test/global-setup.ts.
  for (const f of ['kube/cluster.js', 'io/vxlan-socket.js', 'apps/tcp.js']) {
    if (!existsSync(join(DIST, f))) throw new Error(`build did not produce dist/${f}`);
  }
}

describeE2E('VXLAN over real sockets', ['root', 'netns', 'vxlan', 'ping', 'python3'], () => {
  const hostA = uniq('pwvxA');
  const hostB = uniq('pwvxB');
  const kpod = uniq('pwvxP');
  const pw1 = uniq('pwvx1');
  const pw2 = uniq('pwvx2');
  const namespaces = [hostA, hostB, kpod, pw1, pw2];
  const children: Podwire[] = [];
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'podwire-vxlan-e2e-'));

  beforeAll(async () => {
    buildDist();
    // (a) hostA (podwire's host) <-> hostB, a Linux node as flannel sets it up, with pod kpod
    await buildKernelVxlanNode({ hostA, hostB, kpod });
    for (const ns of [pw1, pw2]) await sh('ip', 'netns', 'add', ns);
    for (const ns of [pw1, pw2]) await sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    // (b) underlay pw1 <-> pw2
    await sh('ip', '-n', pw1, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pw2);
    await sh('ip', '-n', pw1, 'addr', 'add', '192.168.78.1/24', 'dev', 'eth0');
    await sh('ip', '-n', pw1, 'link', 'set', 'eth0', 'up');
    await sh('ip', '-n', pw2, 'addr', 'add', '192.168.78.2/24', 'dev', 'eth0');
    await sh('ip', '-n', pw2, 'link', 'set', 'eth0', 'up');
  }, 120_000);

  afterAll(async () => {
    for (const c of children) await c.stop().catch(() => undefined);
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); // only ours
    for (const ns of namespaces) await sh('ip', 'netns', 'del', ns).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    const left = (await sh('ip', 'netns', 'list')).split('\n').filter((l) => namespaces.some((n) => l.startsWith(n)));
    expect(left).toEqual([]);
  });

  it('(a) interoperates with the Linux kernel VXLAN device: ping and TCP both ways', async () => {
    const topo = join(dir, 'kernel.yaml');
    writeFileSync(topo, kernelVxlanTopology('kx'));
    const pw = new Podwire(hostA, topo, 'node1');
    children.push(pw);
    await pw.ready;

    // Kernel pod -> emulated pod: the kernel's ping, answered by podwire's pod1.
    const pingOut = await inNs(kpod, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.1.2');
    expect(pingOut).toMatch(/2 received/);
    // Emulated pod -> kernel pod.
    expect(await pw.request({ op: 'ping', from: 'pod1', to: '10.244.2.2' })).toMatchObject({ ok: true });

    // TCP, kernel client -> emulated server.
    expect(await pw.request({ op: 'listen', pod: 'pod1', port: 5000 })).toMatchObject({ ok: true });
    const py = 'import socket\ns=socket.create_connection(("10.244.1.2",5000),timeout=5)\ns.sendall(b"hello overlay")\n'
      + 's.shutdown(socket.SHUT_WR)\nd=b""\nwhile True:\n  c=s.recv(4096)\n  if not c: break\n  d+=c\nprint(d.decode())';
    expect((await inNs(kpod, 'python3', '-c', py)).trim()).toBe('HELLO OVERLAY');

    // TCP, emulated client -> kernel HTTP server.
    const www = join(dir, 'www');
    execFileSync('mkdir', ['-p', www]);
    writeFileSync(join(www, 'index.html'), 'served by the kernel pod\n');
    const server = spawn('ip', ['netns', 'exec', kpod, 'python3', '-m', 'http.server', '8000', '--bind', '10.244.2.2', '--directory', www], { stdio: 'ignore' });
    procs.push(server);
    let res: Reply = { ok: false };
    for (let i = 0; i < 20; i++) {
      res = await pw.request({ op: 'tcp', from: 'pod1', to: '10.244.2.2', port: 8000, send: 'GET /index.html HTTP/1.0\r\n\r\n' });
      if (res.ok === true && String(res['data']).includes('200')) break;
      await new Promise((r) => setTimeout(r, 250)); // the server may still be starting
    }
    expect(String(res['data'])).toMatch(/^HTTP\/1\.0 200 OK/);
    expect(String(res['data'])).toContain('served by the kernel pod');

    const stats = await pw.request({ op: 'stats' });
    const counters = (stats['tunnel'] as { counters: Record<string, number>; drops: Record<string, number> });
    expect(counters.counters['socket-tx']).toBeGreaterThan(0);
    expect(counters.counters['socket-rx']).toBeGreaterThan(0);
    expect(counters.drops).toEqual({});
  }, 60_000);

  it('(b) two podwire processes, one node each, from one topology file', async () => {
    const topo = join(dir, 'two.yaml');
    writeFileSync(topo, [
      'cluster: { name: two, nodeCIDR: 192.168.78.0/24, dnsReplicas: 0 }',
      'nodes:',
      '  - { name: node1, ip: 192.168.78.1, vtep: { bind: "192.168.78.1:8472" } }',
      '  - { name: node2, ip: 192.168.78.2, vtep: { bind: "192.168.78.2:8472" } }',
      'pods:',
      '  - { name: pod1, node: node1 }',
      '  - { name: pod3, node: node2 }',
      '',
    ].join('\n'));
    const a = new Podwire(pw1, topo, 'node1');
    const b = new Podwire(pw2, topo, 'node2');
    children.push(a, b);
    expect((await a.ready)['pods']).toEqual(['pod1']);
    expect((await b.ready)['pods']).toEqual(['pod3']);
    expect(await a.request({ op: 'ping', from: 'pod1', to: '10.244.2.2' })).toMatchObject({ ok: true });
    expect(await b.request({ op: 'ping', from: 'pod3', to: '10.244.1.2' })).toMatchObject({ ok: true });
    expect(await b.request({ op: 'listen', pod: 'pod3', port: 7000 })).toMatchObject({ ok: true });
    expect(await a.request({ op: 'tcp', from: 'pod1', to: '10.244.2.2', port: 7000, send: 'two hosts' })).toMatchObject({ ok: true, data: 'TWO HOSTS' });
  }, 60_000);
});
