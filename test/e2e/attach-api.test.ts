/**
 * Attach through the product path: `podwire up TOPOLOGY --listen 127.0.0.1:PORT` attaches the
 * topology's `attach:` pods, `POST /api/v1/attach` and `DELETE /api/v1/attach/POD` attach and
 * detach at run time, SIGKILL of podwire leaves no TAP, `podwire cleanup` finds nothing, and
 * a second `podwire up` with the same names works. Test namespaces stand in for containers;
 * every namespace and process made here is removed in afterAll (processes by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { ALIAS_PREFIX, cleanupLeftovers } from '../../src/io/attach.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, ROOT, sh, waitFor } from './attach-util.js';

const PORT = 17000 + (process.pid % 2000);
const API = `http://127.0.0.1:${PORT}/api/v1`;

/** `podwire up` as a child; resolves once it prints that the cluster is up. */
function up(topo: string): { child: ChildProcess; ready: Promise<void>; exited: Promise<void>; out: () => string } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/podwire.js'), 'up', topo, '--listen', `127.0.0.1:${PORT}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const ready = new Promise<void>((res, rej) => {
    const on = (d: Buffer): void => { out += d.toString(); if (/cluster "[^"]+" up/.test(out)) res(); };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code, sig) => rej(new Error(`podwire up exited (${code ?? sig}): ${out}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, out: () => out };
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${API}${path}`, {
    method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: r.status, json: await r.json() as Record<string, unknown> };
}

describeE2E('attached pods through podwire up and the REST API', ['root', 'tun', 'netns', 'ping'], () => {
  const cluster = uniq('pwaapi');
  const nsA = uniq('pwapA');
  const nsR = uniq('pwapR');
  const dir = mkdtempSync(join(tmpdir(), 'podwire-attach-api-'));
  const topo = join(dir, 'topology.yaml');
  const started: ChildProcess[] = [];
  const myTaps = async (ns: string): Promise<string[]> => {
    const out = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun'], ns);
    if (out.trim() === '') return [];
    return (JSON.parse(out) as { ifname: string; ifalias?: string }[])
      .filter((l) => (l.ifalias ?? '').startsWith(`${ALIAS_PREFIX}${cluster}`)).map((l) => l.ifname);
  };

  beforeAll(async () => {
    buildDist();
    await ipx.netnsAdd(nsA);
    await ipx.netnsAdd(nsR);
    writeFileSync(topo, `cluster: { name: ${cluster} }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: apod, node: node1, attach: { netns: ${nsA} } }
  - { name: epod, node: node2, apps: [{ type: http, port: 8080 }] }
`);
  }, 120_000);

  afterAll(async () => {
    try {
      for (const c of started) {
        if (c.exitCode !== null || c.signalCode !== null) continue;
        const gone = new Promise<void>((res) => c.once('exit', () => res()));
        c.kill('SIGKILL'); // only the podwire processes this test started
        await gone;
      }
    } finally {
      for (const ns of [nsA, nsR]) await ipx.netnsDelete(ns).catch(() => undefined);
      await cleanupLeftovers({ cluster });
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await ipx.netnsList()).not.toContain(nsA);
  }, 30_000);

  it('up attaches the topology pod; POST/DELETE /attach attach and detach at run time', async () => {
    const pw = up(topo);
    started.push(pw.child);
    await pw.ready;
    expect(pw.out()).toContain('1 attached');
    expect(await inNs(nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.2.2')).toMatch(/2 received/);

    const att = await api('POST', '/attach', { pod: 'rpod', node: 'node2', netns: nsR });
    expect(att.status).toBe(201);
    expect(att.json).toMatchObject({ name: 'rpod', ip: '10.244.2.3', emulated: false, attached: { netns: nsR } });
    expect(await myTaps(nsR)).toEqual(['eth0']);
    expect(await inNs(nsR, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.1.2')).toMatch(/2 received/);
    expect((await api('POST', '/attach', { pod: 'rpod', node: 'node2', netns: nsR })).status).toBe(409);
    expect((await api('DELETE', '/attach/rpod')).status).toBe(200);
    expect(await myTaps(nsR)).toEqual([]);

    pw.child.kill('SIGKILL'); // the podwire started above
    await pw.exited;
    expect(await waitFor(async () => (await myTaps(nsA)).length === 0, 3000)).toBe(true);
    const cleanup = await sh(process.execPath, join(ROOT, 'bin/podwire.js'), 'cleanup', '--json');
    const mine = (JSON.parse(cleanup) as { removed: { netns: string }[] }).removed.filter((d) => d.netns === nsA || d.netns === nsR);
    expect(mine).toEqual([]);
  }, 30_000);

  it('a second podwire up with the same names works', async () => {
    const pw = up(topo);
    started.push(pw.child);
    await pw.ready;
    expect(await inNs(nsA, 'ping', '-c', '1', '-W', '2', '10.244.2.2')).toMatch(/1 received/);
    pw.child.kill('SIGTERM');
    await pw.exited;
    expect(await myTaps(nsA)).toEqual([]);
  }, 30_000);
});
