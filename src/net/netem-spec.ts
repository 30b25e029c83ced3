/**
 * netem's configuration as the user writes it and as the kernel holds it.
 *
 * - `NetemSpec`: the declarative form (topology files, API bodies): tc's own words and
 *   units as strings (`delay: 20ms`, `loss: 1%`, `rate: 10mbit`), so a value reads the same
 *   in YAML, JSON and on a `tc` line.
 * - `parseTcArgs`: tc's grammar (`delay 20ms 5ms 25% distribution normal loss random 1%
 *   ...`, tc-netem(8)) into a spec, for `podwire netem set` and for round trips.
 * - `compileNetem`: a spec into `NetemParams`, the kernel's numbers (sch_netem.c's
 *   netem_sched_data: probabilities scaled to u32, times in ns, rate in bytes/s), with
 *   tc's own checks (q_netem.c: reorder needs a delay and defaults gap to 1, gap needs a
 *   reorder probability, ecn needs a loss model, a distribution needs delay and jitter).
 * - `formatTc`: the equivalent `tc qdisc add dev X root netem ...` line.
 * - `mergeNetem`: RFC 7386 merge of a patch (null removes a field; setting one loss model
 *   removes the others, as netem holds one).
 *
 * Units as tc reads them (tc_util.c get_rate64, q_netem.c get_time64/get_percent): rates
 * `bit kbit mbit gbit tbit` (and IEC `kibit`...), `Bps KBps MBps ...` = BYTES per second,
 * case-insensitive; times `s ms us ns` (`sec`, `msec`, `usec`, `nsec`, plural forms);
 * percentages `10%` or `10`. Refused as ambiguous, with the field and the value in the
 * error: a bare number as a rate (tc: bit/s) or a time (tc: microseconds), and the
 * capitalised `Kbps Mbps Gbps Tbps` (almost always meant as bits; tc reads bytes). The
 * lower-case `kbps`, `mbps`, ... are accepted as tc documents them (bytes) with a warning.
 */
import { NETEM_DISTRIBUTIONS, type NetemDistribution } from './netem-tables.js';

export interface NetemSpec {
  limit?: number;
  delay?: string;
  jitter?: string;
  delayCorrelation?: string;
  distribution?: NetemDistribution;
  loss?: string;
  lossCorrelation?: string;
  lossState?: { p13: string; p31?: string; p32?: string; p23?: string; p14?: string };
  lossGemodel?: { p: string; r?: string; '1-h'?: string; '1-k'?: string };
  ecn?: boolean;
  duplicate?: string;
  duplicateCorrelation?: string;
  corrupt?: string;
  corruptCorrelation?: string;
  reorder?: string;
  reorderCorrelation?: string;
  gap?: number;
  rate?: string;
  packetOverhead?: number;
  cellSize?: number;
  cellOverhead?: number;
  slot?: { min: string; max?: string; packets?: number; bytes?: number };
  seed?: number | string;
}

export const LOSS_RANDOM = 0;
export const LOSS_4STATE = 1;
export const LOSS_GE = 2;

/** The kernel's numbers (sch_netem.c netem_sched_data), probabilities as u32 (0xffffffff = 100%). */
export interface NetemParams {
  limit: number;
  latencyNs: number;
  jitterNs: number;
  delayCorr: number;
  /** null: no table loaded (the kernel's uniform). */
  dist: Exclude<NetemDistribution, 'uniform'> | null;
  lossModel: number;
  loss: number;
  lossCorr: number;
  /** clgstate a1..a5: p13 p31 p32 p14 p23 (4-state) or p r h 1-k (GE). */
  a1: number;
  a2: number;
  a3: number;
  a4: number;
  a5: number;
  ecn: boolean;
  duplicate: number;
  dupCorr: number;
  corrupt: number;
  corruptCorr: number;
  reorder: number;
  reorderCorr: number;
  gap: number;
  /** Bytes per second; 0 = no rate. */
  rate: number;
  packetOverhead: number;
  cellSize: number;
  cellOverhead: number;
  slotMinNs: number;
  slotMaxNs: number;
  /** 0 = unlimited (the kernel stores INT_MAX). */
  slotPackets: number;
  slotBytes: number;
  /** Whether a slot is configured (any of min/max non-zero). */
  slot: boolean;
  seed: bigint | null;
}

