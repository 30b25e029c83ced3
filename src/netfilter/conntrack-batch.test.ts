import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConntrackBurst, ConntrackTable } from './conntrack.js';

const TCP = 6, UDP = 17;

describe('ConntrackTable.lookupBurst', () => {
  it('answers exactly as lookup, tuple by tuple: hits in both directions, misses, expired entries (against lookup)', () => {
    const tuple = fc.tuple(fc.constantFrom(TCP, UDP), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }));
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.tuple(tuple, fc.integer({ min: 0, max: 40 })), { maxLength: 80 }),
      fc.array(fc.tuple(tuple, fc.boolean()), { minLength: 1, maxLength: 64 }),
      fc.integer({ min: 0, max: 40_000 }),
      (cap, creates, queries, now) => {
        // Two identical tables: one answers by lookup, the other by lookupBurst (both reclaim expired hits).
        const a = new ConntrackTable({ capacity: cap });
        const b = new ConntrackTable({ capacity: cap });
        const addr = (k: number): number => (0x0af40000 + k) >>> 0; // 10.244.0.k
        for (const [[p, s, d, sp, dp], at] of creates) {
          const t = [p, addr(s), addr(d), sp, dp] as const;
          if (a.inUse(...t, 0) || a.inUse(p, addr(d), addr(s), dp, sp, 0)) continue;
          const ea = a.create(...t, addr(d), addr(s), dp, sp, at * 1000);
          const eb = b.create(...t, addr(d), addr(s), dp, sp, at * 1000);
          expect(eb).toBe(ea);
        }
        const burst = new ConntrackBurst(64);
        queries.forEach(([[p, s, d, sp, dp], reply], i) => {
          if (reply) burst.set(i, p, addr(d) | 0x80000000, addr(s), dp, sp); // high bit: addresses >= 2^31 too
          else burst.set(i, p, addr(s), addr(d), sp, dp);
        });
        b.lookupBurst(burst, queries.length, now);
        queries.forEach((_, i) => {
          const want = a.lookup(burst.proto[i]!, burst.src[i]!, burst.dst[i]!, burst.sport[i]!, burst.dport[i]!, now);
          expect(burst.result[i]).toBe(want);
        });
        expect(b.stats).toEqual(a.stats);
        expect(b.count).toBe(a.count);
      },
    ), { numRuns: 300 });
  });

  it('finds every entry of a table with long probe runs (many keys per home slot)', () => {
    const t = new ConntrackTable({ capacity: 2000 });
    for (let k = 0; k < 2000; k++) t.create(UDP, 0xc0a80000 + k, 0x0a600001, 1000, 53, 0x0af40002, 0xc0a80000 + k, 53, 1000, 0);
    const b = new ConntrackBurst(250);
    for (let base = 0; base < 2000; base += 250) {
      for (let i = 0; i < 250; i++) b.set(i, UDP, 0x0af40002, 0xc0a80000 + base + i, 53, 1000);
      t.lookupBurst(b, 250, 0);
      for (let i = 0; i < 250; i++) expect(b.result[i]).toBe(((base + i) << 1) | 1);
    }
  });
});
