/**
 * SharedRing: a single-producer / single-consumer ring of frames in a SharedArrayBuffer,
 * the wire between two shards (worker threads) of one emulation (docs/sharding.md).
 *
 * Layout (bytes):
 *
 *     0   head (int32, consumer-owned)        64  tail (int32, producer-owned)
 *   128   producer counters (f64): tx-packets, tx-bytes, drops-full, drops-too-long
 *   192   consumer counters (f64): rx-packets, rx-bytes
 *   256   data: `capacity` bytes (a power of two), records packed back to back:
 *
 *     +----------------+----------------+--------+------------------------+---------+
 *     | length (int32) | lead | flags<<8| lead   | frame bytes (length)   | pad to 8|
 *     +----------------+----------------+--------+------------------------+---------+
 *
 * `flags` are the writer's, handed to the reader with the frame (ShardLink: the packet's
 * checksum state, `FRAME_CSUM_OK`). `lead` (0..3) keeps the frame at the same address modulo 4 as in the packet it was
 * copied from, so both copies (packet -> ring, ring -> packet) move 32-bit words, about
 * three times faster than bytes for a 64-byte frame. Writers that pass no word view
 * (`write(bytes, off, len)`) get lead 0 and a byte copy.
 *
 * A record never wraps: when it does not fit before the end of the data area, the
 * producer writes a wrap marker (length -1) and continues at offset 0. head and tail are
 * byte positions modulo 2^32 (capacity divides 2^32, so `& mask` finds the offset).
 *
 * Publication is batched: `write()` copies a frame in and moves a private tail;
 * `publish()` makes every frame written so far visible with one Atomics.store and rings
 * the consumer's Doorbell if it sleeps. The consumer's `read()` hands frames to a sink and
 * releases their space with one Atomics.store per batch. A full ring drops the frame and
 * counts it (`drops-full`); the producer re-reads head only when its cached copy says full.
 * JS Atomics are sequentially consistent, so plain byte writes before the tail store are
 * visible to a consumer that loaded that tail.
 *
 * Each thread builds its own SharedRing over the same buffer (`SharedRing.over(sab)`) and
 * uses one side only. Counters are flushed to the buffer on publish/read, so any thread
 * can read `stats()` (approximately current) without a message.
 */

const HEAD = 0;
const TAIL = 16;
const TX_COUNTERS = 16; // f64 index: byte 128
const RX_COUNTERS = 24; // f64 index: byte 192
const DATA = 256;
const REC_HEADER = 8;
const WRAP = -1;

/** Smallest and default data capacity in bytes. */
export const MIN_RING_BYTES = 4096;
export const DEFAULT_RING_BYTES = 1 << 20;

export interface RingStats {
  txPackets: number;
  txBytes: number;
  dropsFull: number;
  dropsTooLong: number;
  rxPackets: number;
  rxBytes: number;
}

/**
 * Receives frames from `SharedRing.read`: bytes[off, off + len) is valid during the call
 * only; `words` is an Int32Array over the same memory (from byte 0), for `copyWords`.
 */
export interface FrameSink {
  onFrame(bytes: Buffer, off: number, len: number, words: Int32Array, flags: number): void;
}

/** Record flag: every checksum of the frame is known valid (the sender's `Packet.csumOk`). */
export const FRAME_CSUM_OK = 1;

/**
 * Copies len bytes from byte `so` to byte `dof` as 32-bit words; both are byte offsets into
 * the memory the Int32Arrays view (from byte 0) and must agree modulo 4. Up to 3 bytes
 * before and after the range are copied too: callers keep that slack on both sides.
 */
export function copyWords(src: Int32Array, so: number, dst: Int32Array, dof: number, len: number): void {
  const s = so >> 2;
  const d = dof >> 2;
  const n = ((so & 3) + len + 3) >> 2;
  for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
}

/** Copies len bytes; a plain loop for small frames (Buffer#copy of a sub-range allocates a view in Node 20). */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, dof: number, len: number): void {
  if (len <= 256) {
    for (let i = 0; i < len; i++) dst[dof + i] = src[so + i]!;
  } else dst.set(src.subarray(so, so + len), dof);
}