export class NetemError extends Error {
  constructor(readonly field: string, readonly value: unknown, message: string) {
    super(`${field}: ${message} (got ${JSON.stringify(value)})`);
  }
}

const U32_MAX = 0xffffffff;

const RATE_SUFFIXES: [string, number][] = [
  ['bit', 1], ['kibit', 1024], ['kbit', 1000], ['mibit', 1024 ** 2], ['mbit', 1e6],
  ['gibit', 1024 ** 3], ['gbit', 1e9], ['tibit', 1024 ** 4], ['tbit', 1e12],
  ['bps', 8], ['kibps', 8 * 1024], ['kbps', 8000], ['mibps', 8 * 1024 ** 2], ['mbps', 8e6],
  ['gibps', 8 * 1024 ** 3], ['gbps', 8e9], ['tibps', 8 * 1024 ** 4], ['tbps', 8e12],
];

const NUM = /^(\d+(?:\.\d+)?|\.\d+)([A-Za-z%]*)$/;

/** tc get_rate64: a rate string into bytes per second (truncated as tc's u64 assignment). */
export function parseRate(field: string, v: unknown, warnings?: string[]): number {
  if (typeof v !== 'string') throw new NetemError(field, v, 'a rate is a string with tc units, e.g. "10mbit"');
  const m = NUM.exec(v.trim());
  if (m === null) throw new NetemError(field, v, 'not a rate (a number and a unit: bit, kbit, mbit, gbit, KBps, MBps ...)');
  const n = Number(m[1]);
  const unit = m[2]!;
  if (unit === '') throw new NetemError(field, v, 'ambiguous rate without a unit (tc reads bit/s): write e.g. "10mbit"');
  if (/^[A-Z]i?bps$/.test(unit)) {
    throw new NetemError(field, v, `ambiguous unit "${unit}": tc reads it as BYTES per second; write "${m[1]}${unit[0]!.toLowerCase()}bit" for bits or "${m[1]}${unit[0]}Bps" for bytes`);
  }
  const s = RATE_SUFFIXES.find(([name]) => name === unit.toLowerCase());
  if (s === undefined) throw new NetemError(field, v, `unknown rate unit "${unit}"`);
  if (s[1] % 8 === 0 && unit === unit.toLowerCase() && unit !== 'bps' && warnings !== undefined) {
    warnings.push(`${field}: "${v}" is ${unit.slice(0, -3)}BYTES per second in tc (= ${n * s[1]} bit/s)`);
  }
  const bytes = Math.trunc((n * s[1]) / 8);
  if (bytes <= 0) throw new NetemError(field, v, 'a rate must be at least 8bit');
  return bytes;
}

const TIME_SUFFIXES: [string[], number][] = [
  [['s', 'sec', 'secs'], 1e9], [['ms', 'msec', 'msecs'], 1e6], [['us', 'usec', 'usecs'], 1e3], [['ns', 'nsec', 'nsecs'], 1],
];

/** tc get_time64: a time string into nanoseconds. */
export function parseTime(field: string, v: unknown): number {
  if (typeof v !== 'string') throw new NetemError(field, v, 'a time is a string with a unit, e.g. "20ms"');
  const m = NUM.exec(v.trim());
  if (m === null) throw new NetemError(field, v, 'not a time (a number and a unit: s, ms, us, ns)');
  if (m[2] === '') throw new NetemError(field, v, 'ambiguous time without a unit (tc reads microseconds): write e.g. "20ms"');
  const s = TIME_SUFFIXES.find(([names]) => names.includes(m[2]!.toLowerCase()));
  if (s === undefined) throw new NetemError(field, v, `unknown time unit "${m[2]}"`);
  const ns = Math.round(Number(m[1]) * s[1]);
  if (ns > 0x7fffffff * 1000) throw new NetemError(field, v, 'too long');
  return ns;
}

