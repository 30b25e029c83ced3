/**
 * Endpoint choice for one virtual service port (one IPVS virtual server, or one iptables
 * KUBE-SVC chain), as the kernel makes it on every NEW connection. Pure: state lives in a
 * `Backends` object, randomness comes from a seeded `Rng`, time is passed in.
 *
 * - `random` (iptables mode): the KUBE-SVC chain, literally. Rule i of n (0-based) jumps
 *   to its KUBE-SEP with `-m statistic --mode random --probability 1/(n-i)`, the last rule
 *   jumps unconditionally; every endpoint ends up with probability 1/n.
 * - IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c), over the active-connection counts:
 *   `rr` round robin; `wrr` weighted round robin, interleaved as ip_vs_wrr.c does (current
 *   weight stepping down by the gcd of the weights); `lc` least connections; `wlc` least
 *   active/weight; `sh` / `dh` source / destination hashing into a 256-bucket table filled
 *   by weight (hash_32 with the golden ratio, as ip_vs_sh.c); `sed` shortest expected delay
 *   (active+1)/weight; `nq` never queue: an idle server first, else sed.
 *   A server of weight 0 is quiesced: it gets no new connections (IPVS semantics).
 * - `Affinity`: sessionAffinity ClientIP (iptables `-m recent --rcheck --seconds T --reap`
 *   then `--set`): a client sticks to its endpoint until T seconds pass since its last new
 *   connection, then it is a free choice again.
 *
 * Ties in lc/wlc/sed/nq go to the first server in list order, as the kernel's list walk does.
 */
import type { Rng } from '../engine/rng.js';
import type { IpvsScheduler } from './types.js';

export type SchedulerName = 'random' | IpvsScheduler;

/** IPVS's source/destination hash table size (IP_VS_SH_TAB_BITS 8). */
const HASH_BITS = 8;
const HASH_SIZE = 1 << HASH_BITS;
/** GOLDEN_RATIO_32 of include/linux/hash.h. */
const GOLDEN_RATIO_32 = 0x61c88647;
const LC = 0;
const WLC = 1;
const SED = 2;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** hash_32(val, bits) of include/linux/hash.h. */
export function hash32(v: number, bits = HASH_BITS): number {
  return Math.imul(v >>> 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

/**
 * The servers of one virtual service: weights and active-connection counts by index, plus
 * each scheduler's own state (round-robin position, wrr current weight, hash table).
 */
export class Backends {
  readonly weights: number[];
  readonly active: number[];
  /** rr / wrr: index of the last server chosen (-1 before the first). */
  private last = -1;
  /** wrr: current weight, max weight, gcd of the weights. */
  private cw = 0;
  private readonly mw: number;
  private readonly di: number;
  /** sh / dh: bucket -> server index (-1 when every weight is 0). */
  private table: Int32Array | null = null;

  constructor(weights: readonly number[]) {
    this.weights = weights.map((w) => Math.max(0, Math.floor(w)));
    this.active = this.weights.map(() => 0);
    this.mw = this.weights.reduce((m, w) => Math.max(m, w), 0);
    this.di = this.weights.reduce((g, w) => (w > 0 ? gcd(g, w) : g), 0) || 1;
  }

  get size(): number {
    return this.weights.length;
  }

  /** A new connection went to server i. */
  acquire(i: number): void {
    if (i >= 0 && i < this.active.length) this.active[i]!++;
  }

  /** A connection of server i ended (conntrack entry gone). */
  release(i: number): void {
    if (i >= 0 && i < this.active.length && this.active[i]! > 0) this.active[i]!--;
  }

  /**
   * The server for a NEW connection from `src` to `dst`, or -1 when there is none (no
   * servers, or every weight 0 for the IPVS schedulers). Does not count the connection:
   * call `acquire` once it is committed.
   */
  pick(s: SchedulerName, rng: Rng, src: number, dst: number): number {
    const n = this.weights.length;
    if (n === 0) return -1;
    switch (s) {
      case 'random': return pickRandom(n, rng);
      case 'rr': return this.rr();
      case 'wrr': return this.wrr();
      case 'lc': return this.least(LC);
      case 'wlc': return this.least(WLC);
      case 'sed': return this.least(SED);
      case 'nq': {
        for (let i = 0; i < n; i++) if (this.weights[i]! > 0 && this.active[i] === 0) return i;
        return this.least(SED);
      }
      case 'sh': return this.hashed(src);
      case 'dh': return this.hashed(dst);
    }
  }

  private rr(): number {
    const n = this.weights.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.last + k) % n;
      if (this.weights[i]! > 0) {
        this.last = i;
        return i;
      }
    }
    return -1;
  }

  /** ip_vs_wrr_schedule: step through the list; on wrapping, lower the current weight by the gcd. */
  private wrr(): number {
    const n = this.weights.length;
    if (this.mw === 0) return -1;
    for (let guard = 0; guard < n * (this.mw / this.di + 1) + 1; guard++) {
      this.last = (this.last + 1) % n;
      if (this.last === 0) {
        this.cw -= this.di;
        if (this.cw <= 0) this.cw = this.mw;
      }
      if (this.weights[this.last]! >= this.cw) return this.last;
    }
    return -1;
  }

  /** The server with the lowest cost among those with weight > 0 (ties: the first). */
  private least(kind: number): number {
    let best = -1;
    let bestCost = Infinity;
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      if (w === 0) continue;
      const a = this.active[i]!;
      const c = kind === LC ? a : kind === WLC ? a / w : (a + 1) / w;
      if (c < bestCost) {
        best = i;
        bestCost = c;
      }
    }
    return best;
  }

  private hashed(key: number): number {
    if (this.table === null) this.table = buildHashTable(this.weights);
    return this.table[hash32(key)]!;
  }
}

