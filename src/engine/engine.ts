/**
 * The engine: the context every element gets. It owns the packet pool, the scheduler,
 * the clock (virtual until a real device needs wall time), the seeded RNG, the trace
 * recorder and the registries (per instance: no module-level state): elements, and the
 * owners of drop reasons that are not elements (`addCounted`: a node's conntrack/NAT hooks,
 * kube-proxy's filter). `countedOwners()` lists both: what the stats view reads.
 *
 * Drops go through `drop()` (an element) or `dropCounted()` (another owner): the packet is
 * freed, the owner's drop-reason counter is incremented, a traced packet gets a `drop` hop,
 * and the first occurrence of each (owner, reason) is reported to `onFirstDrop` (logging
 * per packet is not allowed). An owner that drops before anyone registered it is registered
 * then (on that first occurrence, off the hot path): no counted drop stays out of the stats.
 */
import { PacketPool, type Packet, type PoolOptions } from './packet.js';
import { Scheduler } from './scheduler.js';
import { VirtualClock, WallClock, type Clock } from './clock.js';
import { Rng } from './rng.js';
import { TraceRecorder, type Where } from './trace.js';
import type { Counted, Counters } from './counters.js';
import type { Element, OutPort } from './element.js';
import type { Link } from './link.js';
import type { FlowTap } from './flow-tap.js';

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
  readonly trace = new TraceRecorder(() => this.clockImpl);
  readonly elements = new Map<string, Element>();
  /** Owners of counters and drop reasons that are not elements, by name. */
  readonly counted = new Map<string, Counted>();
  /** Drops that happened outside any element's list (full links, unconnected ports). */
  linkDrops = 0;
  unconnectedDrops = 0;
  /** Called once per (element, reason) the first time it drops; default: remembered only. */
  onFirstDrop: ((e: DropEvent) => void) | null = null;
  readonly firstDrops: DropEvent[] = [];
  /** Flow events (src/engine/flow-tap.ts), null unless someone observes: one null check per drop. */
  flowTap: FlowTap | null = null;
  /**
   * Bumped whenever a link is connected, disconnected or re-pointed (netem spliced in or out):
   * a flowtable entry (src/net/flowtable.ts) that holds links dies when it moves.
   */
  wiringGen = 0;
  /** Capture taps on links, engine-wide: a flowtable forwards nothing while any is set. */
  linkTaps = 0;
  private clockImpl: Clock;
  private lastId = 0;
  private loopAbortReported = false;

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

  /** Registers an owner of drop reasons that is not an element (its name must be unique). */
  addCounted<C extends Counted>(c: C): C {
    const had = this.counted.get(c.name);
    if (had !== undefined && had !== c) throw new Error(`counted "${c.name}" exists`);
    this.counted.set(c.name, c);
    return c;
  }

  removeCounted(c: Counted): void {
    if (this.counted.get(c.name) === c) this.counted.delete(c.name);
  }

  /** Everything that counts, by registry key: the elements, then the other owners (cold: stats). */
  countedOwners(): [string, Counted][] {
    return [...this.elements.entries(), ...this.counted.entries()];
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
    if (this.flowTap !== null) this.flowTap.dropped(p, where, drops.names[reason] ?? `reason-${reason}`);
    this.pool.free(p);
  }

  /** A drop counted by an owner that is not an element (netfilter hooks); see `addCounted`. */
  dropCounted(p: Packet, owner: Counted, reason: number, where: Where): void {
    const drops = owner.drops;
    if (drops.values[reason] === 0) {
      if (!this.counted.has(owner.name)) this.counted.set(owner.name, owner);
      this.firstDrop(owner.name, drops, reason);
    }
    drops.values[reason]!++;
    if (p.trace !== 0) this.trace.hop(p.trace, where, 'drop', { reason: drops.names[reason] });
    if (this.flowTap !== null) this.flowTap.dropped(p, where, drops.names[reason] ?? `reason-${reason}`);
    this.pool.free(p);
  }

  dropAtLink(p: Packet, link: Link): void {
    this.linkDrops++;
    if (p.trace !== 0) this.trace.hop(p.trace, { node: '', netns: '', device: link.name }, 'drop', { reason: 'link-full' });
    if (this.flowTap !== null) this.flowTap.dropped(p, { node: '', netns: '', device: link.name }, 'link-full');
    this.pool.free(p);
  }

  /** A packet still queued on `link` when the scheduler aborted a run that never idled (a loop). */
  dropLoopAbort(p: Packet, link: Link): void {
    if (!this.loopAbortReported) {
      this.loopAbortReported = true;
      this.reportFirstDrop({ element: link.name, reason: 'loop-abort' });
    }
    if (p.trace !== 0) this.trace.hop(p.trace, { node: '', netns: '', device: link.name }, 'drop', { reason: 'loop-abort' });
    if (this.flowTap !== null) this.flowTap.dropped(p, { node: '', netns: '', device: link.name }, 'loop-abort');
    this.pool.free(p);
  }

  dropUnconnected(p: Packet, port: OutPort): void {
    this.unconnectedDrops++;
    if (p.trace !== 0) {
      this.trace.hop(p.trace, { node: '', netns: '', device: `${port.owner.name}.${port.name}` }, 'drop', { reason: 'unconnected-port' });
    }
    if (this.flowTap !== null) this.flowTap.dropped(p, { node: port.owner.name.split('/')[0] ?? '', netns: '', device: `${port.owner.name}.${port.name}` }, 'unconnected-port');
    this.pool.free(p);
  }

  private firstDrop(element: string, drops: Counters, reason: number): void {
    this.reportFirstDrop({ element, reason: drops.names[reason] ?? `reason-${reason}` });
  }

  private reportFirstDrop(e: DropEvent): void {
    if (this.firstDrops.length < 1000) this.firstDrops.push(e);
    this.onFirstDrop?.(e);
  }
}
