#!/usr/bin/env node
/**
 * podwire benchmarks: `node tools/bench/run.mjs [--quick] [--filter REGEX] [--json PATH] [--runs N] [--docs]`
 * (after `npm run build`: the figures exercise the compiled code in dist/).
 *
 * stdout: one figure per line, `name  value unit`; lines starting with `#` are context
 * (machine, skipped figures and why, unexpected drops). stderr: a progress line when it
 * is a TTY. JSON: bench-results/latest.json (latest-partial.json for a --filter or --quick
 * run) plus a timestamped copy, or --json PATH; the last line names the files.
 * See docs/benchmarks.md for what each figure measures.
 *
 * `runBench(opts, io)` is the same run as a function (for a `podwire bench` command).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { entryNames } from './entry.mjs';
import { formatLine, makeProgress, parseBenchArgs, USAGE } from './harness.mjs';
import { judgeTargets, targetLines } from './targets.mjs';

const SECTIONS = ['./foundation.mjs', './cluster.mjs', './flows.mjs', './conntrack.mjs', './netpol.mjs', './probe.mjs', './scale.mjs', './shard.mjs', './vxlan-socket.mjs'];
const RESULTS_DIR = fileURLToPath(new URL('../../bench-results/', import.meta.url));

export function machineInfo() {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * Runs the benchmarks. `opts`: { quick, filter, json, runs, write, docs } (write: false skips the
 * JSON file; docs: true also redraws the tracked docs/scale.svg). `io`: { out(line), stderr (a stream, for the progress line) }.
 * Resolves to the results object that is written as JSON.
 */
export async function runBench(opts = {}, io = defaultIo()) {
  const quick = opts.quick === true;
  const cfg = {
    runs: opts.runs ?? (quick ? 3 : 7),
    warmMs: quick ? 100 : 300,
    sliceMs: quick ? 30 : 200,
    quick,
  };
  const filter = opts.filter ? new RegExp(opts.filter) : null;
  const match = (name) => filter === null || filter.test(name);
  const progress = makeProgress(io.stderr);
  const out = (line) => { progress.clear(); io.out(line); };
  const results = {
    machine: machineInfo(), node: process.version, v8: process.versions.v8, date: new Date().toISOString(),
    runsPerFigure: cfg.runs, quick, filter: opts.filter ?? null, figures: [], skipped: [], failed: [], notes: [],
  };
  const m = results.machine;
  out(`# podwire bench, node ${results.node}, ${m.cpu} x${m.cores}, ${m.os}, load ${m.loadavg.join(' ')}; median of ${cfg.runs} runs${quick ? ' (quick)' : ''}`);
  const emit = (fig) => {
    results.figures.push(fig);
    out(formatLine(fig.name, fig.value, fig.unit));
  };
  const note = (text) => {
    results.notes.push(text);
    out(`# ${text}`);
  };

  for (const section of SECTIONS) {
    const mod = await import(section);
    if (!mod.NAMES.some(match)) continue;
    const entries = await mod.benchmarks({ quick });
    for (let index = 0; index < entries.length; index++) {
      const e = entries[index];
      if (e.skip !== undefined) {
        if (!match(e.skip)) continue;
        results.skipped.push({ name: e.skip, reason: e.reason });
        out(`# skipped ${e.skip}: ${e.reason}`);
        continue;
      }
      const names = entryNames(e);
      if (!names.some(match)) continue;
      try {
        await inWorker({ section, index, cfg, filter: opts.filter ?? null }, { emit, note, progress: progress.update });
      } catch (err) {
        results.failed.push({ names, error: String(err?.message ?? err) });
        out(`# FAILED ${names.join(', ')}: ${String(err?.message ?? err).split('\n')[0]}`);
      }
    }
  }
  await runTapFigures({ quick, match, emit, out, results });
  await runKernelFigures({ quick, match, emit, out, results });
  await runVxlanKernelFigures({ quick, match, emit, out, results });
  progress.clear();
  // Sections that draw something from the whole run (scale.mjs: bench-results/scale.svg; docs/ with --docs).
  if (opts.write !== false) for (const section of SECTIONS) (await import(section)).afterRun?.(results, note, { docs: opts.docs === true });
  results.targets = judgeTargets(results);
  for (const line of targetLines(results.targets)) out(line);
  results.loadavgEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  if (opts.write !== false) out(`# results: ${writeResults(results, opts.json ?? null).join(', ')}`);
  return results;
}

/** The TAP dataplane figures (tools/bench/tap.mjs, real namespaces and TAPs): root only. */
async function runTapFigures({ quick, match, emit, out, results }) {
  if (!['tap.podwire.same-node.pps', 'tap.podwire.offloads.tcp', 'tap.vde-switch.pps'].some(match)) return;
  if (process.getuid?.() !== 0) {
    results.skipped.push({ name: 'tap.*', reason: 'needs root (TAP devices, network namespaces)' });
    out('# skipped tap.*: needs root (TAP devices, network namespaces); run tools/bench/tap.mjs as root');
    return;
  }
  const { runTapBench } = await import('./tap.mjs');
  try {
    const r = await runTapBench({ runs: quick ? 3 : 5, seconds: quick ? 1 : 2 }, {
      out,
      figure: (name, value, unit, runs) => emit({ name, unit, value, median: value, min: Math.min(...runs), max: Math.max(...runs), runs }),
    });
    results.tapRatios = r.ratios;
  } catch (err) {
    results.failed.push({ names: ['tap.*'], error: String(err?.message ?? err) });
    out(`# FAILED tap.*: ${String(err?.message ?? err).split('\n')[0]}`);
  }
}

