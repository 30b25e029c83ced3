/**
 * Runs one entry of a section (a benchmark, an interleaved group, or a static figure) and
 * reports through `out`: { emit(figure), note(text), progress(text) }. Called inside a
 * fresh worker thread per entry (worker.mjs), so one figure's JIT feedback (types seen at
 * shared call sites, inlining decisions) never leaks into another's.
 */
import { collectGarbage, fromRate, measureGroup, median, summarize } from './harness.mjs';

export async function runEntry(e, cfg, match, out) {
  if (e.static !== undefined) {
    if (!match(e.static)) return;
    collectGarbage();
    out.progress(`${e.static}: measuring`);
    out.emit({ ...summarize(e.static, e.unit, [await e.compute()]), ...(e.detail ? { detail: e.detail() } : {}) });
    return;
  }
  if (e.multi !== undefined) {
    // Several figures from one measurement (tools/bench/scale.mjs: cold builds in child processes).
    if (!e.multi.some(match)) return;
    collectGarbage();
    const figs = await e.compute(out.progress);
    for (const f of figs) if (match(f.name)) out.emit({ ...summarize(f.name, f.unit, f.runs), ...(f.detail ? { detail: f.detail } : {}) });
    return;
  }
  await runGroup(e.group ?? [e], e.ratios ?? [], cfg, match, out);
}

/** Names an entry would print under `match` (for the main thread, to skip entries with none). */
export function entryNames(e) {
  if (e.static !== undefined) return [e.static];
  if (e.multi !== undefined) return e.multi;
  if (e.skip !== undefined) return [];
  const members = e.group ?? [e];
  return [...members.flatMap((b) => [b.name, ...(b.derive ?? []).map((d) => d.name)]), ...(e.ratios ?? []).map((r) => r.name)];
}

async function runGroup(group, ratios, cfg, match, out) {
  const forRatio = new Set(ratios.filter((r) => match(r.name)).flatMap((r) => [r.of, r.to]));
  const wanted = (b) => match(b.name) || forRatio.has(b.name) || (b.derive ?? []).some((d) => match(d.name));
  const members = group.filter(wanted);
  if (members.length === 0) return;
  collectGarbage();
  const { rates, steps } = await measureGroup(members, { ...cfg, progress: out.progress });
  const byName = new Map();
  members.forEach((b, i) => {
    const runs = rates[i].map((r) => fromRate(r, b.unit));
    const fig = summarize(b.name, b.unit, runs);
    const { warnings = [], ...report } = steps[i].report?.() ?? {};
    Object.assign(fig, report);
    byName.set(b.name, { fig, rates: rates[i], shown: match(b.name) });
    for (const line of warnings) out.note(`${b.name}: ${line}`);
  });
  for (const r of ratios) {
    const a = byName.get(r.of);
    const b = byName.get(r.to);
    if (a === undefined || b === undefined || !match(r.name)) continue;
    // Side by side: the ratio of each round (both measured back to back), then the median.
    // `cost`: time per item of `of` over that of `to` (rates inverted), else rate over rate.
    const perRound = a.rates.map((x, i) => (r.cost === true ? b.rates[i] / x : x / b.rates[i]));
    const measure = r.cost === true ? 'time per item' : 'rate';
    a.fig.ratio = { to: r.to, value: median(perRound), measure };
    a.ratioFig = { ...summarize(r.name, 'x', perRound), ratio: { of: r.of, to: r.to, measure } };
  }
  members.forEach((b, i) => {
    const m = byName.get(b.name);
    if (m.shown) out.emit(m.fig);
    for (const d of b.derive ?? []) if (match(d.name)) out.emit(summarize(d.name, d.unit, rates[i].map(d.f)));
  });
  for (const m of byName.values()) if (m.ratioFig !== undefined) out.emit(m.ratioFig);
  for (const s of steps) s.teardown?.();
}