/** The KUBE-SVC chain: rule i matches with probability 1/(n-i); the last rule always does. */
export function pickRandom(n: number, rng: Rng): number {
  for (let i = 0; i < n - 1; i++) {
    if (rng.float() < 1 / (n - i)) return i;
  }
  return n - 1;
}

/**
 * ip_vs_sh_reassign: walk the buckets, giving each server `weight` consecutive buckets in
 * turn (servers of weight 0 are skipped), round and round until the table is full.
 */
export function buildHashTable(weights: readonly number[]): Int32Array {
  const t = new Int32Array(HASH_SIZE).fill(-1);
  const live = weights.map((w, i) => ({ w, i })).filter((x) => x.w > 0);
  if (live.length === 0) return t;
  let k = 0;
  let used = 0;
  for (let b = 0; b < HASH_SIZE; b++) {
    const s = live[k]!;
    t[b] = s.i;
    if (++used >= s.w) {
      used = 0;
      k = (k + 1) % live.length;
    }
  }
  return t;
}

/**
 * ClientIP session affinity for one service port: client address -> (endpoint key, last
 * use). Keys are whatever identifies an endpoint to the caller (here `ip * 65536 + port`),
 * so an affinity survives endpoint changes and is ignored once its endpoint is gone.
 */
export class Affinity {
  private readonly entries = new Map<number, { key: number; last: number }>();

  constructor(readonly timeoutMs: number) {}

  /** The endpoint key `client` sticks to at `now`, or -1 (none, or expired: then forgotten). */
  lookup(client: number, now: number): number {
    const e = this.entries.get(client);
    if (e === undefined) return -1;
    if (now - e.last > this.timeoutMs) {
      this.entries.delete(client);
      return -1;
    }
    return e.key;
  }

  /** Records (or refreshes) `client` -> `key` at `now`. */
  record(client: number, key: number, now: number): void {
    const e = this.entries.get(client);
    if (e !== undefined) {
      e.key = key;
      e.last = now;
    } else {
      this.entries.set(client, { key, last: now });
    }
  }

  /** Forgets every client stuck to `key` (the endpoint went away). */
  forgetKey(key: number): void {
    for (const [c, e] of this.entries) if (e.key === key) this.entries.delete(c);
  }

  get size(): number {
    return this.entries.size;
  }
}
