import { describe, expect, it } from 'vitest';
import { Engine } from './engine.js';
import { PacketPool } from './packet.js';
import { PassThrough, Sink } from './basic.js';
import { connect, disconnect, Ports } from './element.js';
import type { Element } from './element.js';
import { Counters } from './counters.js';
import { Rng } from './rng.js';
import { VirtualClock, WallClock } from './clock.js';
import type { Link } from './link.js';

describe('PacketPool', () => {
  it('hands out packets with headroom, frees and reuses them, counts exhaustion', () => {
    const pool = new PacketPool({ size: 2, slotSize: 256, headroom: 64 });
    const a = pool.alloc()!;
    const b = pool.alloc()!;
    expect(a.start).toBe(64);
    expect(a.length).toBe(0);
    expect(pool.alloc()).toBeNull();
    expect(pool.exhausted).toBe(1);
    pool.free(a);
    expect(pool.available).toBe(1);
    expect(pool.alloc()).toBe(a);
    expect(() => pool.free(b) ?? pool.free(b)).toThrow(/freed twice/);
  });

  it('prepends into the headroom without copying and refuses past it', () => {
    const pool = new PacketPool({ size: 1, slotSize: 256, headroom: 64 });
    const p = pool.alloc()!;
    p.buf[p.start] = 0xab;
    p.end = p.start + 1;
    expect(p.prepend(50)).toBe(true);
    expect(p.length).toBe(51);
    expect(p.buf[p.start + 50]).toBe(0xab);
    expect(p.prepend(15)).toBe(false);
    expect(p.shrinkFront(50)).toBe(true);
    expect(p.buf[p.start]).toBe(0xab);
  });

  it('clones bytes and metadata into separate slots', () => {
    const pool = new PacketPool({ size: 2, slotSize: 256, headroom: 64 });
    const p = pool.fromBytes(Uint8Array.from([1, 2, 3]), 0, 3)!;
    p.trace = 7;
    const q = pool.clone(p)!;
    expect(q).not.toBe(p);
    expect([...q.buf.subarray(q.start, q.end)]).toEqual([1, 2, 3]);
    expect(q.trace).toBe(7);
    q.buf[q.start] = 9;
    expect(p.buf[p.start]).toBe(1);
  });

  it('rejects a headroom below 64 bytes', () => {
    expect(() => new PacketPool({ headroom: 32 })).toThrow(/headroom 32/);
  });
});

