/**
 * The `podwire` command: every command's --help (exit 0), usage errors (exit 2), and a
 * run against a live `podwire up` started as a real process (compiled into a scratch
 * folder first, so the test never depends on a stale dist/): stats, label, conntrack, capture
 * start/list/stop/download, trace --api (text, JSON, undelivered, API errors), a remote
 * error (exit 1), then SIGINT and a clean exit 0.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { COMMANDS } from '../../src/cli/commands.js';
import type { Io } from '../../src/cli/args.js';
import { pcapngBlocks, PCAPNG_EPB, PCAPNG_SHB, until } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');

function memIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => { stdout.push(s); }, err: (s) => { stderr.push(s); }, isTTY: false };
}

describe('podwire commands in-process', () => {
  it('has the commands of a running instance next to demo/trace/validate', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(['demo', 'trace', 'validate', 'inspect', 'observe', 'rules', 'dns', 'probe', 'netpol', 'up', 'attach', 'detach', 'label', 'stats', 'conntrack', 'netem', 'capture', 'scenario', 'cleanup', 'bench']);
  });

  for (const cmd of COMMANDS) {
    it(`${cmd.name} --help exits 0; an unknown flag exits 2`, async () => {
      const io = memIo();
      expect(await main([cmd.name, '--help'], io)).toBe(0);
      expect(io.stdout.join('\n')).toMatch(new RegExp(`usage: podwire ${cmd.name}`));
      const bad = memIo();
      expect(await main([cmd.name, '--no-such-flag'], bad)).toBe(2);
      expect(bad.stderr.join('\n')).toMatch(/no-such-flag/);
    });
  }

  it('names what is wrong in usage errors (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['up'], /missing TOPOLOGY/],
      [['up', 'examples/demo.yaml', '--listen', 'nowhere'], /HOST:PORT/],
      [['up', 'examples/demo.yaml', '--listen', '0.0.0.0:0'], /not a loopback address, without a token/],
      [['capture'], /give a subcommand/],
      [['capture', 'rewind'], /unknown subcommand "rewind"/],
      [['capture', 'start', 'all', '--ring-files', '3'], /a ring needs/],
      [['conntrack', '-L', '-D'], /not both/],
      [['conntrack', '--sport', 'http'], /--sport "http" must be an integer/],
      [['attach', 'pod1'], /exactly one of --netns NAME, --pid N or --container NAME/],
      [['detach'], /missing POD/],
      [['label'], /missing POD/],
      [['label', 'pod1'], /at least one KEY=VALUE or KEY-/],
      [['label', 'pod1', 'app'], /"app" is not KEY=VALUE or KEY- \(remove\)/],
      [['label', 'pod1', 'app=web', 'app-'], /label "app" is given twice/],
      [['stats', 'extra'], /unexpected argument "extra"/],
      [['trace', 'examples/demo.yaml', '--api', 'http://127.0.0.1:1', '--from', 'pod1', '--to', 'pod2'], /give TOPOLOGY .* or --api URL .*, not both/],
      [['trace', '--from', 'pod1', '--to', 'pod2'], /missing TOPOLOGY or --api URL/],
      [['trace', 'examples/demo.yaml', '--token', 'secret-token', '--from', 'pod1', '--to', 'pod2'], /--token goes with --api URL/],
      [['trace', '--api', 'http://127.0.0.1:1', '--to', 'pod2'], /--from POD is required/],
      [['trace', '--api', 'http://127.0.0.1:1', '--from', 'pod1', '--to', 'pod2', '--proto', 'sctp'], /--proto "sctp" must be icmp, udp or tcp/],
    ];
    for (const [argv, re] of cases) {
      const io = memIo();
      const saved = { token: process.env['PODWIRE_TOKEN'], api: process.env['PODWIRE_API'] };
      delete process.env['PODWIRE_TOKEN'];
      delete process.env['PODWIRE_API'];
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      if (saved.token !== undefined) process.env['PODWIRE_TOKEN'] = saved.token;
      if (saved.api !== undefined) process.env['PODWIRE_API'] = saved.api;
      expect(io.stderr.join('\n'), argv.join(' ')).toMatch(re);
    }
  });

  it('exits 1 with a clear message when no instance answers', async () => {
    const srv = createServer();
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((res) => srv.close(res));
    const io = memIo();
    expect(await main(['stats', '--api', `http://127.0.0.1:${port}`], io)).toBe(1);
    expect(io.stderr.join('\n')).toContain(`cannot reach podwire at http://127.0.0.1:${port}/api/v1 (ECONNREFUSED)`);
  });
});

describe('podwire up as a process, driven by the other commands', () => {
  let build: string;
  let tmp: string;
  let child: ChildProcess;
  let api: string;
  let childErr = '';
  const exited = { code: null as number | null, signal: null as string | null, done: null as Promise<void> | null };

  const run = (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((res) => {
    execFile(process.execPath, [join(build, 'podwire.mjs'), ...args], { cwd: tmp, encoding: 'utf8', env }, (err, stdout, stderr) => {
      res({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });

  beforeAll(async () => {
    // dist/ is built once by test/global-setup.ts; this wrapper runs its CLI as bin/podwire.js does.
    build = mkdtempSync(join(tmpdir(), 'podwire-cli-bin-'));
    writeFileSync(join(build, 'podwire.mjs'), `const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/cli/main.js')).href)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    tmp = mkdtempSync(join(tmpdir(), 'podwire-cli-'));
    child = spawn(process.execPath, [join(build, 'podwire.mjs'), 'up', join(ROOT, 'examples/demo.yaml'), '--listen', '127.0.0.1:0', '--captures', join(tmp, 'caps')],
      { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PODWIRE_TOKEN: '' } });
    child.stderr!.on('data', (b: Buffer) => { childErr += b.toString(); });
    exited.done = new Promise((res) => child.on('exit', (code, signal) => { exited.code = code; exited.signal = signal; res(); }));
    api = await new Promise<string>((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error(`podwire up did not print its URL: ${out} ${childErr}`)), 30_000);
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /API listening on (http:\/\/\S+)/.exec(out);
        if (m !== null) { clearTimeout(t); res(m[1]!); }
      });
      child.on('exit', () => rej(new Error(`podwire up exited early: ${childErr}`)));
    });
  }, 60_000);

  afterAll(async () => {
    if (exited.code === null && exited.signal === null) child.kill('SIGKILL');
    rmSync(build, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('prints the real port it listens on', () => {
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/api\/v1$/);
  });

  it('stats --json', async () => {
    const r = await run(['stats', '--json', '--api', api]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { clock: string; interfaces: Record<string, unknown> };
    expect(s.clock).toBe('wall');
    expect(Object.keys(s.interfaces)).toContain('node1/eth0');
    const text = await run(['stats', '--api', api]);
    expect(text.stdout).toMatch(/^interface\s+rx pkts/m);
  });

  it('label sets and removes labels as kubectl label does (--overwrite to change a value); service endpoints follow', async () => {
    const endpoints = async (): Promise<string[]> => ((await (await fetch(`${api}/services/service1/endpoints`)).json()) as { endpoints: { pod: string }[] }).endpoints.map((e) => e.pod).sort();
    expect(await endpoints()).toEqual(['pod2', 'pod3']);
    const set = await run(['label', 'pod3', 'tier=db', 'app-', '--api', api]);
    expect([set.code, set.stdout.trim()], set.stderr).toEqual([0, 'pod/pod3 labeled: tier=db']);
    expect(await endpoints()).toEqual(['pod2']);
    // Changing an existing value needs --overwrite (kubectl's rule); nothing changes without it.
    const refused = await run(['label', 'pod3', 'tier=web', '--api', api]);
    expect([refused.code, refused.stderr.trim()]).toEqual([1, 'podwire label: "tier" already has a value (db), and --overwrite is false']);
    const bad = await run(['label', 'pod3', 'Bad Key=x', '--api', api]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('key "Bad Key" is not a valid label key');
    const back = await run(['label', 'pod3', 'app=web', 'tier-', '--overwrite', '--json', '--api', api]);
    expect(back.code, back.stderr).toBe(0);
    expect((JSON.parse(back.stdout) as { labels: object }).labels).toEqual({ app: 'web' });
    expect(await endpoints()).toEqual(['pod2', 'pod3']);
  });

  it('conntrack lists (text and JSON) and deletes', async () => {
    await fetch(`${api}/trace`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'pod1', to: 'service1', proto: 'tcp', port: 80 }) });
    const l = await run(['conntrack', '--api', api, '-p', 'tcp']);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/^tcp {6}6 \d+ \w+ src=10\.244\.1\.2 dst=10\.96\.0\.2 /m);
    expect(l.stderr).toMatch(/conntrack v1\.4\.8 \(conntrack-tools\): [1-9]\d* flow entries have been shown\./);
    const j = JSON.parse((await run(['conntrack', '--api', api, '--json', '--dport', '80'])).stdout) as { count: number };
    expect(j.count).toBeGreaterThan(0);
    const d = await run(['conntrack', '-D', '--api', api, '-p', 'tcp', '--dport', '80']);
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(/[1-9]\d* flow entries have been deleted/);
  });

  it('capture start, list, stop, download', async () => {
    const s = await run(['capture', 'start', 'node1/cbr0', 'pod1/eth0', '--json', '--api', api]);
    expect(s.code, s.stderr).toBe(0);
    const id = (JSON.parse(s.stdout) as { id: string }).id;
    await fetch(`${api}/trace`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'pod1', to: 'pod2' }) });
    const l = await run(['capture', 'list', '--api', api]);
    expect(l.stdout).toMatch(new RegExp(`^${id}\\s+running\\s+[1-9]\\d* pkts`, 'm'));
    const st = await run(['capture', 'stop', id, '--api', api]);
    expect(st.stdout).toMatch(new RegExp(`^${id} stopped: [1-9]\\d* packets`));
    const dl = await run(['capture', 'download', id, '-o', 'out.pcapng', '--api', api]);
    expect(dl.code, dl.stderr).toBe(0);
    const blocks = pcapngBlocks(readFileSync(join(tmp, 'out.pcapng')));
    expect(blocks[0]).toBe(PCAPNG_SHB);
    expect(blocks.filter((b) => b === PCAPNG_EPB).length).toBeGreaterThan(0);
  });

  it('capture live writes the pcapng stream', async () => {
    const pending = run(['capture', 'live', 'pod1/eth0', '--count', '2', '-o', 'live.pcapng', '--api', api]);
    // The stream is subscribed once the server counts it (GET /healthz liveCaptures).
    await until('the live capture to subscribe', async () => ((await (await fetch(`${api}/healthz`)).json()) as { liveCaptures: number }).liveCaptures > 0);
    await fetch(`${api}/trace`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'pod1', to: 'pod3' }) });
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    const blocks = pcapngBlocks(readFileSync(join(tmp, 'live.pcapng')));
    expect(blocks[0]).toBe(PCAPNG_SHB);
    expect(blocks.filter((b) => b === PCAPNG_EPB).length).toBeGreaterThanOrEqual(2);
  });

  it('trace --api prints the same journey text as the local form, exit 0 when delivered', async () => {
    const r = await run(['trace', '--api', api, '--from', 'pod1', '--to', 'pod3']);
    expect(r.code, r.stderr).toBe(0);
    const local = await run(['trace', join(ROOT, 'examples/demo.yaml'), '--from', 'pod1', '--to', 'pod3']);
    expect(local.code, local.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('pod1 -> pod3 (10.244.2.2), ICMP echo');
    expect(r.stdout.split('\n')[0]).toBe(local.stdout.split('\n')[0]);
    expect(r.stdout).toContain("It arrives on pod3's eth0");
    expect(r.stdout).toMatch(/^reply:$/m);
    expect(r.stdout).toMatch(/=> delivered/);
    const svc = await run(['trace', '--api', api, '--from', 'pod1', '--to', 'service1', '--proto', 'tcp', '--port', '80']);
    expect(svc.code, svc.stderr).toBe(0);
    expect(svc.stdout.split('\n')[0]).toBe('pod1 -> service1 (10.96.0.2), TCP port 80');
  });

  it('trace --api --json prints { request, reply, reset } as the local form does', async () => {
    const r = await run(['trace', '--api', api, '--from', 'pod1', '--to', '10.244.1.3', '--proto', 'udp', '--port', '9000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { request: { delivered: boolean; dropReason: string | null; hops: { node: string; netns: string; device: string; action: string; detail: object }[] }; reply: { delivered: boolean } | null };
    expect(Object.keys(j).sort()).toEqual(['reply', 'replyKind', 'request', 'reset']);
    expect(j.request.delivered).toBe(true);
    expect(j.request.dropReason).toBeNull();
    expect(j.request.hops[0]).toMatchObject({ node: 'node1', netns: 'pod1', action: 'send' });
    expect(j.request.hops.some((h) => h.action === 'deliver')).toBe(true);
    for (const h of j.request.hops) expect(Object.keys(h).sort()).toEqual(['action', 'detail', 'device', 'netns', 'node', 'time']);
    expect(j.reply?.delivered).toBe(true);
  });

  it('trace --api exits 1 when the packet is not delivered; $PODWIRE_API stands for --api', async () => {
    const r = await run(['trace', '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '9999'], { ...process.env, PODWIRE_API: api, PODWIRE_TOKEN: '' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe('pod1 -> pod3 (10.244.2.2), UDP port 9999');
    expect(r.stdout).toContain('dropped (no-socket)');
  });

  it('trace --api: an unknown pod or target exits 1 with the field and value the API names', async () => {
    const from = await run(['trace', '--api', api, '--from', 'pod9', '--to', 'pod3']);
    expect(from.code).toBe(1);
    expect(from.stdout).toBe('');
    expect(from.stderr).toMatch(/^podwire trace: from: "pod9" is not a pod \(have .*pod1.*\) \(HTTP 404\)/);
    const to = await run(['trace', '--api', api, '--from', 'pod1', '--to', 'nowhere', '--json']);
    expect(to.code).toBe(1);
    // --json: the error is JSON too, with the field and value the API named.
    expect(JSON.parse(to.stderr)).toMatchObject({ error: expect.stringMatching(/^to: "nowhere" is not a pod, a service, a node or an IPv4 address \(have pods pod1, .*\) \(HTTP 404\)$/), field: '/to', value: 'nowhere', status: 404 });
    const bad = await run(['trace', '--api', api, '--from', 'Pod_1', '--to', 'pod3']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/body\/from: "Pod_1" .*\(HTTP 400\)/);
  });

  it('a remote error exits 1 with the API\'s message', async () => {
    const r = await run(['attach', 'pod1', '--netns', 'pw-nope', '--api', api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is an emulated pod.*\(HTTP 409\)/);
  });

  it('stops on SIGINT, closes its captures and exits 0', async () => {
    const s = await run(['capture', 'start', 'all', '--json', '--api', api]);
    const file = (JSON.parse(s.stdout) as { files: string[] }).files[0]!;
    child.kill('SIGINT');
    await exited.done;
    expect(exited.code, childErr).toBe(0);
    expect(childErr).toMatch(/SIGINT: shutting down[\s\S]*stopped/);
    expect(pcapngBlocks(readFileSync(file))[0]).toBe(PCAPNG_SHB);
    const after = await run(['stats', '--api', api]);
    expect(after.code).toBe(1);
  });
});
