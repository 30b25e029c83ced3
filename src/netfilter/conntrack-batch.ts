/**
 * Batched conntrack lookups (`ConntrackTable.lookupBurst`): the tuples of a burst of
 * packets go in, the entries (`entry << 1 | dir`, or -1) come out.
 *
 * Why: at 1M entries the table (~84 MB) is far larger than the caches, so one lookup waits
 * for two dependent memory loads (the index slot, then the entry row), each likely a cache
 * and TLB miss. One at a time, the CPU has little else to do meanwhile. Over a burst the
 * loads of different packets are independent: `findBurst` first hashes every tuple and
 * reads its home index slot (pass 1), then reads the rows those slots point to (pass 2),
 * so the out-of-order core keeps many misses in flight at once (memory-level parallelism)
 * instead of paying them back to back. The rare key not at its home slot, or a hash
 * collision, finishes with the ordinary probe loop. Nothing is allocated per call.
 */

/** Input and output buffers of one burst (reused: fill the first n tuples, call, read `result`). */
export class ConntrackBurst {
  readonly proto: Uint8Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  /** entry << 1 | dir, or -1 (no live, unexpired entry). */
  readonly result: Int32Array;
  /** Per tuple: its hash (pass 1). */
  readonly hash: Int32Array;

  constructor(readonly size = 256) {
    this.proto = new Uint8Array(size);
    this.src = new Uint32Array(size);
    this.dst = new Uint32Array(size);
    this.sport = new Uint16Array(size);
    this.dport = new Uint16Array(size);
    this.result = new Int32Array(size);
    this.hash = new Int32Array(size);
  }

  /** Sets tuple i. */
  set(i: number, proto: number, src: number, dst: number, sport: number, dport: number): void {
    this.proto[i] = proto;
    this.src[i] = src;
    this.dst[i] = dst;
    this.sport[i] = sport;
    this.dport[i] = dport;
  }
}

/**
 * Finds the first n tuples of `b` in the index `tab` (value/hash int32 pairs, `mask` + 1
 * slots) over rows of `w` words whose original tuple starts at word 0, reply tuple at word
 * `rOff`, protocol at byte `bProto` of the row. Writes `b.result` (expiry is the caller's).
 */
export function findBurst(
  b: ConntrackBurst, n: number, tab: Int32Array, mask: number, row: Uint32Array, rowB: Uint8Array,
  w: number, rOff: number, bProto: number, hash5: (p: number, s: number, d: number, sp: number, dp: number) => number,
): void {
  const res = b.result;
  const hs = b.hash;
  // Pass 1: hash, and the value at the home slot when its hash matches (-2: probe later).
  for (let i = 0; i < n; i++) {
    const h = hash5(b.proto[i]!, b.src[i]!, b.dst[i]!, b.sport[i]!, b.dport[i]!) | 0;
    hs[i] = h;
    const s = (h & mask) << 1;
    const v = tab[s]!;
    res[i] = v === -1 ? -1 : tab[s + 1] === h ? v : -2;
  }
  // Pass 2: compare the rows; misses and collisions take the probe loop.
  for (let i = 0; i < n; i++) {
    const v = res[i]!;
    if (v === -1) continue;
    const ports = ((b.sport[i]! << 16) | b.dport[i]!) >>> 0;
    if (v >= 0) {
      const e = v >> 1;
      const o = e * w + ((v & 1) === 0 ? 0 : rOff);
      if (row[o] === b.src[i] && row[o + 1] === b.dst[i] && row[o + 2] === ports && rowB[e * w * 4 + bProto] === b.proto[i]) continue;
    }
    res[i] = probe(tab, mask, row, rowB, w, rOff, bProto, hs[i]!, b.proto[i]!, b.src[i]!, b.dst[i]!, ports);
  }
}

function probe(
  tab: Int32Array, mask: number, row: Uint32Array, rowB: Uint8Array, w: number, rOff: number, bProto: number,
  h: number, proto: number, src: number, dst: number, ports: number,
): number {
  let i = h & mask;
  for (;;) {
    const v = tab[i << 1]!;
    if (v === -1) return -1;
    if (tab[(i << 1) + 1] === h) {
      const e = v >> 1;
      const o = e * w + ((v & 1) === 0 ? 0 : rOff);
      if (row[o] === src && row[o + 1] === dst && row[o + 2] === ports && rowB[e * w * 4 + bProto] === proto) return v;
    }
    i = (i + 1) & mask;
  }
}
