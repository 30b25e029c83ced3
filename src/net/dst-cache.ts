/**
 * DstCache: a namespace's per-destination decision cache (Linux keeps the same thing in
 * its route cache / dst entries): for an IPv4 destination, whether it is local, or the
 * route, egress interface and next hop; and for that next hop, the neighbour's MAC split
 * into the 16 + 32-bit halves the Ethernet header is written from.
 *
 * Direct-mapped, SIZE slots in typed arrays indexed by a hash of the destination; a
 * colliding destination simply replaces the slot. Nothing is allocated after construction;
 * a namespace constructs its cache on its first routing decision (~21 KiB each: a
 * 1000-node cluster has 11,000 namespaces, most of which never route while it is built).
 *
 * Validity, so that a cached answer is always the one the tables would give:
 *   - the route part carries the generation it was filled at (route table version plus the
 *     namespace's address/interface generation); any route, address or interface change
 *     makes every route part stale;
 *   - the neighbour part carries the neighbour table's `version` and the time until which
 *     `NeighborTable.lookup` would answer the same without changing the entry
 *     (`stableUntil`: a REACHABLE entry turning STALE, a STALE one expiring); after that
 *     the caller takes the slow path, which ages the entry exactly as before.
 * MTU and up/down are read from the interface per packet, never cached.
 */
import type { NetIf } from './iface.js';
import type { Route } from './route-table.js';

export const DstKind = { None: 0, Local: 1, Route: 2 } as const;

const SIZE = 256;
const TWO_32 = 0x1_0000_0000;

export class DstCache {
  /** Destination of the slot (as int32). */
  readonly dst = new Int32Array(SIZE);
  /** Route generation the slot was filled at; -1 = empty. */
  readonly rgen = new Float64Array(SIZE).fill(-1);
  readonly kind = new Uint8Array(SIZE);
  readonly route: (Route | null)[] = new Array<Route | null>(SIZE).fill(null);
  readonly out: (NetIf | null)[] = new Array<NetIf | null>(SIZE).fill(null);
  /** Neighbour part: table version at fill time (-1 = none), stable until (ms), MACs. */
  readonly ngen = new Float64Array(SIZE).fill(-1);
  readonly until = new Float64Array(SIZE);
  readonly nhop = new Int32Array(SIZE);
  readonly nout: (NetIf | null)[] = new Array<NetIf | null>(SIZE).fill(null);
  readonly dstHi = new Int32Array(SIZE);
  readonly dstLo = new Int32Array(SIZE);
  /** The egress interface's MAC when the slot was filled (compared: the MAC may change). */
  readonly srcMac = new Float64Array(SIZE);
  readonly srcHi = new Int32Array(SIZE);
  readonly srcLo = new Int32Array(SIZE);

  /** The slot `dst` maps to. */
  slot(dst: number): number {
    return Math.imul(dst | 0, 0x9e3779b1) >>> 24;
  }

  /** Fills the route part of slot `i`. */
  setRoute(i: number, dst: number, gen: number, kind: number, r: Route | null, out: NetIf | null): void {
    this.dst[i] = dst | 0;
    this.rgen[i] = gen;
    this.kind[i] = kind;
    this.route[i] = r;
    this.out[i] = out;
    this.ngen[i] = -1;
  }

  /** Fills the neighbour part of slot `i`: `nexthop` on `out` resolves to `mac` until `until`. */
  setNeighbor(i: number, nexthop: number, out: NetIf, mac: number, gen: number, until: number): void {
    this.ngen[i] = gen;
    this.until[i] = until;
    this.nhop[i] = nexthop | 0;
    this.nout[i] = out;
    this.dstHi[i] = Math.floor(mac / TWO_32);
    this.dstLo[i] = mac % TWO_32 | 0;
    const src = out.mac;
    this.srcMac[i] = src;
    this.srcHi[i] = Math.floor(src / TWO_32);
    this.srcLo[i] = src % TWO_32 | 0;
  }
}
