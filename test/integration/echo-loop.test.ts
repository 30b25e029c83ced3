/**
 * The echo/chargen loop (issue 13, "one spoofed datagram freezes the process"): a UDP
 * datagram 10.244.1.3:9000 -> 10.244.2.2:9000 (pod2's address as source, to pod3's
 * udp-echo) makes pod3 answer pod2's udp-echo, which answers pod3, forever, as two real
 * echo servers would.
 *
 *   - virtual time, in process: runUntilIdle ends with a counted abort (`loopAborts`), the
 *     queued packets are dropped as `loop-abort` and the pool is full again; a trace that ran
 *     into the loop says so (`loopAbort`, a warning line); /stats shows the counters.
 *   - wall time, `podwire up` in a child (test/fixtures/echo-loop-worker.mjs): the loop runs
 *     at the emulator's speed while /healthz answers within 1 s, a trace is delivered,
 *     `podwire stats` shows the scheduler's counters, and SIGINT ends the process within 2 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UdpEcho } from '../../src/apps/udp-echo.js';
import type { Io } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { statsView } from '../../src/control/views.js';
import { DEFAULT_STEP_LIMIT } from '../../src/engine/scheduler.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import { parseIpv4, writeU16, writeU32 } from '../../src/wire/addr.js';
import { checksum } from '../../src/wire/checksum.js';
import { newCluster, topology } from './cluster-util.js';
import { until } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEMO = join(ROOT, 'examples/demo.yaml');
const WORKER = join(ROOT, 'test/fixtures/echo-loop-worker.mjs');
const POD2 = '10.244.1.3';
const POD3 = '10.244.2.2';

/** UDP POD2:9000 -> POD3:9000, sent out of pod1's namespace (the source spoofed), not run yet. */
function spoof(c: Cluster): void {
  const ns = c.pod('pod1').ns;
  const p = ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  const data = Buffer.from('echo loop\n');
  b.fill(0, s, s + 28);
  b[s] = 0x45;
  writeU16(b, s + 2, 28 + data.length); writeU16(b, s + 6, 0x4000);
  b[s + 8] = 64; b[s + 9] = 17;
  writeU32(b, s + 12, parseIpv4(POD2)); writeU32(b, s + 16, parseIpv4(POD3));
  writeU16(b, s + 10, checksum(b, s, 20));
  writeU16(b, s + 20, 9000); writeU16(b, s + 22, 9000); writeU16(b, s + 24, 8 + data.length); // UDP checksum 0: none
  data.copy(b, s + 28);
  p.end = s + 28 + data.length;
  ns.output(p);
}

const echoRx = (c: Cluster, pod: string): number =>
  (c.pod(pod).apps.running.find((r) => r.spec.type === 'udp-echo')!.app as UdpEcho).counters.get('rx');

describe('echo loop in virtual time', () => {
  it('runUntilIdle ends with a counted abort; the queued packets are dropped as loop-abort and the pool is full again', () => {
    const c = newCluster(topology(DEMO));
    try {
      const e = c.engine;
      spoof(c);
      expect(e.runUntilIdle()).toBe(DEFAULT_STEP_LIMIT);
      // The two echo servers really answered each other, many times.
      expect(echoRx(c, 'pod2')).toBeGreaterThan(1000);
      expect(echoRx(c, 'pod3')).toBeGreaterThan(1000);
      expect(e.scheduler.loopAborts).toBe(1);
      expect(e.scheduler.loopAbortDrops).toBeGreaterThanOrEqual(1);
      expect(e.pool.available).toBe(e.pool.size);
      const rx = echoRx(c, 'pod3');
      e.advance(1000);
      expect(echoRx(c, 'pod3')).toBe(rx); // the loop is over
      const s = statsView(c) as { engine: Record<string, unknown>; dropReasons: Record<string, number> };
      expect(s.engine).toMatchObject({ loopAborts: 1, loopAbortDrops: e.scheduler.loopAbortDrops, yields: 0 });
      expect(s.dropReasons['loop-abort']).toBe(e.scheduler.loopAbortDrops); // every drop reason shows in stats
      expect(s.engine['linkServices']).toBeGreaterThanOrEqual(DEFAULT_STEP_LIMIT);
    } finally {
      c.close();
    }
  });

  it('a trace that runs into the loop says so (loopAbort, a warning line) and the cluster works afterwards', () => {
    const c = newCluster(topology(DEMO));
    try {
      spoof(c);
      const r = runTrace(c, { from: 'pod1', to: 'pod3' });
      expect(r.loopAbort).toEqual({ runs: 1, drops: expect.any(Number) });
      expect(r.loopAbort!.drops).toBeGreaterThanOrEqual(1);
      expect(renderTrace(r)).toMatch(/^warning: the cluster never became idle .*loop-abort/m);
      const again = runTrace(c, { from: 'pod1', to: 'pod3' });
      expect(again.request.delivered).toBe(true);
      expect(again.reply?.delivered).toBe(true);
      expect(again.loopAbort).toBeUndefined();
      expect(renderTrace(again)).not.toMatch(/warning/);
      expect(c.engine.pool.available).toBe(c.engine.pool.size);
    } finally {
      c.close();
    }
  });
});

