/**
 * Local commands that need no running instance: `cleanup` (TAP devices a podwire left
 * behind) and `bench` (the benchmark suite of tools/bench).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Controller } from '../control/controller.js';
import { intFlag, parse, UsageError, type Command } from './args.js';

const cleanup: Command = {
  name: 'cleanup',
  summary: 'remove TAP devices left behind by a podwire that did not exit cleanly',
  help: `usage: podwire cleanup [--json]

Deletes podwire's attach TAP devices still present in the root network namespace and in
every named namespace (found by their alias podwire:<cluster>/<pod>, and in the root
namespace by their name prefix pwa). Safe to run any time and more than once: with
nothing left over it does nothing. Needs root (or CAP_NET_ADMIN) to delete devices.

options:
  --json           print { removed: [...], failed: [...] }`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'cleanup');
    if (positionals.length > 0) throw new UsageError(`podwire cleanup: unexpected argument ${JSON.stringify(positionals[0])}`);
    const r = await Controller.cleanup();
    if (values['json'] === true) io.out(JSON.stringify(r, null, 2));
    else {
      for (const d of r.removed) io.out(`removed ${d.name}${d.netns !== '' ? ` (netns ${d.netns})` : ''}`);
      for (const d of r.failed) io.err(`could not remove ${d.name}${d.netns !== '' ? ` (netns ${d.netns})` : ''}: ${d.error}`);
      if (r.removed.length === 0 && r.failed.length === 0) io.out('nothing to clean up');
    }
    return r.failed.length === 0 ? 0 : 1;
  },
};

interface BenchModule {
  runBench(opts: Record<string, unknown>, io?: { out(line: string): void; stderr: NodeJS.WriteStream }): Promise<{ figures: unknown[]; skipped: unknown[] }>;
}

/** tools/bench/run.mjs of this package (two levels up from src/cli and from dist/cli). */
export const BENCH_MODULE = new URL('../../tools/bench/run.mjs', import.meta.url);

const bench: Command = {
  name: 'bench',
  summary: 'run the benchmarks (tools/bench) and print one figure per line',
  help: `usage: podwire bench [--quick] [--filter REGEX] [--runs N] [--out PATH] [--docs]

Runs podwire's benchmarks (packets per second through the elements and whole clusters,
checksums, conntrack) and prints one figure per line, "name  value unit", with a progress
line on stderr when it is a terminal. Results are also written as JSON to
bench-results/latest.json (bench-results/latest-partial.json for --quick or --filter runs,
so a partial run never replaces the last full set) plus a timestamped copy, or to --out PATH;
the last line names the files. See docs/benchmarks.md.

options:
  --quick          3 short runs per figure (a smoke run; figures are rough)
  --filter REGEX   only figures whose name matches
  --runs N         timed runs per figure (default 7; the median is reported)
  --out PATH       write the JSON results there
  --docs           a full run also redraws docs/scale.svg (else only bench-results/scale.svg)

The figure names: node tools/bench/run.mjs --list`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      quick: { type: 'boolean' }, filter: { type: 'string' }, runs: { type: 'string' }, out: { type: 'string' }, docs: { type: 'boolean' },
    }, 'bench');
    if (positionals.length > 0) throw new UsageError(`podwire bench: unexpected argument ${JSON.stringify(positionals[0])}`);
    const runs = intFlag(values['runs'], 'runs', 'bench', 1, 1000);
    if (typeof values['filter'] === 'string') {
      try { new RegExp(values['filter']); } catch (e) { throw new UsageError(`podwire bench: --filter: ${(e as Error).message}`); }
    }
    if (!existsSync(fileURLToPath(BENCH_MODULE))) throw new Error(`the benchmarks are not installed (${fileURLToPath(BENCH_MODULE)} is missing)`);
    const spec = BENCH_MODULE.href;
    const mod = (await import(/* @vite-ignore */ spec)) as Partial<BenchModule>;
    if (typeof mod.runBench !== 'function') throw new Error(`${fileURLToPath(BENCH_MODULE)} does not export runBench()`);
    const r = await mod.runBench({
      quick: values['quick'] === true,
      docs: values['docs'] === true,
      ...(typeof values['filter'] === 'string' ? { filter: values['filter'] } : {}),
      ...(runs !== undefined ? { runs } : {}),
      ...(typeof values['out'] === 'string' ? { json: values['out'] } : {}),
    }, { out: (line) => io.out(line), stderr: process.stderr });
    if (r.figures.length === 0 && r.skipped.length === 0) {
      io.err(`podwire bench: no figure matches --filter ${JSON.stringify(values['filter'])}`);
      return 1;
    }
    return 0;
  },
};

export const LOCAL_COMMANDS: Command[] = [cleanup, bench];
