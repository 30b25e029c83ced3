/**
 * The VXLAN socket's drop counter as a user sees it (issue 13: "count kernel-side socket
 * drops in `podwire stats`"): a two-node cluster whose VTEPs are real UDP sockets on
 * loopback, node2's with the smallest receive buffer the kernel allows; a burst of
 * datagrams sent while podwire's event loop is busy overflows it, and `/stats`
 * `vxlanSocket.node2.kernelDrops`, `podwire stats` and /proc/net/udp agree on the count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApi, type StartedApi } from '../../src/api/server.js';
import type { Io } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { Controller } from '../../src/control/controller.js';
import { examplePath } from '../../src/control/load.js';
import { UdpSocket, loadUdpAddon } from '../../src/io/udp-socket.js';
import { procUdpDrops, vxlanSocketFactory } from '../../src/io/vxlan-socket.js';
import { Cluster } from '../../src/kube/cluster.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { topology } from './cluster-util.js';

const addonOk = ((): boolean => {
  try { loadUdpAddon(); return true; } catch { return process.env['PODWIRE_E2E'] === 'require'; }
})();

function memIo(): Io & { stdout: string[] } {
  const stdout: string[] = [];
  return { stdout, out: (s) => { stdout.push(s); }, err: () => undefined, isTTY: false };
}

interface SocketStats { backend: string; bind: string; rcvbuf: number; kernelDrops: number; rxDatagrams: number }

describe.skipIf(!addonOk)('podwire stats: the VXLAN socket drop counter', () => {
  let api: StartedApi | null = null;
  let ctl: Controller | null = null;
  let burst: UdpSocket | null = null;
  let dir = '';
  afterEach(async () => {
    burst?.close();
    await api?.close();
    await ctl?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    api = null;
    ctl = null;
    burst = null;
    dir = '';
  });

  it('counts the datagrams the kernel dropped at node2\'s socket in /stats, podwire stats and --json', async () => {
    const host = `127.${78 + (process.pid % 100)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const base = 20000 + Math.floor(Math.random() * 20000);
    const t = topology(examplePath('demo.yaml'), { dnsReplicas: 0 });
    t.nodes[0]!.vtep = { bind: `${host}:${base}` };
    t.nodes[1]!.vtep = { bind: `${host}:${base + 1}` };
    const c = new Cluster(t, { vxlanTransport: vxlanSocketFactory({ rcvbuf: 1 }) });
    dir = mkdtempSync(join(tmpdir(), 'podwire-vxsock-'));
    ctl = new Controller(c, { capturesDir: dir });
    await c.ready();
    api = await startApi(ctl, { host: '127.0.0.1', port: 0 });

    // 300 VXLAN-sized datagrams at node2's socket in one go: podwire reads none of them until
    // this function yields, and the buffer holds a few.
    burst = UdpSocket.open(host, 0);
    const junk = Buffer.alloc(1400);
    for (let i = 0; i < 300; i++) burst.send(junk, 0, junk.length, parseIpv4(host), base + 1);
    const drops = procUdpDrops(host, base + 1);
    expect(drops).toBeGreaterThan(0);

    // Wait until node2 has read what its buffer held (each is junk to the tunnel: not-vxlan).
    let s: { vxlanSocket: Record<string, SocketStats> };
    const end = Date.now() + 5000;
    do s = await (await fetch(`${api.url}/stats`)).json() as typeof s;
    while (s.vxlanSocket['node2']!.rxDatagrams + drops < 300 && Date.now() < end);
    expect(Object.keys(s.vxlanSocket)).toEqual(['node1', 'node2']);
    expect(s.vxlanSocket['node2']).toMatchObject({ backend: 'native', bind: `${host}:${base + 1}`, kernelDrops: drops });
    expect(s.vxlanSocket['node2']!.rxDatagrams + drops).toBe(300);
    expect(s.vxlanSocket['node1']).toMatchObject({ kernelDrops: 0 });

    const io = memIo();
    expect(await main(['stats', '--api', api.url], io)).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toMatch(new RegExp(`^vxlan socket node2 ${host.replace(/\./g, '\\.')}:${base + 1}: kernel drops ${drops} \\(datagrams lost at podwire's socket\\), receive buffer \\d+ bytes \\(native\\)$`, 'm'));
    expect(text).toMatch(/^vxlan socket node1 .*: kernel drops 0 /m);
    // Each socket's sends: datagrams, send system calls (sendmmsg batches), and what the kernel refused.
    expect(text.match(/^ {2}sent \d+ datagrams? in \d+ system calls?, 0 dropped \(send buffer full\), 0 errors$/gm)).toHaveLength(2);
    const j = memIo();
    expect(await main(['stats', '--json', '--api', api.url], j)).toBe(0);
    expect((JSON.parse(j.stdout.join('\n')) as { vxlanSocket: Record<string, SocketStats> }).vxlanSocket['node2']!.kernelDrops).toBe(drops);
  });
});
