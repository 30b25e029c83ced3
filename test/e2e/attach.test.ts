/**
 * Attached pods end to end: throwaway network namespaces stand in for containers and join an
 * emulated two-node cluster (VXLAN overlay) through TAP devices (src/io/attach.ts), driven by
 * test/e2e/fixtures/attach-runner.mjs. Real tools run inside them: ping, curl against
 * `python3 -m http.server`, dig against cluster DNS, iperf3; tshark decodes a capture.
 * Addresses exist only inside the test namespaces and the emulator; every namespace, server
 * and runner started here is ended in afterAll by name or PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { ALIAS_PREFIX, cleanupLeftovers, tapNameFor } from '../../src/io/attach.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, Procs, Runner, sh, totalDrops, waitFor, type Reply } from './attach-util.js';
import { tsharkFields } from './tshark-util.js';

function topology(cluster: string, pods: string): string {
  return `cluster: { name: ${cluster} }
nodes: [{ name: node1 }, { name: node2 }]
pods:
${pods}
services:
  - { name: aweb, selector: { app: aweb }, ports: [{ port: 80, targetPort: 8080 }] }
  - { name: eweb, selector: { app: eweb }, ports: [{ port: 80, targetPort: 8080 }] }
  - { name: nobody, selector: { app: nothing }, ports: [{ port: 80, targetPort: 8080 }] }
`;
}

/** Random frames, truncated headers, then (MTU raised for a moment) over-MTU and oversize frames. */
const GARBAGE = `
import random, socket, struct, subprocess, sys
random.seed(int(sys.argv[1]))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
n = 0
for _ in range(200):
    s.send(random.randbytes(random.randint(14, 1400))); n += 1
src = bytes.fromhex(open('/sys/class/net/eth0/address').read().strip().replace(':', ''))
for et, body in [(0x0800, b'\\x45\\x00\\x00'), (0x0806, b'\\x00\\x01\\x08'), (0x8100, b''), (0x0800, b'\\x4f' + bytes(30))]:
    s.send(b'\\xff' * 6 + src + struct.pack('!H', et) + body); n += 1
subprocess.run(['ip', 'link', 'set', 'eth0', 'mtu', '3000'], check=True)
for size in (1700, 2500):
    s.send(b'\\xff' * 6 + src + b'\\x08\\x00' + bytes(size - 14)); n += 1
subprocess.run(['ip', 'link', 'set', 'eth0', 'mtu', sys.argv[2]], check=True)
print(n)
`;

