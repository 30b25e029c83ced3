/**
 * Fdb: the forwarding database of a learning bridge (Linux `bridge fdb`, after Snabb's
 * apps/bridge/mac_table.lua): MAC -> port, learned from source addresses, aged out.
 *
 * Storage: fixed-capacity slots in typed arrays (port, last-seen time, static flag) with
 * a free list, and one Map from MAC (a 48-bit integer) to slot. Learning an existing MAC
 * writes two array cells and allocates nothing. A MAC is a double, which makes Map.get
 * comparatively slow, so a small direct-mapped cache (MAC -> slot, checked against the
 * slot's own MAC) answers the MACs a bridge sees over and over without it.
 *
 * Ageing (Linux semantics, `has_expired()`): a dynamic entry last refreshed at `seen`
 * is expired once `now - seen >= ageingMs` (default 300 s, the Linux default), so it
 * still hits at 299 s and misses from 300 s on. An expired entry is removed when lookup
 * (or learning into a full table) finds it. Static entries never age and are never
 * moved by learning (like Linux `is_local`/`is_static` entries).
 *
 * Full table: learning a new MAC first sweeps expired entries (only once one can have
 * expired, so a MAC flood cannot make every learn O(capacity)); if that frees nothing
 * the learn is refused and counted in `overflow` (frames are still forwarded, by flood).
 */
import { formatMac } from '../wire/addr.js';

/** Slots of the MAC -> slot cache (a power of two) and the shift that maps a 32-bit hash onto them. */
const CACHE = 64;
const CACHE_SHIFT = 26;

export interface FdbEntry {
  mac: number;
  port: number;
  ageMs: number;
  isStatic: boolean;
}

export interface FdbOptions {
  /** Entries at most; default 4096. */
  capacity?: number;
  /** Dynamic entry lifetime since last seen; default 300_000 ms (Linux `ageing_time`). */
  ageingMs?: number;
}

export class Fdb {
  readonly capacity: number;
  readonly ageingMs: number;
  /** Learn attempts refused because the table was full. */
  overflow = 0;
  /**
   * Bumped whenever an entry goes away or changes port (removal, flush, expiry, a MAC that
   * moved, a static entry): a flowtable entry built on an earlier answer dies.
   */
  generation = 0;
  private readonly index = new Map<number, number>();
  private readonly ports: Int32Array;
  private readonly seen: Float64Array;
  private readonly statics: Uint8Array;
  private readonly freeSlots: Int32Array;
  /** The MAC held by each slot (-1 when free): validates cache hits. */
  private readonly macs: Float64Array;
  /** Direct-mapped cache: MAC -> slot (CACHE slots; -1 MAC = empty). */
  private readonly cacheMac = new Float64Array(CACHE).fill(-1);
  private readonly cacheSlot = new Int32Array(CACHE);
  private freeTop: number;
  /** No dynamic entry expires before this time (a lower bound; refreshes only push expiry later). */
  private nextSweep = -Infinity;