export class SharedRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  /** Longest frame accepted (a record must fit in half the ring). */
  readonly maxFrame: number;
  private readonly mask: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly u8: Buffer;
  /** Producer side: private tail, cached head, local counters. */
  private tail: number;
  private headCache: number;
  private txPackets: number;
  private txBytes: number;
  private dropsFull: number;
  private dropsTooLong: number;
  /** Consumer side: private head, local counters. */
  private head: number;
  private rxPackets: number;
  private rxBytes: number;
  /** Rung by `publish()` when the consumer sleeps (set by the producer side). */
  doorbell: Doorbell | null = null;

  /** A new ring with `capacity` data bytes (rounded up to a power of two, >= 4096). */
  static create(capacity = DEFAULT_RING_BYTES): SharedRing {
    let cap = MIN_RING_BYTES;
    while (cap < capacity) cap *= 2;
    if (cap > 1 << 30) throw new Error(`SharedRing: capacity ${capacity} above 1 GiB`);
    return new SharedRing(new SharedArrayBuffer(DATA + cap));
  }

  /** This thread's view of a ring created elsewhere. */
  static over(sab: SharedArrayBuffer): SharedRing {
    return new SharedRing(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const cap = sab.byteLength - DATA;
    if (cap < MIN_RING_BYTES || (cap & (cap - 1)) !== 0) throw new Error(`SharedRing: buffer of ${sab.byteLength} bytes is not a ring`);
    this.sab = sab;
    this.capacity = cap;
    this.mask = cap - 1;
    this.maxFrame = cap / 2 - REC_HEADER - 8;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.u8 = Buffer.from(sab);
    this.tail = Atomics.load(this.i32, TAIL) >>> 0;
    this.headCache = Atomics.load(this.i32, HEAD) >>> 0;
    this.head = this.headCache;
    const f = this.f64;
    this.txPackets = f[TX_COUNTERS]!;
    this.txBytes = f[TX_COUNTERS + 1]!;
    this.dropsFull = f[TX_COUNTERS + 2]!;
    this.dropsTooLong = f[TX_COUNTERS + 3]!;
    this.rxPackets = f[RX_COUNTERS]!;
    this.rxBytes = f[RX_COUNTERS + 1]!;
  }

  // ---- producer side ----

  /**
   * Bytes the producer may still write now (it reads the consumer's head: a pacing query,
   * once per burst; `write` itself reads it only when its cached copy says full).
   */
  freeBytes(): number {
    this.headCache = Atomics.load(this.i32, HEAD) >>> 0;
    return this.capacity - ((this.tail - this.headCache) >>> 0);
  }

  /** True when a frame of `len` bytes is sure to fit now (worst case: a wrap marker first). */
  fits(len: number): boolean {
    return this.freeBytes() >= 2 * ((REC_HEADER + 3 + len + 7) & ~7);
  }

  /**
   * Copies bytes[off, off + len) in (not yet visible); false when full or too long (counted).
   * `words`: an Int32Array over bytes.buffer from byte 0, for the word copy (else bytes).
   * `flags` (0..2^23) reach the reader's sink with the frame.
   */
  write(bytes: Uint8Array, off: number, len: number, words: Int32Array | null = null, flags = 0): boolean {
    if (len > this.maxFrame || len < 0) {
      this.dropsTooLong++;
      return false;
    }
    const abs = bytes.byteOffset + off;
    const lead = words === null ? 0 : abs & 3;
    const rec = (REC_HEADER + lead + len + 7) & ~7;
    let pos = this.tail & this.mask;
    const toEnd = this.capacity - pos;
    const need = rec <= toEnd ? rec : toEnd + rec;
    if (((this.tail - this.headCache) >>> 0) + need > this.capacity) {
      this.headCache = Atomics.load(this.i32, HEAD) >>> 0;
      if (((this.tail - this.headCache) >>> 0) + need > this.capacity) {
        this.dropsFull++;
        return false;
      }
    }
    const i32 = this.i32;
    if (rec > toEnd) {
      i32[(DATA + pos) >> 2] = WRAP;
      this.tail = (this.tail + toEnd) >>> 0;
      pos = 0;
    }
    const at = DATA + pos;
    i32[at >> 2] = len;
    i32[(at >> 2) + 1] = lead | (flags << 8);
    if (words !== null) copyWords(words, abs, i32, at + REC_HEADER + lead, len);
    else copyBytes(bytes, off, this.u8, at + REC_HEADER, len);
    this.tail = (this.tail + rec) >>> 0;
    this.txPackets++;
    this.txBytes += len;
    return true;
  }

  /** Makes every written frame visible to the consumer; wakes it when it sleeps. */
  publish(): void {
    Atomics.store(this.i32, TAIL, this.tail | 0);
    const f = this.f64;
    f[TX_COUNTERS] = this.txPackets;
    f[TX_COUNTERS + 1] = this.txBytes;
    f[TX_COUNTERS + 2] = this.dropsFull;
    f[TX_COUNTERS + 3] = this.dropsTooLong;
    this.doorbell?.ring();
  }

  // ---- consumer side ----

  /** True when published frames are waiting. */
  pending(): boolean {
    return (Atomics.load(this.i32, TAIL) >>> 0) !== this.head;
  }

  /** Hands up to `max` published frames to `sink`, in order, then releases their space; returns how many. */
  read(sink: FrameSink, max = 0x7fffffff): number {
    const tail = Atomics.load(this.i32, TAIL) >>> 0;
    let head = this.head;
    if (head === tail) return 0;
    const i32 = this.i32;
    const u8 = this.u8;
    let n = 0;
    let bytes = 0;
    while (head !== tail && n < max) {
      const pos = head & this.mask;
      const len = i32[(DATA + pos) >> 2]!;
      if (len === WRAP) {
        head = (head + this.capacity - pos) >>> 0;
        continue;
      }
      const lw = i32[((DATA + pos) >> 2) + 1]!;
      const lead = lw & 3;
      sink.onFrame(u8, DATA + pos + REC_HEADER + lead, len, i32, lw >>> 8);
      head = (head + ((REC_HEADER + lead + len + 7) & ~7)) >>> 0;
      n++;
      bytes += len;
    }
    this.head = head;
    Atomics.store(i32, HEAD, head | 0);
    this.rxPackets += n;
    this.rxBytes += bytes;
    this.f64[RX_COUNTERS] = this.rxPackets;
    this.f64[RX_COUNTERS + 1] = this.rxBytes;
    return n;
  }

  /** Counters as last flushed by either side (readable from any thread). */
  stats(): RingStats {
    const f = this.f64;
    return {
      txPackets: f[TX_COUNTERS]!, txBytes: f[TX_COUNTERS + 1]!, dropsFull: f[TX_COUNTERS + 2]!, dropsTooLong: f[TX_COUNTERS + 3]!,
      rxPackets: f[RX_COUNTERS]!, rxBytes: f[RX_COUNTERS + 1]!,
    };
  }
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const SLEEPING = 0;
const SEQ = 16;

/**
 * Doorbell: how a consumer that polls several rings sleeps without a message per packet.
 * The consumer announces sleep (`prepare()`), checks its rings once more, then `wait()`s;
 * a producer's publish rings the bell only when the sleeping flag is set (one atomic load
 * per batch otherwise), and only the first publisher after `prepare()` notifies.
 * Dekker-style: the consumer stores the flag then loads tails, producers store tails then
 * load the flag; with sequentially consistent atomics one of them sees the other.
 */
export class Doorbell {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;
  /** Times a producer woke the consumer. */
  rings = 0;

  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(128)) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
  }

  /** Producer side: wakes the consumer if it announced sleep. */
  ring(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, SLEEPING) !== 0 && Atomics.compareExchange(i32, SLEEPING, 1, 0) === 1) {
      this.rings++;
      Atomics.add(i32, SEQ, 1);
      Atomics.notify(i32, SEQ);
    }
  }

  /** Wakes the consumer unconditionally (stop, a command waiting). */
  wake(): void {
    Atomics.store(this.i32, SLEEPING, 0);
    Atomics.add(this.i32, SEQ, 1);
    Atomics.notify(this.i32, SEQ);
  }

  /** Consumer side: announces sleep; returns the token to pass to `wait`. Check the rings after this. */
  prepare(): number {
    const seq = Atomics.load(this.i32, SEQ);
    Atomics.store(this.i32, SLEEPING, 1);
    return seq;
  }

  /** Consumer side: the rings had work after all. */
  cancel(): void {
    Atomics.store(this.i32, SLEEPING, 0);
  }

  /** Consumer side: resolves once rung after `prepare()` returned `token` (at once if it already was), or after `timeoutMs`. */
  wait(token: number, timeoutMs = Infinity): Promise<unknown> {
    const r = waitAsync(this.i32, SEQ, token, timeoutMs);
    return r.async ? r.value : Promise.resolve(r.value);
  }

  /** Blocking variant for threads that may block (never the main thread). */
  waitSync(token: number, timeoutMs = Infinity): void {
    Atomics.wait(this.i32, SEQ, token, timeoutMs);
  }
}
