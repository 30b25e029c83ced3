/**
 * NeighborTable: the ARP cache of one network namespace (Linux's neighbour subsystem,
 * after smoltcp's iface/neighbor.rs), IPv4 -> MAC, with a bounded queue of packets
 * waiting for each unresolved address.
 *
 * States and time (`now` in ms, injected), measured from `updated` (last confirmation):
 *   INCOMPLETE  an ARP request is out; packets queue (at most `pendingMax`, then
 *               QueueFull: the caller drops). The caller's retransmit timer calls
 *               `probe()` every `retransMs`: Retry until `maxProbes` requests were sent,
 *               then the entry becomes FAILED (3 requests, 3 s with the defaults, as Linux).
 *   REACHABLE   confirmed by an ARP reply/request (`update`). Past `reachableMs` it turns
 *               STALE on the next lookup and still answers (Linux keeps using it).
 *   STALE       answers until `staleMs` after the last confirmation, then the lookup
 *               removes it and misses (the caller resolves again). This stands in for
 *               Linux's DELAY/PROBE re-confirmation and garbage collection.
 *   PERMANENT   static (`ip neigh add ... nud permanent`): never ages, not overridden by ARP.
 *   FAILED      resolution gave up; lookups miss. A new packet (`enqueue`) restarts
 *               resolution (as Linux does); an idle FAILED entry is collected after `staleMs`.
 *
 * The table never frees packets (it has no pool): `update` hands back the packets that
 * waited (to send), `takePending`/`removeDev` hand them back to free. Entries are only
 * removed automatically while they hold no packets; `remove(ip)` on an entry that still
 * holds some returns false and keeps it (take them first).
 *
 * Capacity: creating an entry in a full table first collects expired STALE and idle
 * FAILED entries; if none, the creation is refused and counted in `overflow` (Linux's
 * "neighbour table overflow"): enqueue answers QueueFull, update ignores the address.
 * Lookup is one Map.get and allocates nothing; entry objects are recycled.
 *
 * Kernel-wide limit (`share(limit)`): Linux has one ARP table per kernel (net/ipv4/arp.c
 * `arp_tbl`), not one per network namespace, so every namespace of a node counts against the
 * same gc_thresh2/gc_thresh3 (512/1024 by default). `NeighborLimit` is that count, shared by
 * the tables of one node; see its `admit` for net/core/neighbour.c `neigh_alloc`'s rule.
 * PERMANENT entries do not count (`exempt_from_gc`, Linux 4.20+).
 */
import type { NeighborLimit } from './neighbor-limit.js';
import type { Packet } from '../engine/packet.js';

export const NeighState = { Incomplete: 1, Reachable: 2, Stale: 3, Permanent: 4, Failed: 5 } as const;
export type NeighState = (typeof NeighState)[keyof typeof NeighState];
export const Enqueue = { Queued: 0, QueuedSendRequest: 1, QueueFull: 2 } as const;
export const Probe = { Retry: 0, Failed: 1, Done: 2 } as const;

const STATE_NAMES = ['NONE', 'INCOMPLETE', 'REACHABLE', 'STALE', 'PERMANENT', 'FAILED'] as const;

export interface NeighborEntryView {
  ip: number;
  mac: number;
  ifindex: number;
  /** As `ip neigh` prints it: INCOMPLETE, REACHABLE, STALE, PERMANENT, FAILED. */
  state: string;
  ageMs: number;
  /** Packets waiting for resolution. */
  pending: number;
}

export interface NeighborTableOptions {
  capacity?: number;
  reachableMs?: number;
  staleMs?: number;
  pendingMax?: number;
  retransMs?: number;
  maxProbes?: number;
}

interface Entry {
  /** Counted in the shared NeighborLimit. */
  counted: boolean;
  ip: number;
  mac: number;
  ifindex: number;
  state: number;
  updated: number;
  probes: number;
  pending: Packet[];
}

export class NeighborTable {
  readonly capacity: number;
  readonly reachableMs: number;
  readonly staleMs: number;
  readonly pendingMax: number;
  readonly retransMs: number;
  readonly maxProbes: number;
  /** Entries refused because the table was full. */
  overflow = 0;
  /**
   * Bumped by every change that can alter what `lookup` answers for some address (learn,
   * resolution started or failed, removal): the namespace's DstCache compares it.
   */
  version = 0;
  private readonly map = new Map<number, Entry>();
  private readonly spare: Entry[] = [];
  /** The kernel-wide count this table shares (null: only `capacity` limits it). */
  private limit: NeighborLimit | null = null;

  constructor(opts: NeighborTableOptions = {}) {
    this.capacity = positiveInt('capacity', opts.capacity ?? 1024);
    this.reachableMs = positive('reachableMs', opts.reachableMs ?? 30_000);
    this.staleMs = positive('staleMs', opts.staleMs ?? 60_000);
    this.pendingMax = positiveInt('pendingMax', opts.pendingMax ?? 16);
    this.retransMs = positive('retransMs', opts.retransMs ?? 1000);
    this.maxProbes = positiveInt('maxProbes', opts.maxProbes ?? 3);
  }

