/**
 * The benchmark harness: calibration, timed runs, medians, output.
 *
 * A benchmark is `{ name, unit, setup() }`; `setup()` returns a *work function*
 * `step(n)` that does n units of work and returns how many items it completed (operations,
 * packets delivered at the sink). The harness:
 *   1. warm-up: calls step with growing n until `warmMs` has passed (JIT tiers settle,
 *      ARP resolves, tables fill their caches), which also calibrates the rate;
 *   2. picks n so that one run takes about `sliceMs` (a fixed amount of work per run);
 *   3. times `runs` runs of step(n) with process.hrtime.bigint and converts each run's
 *      rate (items per second) into the figure's unit;
 *   4. reports the median (JSON keeps every run, min and max).
 *
 * A bench may set `warmFactor` (a longer warm-up: whole clusters take a while to reach
 * their optimised code) and `maxN`.
 *
 * Groups (`{ group: [bench, ...], ratios }`) are measured interleaved: run r of every
 * member before run r+1 of any, so a noisy neighbour on the shared machine hits them all
 * alike, and a ratio between two members is the median of the per-round ratios (measured
 * side by side, never across separate invocations).
 *
 * Units: a rate unit (`Mops/s`, `Mpps`) divides items/s by 1e6; `ns/op` and friends are
 * 1e9 / rate; `x` is a plain ratio. Derived figures (`derive`) map one run's rate to
 * another unit (ns per element-hop from packets/s through a chain).
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Converts items/s to the unit's value. */
export function fromRate(rate, unit) {
  if (unit.startsWith('M')) return rate / 1e6;
  if (unit.startsWith('k')) return rate / 1e3;
  if (unit.startsWith('ns/')) return 1e9 / rate;
  return rate;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Three significant digits, no exponent for the ranges benchmarks produce. */
export function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export const NAME_WIDTH = 34;

export function formatLine(name, value, unit) {
  return `${name.padEnd(NAME_WIDTH)} ${formatValue(value).padStart(9)} ${unit}`;
}

let gcFn = null;
/** A full GC between figures (so one figure's garbage is not collected during the next one's runs). */
export function collectGarbage() {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc');
  }
  gcFn();
}

export function summarize(name, unit, runs) {
  return {
    name, unit, value: median(runs), median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs,
  };
}

/**
 * The measuring core. `cfg`: { runs, warmMs, sliceMs, progress(text) }.
 * Returns, per member of the group, the rates (items/s) of its timed runs.
 */
export async function measureGroup(members, cfg) {
  const steps = [];
  for (const b of members) {
    cfg.progress(`${b.name}: setup`);
    steps.push(await b.setup());
  }
  const ns = [];
  for (let i = 0; i < members.length; i++) {
    cfg.progress(`${members[i].name}: warm-up`);
    ns.push(calibrate(steps[i].step, cfg.warmMs * (members[i].warmFactor ?? 1), cfg.sliceMs, members[i].maxN ?? Infinity));
    steps[i].afterWarmup?.();
  }
  collectGarbage();
  const rates = members.map(() => []);
  for (let r = 0; r < cfg.runs; r++) {
    for (let i = 0; i < members.length; i++) {
      cfg.progress(`${members[i].name}: run ${r + 1}/${cfg.runs}`);
      rates[i].push(timeOnce(steps[i].step, ns[i]));
    }
  }
  return { rates, steps };
}

function timeOnce(step, n) {
  const t0 = process.hrtime.bigint();
  const items = step(n);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  return items / dt;
}

/** Warm-up that doubles n until `warmMs` has passed; returns n for a run of about `sliceMs`. */
function calibrate(step, warmMs, sliceMs, maxN) {
  const start = performance.now();
  let n = 1;
  let perUnitMs = 0;
  for (;;) {
    const t0 = performance.now();
    step(n);
    const dt = performance.now() - t0;
    perUnitMs = dt / n;
    if (performance.now() - start >= warmMs && (dt > 1 || n >= maxN)) break;
    if (dt < warmMs / 4) n = Math.min(n * 2, maxN);
  }
  return Math.max(1, Math.min(maxN, Math.round(sliceMs / Math.max(perUnitMs, 1e-9))));
}

/** Parses argv (without node and script) into options; throws with a message naming the bad flag. */
export function parseBenchArgs(argv) {
  const opts = { quick: false, filter: null, json: null, runs: null, list: false, docs: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--docs') opts.docs = true;
    else if (a === '--filter') opts.filter = value();
    else if (a === '--json') opts.json = value();
    else if (a === '--runs') {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`--runs ${JSON.stringify(v)}: must be an integer 1..1000`);
      opts.runs = n;
    } else if (a === '--help' || a === '-h') opts.help = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)} (flags: --quick --filter REGEX --json PATH --runs N --docs --list)`);
  }
  if (opts.filter !== null) {
    try {
      new RegExp(opts.filter);
    } catch (e) {
      throw new Error(`--filter ${JSON.stringify(opts.filter)}: ${e.message}`);
    }
  }
  return opts;
}

export const USAGE = `usage: node tools/bench/run.mjs [--quick] [--filter REGEX] [--json PATH] [--runs N] [--docs] [--list]
  --quick         3 short runs per figure (smoke run; figures are rough)
  --filter REGEX  only figures whose name matches (e.g. checksum, '^fwd\\.', conntrack)
  --json PATH     write results there instead of bench-results/latest.json (latest-partial.json
                  for --quick/--filter) + a timestamped copy
  --runs N        timed runs per figure (default 7; the median is reported)
  --docs          also redraw docs/scale.svg (tracked) from a full run; else bench-results/scale.svg only
  --list          print the figure names and exit`;

/** A one-line progress display on stderr, redrawn in place; a no-op when stderr is not a TTY. */
export function makeProgress(stream) {
  if (!stream.isTTY) return { update() {}, clear() {} };
  let shown = false;
  const cols = () => (stream.columns || 80) - 1;
  return {
    update(text) {
      stream.write(`\r\x1b[2K${text.slice(0, cols())}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