/** q_netem.c parse_percent + set_percent: "10%" or "10" -> rint(0.10 * UINT32_MAX). */
export function parsePercent(field: string, v: unknown): number {
  if (typeof v !== 'string') throw new NetemError(field, v, 'a percentage is a string, e.g. "10%"');
  const m = NUM.exec(v.trim());
  if (m === null || (m[2] !== '' && m[2] !== '%')) throw new NetemError(field, v, 'not a percentage (e.g. "10%")');
  const per = Number(m[1]) / 100;
  if (per > 1) throw new NetemError(field, v, 'more than 100%');
  return Math.round(per * U32_MAX);
}

function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new NetemError(field, v, `an integer from ${min} to ${max}`);
  }
  return v;
}

function parseSeed(v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v) && BigInt(v) < 2n ** 64n) return BigInt(v);
  throw new NetemError('seed', v, 'an unsigned 64-bit integer');
}

const KEYS = new Set<string>([
  'limit', 'delay', 'jitter', 'delayCorrelation', 'distribution', 'loss', 'lossCorrelation', 'lossState', 'lossGemodel',
  'ecn', 'duplicate', 'duplicateCorrelation', 'corrupt', 'corruptCorrelation', 'reorder', 'reorderCorrelation', 'gap',
  'rate', 'packetOverhead', 'cellSize', 'cellOverhead', 'slot', 'seed',
]);

