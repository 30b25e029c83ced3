/**
 * Shared set-up for the control/API tests: the demo cluster behind a Controller, a temp
 * folder for captures, a small pcapng block walker to check what the API streams.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Controller } from '../../src/control/controller.js';
import { examplePath, loadCluster } from '../../src/control/load.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { podElementKey, podKey } from '../../src/kube/names.js';

export interface Harness {
  cluster: Cluster;
  ctl: Controller;
  dir: string;
  done(): Promise<void>;
}

export async function demoController(opts: { wallClock?: boolean } = {}): Promise<Harness> {
  const cluster = await loadCluster(examplePath('demo.yaml'));
  if (opts.wallClock === true) cluster.engine.useWallClock();
  const dir = mkdtempSync(join(tmpdir(), 'podwire-api-'));
  const ctl = new Controller(cluster, { capturesDir: dir });
  return {
    cluster, ctl, dir,
    async done() {
      await ctl.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_EPB = 0x00000006;

/** Block types of a little-endian pcapng byte stream; throws on a truncated or malformed block. */
export function pcapngBlocks(b: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 12 > b.length) throw new Error(`truncated block header at ${off}`);
    const type = b.readUInt32LE(off);
    const len = b.readUInt32LE(off + 4);
    if (len < 12 || len % 4 !== 0 || off + len > b.length) throw new Error(`bad block length ${len} at ${off}`);
    if (b.readUInt32LE(off + len - 4) !== len) throw new Error(`trailing length mismatch at ${off}`);
    out.push(type);
    off += len;
  }
  return out;
}

/** Checks that the cluster's books agree: every pod wired once, addresses and veths unique. */
export function consistencyProblems(c: Cluster): string[] {
  const problems: string[] = [];
  const keys = new Set(c.plan.pods.filter((p) => c.nodes.has(p.node) && p.attach === undefined).map(podKey));
  for (const k of c.pods.keys()) if (!keys.has(k)) problems.push(`runtime pod ${k} not in the plan`);
  for (const k of keys) if (!c.pods.has(k)) problems.push(`planned pod ${k} not built`);
  const ips = new Set<number>();
  for (const p of c.plan.pods) {
    if (ips.has(p.ip)) problems.push(`ip ${p.ip} twice`);
    ips.add(p.ip);
  }
  for (const [name, n] of c.nodes) {
    const ports = n.bridge.portList().filter((p) => !p.local).map((p) => p.name).sort();
    const veths = [...c.pods.values()].filter((p) => p.plan.node === name).map((p) => p.plan.veth).sort();
    if (JSON.stringify(ports) !== JSON.stringify(veths)) problems.push(`${name}: bridge ports ${ports.join(',')} vs pods' veths ${veths.join(',')}`);
  }
  for (const p of c.pods.values()) {
    if (c.engine.elements.get(podElementKey(p.plan.node, podKey(p.plan))) !== p.ns) problems.push(`${p.ns.name}: namespace not registered`);
    if (c.engine.elements.get(p.veth.name) !== p.veth) problems.push(`${p.ns.name}: veth not registered`);
  }
  return problems;
}

/** Resolves when `check` is true, polling every 10 ms; throws after `ms` naming `what` (a signal, not a sleep). */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs the `podwire` command line in-process with a capturing io: exit code, stdout, stderr. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/**
 * The REST API over a fresh demo cluster for one test file: registers beforeAll/afterAll and
 * returns a handle whose `app` and `h` are set once beforeAll has run.
 */
export function demoApi(): { app: import('fastify').FastifyInstance; h: Harness } {
  const api = {} as { app: import('fastify').FastifyInstance; h: Harness };
  beforeAll(async () => {
    const { buildApi } = await import('../../src/api/server.js');
    api.h = await demoController();
    api.app = buildApi(api.h.ctl);
    await api.app.ready();
  });
  afterAll(async () => {
    await api.app.close();
    await api.h.done();
  });
  return api;
}