type Msg = Record<string, unknown>;

describe('echo loop under podwire up (wall time, child process)', () => {
  let child: ChildProcess;
  let url = '';
  const replies: ((m: Msg) => void)[] = [];
  let stderr = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  beforeAll(async () => {
    // dist/ is built by test/global-setup.ts.
    child = spawn(process.execPath, [WORKER, join(ROOT, 'dist'), DEMO], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<Msg>((res, rej) => {
      child.once('exit', (code) => rej(new Error(`worker exited (${code}): ${stderr}`)));
      lines.on('line', (l) => {
        const m = JSON.parse(l) as Msg;
        if ('url' in m) res(m);
        else replies.shift()?.(m);
      });
    });
    url = String((await ready)['url']);
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL'); // the worker this file started
      await exited;
    }
  });

  const cmd = (line: string): Promise<Msg> => new Promise((res) => { replies.push(res); child.stdin!.write(`${line}\n`); });
  const get = async <T>(path: string): Promise<T> => (await fetch(`${url}${path}`, { signal: AbortSignal.timeout(1000) })).json() as Promise<T>;
  type Stats = { pool: { size: number; available: number }; engine: Record<string, number>; interfaces: Record<string, { rxPackets: number }> };

  it('answers /healthz within 1 s while two echo servers answer each other; a trace gets through; SIGINT ends it within 2 s', async () => {
    const before = await get<Stats>('/stats');
    const injected = cmd(`loop ${POD2} ${POD3} 9000 pod1`);
    // The worker's event loop is free again right after sending (not after the loop).
    await Promise.race([injected, exited.then(() => { throw new Error(`worker exited: ${stderr}`); })]);
    await until('the echo loop to run', async () => (await get<Stats>('/stats')).interfaces['pod3/eth0']!.rxPackets > before.interfaces['pod3/eth0']!.rxPackets + 1000);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const h = await get<{ status: string }>('/healthz');
      expect(h.status).toBe('ok');
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    const tr = await (await fetch(`${url}/trace`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: 'pod1', to: 'pod3' }), signal: AbortSignal.timeout(1000),
    })).json() as { request: { delivered: boolean }; reply: { delivered: boolean } | null };
    expect(tr.request.delivered).toBe(true);
    expect(tr.reply?.delivered).toBe(true);
    // Still looping: at the emulator's own speed, in turns given back to the event loop.
    const s1 = await get<Stats>('/stats');
    await until('the loop to go on', async () => (await get<Stats>('/stats')).interfaces['pod2/eth0']!.rxPackets > s1.interfaces['pod2/eth0']!.rxPackets + 1000);
    const s2 = await get<Stats>('/stats');
    expect(s2.engine['yields']).toBeGreaterThan(0);
    expect(s2.engine['loopAborts']).toBe(0);
    expect(s2.engine['linkServices']).toBeGreaterThan(s1.engine['linkServices']!);
    // podwire stats prints them.
    const io: Io = { out: (l) => { text.push(l); }, err: () => undefined, isTTY: false };
    const text: string[] = [];
    expect(await main(['stats', '--api', url], io)).toBe(0);
    expect(text.join('\n')).toMatch(/^scheduler: [1-9]\d* link services, [1-9]\d* turns given back to the event loop .*, 0 runs aborted \(0 packets dropped, loop-abort\)$/m);
    const t0 = performance.now();
    child.kill('SIGINT');
    const end = await exited;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(end.code).toBe(0);
  }, 60_000);
});
