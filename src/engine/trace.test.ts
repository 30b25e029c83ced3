/**
 * TraceRecorder's time: untimed hops carry no time (the engine-level tests' exact shapes);
 * timed hops in virtual time move the clock on by the modelled latency of each step, so
 * every hop gets its own, increasing timestamp and the clock ends where the model says.
 * In wall time the clock is not touched. `seen` hangs a capture frame on the latest hop.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from './engine.js';
import { HOP_LATENCY_US, hopLatencyUs } from './trace.js';
import { VIRTUAL_EPOCH_MS, WallClock } from './clock.js';

const W = { node: 'n1', netns: 'root', device: 'eth0' };

describe('TraceRecorder time', () => {
  it('untimed: no time field, the clock stays', () => {
    const e = new Engine();
    const id = e.trace.begin();
    e.trace.hop(id, W, 'send');
    expect(e.trace.hops(id)[0]).toEqual({ ...W, action: 'send', detail: {} });
    expect(e.now()).toBe(0);
  });

  it('timed, virtual time: each hop advances the clock by its latency first, then stamps it', () => {
    const e = new Engine();
    e.trace.timed = true;
    const id = e.trace.begin();
    const actions = ['send', 'route', 'veth', 'bridge-local', 'vxlan-encap', 'underlay', 'deliver', 'something-new'];
    for (const a of actions) e.trace.hop(id, W, a);
    const times = e.trace.hops(id).map((h) => h.time!);
    let us = 0;
    const want = actions.map((a) => (us += hopLatencyUs(a)));
    expect(times.map((t) => Math.round((t - VIRTUAL_EPOCH_MS) * 1000))).toEqual(want);
    expect(new Set(times).size).toBe(times.length); // distinct
    expect(HOP_LATENCY_US['underlay']).toBe(20);
    expect(hopLatencyUs('something-new')).toBe(1);
    expect(Math.round(e.now() * 1000)).toBe(us);
  });

  it('timed, wall time: stamped with the epoch, the clock is not moved', () => {
    const e = new Engine({ clock: new WallClock(0) });
    e.trace.timed = true;
    const id = e.trace.begin();
    const before = Date.now();
    e.trace.hop(id, W, 'send');
    const t = e.trace.hops(id)[0]!.time!;
    expect(t).toBeGreaterThanOrEqual(before - 1);
    expect(t).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('seen() names a capture frame on the journey\'s latest hop', () => {
    const e = new Engine();
    const id = e.trace.begin();
    e.trace.seen(id, { interface: 'x', file: 'x.pcapng', frame: 1 }); // no hop yet: nothing
    e.trace.hop(id, W, 'send');
    e.trace.hop(id, W, 'route');
    e.trace.seen(id, { interface: 'n1/eth0', file: 'n1_eth0.pcapng', frame: 3 });
    expect(e.trace.hops(id).map((h) => h.captures)).toEqual([undefined, [{ interface: 'n1/eth0', file: 'n1_eth0.pcapng', frame: 3 }]]);
  });
});
