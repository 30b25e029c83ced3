/**
 * Golden tests (after Snabb's): a topology and an input capture go in; every interface's
 * capture and the counters of every element come out and must equal the stored ones byte
 * for byte. `PODWIRE_GOLDEN_UPDATE=1` rewrites the expected files instead (and builds
 * `input.pcapng` when it is missing; `PODWIRE_GOLDEN_UPDATE=input` rebuilds it too).
 *
 * Case layout: `test/golden/<case>/topology.yaml`, `input.pcapng` (frames transmitted on the
 * case's injection interface, timestamps relative to the first frame), `out/<node>_<iface>.pcapng`
 * (one per interface that saw a packet), `counters.json`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VIRTUAL_EPOCH_MS } from '../../src/engine/clock.js';
import { Capture } from '../../src/io/capture.js';
import { readCapture } from '../../src/io/capture-reader.js';
import { PcapngWriter } from '../../src/io/pcapng.js';
import { MemorySink } from '../../src/io/sink.js';
import { Cluster } from '../../src/kube/cluster.js';
import { parseTopology } from '../../src/kube/topology.js';

export interface GoldenCase {
  /** Directory under test/golden/. */
  name: string;
  /** Capture point whose transmit link the input frames are put on, e.g. `pod1/eth0`. */
  inject: string;
  /** The input frames (ms after the first), for building input.pcapng; bytes from the wire emitters. */
  input(c: Cluster): { atMs: number; frame: Buffer }[];
  /** Run before injecting: e.g. sockets in the sending pod for the replies. */
  setup?(c: Cluster): void;
  /** Virtual ms to run after the first frame. */
  settleMs: number;
}

export interface GoldenRun {
  files: Map<string, Buffer>;
  counters: Record<string, unknown>;
}

export const UPDATE = process.env['PODWIRE_GOLDEN_UPDATE'];

export const fileOf = (iface: string): string => `${iface.replace(/\//g, '_')}.pcapng`;

function build(dir: string): Cluster {
  const r = parseTopology(readFileSync(join(dir, 'topology.yaml'), 'utf8'), join(dir, 'topology.yaml'));
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return new Cluster(r.topology);
}

/** Writes input.pcapng from the case's frames (one interface, named after the injection point). */
export function writeInput(dir: string, gc: GoldenCase): void {
  const c = build(dir);
  const sink = new MemorySink();
  const w = new PcapngWriter(sink);
  const id = w.addInterface(gc.inject);
  for (const { atMs, frame } of gc.input(c)) w.writePacket(id, frame, 0, frame.length, VIRTUAL_EPOCH_MS + atMs);
  w.close();
  c.close();
  writeFileSync(join(dir, 'input.pcapng'), sink.bytes());
}

/** Runs a case: injects input.pcapng in virtual time, captures every interface, collects counters. */
export function runGolden(dir: string, gc: GoldenCase): GoldenRun {
  const c = build(dir);
  const points = c.capturePoints();
  const sinks = points.map(() => new MemorySink());
  const caps = points.map((pt, i) => new Capture(() => c.engine.clock, [pt], sinks[i]!));
  const at = points.find((p) => p.name === gc.inject)?.tx;
  if (at === null || at === undefined) throw new Error(`${gc.name}: no capture point ${gc.inject} with a transmit link`);
  gc.setup?.(c);
  const input = readCapture(readFileSync(join(dir, 'input.pcapng')));
  const t0 = input.packets[0]?.tsNs ?? 0n;
  for (const pkt of input.packets) {
    c.engine.scheduler.at(Number((pkt.tsNs - t0) / 1_000_000n), () => {
      const p = c.engine.pool.fromBytes(pkt.data, 0, pkt.data.length);
      if (p === null) throw new Error('pool exhausted');
      at.transmit(p);
    });
  }
  c.engine.advance(gc.settleMs);
  const files = new Map<string, Buffer>();
  caps.forEach((cap, i) => {
    cap.stop();
    if (cap.packets > 0) files.set(points[i]!.name, sinks[i]!.bytes());
  });
  const counters = collectCounters(c);
  c.close();
  return { files, counters };
}

