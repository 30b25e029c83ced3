/**
 * RouteTable: the IPv4 routing table of one network namespace (Linux's main table),
 * longest-prefix match with the lowest metric winning among routes to the same prefix.
 *
 * Storage: one Map per prefix length (dst -> routes to that dst/prefix, sorted by metric)
 * and a short array of the prefix lengths present, longest first. A lookup masks the
 * address once per present length, from the longest down, and stops at the first hit:
 * at most 33 Map.get calls, usually two or three, whatever the number of routes, and no
 * allocation. Adding or removing a route is O(routes to that same dst/prefix).
 *
 * `add` replaces a route with the same dst/prefix/metric (`ip route replace`); a route
 * that is invalid (prefix not 0..32, host bits set in dst, addresses not uint32, metric
 * not a non-negative integer) or that does not fit (`capacity`, counted in `overflow`)
 * throws an Error naming the route, and changes nothing.
 *
 * Every change bumps `version` (the namespace's DstCache compares it).
 *
 * `list()` is ordered like `ip route` prints the main table (the FIB trie walks keys in
 * order): by destination ascending, then longer prefix first, then lower metric first;
 * so `default` comes first.
 */
import { formatIpv4, prefixMask } from '../wire/addr.js';

export interface Route {
  dst: number;
  prefix: number;
  /** Gateway, 0 = directly connected. */
  via: number;
  /** Output interface (ifindex). */
  dev: number;
  /** Gateway is reachable on `dev` even though no connected route covers it (flannel's VXLAN routes). */
  onlink: boolean;
  metric: number;
  proto: 'connected' | 'static' | 'kernel' | 'flannel';
  /** Preferred source address, 0 = none. */
  src: number;
}

export interface RouteTableOptions {
  /** Routes at most; default 65536. */
  capacity?: number;
}

export class RouteTable {
  readonly capacity: number;
  /** Routes refused because the table was full. */
  overflow = 0;
  private readonly byLen: Map<number, Route[]>[] = [];
  private readonly masks = new Uint32Array(33);
  private readonly lenCount = new Int32Array(33);
  /** Prefix lengths with at least one route, longest first. */
  private lens: number[] = [];
  private count = 0;
  /** Bumped by every change: caches of lookup results (the namespace's DstCache) compare it. */
  version = 0;

  constructor(opts: RouteTableOptions = {}) {
    const capacity = opts.capacity ?? 65536;
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`route table capacity ${capacity}: expected an integer >= 1`);
    this.capacity = capacity;
    for (let len = 0; len <= 32; len++) {
      this.byLen.push(new Map());
      this.masks[len] = prefixMask(len);
    }
  }

  get size(): number {
    return this.count;
  }

  /** Adds `r` (a copy is kept), replacing the route with the same dst/prefix/metric. */
  add(r: Route): void {
    const bad = invalidRoute(r);
    if (bad !== null) throw new Error(`invalid route ${describe(r)}: ${bad}`);
    const map = this.byLen[r.prefix]!;
    let list = map.get(r.dst);
    // A frozen route is kept as it is, not copied: the overlay hands every node the same
    // frozen objects (one per remote node, src/kube/overlay.ts), 1M routes at 1000 nodes.
    const copy: Route = Object.isFrozen(r) ? r : { dst: r.dst, prefix: r.prefix, via: r.via, dev: r.dev, onlink: r.onlink, metric: r.metric, proto: r.proto, src: r.src };
    if (list !== undefined) {
      const i = list.findIndex((x) => x.metric === r.metric);
      if (i >= 0) {
        list[i] = copy;
        this.version++;
        return;
      }
    }
    if (this.count >= this.capacity) {
      this.overflow++;
      throw new Error(`route table full (${this.capacity} routes): cannot add ${describe(r)}`);
    }
    if (list === undefined) {
      map.set(r.dst, [copy]); // exact-size backing store (a splice into [] reserves 17 slots)
    } else {
      let at = list.length;
      while (at > 0 && list[at - 1]!.metric > r.metric) at--;
      list.splice(at, 0, copy);
    }
    this.count++;
    this.version++;
    if (this.lenCount[r.prefix]!++ === 0) this.relens();
  }

  /** Removes the routes to dst/prefix (only those through `dev` when given); true if any was removed. */
  remove(dst: number, prefix: number, dev?: number): boolean {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return false;
    const map = this.byLen[prefix]!;
    const list = map.get(dst >>> 0);
    if (list === undefined) return false;
    const keep = dev === undefined ? [] : list.filter((x) => x.dev !== dev);
    const removed = list.length - keep.length;
    if (removed === 0) return false;
    this.dropFrom(map, dst >>> 0, prefix, keep, removed);
    return true;
  }

  /** Removes every route through interface `dev` (the interface went away); returns how many. */
  removeDev(dev: number): number {
    let n = 0;
    for (let len = 0; len <= 32; len++) {
      const map = this.byLen[len]!;
      for (const [dst, list] of map) {
        const keep = list.filter((x) => x.dev !== dev);
        const removed = list.length - keep.length;
        if (removed === 0) continue;
        this.dropFrom(map, dst, len, keep, removed);
        n += removed;
      }
    }
    return n;
  }

  /** The best route to `ip` (longest prefix, then lowest metric), or null. Allocation-free: the table's own object, read-only. */
  lookup(ip: number): Route | null {
    const lens = this.lens;
    const masks = this.masks;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const list = this.byLen[len]!.get((ip & masks[len]!) >>> 0);
      if (list !== undefined) return list[0]!;
    }
    return null;
  }

  /** Every route, in `ip route` order (see the doc block). Copies: editing them changes nothing. */
  list(): Route[] {
    const out: Route[] = [];
    for (const map of this.byLen) for (const list of map.values()) for (const r of list) out.push({ ...r });
    return out.sort((a, b) => a.dst - b.dst || b.prefix - a.prefix || a.metric - b.metric);
  }

  clear(): void {
    for (const m of this.byLen) m.clear();
    this.lenCount.fill(0);
    this.lens = [];
    this.count = 0;
    this.version++;
  }

  private dropFrom(map: Map<number, Route[]>, dst: number, prefix: number, keep: Route[], removed: number): void {
    if (keep.length === 0) map.delete(dst);
    else map.set(dst, keep);
    this.count -= removed;
    this.version++;
    this.lenCount[prefix]! -= removed;
    if (this.lenCount[prefix] === 0) this.relens();
  }

  private relens(): void {
    const lens: number[] = [];
    for (let len = 32; len >= 0; len--) if (this.lenCount[len]! > 0) lens.push(len);
    this.lens = lens;
  }
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

