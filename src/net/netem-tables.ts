/**
 * netem's delay distribution tables, re-derived: the same 4096 signed 16-bit entries that
 * iproute2 builds with netem/normal.c, netem/pareto.c and netem/paretonormal.c (taken
 * from NIST Net) and installs as /usr/lib/tc/{normal,pareto,paretonormal}.dist. Each is a
 * scaled inverse CDF: an entry t stands for t / NETEM_DIST_SCALE standard deviations, and
 * the kernel's `tabledist` picks one with a uniform draw. `uniform` has no table (the
 * kernel's default when none is loaded). Built once, on first use (cold).
 */

export const NETEM_DIST_SCALE = 8192;
export type NetemDistribution = 'uniform' | 'normal' | 'pareto' | 'paretonormal';
export const NETEM_DISTRIBUTIONS: readonly NetemDistribution[] = ['uniform', 'normal', 'pareto', 'paretonormal'];

const TABLESIZE = 16384;
const SHRT_MIN = -32768;
const SHRT_MAX = 32767;

/** C's rint() in the default rounding mode: to nearest, ties to even. */
export function rint(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** erf(x) to about 1e-15: Maclaurin series below 2.5, erfc's continued fraction above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let k = ax;
    for (let n = 80; n >= 1; n--) k = ax + n / 2 / k;
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / k;
  }
  return x < 0 ? -r : r;
}

function normalCdf(x: number): number {
  return 0.5 + 0.5 * erf(x / Math.sqrt(2.0));
}

/** netem/normal.c and paretonormal.c: table[i] = the last x on the 0.00005 grid with rint(16384 * Phi(x)) = i. */
function normalInverse(): Float64Array {
  const table = new Float64Array(TABLESIZE + 1);
  for (let x = -10.0; x < 10.05; x += 0.00005) {
    const i = rint(TABLESIZE * normalCdf(x));
    if (i >= 0 && i <= TABLESIZE) table[i] = x;
  }
  return table;
}

function clampShort(v: number): number {
  return v < SHRT_MIN ? SHRT_MIN : v > SHRT_MAX ? SHRT_MAX : v;
}

function normalTable(): Int16Array {
  const inv = normalInverse();
  const out = new Int16Array(TABLESIZE / 4);
  for (let i = 0, n = 0; i < TABLESIZE; i += 4) out[n++] = clampShort(rint(inv[i]! * NETEM_DIST_SCALE));
  return out;
}

/** netem/pareto.c (a = 3): 1/u^(1/a) - 1.5, times 4/3 * 8192, capped at 32767. */
function paretoValue(i: number): number {
  let d = i / 65536;
  d = 1.0 / Math.pow(d, 1.0 / 3.0);
  d -= 1.5;
  d *= (4.0 / 3.0) * NETEM_DIST_SCALE;
  if (d > 32767) d = 32767;
  return rint(d);
}

function paretoTable(): Int16Array {
  const out = new Int16Array(TABLESIZE / 4);
  for (let i = 65536, n = 0; i > 0; i -= 16) out[n++] = paretoValue(i);
  return out;
}

/** netem/paretonormal.c: (normal + 3 * pareto) / 4, C integer division. */
function paretoNormalTable(): Int16Array {
  const inv = normalInverse();
  const out = new Int16Array(TABLESIZE / 4);
  for (let i = 0, n = 0; i < TABLESIZE; i += 4) {
    const norm = rint(inv[i]! * NETEM_DIST_SCALE);
    const par = paretoValue(65536 - 4 * i);
    out[n++] = clampShort(Math.trunc((norm + 3 * par) / 4));
  }
  return out;
}

const cache = new Map<NetemDistribution, Int16Array>();

/** The table of a distribution, or null for `uniform` (no table: the kernel's built-in uniform). */
export function distTable(d: NetemDistribution): Int16Array | null {
  if (d === 'uniform') return null;
  let t = cache.get(d);
  if (t === undefined) {
    t = d === 'normal' ? normalTable() : d === 'pareto' ? paretoTable() : paretoNormalTable();
    cache.set(d, t);
  }
  return t;
}
