/**
 * High-resolution timers for wall time, one set per engine (netem's watchdogs). The
 * scheduler's host timer is a `setTimeout`, which Node rounds to whole milliseconds and
 * fires a millisecond or more late; a 20 ms netem delay through it would be 21-22 ms. Here
 * a deadline more than 2 ms away sleeps in a `setTimeout` until 1.5 ms before it, then the
 * clock (`performance.now()`, hrtime) is polled from `setImmediate` until it is due, so a
 * deadline fires within the event loop's turn time of its instant. Due timers fire in
 * deadline order, then the scheduler runs (`kick`) to carry what they released.
 *
 * The poll costs CPU only inside the last 2 ms before a deadline, and sleeps there in
 * slices of 0.25 ms (SLICE_MS) between turns of I/O.
 */
import type { Engine } from './engine.js';

export interface HrTimer {
  readonly at: number;
  cancel(): void;
}

interface Entry extends HrTimer {
  fn: () => void;
  cancelled: boolean;
}

/** Deadlines closer than this (ms) are polled instead of slept for. */
const POLL_MS = 2;
const WAKE_EARLY_MS = 1.5;

/**
 * Inside the poll window the loop sleeps in slices of at most this (ms) with Atomics.wait
 * (a futex wait on hrtimers: sub-millisecond) between turns of I/O, instead of spinning: on
 * a loaded host a spinning process is preempted for milliseconds, a sleeper is woken on time.
 */
const SLICE_MS = 0.25;
const napCell = new Int32Array(new SharedArrayBuffer(4));

const sets = new WeakMap<Engine, HrTimers>();

export class HrTimers {
  private entries: Entry[] = [];
  private sleep: NodeJS.Timeout | null = null;
  private poll: NodeJS.Immediate | null = null;
  /** Timers fired, and polls made (for the stats). */
  fired = 0;
  polls = 0;

  private constructor(private readonly engine: Engine) {}

  static of(engine: Engine): HrTimers {
    let t = sets.get(engine);
    if (t === undefined) {
      t = new HrTimers(engine);
      sets.set(engine, t);
    }
    return t;
  }

  /** Runs `fn` at engine time `at` (ms). */
  at(at: number, fn: () => void): HrTimer {
    const e: Entry = { at, fn, cancelled: false, cancel: () => { e.cancelled = true; } };
    this.entries.push(e);
    this.drive();
    return e;
  }

  private nearest(): number {
    let m = Infinity;
    for (const e of this.entries) if (!e.cancelled && e.at < m) m = e.at;
    return m;
  }

  private drive(): void {
    const at = this.nearest();
    if (at === Infinity) {
      this.entries = [];
      return;
    }
    const dt = at - this.engine.clock.now();
    if (dt <= POLL_MS) {
      if (this.sleep !== null) { clearTimeout(this.sleep); this.sleep = null; }
      if (this.poll === null) this.poll = setImmediate(this.onPoll);
      return;
    }
    if (this.poll !== null) return; // already polling: the poll re-drives
    if (this.sleep !== null) clearTimeout(this.sleep);
    this.sleep = setTimeout(this.onSleep, dt - WAKE_EARLY_MS);
    this.sleep.unref();
  }

  private readonly onSleep = (): void => {
    this.sleep = null;
    this.drive();
  };

  private readonly onPoll = (): void => {
    this.poll = null;
    this.polls++;
    let now = this.engine.clock.now();
    const next = this.nearest();
    if (next > now) {
      Atomics.wait(napCell, 0, 0, Math.min(SLICE_MS, next - now));
      now = this.engine.clock.now();
    }
    const due = this.entries.filter((e) => !e.cancelled && e.at <= now).sort((a, b) => a.at - b.at);
    if (due.length > 0) {
      this.entries = this.entries.filter((e) => !e.cancelled && e.at > now);
      for (const e of due) {
        this.fired++;
        e.fn();
      }
      this.engine.scheduler.kick();
    }
    this.drive();
  };
}
