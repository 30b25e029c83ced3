/**
 * The one clock interface. `now()` is monotonic milliseconds (a float) in the engine's own
 * timebase; `epochMs()` is the wall-clock time the captures stamp packets with.
 *
 * VirtualClock runs discrete-event time: tests and emulated-only topologies advance it
 * explicitly, so conntrack timeouts and FDB ageing happen without sleeping. WallClock is
 * real time; it is the one place in the dataplane layers that reads the system clock, and
 * it starts at a given offset so switching from virtual to wall time (when a real TAP is
 * attached) keeps `now()` monotonic.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  readonly kind: 'virtual' | 'wall';
  now(): number;
  epochMs(): number;
  /**
   * Freezes `now()` at the current time until the matching `release()` (holds nest: only
   * the outermost reads the time; `refresh()` moves a held clock to the current time). The
   * scheduler holds the clock while it runs elements and timers, so a batch of packets
   * shares one reading, as Linux's dataplane shares `jiffies`. No-ops for the virtual clock,
   * which only moves when told to.
   */
  hold(): void;
  release(): void;
  refresh(): void;
}

/** 2026-01-01T00:00:00Z: the epoch virtual captures are stamped from, so they are reproducible. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export class VirtualClock implements Clock {
  readonly kind = 'virtual' as const;
  private t: number;
  readonly epochBase: number;

  constructor(start = 0, epochBase = VIRTUAL_EPOCH_MS) {
    this.t = start;
    this.epochBase = epochBase;
  }

  now(): number {
    return this.t;
  }

  epochMs(): number {
    return this.epochBase + this.t;
  }

  /** Moves time forward to `t` (never backwards). */
  set(t: number): void {
    if (t > this.t) this.t = t;
  }

  advance(ms: number): void {
    if (ms > 0) this.t += ms;
  }

  hold(): void {}

  release(): void {}

  refresh(): void {}
}

/**
 * Wall time. Reading the system clock costs tens of nanoseconds (`performance.now()` is a
 * call into the runtime), several times per packet in the elements; while the scheduler
 * holds the clock, `now()` returns the reading taken at `hold()` instead (see Clock.hold).
 */
export class WallClock implements Clock {
  readonly kind = 'wall' as const;
  private readonly origin: number;
  private readonly offset: number;
  /** Holds not yet released (see Clock.hold). */
  private held = 0;
  private heldAt = 0;

  /** `startAt`: the value `now()` returns at construction (continuity with a previous clock). */
  constructor(startAt = 0) {
    this.origin = performance.now();
    this.offset = startAt;
  }

  now(): number {
    return this.held > 0 ? this.heldAt : performance.now() - this.origin + this.offset;
  }

  hold(): void {
    if (this.held++ === 0) this.heldAt = performance.now() - this.origin + this.offset;
  }

  release(): void {
    if (this.held > 0) this.held--;
  }

  refresh(): void {
    if (this.held > 0) this.heldAt = performance.now() - this.origin + this.offset;
  }

  epochMs(): number {
    return performance.timeOrigin + performance.now();
  }
}