describe('links and the scheduler', () => {
  it('moves packets through a chain of elements until idle', () => {
    const e = new Engine({ pool: { size: 64 } });
    const els = [0, 1, 2].map((i) => e.add(new PassThrough(e, `p${i}`)));
    const sink = e.add(new Sink(e, 'sink'));
    connect(e, els[0]!.ports.out('out'), els[1]!.ports.in('in'));
    connect(e, els[1]!.ports.out('out'), els[2]!.ports.in('in'));
    connect(e, els[2]!.ports.out('out'), sink.ports.in('in'));
    const head = connect(e, new PassThroughFeeder(e).ports.out('out'), els[0]!.ports.in('in'));
    for (let i = 0; i < 10; i++) head.transmit(e.pool.fromBytes(new Uint8Array(60), 0, 60)!);
    expect(sink.counters.get('packets')).toBe(0);
    e.runUntilIdle();
    expect(sink.counters.get('packets')).toBe(10);
    expect(sink.counters.get('bytes')).toBe(600);
    expect(e.pool.available).toBe(64);
  });

  it('a full ring drops and counts, and frees the packet', () => {
    const e = new Engine({ pool: { size: 64 } });
    const sink = e.add(new Sink(e, 'sink'));
    const link = connect(e, new PassThroughFeeder(e).ports.out('out'), sink.ports.in('in'), 4);
    for (let i = 0; i < 6; i++) link.transmit(e.pool.alloc()!);
    expect(link.drops).toBe(2);
    expect(e.linkDrops).toBe(2);
    e.runUntilIdle();
    expect(sink.counters.get('packets')).toBe(4);
    expect(e.pool.available).toBe(64);
  });

  it('an unconnected output port drops; disconnect flushes queued packets', () => {
    const e = new Engine({ pool: { size: 8 } });
    const p = new PassThrough(e, 'p');
    p.ports.out('out').send(e.pool.alloc()!);
    expect(e.unconnectedDrops).toBe(1);
    const sink = new Sink(e, 's');
    const link = connect(e, p.ports.out('out'), sink.ports.in('in'));
    p.ports.out('out').send(e.pool.alloc()!);
    disconnect(link);
    expect(e.pool.available).toBe(8);
    expect(() => connect(e, p.ports.out('out'), sink.ports.in('in'))).not.toThrow();
  });

  it('fires timers in deadline order in virtual time, skipping cancelled ones', () => {
    const e = new Engine();
    const seen: string[] = [];
    e.scheduler.after(30, () => seen.push(`c@${e.now()}`));
    e.scheduler.after(10, () => seen.push(`a@${e.now()}`));
    const t = e.scheduler.after(20, () => seen.push('cancelled'));
    e.scheduler.after(10, () => seen.push(`b@${e.now()}`));
    e.scheduler.cancel(t);
    e.advance(25);
    expect(seen).toEqual(['a@10', 'b@10']);
    expect(e.now()).toBe(25);
    e.advance(10);
    expect(seen).toEqual(['a@10', 'b@10', 'c@30']);
  });

  it('stops a forwarding loop at the step limit instead of hanging', () => {
    const e = new Engine({ pool: { size: 8 } });
    const a = new PassThrough(e, 'a');
    const b = new PassThrough(e, 'b');
    connect(e, a.ports.out('out'), b.ports.in('in'));
    const back = connect(e, b.ports.out('out'), a.ports.in('in'));
    back.transmit(e.pool.alloc()!);
    const steps = e.scheduler.runUntilIdle(1000);
    expect(steps).toBe(1000);
    expect(e.scheduler.loopAborts).toBe(1);
  });
});

describe('drops and traces', () => {
  it('counts drop reasons, reports the first occurrence once and records a drop hop when traced', () => {
    const e = new Engine({ pool: { size: 4 } });
    const el = new Dropper(e);
    const firsts: string[] = [];
    e.onFirstDrop = (d) => firsts.push(`${d.element}:${d.reason}`);
    const where = { node: 'node1', netns: 'root', device: 'x' };
    const t = e.trace.begin();
    const p = e.pool.alloc()!;
    p.trace = t;
    e.drop(p, el, 1, where);
    e.drop(e.pool.alloc()!, el, 1, where);
    expect(el.drops.get('bad-thing')).toBe(2);
    expect(firsts).toEqual(['dropper:bad-thing']);
    expect(e.trace.hops(t)).toEqual([{ node: 'node1', netns: 'root', device: 'x', action: 'drop', detail: { reason: 'bad-thing' } }]);
    expect(e.pool.available).toBe(4);
  });

  it('lists drop owners that are not elements next to the elements; one that drops unregistered is listed from its first drop', () => {
    const e = new Engine({ pool: { size: 4 } });
    const el = e.add(new Dropper(e));
    const where = { node: 'node1', netns: 'root', device: '' };
    const hooks = e.addCounted({ name: 'node1/conntrack', kind: 'conntrack', counters: new Counters([]), drops: new Counters(['table-full']) });
    expect(() => e.addCounted({ ...hooks })).toThrow(/"node1\/conntrack" exists/);
    const stray = { name: 'node2/conntrack', kind: 'conntrack', counters: new Counters([]), drops: new Counters(['table-full']) };
    expect(e.countedOwners().map(([k]) => k)).toEqual(['dropper', 'node1/conntrack']);
    e.dropCounted(e.pool.alloc()!, hooks, 0, where);
    e.dropCounted(e.pool.alloc()!, stray, 0, where);
    e.dropCounted(e.pool.alloc()!, stray, 0, where);
    expect(e.countedOwners()).toEqual([['dropper', el], ['node1/conntrack', hooks], ['node2/conntrack', stray]]);
    expect(stray.drops.get('table-full')).toBe(2);
    expect(e.firstDrops).toEqual([{ element: 'node1/conntrack', reason: 'table-full' }, { element: 'node2/conntrack', reason: 'table-full' }]);
    expect(e.pool.available).toBe(4);
    e.removeCounted(hooks);
    expect(e.countedOwners().map(([k]) => k)).toEqual(['dropper', 'node2/conntrack']);
  });
});

