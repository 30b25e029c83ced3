/**
 * Runs once before any test file: tests that start worker threads or child processes run
 * the compiled JavaScript in dist/, so dist/ is rebuilt here when any source file is newer
 * (one build, before test files run in parallel; no test builds dist/ itself); likewise the
 * web UI's bundle in dist/web/ when web/ is newer.
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

const WEB_MARKER = join(ROOT, 'dist/web/app.js');

/** Newest file of web/ (and src/, which the bundle imports from): .ts, .html, .css. */
function newestWeb(): number {
  let t = newestSource(join(ROOT, 'src'));
  for (const e of readdirSync(join(ROOT, 'web'))) t = Math.max(t, statSync(join(ROOT, 'web', e)).mtimeMs);
  return t;
}

export default function setup(): void {
  if (!existsSync(MARKER) || statSync(MARKER).mtimeMs < newestSource(join(ROOT, 'src'))) {
    process.stderr.write('[podwire tests] dist/ is older than src/: building it (tsc -p tsconfig.build.json)\n');
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  }
  if (!existsSync(WEB_MARKER) || statSync(WEB_MARKER).mtimeMs < newestWeb()) {
    process.stderr.write('[podwire tests] dist/web/ is older than web/: building it (tools/build-web.mjs)\n');
    execFileSync(process.execPath, [join(ROOT, 'tools/build-web.mjs')], { cwd: ROOT, stdio: 'inherit' });
  }
}
