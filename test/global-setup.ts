/**
 * Runs once before any test file: tests that start worker threads or child processes run
 * the compiled JavaScript in dist/, so dist/ is rebuilt here when any source file is newer
 * (one build, before test files run in parallel; no test builds dist/ itself).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MARKER = join(ROOT, 'dist/cli/main.js');

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  if (existsSync(MARKER) && statSync(MARKER).mtimeMs >= newestSource(join(ROOT, 'src'))) return;
  process.stderr.write('[podwire tests] dist/ is older than src/: building it (tsc -p tsconfig.build.json)\n');
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
}
