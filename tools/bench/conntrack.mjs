/**
 * Conntrack figures (issue "services"): the table of src/netfilter/conntrack.ts alone.
 *
 *   conntrack.lookup.1k / .100k / .1M   lookups of existing entries (a hit every time) in
 *                                       a table with capacity N holding N live UDP entries
 *                                       (Mops/s); measured interleaved
 *   conntrack.lookup.cost-1M/1k         time per lookup at 1M over time per lookup at 1k,
 *                                       the median of per-round ratios (flat = 1.0)
 *   conntrack.bytes-per-entry.1M        process.memoryUsage().arrayBuffers growth when a
 *                                       table of capacity 1M is filled with 1M live entries,
 *                                       over the capacity (storage grows on demand)
 *
 * Entries: original tuple (10.x.y.z:sport -> VIP 10.96.0.2:5001), reply tuple
 * (10.244.2.2:5001 -> 10.x.y.z:sport), the source a bijective scramble of the entry
 * number (so tuples are distinct and random-ish) and computed, not loaded, at lookup time.
 * Lookups visit the entries in a strided order (stride ~0.618 N, coprime to N), so each
 * lookup lands somewhere else in the index, as traffic of many flows would.
 */
import { collectGarbage } from './harness.mjs';

const dist = new URL('../../dist/', import.meta.url);

const UDP = 17;
const VIP = 0x0a600002;
const EP = 0x0af40202;
const PORT = 5001;
const SIZES = [['1k', 1_000], ['100k', 100_000], ['1M', 1_000_000]];

const BURSTS = [['1k', 1_000], ['1M', 1_000_000]];
const BURST = 64;

export const NAMES = [
  ...SIZES.map(([l]) => `conntrack.lookup.${l}`), 'conntrack.lookup.cost-1M/1k', 'conntrack.bytes-per-entry.1M',
  ...BURSTS.map(([l]) => `conntrack.lookup-burst.${l}`), 'conntrack.lookup-burst.cost-1M/1k', 'conntrack.lookup-burst.1M-vs-lookup.1k',
];

/** A bijection of [0, 2^24): multiply by an odd constant, xorshift, again. */
function scramble24(k) {
  let x = Math.imul(k, 0x9e3779b1) & 0xffffff;
  x ^= x >>> 11;
  x = Math.imul(x, 0x2c1b3c6d) & 0xffffff;
  x ^= x >>> 13;
  return x;
}
const srcOf = (k) => (0x0a000000 | scramble24(k)) >>> 0;
const sportOf = (k) => 1024 + (Math.imul(k, 0x85ebca6b) >>> 17);

function fill(table, n) {
  for (let k = 0; k < n; k++) {
    const s = srcOf(k);
    const sp = sportOf(k);
    if (table.create(UDP, s, VIP, sp, PORT, EP, s, PORT, sp, 0) < 0) throw new Error(`conntrack fill: table full at ${k} of ${n}`);
  }
}

function gcd(a, b) {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export async function benchmarks() {
  let ConntrackTable, ConntrackBurst;
  try {
    ({ ConntrackTable, ConntrackBurst } = await import(new URL('netfilter/conntrack.js', dist).href));
  } catch (e) {
    const reason = `dist/netfilter/conntrack.js does not load (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  let kept1M = null;
  const out = [];
  let lastBytes = null;
  out.push({
    static: 'conntrack.bytes-per-entry.1M', unit: 'B',
    compute() {
      collectGarbage();
      const before = process.memoryUsage().arrayBuffers;
      const t = new ConntrackTable({ capacity: 1_000_000 });
      fill(t, 1_000_000); // storage grows with the entries: measure it full
      collectGarbage(); // the buffers it outgrew
      const grown = process.memoryUsage().arrayBuffers - before;
      kept1M = t;
      lastBytes = grown;
      return grown / t.capacity;
    },
    detail: () => ({ arrayBuffersDelta: lastBytes, capacity: 1_000_000 }),
  });
  const group = SIZES.map(([label, n]) => ({
    name: `conntrack.lookup.${label}`, unit: 'Mops/s',
    setup() {
      let t;
      if (n === 1_000_000 && kept1M !== null) t = kept1M;
      else t = new ConntrackTable({ capacity: n });
      kept1M = null;
      fill(t, n);
      let stride = Math.floor(n * 0.618);
      while (gcd(stride, n) !== 1) stride--;
      let k = 0;
      let acc = 0;
      return {
        step(ops) {
          let misses = 0;
          for (let i = 0; i < ops; i++) {
            k += stride;
            if (k >= n) k -= n;
            const v = t.lookup(UDP, srcOf(k), VIP, sportOf(k), PORT, 0);
            if (v < 0) misses++;
            else acc += v;
          }
          if (misses !== 0) throw new Error(`conntrack.lookup.${label}: ${misses} of ${ops} lookups missed`);
          return ops;
        },
        report: () => ({ entries: t.count, capacity: t.capacity, checksum: acc % 1e9 }),
        teardown() {
          t = null;
        },
      };
    },
  }));
  // lookupBurst (conntrack-batch.ts): the same lookups, BURST tuples per call.
  const burstGroup = ConntrackBurst === undefined ? [] : BURSTS.map(([label, n]) => ({
    name: `conntrack.lookup-burst.${label}`, unit: 'Mops/s',
    setup() {
      let t = new ConntrackTable({ capacity: n });
      fill(t, n);
      const b = new ConntrackBurst(BURST);
      let stride = Math.floor(n * 0.618);
      while (gcd(stride, n) !== 1) stride--;
      let k = 0;
      let acc = 0;
      return {
        step(bursts) {
          let misses = 0;
          for (let r = 0; r < bursts; r++) {
            for (let i = 0; i < BURST; i++) {
              k += stride;
              if (k >= n) k -= n;
              b.set(i, UDP, srcOf(k), VIP, sportOf(k), PORT);
            }
            t.lookupBurst(b, BURST, 0);
            for (let i = 0; i < BURST; i++) {
              const v = b.result[i];
              if (v < 0) misses++;
              else acc += v;
            }
          }
          if (misses !== 0) throw new Error(`conntrack.lookup-burst.${label}: ${misses} lookups missed`);
          return bursts * BURST;
        },
        report: () => ({ entries: t.count, capacity: t.capacity, burst: BURST, checksum: acc % 1e9 }),
        teardown() {
          t = null;
        },
      };
    },
  }));
  out.push({
    group: [...group, ...burstGroup],
    ratios: [
      { name: 'conntrack.lookup.cost-1M/1k', of: 'conntrack.lookup.1M', to: 'conntrack.lookup.1k', cost: true },
      ...(burstGroup.length === 0 ? [] : [
        { name: 'conntrack.lookup-burst.cost-1M/1k', of: 'conntrack.lookup-burst.1M', to: 'conntrack.lookup-burst.1k', cost: true },
        // Rate over rate, inverted: time per lookup in a 1M burst over time per single lookup at 1k.
        { name: 'conntrack.lookup-burst.1M-vs-lookup.1k', of: 'conntrack.lookup.1k', to: 'conntrack.lookup-burst.1M' },
      ]),
    ],
  });
  return out;
}
