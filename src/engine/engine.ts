/**
 * The engine: the context every element gets. It owns the packet pool, the scheduler,
 * the clock (virtual until a real device needs wall time), the seeded RNG, the trace
 * recorder and the element registry (per instance: no module-level state).
 *
 * Drops go through `drop()`: the packet is freed, the element's drop-reason counter is
 * incremented, a traced packet gets a `drop` hop, and the first occurrence of each
 * (element, reason) is reported to `onFirstDrop` (logging per packet is not allowed).
 */
import { PacketPool, type Packet, type PoolOptions } from './packet.js';
import { Scheduler } from './scheduler.js';
import { VirtualClock, WallClock, type Clock } from './clock.js';
import { Rng } from './rng.js';
import { TraceRecorder, type Where } from './trace.js';
import type { Counters } from './counters.js';
import type { Element, OutPort } from './element.js';
import type { Link } from './link.js';

export interface EngineOptions {
  seed?: number;
  pool?: PoolOptions;
  clock?: Clock;
}

export interface DropEvent {
  element: string;
  reason: string;
}

export class Engine {
  readonly pool: PacketPool;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly trace = new TraceRecorder();
  readonly elements = new Map<string, Element>();
  /** Drops that happened outside any element's list (full links, unconnected ports). */
  linkDrops = 0;
  unconnectedDrops = 0;
  /** Called once per (element, reason) the first time it drops; default: remembered only. */
  onFirstDrop: ((e: DropEvent) => void) | null = null;
  readonly firstDrops: DropEvent[] = [];
  private clockImpl: Clock;
  private lastId = 0;

  constructor(opts: EngineOptions = {}) {
    this.pool = new PacketPool(opts.pool);
    this.clockImpl = opts.clock ?? new VirtualClock();
    this.scheduler = new Scheduler(() => this.clockImpl);
    this.rng = new Rng(opts.seed ?? 1);
  }

  /** A number unique within this engine (element ids). */
  nextId(): number {
    return ++this.lastId;
  }

  get clock(): Clock {
    return this.clockImpl;
  }

  now(): number {
    return this.clockImpl.now();
  }

  /** Switches to wall time (continuing from the current `now()`) and starts the host timer. */
  useWallClock(): void {
    if (this.clockImpl.kind === 'wall') return;
    this.clockImpl = new WallClock(this.clockImpl.now());
    this.scheduler.startRealtime();
  }

  /** Registers an element under `key` (default: its name; namespaces use `node/netns`). */
  add<E extends Element>(el: E, key: string = el.name): E {
    if (this.elements.has(key)) throw new Error(`element "${key}" exists`);
    this.elements.set(key, el);
    return el;
  }

  remove(el: Element, key: string = el.name): void {
    if (this.elements.get(key) === el) this.elements.delete(key);
  }

  runUntilIdle(): number {
    return this.scheduler.runUntilIdle();
  }

  /** Virtual time: advance by `ms`, firing timers. */
  advance(ms: number): void {
    this.scheduler.advance(ms);
  }

  /** Frees `p`, counting it under `reason` of `drops` and recording a `drop` hop when traced. */
  drop(p: Packet, el: Element, reason: number, where: Where): void {
    const drops = el.drops;
    if (drops.values[reason] === 0) this.firstDrop(el.name, drops, reason);
    drops.values[reason]!++;
    if (p.trace !== 0) this.trace.hop(p.trace, where, 'drop', { reason: drops.names[reason] });
    this.pool.free(p);
  }

  /** A drop counted by something that is not an element (a table, an app). */
  dropCounted(p: Packet, owner: string, drops: Counters, reason: number, where: Where): void {
    if (drops.values[reason] === 0) this.firstDrop(owner, drops, reason);
    drops.values[reason]!++;
    if (p.trace !== 0) this.trace.hop(p.trace, where, 'drop', { reason: drops.names[reason] });
    this.pool.free(p);
  }

  dropAtLink(p: Packet, link: Link): void {
    this.linkDrops++;
    if (p.trace !== 0) this.trace.hop(p.trace, { node: '', netns: '', device: link.name }, 'drop', { reason: 'link-full' });
    this.pool.free(p);
  }

  dropUnconnected(p: Packet, port: OutPort): void {
    this.unconnectedDrops++;
    if (p.trace !== 0) {
      this.trace.hop(p.trace, { node: '', netns: '', device: `${port.owner.name}.${port.name}` }, 'drop', { reason: 'unconnected-port' });
    }
    this.pool.free(p);
  }

  private firstDrop(element: string, drops: Counters, reason: number): void {
    const e = { element, reason: drops.names[reason] ?? `reason-${reason}` };
    if (this.firstDrops.length < 1000) this.firstDrops.push(e);
    this.onFirstDrop?.(e);
  }
}