/** Validates a spec and computes the kernel's numbers; `warnings` collects notes (tc's byte units). */
export function compileNetem(spec: NetemSpec, warnings?: string[]): NetemParams {
  for (const k of Object.keys(spec)) if (!KEYS.has(k)) throw new NetemError(k, (spec as Record<string, unknown>)[k], 'unknown netem field');
  const p: NetemParams = {
    limit: 1000, latencyNs: 0, jitterNs: 0, delayCorr: 0, dist: null,
    lossModel: LOSS_RANDOM, loss: 0, lossCorr: 0, a1: 0, a2: 0, a3: 0, a4: 0, a5: 0, ecn: false,
    duplicate: 0, dupCorr: 0, corrupt: 0, corruptCorr: 0, reorder: 0, reorderCorr: 0, gap: 0,
    rate: 0, packetOverhead: 0, cellSize: 0, cellOverhead: 0,
    slotMinNs: 0, slotMaxNs: 0, slotPackets: 0, slotBytes: 0, slot: false, seed: null,
  };
  if (spec.limit !== undefined) p.limit = int('limit', spec.limit, 0, U32_MAX);
  if (spec.delay !== undefined) p.latencyNs = parseTime('delay', spec.delay);
  if (spec.jitter !== undefined) {
    if (spec.delay === undefined) throw new NetemError('jitter', spec.jitter, 'jitter needs a delay');
    p.jitterNs = Math.min(parseTime('jitter', spec.jitter), 0x7fffffff);
  }
  if (spec.delayCorrelation !== undefined) {
    if (spec.jitter === undefined) throw new NetemError('delayCorrelation', spec.delayCorrelation, 'a delay correlation needs a jitter');
    p.delayCorr = parsePercent('delayCorrelation', spec.delayCorrelation);
  }
  if (spec.distribution !== undefined) {
    if (!NETEM_DISTRIBUTIONS.includes(spec.distribution)) {
      throw new NetemError('distribution', spec.distribution, `one of ${NETEM_DISTRIBUTIONS.join(', ')}`);
    }
    if (p.latencyNs === 0 || p.jitterNs === 0) {
      throw new NetemError('distribution', spec.distribution, 'distribution specified but no latency and jitter values (tc)');
    }
    p.dist = spec.distribution === 'uniform' ? null : spec.distribution;
  }
  const models = [spec.loss, spec.lossState, spec.lossGemodel].filter((x) => x !== undefined).length;
  if (models > 1) throw new NetemError('loss', spec.loss ?? spec.lossState, 'one loss model only (loss, lossState or lossGemodel)');
  if (spec.loss !== undefined) p.loss = parsePercent('loss', spec.loss);
  if (spec.lossCorrelation !== undefined) {
    if (spec.loss === undefined) throw new NetemError('lossCorrelation', spec.lossCorrelation, 'a loss correlation needs loss');
    p.lossCorr = parsePercent('lossCorrelation', spec.lossCorrelation);
  }
  if (spec.lossState !== undefined) {
    const s = spec.lossState;
    if (typeof s !== 'object' || s === null) throw new NetemError('lossState', s, 'an object { p13, p31, p32, p23, p14 }');
    for (const k of Object.keys(s)) if (!['p13', 'p31', 'p32', 'p23', 'p14'].includes(k)) throw new NetemError(`lossState.${k}`, (s as Record<string, unknown>)[k], 'unknown field');
    // q_netem.c defaults: p31 = 1 - p13, p32 = 0, p23 = 1, p14 = 0.
    const p13 = parsePercent('lossState.p13', s.p13);
    p.lossModel = LOSS_4STATE;
    p.a1 = p13;
    p.a2 = s.p31 !== undefined ? parsePercent('lossState.p31', s.p31) : Math.round((1 - p13 / U32_MAX) * U32_MAX);
    p.a3 = s.p32 !== undefined ? parsePercent('lossState.p32', s.p32) : 0;
    p.a5 = s.p23 !== undefined ? parsePercent('lossState.p23', s.p23) : U32_MAX;
    p.a4 = s.p14 !== undefined ? parsePercent('lossState.p14', s.p14) : 0;
  }
  if (spec.lossGemodel !== undefined) {
    const g = spec.lossGemodel;
    if (typeof g !== 'object' || g === null) throw new NetemError('lossGemodel', g, 'an object { p, r, 1-h, 1-k }');
    for (const k of Object.keys(g)) if (!['p', 'r', '1-h', '1-k'].includes(k)) throw new NetemError(`lossGemodel.${k}`, (g as Record<string, unknown>)[k], 'unknown field');
    // q_netem.c defaults: r = 1 - p, 1-h = 1 (h = 0: the bad state loses every packet), 1-k = 0.
    const pp = parsePercent('lossGemodel.p', g.p);
    p.lossModel = LOSS_GE;
    p.a1 = pp;
    p.a2 = g.r !== undefined ? parsePercent('lossGemodel.r', g.r) : Math.round((1 - pp / U32_MAX) * U32_MAX);
    p.a3 = g['1-h'] !== undefined ? U32_MAX - parsePercent('lossGemodel.1-h', g['1-h']) : 0;
    p.a4 = g['1-k'] !== undefined ? parsePercent('lossGemodel.1-k', g['1-k']) : 0;
  }
  if (spec.ecn !== undefined) {
    if (typeof spec.ecn !== 'boolean') throw new NetemError('ecn', spec.ecn, 'true or false');
    if (spec.ecn && models === 0) throw new NetemError('ecn', spec.ecn, 'ecn requested without loss model (tc)');
    p.ecn = spec.ecn;
  }
  if (spec.duplicate !== undefined) p.duplicate = parsePercent('duplicate', spec.duplicate);
  if (spec.duplicateCorrelation !== undefined) {
    if (spec.duplicate === undefined) throw new NetemError('duplicateCorrelation', spec.duplicateCorrelation, 'needs duplicate');
    p.dupCorr = parsePercent('duplicateCorrelation', spec.duplicateCorrelation);
  }
  if (spec.corrupt !== undefined) p.corrupt = parsePercent('corrupt', spec.corrupt);
  if (spec.corruptCorrelation !== undefined) {
    if (spec.corrupt === undefined) throw new NetemError('corruptCorrelation', spec.corruptCorrelation, 'needs corrupt');
    p.corruptCorr = parsePercent('corruptCorrelation', spec.corruptCorrelation);
  }
  if (spec.reorder !== undefined) p.reorder = parsePercent('reorder', spec.reorder);
  if (spec.reorderCorrelation !== undefined) {
    if (spec.reorder === undefined) throw new NetemError('reorderCorrelation', spec.reorderCorrelation, 'needs reorder');
    p.reorderCorr = parsePercent('reorderCorrelation', spec.reorderCorrelation);
  }
  if (spec.gap !== undefined) p.gap = int('gap', spec.gap, 0, U32_MAX);
  if (p.reorder !== 0) {
    if (p.latencyNs === 0) throw new NetemError('reorder', spec.reorder, 'reordering not possible without specifying some delay (tc)');
    if (p.gap === 0) p.gap = 1;
  } else if (p.gap > 0) {
    throw new NetemError('gap', spec.gap, 'gap specified without reorder probability (tc)');
  }
  if (spec.rate !== undefined) p.rate = parseRate('rate', spec.rate, warnings);
  for (const k of ['packetOverhead', 'cellSize', 'cellOverhead'] as const) {
    if (spec[k] === undefined) continue;
    if (spec.rate === undefined) throw new NetemError(k, spec[k], 'needs a rate');
    if (k === 'cellSize') p.cellSize = int(k, spec[k], 0, U32_MAX);
    else p[k] = int(k, spec[k], -0x80000000, 0x7fffffff);
  }
  if (spec.cellOverhead !== undefined && spec.cellSize === undefined) throw new NetemError('cellOverhead', spec.cellOverhead, 'needs a cellSize');
  if (spec.slot !== undefined) {
    const s = spec.slot;
    if (typeof s !== 'object' || s === null) throw new NetemError('slot', s, 'an object { min, max, packets, bytes }');
    for (const k of Object.keys(s)) if (!['min', 'max', 'packets', 'bytes'].includes(k)) throw new NetemError(`slot.${k}`, (s as Record<string, unknown>)[k], 'unknown field');
    p.slotMinNs = parseTime('slot.min', s.min);
    p.slotMaxNs = s.max !== undefined ? parseTime('slot.max', s.max) : p.slotMinNs;
    if (p.slotMaxNs < p.slotMinNs) throw new NetemError('slot.max', s.max, 'smaller than slot.min');
    if (s.packets !== undefined) p.slotPackets = int('slot.packets', s.packets, 0, 0x7fffffff);
    if (s.bytes !== undefined) p.slotBytes = int('slot.bytes', s.bytes, 0, 0x7fffffff);
    p.slot = p.slotMinNs !== 0 || p.slotMaxNs !== 0;
  }
  if (spec.seed !== undefined) p.seed = parseSeed(spec.seed);
  return p;
}

