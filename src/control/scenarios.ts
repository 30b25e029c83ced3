/**
 * `podwire scenario`: the named Kubernetes networking failures of src/kube/scenarios, run
 * with captures. Every interface the scenario's cluster has when it is built is tapped; the
 * frames go into one pcapng (one interface block per capture point) written to `out`, or to
 * a fresh temporary folder whose name the result gives.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capture } from '../io/capture.js';
import { MemorySink } from '../io/sink.js';
import type { Cluster } from '../kube/cluster.js';
import { SCENARIOS } from '../kube/scenarios/index.js';
import { dropSnapshot, dropsSince, type ScenarioResult } from '../kube/scenarios/scenario.js';
import { ensureDir } from './out-dir.js';

export type { ScenarioResult, ScenarioDrop } from '../kube/scenarios/scenario.js';

export interface ScenarioInfo {
  name: string;
  summary: string;
}

export interface ScenarioRunOptions {
  fix?: boolean;
  seed?: number;
  /** Folder for the pcapng (created); default a new temporary folder. */
  out?: string;
  /** Write the pcapng (default true). */
  write?: boolean;
}

export interface ScenarioRunResult extends ScenarioResult {
  summary: string;
  remedy: string;
  issues: string[];
  /** The pcapng written (null when `write` is false), and how many frames it holds. */
  pcapng: string | null;
  frames: number;
}

export class UnknownScenarioError extends Error {
  constructor(readonly scenario: string) {
    super(`unknown scenario ${JSON.stringify(scenario)} (have ${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
}

export function listScenarios(): ScenarioInfo[] {
  return SCENARIOS.map((s) => ({ name: s.name, summary: s.summary }));
}

export async function runScenario(name: string, opts: ScenarioRunOptions = {}): Promise<ScenarioRunResult> {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) throw new UnknownScenarioError(name);
  const fix = opts.fix ?? false;
  const seed = opts.seed ?? 1;
  const sink = new MemorySink();
  let cap: Capture | null = null;
  let cluster: Cluster | null = null;
  let before = new Map<string, number>();
  let t0 = 0;
  try {
    const outcome = await s.run({
      fix, seed,
      watch: (c) => {
        cluster = c;
        const pick = s.capture;
        cap = new Capture(() => c.engine.clock, c.capturePoints().filter((pt) => pick === undefined || pick(pt.name)), sink);
        before = dropSnapshot(c);
        t0 = c.engine.now();
      },
    });
    const c = cluster as Cluster | null;
    const drops = c === null ? [] : dropsSince(c, before);
    const virtualMs = c === null ? 0 : c.engine.now() - t0;
    (cap as Capture | null)?.stop();
    const frames = (cap as Capture | null)?.packets ?? 0;
    let file: string | null = null;
    if (opts.write !== false) {
      const dir = opts.out ?? mkdtempSync(join(tmpdir(), `podwire-scenario-${name}-`));
      if (opts.out !== undefined) ensureDir(dir, 'output folder (--out)');
      file = join(dir, `${name}${fix ? '-fixed' : ''}.pcapng`);
      writeFileSync(file, sink.bytes());
    }
    const verdict = outcome.failed
      ? `FAIL: ${outcome.symptom}${outcome.hop !== null ? ` (packets die at ${outcome.hop}: ${outcome.reason ?? 'dropped'})` : ''}`
      : `OK: ${outcome.symptom}`;
    return {
      name, summary: s.summary, remedy: s.remedy, issues: [...s.issues], fix, seed,
      ...outcome, drops, virtualMs, verdict, pcapng: file, frames,
    };
  } finally {
    (cap as Capture | null)?.stop();
    (cluster as Cluster | null)?.close();
  }
}
