#!/usr/bin/env node
/**
 * Builds the TAP addon (build/Release/podwire_tap.node) with node-gyp, offline.
 *
 * node-gyp downloads Node's headers unless it is given `--nodedir`. Distribution packages of
 * Node (Debian's nodejs, nvm, the official tarballs) install the headers next to the binary
 * (`<prefix>/include/node`), so this script looks there first and passes `--nodedir` when the
 * headers match the running Node; only when none are found does node-gyp fall back to its
 * default (download). Run by `npm install` / `npm rebuild` (the package's install script)
 * or by hand: `node native/build.mjs`.
 *
 * Skips (exit 0) on non-Linux systems, where TAP devices do not exist, and when
 * PODWIRE_SKIP_NATIVE=1 (the emulator itself does not need the addon).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`podwire native build: ${msg}\n`);

if (process.platform !== 'linux') {
  say(`skipped: TAP devices need Linux (this is ${process.platform})`);
  process.exit(0);
}
if (process.env.PODWIRE_SKIP_NATIVE === '1') {
  say('skipped (PODWIRE_SKIP_NATIVE=1): TAP attach will be unavailable');
  process.exit(0);
}

/** A prefix whose include/node holds the headers of exactly this Node version, or null. */
function headersAt(prefix) {
  if (!prefix) return null;
  const inc = join(prefix, 'include', 'node');
  try {
    const h = readFileSync(join(inc, 'node_version.h'), 'utf8');
    const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => h.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))?.[1]);
    if (`v${v.join('.')}` !== process.version) return null;
    if (!existsSync(join(inc, 'common.gypi')) || !existsSync(join(inc, 'node_api.h'))) return null;
    return prefix;
  } catch {
    return null;
  }
}

function findNodedir() {
  const candidates = [
    process.env.npm_config_nodedir,
    resolve(dirname(process.execPath), '..'),
    process.config.variables.node_prefix,
    '/usr',
    '/usr/local',
  ];
  for (const c of candidates) {
    const hit = headersAt(c);
    if (hit) return hit;
  }
  return null;
}

/** node-gyp's entry script: npm's own (set for lifecycle scripts), a local one, or npm's bundled copy. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

const nodedir = findNodedir();
const gyp = findNodeGyp();
const args = ['rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
if (nodedir) say(`using the local Node ${process.version} headers in ${nodedir}/include/node (offline)`);
else say(`no local headers for Node ${process.version}: node-gyp will download them`);

const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.error || r.status !== 0) {
  say(`failed (${r.error ? r.error.message : `node-gyp exit ${r.status}`}). The TAP addon needs python3, make `
    + 'and a C compiler (sudo tools/setup-system.sh), then `npm rebuild`. Set PODWIRE_SKIP_NATIVE=1 '
    + 'to install without it (no TAP attach).');
  process.exit(1);
}