  constructor(opts: FdbOptions = {}) {
    const capacity = opts.capacity ?? 4096;
    const ageingMs = opts.ageingMs ?? 300_000;
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`fdb capacity ${capacity}: expected an integer >= 1`);
    if (!(ageingMs > 0)) throw new Error(`fdb ageingMs ${ageingMs}: expected a positive number`);
    this.capacity = capacity;
    this.ageingMs = ageingMs;
    this.ports = new Int32Array(capacity);
    this.seen = new Float64Array(capacity);
    this.statics = new Uint8Array(capacity);
    this.freeSlots = new Int32Array(capacity);
    this.macs = new Float64Array(capacity).fill(-1);
    for (let i = 0; i < capacity; i++) this.freeSlots[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  get size(): number {
    return this.index.size;
  }

  /** Inserts `mac` at `port` or refreshes it (a MAC that moved follows to the new port); static entries stay. */
  learn(mac: number, port: number, now: number): void {
    const slot = this.find(mac);
    if (slot >= 0) {
      if (this.statics[slot] === 1) return;
      if (this.ports[slot] !== port) this.generation++;
      this.ports[slot] = port;
      this.seen[slot] = now;
      return;
    }
    if (this.freeTop === 0 && !this.sweep(now)) {
      this.overflow++;
      return;
    }
    this.insert(mac, port, now, 0);
  }

  /** The port of `mac`, or -1 (unknown or expired; an expired entry is removed). */
  lookup(mac: number, now: number): number {
    const slot = this.find(mac);
    if (slot < 0) return -1;
    if (this.statics[slot] === 0 && now - this.seen[slot]! >= this.ageingMs) {
      this.release(mac, slot);
      return -1;
    }
    return this.ports[slot]!;
  }

  /**
   * What `lookup` answers at `now`, without removing an expired entry: the flowtable asks
   * before it commits to a frame, so that a frame it gives back to the slow path finds the
   * table untouched. When it answers a port, `lookup` would answer the same and change nothing.
   */
  peek(mac: number, now: number): number {
    const slot = this.find(mac);
    if (slot < 0) return -1;
    if (this.statics[slot] === 0 && now - this.seen[slot]! >= this.ageingMs) return -1;
    return this.ports[slot]!;
  }

  /** Adds (or turns an entry into) a static entry: never ages, never moved by learning. Throws when full. */
  addStatic(mac: number, port: number): void {
    this.generation++;
    const slot = this.index.get(mac);
    if (slot !== undefined) {
      this.ports[slot] = port;
      this.statics[slot] = 1;
      return;
    }
    if (this.freeTop === 0) {
      this.overflow++;
      throw new Error(`fdb full (${this.capacity} entries): cannot add a static entry for MAC ${formatMac(mac)}`);
    }
    this.insert(mac, port, 0, 1);
  }

  remove(mac: number): boolean {
    const slot = this.index.get(mac);
    if (slot === undefined) return false;
    this.release(mac, slot);
    return true;
  }

  /** Removes every entry (dynamic and static) pointing at `port`; returns how many. */
  flushPort(port: number): number {
    let n = 0;
    for (const [mac, slot] of this.index) {
      if (this.ports[slot] === port) {
        this.release(mac, slot);
        n++;
      }
    }
    return n;
  }

  /** Removes every dynamic entry (`bridge fdb flush dynamic`); returns how many. */
  flushDynamic(): number {
    let n = 0;
    for (const [mac, slot] of this.index) {
      if (this.statics[slot] === 0) {
        this.release(mac, slot);
        n++;
      }
    }
    return n;
  }

  /** Live entries sorted by MAC (for the API and CLI; allocates). Expired ones are left out. */
  entries(now: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    for (const [mac, slot] of this.index) {
      const isStatic = this.statics[slot] === 1;
      const ageMs = isStatic ? 0 : now - this.seen[slot]!;
      if (!isStatic && ageMs >= this.ageingMs) continue;
      out.push({ mac, port: this.ports[slot]!, ageMs, isStatic });
    }
    return out.sort((a, b) => a.mac - b.mac);
  }

  /** The slot of `mac`, or -1: the cache first, then the Map (whose answer is cached). */
  private find(mac: number): number {
    const c = Math.imul(mac | 0, 0x9e3779b1) >>> CACHE_SHIFT;
    if (this.cacheMac[c] === mac) {
      const slot = this.cacheSlot[c]!;
      if (this.macs[slot] === mac) return slot;
    }
    const slot = this.index.get(mac);
    if (slot === undefined) return -1;
    this.cacheMac[c] = mac;
    this.cacheSlot[c] = slot;
    return slot;
  }

  private insert(mac: number, port: number, now: number, isStatic: number): void {
    const slot = this.freeSlots[--this.freeTop]!;
    this.macs[slot] = mac;
    this.ports[slot] = port;
    this.seen[slot] = now;
    this.statics[slot] = isStatic;
    this.index.set(mac, slot);
    if (isStatic === 0 && now + this.ageingMs < this.nextSweep) this.nextSweep = now + this.ageingMs;
  }

  private release(mac: number, slot: number): void {
    this.generation++;
    this.index.delete(mac);
    this.macs[slot] = -1;
    this.freeSlots[this.freeTop++] = slot;
  }

  /**
   * Removes expired dynamic entries; true when a slot is free afterwards. Skipped until the
   * earliest expiry the previous sweep saw, so a MAC flood against a table of live entries
   * costs one comparison per refused learn, not a scan.
   */
  private sweep(now: number): boolean {
    if (now < this.nextSweep) return false;
    let next = Infinity;
    for (const [mac, slot] of this.index) {
      if (this.statics[slot] === 1) continue;
      const expires = this.seen[slot]! + this.ageingMs;
      if (now >= expires) this.release(mac, slot);
      else if (expires < next) next = expires;
    }
    this.nextSweep = next;
    return this.freeTop > 0;
  }
}