  get size(): number {
    return this.map.size;
  }

  /** Counts this table's entries in the kernel-wide `limit` from now on (Linux: one arp_tbl per kernel). */
  share(limit: NeighborLimit): void {
    if (this.limit !== null) throw new Error('neighbor table: already shares a limit');
    this.limit = limit;
    limit.tables.add(this);
    for (const e of this.map.values()) {
      e.counted = e.state !== NeighState.Permanent;
      if (e.counted) limit.entries++;
    }
  }

  /** Stops sharing (the namespace went away): its entries leave the kernel-wide count. */
  unshare(): void {
    const l = this.limit;
    if (l === null) return;
    for (const e of this.map.values()) if (e.counted) l.entries--;
    for (const e of this.map.values()) e.counted = false;
    l.tables.delete(this);
    this.limit = null;
  }

  /** neigh_forced_gc's pass over this table: removes up to `max` idle non-PERMANENT entries FAILED or confirmed before `before`. */
  forcedGc(before: number, max: number): number {
    let n = 0;
    for (const e of this.map.values()) {
      if (n >= max) break;
      if (e.pending.length > 0 || e.state === NeighState.Permanent || e.state === NeighState.Incomplete) continue;
      if (e.state === NeighState.Failed || e.updated < before) {
        this.release(e);
        n++;
      }
    }
    return n;
  }

  /** The MAC of `ip`, or -1 (unknown, unresolved, failed or expired). */
  lookup(ip: number, now: number): number {
    const e = this.map.get(ip);
    if (e === undefined) return -1;
    const st = e.state;
    if (st === NeighState.Permanent) return e.mac;
    if (st === NeighState.Reachable || st === NeighState.Stale) {
      const age = now - e.updated;
      if (age >= this.staleMs) {
        this.release(e);
        return -1;
      }
      if (st === NeighState.Reachable && age >= this.reachableMs) e.state = NeighState.Stale;
      return e.mac;
    }
    if (st === NeighState.Failed && e.pending.length === 0 && now - e.updated >= this.staleMs) this.release(e);
    return -1;
  }

  /**
   * Until when (exclusive) `lookup(ip, now')` keeps answering what it answers now without
   * changing the entry: PERMANENT forever, REACHABLE until it would turn STALE, STALE until
   * it would expire; -Infinity for an address without a usable entry. Valid while
   * `version` is unchanged. Lets a caller cache the answer without changing behaviour.
   */
  stableUntil(ip: number): number {
    const e = this.map.get(ip);
    if (e === undefined) return -Infinity;
    const st = e.state;
    if (st === NeighState.Permanent) return Infinity;
    if (st === NeighState.Reachable) return e.updated + Math.min(this.reachableMs, this.staleMs);
    if (st === NeighState.Stale) return e.updated + this.staleMs;
    return -Infinity;
  }

  /**
   * Learns or confirms ip -> mac on `ifindex` (an ARP reply, or a request seen). Returns the
   * packets that waited for `ip`, in arrival order (the caller sends them), or null.
   * A PERMANENT entry is only changed by another permanent update.
   */
  update(ip: number, mac: number, ifindex: number, now: number, permanent = false): Packet[] | null {
    let e: Entry | null = this.map.get(ip) ?? null;
    if (e === null) {
      e = this.create(ip, ifindex, now, permanent);
      if (e === null) return null;
    } else if (e.state === NeighState.Permanent && !permanent) {
      return null;
    }
    e.mac = mac;
    e.ifindex = ifindex;
    e.updated = now;
    e.probes = 0;
    this.version++;
    e.state = permanent ? NeighState.Permanent : NeighState.Reachable;
    if (e.pending.length === 0) return null;
    const out = e.pending;
    e.pending = [];
    return out;
  }

  /**
   * Queues `p` until `ip` resolves. QueuedSendRequest: a new resolution started (the caller
   * sends the first ARP request and calls probe() after retransMs); Queued: a request is
   * already out; QueueFull: the queue (or the table) is full and the caller drops `p`.
   */
  enqueue(ip: number, ifindex: number, p: Packet, now: number): number {
    let e: Entry | null = this.map.get(ip) ?? null;
    let fresh = false;
    if (e === null) {
      e = this.create(ip, ifindex, now);
      if (e === null) return Enqueue.QueueFull;
      fresh = true;
    } else if (e.state === NeighState.Permanent) {
      return Enqueue.QueueFull; // resolvable: the caller should have sent it; never reached via lookup
    } else if (e.state !== NeighState.Incomplete) {
      fresh = true; // FAILED (retry, as Linux) or an entry the caller found unusable: resolve again
    }
    if (e.pending.length >= this.pendingMax) return Enqueue.QueueFull;
    if (fresh) {
      this.version++;
      e.state = NeighState.Incomplete;
      e.ifindex = ifindex;
      e.updated = now;
      e.probes = 1;
    }
    e.pending.push(p);
    return fresh ? Enqueue.QueuedSendRequest : Enqueue.Queued;
  }