function invalidRoute(r: Route): string | null {
  if (!Number.isInteger(r.prefix) || r.prefix < 0 || r.prefix > 32) return `prefix length ${r.prefix} is not an integer 0..32`;
  if (!isU32(r.dst)) return `destination ${r.dst} is not a uint32 IPv4 address`;
  if (((r.dst & ~prefixMask(r.prefix)) >>> 0) !== 0) return `host bits set in ${formatIpv4(r.dst)}/${r.prefix}`;
  if (!isU32(r.via)) return `gateway ${r.via} is not a uint32 IPv4 address`;
  if (!isU32(r.src)) return `source ${r.src} is not a uint32 IPv4 address`;
  if (!Number.isInteger(r.metric) || r.metric < 0) return `metric ${r.metric} is not a non-negative integer`;
  if (!Number.isInteger(r.dev) || r.dev < 0) return `dev ${r.dev} is not an ifindex`;
  return null;
}

function describe(r: Route): string {
  const dst = isU32(r.dst) ? formatIpv4(r.dst) : String(r.dst);
  const via = r.via !== 0 && isU32(r.via) ? ` via ${formatIpv4(r.via)}` : '';
  return `${dst}/${r.prefix}${via} dev ${r.dev} metric ${r.metric}`;
}

/**
 * One route as `ip route` prints it:
 * `default via 10.244.1.1 dev eth0`, `10.244.2.0/24 via 192.168.56.12 dev eth0 onlink`,
 * `10.244.1.0/24 dev cbr0 proto kernel scope link src 10.244.1.1`.
 * Order of fields as iproute2: dst, via, dev, proto (not for `static`/`flannel`, which
 * Linux shows as the unprinted `boot`; `connected` prints as `kernel`), `scope link` for
 * routes without a gateway, src, metric (when non-zero), onlink.
 */
export function formatRoute(r: Route, ifName: (ifindex: number) => string): string {
  let s = r.prefix === 0 && r.dst === 0 ? 'default' : r.prefix === 32 ? formatIpv4(r.dst) : `${formatIpv4(r.dst)}/${r.prefix}`;
  if (r.via !== 0) s += ` via ${formatIpv4(r.via)}`;
  s += ` dev ${ifName(r.dev)}`;
  if (r.proto === 'kernel' || r.proto === 'connected') s += ' proto kernel';
  if (r.via === 0) s += ' scope link';
  if (r.src !== 0) s += ` src ${formatIpv4(r.src)}`;
  if (r.metric !== 0) s += ` metric ${r.metric}`;
  if (r.onlink) s += ' onlink';
  return s;
}
