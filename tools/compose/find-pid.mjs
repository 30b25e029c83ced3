#!/usr/bin/env node
/**
 * Prints the PID of the process whose command line has MARKER as one of its arguments
 * (e.g. `podwire-pod=client1`), the newest one if several; exit 1 when there is none.
 * For docker-compose.yml: with `pid: host` the podwire container sees the client
 * containers' processes in /proc; their command carries the marker (docs/compose.md).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';

const marker = process.argv[2];
if (marker === undefined || marker === '') {
  process.stderr.write('usage: find-pid.mjs MARKER\n');
  process.exit(2);
}
const skip = new Set([process.pid, process.ppid]);
let best = null;
for (const d of readdirSync('/proc')) {
  if (!/^\d+$/.test(d) || skip.has(Number(d))) continue;
  let argv;
  try {
    argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
  } catch {
    continue; // gone, or not ours to read
  }
  if (!argv.includes(marker)) continue;
  const started = statSync(`/proc/${d}`, { throwIfNoEntry: false })?.ctimeMs ?? 0;
  if (best === null || started > best.started) best = { pid: Number(d), started };
}
if (best === null) {
  process.stderr.write(`find-pid: no process with argument ${JSON.stringify(marker)}\n`);
  process.exit(1);
}
process.stdout.write(`${best.pid}\n`);
