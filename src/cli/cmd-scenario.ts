/**
 * `podwire scenario list [--json] | run NAME [--fix] [--seed N] [--out DIR] [--json]`: the
 * named Kubernetes networking failures (docs/scenarios.md).
 */
import { relative } from 'node:path';
import { listScenarios, runScenario, UnknownScenarioError, type ScenarioRunResult } from '../control/scenarios.js';
import { colour, intFlag, parse, UsageError, type Command, type Io } from './args.js';

const HELP = `usage: podwire scenario list [--json]
       podwire scenario run NAME [--fix] [--seed N] [--out DIR] [--json]

Named Kubernetes networking failures, each reproduced on a cluster of its own in virtual
time (seconds of resolver timeouts and SYN backoff take milliseconds): the symptom as the
user sees it, the hop where the packets die with the kernel's words for it, the counters
that prove it, a pcapng of every interface, and a verdict. --fix applies the known remedy
first and shows the symptom gone. docs/scenarios.md lists them with the upstream issues
they reproduce.

Exit code of run: 0 when the outcome is the expected one (the failure without --fix, a
clean run with it), 1 otherwise, 2 for usage.

options:
  --json           list: [{ "name", "summary" }]; run: the whole result as JSON
  --fix            apply the remedy before the trigger
  --seed N         seed of the cluster's RNG (default 1)
  --out DIR        where the pcapng goes (default: a new temporary folder, named in the output)`;

function printRun(r: ScenarioRunResult, io: Io): void {
  const c = colour(io);
  io.out(c.bold(`scenario ${r.name}${r.fix ? ' --fix' : ''} (seed ${r.seed}): ${r.summary}`));
  for (const n of r.notes) io.out(`  ${n}`);
  io.out(`  symptom: ${r.symptom}`);
  if (r.hop !== null) io.out(`  dropped at ${r.hop}: ${r.reason ?? ''}`);
  for (const d of r.drops) io.out(`  drop ${d.owner} ${d.reason}: ${d.count}`);
  const counters = Object.entries(r.counters);
  if (counters.length > 0) io.out(`  counters: ${counters.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  io.out(`  virtual time: ${(r.virtualMs / 1000).toFixed(3)} s`);
  if (r.pcapng !== null) io.out(`  capture: ${relative(process.cwd(), r.pcapng) || r.pcapng} (${r.frames} frames)`);
  if (!r.fix) io.out(`  remedy (--fix): ${r.remedy}`);
  io.out(`  issues: ${r.issues.join(', ')}`);
  io.out(r.failed ? c.bold(r.verdict) : r.verdict);
}

export const scenarioCommand: Command = {
  name: 'scenario',
  summary: 'reproduce a named Kubernetes networking failure (and its fix)',
  help: HELP,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'list') {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, 'scenario list');
      if (positionals.length > 0) throw new UsageError(`podwire scenario list: unexpected argument ${JSON.stringify(positionals[0])}`);
      const list = listScenarios();
      if (values['json'] === true) io.out(JSON.stringify(list, null, 2));
      else {
        const w = Math.max(...list.map((s) => s.name.length));
        for (const s of list) io.out(`${s.name.padEnd(w)}  ${s.summary}`);
      }
      return 0;
    }
    if (sub === 'run') {
      const { values, positionals } = parse(rest, {
        json: { type: 'boolean' }, fix: { type: 'boolean' }, seed: { type: 'string' }, out: { type: 'string' },
      }, 'scenario run');
      const [name, extra] = positionals;
      if (name === undefined) throw new UsageError(`podwire scenario run: missing NAME (one of ${listScenarios().map((s) => s.name).join(', ')})`);
      if (extra !== undefined) throw new UsageError(`podwire scenario run: unexpected argument ${JSON.stringify(extra)}`);
      const seed = intFlag(values['seed'], 'seed', 'scenario run', 0, 0xffffffff);
      let r: ScenarioRunResult;
      try {
        r = await runScenario(name, {
          fix: values['fix'] === true,
          ...(seed !== undefined ? { seed } : {}),
          ...(typeof values['out'] === 'string' ? { out: values['out'] } : {}),
        });
      } catch (e) {
        if (e instanceof UnknownScenarioError) throw new UsageError(`podwire scenario run: ${e.message}`);
        throw e;
      }
      if (values['json'] === true) io.out(JSON.stringify(r, null, 2));
      else printRun(r, io);
      return r.failed === !r.fix ? 0 : 1;
    }
    if (sub === undefined) throw new UsageError('podwire scenario: missing subcommand (list or run)');
    throw new UsageError(`podwire scenario: unknown subcommand ${JSON.stringify(sub)} (list or run)`);
  },
};
