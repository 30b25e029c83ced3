/**
 * The `podwire` command at the edges of its process, run as a real child (bin/podwire.js
 * over dist/, which test/global-setup.ts keeps fresh): a reader that goes away early
 * (`podwire demo | head -1`, `podwire trace ... | true`, a closed stderr) ends podwire
 * quietly with status 141, as SIGPIPE ends a Unix tool; an output folder that cannot be
 * created (`demo --out /proc/x`, under a file) fails at once naming the folder; port
 * flags take decimal digits only (--port 0x50 was port 80).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_CLOSED_PIPE, type Io } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/podwire.js');
const DEMO = join(ROOT, 'examples/demo.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'podwire-cli-edges-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

/**
 * Runs podwire with `close`: 'stdout-now'/'stderr-now' close that pipe's read end before the
 * child writes anything (every write then fails with EPIPE), 'stdout-after-line' once the
 * first line arrived (`| head -1`), 'none' keeps both.
 */
function podwire(args: string[], close: 'none' | 'stdout-now' | 'stderr-now' | 'stdout-after-line'): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.on('error', rej);
    if (close === 'stdout-now') child.stdout.destroy();
    else child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (close === 'stdout-after-line' && stdout.includes('\n')) child.stdout.destroy();
    });
    if (close === 'stderr-now') child.stderr.destroy();
    else child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    // A podwire that does not end by itself (mkdir -p under /proc spun forever) is stopped
    // here, so the test fails on its assertions instead of leaving the child running.
    const stop = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => { clearTimeout(stop); res({ code, signal, stdout, stderr }); });
  });
}

describe('a reader that goes away (closed pipe)', () => {
  it('demo with stdout closed before it writes exits 141, silently, every time', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await podwire(['demo', '--out', join(tmp, 'caps')], 'stdout-now');
      expect(r.stderr, `run ${i}`).toBe('');
      expect(r.code, `run ${i}`).toBe(EXIT_CLOSED_PIPE);
    }
  });

  it('demo | head -1: the first line arrives, then a quiet exit (0 when all fit in the pipe, else 141)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await podwire(['demo', '--out', join(tmp, 'caps')], 'stdout-after-line');
      expect(r.stdout, `run ${i}`).toMatch(/^Journey 1: pod to pod on one node/);
      expect(r.stderr, `run ${i}`).toBe('');
      expect([0, EXIT_CLOSED_PIPE], `run ${i}: exit ${r.code}`).toContain(r.code);
    }
  });

  it('trace ... | true exits 141 without a stack trace', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await podwire(['trace', DEMO, '--from', 'pod1', '--to', 'pod3'], 'stdout-now');
      expect(r.stderr, `run ${i}`).toBe('');
      expect(r.code, `run ${i}`).toBe(EXIT_CLOSED_PIPE);
    }
  });

  it('up with its stdout closed tears the cluster down cleanly, then exits 141', async () => {
    const r = await podwire(['up', DEMO, '--listen', '127.0.0.1:0', '--captures', join(tmp, 'up-caps')], 'stdout-now');
    expect(r.stderr).toContain('podwire: output closed: shutting down');
    expect(r.stderr).toContain('podwire: stopped');
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    expect(r.code).toBe(EXIT_CLOSED_PIPE);
  });

  it('a closed stderr (validate printing its errors) exits 141 too', async () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'nodes: [ { name: node1 } ]\npods: [ { name: pod1, node: node9 } ]\n');
    for (let i = 0; i < 3; i++) {
      const r = await podwire(['validate', bad], 'stderr-now');
      expect(r.code, `run ${i}`).toBe(EXIT_CLOSED_PIPE);
    }
    const open = await podwire(['validate', bad], 'none');
    expect(open.code).toBe(1);
    expect(open.stderr).toContain('pods[0].node: "node9" is not a node');
  });
});

describe('demo --out a folder that cannot be made', () => {
  it('fails at once under /proc, naming the folder (mkdir -p there never returns on Node 20)', async () => {
    const r = await podwire(['demo', '--out', '/proc/podwire-edges/x'], 'none');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot create output folder (--out) "/proc/podwire-edges/x": "/proc/podwire-edges": ENOENT');
  });

  it('fails under a regular file and when the folder is a file', async () => {
    const file = join(tmp, 'plain-file');
    writeFileSync(file, '');
    const under = await podwire(['demo', '--out', join(file, 'caps')], 'none');
    expect(under.code).toBe(1);
    expect(under.stderr).toContain(`cannot create output folder (--out) ${JSON.stringify(join(file, 'caps'))}: ENOTDIR`);
    const is = await podwire(['demo', '--out', file], 'none');
    expect(is.code).toBe(1);
    expect(is.stderr).toContain(`${JSON.stringify(file)} exists and is not a folder`);
  });

  it('creates missing levels of a good folder', async () => {
    const r = await podwire(['demo', '--out', join(tmp, 'a/b/c')], 'none');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/a\/b\/c\/node1_cbr0\.pcapng\s+\d+ packets/);
  });
});

describe('port flags', () => {
  it('--port / --sport / --dport take decimal digits 0-65535 only (usage error, exit 2)', async () => {
    const cases: string[][] = [
      ['trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '0x50'],
      ['trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '1e2'],
      ['trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '0'],
      ['conntrack', '--api', 'http://127.0.0.1:1', '--sport', '0x50'],
      ['conntrack', '--api', 'http://127.0.0.1:1', '--dport', ' 80'],
      ['attach', 'pod1', '--pid', '0x10', '--api', 'http://127.0.0.1:1'],
    ];
    for (const argv of cases) {
      const err: string[] = [];
      const io: Io = { out: () => undefined, err: (s) => { err.push(s); }, isTTY: false };
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      const flag = argv.find((a) => a.startsWith('--') && /port|pid/.test(a))!;
      expect(err.join('\n'), argv.join(' ')).toMatch(new RegExp(`${flag} "${argv[argv.indexOf(flag) + 1]!.replace(/[+]/g, '\\$&')}" must be an integer from`));
    }
    const ok: string[] = [];
    expect(await main(['trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '7'], { out: (s) => { ok.push(s); }, err: () => undefined, isTTY: false })).not.toBe(2);
    expect(ok.join('\n')).toMatch(/UDP port 7/);
  });
});
