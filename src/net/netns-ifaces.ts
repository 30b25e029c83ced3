/**
 * The interfaces of a NetNamespace (`ip link` / `ip addr` of one namespace): NetIf objects
 * by ifindex, by name and by the namespace's input port, the local addresses, and the
 * connected routes `ip addr add` installs. Every change bumps `gen`, which is part of the
 * generation the namespace's DstCache checks (with the route table's version).
 */
import type { Ports } from '../engine/element.js';
import type { PacketPool } from '../engine/packet.js';
import { NetIf, type IfKind } from './iface.js';
import type { NeighborTable } from './neighbor.js';
import type { Route, RouteTable } from './route-table.js';

export type RouteSpec = Omit<Route, 'dev' | 'metric' | 'proto' | 'src' | 'onlink'> & {
  dev: string; onlink?: boolean; metric?: number; proto?: Route['proto']; src?: number;
};

export class IfaceTable {
  /** By ifindex (0 is never used). */
  readonly byIndex: (NetIf | null)[] = [null];
  readonly byName = new Map<string, NetIf>();
  /** By the index of the namespace's input port of the interface. */
  readonly byPort: (NetIf | null)[] = [];
  /** Local address -> its interface. */
  readonly localAddrs = new Map<number, NetIf>();
  /** Bumped by every change of interfaces or addresses. */
  gen = 0;

  constructor(
    private readonly node: string,
    private readonly netns: string,
    private readonly ports: Ports,
    private readonly routes: RouteTable,
    private readonly neighbors: NeighborTable,
    private readonly pool: PacketPool,
  ) {}

  add(name: string, kind: IfKind, mac: number, mtu: number): NetIf {
    if (this.byName.has(name)) throw new Error(`${this.node}/${this.netns}: interface "${name}" exists`);
    let ifindex = this.byIndex.indexOf(null, 1);
    if (ifindex < 0) ifindex = this.byIndex.length;
    const nif = new NetIf(ifindex, name, kind, mac, mtu, this.node, this.netns);
    nif.inPort = this.ports.addIn(`if:${name}`);
    nif.outPort = this.ports.addOut(`if:${name}`);
    this.byIndex[ifindex] = nif;
    this.byPort[nif.inPort.index] = nif;
    this.byName.set(name, nif);
    this.gen++;
    return nif;
  }

  /**
   * The loopback device, as a new Linux namespace has it: `lo`, ifindex 1 when added first,
   * MAC 0, MTU 65536, `127.0.0.1/8`. Its address is not in `localAddrs` (127/8 is local as a
   * range, and ARP never answers for it, Linux arp_process) and has no route in the main table
   * (Linux keeps `local 127.0.0.0/8 dev lo` in table local).
   */
  addLoopback(): NetIf {
    const lo = this.add('lo', 'loopback', 0, 65536);
    lo.addrs.push({ ip: 0x7f000001, prefix: 8 });
    return lo;
  }

  /** Removes an interface with its addresses, routes and neighbours (their queued packets are freed). */
  remove(name: string): void {
    const nif = this.byName.get(name);
    if (nif === undefined) return;
    for (const a of nif.addrs) this.localAddrs.delete(a.ip);
    this.routes.removeDev(nif.ifindex);
    for (const p of this.neighbors.removeDev(nif.ifindex)) this.pool.free(p);
    if (nif.inPort !== null) this.byPort[nif.inPort.index] = null;
    this.ports.removeIn(`if:${name}`);
    this.ports.removeOut(`if:${name}`);
    this.byIndex[nif.ifindex] = null;
    this.byName.delete(name);
    this.gen++;
  }

  list(): NetIf[] {
    return this.byIndex.filter((x): x is NetIf => x !== null);
  }

  /** Adds an address and its connected route (`proto kernel scope link`), as `ip addr add` does. */
  addAddress(ifname: string, ip: number, prefix: number, connectedRoute: boolean): void {
    const nif = this.must(ifname);
    nif.addrs.push({ ip, prefix });
    this.localAddrs.set(ip, nif);
    this.gen++;
    if (connectedRoute && prefix < 32) {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      this.routes.add({ dst: (ip & mask) >>> 0, prefix, via: 0, dev: nif.ifindex, onlink: false, metric: 0, proto: 'kernel', src: ip });
    }
  }

  /** Removes one address (not its routes), as `ip addr del` does for an address without a connected route. */
  removeAddress(ifname: string, ip: number): void {
    const nif = this.must(ifname);
    const i = nif.addrs.findIndex((a) => a.ip === ip);
    if (i < 0) return;
    nif.addrs.splice(i, 1);
    if (this.localAddrs.get(ip) === nif) this.localAddrs.delete(ip);
    this.gen++;
  }

  addRoute(r: RouteSpec): void {
    const nif = this.must(r.dev);
    this.routes.add({ dst: r.dst, prefix: r.prefix, via: r.via, dev: nif.ifindex, onlink: r.onlink ?? false, metric: r.metric ?? 0, proto: r.proto ?? 'static', src: r.src ?? 0 });
  }

  /** The interface's name for `ip route` output. */
  nameOf(ifindex: number): string {
    return this.byIndex[ifindex]?.name ?? `if${ifindex}`;
  }

  private must(name: string): NetIf {
    const nif = this.byName.get(name);
    if (nif === undefined) throw new Error(`${this.node}/${this.netns}: no interface "${name}"`);
    return nif;
  }
}
