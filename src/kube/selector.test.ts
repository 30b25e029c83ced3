import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PodIndex, selectorMatches } from './selector.js';

const label = fc.constantFrom('app', 'tier', 'k8s-app', 'toString', '__proto__');
const value = fc.constantFrom('a', 'b', 'c', '');
const labels = fc.dictionary(label, value, { maxKeys: 3 });

describe('PodIndex', () => {
  it('selects exactly what filtering every pod selects, in pod order (against the naive filter)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ name: fc.string(), namespace: fc.constantFrom('default', 'kube-system', 'x'), labels }), { maxLength: 60 }),
      fc.array(fc.tuple(fc.constantFrom('default', 'kube-system', 'x', 'none'), labels), { minLength: 1, maxLength: 20 }),
      (pods, queries) => {
        const index = new PodIndex(pods);
        for (const [ns, selector] of queries) {
          const naive = pods.filter((p) => p.namespace === ns && selectorMatches(selector, p.labels));
          const got = index.select(ns, selector);
          expect(got).toHaveLength(naive.length);
          got.forEach((p, i) => expect(p).toBe(naive[i]));
          expect([...index.inNamespace(ns)]).toEqual(pods.filter((p) => p.namespace === ns));
        }
      },
    ), { numRuns: 300 });
  });

  it('selects nothing with an empty selector', () => {
    const index = new PodIndex([{ namespace: 'default', labels: { app: 'a' } }]);
    expect(index.select('default', {})).toEqual([]);
  });
});
