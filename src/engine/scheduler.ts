/**
 * The scheduler: a ready queue of links that have packets, and a timer heap.
 *
 * `runUntilIdle()` drains ready links (calling each consumer's `push`) until none is left:
 * deterministic, and what tests use. Time moves in two ways: in virtual time `advance(ms)`
 * fires due timers in order (running until idle after each) and moves the clock; in wall
 * time `startRealtime()` arms one host timer for the earliest deadline, and external
 * sources (TAP devices, sockets) call `kick()` after injecting packets.
 *
 * While it runs elements, the scheduler holds the clock (Clock.hold): every element sees
 * one reading per 16 link services instead of calling into the runtime per packet.
 *
 * A loop that never idles (two echo servers answering each other, the classic echo/chargen
 * loop) must not take the process with it:
 *   - wall time: work runs in bounded turns. A turn (a `kick()`, the host timer, a
 *     `runUntilIdle()`) drains links and fires due timers for at most TURN_MS of real time,
 *     then gives the event loop back (`setImmediate`) and carries on in the next turn: I/O,
 *     host timers, signals and the API keep their share whatever the dataplane has queued.
 *     The loop then runs at the emulator's speed; `yields` counts the turns cut short.
 *   - virtual time: `runUntilIdle()` gives up after `stepLimit` link services without
 *     becoming idle (`loopAborts`); the packets still queued are dropped (`loop-abort`,
 *     counted in `loopAbortDrops`, a `drop` hop when traced) and go back to the pool, so
 *     the next run starts clean instead of resuming the loop.
 */
import type { Link } from './link.js';
import type { Clock, VirtualClock } from './clock.js';

export interface Timer {
  readonly at: number;
  cancelled: boolean;
}

interface TimerEntry extends Timer {
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * Link services in one runUntilIdle without becoming idle after which it gives up (a
 * forwarding or echo loop): a few seconds of work, far more than any burst that ends.
 */
export const DEFAULT_STEP_LIMIT = 1_000_000;
/** Wall time: milliseconds of dataplane work per turn before the event loop gets control back. */
export const TURN_MS = 2;
/**
 * Link services between two readings of the clock while it is held (Clock.hold): a step
 * drains at most one ring (<= 1024 packets), so the held time lags by well under a
 * millisecond on a busy engine.
 */
const STEPS_PER_CLOCK_READ = 16;

export class Scheduler {
  private queue: (Link | null)[] = new Array<Link | null>(1024).fill(null);
  private qhead = 0;
  private qtail = 0;
  private readonly heap: TimerEntry[] = [];
  private seq = 0;
  private hostTimer: NodeJS.Timeout | null = null;
  private hostTimerAt = Infinity;
  private realtime = false;
  private running = false;
  /** Wall time: a turn is under way (`turnEnd` is its deadline), and whether it was cut short. */
  private inTurn = false;
  private turnEnd = Infinity;
  private yielded = false;
  /** The continuation of a turn cut short (wall time), or null. */
  private resume: NodeJS.Immediate | null = null;
  /** Link services since the start (every element `push` the scheduler made). */
  linkServices = 0;
  /** Times runUntilIdle stopped at the step limit (a loop that never idles). */
  loopAborts = 0;
  /** Packets dropped (`loop-abort`) because they were still queued when a run was aborted. */
  loopAbortDrops = 0;
  /** Wall time: turns cut short at TURN_MS with work left, continued after the event loop's I/O. */
  yields = 0;
  /** Link services after which runUntilIdle gives up (default DEFAULT_STEP_LIMIT). */
  stepLimit = DEFAULT_STEP_LIMIT;

  constructor(private clock: () => Clock) {}

  wake(link: Link): void {
    link.queued = true;
    if (this.qtail - this.qhead === this.queue.length) this.grow();
    this.queue[this.qtail % this.queue.length] = link;
    this.qtail++;
  }

