#!/usr/bin/env node
/**
 * TAP dataplane benchmark (root only): real processes in network namespaces talk through
 * podwire and through reference switches (paths in tap-paths.mjs), and for each path:
 *   pps    64-byte frames/s delivered: tools/bench/udp-flood.c sends 18-byte UDP payloads
 *          with sendmmsg (14 + 20 + 8 + 18 = 60 bytes, 64 with the FCS) for SECONDS; the
 *          figure is the count of the nftables netdev ingress rule on the receiver's eth0
 *          that counts and drops them (tap-paths.mjs Lab.servers: no socket, no process
 *          woken per datagram, so the receiver is not the bottleneck), over that time;
 *          rx_packets of the same eth0 is kept beside it in the JSON (`pps-rx`) as a check;
 *   tcp    iperf3 TCP throughput, one stream, SECONDS;
 *   rtt    ping RTT, 50 echoes 10 ms apart: the average (ping's own summary, which the
 *          target is judged on), and the median and 90th percentile of the 50 echoes
 *          (rtt-p50, rtt-p90: the average of so few echoes moves with a handful of slow
 *          ones, the wake-ups of an idle process; these say which part moved).
 * Every round measures every path one after the other (side by side, so a noisy
 * neighbour hits all alike); figures are medians over the rounds, and each ratio is the
 * median of the per-round ratios.
 *
 *   node tools/bench/tap.mjs [--seconds N] [--runs N] [--only REGEX] [--json PATH]
 *
 * (after `npm run build`: uses dist/). Prints `tap.<path>.<metric>  value unit` lines, the
 * ratios to the targets, and writes the JSON (default bench-results/tap-latest.json).
 * Addresses exist only inside the namespaces made here; everything made is removed at the
 * end, on failure and on SIGINT/SIGTERM too. `runTapBench` is the same run for run.mjs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Lab, TCP_PORT, UDP_PORT, copierPath, floodCount, inNs, kernelBridgePath, podwirePaths, sleep, vdePath,
} from './tap-paths.mjs';

/** [figure of a, figure of b, metric, target, higher is better] */
export const TARGETS = [
  ['podwire.same-node', 'vde-switch', 'pps', 1.3, true],
  ['podwire.same-node', 'c-copier', 'pps', 0.9, true],
  ['podwire.same-node', 'kernel-bridge', 'pps', 0, true],
  ['c-copier', 'vde-switch', 'pps', 0, true],
  ['podwire.same-node', 'vde-switch', 'tcp', 1.2, true],
  ['podwire.offloads', 'c-copier.vnet', 'tcp', 0.8, true],
  ['podwire.same-node', 'vde-switch', 'rtt', 1.0, false],
  ['podwire.same-node', 'vde-switch', 'rtt-p50', 1.0, false],
  ['podwire.same-node', 'vde-switch', 'rtt-p90', 0, false],
  ['podwire.two-nodes', 'podwire.same-node', 'pps', 1 / 1.5, true],
  ['podwire.two-nodes', 'podwire.same-node', 'tcp', 1 / 1.5, true],
  ['podwire.two-nodes', 'podwire.same-node', 'rtt', 1.5, false],
  ['podwire.cluster-ip', 'podwire.same-node', 'pps', 1 / 1.5, true],
  ['podwire.cluster-ip', 'podwire.same-node', 'tcp', 1 / 1.5, true],
  ['podwire.offloads', 'podwire.same-node', 'tcp', 1.0, true],
  ['podwire.same-node', 'kernel-bridge', 'tcp', 0, true],
  ['podwire.same-node', 'kernel-bridge.no-offload', 'tcp', 0, true],
];
const METRICS = ['pps', 'tcp', 'rtt', 'rtt-p50', 'rtt-p90'];
const UNITS = { pps: 'kpps', tcp: 'Mbit/s', rtt: 'ms', 'rtt-p50': 'ms', 'rtt-p90': 'ms' };

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const rxPackets = async (ns) => Number(await inNs(ns, 'cat', '/sys/class/net/eth0/statistics/rx_packets'));

async function measurePath(lab, p, seconds) {
  const r0 = await rxPackets(p.b);
  const f0 = await floodCount(p.b);
  const t0 = process.hrtime.bigint();
  await inNs(p.a, lab.flood, 'send', p.ip, String(UDP_PORT), String(seconds));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const ppsRx = (await rxPackets(p.b) - r0) / dt;
  const pps = (await floodCount(p.b) - f0) / dt;
  await sleep(200); // let queues drain before the next test
  let tcp = NaN;
  try {
    const j = JSON.parse(await inNs(p.a, 'iperf3', '-c', p.ip, '-p', String(TCP_PORT), '-t', String(seconds), '-J'));
    tcp = j.end.sum_received.bits_per_second / 1e6;
  } catch { /* counted as missing */ }
  const rtt = p.rttIp !== null
    ? parsePing(await inNs(p.a, 'ping', '-c', '50', '-i', '0.01', '-W', '2', p.rttIp).catch(() => ''))
    : { avg: NaN, p50: NaN, p90: NaN };
  return { pps: pps / 1e3, 'pps-rx': ppsRx / 1e3, tcp, rtt: rtt.avg, 'rtt-p50': rtt.p50, 'rtt-p90': rtt.p90 };
}