  /**
   * The retransmit timer of an INCOMPLETE entry: Retry (send another request and schedule
   * again), Failed (maxProbes requests went unanswered: the entry is FAILED, take its
   * packets with takePending), Done (resolved, failed or removed meanwhile: stop).
   */
  probe(ip: number, now: number): number {
    const e = this.map.get(ip);
    if (e === undefined || e.state !== NeighState.Incomplete) return Probe.Done;
    if (e.probes >= this.maxProbes) {
      this.version++;
      e.state = NeighState.Failed;
      e.updated = now;
      return Probe.Failed;
    }
    e.probes++;
    return Probe.Retry;
  }

  /** Removes and returns the packets waiting for `ip` (to free them). */
  takePending(ip: number): Packet[] {
    const e = this.map.get(ip);
    if (e === undefined || e.pending.length === 0) return [];
    const out = e.pending;
    e.pending = [];
    return out;
  }

  /** True while packets wait for `ip`. */
  hasPending(ip: number): boolean {
    const e = this.map.get(ip);
    return e !== undefined && e.pending.length > 0;
  }

  /** The interface the entry of `ip` is on, or -1. */
  ifindexOf(ip: number): number {
    const e = this.map.get(ip);
    return e === undefined ? -1 : e.ifindex;
  }

  /** The state of `ip` (a NeighState value) without ageing it, or 0 when absent. */
  stateOf(ip: number): number {
    return this.map.get(ip)?.state ?? 0;
  }

  /** Removes the entry of `ip` (`ip neigh del`); false when absent or packets still wait (take them first). */
  remove(ip: number): boolean {
    const e = this.map.get(ip);
    if (e === undefined || e.pending.length > 0) return false;
    this.release(e);
    return true;
  }

  /** Removes every entry on `ifindex` (the interface went away); returns their waiting packets to free. */
  removeDev(ifindex: number): Packet[] {
    const out: Packet[] = [];
    for (const e of this.map.values()) {
      if (e.ifindex !== ifindex) continue;
      for (const p of e.pending) out.push(p);
      e.pending.length = 0;
      this.release(e);
    }
    return out;
  }

  /** Every entry as `ip neigh` shows it (sorted by IP), ageing applied to the view only. */
  entries(now: number): NeighborEntryView[] {
    const out: NeighborEntryView[] = [];
    for (const e of this.map.values()) {
      const age = now - e.updated;
      let st = e.state;
      if (st === NeighState.Reachable || st === NeighState.Stale) {
        if (age >= this.staleMs) continue;
        if (age >= this.reachableMs) st = NeighState.Stale;
      }
      out.push({ ip: e.ip, mac: e.mac, ifindex: e.ifindex, state: STATE_NAMES[st] ?? 'NONE', ageMs: age, pending: e.pending.length });
    }
    return out.sort((a, b) => a.ip - b.ip);
  }

  private create(ip: number, ifindex: number, now: number, permanent = false): Entry | null {
    if (this.map.size >= this.capacity && !this.collect(now)) {
      this.overflow++;
      return null;
    }
    const counted = this.limit !== null && !permanent;
    if (counted && !this.limit!.admit(now)) {
      this.overflow++;
      return null;
    }
    const e = this.spare.pop() ?? { counted: false, ip: 0, mac: -1, ifindex: 0, state: 0, updated: 0, probes: 0, pending: [] };
    e.counted = counted;
    e.ip = ip;
    e.mac = -1;
    e.ifindex = ifindex;
    e.state = NeighState.Incomplete;
    e.updated = now;
    e.probes = 0;
    this.map.set(ip, e);
    this.version++;
    return e;
  }

  private release(e: Entry): void {
    this.version++;
    if (e.counted) this.limit!.entries--;
    e.counted = false;
    this.map.delete(e.ip);
    e.state = 0;
    if (this.spare.length < 64) this.spare.push(e);
  }

  /** Drops expired STALE/REACHABLE and idle FAILED entries; true when room was made. */
  private collect(now: number): boolean {
    for (const e of this.map.values()) {
      if (e.pending.length > 0) continue;
      const age = now - e.updated;
      const st = e.state;
      if ((st === NeighState.Reachable || st === NeighState.Stale || st === NeighState.Failed) && age >= this.staleMs) this.release(e);
    }
    return this.map.size < this.capacity;
  }
}

function positive(name: string, v: number): number {
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new Error(`neighbor table ${name} ${v}: expected a positive number`);
  return v;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`neighbor table ${name} ${v}: expected an integer >= 1`);
  return v;
}