describe('Rng and clocks', () => {
  it('replays the same sequence for the same seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 5 }, () => a.u32());
    expect(Array.from({ length: 5 }, () => b.u32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.u32())).not.toEqual(sa);
  });

  it('int(n) stays in range and is roughly uniform', () => {
    const r = new Rng(7);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });

  it('virtual clock never goes backwards; the engine switches to wall time monotonically', () => {
    const vc = new VirtualClock();
    vc.set(100);
    vc.set(50);
    expect(vc.now()).toBe(100);
    const e = new Engine({ clock: vc });
    e.useWallClock();
    expect(e.clock.kind).toBe('wall');
    expect(e.now()).toBeGreaterThanOrEqual(100);
    e.scheduler.stopRealtime();
  });

  it('wall clock: held while the scheduler runs elements (one reading per batch), live again after', async () => {
    const wc = new WallClock(0);
    const e = new Engine({ clock: wc });
    const seen: number[] = [];
    const probe: Element = {
      kind: 'probe', name: 'probe', counters: new Counters([]), drops: new Counters([]),
      ports: undefined as unknown as Ports,
      push(_port: number, link: Link): void {
        for (let p = link.receive(); p !== null; p = link.receive()) {
          const t0 = performance.now();
          while (performance.now() - t0 < 2) { /* let real time pass */ }
          seen.push(e.now());
          e.pool.free(p);
        }
      },
    };
    (probe as { ports: Ports }).ports = new Ports(e, probe);
    const src = new PassThroughFeeder(e);
    connect(e, src.ports.out('out'), probe.ports.addIn('in'));
    const before = e.now();
    for (let i = 0; i < 3; i++) src.ports.out('out').send(e.pool.alloc()!);
    e.scheduler.runUntilIdle();
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1); // 6 ms of real time, one reading
    expect(seen[0]!).toBeGreaterThanOrEqual(before);
    const after = e.now(); // released: the live clock, past the work done
    expect(after - seen[0]!).toBeGreaterThanOrEqual(5);
    wc.hold();
    const held = wc.now();
    await new Promise((r) => setTimeout(r, 5));
    expect(wc.now()).toBe(held);
    wc.hold(); // nested: keeps the outer reading
    expect(wc.now()).toBe(held);
    wc.refresh(); // moves a held clock forward
    const held2 = wc.now();
    expect(held2).toBeGreaterThan(held);
    wc.release();
    await new Promise((r) => setTimeout(r, 2));
    expect(wc.now()).toBe(held2); // still held once
    wc.release();
    expect(wc.now()).toBeGreaterThan(held2);
  });
});

class PassThroughFeeder implements Element {
  readonly kind = 'feeder';
  readonly name = 'feeder';
  readonly ports: Ports;
  readonly counters = new Counters([]);
  readonly drops = new Counters([]);
  constructor(e: Engine) {
    this.ports = new Ports(e, this);
    this.ports.addOut('out');
  }
  push(_port: number, _link: Link): void {}
}

class Dropper implements Element {
  readonly kind = 'dropper';
  readonly name = 'dropper';
  readonly ports: Ports;
  readonly counters = new Counters([]);
  readonly drops = new Counters(['other', 'bad-thing']);
  constructor(e: Engine) {
    this.ports = new Ports(e, this);
  }
  push(): void {}
}
