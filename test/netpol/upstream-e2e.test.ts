/**
 * Every upstream NetworkPolicy e2e case (upstream-e2e.yaml) on the x/y/z model, through the
 * real dataplane: prints the pass count per suite (TCP, UDP, SCTP contexts); all must pass.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Cluster } from '../../src/kube/cluster.js';
import { modelCluster, runCase, type ConformanceCase } from './runner.js';
import { UPSTREAM_TITLES } from './upstream-titles.js';

const CASES = parse(readFileSync(new URL('./upstream-e2e.yaml', import.meta.url), 'utf8')) as ConformanceCase[];

describe('upstream netpol e2e cases (kubernetes test/e2e/network/netpol), real packets', () => {
  let c: Cluster;
  beforeAll(() => { c = modelCluster(); });
  afterAll(() => c.close());

  it('holds exactly the upstream cases, by title, per suite and in file order', () => {
    for (const suite of ['TCP', 'UDP', 'SCTP'] as const) {
      expect(CASES.filter((tc) => tc.suite === suite).map((tc) => tc.name), suite).toEqual(UPSTREAM_TITLES[suite]);
    }
    expect(CASES.every((tc) => tc.suite === 'TCP' || tc.suite === 'UDP' || tc.suite === 'SCTP')).toBe(true);
  });

  it(`all ${CASES.length} cases match their truth tables`, () => {
    const perSuite = new Map<string, { pass: number; total: number }>();
    const failures: string[] = [];
    let probes = 0;
    for (const tc of CASES) {
      const r = runCase(c, tc);
      probes += r.probes;
      const s = perSuite.get(tc.suite!) ?? { pass: 0, total: 0 };
      s.total++;
      if (r.mismatches.length === 0) s.pass++;
      else failures.push(`${tc.suite} ${tc.name}: ${r.mismatches.map((m) => `${m.check} ${m.from} -> ${m.to} expected ${m.expected ? '.' : 'X'} got ${m.actual ? '.' : 'X'} (${m.reason})`).join('; ')}`);
      perSuite.set(tc.suite!, s);
    }
    const line = [...perSuite].map(([k, v]) => `${k} ${v.pass}/${v.total}`).join(', ');
    console.log(`upstream-e2e: ${line} (${probes} probes)`);
    expect(failures).toEqual([]);
    expect(CASES.length).toBe(48);
  });
});
