/**
 * Test support (not used by the dataplane): worker threads run compiled JavaScript, so
 * tests that start one (the shared-ring producer, the shard workers) make sure dist/ is at
 * least as new as src/, building it when not (`tsc -p tsconfig.build.json`, under a lock
 * so parallel test files do not build at once).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MARKER = join(ROOT, 'dist/kube/shard-worker.js');
const LOCK = join(ROOT, 'dist/.shard-build.lock');

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const stale = (): boolean => !existsSync(MARKER) || statSync(MARKER).mtimeMs < newestSource(join(ROOT, 'src'));

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** True once dist/ is current (built here if it was stale). */
export function ensureDist(): boolean {
  if (!stale()) return true;
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const until = Date.now() + 110_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > until) return false;
      sleep(200);
      if (!stale()) return true;
    }
  }
  try {
    if (stale()) {
      try {
        execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe' });
      } catch {
        // type errors elsewhere (work in progress) still emit JavaScript: judge by the marker
      }
    }
  } finally {
    rmdirSync(LOCK);
  }
  return existsSync(MARKER);
}
