/**
 * The scheduler and a loop that never idles (issue 13, "one spoofed datagram freezes the
 * process"): in wall time the work runs in bounded turns and the event loop gets control
 * back between them; in virtual time runUntilIdle ends with a counted abort and the packets
 * still queued go back to the pool.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PassThrough } from './basic.js';
import { connect } from './element.js';
import { Engine } from './engine.js';
import type { Link } from './link.js';
import { DEFAULT_STEP_LIMIT } from './scheduler.js';

/** Two elements wired in a ring with `n` packets in it: a forwarding loop. */
function loop(e: Engine, n = 1): Link {
  const a = e.add(new PassThrough(e, 'a'));
  const b = e.add(new PassThrough(e, 'b'));
  connect(e, a.ports.out('out'), b.ports.in('in'));
  const back = connect(e, b.ports.out('out'), a.ports.in('in'));
  for (let i = 0; i < n; i++) back.transmit(e.pool.alloc()!);
  return back;
}

const hostTurn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('virtual time: a loop that never idles', () => {
  it('ends runUntilIdle with a counted abort, drops what is still queued as loop-abort, and the pool is full again', () => {
    const e = new Engine({ pool: { size: 16 } });
    const back = loop(e, 3);
    const traced = e.pool.alloc()!;
    traced.trace = e.trace.begin();
    back.transmit(traced);
    const steps = e.runUntilIdle();
    expect(steps).toBe(DEFAULT_STEP_LIMIT);
    expect(e.scheduler.loopAborts).toBe(1);
    expect(e.scheduler.loopAbortDrops).toBe(4);
    expect(e.pool.available).toBe(e.pool.size);
    expect(e.scheduler.pending).toBe(0);
    const last = e.trace.hops(traced.trace).at(-1);
    expect(last).toMatchObject({ action: 'drop', detail: { reason: 'loop-abort' } });
    expect(e.firstDrops).toContainEqual({ element: expect.any(String), reason: 'loop-abort' });
    // The loop is gone: the next run is idle at once, nothing more is counted.
    expect(e.runUntilIdle()).toBe(0);
    expect(e.scheduler.loopAborts).toBe(1);
  });

  it('advance() stops a loop too, and its timers still fire', () => {
    const e = new Engine({ pool: { size: 8 } });
    loop(e);
    let fired = 0;
    e.scheduler.after(10, () => fired++);
    e.advance(20);
    expect(fired).toBe(1);
    expect(e.scheduler.loopAborts).toBe(1);
    expect(e.pool.available).toBe(e.pool.size);
  });
});

describe('wall time: bounded turns', () => {
  let e: Engine | null = null;
  afterEach(() => {
    e?.scheduler.stopRealtime();
    e = null;
  });

  it('gives the event loop back while a loop runs: host timers and engine timers fire, the loop goes on', async () => {
    const eng = new Engine({ pool: { size: 8 } });
    e = eng;
    eng.useWallClock();
    loop(eng);
    eng.scheduler.kick();
    // The first turn ended with the loop still running, not at the step limit.
    const first = eng.scheduler.linkServices;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(DEFAULT_STEP_LIMIT);
    expect(eng.scheduler.pending).toBeGreaterThan(0);
    expect(eng.scheduler.yields).toBe(1);
    // A host timer gets its turn; so does an engine timer.
    let engineTimer = false;
    eng.scheduler.after(1, () => { engineTimer = true; });
    while (!engineTimer) await hostTurn();
    await hostTurn();
    expect(eng.scheduler.yields).toBeGreaterThan(1);
    expect(eng.scheduler.linkServices).toBeGreaterThan(first);
    expect(eng.scheduler.loopAborts).toBe(0);
    expect(eng.pool.available).toBe(eng.pool.size - 1); // the one packet, still looping
  });

  it('a direct runUntilIdle is bounded the same way; stopRealtime ends the continuation', async () => {
    const eng = new Engine({ pool: { size: 8 } });
    e = eng;
    eng.useWallClock();
    loop(eng);
    const steps = eng.runUntilIdle();
    expect(steps).toBeLessThan(DEFAULT_STEP_LIMIT);
    expect(eng.scheduler.yields).toBe(1);
    await hostTurn();
    expect(eng.scheduler.yields).toBeGreaterThan(1);
    eng.scheduler.stopRealtime();
    const after = eng.scheduler.linkServices;
    await hostTurn();
    await hostTurn();
    expect(eng.scheduler.linkServices).toBe(after);
  });

  it('drain() runs whole (no turn cut, no abort) up to its step count; the loop goes on afterwards', async () => {
    const eng = new Engine({ pool: { size: 8 } });
    e = eng;
    eng.useWallClock();
    loop(eng);
    expect(eng.scheduler.drain(5000)).toBe(5000);
    expect(eng.scheduler.yields).toBe(0);
    expect(eng.scheduler.loopAborts).toBe(0);
    expect(eng.scheduler.pending).toBe(1);
    eng.scheduler.kick();
    await hostTurn();
    expect(eng.scheduler.yields).toBeGreaterThan(0);
  });

  it('work that ends within a turn does not yield', () => {
    const eng = new Engine({ pool: { size: 64 } });
    e = eng;
    eng.useWallClock();
    const a = eng.add(new PassThrough(eng, 'a'));
    const b = eng.add(new PassThrough(eng, 'b'));
    connect(eng, a.ports.out('out'), b.ports.in('in'));
    const head = connect(eng, new PassThrough(eng, 'src').ports.out('out'), a.ports.in('in'));
    for (let i = 0; i < 10; i++) head.transmit(eng.pool.alloc()!);
    eng.scheduler.kick();
    expect(eng.scheduler.yields).toBe(0);
    expect(eng.pool.available).toBe(eng.pool.size); // b's output is unconnected: dropped and freed
  });
});