/** ping's output: the summary's average and the median and 90th percentile of the echoes' `time=` (ms; NaN when missing). */
export function parsePing(out) {
  const times = [...out.matchAll(/ time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  const avg = /= [\d.]+\/([\d.]+)\//.exec(out);
  const at = (q) => (times.length === 0 ? NaN : times[Math.min(times.length - 1, Math.floor(q * times.length))]);
  return { avg: avg !== null ? Number(avg[1]) : NaN, p50: median(times), p90: at(0.9) };
}

/** Drops the podwire clusters' TapPorts counted (context for the report). */
function podwireDrops(paths) {
  const out = {};
  for (const c of new Set(paths.map((p) => p.cluster).filter(Boolean))) {
    for (const a of c.attached.values()) {
      for (const [k, v] of Object.entries(a.port.drops.toJSON())) if (v > 0) out[`${c.plan.cluster.name}/${a.pod}.${k}`] = v;
    }
  }
  return out;
}

/**
 * The whole run. opts: { seconds, runs, only (RegExp|null) }; io: { out(line), figure(name,
 * value, unit, runs) }. Resolves to { paths: {name: {pps, tcp, rtt, runs}}, ratios, notes }.
 */
export async function runTapBench(opts, io) {
  const seconds = opts.seconds ?? 2;
  const runs = opts.runs ?? 5;
  const only = opts.only ?? null;
  const lab = new Lab();
  const onSignal = () => { lab.cleanup().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const notes = [];
  const note = (t) => { notes.push(t); io.out(`# ${t}`); };
  try {
    lab.flood = await lab.compile('udp-flood');
    const paths = [];
    const makers = [
      ['podwire', () => podwirePaths(lab, false)], ['podwire.offloads', () => podwirePaths(lab, true)],
      ['c-copier', () => copierPath(lab, false)], ['c-copier.vnet', () => copierPath(lab, true)],
      ['vde-switch', () => vdePath(lab)], ['kernel-bridge', () => kernelBridgePath(lab, true)],
      ['kernel-bridge.no-offload', () => kernelBridgePath(lab, false)],
    ];
    for (const [name, make] of makers) {
      if (only !== null && !only.test(name)) continue;
      try {
        const made = await make();
        paths.push(...(Array.isArray(made) ? made : [made]));
      } catch (e) {
        note(`${name} skipped: ${String(e?.message ?? e).split('\n')[0]}`);
      }
    }
    for (const p of paths) await inNs(p.a, 'ping', '-q', '-c', '3', '-i', '0.05', p.rttIp ?? p.ip).catch(() => ''); // ARP, FDB
    const per = Object.fromEntries(paths.map((p) => [p.name, []]));
    for (let r = 0; r < runs; r++) {
      for (const p of paths) {
        per[p.name].push(await measurePath(lab, p, seconds));
        if (process.stderr.isTTY) process.stderr.write(`\r# round ${r + 1}/${runs} ${p.name}        `);
      }
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    const result = { paths: {}, ratios: [], notes, seconds, runs, drops: podwireDrops(paths) };
    for (const p of paths) {
      const rs = per[p.name];
      const fig = { runs: rs };
      for (const m of METRICS) {
        fig[m] = median(rs.map((x) => x[m]));
        if (Number.isFinite(fig[m])) io.figure(`tap.${p.name}.${m}`, fig[m], UNITS[m], rs.map((x) => x[m]));
      }
      result.paths[p.name] = fig;
    }
    for (const [x, y, m, target, higher] of TARGETS) {
      if (per[x] === undefined || per[y] === undefined) continue;
      const ratio = median(per[x].map((rx, i) => rx[m] / per[y][i][m]));
      if (!Number.isFinite(ratio)) continue;
      const met = target === 0 ? null : higher ? ratio >= target : ratio <= target;
      result.ratios.push({ of: x, to: y, metric: m, ratio, target, higher, met });
      const want = target === 0 ? '(context)' : `target ${higher ? '>=' : '<='} ${target.toFixed(2)}: ${met ? 'met' : 'MISSED'}`;
      io.out(`ratio ${x} / ${y} ${m}  ${ratio.toFixed(3)} x  ${want}`);
    }
    if (Object.keys(result.drops).length > 0) note(`podwire TapPort drops: ${JSON.stringify(result.drops)}`);
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lab.cleanup();
  }
}

async function main() {
  const arg = (k) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
  if (process.getuid?.() !== 0) {
    console.log('# tap bench skipped: needs root (TAP devices, network namespaces)');
    return;
  }
  const opts = {
    seconds: Number(arg('--seconds') ?? 2), runs: Number(arg('--runs') ?? 5),
    only: arg('--only') !== undefined ? new RegExp(arg('--only')) : null,
  };
  console.log(`# podwire tap bench, node ${process.version}, ${os.cpus()[0]?.model.trim()} x${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; median of ${opts.runs} rounds of ${opts.seconds} s`);
  const figures = [];
  const res = await runTapBench(opts, {
    out: (l) => console.log(l),
    figure: (name, value, unit, all) => {
      figures.push({ name, value, unit, runs: all });
      console.log(`${name.padEnd(36)} ${value.toFixed(unit === 'ms' ? 3 : 1).padStart(10)} ${unit}`);
    },
  });
  const json = arg('--json') ?? fileURLToPath(new URL('../../bench-results/tap-latest.json', import.meta.url));
  mkdirSync(dirname(resolve(json)), { recursive: true });
  writeFileSync(json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, loadavgEnd: os.loadavg(), figures, ...res }, null, 2)}\n`);
  console.log(`# json: ${json}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(`tap bench: ${e?.stack ?? e}`); process.exitCode = 1; });
}
