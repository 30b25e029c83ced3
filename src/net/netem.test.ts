/**
 * netem against the kernel's semantics, statistically (seeded, virtual clock, alpha =
 * 0.001, N >= 100k per case) and exactly where the kernel is exact. The element is tested
 * directly (a source link -> Netem -> Sink), not through a cluster, to keep the suite fast.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Engine } from '../engine/engine.js';
import { PassThrough, Sink } from '../engine/basic.js';
import { connect } from '../engine/element.js';
import { checksum } from '../wire/checksum.js';
import { Netem, type NetemDecision } from './netem.js';
import { Prandom, crandom } from './netem-prng.js';
import { distTable, NETEM_DIST_SCALE } from './netem-tables.js';
import { compileNetem, formatTc, mergeNetem, parseRate, parseTcArgs, NetemError, type NetemSpec } from './netem-spec.js';

const ALPHA_Z = 3.2905; // two-sided alpha = 0.001
const WHERE = { node: 'n', netns: 'ns', device: 'eth0' };

function wilson(k: number, n: number, z = ALPHA_Z): [number, number] {
  const ph = k / n;
  const d = 1 + (z * z) / n;
  const c = (ph + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((ph * (1 - ph)) / n + (z * z) / (4 * n * n))) / d;
  return [c - h, c + h];
}

/** Upper 0.001 quantile of chi-square with df degrees (Wilson-Hilferty). */
function chi2Critical(df: number): number {
  const z = 3.0902;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

function chi2(observed: number[], expected: number[]): number {
  let s = 0;
  for (let i = 0; i < observed.length; i++) s += (observed[i]! - expected[i]!) ** 2 / expected[i]!;
  return s;
}

/** An Ethernet + IPv4 + UDP frame of `len` bytes carrying `id` (u32) at offset 42; `tos` in the IP header. */
function frame(id: number, len = 100, tos = 0): Uint8Array {
  const b = new Uint8Array(len);
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  const ip = 14;
  b[ip] = 0x45;
  b[ip + 1] = tos;
  b[ip + 2] = (len - 14) >> 8;
  b[ip + 3] = (len - 14) & 0xff;
  b[ip + 8] = 64;
  b[ip + 9] = 17;
  b.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  const c = checksum(b, ip, 20);
  b[ip + 10] = c >> 8;
  b[ip + 11] = c & 0xff;
  new DataView(b.buffer).setUint32(42, id);
  return b;
}

interface Rig {
  engine: Engine;
  netem: Netem;
  send(id: number, len?: number, tos?: number): void;
  /** Delivered: id, time (ns), bytes. */
  out: { id: number; t: number; bytes: Uint8Array | null }[];
  decisions: { d: NetemDecision; id: number; v: number }[];
}

function rig(spec: NetemSpec, opts: { keepBytes?: boolean; decisions?: boolean; pool?: number; slot?: number } = {}): Rig {
  const engine = new Engine({ seed: 7, pool: { size: opts.pool ?? 8192, slotSize: opts.slot ?? 2048 } });
  const src = new PassThrough(engine, 'src');
  const netem = new Netem(engine, 'netem', WHERE, spec);
  const sink = new Sink(engine, 'sink');
  connect(engine, src.ports.out('out'), netem.input, 4096);
  connect(engine, netem.ports.out('out'), sink.ports.in('in'), 4096);
  const out: Rig['out'] = [];
  const decisions: Rig['decisions'] = [];
  sink.observer = (p) => {
    out.push({ id: p.buf.readUInt32BE(p.start + 42), t: Math.round(engine.now() * 1e6), bytes: opts.keepBytes ? Uint8Array.from(p.buf.subarray(p.start, p.end)) : null });
  };
  if (opts.decisions) netem.observer = (d, p, v) => decisions.push({ d, id: p.buf.readUInt32BE(p.start + 42), v });
  const feed = src.ports.out('out');
  const send = (id: number, len = 100, tos = 0): void => {
    const f = frame(id, len, tos);
    const p = engine.pool.fromBytes(f, 0, f.length)!;
    feed.send(p);
  };
  return { engine, netem, send, out, decisions };
}

/** Sends n packets in bursts at one instant (no delay configured: each passes or drops at once). */
function blast(r: Rig, n: number): void {
  for (let i = 0; i < n; i++) {
    r.send(i);
    if ((i & 1023) === 1023) r.engine.runUntilIdle();
  }
  r.engine.runUntilIdle();
}

describe('the kernel PRNG (lib/random32.c)', () => {
  // prandom_seed_early (LCG 69069) + prandom_warmup (10 draws), then the next draw: the kernel's self-test vectors.
  const early = (seed: number): Prandom => {
    const lcg = (x: number): number => Math.imul(x, 69069) >>> 0;
    const sd = (x: number, m: number): number => (x < m ? x + m : x);
    const p = new Prandom(0n);
    const s1 = sd(lcg(seed), 2);
    const s2 = sd(lcg(s1), 8);
    const s3 = sd(lcg(s2), 16);
    const s4 = sd(lcg(s3), 128);
    p.setState(s1, s2, s3, s4);
    for (let i = 0; i < 10; i++) p.u32();
    return p;
  };
  it('matches prandom_state_selftest test1 and test2 vectors', () => {
    for (const [seed, result] of [[1, 3484351685], [2, 2623130059], [3, 3125133893], [4, 984847254]] as const) {
      expect(early(seed).u32()).toBe(result);
    }
    for (const [seed, it2, result] of [[931557656, 959, 2975593782], [1339693295, 876, 3887776532], [1545556285, 961, 1615538833]] as const) {
      const p = early(seed);
      for (let j = 0; j < it2 - 1; j++) p.u32();
      expect(p.u32()).toBe(result);
    }
  });
  it('get_crandom is the weighted average (U(2^32 - rho-1) + last(rho+1)) >> 32, exactly', () => {
    const p = new Prandom(42n);
    const q = new Prandom(42n);
    const st = { last: 123456789, rho: Math.round(0.25 * 0xffffffff) };
    let last = 123456789n;
    for (let i = 0; i < 1000; i++) {
      const u = BigInt(q.u32());
      const rho = BigInt(st.rho) + 1n;
      last = (u * ((1n << 32n) - rho) + last * rho) >> 32n;
      expect(crandom(st, p)).toBe(Number(last));
    }
  });
});

describe('distribution tables (iproute2 netem/*.c)', () => {
  for (const d of ['normal', 'pareto', 'paretonormal'] as const) {
    it(`${d}: 4096 entries equal to iproute2's ${d}.dist`, () => {
      const txt = readFileSync(new URL(`../../test/fixtures/netem/${d}.dist`, import.meta.url), 'utf8');
      const want = txt.split('\n').filter((l) => l !== '' && !l.startsWith('#')).flatMap((l) => l.trim().split(/\s+/).map(Number));
      expect(want.length).toBe(4096);
      expect(Array.from(distTable(d)!)).toEqual(want);
    });
  }
});

describe('loss', () => {
  it('loss random 1%: the loss count is inside the Wilson 99.9% interval (N = 200k)', () => {
    const n = 200_000;
    const r = rig({ loss: '1%', seed: 1 });
    blast(r, n);
    const lost = n - r.out.length;
    expect(r.netem.drops.get('loss')).toBe(lost);
    const [lo, hi] = wilson(lost, n);
    expect(lo).toBeLessThanOrEqual(0.01);
    expect(hi).toBeGreaterThanOrEqual(0.01);
  });

  it('loss state p13 alone is Bernoulli(p13) (q_netem.c defaults p31 = 1 - p13, p23 = 1)', () => {
    const n = 100_000;
    const r = rig({ lossState: { p13: '5%' }, seed: 2 });
    blast(r, n);
    const [lo, hi] = wilson(n - r.out.length, n);
    expect(lo).toBeLessThanOrEqual(0.05);
    expect(hi).toBeGreaterThanOrEqual(0.05);
  });

  it('loss gemodel p r: stationary loss p/(p+r) and loss bursts geometric with mean 1/r (chi-square)', () => {
    const n = 300_000;
    const p = 0.01;
    const rr = 0.3;
    const r = rig({ lossGemodel: { p: '1%', r: '30%' }, seed: 3 }, { decisions: true });
    blast(r, n);
    const lossFlags = new Uint8Array(n);
    for (const d of r.decisions) if (d.d === 'loss') lossFlags[d.id] = 1;
    const lost = r.decisions.filter((d) => d.d === 'loss').length;
    // Losses of a two-state chain are correlated: the variance of their mean is that of
    // (1 + l) / (1 - l) times fewer independent draws, l = 1 - p - r (the chain's eigenvalue).
    const l = 1 - p - rr;
    const nEff = (n * (1 - l)) / (1 + l);
    const [lo, hi] = wilson((lost / n) * nEff, nEff);
    const pi = p / (p + rr);
    expect(lo).toBeLessThanOrEqual(pi);
    expect(hi).toBeGreaterThanOrEqual(pi);
    // Burst lengths: P(L = k) = (1 - r)^(k-1) r.
    const bins = 8;
    const obs = new Array<number>(bins).fill(0);
    let run = 0;
    let bursts = 0;
    for (let i = 0; i <= n; i++) {
      if (i < n && lossFlags[i] === 1) run++;
      else if (run > 0) {
        obs[Math.min(run, bins) - 1]!++;
        bursts++;
        run = 0;
      }
    }
    const exp = obs.map((_, k) => (k < bins - 1 ? bursts * (1 - rr) ** k * rr : bursts * (1 - rr) ** (bins - 1)));
    expect(chi2(obs, exp)).toBeLessThan(chi2Critical(bins - 1));
  });

  it('ecn: an ECN-capable packet is marked CE (checksum still valid) instead of dropped; Not-ECT is dropped', () => {
    const r = rig({ loss: '100%', ecn: true, seed: 4 }, { keepBytes: true });
    r.send(1, 100, 0x02); // ECT(0)
    r.send(2, 100, 0x00); // Not-ECT
    r.engine.runUntilIdle();
    expect(r.out.map((o) => o.id)).toEqual([1]);
    const b = r.out[0]!.bytes!;
    expect(b[15]! & 3).toBe(3);
    expect(checksum(b, 14, 20)).toBe(0);
    expect(r.netem.counters.get('ecn-marked')).toBe(1);
    expect(r.netem.drops.get('loss')).toBe(1);
  });
});

describe('the count rule (loss + duplicate)', () => {
  it('loss 50% duplicate 50%: copies per packet follow 1 + dup - loss, the copy with its own loss (chi-square)', () => {
    // Per packet: dup&loss -> 1 copy; dup only -> original + a copy lost with 1/2; loss only -> 0; neither -> 1.
    // P(0) = 1/4, P(1) = 1/4 + 1/4 + 1/8 = 5/8, P(2) = 1/8. A model that drops each copy on its own gives other numbers.
    const n = 100_000;
    const r = rig({ loss: '50%', duplicate: '50%', seed: 5 });
    blast(r, n);
    const copies = new Uint8Array(n);
    for (const o of r.out) copies[o.id]!++;
    const obs = [0, 0, 0];
    for (let i = 0; i < n; i++) obs[copies[i]!]!++;
    const exp = [n / 4, (5 * n) / 8, n / 8];
    expect(chi2(obs, exp)).toBeLessThan(chi2Critical(2));
    expect(r.netem.counters.get('duplicated')).toBeGreaterThan(0);
  });
});

describe('delay', () => {
  it('delay 10ms 5ms (no table: uniform): Kolmogorov-Smirnov against U[5ms, 15ms] (N = 100k)', () => {
    const n = 100_000;
    const r = rig({ delay: '10ms', jitter: '5ms', seed: 6, limit: n }, { decisions: true, pool: n + 10, slot: 256 });
    blast(r, n);
    const d = r.decisions.filter((x) => x.d === 'delay').map((x) => x.v).sort((a, b) => a - b);
    expect(d.length).toBe(n);
    let D = 0;
    for (let i = 0; i < n; i++) {
      const F = (d[i]! - 5e6) / 10e6;
      D = Math.max(D, Math.abs((i + 1) / n - F), Math.abs(i / n - F));
    }
    expect(D).toBeLessThan(1.9495 / Math.sqrt(n));
    expect(d[0]!).toBeGreaterThanOrEqual(5e6);
    expect(d[n - 1]!).toBeLessThan(15e6);
  });

  for (const dist of ['normal', 'pareto', 'paretonormal'] as const) {
    it(`delay 100ms 10ms distribution ${dist}: quantiles inside the table's 99.9% band`, () => {
      const n = 100_000;
      const mu = 100e6;
      const sigma = 10e6;
      const r = rig({ delay: '100ms', jitter: '10ms', distribution: dist, seed: 8, limit: n }, { decisions: true, pool: n + 10, slot: 256 });
      blast(r, n);
      const d = r.decisions.filter((x) => x.d === 'delay').map((x) => x.v).sort((a, b) => a - b);
      const table = distTable(dist)!;
      const sorted = Array.from(table).sort((a, b) => a - b);
      const value = (t: number): number => {
        let x = (sigma % NETEM_DIST_SCALE) * t;
        x += x >= 0 ? 4096 : -4096;
        return Math.trunc(x / NETEM_DIST_SCALE) + Math.trunc(sigma / NETEM_DIST_SCALE) * t + mu;
      };
      for (const q of [0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) {
        const got = d[Math.floor(q * n)]!;
        const half = ALPHA_Z * Math.sqrt((q * (1 - q)) / n);
        const lo = value(sorted[Math.max(0, Math.floor((q - half) * 4096))]!);
        const hi = value(sorted[Math.min(4095, Math.ceil((q + half) * 4096))]!);
        expect(got).toBeGreaterThanOrEqual(lo);
        expect(got).toBeLessThanOrEqual(hi);
      }
    });
  }

  it('jitter larger than the packet gap reorders: delivery is in time-to-send order (the tfifo)', () => {
    const r = rig({ delay: '10ms', jitter: '5ms', seed: 9 }, { decisions: true });
    for (let i = 0; i < 200; i++) r.engine.scheduler.at(i * 1, () => r.send(i));
    r.engine.advance(300);
    expect(r.out.length).toBe(200);
    const tts = new Map(r.decisions.filter((x) => x.d === 'delay').map((x) => [x.id, x.id * 1e6 + x.v]));
    const order = r.out.map((o) => o.id);
    expect(order).toEqual([...order].sort((a, b) => tts.get(a)! - tts.get(b)! || a - b));
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
    for (const o of r.out) expect(o.t).toBe(tts.get(o.id));
  });

  it('limit: the default 1000 packets; more are dropped as limit', () => {
    const r = rig({ delay: '10ms', seed: 10 });
    for (let i = 0; i < 1500; i++) r.send(i);
    r.engine.runUntilIdle();
    expect(r.netem.qlen).toBe(1000);
    expect(r.netem.drops.get('limit')).toBe(500);
    r.engine.advance(11);
    expect(r.out.length).toBe(1000);
  });
});

describe('rate', () => {
  it('rate 10mbit 20: inter-departure exactly (len + 20) * 8 / rate in virtual time, offered at 2x (N = 100k)', () => {
    const n = 100_000;
    const len = 1000;
    const gapNs = ((len + 20) * 8 * 1e9) / 10e6; // 816000 ns
    const r = rig({ rate: '10mbit', packetOverhead: 20, seed: 11, limit: n }, { pool: n / 2 + 100, slot: 1280 });
    for (let i = 0; i < n; i++) r.engine.scheduler.at((i * gapNs) / 2 / 1e6, () => r.send(i, len));
    r.engine.advance((n * gapNs) / 1e6 + 10);
    expect(r.out.length).toBe(n);
    for (let i = 1; i < n; i++) {
      if (r.out[i]!.t - r.out[i - 1]!.t !== gapNs) expect(r.out[i]!.t - r.out[i - 1]!.t).toBe(gapNs);
    }
  });

  it('rate with cells: len + overhead rounded up to cells of (cellsize + celloverhead)', () => {
    const r = rig({ rate: '1mbit', packetOverhead: 20, cellSize: 48, cellOverhead: 5, seed: 12 });
    for (let i = 0; i < 10; i++) r.send(i, 1000);
    r.engine.advance(1000);
    const per = Math.floor((Math.ceil(1020 / 48) * 53 * 1e9) / 125000);
    for (let i = 1; i < 10; i++) expect(r.out[i]!.t - r.out[i - 1]!.t).toBe(per);
  });
});

describe('reorder', () => {
  it('reorder 100% gap 5: every 5th packet is sent at once, the others after the delay', () => {
    const r = rig({ delay: '10ms', reorder: '100%', gap: 5, seed: 13 });
    for (let i = 0; i < 50; i++) r.engine.scheduler.at(i * 0.1, () => r.send(i));
    r.engine.advance(100);
    const early = r.out.filter((o) => o.t < 10e6).map((o) => o.id);
    expect(early).toEqual([4, 9, 14, 19, 24, 29, 34, 39, 44, 49]);
    expect(r.netem.counters.get('reordered')).toBe(10);
  });

  it('reorder 25% (gap 1 by default): the reordered fraction is inside the Wilson interval (N = 100k)', () => {
    const n = 100_000;
    const r = rig({ delay: '1ms', reorder: '25%', seed: 14, limit: n }, { pool: n + 10, slot: 256 });
    blast(r, n);
    const k = r.netem.counters.get('reordered');
    const [lo, hi] = wilson(k, n);
    expect(lo).toBeLessThanOrEqual(0.25);
    expect(hi).toBeGreaterThanOrEqual(0.25);
  });
});

describe('corrupt, slot, duplicate', () => {
  it('corrupt 100%: each packet differs from the original in exactly one bit', () => {
    const r = rig({ corrupt: '100%', seed: 15 }, { keepBytes: true });
    for (let i = 0; i < 500; i++) r.send(i);
    r.engine.runUntilIdle();
    expect(r.out.length).toBe(500);
    for (const [i, o] of r.out.entries()) {
      const want = frame(i);
      let bits = 0;
      for (let j = 0; j < want.length; j++) {
        let x = want[j]! ^ o.bytes![j]!;
        while (x !== 0) { bits += x & 1; x >>= 1; }
      }
      if (bits !== 1) throw new Error(`packet ${i}: ${bits} bits differ`);
    }
  });

  it('slot 10ms packets 2: at most 2 packets per slot, slots 10ms apart', () => {
    const r = rig({ slot: { min: '10ms', max: '10ms', packets: 2 }, seed: 16 });
    for (let i = 0; i < 10; i++) r.engine.scheduler.at(1 + i * 0.1, () => r.send(i));
    r.engine.advance(100);
    const byTime = new Map<number, number>();
    for (const o of r.out) byTime.set(o.t, (byTime.get(o.t) ?? 0) + 1);
    expect(r.out.length).toBe(10);
    for (const c of byTime.values()) expect(c).toBeLessThanOrEqual(2);
    const times = [...byTime.keys()].sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(10e6);
  });

  it('a duplicate is never duplicated again (duplicate 100%: exactly two copies)', () => {
    const r = rig({ duplicate: '100%', seed: 17 });
    blast(r, 1000);
    expect(r.out.length).toBe(2000);
  });
});

describe('determinism', () => {
  const run = (): { decisions: string; bytes: Buffer } => {
    const r = rig({ delay: '5ms', jitter: '3ms', delayCorrelation: '25%', loss: '5%', lossCorrelation: '10%', duplicate: '3%', corrupt: '2%', reorder: '10%', gap: 3, rate: '50mbit', seed: 99, limit: 100_000 }, { keepBytes: true, decisions: true });
    for (let i = 0; i < 20_000; i++) r.engine.scheduler.at(i * 0.2, () => r.send(i, 60 + (i % 1400)));
    r.engine.advance(20_000 * 0.2 + 1000);
    const chunks: Buffer[] = [];
    for (const o of r.out) {
      const h = Buffer.alloc(12);
      h.writeDoubleBE(o.t, 0);
      h.writeUInt32BE(o.bytes!.length, 8);
      chunks.push(h, Buffer.from(o.bytes!));
    }
    return { decisions: r.decisions.map((d) => `${d.d}:${d.id}:${d.v}`).join(','), bytes: Buffer.concat(chunks) };
  };
  it('the same seed and input give identical decisions and byte-identical output, twice', () => {
    const a = run();
    const b = run();
    expect(a.decisions.length).toBeGreaterThan(1000);
    expect(b.decisions).toBe(a.decisions);
    expect(b.bytes.equals(a.bytes)).toBe(true);
  });
});

describe('spec: tc grammar, units, merge, tc line', () => {
  it('parses a tc line and prints it back normalised', () => {
    const spec = parseTcArgs('delay 20ms 5ms 25% distribution normal loss random 1% 25% duplicate 1% corrupt 0.1% reorder 25% 50% gap 5 rate 10mbit 20 seed 7'.split(' '));
    expect(formatTc('eth0', compileNetem(spec))).toBe(
      'tc qdisc add dev eth0 root netem limit 1000 delay 20ms 5ms 25% distribution normal loss random 1% 25% duplicate 1% reorder 25% 50% gap 5 corrupt 0.1% rate 10mbit 20 seed 7',
    );
    expect(formatTc('eth0', compileNetem(parseTcArgs('loss gemodel 1% 30% 100% 0%'.split(' '))))).toBe('tc qdisc add dev eth0 root netem limit 1000 loss gemodel 1% 30% 100% 0%');
  });
  it('rates as tc reads them: kbit is bits, kbps is BYTES (warned), bare numbers and Mbps refused', () => {
    expect(parseRate('rate', '10mbit') * 8).toBe(10_000_000);
    expect(parseRate('rate', '10Mbit') * 8).toBe(10_000_000);
    const w: string[] = [];
    expect(parseRate('rate', '100kbps', w) * 8).toBe(800_000);
    expect(w[0]).toMatch(/BYTES/);
    expect(parseRate('rate', '1MBps') * 8).toBe(8_000_000);
    expect(() => parseRate('rate', '1000')).toThrow(/rate: ambiguous rate without a unit.*"1000"/);
    expect(() => parseRate('rate', '5Gbps')).toThrow(/ambiguous unit "Gbps".*"5gbit".*"5GBps"/);
    expect(() => parseRate('rate', '5m')).toThrow(NetemError);
  });
  it("tc's own checks: reorder needs a delay, gap needs reorder, ecn needs loss, distribution needs jitter", () => {
    expect(() => compileNetem({ reorder: '10%' })).toThrow(/reorder: reordering not possible without specifying some delay/);
    expect(() => compileNetem({ delay: '1ms', gap: 3 })).toThrow(/gap specified without reorder/);
    expect(() => compileNetem({ ecn: true })).toThrow(/ecn requested without loss model/);
    expect(() => compileNetem({ delay: '10ms', distribution: 'normal' })).toThrow(/distribution specified but no latency and jitter/);
    expect(() => compileNetem({ delay: '10' })).toThrow(/delay: ambiguous time without a unit/);
    expect(() => compileNetem({ loss: '120%' })).toThrow(/loss: more than 100%/);
    expect(compileNetem({ delay: '1ms', reorder: '10%' }).gap).toBe(1);
  });
  it('merge: null removes a field, nested objects merge, one loss model replaces another', () => {
    const base: NetemSpec = { delay: '10ms', loss: '1%', lossCorrelation: '5%', slot: { min: '1ms', max: '2ms' } };
    expect(mergeNetem(base, { delay: null, lossGemodel: { p: '1%' }, slot: { max: null, packets: 3 } })).toEqual({
      lossGemodel: { p: '1%' }, slot: { min: '1ms', packets: 3 },
    });
  });
});
