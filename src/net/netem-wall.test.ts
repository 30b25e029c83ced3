/**
 * netem in wall time: the watchdog runs on HrTimers (hrtime, polled in the last 2 ms), and a
 * watchdog that fires more than 1 ms late counts `overrun` and logs a line.
 */
import { describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { Engine } from '../engine/engine.js';
import { PassThrough, Sink } from '../engine/basic.js';
import { connect } from '../engine/element.js';
import { HrTimers } from '../engine/hr-timers.js';
import { Netem } from './netem.js';

function wallRig(delay: string): { engine: Engine; netem: Netem; send(): void; got: Promise<number>; logs: string[] } {
  const engine = new Engine({ seed: 3 });
  engine.useWallClock();
  const src = new PassThrough(engine, 'src');
  const netem = new Netem(engine, 'n', { node: 'n', netns: 'n', device: 'eth0' }, { delay });
  const logs: string[] = [];
  netem.log = (l) => logs.push(l);
  const sink = new Sink(engine, 'sink');
  connect(engine, src.ports.out('out'), netem.input);
  connect(engine, netem.ports.out('out'), sink.ports.in('in'));
  let resolve: (t: number) => void = () => undefined;
  const got = new Promise<number>((r) => { resolve = r; });
  sink.observer = () => resolve(engine.now());
  const send = (): void => {
    const p = engine.pool.fromBytes(new Uint8Array(60), 0, 60)!;
    src.ports.out('out').send(p);
    engine.scheduler.kick();
  };
  return { engine, netem, send, got, logs };
}

describe('netem on the wall clock', () => {
  it('delivers after the delay, from an HrTimers poll, with no overrun when the loop is free', async () => {
    const r = wallRig('5ms');
    const t0 = r.engine.now();
    r.send();
    const t = await r.got;
    expect(t - t0).toBeGreaterThanOrEqual(5);
    expect(HrTimers.of(r.engine).fired).toBe(1);
    expect(r.netem.counters.get('sent')).toBe(1);
    r.engine.scheduler.stopRealtime();
  });

  it('a watchdog that fires more than 1 ms late is an overrun, and says so', async () => {
    const r = wallRig('1ms');
    r.send();
    const end = performance.now() + 10;
    while (performance.now() < end) { /* the event loop is blocked: podwire cannot keep up */ }
    await r.got;
    expect(r.netem.counters.get('overrun')).toBe(1);
    expect(r.logs.length).toBe(1);
    expect(r.logs[0]).toMatch(/^podwire: netem n: cannot keep up: watchdog [0-9.]+ ms late \(overrun 1\)$/);
    r.engine.scheduler.stopRealtime();
  });
});
