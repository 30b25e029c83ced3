/**
 * docker-compose.yml without a Docker engine: every image, build context, Dockerfile COPY
 * source, script, topology, volume, capability and device it names exists in the project
 * or is the one docs/compose.md explains; the clients to attach have their marker and
 * their node; the entry point is valid sh; find-pid.mjs finds a process by its marker.
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadTopologyFile } from '../../src/kube/topology.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface ComposeService {
  build?: string | { context: string; dockerfile?: string };
  image?: string;
  cap_add?: string[];
  devices?: string[];
  pid?: string;
  network_mode?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  command?: string[];
  entrypoint?: string[];
  depends_on?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, ComposeService> };
const podwire = compose.services['podwire']!;

describe('docker-compose.yml', () => {
  it('builds podwire from a Dockerfile whose COPY sources all exist', () => {
    const ctx = typeof podwire.build === 'string' ? podwire.build : podwire.build!.context;
    const dockerfile = join(ROOT, ctx, typeof podwire.build === 'object' ? podwire.build.dockerfile ?? 'Dockerfile' : 'Dockerfile');
    expect(existsSync(dockerfile)).toBe(true);
    const text = readFileSync(dockerfile, 'utf8');
    const copies = [...text.matchAll(/^COPY\s+(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/).slice(0, -1)).flat();
    expect(copies.length).toBeGreaterThan(5);
    for (const src of copies) expect(existsSync(join(ROOT, ctx, src)), `COPY ${src}`).toBe(true);
    const entry = /^ENTRYPOINT\s+\["([^"]+)"/m.exec(text)?.[1];
    expect(entry).toBe('tools/compose/entrypoint.sh');
    accessSync(join(ROOT, entry!), constants.X_OK);
    expect(/^FROM node:20/m.test(text)).toBe(true);
  });

  it('gives podwire the privileges docs/compose.md explains, and a token', () => {
    expect(podwire.cap_add).toEqual(['NET_ADMIN', 'SYS_ADMIN']);
    expect(podwire.devices).toEqual(['/dev/net/tun:/dev/net/tun']);
    expect(podwire.pid).toBe('host');
    expect(podwire.environment?.['PODWIRE_TOKEN']).toMatch(/^\$\{PODWIRE_TOKEN:\?/);
    expect(podwire.ports).toEqual(['127.0.0.1:${PODWIRE_PORT:-7070}:7070']);
    for (const v of podwire.volumes ?? []) {
      const host = v.split(':')[0]!;
      expect(existsSync(join(ROOT, host)), v).toBe(true);
    }
    const docs = readFileSync(join(ROOT, 'docs/compose.md'), 'utf8');
    for (const word of ['NET_ADMIN', 'SYS_ADMIN', '/dev/net/tun', 'pid: host', 'podwire-pod=']) expect(docs).toContain(word);
  });

  it('runs a topology that is valid and has every node a client is attached to', async () => {
    const env = podwire.environment!;
    const topo = join(ROOT, env['PODWIRE_TOPOLOGY']!);
    const r = await loadTopologyFile(topo);
    expect(r.ok, JSON.stringify(!r.ok ? r.errors : [])).toBe(true);
    if (!r.ok) return;
    const nodes = new Set(r.topology.nodes.map((n) => n.name));
    const specs = env['PODWIRE_ATTACH']!.split(/\s+/);
    expect(specs.length).toBe(2);
    for (const spec of specs) {
      const [name, node] = spec.split('@') as [string, string];
      expect(nodes.has(node), spec).toBe(true);
      expect(r.topology.pods.some((p) => p.name === name), `${name} must not be an emulated pod`).toBe(false);
      const client = compose.services[name];
      expect(client, `service ${name}`).toBeDefined();
      expect(client!.network_mode).toBe('none');
      expect(client!.command).toContain(`podwire-pod=${name}`);
      expect(client!.image).toMatch(/^busybox:/);
      expect(podwire.depends_on).toContain(name);
    }
  });

  it('has an entry point that is valid sh and uses the tools it names', () => {
    const script = join(ROOT, 'tools/compose/entrypoint.sh');
    execFileSync('sh', ['-n', script]);
    const text = readFileSync(script, 'utf8');
    for (const path of ['bin/podwire.js', 'tools/compose/find-pid.mjs']) {
      expect(text).toContain(path);
      expect(statSync(join(ROOT, path)).isFile()).toBe(true);
    }
    expect(text).toMatch(/podwire\.js attach "\$name" --pid "\$pid" --node "\$node"/);
  });

  it('finds a process by its marker argument (find-pid.mjs)', async () => {
    const marker = `podwire-pod=test${process.pid}`;
    const child = spawn('sh', ['-c', 'sleep 30', marker], { stdio: 'ignore' });
    try {
      // The child may not have exec'd yet: retry until find-pid sees it (exit 0) or 10 s pass.
      let out = '';
      for (const end = Date.now() + 10_000; out === '' && Date.now() < end;) {
        try { out = execFileSync(process.execPath, [join(ROOT, 'tools/compose/find-pid.mjs'), marker], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }); } catch { await new Promise((r) => setTimeout(r, 10)); }
      }
      expect(Number(out.trim())).toBe(child.pid);
      expect(() => execFileSync(process.execPath, [join(ROOT, 'tools/compose/find-pid.mjs'), `${marker}-none`], { stdio: 'ignore' })).toThrow();
    } finally {
      child.kill();
    }
  });
});
