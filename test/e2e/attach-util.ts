/**
 * Helpers for the attach e2e tests: build dist/ once, drive test/e2e/fixtures/attach-runner.mjs
 * (a podwire process with attached pods) over stdin/stdout, run commands in namespaces, and
 * keep track of every background process started so afterAll can end exactly those.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import * as ipx from '../../src/io/netlink-ip.js';
import { cleanupLeftovers } from '../../src/io/attach.js';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const runP = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'dist');
export const RUNNER = join(import.meta.dirname, 'fixtures', 'attach-runner.mjs');

export function buildDist(): void {
  // dist/ is built once by test/global-setup.ts.
  for (const f of ['kube/cluster.js', 'io/attach.js', 'io/tap-port.js', 'io/capture.js']) {
    if (!existsSync(join(DIST, f))) throw new Error(`build did not produce dist/${f}`);
  }
}

export const sh = async (...args: string[]): Promise<string> => (await runP(args[0]!, args.slice(1), { maxBuffer: 16 << 20 })).stdout;
export const inNs = (ns: string, ...args: string[]): Promise<string> => sh('ip', 'netns', 'exec', ns, ...args);

export type Reply = Record<string, unknown> & { ok?: boolean; error?: string };

/** One attach-runner child, spoken to in text commands, answering in JSON lines (in order). */
export class Runner {
  readonly child: ChildProcess;
  readonly ready: Promise<Reply>;
  stderr = '';
  private readonly queue: ((r: Reply) => void)[] = [];
  readonly exited: Promise<void>;

  constructor(topo: string) {
    this.child = spawn(process.execPath, [RUNNER, DIST, topo], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((res) => this.child.once('exit', () => res()));
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((res, rej) => {
      this.child.once('exit', (code, sig) => rej(new Error(`runner exited (${code ?? sig}): ${this.stderr}`)));
      lines.on('line', (l) => {
        const msg = JSON.parse(l) as Reply;
        if ('ready' in msg) {
          if (msg['ready'] === true) res(msg);
          else rej(new Error(String(msg['error'])));
          return;
        }
        this.queue.shift()?.(msg);
      });
    });
    this.ready.catch(() => undefined);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  cmd(line: string): Promise<Reply> {
    return new Promise((res) => {
      this.queue.push(res);
      this.child.stdin!.write(`${line}\n`);
    });
  }

  /** `quit`, then SIGKILL after 3 s if it is still there (only this child). */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.stdin!.end('quit\n');
    const t = setTimeout(() => { if (this.alive) this.child.kill('SIGKILL'); }, 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Background processes (servers in namespaces) started by a test, ended by PID in afterAll. */
export class Procs {
  readonly list: ChildProcess[] = [];

  /** `ip netns exec NS cmd...` in the background (ip execs the command: same PID). */
  start(ns: string, ...cmd: string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'ignore' });
    this.list.push(c);
    return c;
  }

  async stopAll(): Promise<void> {
    for (const c of this.list) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise<void>((res) => c.once('exit', () => res()));
      c.kill('SIGKILL');
      await gone;
    }
  }
}

/** Resolves when `check` returns true, polling every 50 ms; false after `ms`. */
export async function waitFor(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Sum of every drop counter in a runner `stats` reply. */
export function totalDrops(stats: Reply): number {
  let n = 0;
  const add = (o: unknown): void => { for (const v of Object.values(o as Record<string, number>)) n += v; };
  for (const a of Object.values(stats['attached'] as Record<string, { drops: unknown }>)) add(a.drops);
  for (const nd of Object.values(stats['nodes'] as Record<string, { bridge: unknown; root: unknown }>)) { add(nd.bridge); add(nd.root); }
  for (const p of Object.values(stats['pods'] as Record<string, unknown>)) add(p);
  return n;
}

/** A `podwire up` child of this test (bin/podwire.js), its API URL once the cluster is up, what it printed. */
export interface UpProcess {
  readonly child: ChildProcess;
  /** The API base URL (ending in /api/v1), once it printed both "API listening" and "cluster ... up". */
  readonly api: Promise<string>;
  /** Its exit code, when it has exited. */
  readonly exited: Promise<number | null>;
  /** Everything it printed on stdout and stderr so far. */
  output(): string;
}

export function startPodwireUp(topo: string, ...args: string[]): UpProcess {
  const child = spawn(process.execPath, [join(ROOT, 'bin/podwire.js'), 'up', topo, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const api = new Promise<string>((res, rej) => {
    const on = (d: Buffer): void => {
      out += d.toString();
      const url = /API listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url !== undefined && /cluster "[^"]+" up/.test(out)) res(url);
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code, sig) => rej(new Error(`podwire up exited (${code ?? sig}): ${out}`)));
  });
  api.catch(() => undefined);
  return { child, api, exited, output: () => out };
}

/** Kills `c`, a process this test started, if it still runs (SIGKILL by default), and waits for its exit. */
export async function killAndWait(c: ChildProcess | null | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (c === null || c === undefined || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((res) => c.once('exit', () => res()));
  c.kill(signal);
  await gone;
}

/**
 * What an attach test leaves to remove, removed even when the test failed: its network
 * namespaces, the cluster's TAPs left behind, its temporary folder. Answers the namespaces
 * of `netns` still listed afterwards (the caller expects none).
 */
export async function removeTestLeftovers(cluster: string, dir: string, netns: readonly string[]): Promise<string[]> {
  for (const ns of netns) await ipx.netnsDelete(ns).catch(() => undefined);
  await cleanupLeftovers({ cluster });
  rmSync(dir, { recursive: true, force: true });
  const listed = await ipx.netnsList();
  return netns.filter((ns) => listed.includes(ns));
}
