/**
 * Output folders (demo captures, `podwire up --captures`): created one level at a time.
 * `mkdirSync(p, { recursive: true })` never returns under /proc or /sys on Node 20 (it
 * retries ENOENT forever), so `podwire demo --out /proc/x` spun at 100% CPU; here the first
 * level that cannot be created fails at once with an error naming it.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `dir` and its missing parents; throws naming the folder that could not be made. */
export function ensureDir(dir: string, what = 'output folder'): void {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let isDir: boolean | null = null;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw dirError(what, dir, p, e);
    }
    if (isDir === true) break;
    if (isDir === false) throw new Error(`cannot create ${what} ${JSON.stringify(dir)}: ${JSON.stringify(p)} exists and is not a folder`);
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw dirError(what, dir, m, e);
    }
  }
}

function dirError(what: string, dir: string, at: string, e: unknown): Error {
  // "ENOENT: no such file or directory, mkdir '/proc/x'" -> "ENOENT: no such file or directory"
  const code = (e as Error).message.split(',')[0] ?? String(e);
  return new Error(`cannot create ${what} ${JSON.stringify(dir)}: ${at === resolve(dir) ? '' : `${JSON.stringify(at)}: `}${code}`);
}