describeE2E('attached pods (TAP) in an emulated cluster', ['root', 'tun', 'netns', 'ping', 'curl', 'dig', 'iperf3', 'python3', 'tshark'], () => {
  const cluster = uniq('pwat');
  const nsA = uniq('pwatA');
  const nsB = uniq('pwatB');
  const nsC = uniq('pwatC');
  const namespaces = [nsA, nsB, nsC];
  const dir = mkdtempSync(join(tmpdir(), 'podwire-attach-e2e-'));
  const procs = new Procs();
  const runners: Runner[] = [];
  let pw: Runner;
  let ready: Reply;
  const ipOf = (pod: string): string => (ready['attached'] as { pod: string; ip: string }[]).find((a) => a.pod === pod)!.ip;

  const myTaps = async (ns?: string): Promise<string[]> => {
    const out = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun'], ns);
    if (out.trim() === '') return [];
    return (JSON.parse(out) as { ifname: string; ifalias?: string }[])
      .filter((l) => (l.ifalias ?? '').startsWith(`${ALIAS_PREFIX}${cluster}`)).map((l) => l.ifname);
  };
  const start = (file: string, text: string): Runner => {
    writeFileSync(join(dir, file), text);
    const r = new Runner(join(dir, file));
    runners.push(r);
    return r;
  };

  beforeAll(async () => {
    buildDist();
    for (const ns of namespaces) await ipx.netnsAdd(ns);
    pw = start('main.yaml', topology(cluster, `
  - { name: apod1, node: node1, attach: { netns: ${nsA} } }
  - { name: apod2, node: node2, labels: { app: aweb }, attach: { netns: ${nsB} } }
  - { name: epod, node: node1, labels: { app: eweb }, apps: [{ type: http, port: 8080 }] }`));
    ready = await pw.ready;
    procs.start(nsB, 'python3', '-m', 'http.server', '--bind', '0.0.0.0', '--directory', dir, '8080');
    procs.start(nsB, 'iperf3', '-s', '-p', '5201');
    const up = await waitFor(async () => (await inNs(nsB, 'ss', '-Hltn').catch(() => '')).includes(':8080'), 5000);
    expect(up).toBe(true);
    writeFileSync(join(dir, 'hello.txt'), 'hello from a real pod\n');
  }, 120_000);

  afterAll(async () => {
    try {
      for (const r of runners) await r.stop();
      await procs.stopAll();
    } finally {
      for (const ns of namespaces) await ipx.netnsDelete(ns).catch(() => undefined);
      await cleanupLeftovers({ cluster });
      rmSync(dir, { recursive: true, force: true });
    }
    const left = await ipx.netnsList();
    for (const ns of namespaces) expect(left).not.toContain(ns);
    expect(await myTaps()).toEqual([]);
  }, 60_000);

  it('configures eth0 in the namespace: pod MAC, IP, MTU, default route via the bridge, resolv.conf lines', async () => {
    const a1 = (ready['attached'] as Reply[]).find((a) => a['pod'] === 'apod1')!;
    expect(a1).toMatchObject({ ip: '10.244.1.2', ifname: 'eth0', tapName: tapNameFor(cluster, 'apod1'), capturePoints: ['node1/veth0', 'apod1/eth0'] });
    expect(a1['resolvConf']).toEqual(['nameserver 10.96.0.10', 'search default.svc.cluster.local svc.cluster.local cluster.local', 'options ndots:5']);
    const links = await ipx.listTunLinks(nsA);
    expect(links.map((l) => [l.name, l.type, l.mac, l.mtu, l.up])).toEqual([['eth0', 'tap', '02:42:0a:f4:01:02', 1450, true]]);
    expect(await inNs(nsA, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).toContain('10.244.1.2/24');
    expect(await sh('ip', '-n', nsA, 'route', 'show', 'default')).toMatch(/default via 10\.244\.1\.1 dev eth0/);
  });

  it('(a) ping between an attached pod and an emulated pod, both ways', async () => {
    expect(await inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.244.1.3')).toMatch(/3 received/);
    const r = await pw.cmd(`ping epod ${ipOf('apod1')}`);
    expect(r).toMatchObject({ ok: true });
  });

  it('(b) ping and TCP (curl -> python3 http.server) between attached pods on two nodes, over VXLAN', async () => {
    const file = join(dir, 'underlay.pcapng');
    expect(await pw.cmd(`capture node1/eth0 ${file}`)).toMatchObject({ ok: true });
    expect(await inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', ipOf('apod2'))).toMatch(/3 received/);
    await pw.cmd('capture-stop');
    // On node1's eth0 the echo request travels inside VXLAN (VNI 1, UDP 8472) between the node IPs.
    const rows = tsharkFields(file, ['vxlan.vni', 'ip.src', 'ip.dst', 'icmp.type'], ['-d', 'udp.port==8472,vxlan', '-Y', 'icmp']);
    expect(rows).toContainEqual(['1', '192.168.56.11,10.244.1.2', '192.168.56.12,10.244.2.2', '8']);
    expect(await inNs(nsA, 'curl', '-sf', '-m', '5', `http://${ipOf('apod2')}:8080/hello.txt`)).toBe('hello from a real pod\n');
    expect(await inNs(nsB, 'ping', '-c', '1', '-W', '2', ipOf('apod1'))).toMatch(/1 received/);
  });

  it('(c) curl from an attached pod to service VIPs: one served by a real pod, one by an emulated pod', async () => {
    const svc = ready['services'] as Record<string, string>;
    expect(ready['supportsServices']).toBe(true);
    expect(await inNs(nsA, 'curl', '-sf', '-m', '5', `http://${svc['aweb']}/hello.txt`)).toBe('hello from a real pod\n');
    expect(await inNs(nsA, 'curl', '-sf', '-m', '5', `http://${svc['eweb']}/`)).toContain('epod');
  });

  it('(c2) curl to a service without endpoints: "Connection refused" at once (kube-proxy REJECTs), not a timeout', async () => {
    const svc = ready['services'] as Record<string, string>;
    const t0 = performance.now();
    const r = await inNs(nsA, 'curl', '-sS', '-m', '5', `http://${svc['nobody']}/`).then(() => null, (e: { stderr?: string; code?: number }) => e);
    const ms = performance.now() - t0;
    expect(r?.code, r?.stderr).toBe(7); // curl: "Failed to connect", not 28 (timeout)
    // The upstream e2e expects REFUSED within 3 s; an ICMP port unreachable answers in one round trip.
    expect(ms).toBeLessThan(1000);
    // And it is ECONNREFUSED (ICMP port unreachable), not EHOSTUNREACH: curl 7.88 words both alike.
    const py = await inNs(nsA, 'python3', '-c', `import socket\ntry:\n  socket.create_connection(('${svc['nobody']}', 80), timeout=5)\nexcept OSError as e:\n  print(type(e).__name__)`);
    expect(py.trim()).toBe('ConnectionRefusedError');
  });

  it('(d) dig @10.96.0.10 <service>.default.svc.cluster.local from an attached pod returns the ClusterIP', async () => {
    const svc = ready['services'] as Record<string, string>;
    const out = await inNs(nsA, 'dig', '+short', '+time=2', '+tries=2', '@10.96.0.10', 'aweb.default.svc.cluster.local', 'A');
    expect(out.trim()).toBe(svc['aweb']);
  });

  it('(e) iperf3 TCP and UDP between attached pods on two nodes', async () => {
    type NodeCt = { conntrack: { invalid: number } | null; kubeProxyDrops: Record<string, number> | null };
    const invalid = (s: Reply): number => Object.values(s['nodes'] as Record<string, NodeCt>).reduce((n, x) => n + (x.conntrack?.invalid ?? 0) + (x.kubeProxyDrops?.['ctstate-invalid'] ?? 0), 0);
    const ctBefore = invalid(await pw.cmd('stats'));
    const tcp = JSON.parse(await inNs(nsA, 'iperf3', '-c', ipOf('apod2'), '-p', '5201', '-t', '2', '-J')) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
    expect(tcp.end.sum_received.bytes).toBeGreaterThan(0);
    // Linux's TCP (window scaling, SACK, timestamps) through both nodes' window tracking: nothing out of window
    const ctAfter = invalid(await pw.cmd('stats'));
    process.stdout.write(`[attach e2e] conntrack INVALID during iperf3 TCP: ${ctAfter - ctBefore}\n`);
    expect(ctAfter - ctBefore).toBe(0);
    const udp = JSON.parse(await inNs(nsA, 'iperf3', '-c', ipOf('apod2'), '-p', '5201', '-u', '-b', '200M', '-t', '2', '-J')) as
      { end: { sum: { bytes: number; bits_per_second: number; lost_percent: number } } };
    expect(udp.end.sum.bytes).toBeGreaterThan(0);
    process.stdout.write(`[attach e2e] iperf3 TCP ${(tcp.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s; `
      + `UDP ${(udp.end.sum.bits_per_second / 1e6).toFixed(0)} Mbit/s offered, ${udp.end.sum.lost_percent.toFixed(1)}% lost\n`);
  }, 30_000);

  it('(f) a capture of the attached pod\'s eth0 opens in tshark with ICMP decoded', async () => {
    const file = join(dir, 'apod1.pcapng');
    expect(await pw.cmd(`capture apod1/eth0 ${file}`)).toMatchObject({ ok: true });
    await inNs(nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.1.3');
    const stop = await pw.cmd('capture-stop');
    expect(stop['packets']).toBeGreaterThanOrEqual(4);
    const rows = tsharkFields(file, ['frame.interface_name', 'ip.src', 'ip.dst', 'icmp.type'], ['-Y', 'icmp']);
    expect(rows).toContainEqual(['apod1/eth0', '10.244.1.2', '10.244.1.3', '8']);
    expect(rows).toContainEqual(['apod1/eth0', '10.244.1.3', '10.244.1.2', '0']);
  });

  it('garbage frames written into a TAP are counted as drops; the process keeps serving', async () => {
    const before = await pw.cmd('stats');
    const sent = Number((await inNs(nsA, 'python3', '-c', GARBAGE, '7', '1450')).trim());
    expect(sent).toBe(206);
    let after = await pw.cmd('stats');
    // The frames are counted once podwire has read them all from the TAP.
    expect(await waitFor(async () => totalDrops(after = await pw.cmd('stats')) - totalDrops(before) >= sent, 10_000)).toBe(true);
    expect(pw.alive).toBe(true);
    const tap = (after['attached'] as Record<string, { drops: Record<string, number> }>)['apod1']!.drops;
    const tap0 = (before['attached'] as Record<string, { drops: Record<string, number> }>)['apod1']!.drops;
    expect((tap['mtu-exceeded'] ?? 0) - (tap0['mtu-exceeded'] ?? 0)).toBe(1); // 1700 bytes > 1450 + 14
    expect((tap['oversize'] ?? 0) - (tap0['oversize'] ?? 0)).toBe(1); // 2500 bytes > the 2048-byte read slot
    expect(totalDrops(after) - totalDrops(before)).toBeGreaterThanOrEqual(sent);
    expect(await inNs(nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ipOf('apod2'))).toMatch(/2 received/);
    expect(await inNs(nsA, 'curl', '-sf', '-m', '5', `http://${ipOf('apod2')}:8080/hello.txt`)).toBe('hello from a real pod\n');
  });

  it('attaches and detaches a pod at run time; detach removes the device and is idempotent', async () => {
    const r = await pw.cmd(`attach rpod ${nsC} node2`);
    expect(r).toMatchObject({ ok: true, pod: 'rpod', ip: '10.244.2.3', capturePoints: ['node2/veth1', 'rpod/eth0'] });
    expect(await myTaps(nsC)).toEqual(['eth0']);
    expect(await inNs(nsC, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ipOf('apod1'))).toMatch(/2 received/);
    expect(await pw.cmd(`attach rpod ${nsC} node2`)).toMatchObject({ ok: false, error: expect.stringContaining('already attached') });
    expect(await pw.cmd('detach rpod')).toMatchObject({ ok: true });
    expect(await pw.cmd('detach rpod')).toMatchObject({ ok: true });
    expect(await ipx.listTunLinks(nsC)).toEqual([]);
    expect(await pw.cmd('attach nopod nonexistent-ns node1')).toMatchObject({ ok: false, error: expect.stringContaining('no network namespace') });
  });

  it('attaches a pod named like podwire\'s own elements (root, a node\'s name), detaches and re-attaches it', async () => {
    for (const [pod, node, shown] of [['root', 'node1', 'root.default'], ['node2', 'node1', 'node2.default'], ['root', 'node2', 'root.default']] as const) {
      const r = await pw.cmd(`attach ${pod} ${nsC} ${node}`);
      expect(r).toMatchObject({ ok: true, pod, capturePoints: [expect.stringMatching(new RegExp(`^${node}/veth\\d+$`)), `${shown}/eth0`] });
      const file = join(dir, `${shown}.pcapng`);
      expect(await pw.cmd(`capture ${shown}/eth0 ${file}`)).toMatchObject({ ok: true });
      expect(await inNs(nsC, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ipOf('apod1'))).toMatch(/2 received/);
      expect((await pw.cmd('capture-stop'))['packets']).toBeGreaterThanOrEqual(4);
      expect(await pw.cmd(`ping epod ${String(r['ip'])}`)).toMatchObject({ ok: true });
      expect(await pw.cmd(`detach ${pod}`)).toMatchObject({ ok: true });
      expect(await ipx.listTunLinks(nsC)).toEqual([]);
    }
  });

  it('SIGKILL of podwire leaves no TAP behind (cleanup finds nothing); a second run with the same names works', async () => {
    const topo = topology(cluster, `  - { name: kpod, node: node1, attach: { netns: ${nsC} } }`);
    const k = start('kill.yaml', topo);
    await k.ready;
    expect(await myTaps(nsC)).toEqual(['eth0']);
    k.child.kill('SIGKILL'); // only the runner this test started
    await k.exited;
    // The TAP is not persistent: the kernel deletes it when its last fd closes with the process.
    expect(await waitFor(async () => (await myTaps(nsC)).length === 0, 3000)).toBe(true);
    // Nothing to remove; the live TAPs of the main runner (same cluster name) are left alone.
    const cleaned = await cleanupLeftovers({ cluster });
    expect(cleaned.removed).toEqual([]);
    expect(cleaned.inUse).toHaveLength(2);
    expect(await myTaps(nsA)).toEqual(['eth0']);
    const again = start('again.yaml', topo);
    await again.ready;
    expect(await inNs(nsC, 'ping', '-c', '1', '-W', '2', '10.244.1.1')).toMatch(/1 received/);
    await again.stop();
    expect(await myTaps(nsC)).toEqual([]);
  }, 30_000);

  it('cleanupLeftovers deletes a persistent podwire TAP left in a namespace', async () => {
    const name = tapNameFor(cluster, 'leftover');
    await sh('ip', 'tuntap', 'add', 'dev', name, 'mode', 'tap');
    await sh('ip', 'link', 'set', 'dev', name, 'alias', `${ALIAS_PREFIX}${cluster}/leftover`);
    await sh('ip', 'link', 'set', 'dev', name, 'netns', nsC);
    await sh('ip', '-n', nsC, 'link', 'set', 'dev', name, 'name', 'eth0');
    expect(await myTaps(nsC)).toEqual(['eth0']);
    const r = await cleanupLeftovers({ cluster });
    expect(r.removed).toEqual([{ netns: nsC, name: 'eth0' }]);
    expect(r.failed).toEqual([]);
    expect(await myTaps(nsC)).toEqual([]);
  });
});