  private grow(): void {
    const old = this.queue;
    const n = old.length;
    const next = new Array<Link | null>(n * 2).fill(null);
    for (let i = 0; i < n; i++) next[i] = old[(this.qhead + i) % n]!;
    this.queue = next;
    this.qtail = n;
    this.qhead = 0;
  }

  get pending(): number {
    return this.qtail - this.qhead;
  }

  /**
   * Drains every ready link; returns the number of link services performed. In wall time it
   * stops when the turn's time is up (the rest follows in the next turn); after `stepLimit`
   * services without becoming idle it aborts (see the file comment).
   */
  runUntilIdle(stepLimit = this.stepLimit): number {
    return this.run(stepLimit, true);
  }

  /**
   * Drains like runUntilIdle, but whole: not cut short by a wall-time turn, and stopping
   * after `maxSteps` services without aborting (nothing dropped). A trace in wall time uses
   * it: its journey must not depend on how busy the host is, and a loop elsewhere in the
   * cluster goes on afterwards.
   */
  drain(maxSteps: number): number {
    return this.run(maxSteps, false);
  }

  private run(stepLimit: number, turn: boolean): number {
    if (this.running) return 0; // re-entrant call from inside an element: the outer loop drains
    this.running = true;
    let steps = 0;
    const clock = this.clock();
    clock.hold();
    const own = turn && this.beginTurn(clock);
    const end = turn ? this.turnEnd : Infinity;
    try {
      while (this.qhead !== this.qtail) {
        if (steps >= stepLimit) {
          if (turn) this.abort();
          break;
        }
        steps++;
        if ((steps & (STEPS_PER_CLOCK_READ - 1)) === 0) {
          clock.refresh();
          if (clock.now() >= end) {
            this.yieldTurn();
            break;
          }
        }
        const len = this.queue.length;
        const i = this.qhead % len;
        const link = this.queue[i]!;
        this.queue[i] = null;
        this.qhead++;
        link.queued = false;
        const el = link.consumer;
        if (el === null) {
          link.flush();
          continue;
        }
        el.push(link.port, link);
        if (!link.empty() && !link.queued && link.consumer !== null) this.wake(link);
      }
    } finally {
      this.running = false;
      this.linkServices += steps;
      this.endTurn(own);
      clock.release();
    }
    return steps;
  }

  /** The step limit was reached: every queued packet is dropped as `loop-abort` (cold). */
  private abort(): void {
    this.loopAborts++;
    let n = 0;
    while (this.qhead !== this.qtail) {
      const i = this.qhead % this.queue.length;
      const link = this.queue[i]!;
      this.queue[i] = null;
      this.qhead++;
      link.queued = false;
      n += link.abort();
    }
    this.loopAbortDrops += n;
  }

  /** Wall time: starts a turn unless one is under way; true when this call owns it. */
  private beginTurn(clock: Clock): boolean {
    if (!this.realtime || this.inTurn) return false;
    this.inTurn = true;
    this.yielded = false;
    this.turnEnd = clock.now() + TURN_MS;
    return true;
  }

  private endTurn(own: boolean): void {
    if (!own) return;
    this.inTurn = false;
    this.turnEnd = Infinity;
  }

  /** The turn's time is up with work left: the rest runs after the event loop's I/O and timers. */
  private yieldTurn(): void {
    if (this.yielded) return;
    this.yielded = true;
    this.yields++;
    // Not unref'd: an unref'd immediate does not stop libuv's poll phase from blocking, so
    // the rest of the turn would wait for the next I/O or host timer.
    if (this.resume === null) this.resume = setImmediate(this.onResume);
  }

  private readonly onResume = (): void => {
    this.resume = null;
    if (this.realtime) this.kick();
  };

  /** Wall time, after a timer of a turn: true (and the turn yields) once its time is up. */
  private turnOver(clock: Clock): boolean {
    if (!this.inTurn) return false;
    if (this.yielded) return true;
    clock.refresh();
    if (clock.now() < this.turnEnd) return false;
    this.yieldTurn();
    return true;
  }

