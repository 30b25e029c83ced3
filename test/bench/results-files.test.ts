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
