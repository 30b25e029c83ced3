import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine } from './engine.js';
import { Link } from './link.js';
import type { Packet } from './packet.js';

describe('Link ring growth', () => {
  it('queues in FIFO order and drops only beyond capacity while the ring grows (against an array queue)', () => {
    const e = new Engine({ seed: 1 });
    fc.assert(fc.property(
      fc.constantFrom(1, 3, 16, 17, 64, 100),
      fc.array(fc.integer({ min: -40, max: 60 }), { maxLength: 40 }),
      (capacity, ops) => {
        const link = new Link(e, 'l', capacity);
        const model: Packet[] = [];
        let drops = 0;
        for (const op of ops) {
          if (op >= 0) {
            for (let i = 0; i < op; i++) {
              const p = e.pool.alloc();
              if (p === null) throw new Error('pool exhausted');
              if (model.length < link.capacity) model.push(p);
              else drops++;
              link.transmit(p);
            }
          } else {
            for (let i = 0; i < -op; i++) {
              const got = link.receive();
              const want = model.shift() ?? null;
              expect(got).toBe(want);
              if (got !== null) e.pool.free(got);
            }
          }
          expect(link.size).toBe(model.length);
        }
        expect(link.drops).toBe(drops);
        link.flush();
      },
    ), { numRuns: 200 });
  });
});
