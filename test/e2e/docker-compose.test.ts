/**
 * docker-compose.yml for real, on the run's private dockerd (docker-util.ts), the way the
 * README and docs/compose.md say to run it without a registry: tools/compose/local-images.sh
 * builds podwire:local and busybox:1.36 from this machine's files, `docker-compose up -d
 * --no-build` starts podwire and the two clients, podwire attaches them (client1 on node1,
 * client2 on node2), the clients ping each other across the emulated VXLAN overlay and fetch
 * from the `web` Service through kube-proxy's DNAT; `podwire stats` answers on the published
 * port with the token. `docker-compose stop` lets podwire remove its TAPs and exit 0;
 * `docker-compose down` then leaves no container, network, TAP or namespace behind. The
 * project (`-p pwdock…`) and port are this run's own; afterAll runs `down` again whatever
 * happened.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, ROOT, waitFor } from './attach-util.js';
import { sharedDockerd, type Dockerd } from './docker-util.js';

const runP = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

describeE2E('docker-compose.yml: podwire and two busybox clients, up and down', ['root', 'tun', 'dockerd', 'docker', 'docker-compose', 'busybox-static'], () => {
  const project = uniq('pwdock').toLowerCase();
  const token = randomBytes(16).toString('hex');
  let port = 0;
  let d: Dockerd;
  let env: NodeJS.ProcessEnv = {};
  const compose = async (...args: string[]): Promise<string> => (await runP('docker-compose', ['-p', project, ...args], { cwd: ROOT, env, maxBuffer: 16 << 20 })).stdout;
  const api = async (path: string): Promise<Record<string, unknown>> =>
    await (await fetch(`http://127.0.0.1:${port}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) })).json() as Record<string, unknown>;
  const podwireTaps = async (): Promise<string[]> => {
    const out = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun']);
    return out.trim() === '' ? [] : (JSON.parse(out) as { ifname: string; ifalias?: string }[]).filter((l) => (l.ifalias ?? '').startsWith('podwire:compose/')).map((l) => l.ifname);
  };
  let netnsBefore: string[] = [];

  beforeAll(async () => {
    buildDist();
    d = await sharedDockerd();
    port = await freePort();
    env = { ...d.env, PODWIRE_TOKEN: token, PODWIRE_PORT: String(port) };
    netnsBefore = await ipx.netnsList();
    await runP(join(ROOT, 'tools/compose/local-images.sh'), [], { cwd: ROOT, env });
  }, 120_000);

  afterAll(async () => {
    await compose('down', '--remove-orphans', '-t', '2').catch(() => undefined);
  }, 60_000);

  it('up: podwire attaches both clients; they reach each other across nodes and the web Service', async () => {
    await compose('up', '-d', '--no-build');
    type Pod = { name: string; ip: string; node: string; attached: { pid?: number } | null };
    let pods: Pod[] = [];
    const attached = async (): Promise<boolean> => {
      try {
        pods = (await api('/topology'))['pods'] as Pod[];
      } catch { return false; } // not listening yet
      return ['client1', 'client2'].every((n) => pods.find((p) => p.name === n)?.attached != null);
    };
    expect(await waitFor(attached, 30_000), `clients attached; podwire said: ${await compose('logs', '--no-color', 'podwire').catch((e: Error) => e.message)}`).toBe(true);
    const c1 = pods.find((p) => p.name === 'client1')!;
    const c2 = pods.find((p) => p.name === 'client2')!;
    expect([c1.node, c2.node]).toEqual(['node1', 'node2']);
    expect(await compose('exec', '-T', 'client1', 'ping', '-c', '2', '-W', '2', c2.ip)).toMatch(/2 packets received/);
    expect(await compose('exec', '-T', 'client2', 'ping', '-c', '2', '-W', '2', c1.ip)).toMatch(/2 packets received/);
    expect(await compose('exec', '-T', 'client1', 'ping', '-c', '1', '-W', '2', '10.244.2.2')).toMatch(/1 packets received/);
    expect(await compose('exec', '-T', 'client2', 'wget', '-q', '-O', '-', 'http://10.96.0.2/')).toMatch(/^web[12]/);
    const stats = (await runP(process.execPath, [join(ROOT, 'bin/podwire.js'), 'stats', '--api', `http://127.0.0.1:${port}`, '--token', token], { env })).stdout;
    expect(stats).toMatch(/node1/);
    expect(await podwireTaps()).toEqual([]); // the TAPs live in the clients' namespaces, never here
  }, 90_000);

  it('stop: podwire removes its TAPs and exits 0; down leaves no container, network, TAP or namespace', async () => {
    const id = (await compose('ps', '-q', 'podwire')).trim();
    expect(id).not.toBe('');
    const clientPid = Number((await d.docker('inspect', '-f', '{{.State.Pid}}', (await compose('ps', '-q', 'client1')).trim())).trim());
    await compose('stop', '-t', '10', 'podwire');
    expect((await d.docker('inspect', '-f', '{{.State.ExitCode}}', id)).trim()).toBe('0');
    // The TAP podwire moved into client1 is gone with podwire (client1 still runs).
    const links = await ipx.ip(['-j', '-d', 'link', 'show'], { pid: clientPid });
    expect((JSON.parse(links) as { ifname: string; ifalias?: string }[]).filter((l) => (l.ifalias ?? '').startsWith('podwire:'))).toEqual([]);
    await compose('down', '-t', '2');
    expect((await d.docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).trim()).toBe('');
    expect(await d.docker('network', 'ls', '--format', '{{.Name}}')).not.toContain(project);
    expect(await podwireTaps()).toEqual([]);
    // Docker makes no named namespace; nothing of this project's is listed (other tests may add their own meanwhile).
    expect((await ipx.netnsList()).filter((n) => !netnsBefore.includes(n) && (n.includes(project) || n.includes('podwire')))).toEqual([]);
  }, 90_000);
});
