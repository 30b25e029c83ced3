import { describe, expect, it } from 'vitest';
import { Rng } from '../engine/rng.js';
import { Affinity, Backends, buildHashTable, hash32, pickRandom, type SchedulerName } from './schedulers.js';

/** Critical values of the chi-square distribution at p = 0.001, by degrees of freedom. */
const CHI2_CRIT_P001 = [NaN, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588];

/** Pearson's chi-square statistic of observed counts against expected proportions. */
function chiSquare(observed: readonly number[], proportions: readonly number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  const psum = proportions.reduce((a, b) => a + b, 0);
  let x = 0;
  observed.forEach((o, i) => {
    const e = (total * proportions[i]!) / psum;
    x += ((o - e) * (o - e)) / e;
  });
  return x;
}

/** True when `observed` fits `proportions` (the test does not reject at p = 0.001). */
function fits(observed: readonly number[], proportions: readonly number[]): boolean {
  const df = observed.length - 1;
  return chiSquare(observed, proportions) < CHI2_CRIT_P001[df]!;
}

const N = 10_000;

function histogram(n: number, draws: number, pick: (k: number) => number): number[] {
  const h = new Array<number>(n).fill(0);
  for (let k = 0; k < draws; k++) {
    const i = pick(k);
    expect(i).toBeGreaterThanOrEqual(0);
    h[i]!++;
  }
  return h;
}

describe('chi-square helper', () => {
  it('accepts a fair split and rejects a skewed one', () => {
    expect(fits([2500, 2500, 2500, 2500], [1, 1, 1, 1])).toBe(true);
    expect(fits([2700, 2500, 2400, 2400], [1, 1, 1, 1])).toBe(false);
    expect(chiSquare([10, 30], [1, 1])).toBeCloseTo(10);
  });
});

describe('iptables mode: the KUBE-SVC chain', () => {
  it.each([2, 3, 5, 10])('spreads %i endpoints uniformly', (n) => {
    const rng = new Rng(42 + n);
    const h = histogram(n, N, () => pickRandom(n, rng));
    expect(fits(h, new Array<number>(n).fill(1))).toBe(true);
  });

  it('is meaningful: rules that each fire with probability 1/n (a classic mistake) fail the test', () => {
    const rng = new Rng(7);
    const n = 4;
    const wrong = (): number => {
      for (let i = 0; i < n - 1; i++) if (rng.float() < 1 / n) return i;
      return n - 1;
    };
    const h = histogram(n, N, wrong);
    expect(fits(h, [1, 1, 1, 1])).toBe(false);
  });

  it('is deterministic for a seed', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    const sa = Array.from({ length: 50 }, () => pickRandom(3, a));
    const sb = Array.from({ length: 50 }, () => pickRandom(3, b));
    expect(sa).toEqual(sb);
  });

  it('a single endpoint takes everything without drawing', () => {
    const rng = new Rng(1);
    expect(pickRandom(1, rng)).toBe(0);
  });
});

