/**
 * Links: fixed rings between an element's output port and another's input port (after
 * Snabb's core/link.h). A full ring drops the packet and counts it: backpressure is
 * visible as a link's `drops`, never as unbounded memory. Transmitting into an empty ring
 * queues the link on the scheduler, which later calls the consumer to drain it.
 *
 * Captures hook here: `tap`, when set, sees every packet transmitted (one branch when not).
 */
import type { Packet } from './packet.js';
import type { Element, InPort, OutPort } from './element.js';
import type { Engine } from './engine.js';

export const DEFAULT_LINK_CAPACITY = 1024;
/**
 * Slots a ring starts with; it doubles (up to `capacity`) when a packet finds it full, so a
 * cluster of 10,000 pods does not hold 40,000 idle rings of 1024 slots (8 KiB each).
 */
const INITIAL_RING = 16;

export type LinkTap = (p: Packet) => void;

/** An interface as a capture sees it: the links of its two directions (src/io/capture.ts taps them). */
export interface CapturePoint {
  /** `node1/cbr0`, `pod1/eth0`, ... */
  readonly name: string;
  readonly description?: string;
  /** Frames arriving on the interface. */
  readonly rx: Link | null;
  /** Frames leaving it. */
  readonly tx: Link | null;
}

export class Link {
  readonly name: string;
  readonly capacity: number;
  private ring: (Packet | null)[];
  /** ring.length - 1 (the ring grows to `capacity` on demand). */
  private mask: number;
  private head = 0;
  private tail = 0;
  txPackets = 0;
  txBytes = 0;
  drops = 0;
  /** The element that drains this link, and the index of its input port. */
  consumer: Element | null = null;
  port = 0;
  /** The ports this link joins (null once disconnected). */
  from: OutPort | null = null;
  to: InPort | null = null;
  /** True while the link sits in the scheduler's ready queue. */
  queued = false;
  /** Fast path for observers: null, the one observer, or a fan-out over `taps`. */
  tap: LinkTap | null = null;
  private taps: LinkTap[] = [];
  private readonly engine: Engine;

  constructor(engine: Engine, name: string, capacity = DEFAULT_LINK_CAPACITY) {
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.engine = engine;
    this.name = name;
    this.capacity = cap;
    const start = Math.min(cap, INITIAL_RING);
    this.mask = start - 1;
    this.ring = new Array<Packet | null>(start).fill(null);
  }

  /** Doubles the ring (cold: at most log2(capacity / 16) times per link), keeping the queued packets in place. */
  private grow(): void {
    const old = this.ring;
    const oldMask = this.mask;
    const size = old.length * 2;
    const ring = new Array<Packet | null>(size).fill(null);
    for (let k = this.head; k !== this.tail; k++) ring[k & (size - 1)] = old[k & oldMask]!;
    this.ring = ring;
    this.mask = size - 1;
  }

  /** Adds an observer (a capture) that sees every packet transmitted on this link. */
  addTap(fn: LinkTap): void {
    this.taps = [...this.taps, fn];
    this.engine.linkTaps++;
    this.retap();
  }

  removeTap(fn: LinkTap): void {
    const before = this.taps.length;
    this.taps = this.taps.filter((t) => t !== fn);
    this.engine.linkTaps -= before - this.taps.length;
    this.retap();
  }

  /** Records that this link was joined, cut or re-pointed (Engine.wiringGen). */
  rewired(): void {
    this.engine.wiringGen++;
  }

  /** Counts a frame that a flowtable hit carried past this ring (it was empty): what `transmit` would have counted. */
  countPassed(bytes: number): void {
    this.txPackets++;
    this.txBytes += bytes;
  }

  private retap(): void {
    const taps = this.taps;
    if (taps.length === 0) this.tap = null;
    else if (taps.length === 1) this.tap = taps[0]!;
    else this.tap = (p) => { for (const t of taps) t(p); };
  }

  get size(): number {
    return this.tail - this.head;
  }

  empty(): boolean {
    return this.tail === this.head;
  }

  transmit(p: Packet): void {
    if (this.tail - this.head > this.mask) {
      if (this.mask + 1 < this.capacity) this.grow();
      else {
        this.drops++;
        this.engine.dropAtLink(p, this);
        return;
      }
    }
    if (this.tap !== null) this.tap(p);
    this.ring[this.tail & this.mask] = p;
    this.tail++;
    this.txPackets++;
    this.txBytes += p.end - p.start;
    if (!this.queued && this.consumer !== null) this.engine.scheduler.wake(this);
  }

  /** The next packet, or null when empty. */
  receive(): Packet | null {
    if (this.head === this.tail) return null;
    const i = this.head & this.mask;
    const p = this.ring[i]!;
    this.ring[i] = null;
    this.head++;
    return p;
  }

  /** Drops every queued packet as `loop-abort` (the scheduler gave up on a loop); returns how many. */
  abort(): number {
    let n = 0;
    for (let p = this.receive(); p !== null; p = this.receive()) {
      this.engine.dropLoopAbort(p, this);
      n++;
    }
    return n;
  }

  /** Frees every queued packet (used when a link is torn down). */
  flush(): number {
    let n = 0;
    for (let p = this.receive(); p !== null; p = this.receive()) {
      this.engine.pool.free(p);
      n++;
    }
    return n;
  }
}
