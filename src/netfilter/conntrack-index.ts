/**
 * The hash index of the conntrack table: open addressing with linear probing over a
 * power-of-two number of slots, each a pair of int32 in one Int32Array: the value
 * (`entry << 1 | dir`, -1 empty) and the key's 32-bit hash (compared before the tuple).
 * Deletion shifts the rest of the probe run back (no tombstones), so probe lengths depend
 * on the load factor only, never on history.
 *
 * The index does not know the tuples: the table probes `tab` itself and compares the
 * candidates with its entry rows (conntrack.ts `find`).
 */

/** Murmur3-style mix of a 5-tuple into 32 bits (addresses as uint32, ports 16 bits). */
export function hash5(proto: number, src: number, dst: number, sport: number, dport: number): number {
  let h = Math.imul(src ^ 0x9e3779b9, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ dst, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h ^ ((sport << 16) | dport), 0x85ebca6b) ^ proto;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class TupleIndex {
  /** Slot i is tab[2i] (value: entry << 1 | dir, or -1) and tab[2i + 1] (the key's hash, as int32): one cache line per probe. */
  readonly tab: Int32Array;
  /** Slots - 1 (a power of two minus one). */
  readonly mask: number;

  /** An index for `keys` keys at a load factor of at most 0.5. */
  constructor(keys: number) {
    let size = 8;
    while (size < keys * 2) size *= 2;
    this.tab = new Int32Array(size * 2).fill(-1);
    this.mask = size - 1;
  }

  insert(h: number, v: number): void {
    const mask = this.mask;
    const tab = this.tab;
    let i = h & mask;
    while (tab[i << 1] !== -1) i = (i + 1) & mask;
    tab[i << 1] = v;
    tab[(i << 1) + 1] = h;
  }

  /** Inserts every key of `other` (a smaller index being outgrown). */
  insertAll(other: TupleIndex): void {
    const t = other.tab;
    for (let i = 0; i < t.length; i += 2) if (t[i] !== -1) this.insert(t[i + 1]! >>> 0, t[i]!);
  }

  /** Removes the slot holding `v`, found from its hash; shifts later keys of the run back. */
  remove(h: number, v: number): void {
    const mask = this.mask;
    const tab = this.tab;
    let i = h & mask;
    while (tab[i << 1] !== v) {
      if (tab[i << 1] === -1) return; // not indexed: nothing to remove
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const w = tab[j << 1]!;
      if (w === -1) break;
      const hj = tab[(j << 1) + 1]!;
      const k = hj & mask;
      // Leave w where it is when its home slot k lies cyclically in (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      tab[i << 1] = w;
      tab[(i << 1) + 1] = hj;
      i = j;
    }
    tab[i << 1] = -1;
  }

  /** Keys held, and how far they sit past their home slots (tests: probe lengths stay short). */
  probeStats(): { keys: number; slots: number; totalDisplacement: number; maxDisplacement: number } {
    let keys = 0, total = 0, max = 0;
    for (let i = 0; i <= this.mask; i++) {
      if (this.tab[i << 1] === -1) continue;
      keys++;
      const d = (i - (this.tab[(i << 1) + 1]! & this.mask)) & this.mask;
      total += d;
      if (d > max) max = d;
    }
    return { keys, slots: this.mask + 1, totalDisplacement: total, maxDisplacement: max };
  }
}