describe('IPVS schedulers', () => {
  const rng = new Rng(1);

  it('rr cycles through the servers in order, skipping weight 0', () => {
    const b = new Backends([1, 1, 0, 1]);
    expect(Array.from({ length: 6 }, () => b.pick('rr', rng, 0, 0))).toEqual([0, 1, 3, 0, 1, 3]);
    const u = new Backends([1, 1, 1, 1, 1]);
    const h = histogram(5, N, () => u.pick('rr', rng, 0, 0));
    expect(h).toEqual([2000, 2000, 2000, 2000, 2000]);
    expect(fits(h, [1, 1, 1, 1, 1])).toBe(true);
  });

  it('wrr interleaves as ip_vs_wrr does and is proportional to the weights', () => {
    const b = new Backends([3, 1, 2]);
    // cw 3: A; cw 2: A C; cw 1: A B C
    expect(Array.from({ length: 12 }, () => b.pick('wrr', rng, 0, 0))).toEqual([0, 0, 2, 0, 1, 2, 0, 0, 2, 0, 1, 2]);
    const w = [5, 1, 2, 2];
    const c = new Backends(w);
    const h = histogram(4, N, () => c.pick('wrr', rng, 0, 0));
    expect(fits(h, w)).toBe(true);
    expect(fits(h, [1, 1, 1, 1])).toBe(false);
  });

  it('wrr with gcd > 1 and a quiesced server', () => {
    const b = new Backends([4, 0, 2]);
    const h = histogram(3, 600, () => b.pick('wrr', rng, 0, 0));
    expect(h).toEqual([400, 0, 200]);
    expect(new Backends([0, 0]).pick('wrr', rng, 0, 0)).toBe(-1);
  });

  it('sh: the same client always gets the same server; clients spread by weight', () => {
    const b = new Backends([1, 1, 1, 1]);
    const client = 0x0af40102;
    const first = b.pick('sh', rng, client, 0x0a600002);
    for (let k = 0; k < 100; k++) expect(b.pick('sh', rng, client, 0x0a600002 + k)).toBe(first);
    const crng = new Rng(5);
    const h = histogram(4, N, () => b.pick('sh', rng, crng.u32(), 0x0a600002));
    expect(fits(h, [1, 1, 1, 1])).toBe(true);
    const weighted = new Backends([3, 1]);
    const hw = histogram(2, N, () => weighted.pick('sh', rng, crng.u32(), 0));
    expect(fits(hw, [3, 1])).toBe(true);
  });

  it('sh hashes like the kernel: hash_32 with the golden ratio into 256 buckets', () => {
    expect(hash32(0)).toBe(0);
    expect(hash32(1)).toBe(0x61c88647 >>> 24);
    const t = buildHashTable([2, 1]);
    expect(Array.from(t.subarray(0, 6))).toEqual([0, 0, 1, 0, 0, 1]);
  });

  it('dh: the same destination always gets the same server', () => {
    const b = new Backends([1, 1, 1]);
    const first = b.pick('dh', rng, 1, 0x0a600002);
    const crng = new Rng(3);
    for (let k = 0; k < 200; k++) expect(b.pick('dh', rng, crng.u32(), 0x0a600002)).toBe(first);
  });

  it('lc follows the load: new connections fill the least loaded servers first', () => {
    const b = new Backends([1, 1, 1]);
    b.active[0] = 5;
    b.active[2] = 3;
    const picks: number[] = [];
    for (let k = 0; k < 6; k++) {
      const i = b.pick('lc', rng, 0, 0);
      b.acquire(i);
      picks.push(i);
    }
    expect(picks).toEqual([1, 1, 1, 1, 2, 1]);
    expect(b.active).toEqual([5, 5, 4]);
    b.release(0);
    b.release(0);
    expect(b.pick('lc', rng, 0, 0)).toBe(0);
  });

  it('wlc keeps active/weight level: connections end up proportional to the weights', () => {
    const w = [1, 2, 5];
    const b = new Backends(w);
    for (let k = 0; k < 800; k++) b.acquire(b.pick('wlc', rng, 0, 0));
    expect(b.active).toEqual([100, 200, 500]);
  });

  it('sed prefers the heavy server even when a light one is idle; nq sends to the idle one', () => {
    const b = new Backends([1, 10]);
    b.active[1] = 1;
    expect(b.pick('sed', rng, 0, 0)).toBe(1); // (0+1)/1 = 1 > (1+1)/10 = 0.2
    expect(b.pick('nq', rng, 0, 0)).toBe(0); // server 0 is idle
    b.active[0] = 1;
    expect(b.pick('nq', rng, 0, 0)).toBe(1); // nobody idle: sed
  });

  it('lc, wlc, sed and nq follow load over 10,000 connections with releases', () => {
    // Equal weights, connections that end at random: a load-following scheduler keeps the
    // active counts level (never more than 1 apart after a pick) and never picks the pre-loaded server.
    // (Not a chi-square test: ties go to the first server, as in the kernel, so the choice
    // is deterministic, not a random draw.)
    for (const s of ['lc', 'sed', 'nq', 'wlc'] as SchedulerName[]) {
      const b = new Backends([1, 1, 1, 1]);
      b.active[0] = 50; // pre-loaded, never released
      const open: number[] = [];
      const h = [0, 0, 0, 0];
      const lrng = new Rng(11);
      let worstSpread = 0;
      for (let k = 0; k < N; k++) {
        const i = b.pick(s, lrng, 0, 0);
        b.acquire(i);
        h[i]!++;
        open.push(i);
        const rest = b.active.slice(1);
        worstSpread = Math.max(worstSpread, Math.max(...rest) - Math.min(...rest));
        if (open.length > 40) b.release(open.splice(lrng.int(open.length), 1)[0]!);
      }
      expect(h[0], s).toBe(0);
      expect(worstSpread, s).toBeLessThanOrEqual(1);
      // Compare: the load-blind rr would have sent a quarter of them to the busy server.
      expect(Math.min(...h.slice(1)), s).toBeGreaterThan(N / 5);
    }
  });

  it('release never goes below zero; empty backends pick nothing', () => {
    const b = new Backends([1]);
    b.release(0);
    expect(b.active).toEqual([0]);
    expect(new Backends([]).pick('rr', rng, 0, 0)).toBe(-1);
    expect(new Backends([]).pick('random', rng, 0, 0)).toBe(-1);
  });
});

describe('ClientIP session affinity', () => {
  const TIMEOUT = 10_800_000;

  it('sticks until the timeout since the last use, then the choice is free again', () => {
    const aff = new Affinity(TIMEOUT);
    const rng = new Rng(21);
    const endpoints = 4;
    const choose = (client: number, now: number): number => {
      const k = aff.lookup(client, now);
      const i = k >= 0 ? k : pickRandom(endpoints, rng);
      aff.record(client, i, now);
      return i;
    };
    const client = 0x0af40102;
    const first = choose(client, 0);
    // Within the timeout, refreshed by every use: 100 connections an hour apart stay put.
    for (let h = 1; h <= 100; h++) expect(choose(client, h * 3_600_000)).toBe(first);
    // Exactly the timeout after the last use still matches; just after, the entry is gone.
    const last = 100 * 3_600_000;
    expect(aff.lookup(client, last + TIMEOUT)).toBe(first);
    expect(aff.lookup(client, last + TIMEOUT + 1)).toBe(-1);
    // Free again: many clients whose entries expired spread uniformly over the endpoints.
    const h = [0, 0, 0, 0];
    let now = 0;
    for (let k = 0; k < N; k++) {
      now += TIMEOUT + 1; // each connection comes after the previous affinity expired
      h[choose(client, now)]!++;
    }
    expect(fits(h, [1, 1, 1, 1])).toBe(true);
  });

  it('different clients stick independently; forgetKey drops an endpoint', () => {
    const aff = new Affinity(1000);
    aff.record(1, 7, 0);
    aff.record(2, 8, 0);
    expect(aff.lookup(1, 500)).toBe(7);
    expect(aff.lookup(2, 500)).toBe(8);
    aff.forgetKey(7);
    expect(aff.lookup(1, 500)).toBe(-1);
    expect(aff.size).toBe(1);
  });
});