/**
 * The kernel forwarding the fwd.* topologies (tools/bench/kernel.mjs, root only), after the
 * in-process figures of the same run; each fwd.* figure then carries `ratio: {to, value}`
 * (median over median, both from this run) and a `<fwd>/kernel` line is printed.
 */
async function runKernelFigures({ quick, match, emit, out, results }) {
  const { KERNEL_NAMES, KERNEL_RATIOS, runKernelBench } = await import('./kernel.mjs');
  if (!KERNEL_NAMES.some(match)) return;
  if (process.getuid?.() !== 0) {
    results.skipped.push({ name: 'kernel.*', reason: 'needs root (network namespaces, veth, bridge, vxlan, iptables)' });
    out('# skipped kernel.*: needs root (network namespaces, veth, bridge, vxlan, iptables); run tools/bench/kernel.mjs as root');
    return;
  }
  let figs;
  try {
    figs = await runKernelBench({ runs: quick ? 3 : 5, seconds: quick ? 0.5 : 1, match });
  } catch (err) {
    results.failed.push({ names: ['kernel.*'], error: String(err?.message ?? err) });
    out(`# FAILED kernel.*: ${String(err?.message ?? err).split('\n')[0]}`);
    return;
  }
  for (const f of figs) emit(f);
  for (const [of, to] of KERNEL_RATIOS) {
    const a = results.figures.find((f) => f.name === of);
    const k = figs.find((f) => f.name === to);
    if (a === undefined || k === undefined || !(k.value > 0)) continue;
    a.ratio = { to, value: a.value / k.value, measure: 'rate (median / median, same run)' };
    out(formatLine(`${of}/kernel`, a.ratio.value, 'x'));
  }
}

/**
 * VXLAN over real sockets, podwire's node against a kernel VXLAN node and the kernel on both
 * ends (tools/bench/vxlan-kernel.mjs, root only); its verdicts go to `results.vxlanKernelTargets`.
 */
async function runVxlanKernelFigures({ quick, match, emit, out, results }) {
  const { VXLAN_KERNEL_NAMES, runVxlanKernelBench } = await import('./vxlan-kernel.mjs');
  if (!VXLAN_KERNEL_NAMES.some(match)) return;
  if (process.getuid?.() !== 0) {
    results.skipped.push({ name: 'vxlan-kernel.*', reason: 'needs root (network namespaces, veth, vxlan, TAP)' });
    out('# skipped vxlan-kernel.*: needs root (network namespaces, veth, vxlan, TAP); run tools/bench/vxlan-kernel.mjs as root');
    return;
  }
  try {
    const r = await runVxlanKernelBench({ runs: quick ? 1 : 3, seconds: quick ? 2 : 10 }, { out, figure: emit });
    results.vxlanKernelRatios = r.ratios;
    results.vxlanKernelTargets = r.targets;
  } catch (err) {
    results.failed.push({ names: ['vxlan-kernel.*'], error: String(err?.message ?? err) });
    out(`# FAILED vxlan-kernel.*: ${String(err?.message ?? err).split('\n')[0]}`);
  }
}

/** Runs one entry in a fresh worker thread (own V8 isolate: no JIT feedback shared between figures). */
function inWorker(workerData, out) {
  return new Promise((resolveRun, reject) => {
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData });
    w.on('message', (m) => {
      if (m.type === 'figure') out.emit(m.figure);
      else if (m.type === 'note') out.note(m.text);
      else if (m.type === 'progress') out.progress(m.text);
    });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolveRun() : reject(new Error(`worker exited with code ${code}`))));
  });
}

/**
 * Writes the JSON; returns the paths written. Without --json: a timestamped copy, and
 * latest.json for a full run or latest-partial.json for a --filter or --quick one (so a
 * partial run never replaces the last full set of figures).
 */
export function writeResults(results, jsonPath, dir = RESULTS_DIR) {
  const text = `${JSON.stringify(results, null, 2)}\n`;
  if (jsonPath !== null) {
    mkdirSync(dirname(resolve(jsonPath)), { recursive: true });
    writeFileSync(jsonPath, text);
    return [jsonPath];
  }
  mkdirSync(dir, { recursive: true });
  const partial = results.filter !== null || results.quick === true;
  const latest = resolve(dir, partial ? 'latest-partial.json' : 'latest.json');
  const stamped = resolve(dir, `${results.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(latest, text);
  writeFileSync(stamped, text);
  return [latest, stamped].map((f) => relativeToCwd(f));
}

const relativeToCwd = (f) => {
  const r = relative(process.cwd(), f);
  return r.startsWith('..') ? f : r;
};

function defaultIo() {
  return { out: (line) => process.stdout.write(`${line}\n`), stderr: process.stderr };
}

async function listNames(io) {
  for (const section of SECTIONS) {
    const mod = await import(section);
    for (const n of mod.NAMES) io.out(n);
  }
  for (const n of (await import('./kernel.mjs')).KERNEL_NAMES) io.out(n);
  for (const n of (await import('./vxlan-kernel.mjs')).VXLAN_KERNEL_NAMES) io.out(n);
}

async function main() {
  let opts;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (opts.list) {
    await listNames(defaultIo());
    return 0;
  }
  const results = await runBench(opts);
  if (results.failed.length > 0) return 1;
  if (results.figures.length === 0 && results.skipped.length === 0) {
    process.stderr.write(`bench: no figure matches --filter ${JSON.stringify(opts.filter)} (see --list)\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`bench: ${e?.stack ?? e}\n`);
    process.exitCode = 1;
  });
}
