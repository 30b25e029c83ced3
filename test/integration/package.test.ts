/**
 * The library entry point as a user gets it: `npm pack` of this checkout, installed into a
 * fresh project in a temporary folder, imported by name (`import('podwire')`), used to build
 * a cluster from YAML text, trace a packet, capture it and read the stats.
 *
 * The tarball is installed with --ignore-scripts (the TAP addon is not needed to emulate) and
 * --prefer-offline (its dependencies come from npm's cache, filled by `npm ci`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('import("podwire") from a fresh project', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'podwire-pkg-'));
    // dist/ is built by test/global-setup.ts; --ignore-scripts skips `prepare` (a second build).
    execFileSync(NPM, ['pack', '--ignore-scripts', '--pack-destination', dir, ROOT], { cwd: dir, stdio: 'pipe' });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) throw new Error(`npm pack wrote no tarball into ${dir}`);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'podwire-user', version: '1.0.0', type: 'module', private: true }));
    execFileSync(NPM, ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: dir, stdio: 'pipe' });
  }, 180_000);
  afterAll(() => { if (dir !== '') rmSync(dir, { recursive: true, force: true }); });

  it('builds a cluster from YAML text, traces pod1 -> service1, captures it and counts it', () => {
    writeFileSync(join(dir, 'use.mjs'), `
import { clusterFromTopology, runTrace, renderTrace, Capture, MemorySink, statsView, TopologyInvalidError } from 'podwire';
const yaml = \`
cluster: { overlay: vxlan, seed: 2 }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: pod1, node: node1 }
  - { name: pod3, node: node2, labels: { app: web }, apps: [{ type: http, port: 8080 }] }
services:
  - { name: service1, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
\`;
const cluster = clusterFromTopology(yaml);
const sink = new MemorySink();
const point = cluster.capturePoints().find((p) => p.name === 'node2/eth0');
const cap = new Capture(() => cluster.engine.clock, [point], sink);
const r = runTrace(cluster, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
cap.stop();
let invalid = '';
try { clusterFromTopology({ nodes: [{ name: 'n1' }], pods: [{ name: 'p', node: 'n9' }] }); } catch (e) { if (e instanceof TopologyInvalidError) invalid = e.message; }
const stats = statsView(cluster);
console.log(JSON.stringify({ delivered: r.request.delivered, reply: r.reply?.delivered ?? false, text: renderTrace(r), captured: cap.packets, invalid, hasNodes: typeof stats === 'object' && stats !== null }));
`);
    const out = execFileSync(process.execPath, ['use.mjs'], { cwd: dir, encoding: 'utf8' });
    const got = JSON.parse(out) as { delivered: boolean; reply: boolean; text: string; captured: number; invalid: string; hasNodes: boolean };
    expect(got.delivered).toBe(true);
    expect(got.reply).toBe(true);
    expect(got.text).toMatch(/10\.96\.\d+\.\d+/);
    expect(got.text).toMatch(/VXLAN/);
    expect(got.captured).toBeGreaterThan(0);
    expect(got.invalid).toMatch(/pods\[0\]\.node.*n9/);
    expect(got.hasNodes).toBe(true);
  });

  it('ships types: the package names dist/index.d.ts and it exists in the tarball', () => {
    const pkg = JSON.parse(execFileSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("node_modules/podwire/package.json","utf8"))'], { cwd: dir, encoding: 'utf8' })) as { types: string; main: string };
    const files = readdirSync(join(dir, 'node_modules/podwire/dist'));
    expect(pkg.main).toBe('dist/index.js');
    expect(files).toContain('index.js');
    expect(files).toContain('index.d.ts');
  });
});