  /** Runs `fn` at clock time `at` (milliseconds in the engine timebase). */
  at(at: number, fn: () => void): Timer {
    const t: TimerEntry = { at, seq: this.seq++, fn, cancelled: false };
    this.heapPush(t);
    if (this.realtime && at < this.hostTimerAt) this.arm();
    return t;
  }

  /** Runs `fn` after `ms` milliseconds. */
  after(ms: number, fn: () => void): Timer {
    return this.at(this.clock().now() + ms, fn);
  }

  cancel(t: Timer): void {
    t.cancelled = true;
  }

  /** Earliest pending timer deadline, or Infinity. */
  nextDeadline(): number {
    this.dropCancelled();
    return this.heap.length > 0 ? this.heap[0]!.at : Infinity;
  }

  /** Fires every timer due at the current clock time, running until idle after each (wall time: within the turn). */
  runDue(): number {
    // One clock reading for the call: the timers due at it, and the elements run meanwhile
    // (runUntilIdle refreshes a held clock on long runs). Timer callbacks (an app's burst of
    // sends) see it too.
    const clock = this.clock();
    clock.hold();
    const own = this.beginTurn(clock);
    try {
      const now = clock.now();
      let n = 0;
      this.runUntilIdle();
      for (;;) {
        this.dropCancelled();
        const top = this.heap[0];
        if (top === undefined || top.at > now) break;
        this.heapPop();
        top.fn();
        n++;
        // Every due timer fires, in order, also once a turn's time is up (a loop must not
        // starve them); what they queue then waits for the next turn.
        if (!this.turnOver(clock)) this.runUntilIdle();
      }
      return n;
    } finally {
      this.endTurn(own);
      clock.release();
    }
  }

  /** Virtual time only: moves the clock forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const clock = this.clock();
    if (clock.kind !== 'virtual') throw new Error('advance() needs the virtual clock; the wall clock moves by itself');
    const vc = clock as VirtualClock;
    const target = vc.now() + ms;
    this.runUntilIdle();
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (top === undefined || top.at > target) break;
      this.heapPop();
      vc.set(top.at);
      top.fn();
      this.runUntilIdle();
    }
    vc.set(target);
  }

  /** Wall time: keep one host timer armed for the earliest deadline. */
  startRealtime(): void {
    this.realtime = true;
    this.arm();
  }

  stopRealtime(): void {
    this.realtime = false;
    if (this.resume !== null) clearImmediate(this.resume);
    this.resume = null;
    if (this.hostTimer !== null) clearTimeout(this.hostTimer);
    this.hostTimer = null;
    this.hostTimerAt = Infinity;
  }

  /** Called by external packet sources after injecting: process now, fire due timers, re-arm. */
  kick(): void {
    this.runDue();
    if (this.realtime) this.arm();
  }

  private arm(): void {
    const at = this.nextDeadline();
    // Armed already for this deadline or an earlier one (a cancelled timer): that wake-up re-arms.
    // kick() runs once per batch of TAP frames; re-creating the host timer each time cost
    // microseconds of a ping's round trip.
    if (this.hostTimer !== null && at >= this.hostTimerAt) return;
    if (this.hostTimer !== null) clearTimeout(this.hostTimer);
    this.hostTimer = null;
    this.hostTimerAt = at;
    if (at === Infinity) return;
    const delay = Math.max(0, at - this.clock().now());
    this.hostTimer = setTimeout(() => {
      this.hostTimer = null;
      this.hostTimerAt = Infinity;
      this.kick();
    }, Math.min(delay, 2_147_483_000));
    this.hostTimer.unref();
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.heapPop();
  }

  private less(a: TimerEntry, b: TimerEntry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private heapPush(t: TimerEntry): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private heapPop(): TimerEntry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
