/**
 * The targets of the performance issue, judged against one run's figures: printed as a
 * summary at the end of `npm run bench` / `podwire bench` and stored as `results.targets`.
 * A target whose figure the run did not measure (filtered out, skipped) is left out.
 *
 *   target <figure> <op> <threshold> <unit>: <value> met | MISSED (<value / threshold> x)
 *
 * The TAP targets are ratios of two paths measured side by side (tools/bench/tap.mjs keeps
 * their verdicts in `results.tapRatios`); they are repeated here so the summary is whole,
 * as are the verdicts tools/bench/vxlan-kernel.mjs judged (`results.vxlanKernelTargets`:
 * podwire / kernel VXLAN ratios and podwire's socket drops, whose threshold is 0).
 */
import { formatValue } from './harness.mjs';

/** [figure, 'min' (value >= threshold) | 'max' (value <= threshold), threshold] */
export const TARGETS = [
  ['fwd.same-node', 'min', 10],
  ['fwd.cross-node.vxlan', 'min', 4],
  ['fwd.clusterip.cross-node.vxlan', 'min', 3],
  ['scale.vxlan.1000n.total', 'max', 2000],
  ['scale.vxlan.1000n.peak-rss', 'max', 1024],
  ['scale.routed.1000n.total', 'max', 2000],
  ['scale.routed.1000n.peak-rss', 'max', 1024],
  ['scale.fwd.vxlan.cost-1000n/2n', 'max', 1.3],
  ['conntrack.bytes-per-entry.1M', 'max', 128],
  ['conntrack.lookup.cost-1M/1k', 'max', 1.5],
  ['flows.clusterip.cost-10000/10', 'max', 1.3],
  ['flows.same-node.cost-10000/10', 'max', 1.3],
  ['shard.cross-node.speedup', 'min', 1.7],
  ['shard.cross-node.vxlan.speedup', 'min', 1.7],
];

/**
 * Verdicts for the targets whose figures are in `results` (figures: [{name, value, unit}],
 * tapRatios: [{of, to, metric, ratio, target, higher, met}]): [{ figure, op, threshold, unit, value, met }].
 */
export function judgeTargets(results) {
  const byName = new Map(results.figures.map((f) => [f.name, f]));
  const out = [];
  for (const [name, kind, threshold] of TARGETS) {
    const f = byName.get(name);
    if (f === undefined || !Number.isFinite(f.value)) continue;
    out.push({
      figure: name, op: kind === 'min' ? '>=' : '<=', threshold, unit: f.unit, value: f.value,
      met: kind === 'min' ? f.value >= threshold : f.value <= threshold,
    });
  }
  for (const r of results.tapRatios ?? []) {
    if (r.met === null || !Number.isFinite(r.ratio)) continue;
    out.push({ figure: `tap ${r.of} / ${r.to} ${r.metric}`, op: r.higher ? '>=' : '<=', threshold: r.target, unit: 'x', value: r.ratio, met: r.met });
  }
  for (const v of results.vxlanKernelTargets ?? []) if (Number.isFinite(v.value)) out.push(v);
  return out;
}

/** The summary lines (`#`-prefixed context lines, so one figure per line stays the rule for the rest). */
export function targetLines(verdicts) {
  if (verdicts.length === 0) return [];
  const met = verdicts.filter((v) => v.met).length;
  const lines = [`# targets: ${met} of ${verdicts.length} met`];
  for (const v of verdicts) {
    // Ratios near their thresholds need a third decimal (1.197 is not 1.20).
    const fmt = (x) => (v.unit === 'x' ? x.toFixed(3) : formatValue(x));
    const miss = v.threshold === 0 ? 'MISSED' : `MISSED (${(v.value / v.threshold).toFixed(2)}x the target)`;
    lines.push(`# target ${v.figure} ${v.op} ${fmt(v.threshold)} ${v.unit}: ${fmt(v.value)} ${v.met ? 'met' : miss}`);
  }
  return lines;
}