function isNumberArg(s: string | undefined): boolean {
  return s !== undefined && /^\d/.test(s);
}

/** tc-netem(8)'s grammar into a spec (values are kept as written; compileNetem checks them). */
export function parseTcArgs(argv: readonly string[]): NetemSpec {
  const spec: NetemSpec = {};
  let i = 0;
  const next = (what: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new NetemError(what, null, 'missing value');
    return v;
  };
  const num = (what: string, s: string): number => {
    if (!/^-?\d+$/.test(s)) throw new NetemError(what, s, 'an integer');
    return Number(s);
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case 'limit': spec.limit = num('limit', next('limit')); break;
      case 'delay': case 'latency':
        spec.delay = next('delay');
        if (isNumberArg(argv[i + 1])) {
          spec.jitter = next('jitter');
          if (isNumberArg(argv[i + 1])) spec.delayCorrelation = next('delayCorrelation');
        }
        break;
      case 'distribution': spec.distribution = next('distribution') as NetemDistribution; break;
      case 'loss': case 'drop': {
        let m = next('loss');
        if (m === 'state') {
          const s: NonNullable<NetemSpec['lossState']> = { p13: next('lossState.p13') };
          for (const k of ['p31', 'p32', 'p23', 'p14'] as const) { if (!isNumberArg(argv[i + 1])) break; s[k] = next(`lossState.${k}`); }
          spec.lossState = s;
        } else if (m === 'gemodel') {
          const g: NonNullable<NetemSpec['lossGemodel']> = { p: next('lossGemodel.p') };
          for (const k of ['r', '1-h', '1-k'] as const) { if (!isNumberArg(argv[i + 1])) break; g[k] = next(`lossGemodel.${k}`); }
          spec.lossGemodel = g;
        } else {
          if (m === 'random') m = next('loss');
          spec.loss = m;
          if (isNumberArg(argv[i + 1])) spec.lossCorrelation = next('lossCorrelation');
        }
        break;
      }
      case 'ecn': spec.ecn = true; break;
      case 'duplicate':
        spec.duplicate = next('duplicate');
        if (isNumberArg(argv[i + 1])) spec.duplicateCorrelation = next('duplicateCorrelation');
        break;
      case 'corrupt':
        spec.corrupt = next('corrupt');
        if (isNumberArg(argv[i + 1])) spec.corruptCorrelation = next('corruptCorrelation');
        break;
      case 'reorder':
        spec.reorder = next('reorder');
        if (isNumberArg(argv[i + 1])) spec.reorderCorrelation = next('reorderCorrelation');
        break;
      case 'gap': spec.gap = num('gap', next('gap')); break;
      case 'rate':
        spec.rate = next('rate');
        if (/^-?\d/.test(argv[i + 1] ?? '')) {
          spec.packetOverhead = num('packetOverhead', next('packetOverhead'));
          if (isNumberArg(argv[i + 1])) {
            spec.cellSize = num('cellSize', next('cellSize'));
            if (/^-?\d/.test(argv[i + 1] ?? '')) spec.cellOverhead = num('cellOverhead', next('cellOverhead'));
          }
        }
        break;
      case 'slot': {
        const s: NonNullable<NetemSpec['slot']> = { min: next('slot.min') };
        if (s.min === 'distribution') throw new NetemError('slot', 'distribution', 'slot distribution is not supported; use slot MIN [MAX]');
        if (isNumberArg(argv[i + 1])) s.max = next('slot.max');
        for (;;) {
          const k = argv[i + 1];
          if (k === 'packets') { i++; s.packets = num('slot.packets', next('slot.packets')); } else if (k === 'bytes') { i++; s.bytes = num('slot.bytes', next('slot.bytes')); } else break;
        }
        spec.slot = s;
        break;
      }
      case 'seed': {
        const v = next('seed');
        spec.seed = /^\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
        break;
      }
      default: throw new NetemError('netem', a, 'unknown netem argument (tc-netem(8))');
    }
  }
  return spec;
}

