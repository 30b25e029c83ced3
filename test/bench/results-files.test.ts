import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeResults, type BenchResults } from '../../tools/bench/run.mjs';

const results = (over: Partial<BenchResults>): BenchResults => ({
  machine: { os: 'Linux', cpu: 'test', cores: 2, memoryGiB: 1, loadavg: [0, 0, 0] },
  node: process.version, v8: process.versions.v8, date: '2026-11-25T17:00:00.000Z',
  runsPerFigure: 7, quick: false, filter: null, figures: [], skipped: [], failed: [], notes: [],
  ...over,
});

describe('bench results files', () => {
  let dir = '';
  afterEach(() => { if (dir !== '') rmSync(dir, { recursive: true, force: true }); });

  it('a full run replaces latest.json; filtered and quick runs go to latest-partial.json', () => {
    dir = mkdtempSync(join(tmpdir(), 'podwire-bench-'));
    const full = writeResults(results({ notes: ['full'] }), null, dir);
    expect(full.map((f) => f.split('/').pop())).toEqual(['latest.json', '2026-11-25T17-00-00-000Z.json']);
    writeResults(results({ filter: '^fwd', date: '2026-11-25T17:01:00.000Z', notes: ['filtered'] }), null, dir);
    writeResults(results({ quick: true, date: '2026-11-25T17:02:00.000Z', notes: ['quick'] }), null, dir);
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).notes).toEqual(['full']);
    expect(JSON.parse(readFileSync(join(dir, 'latest-partial.json'), 'utf8')).notes).toEqual(['quick']);
    expect(readdirSync(dir).filter((f) => f.startsWith('2026')).length).toBe(3);
  });

  it('--json writes that file only', () => {
    dir = mkdtempSync(join(tmpdir(), 'podwire-bench-'));
    const path = join(dir, 'sub', 'out.json');
    expect(writeResults(results({ filter: 'x' }), path, dir)).toEqual([path]);
    expect(existsSync(path)).toBe(true);
    expect(existsSync(join(dir, 'latest-partial.json'))).toBe(false);
  });
});

describe('bench scale plot', () => {
  let dir = '';
  afterEach(() => { if (dir !== '') rmSync(dir, { recursive: true, force: true }); });

  const full = (): BenchResults => results({
    figures: [2, 10, 100, 1000].flatMap((n) => [
      { name: `scale.vxlan.${n}n.build`, value: n * 1.5, unit: 'ms' },
      { name: `scale.fwd.vxlan.${n}n`, value: 1.2, unit: 'Mpps' },
    ]) as BenchResults['figures'],
  });

  it('a full run draws bench-results/scale.svg and leaves the tracked docs/scale.svg alone unless --docs', async () => {
    const { afterRun } = await import('../../tools/bench/scale.mjs');
    dir = mkdtempSync(join(tmpdir(), 'podwire-bench-'));
    const resultsFile = join(dir, 'results', 'scale.svg');
    const docsFile = join(dir, 'docs-scale.svg');
    const notes: string[] = [];
    afterRun(full(), (n: string) => notes.push(n), { resultsFile, docsFile });
    expect(readFileSync(resultsFile, 'utf8')).toMatch(/^<svg/);
    expect(existsSync(docsFile)).toBe(false);
    afterRun(full(), (n: string) => notes.push(n), { resultsFile, docsFile, docs: true });
    expect(readFileSync(docsFile, 'utf8')).toBe(readFileSync(resultsFile, 'utf8'));
    expect(notes.filter((n) => n.includes('--docs'))).toHaveLength(1);
  });
});
