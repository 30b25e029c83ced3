/**
 * NeighborLimit: the kernel-wide neighbour count that every NeighborTable of one emulated node
 * shares (`table.share(limit)`), with Linux's gc_thresh2/gc_thresh3 and forced GC.
 */
import type { NeighborTable } from './neighbor.js';

/** Seconds' worth of ms an entry must have gone unconfirmed before forced GC may take it (neigh_forced_gc: `tref = now - 5 * HZ`). */
const FORCED_GC_AGE_MS = 5000;

/**
 * Linux's `arp_tbl` entry count, one per kernel (an emulated node): every table `share`d with
 * it counts its entries here. `admit` is net/core/neighbour.c `neigh_alloc`:
 *
 *   entries >= gc_thresh3 || (entries >= gc_thresh2 && now > last_flush + 5 s):
 *       neigh_forced_gc(), which removes unreferenced entries (here: no packets waiting, not
 *       INCOMPLETE) that are not PERMANENT and are FAILED or were last confirmed more than
 *       5 s ago, until the count is back at gc_thresh2 (max_clean); when it removed nothing and entries >= gc_thresh3 the allocation fails: "neighbour:
 *       arp_cache: neighbor table overflow!", NEIGH_CACHE_STAT table_fulls, ENOBUFS.
 *
 * Entries younger than 5 s cannot be collected: a burst of new neighbours overflows.
 */
export class NeighborLimit {
  /** Counted (non-permanent) entries of every sharing table. */
  entries = 0;
  /** Allocations refused (Linux's table_fulls). */
  tableFulls = 0;
  /** Forced GC runs and the entries they removed. */
  forcedGcRuns = 0;
  forcedGcRemoved = 0;
  private lastFlush = -Infinity;
  readonly tables = new Set<NeighborTable>();

  constructor(public gcThresh2 = 512, public gcThresh3 = 1024) {}

  /** neigh_alloc's check for one new entry at `now`: true when it may be created (and is counted). */
  admit(now: number): boolean {
    const n = this.entries;
    if (n >= this.gcThresh3 || (n >= this.gcThresh2 && now > this.lastFlush + FORCED_GC_AGE_MS)) {
      const removed = this.forcedGc(now);
      if (removed === 0 && n >= this.gcThresh3) {
        this.tableFulls++;
        return false;
      }
    }
    this.entries++;
    return true;
  }

  private forcedGc(now: number): number {
    this.forcedGcRuns++;
    this.lastFlush = now;
    const maxClean = this.entries - this.gcThresh2; // it stops once back at gc_thresh2
    let removed = 0;
    for (const t of this.tables) {
      if (removed >= maxClean) break;
      removed += t.forcedGc(now - FORCED_GC_AGE_MS, maxClean - removed);
    }
    this.forcedGcRemoved += removed;
    return removed;
  }
}