/** Non-zero counters and drops of every element (sorted), link drops and the pool. */
export function collectCounters(c: Cluster): Record<string, unknown> {
  const elements: Record<string, unknown> = {};
  for (const name of [...c.engine.elements.keys()].sort()) {
    const el = c.engine.elements.get(name)!;
    const counters = el.counters.toJSON();
    const drops = el.drops.toJSON();
    if (Object.keys(counters).length + Object.keys(drops).length === 0) continue;
    elements[name] = { counters, drops };
  }
  const pool = c.engine.pool;
  return {
    pool: { size: pool.size, available: pool.available, exhausted: pool.exhausted },
    links: { drops: c.engine.linkDrops, unconnected: c.engine.unconnectedDrops },
    elements,
  };
}

export function readExpected(dir: string): GoldenRun | null {
  const out = join(dir, 'out');
  if (!existsSync(out) || !existsSync(join(dir, 'counters.json'))) return null;
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(out).sort()) {
    if (f.endsWith('.pcapng')) files.set(f.slice(0, -'.pcapng'.length).replace(/_/g, '/'), readFileSync(join(out, f)));
  }
  return { files, counters: JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as Record<string, unknown> };
}

export function writeExpected(dir: string, run: GoldenRun): void {
  const out = join(dir, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const [iface, bytes] of run.files) writeFileSync(join(out, fileOf(iface)), bytes);
  writeFileSync(join(dir, 'counters.json'), `${JSON.stringify(run.counters, null, 2)}\n`);
}

const hex = (b: Buffer, from: number, n = 16): string => [...b.subarray(from, from + n)].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** Human-readable differences between expected and actual captures (empty when equal). */
export function diffCaptures(expected: Map<string, Buffer>, actual: Map<string, Buffer>): string[] {
  const out: string[] = [];
  for (const k of expected.keys()) if (!actual.has(k)) out.push(`${k}: expected ${fileOf(k)}, but no packet crossed this interface`);
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`${k}: packets crossed this interface, but there is no expected ${fileOf(k)}`);
  for (const [k, want] of expected) {
    const got = actual.get(k);
    if (got === undefined || got.equals(want)) continue;
    const a = readCapture(want).packets;
    const b = readCapture(got).packets;
    if (a.length !== b.length) out.push(`${k}: expected ${a.length} packets, got ${b.length}`);
    const n = Math.min(a.length, b.length);
    let found = false;
    for (let i = 0; i < n; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (x.tsNs !== y.tsNs) out.push(`${k} packet #${i}: timestamp expected ${x.tsNs} ns, got ${y.tsNs} ns`);
      if (!x.data.equals(y.data)) {
        let j = 0;
        while (j < x.data.length && j < y.data.length && x.data[j] === y.data[j]) j++;
        const from = Math.max(0, j - 4);
        out.push(`${k} packet #${i}: ${x.data.length} vs ${y.data.length} bytes, first difference at byte ${j}` +
          ` (0x${(x.data[j] ?? 0).toString(16)} expected, 0x${(y.data[j] ?? 0).toString(16)} got)\n` +
          `    expected @${from}: ${hex(x.data, from)}\n    got      @${from}: ${hex(y.data, from)}`);
      }
      if (x.tsNs !== y.tsNs || !x.data.equals(y.data)) { found = true; break; }
    }
    if (!found && a.length === b.length) out.push(`${k}: packets equal, file bytes differ (headers or options)`);
  }
  return out;
}

/** Differences between two counter trees, one line per leaf. */
export function diffCounters(want: unknown, got: unknown, path = ''): string[] {
  if (typeof want === 'object' && want !== null && typeof got === 'object' && got !== null) {
    const w = want as Record<string, unknown>;
    const g = got as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(w), ...Object.keys(g)])].sort();
    return keys.flatMap((k) => diffCounters(w[k], g[k], path === '' ? k : `${path}.${k}`));
  }
  return want === got ? [] : [`${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
}
