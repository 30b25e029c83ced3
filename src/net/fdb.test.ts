import { describe, expect, it } from 'vitest';
import { Fdb } from './fdb.js';

const M1 = 0x0242_0af4_0102;
const M2 = 0x0242_0af4_0103;
const M3 = 0x0242_0af4_0104;

describe('Fdb', () => {
  it('learns, looks up and misses unknown MACs', () => {
    const f = new Fdb();
    expect(f.ageingMs).toBe(300_000);
    expect(f.lookup(M1, 0)).toBe(-1);
    f.learn(M1, 3, 0);
    f.learn(M2, 5, 0);
    expect(f.size).toBe(2);
    expect(f.lookup(M1, 10)).toBe(3);
    expect(f.lookup(M2, 10)).toBe(5);
    expect(f.lookup(M3, 10)).toBe(-1);
  });

  it('ages dynamic entries at 300 s like Linux: 299 s hit, 300 s and 301 s miss (and removed)', () => {
    const f = new Fdb();
    f.learn(M1, 1, 1000);
    expect(f.lookup(M1, 1000 + 299_000)).toBe(1);
    expect(f.lookup(M1, 1000 + 301_000)).toBe(-1);
    expect(f.size).toBe(0);
    f.learn(M2, 1, 0);
    expect(f.lookup(M2, 300_000)).toBe(-1);
  });

  it('refreshing an entry restarts its ageing; a MAC that moves follows to the new port', () => {
    const f = new Fdb({ ageingMs: 1000 });
    f.learn(M1, 1, 0);
    f.learn(M1, 1, 900);
    expect(f.lookup(M1, 1800)).toBe(1);
    f.learn(M1, 4, 1850);
    expect(f.lookup(M1, 1900)).toBe(4);
    expect(f.size).toBe(1);
  });

  it('static entries never age and are not moved by learning', () => {
    const f = new Fdb({ ageingMs: 1000 });
    f.addStatic(M1, 7);
    f.learn(M1, 2, 5);
    expect(f.lookup(M1, 10_000_000)).toBe(7);
    expect(f.entries(50)).toEqual([{ mac: M1, port: 7, ageMs: 0, isStatic: true }]);
    expect(f.remove(M1)).toBe(true);
    expect(f.remove(M1)).toBe(false);
    expect(f.lookup(M1, 0)).toBe(-1);
  });

  it('counts overflow when full, and makes room from expired entries', () => {
    const f = new Fdb({ capacity: 2, ageingMs: 1000 });
    f.learn(M1, 1, 0);
    f.learn(M2, 1, 0);
    f.learn(M3, 1, 10);
    expect(f.overflow).toBe(1);
    expect(f.lookup(M3, 10)).toBe(-1);
    // refreshing an existing MAC is never refused
    f.learn(M1, 2, 20);
    expect(f.overflow).toBe(1);
    expect(f.lookup(M1, 20)).toBe(2);
    // once M2 expired (M1 was refreshed at 20), M3 fits
    f.learn(M3, 3, 1005);
    expect(f.overflow).toBe(1);
    expect(f.lookup(M3, 1005)).toBe(3);
    expect(f.lookup(M1, 1005)).toBe(2);
    expect(f.size).toBe(2);
    expect(() => f.addStatic(0x0a, 1)).toThrow(/fdb full.*00:00:00:00:00:0a/);
  });

  it('flushPort removes dynamic and static entries of that port only', () => {
    const f = new Fdb();
    f.learn(M1, 1, 0);
    f.addStatic(M2, 1);
    f.learn(M3, 2, 0);
    expect(f.flushPort(1)).toBe(2);
    expect(f.size).toBe(1);
    expect(f.lookup(M3, 0)).toBe(2);
    expect(f.flushPort(1)).toBe(0);
  });

  it('reuses slots: many learn/expire cycles never overflow a small table', () => {
    const f = new Fdb({ capacity: 4, ageingMs: 10 });
    for (let i = 0; i < 1000; i++) {
      const now = i * 20;
      f.learn(0x0200_0000_0000 + i, i % 3, now);
      expect(f.lookup(0x0200_0000_0000 + i, now)).toBe(i % 3);
    }
    expect(f.overflow).toBe(0);
  });

  it('entries() lists live entries sorted by MAC with their age', () => {
    const f = new Fdb({ ageingMs: 1000 });
    f.learn(M2, 2, 100);
    f.learn(M1, 1, 0);
    f.learn(M3, 3, 0);
    f.learn(M3, 3, 500);
    expect(f.entries(1050)).toEqual([
      { mac: M2, port: 2, ageMs: 950, isStatic: false },
      { mac: M3, port: 3, ageMs: 550, isStatic: false },
    ]);
  });
});
