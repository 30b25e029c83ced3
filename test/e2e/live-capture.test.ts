/**
 * Live capture over HTTP, decoded by the real Wireshark dissectors: `curl -sN URL | tshark
 * -r -` reads the pcapng stream of `GET /api/v1/captures/live` while pings run, and must
 * decode the ICMP echo requests and replies.
 *
 * 1. Emulated pings (ICMP echo traces sent through the API) on pod1's eth0: needs tshark
 *    and curl only.
 * 2. The real `ping` in a network namespace attached as a pod through a TAP device, pinging
 *    an emulated pod on the other node: needs root, /dev/net/tun and ip netns as well.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { examplePath } from '../../src/control/load.js';
import { up, type Instance } from '../../src/api/up.js';
import { until } from '../integration/helpers.js';
import { describeE2E, uniq } from './prereq.js';

interface Row { type: string; src: string; dst: string }

/**
 * `curl -sN URL | tshark -r - ...` (the two processes joined by a named pipe); resolves with
 * the ICMP rows once the stream ends: when the API ends it (count, seconds) or `stop()`
 * ends curl.
 */
function curlTshark(url: string): { done: Promise<{ rows: Row[]; stderr: string }>; stop(): void } {
  // A named pipe, not Node's stdio (a socket, which tshark -r refuses): a shell's `|`.
  const fifo = join(mkdtempSync(join(tmpdir(), 'podwire-fifo-')), 'stream');
  execFileSync('mkfifo', [fifo]);
  const tshark = spawn('tshark', ['-n', '-r', fifo, '-Y', 'icmp', '-T', 'fields', '-E', 'separator=,', '-e', 'icmp.type', '-e', 'ip.src', '-e', 'ip.dst'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const curl = spawn('curl', ['-sN', '-o', fifo, url], { stdio: 'ignore' });
  let out = '';
  let err = '';
  tshark.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  tshark.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const done = new Promise<{ rows: Row[]; stderr: string }>((resolve) => {
    tshark.on('exit', () => {
      rmSync(dirname(fifo), { recursive: true, force: true });
      const rows = out.split('\n').filter((l) => l !== '').map((l) => {
        const [type = '', src = '', dst = ''] = l.split(',');
        return { type, src, dst };
      });
      resolve({ rows, stderr: err });
    });
  });
  return { done, stop: () => { curl.kill('SIGTERM'); } };
}

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

let inst: Instance;
let dir: string;

describeE2E('live capture: curl | tshark reads the pcapng stream while pings run', ['tshark', 'curl'], () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podwire-live-'));
    inst = await up({ topology: examplePath('demo.yaml'), listen: { host: '127.0.0.1', port: 0 }, capturesDir: dir });
  });
  afterAll(async () => {
    await inst.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes the echo requests and replies of emulated pings on pod1/eth0', async () => {
    const { done } = curlTshark(`${inst.api.url}/captures/live?iface=pod1/eth0&count=12&seconds=20`);
    let finished = false;
    void done.then(() => { finished = true; });
    let sent = 0;
    while (!finished && sent < 100) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await post(`${inst.api.url}/trace`, { from: 'pod1', to: 'pod3', proto: 'icmp' });
      expect(r.status).toBe(200);
      sent++;
    }
    const { rows, stderr } = await done;
    const requests = rows.filter((r) => r.type === '8');
    const replies = rows.filter((r) => r.type === '0');
    expect(requests.length, stderr).toBeGreaterThanOrEqual(2);
    expect(replies.length, stderr).toBeGreaterThanOrEqual(2);
    expect(requests.every((r) => r.src === '10.244.1.2' && r.dst === '10.244.2.2')).toBe(true);
    expect(replies.every((r) => r.src === '10.244.2.2' && r.dst === '10.244.1.2')).toBe(true);
  });
});

describeE2E('live capture: the real ping in an attached namespace', ['root', 'tun', 'netns', 'ping', 'tshark', 'curl'], () => {
  const ns = uniq('pwlive');
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    dir = mkdtempSync(join(tmpdir(), 'podwire-live-'));
    inst = await up({ topology: examplePath('demo.yaml'), listen: { host: '127.0.0.1', port: 0 }, capturesDir: dir });
  });
  afterAll(async () => {
    await inst?.close();
    try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });

  it('tshark decodes ping\'s ICMP from the stream of the attached pod\'s eth0', async () => {
    const a = await post(`${inst.api.url}/attach`, { pod: 'client', netns: ns, node: 'node1' });
    expect(a.status, await a.clone().text()).toBe(201);
    const ip = ((await a.json()) as { ip: string }).ip;
    // count=10: 5 requests and 5 replies, at most 4 of them ARP frames; the API ends the stream.
    const live = curlTshark(`${inst.api.url}/captures/live?iface=client/eth0&count=10&seconds=30`);
    await until('the live capture to subscribe', async () => ((await (await fetch(`${inst.api.url}/healthz`)).json()) as { liveCaptures: number }).liveCaptures > 0);
    const ping = await new Promise<number | null>((resolve) => {
      spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '5', '-i', '0.2', '-W', '2', '10.244.2.2'], { stdio: 'ignore' }).on('exit', resolve);
    });
    expect(ping).toBe(0);
    const { rows, stderr } = await live.done;
    expect(rows.filter((r) => r.type === '8' && r.src === ip && r.dst === '10.244.2.2').length, stderr).toBeGreaterThanOrEqual(3);
    expect(rows.filter((r) => r.type === '0' && r.src === '10.244.2.2' && r.dst === ip).length, stderr).toBeGreaterThanOrEqual(3);
    const d = await fetch(`${inst.api.url}/attach/client`, { method: 'DELETE' });
    expect(d.status).toBe(200);
  });
});