/** Percent as tc prints it (%g of 100 * u32 / UINT32_MAX). */
export function formatPercent(u: number): string {
  return `${Number(((100 * u) / U32_MAX).toPrecision(6))}%`;
}

/** A time in the largest unit that holds it exactly. */
export function formatTime(ns: number): string {
  if (ns !== 0 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns !== 0 && ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns !== 0 && ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

/** A rate in bytes/s as bits in the largest decimal unit that holds it exactly. */
export function formatRate(bytes: number): string {
  const bits = bytes * 8;
  if (bits % 1e9 === 0) return `${bits / 1e9}gbit`;
  if (bits % 1e6 === 0) return `${bits / 1e6}mbit`;
  if (bits % 1e3 === 0) return `${bits / 1e3}kbit`;
  return `${bits}bit`;
}

/** The netem arguments of the kernel state, normalised, in tc's order (a valid tc line). */
export function tcArgs(p: NetemParams): string[] {
  const out = ['limit', String(p.limit)];
  if (p.latencyNs !== 0 || p.jitterNs !== 0) {
    out.push('delay', formatTime(p.latencyNs));
    if (p.jitterNs !== 0) {
      out.push(formatTime(p.jitterNs));
      if (p.delayCorr !== 0) out.push(formatPercent(p.delayCorr));
    }
    if (p.dist !== null) out.push('distribution', p.dist);
  }
  if (p.lossModel === LOSS_RANDOM && p.loss !== 0) {
    out.push('loss', 'random', formatPercent(p.loss));
    if (p.lossCorr !== 0) out.push(formatPercent(p.lossCorr));
  } else if (p.lossModel === LOSS_4STATE) {
    out.push('loss', 'state', formatPercent(p.a1), formatPercent(p.a2), formatPercent(p.a3), formatPercent(p.a5), formatPercent(p.a4));
  } else if (p.lossModel === LOSS_GE) {
    out.push('loss', 'gemodel', formatPercent(p.a1), formatPercent(p.a2), formatPercent(U32_MAX - p.a3), formatPercent(p.a4));
  }
  if (p.ecn) out.push('ecn');
  if (p.duplicate !== 0) {
    out.push('duplicate', formatPercent(p.duplicate));
    if (p.dupCorr !== 0) out.push(formatPercent(p.dupCorr));
  }
  if (p.reorder !== 0) {
    out.push('reorder', formatPercent(p.reorder));
    if (p.reorderCorr !== 0) out.push(formatPercent(p.reorderCorr));
    out.push('gap', String(p.gap));
  }
  if (p.corrupt !== 0) {
    out.push('corrupt', formatPercent(p.corrupt));
    if (p.corruptCorr !== 0) out.push(formatPercent(p.corruptCorr));
  }
  if (p.rate !== 0) {
    out.push('rate', formatRate(p.rate));
    if (p.packetOverhead !== 0 || p.cellSize !== 0) out.push(String(p.packetOverhead));
    if (p.cellSize !== 0) {
      out.push(String(p.cellSize));
      if (p.cellOverhead !== 0) out.push(String(p.cellOverhead));
    }
  }
  if (p.slot) {
    out.push('slot', formatTime(p.slotMinNs), formatTime(p.slotMaxNs));
    if (p.slotPackets !== 0) out.push('packets', String(p.slotPackets));
    if (p.slotBytes !== 0) out.push('bytes', String(p.slotBytes));
  }
  if (p.seed !== null) out.push('seed', p.seed.toString());
  return out;
}

/** `tc qdisc add dev DEV root netem ...` for the kernel state. */
export function formatTc(dev: string, p: NetemParams): string {
  return `tc qdisc add dev ${dev} root netem ${tcArgs(p).join(' ')}`;
}

const LOSS_KEYS = ['loss', 'lossCorrelation', 'lossState', 'lossGemodel'] as const;

/**
 * RFC 7386 merge of `patch` into `base` (null removes; nested objects merge). Setting one
 * loss model removes the others: netem holds one.
 */
export function mergeNetem(base: NetemSpec, patch: Record<string, unknown>): NetemSpec {
  const out: Record<string, unknown> = { ...base };
  const setsModel = (k: string): boolean => patch[k] !== undefined && patch[k] !== null;
  if (setsModel('loss')) { delete out.lossState; delete out.lossGemodel; }
  if (setsModel('lossState')) { delete out.loss; delete out.lossCorrelation; delete out.lossGemodel; }
  if (setsModel('lossGemodel')) { delete out.loss; delete out.lossCorrelation; delete out.lossState; }
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null
      && !(LOSS_KEYS as readonly string[]).includes(k)) {
      const inner: Record<string, unknown> = { ...(out[k] as Record<string, unknown>) };
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) {
        if (iv === null) delete inner[ik];
        else inner[ik] = iv;
      }
      out[k] = inner;
    } else out[k] = v;
  }
  return out as NetemSpec;
}

/** The spec of kernel numbers (what `show` prints as JSON), normalised; plus bit/s for the rate. */
export function describeNetem(p: NetemParams): Record<string, unknown> {
  return {
    tc: tcArgs(p).join(' '),
    limit: p.limit,
    delayNs: p.latencyNs,
    jitterNs: p.jitterNs,
    distribution: p.dist ?? 'uniform',
    rateBitsPerSecond: p.rate * 8,
  };
}
