/**
 * Bridge: a Linux learning bridge (`cbr0`, `br0`, `docker0`); with `hopAction:
 * 'underlay'` it is also the switch of the cluster network between nodes.
 *
 * Ports: one input and one output per bridge port, both named after it (`addPort`);
 * the port number is the input port's index. One port may be marked local
 * (`setLocalPort`): it leads to the bridge device's own interface in the host namespace.
 *
 * Behaviour, per frame (Linux `br_handle_frame` / `br_handle_frame_finish`):
 *   - shorter than an Ethernet header: `runt`; arriving on a port that is down: `port-down`;
 *   - a multicast or all-zero source MAC is invalid: `bad-source` (Linux drops it too);
 *     otherwise the source is learned on the ingress port, except the bridge's own MAC
 *     (Linux never moves its local entry);
 *   - destination = the bridge's own MAC: out of the local port (hop `bridge-local`);
 *   - unicast destination in the FDB: out of that port (hop `bridge-forward`, fdb 'hit');
 *     when that port is the ingress port the frame is dropped (`hairpin-off`) unless the
 *     port has hairpin mode on, which is what lets a pod reach itself through a service;
 *   - unknown unicast, broadcast, multicast: flooded to every other port that is up and
 *     connected, the local port included (Linux delivers broadcasts to the bridge device),
 *     plus the ingress port when it is in hairpin mode (hop `bridge-flood`). Every copy
 *     but the last is a clone (`pool-exhausted` when the pool is dry); nowhere to send:
 *     `no-ports`. A target port that is down when the FDB points at it: `port-down`.
 * VLAN tags are carried, not interpreted (vlan_filtering off).
 * br_netfilter: with `netfilter` set, an untagged IPv4 frame switched between two ports
 * (FDB hit, neither the local port; or a unicast frame flooded for an unknown MAC, once
 * before its copies) goes through `netfilter.bridged` (the host's
 * PREROUTING + POSTROUTING, see hooks.ts); Drop: `netfilter-drop`, Stolen: taken.
 *
 * Switching outside the engine (a TAP's GSO fast path, src/io/tap-port-vnet.ts, writes a
 * frame from one TAP straight to another): `unicastEgress` is the FDB decision for it (no
 * flood, not back out of its ingress port; nothing learned), `switchOutside` asks
 * br_netfilter whether it would pass the frame unchanged, runs it on a copy of the headers
 * when so, and counts it as a forwarded frame.
 *
 * State exposed: `fdb` (the Fdb, port numbers), `portName(n)`, `portList()`.
 * Counters: rx-packets, rx-bytes, tx-packets, tx-bytes, forwarded, flooded, local.
 * Drop reasons: runt, bad-source, hairpin-off, no-ports, pool-exhausted, port-down, netfilter-drop.
 * Trace: `bridge-forward` { dstMac, port, fdb: 'hit' }, `bridge-flood` { dstMac, ports,
 * fdb: 'miss' | 'broadcast' | 'multicast' }, `bridge-local` { dstMac, port }; with a
 * `hopAction` override every decision is recorded under that action with the same detail.
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { formatMac, isMulticastMac, MAC_BROADCAST, readU16, readU32 } from '../wire/addr.js';
import { Verdict, type BridgeNetfilter } from './hooks.js';
import { Fdb } from './fdb.js';
import { ETH_P_IPV4, ETHERNET_HEADER_LEN as ETH_HLEN } from '../wire/ethernet.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import type { Flowtable } from './flowtable.js';

export interface BridgeOptions {
  where: Where;
  /** The bridge device's own MAC. */
  mac: number;
  ageingMs?: number;
  fdbCapacity?: number;
  /** Trace action: 'bridge' (default) records bridge-forward/-flood/-local; anything else is used as is. */
  hopAction?: string;
}

export interface BridgePortInfo {
  port: number;
  name: string;
  hairpin: boolean;
  local: boolean;
  up: boolean;
  connected: boolean;
}

export const BRIDGE_COUNTERS = ['rx-packets', 'rx-bytes', 'tx-packets', 'tx-bytes', 'forwarded', 'flooded', 'local'] as const;
export const BRIDGE_DROPS = ['runt', 'bad-source', 'hairpin-off', 'no-ports', 'pool-exhausted', 'port-down', 'netfilter-drop'] as const;
const C = indexOf(BRIDGE_COUNTERS);
const D = indexOf(BRIDGE_DROPS);

const TWO_32 = 0x1_0000_0000;

/** What `Bridge.switchOutside` decided for a frame switched outside the engine. */
export const Outside = {
  /** Counted as forwarded: the caller sends it out of the egress port's link. */
  Forwarded: 0,
  /** br_netfilter's NAT would rewrite it (or no pool packet for the probe): hand it to the engine instead. */
  ToEngine: 1,
  /** br_netfilter dropped it. */
  Refused: 2,
} as const;

export class Bridge implements Element {
  readonly kind = 'bridge';
  readonly ports: Ports;
  readonly counters = new Counters(BRIDGE_COUNTERS);
  readonly drops = new Counters(BRIDGE_DROPS);
  readonly fdb: Fdb;
  readonly where: Where;
  readonly mac: number;
  private readonly hopAction: string;
  /** Per port number (input index); null where no port is. */
  private readonly outs: (OutPort | null)[] = [];
  private readonly names: (string | null)[] = [];
  private readonly hairpin: boolean[] = [];
  private readonly up: boolean[] = [];
  private readonly byName = new Map<string, number>();
  private localPort = -1;
  /** br_netfilter: hooks for IPv4 frames switched between two ports (null: off). */
  netfilter: BridgeNetfilter | null = null;
  /** Base of the `Packet.brIn` stamps of this bridge. */
  private readonly brBase: number;
  /** The view `switchOutside` cuts a probe's total length with. */
  private readonly probeIp = new Ipv4Packet();
  /** The flowtable that learns the frames this bridge switches between two pods (null: off). */
  flowtable: Flowtable | null = null;
  /**
   * Bumped when a port's hairpin flag, up/down state or the local port changes (ports come and
   * go with their links: Engine.wiringGen): a flowtable entry through this bridge dies.
   */
  generation = 0;

  constructor(private readonly engine: Engine, readonly name: string, opts: BridgeOptions) {
    this.ports = new Ports(engine, this);
    this.where = opts.where;
    this.mac = opts.mac;
    this.hopAction = opts.hopAction ?? 'bridge';
    this.brBase = engine.nextId() * 65536;
    this.fdb = new Fdb({
      ...(opts.ageingMs !== undefined ? { ageingMs: opts.ageingMs } : {}),
      ...(opts.fdbCapacity !== undefined ? { capacity: opts.fdbCapacity } : {}),
    });
  }

  /** Adds a bridge port (an input and an output named `name`); returns its port number. */
  addPort(name: string, opts: { hairpin?: boolean } = {}): number {
    if (this.byName.has(name)) throw new Error(`${this.name}: bridge port "${name}" exists`);
    const n = this.ports.addIn(name).index;
    this.outs[n] = this.ports.addOut(name);
    this.names[n] = name;
    this.hairpin[n] = opts.hairpin ?? false;
    this.up[n] = true;
    this.byName.set(name, n);
    this.generation++;
    return n;
  }

  /** Removes a port: its links are disconnected (queued frames freed) and its FDB entries flushed. */
  removePort(name: string): void {
    const n = this.portNumber(name);
    this.ports.removeIn(name);
    this.ports.removeOut(name);
    this.outs[n] = null;
    this.names[n] = null;
    this.hairpin[n] = false;
    this.up[n] = false;
    this.byName.delete(name);
    if (this.localPort === n) this.localPort = -1;
    this.fdb.flushPort(n);
    this.generation++;
  }

  setHairpin(name: string, on: boolean): void {
    this.hairpin[this.portNumber(name)] = on;
    this.generation++;
  }

  /** Marks the port leading to the bridge device's own interface (frames to `mac` go there). */
  setLocalPort(name: string): void {
    this.localPort = this.portNumber(name);
    this.generation++;
  }

  /** Administrative state of a port (`ip link set vethX down`); a down port neither receives nor sends. */
  setPortUp(name: string, up: boolean): void {
    const n = this.portNumber(name);
    this.up[n] = up;
    if (!up) this.fdb.flushPort(n);
    this.generation++;
  }

  /** The link into input port `n` (frames arriving by that port), or null. */
  inLink(n: number): Link | null {
    return this.ports.inputs[n]?.link ?? null;
  }

  /** The link out of port `n`, or null. */
  outLink(n: number): Link | null {
    return this.outs[n]?.link ?? null;
  }

  /** True when port `n` is the local port (the bridge device's own interface). */
  isLocalPort(n: number): boolean {
    return n === this.localPort;
  }

  /**
   * A flowtable hit (src/net/flowtable.ts): what `push` and `forward` do with a frame of
   * `bytes` that came in by port `ingress` from `srcMac` and leaves by the port the FDB has
   * for its destination (the caller has checked with `fdb.peek`, found the rings empty and
   * the ports, hairpin flags and links unchanged since the entry was made): rx counters, the
   * source learned (its ageing timestamp), the ingress stamp, `forwarded`, br_netfilter (the
   * same `bridged` call, conntrack updated per packet), tx counters. True when the frame goes
   * on; false when br_netfilter took or dropped it (counted as `push` counts it). `srcMac` -1:
   * the source was learned at this port in this same instant already (nothing to write).
   */
  fastSwitch(p: Packet, ingress: number, srcMac: number, now: number, bytes: number): boolean {
    const v = this.counters.values;
    v[C['rx-packets']]!++;
    v[C['rx-bytes']]! += bytes;
    if (srcMac >= 0) this.fdb.learn(srcMac, ingress, now);
    p.brIn = this.brBase + ingress + 1;
    v[C.forwarded]!++;
    if (!this.brNetfilter(p)) return false;
    v[C['tx-packets']]!++;
    v[C['tx-bytes']]! += bytes;
    return true;
  }

  /** The port number of `name`; throws naming the bridge and the port when there is none. */
  portNumber(name: string): number {
    const n = this.byName.get(name);
    if (n === undefined) throw new Error(`${this.name}: no bridge port "${name}"`);
    return n;
  }

  /** The name of port number `n`, or '' when there is none. */
  portName(n: number): string {
    return this.names[n] ?? '';
  }

  portList(): BridgePortInfo[] {
    const out: BridgePortInfo[] = [];
    for (let n = 0; n < this.names.length; n++) {
      const name = this.names[n];
      if (name === null || name === undefined) continue;
      out.push({
        port: n, name, hairpin: this.hairpin[n]!, local: n === this.localPort, up: this.up[n]!,
        connected: (this.outs[n]?.link ?? null) !== null,
      });
    }
    return out;
  }

  push(port: number, link: Link): void {
    const v = this.counters.values;
    const fdb = this.fdb;
    const now = this.engine.now();
    const portUp = this.up[port] === true;
    const local = this.localPort;
    const stamp = port !== local ? this.brBase + port + 1 : 0;
    let rx = 0;
    let rxBytes = 0;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      const s = p.start;
      const len = p.end - s;
      rx++;
      rxBytes += len;
      if (len < ETH_HLEN) {
        this.engine.drop(p, this, D.runt, this.where);
        continue;
      }
      if (!portUp) {
        this.engine.drop(p, this, D['port-down'], this.where);
        continue;
      }
      const buf = p.buf;
      // MACs as 48-bit numbers; the I/G (multicast) bit is bit 0 of the first octet.
      const dst = ((buf[s]! << 8) | buf[s + 1]!) * TWO_32 + readU32(buf, s + 2);
      const src = ((buf[s + 6]! << 8) | buf[s + 7]!) * TWO_32 + readU32(buf, s + 8);
      if (src === 0 || (buf[s + 6]! & 1) !== 0) {
        this.engine.drop(p, this, D['bad-source'], this.where);
        continue;
      }
      if (src !== this.mac) fdb.learn(src, port, now);
      if (stamp !== 0) p.brIn = stamp;

      if (dst === this.mac && local >= 0) {
        v[C.local]!++;
        this.forward(p, port, local, dst, 'local');
        continue;
      }
      if ((buf[s]! & 1) === 0) {
        const to = fdb.lookup(dst, now);
        if (to >= 0) {
          v[C.forwarded]!++;
          this.forward(p, port, to, dst, 'hit');
          continue;
        }
      }
      this.flood(p, port, dst);
    }
    v[C['rx-packets']]! += rx;
    v[C['rx-bytes']]! += rxBytes;
  }

  /**
   * For a frame switched outside the engine (see the header): the link out of the port the
   * FDB has for unicast `dst` (a 48-bit MAC) when that is not `ingress`, else null (multicast
   * or broadcast, unknown, back where it came from, a removed port, not connected). Learns
   * nothing and counts nothing; an expired entry found is removed, as `push` would.
   */
  unicastEgress(ingress: number, dst: number): Link | null {
    if (isMulticastMac(dst)) return null;
    const to = this.fdb.lookup(dst, this.engine.now());
    if (to < 0 || to === ingress) return null;
    return this.outs[to]?.link ?? null;
  }

  /**
   * A frame of `bytes` (`frame[f..]`, Ethernet first) switched outside the engine between two
   * ports `unicastEgress` found. With br_netfilter and an IPv4 frame (`ipv4`: IPv4 header at
   * `f + l3`, `hdrLen` bytes of headers), a pool copy of the headers (total length cut to
   * them) is asked about first (`netfilter.passesUnchanged`, a lookup without side effects):
   * ToEngine, untouched, when the hooks would do more than pass it (NAT would rewrite it, as
   * for a same-node service reply needing un-DNAT; a new or closing connection) or no pool
   * packet is free; then it goes through `netfilter.bridged`, once, so conntrack tracks it
   * (timestamps, TCP state and window): Refused when the hooks dropped it. Else
   * Forwarded, counted as `push` counts a frame it switches (rx/tx packets and bytes, forwarded).
   */
  switchOutside(frame: Buffer, f: number, ipv4: boolean, l3: number, hdrLen: number, bytes: number): number {
    const nf = this.netfilter;
    if (nf !== null && ipv4) {
      const v = this.probeNetfilter(nf, frame, f, l3, hdrLen, bytes);
      if (v !== Outside.Forwarded) return v;
    }
    const c = this.counters.values;
    c[C['rx-packets']]!++;
    c[C['tx-packets']]!++;
    c[C.forwarded]!++;
    c[C['rx-bytes']]! += bytes;
    c[C['tx-bytes']]! += bytes;
    return Outside.Forwarded;
  }

  /**
   * br_netfilter on a copy of the frame's headers (switchOutside): first the hooks' lookup
   * without side effects (`passesUnchanged`: otherwise ToEngine, and the engine's own pass is
   * the only one the table sees), then the hooks themselves, once, on the copy: Forwarded, or
   * Refused when they drop it (an INVALID segment).
   */
  private probeNetfilter(nf: BridgeNetfilter, frame: Buffer, f: number, l3: number, hdrLen: number, bytes: number): number {
    const pool = this.engine.pool;
    const p = pool.alloc();
    if (p === null) return Outside.ToEngine;
    const s = p.start;
    frame.copy(p.buf, s, f, f + hdrLen);
    p.end = s + hdrLen;
    this.probeIp.wrap(p.buf, s + l3, hdrLen - l3).setTotalLen(hdrLen - l3);
    if (!nf.passesUnchanged(p, s + l3)) {
      pool.free(p);
      return Outside.ToEngine;
    }
    // conntrack's window tracking must see the segment's real length (GSO: the whole super-frame's payload)
    p.missing = bytes - hdrLen;
    const v = nf.bridged(p, s + l3);
    if (v === Verdict.Stolen) return Outside.Refused;
    pool.free(p);
    return v === Verdict.Accept ? Outside.Forwarded : Outside.Refused;
  }

  /** Sends `p` out of port `to` (an FDB hit or the local port). */
  private forward(p: Packet, ingress: number, to: number, dst: number, kind: 'hit' | 'local'): void {
    // Back out of its own ingress port: directly (FDB), or after a trip up to the node's
    // L3 (kube-proxy's DNAT of a pod to itself; Linux does that inside the bridge with
    // br_netfilter). Either way only a port in hairpin mode sends it back.
    const back = to === ingress || (ingress === this.localPort && p.brIn === this.brBase + to + 1);
    if (back && this.hairpin[to] !== true) {
      this.engine.drop(p, this, D['hairpin-off'], this.where);
      return;
    }
    const out = this.outs[to];
    if (out === null || out === undefined || this.up[to] !== true) {
      this.engine.drop(p, this, D['port-down'], this.where);
      return;
    }
    if (kind === 'hit' && ingress !== this.localPort && to !== this.localPort) {
      if (!this.brNetfilter(p)) return;
      // A frame switched between two pods: the flowtable may remember its path (cold: once per flow).
      if (this.flowtable !== null && p.trace === 0) this.flowtable.learn(p, this, ingress, to);
    }
    if (p.trace !== 0) {
      const detail = kind === 'hit'
        ? { dstMac: formatMac(dst), port: this.portName(to), fdb: 'hit' }
        : { dstMac: formatMac(dst), port: this.portName(to) };
      const action = this.hopAction !== 'bridge' ? this.hopAction : kind === 'hit' ? 'bridge-forward' : 'bridge-local';
      this.engine.trace.hop(p.trace, this.where, action, detail);
    }
    this.transmit(p, out);
  }

  /**
   * br_netfilter for a switched frame: an untagged IPv4 frame goes through `netfilter.bridged`;
   * true when it goes on (anything else passes as is), false when the hooks took it or it was
   * dropped (`netfilter-drop`).
   */
  private brNetfilter(p: Packet): boolean {
    const nf = this.netfilter;
    if (nf === null || readU16(p.buf, p.start + 12) !== ETH_P_IPV4) return true;
    const verdict = nf.bridged(p, p.start + ETH_HLEN);
    if (verdict === Verdict.Accept) return true;
    if (verdict !== Verdict.Stolen) this.engine.drop(p, this, D['netfilter-drop'], this.where);
    return false;
  }

  /** Whether port `n` receives a flooded copy of a frame that came in on `ingress`. */
  private floods(n: number, ingress: number): boolean {
    const out = this.outs[n];
    if (out === null || out === undefined || out.link === null || this.up[n] !== true) return false;
    return n !== ingress || this.hairpin[n] === true;
  }

  private flood(p: Packet, ingress: number, dst: number): void {
    const count = this.outs.length;
    let last = -1;
    let targets = 0;
    for (let n = 0; n < count; n++) {
      if (this.floods(n, ingress)) {
        last = n;
        targets++;
      }
    }
    if (targets === 0) {
      this.engine.drop(p, this, D['no-ports'], this.where);
      return;
    }
    // br_netfilter runs PREROUTING for every IPv4 frame that enters the bridge, so a unicast
    // frame flooded for an unknown MAC is tracked as a switched one is (hooks once, for all copies).
    if (ingress !== this.localPort && (p.buf[p.start]! & 1) === 0 && !this.brNetfilter(p)) return;
    this.counters.values[C.flooded]!++;
    if (p.trace !== 0) {
      const ports: string[] = [];
      for (let n = 0; n < count; n++) if (this.floods(n, ingress)) ports.push(this.portName(n));
      const fdb = dst === MAC_BROADCAST ? 'broadcast' : isMulticastMac(dst) ? 'multicast' : 'miss';
      const detail = { dstMac: formatMac(dst), ports, fdb };
      this.engine.trace.hop(p.trace, this.where, this.hopAction !== 'bridge' ? this.hopAction : 'bridge-flood', detail);
    }
    const pool = this.engine.pool;
    for (let n = 0; n < last; n++) {
      if (!this.floods(n, ingress)) continue;
      const q = pool.clone(p);
      if (q === null) {
        this.countDrop(D['pool-exhausted'], p.trace);
        continue;
      }
      this.transmit(q, this.outs[n]!);
    }
    this.transmit(p, this.outs[last]!);
  }

  private transmit(p: Packet, out: OutPort): void {
    const v = this.counters.values;
    v[C['tx-packets']]!++;
    v[C['tx-bytes']]! += p.end - p.start;
    out.send(p);
  }

  /** A drop without a packet to free (a clone that could not be made). */
  private countDrop(reason: number, trace: number): void {
    this.drops.values[reason]!++;
    if (trace !== 0) this.engine.trace.hop(trace, this.where, 'drop', { reason: BRIDGE_DROPS[reason] });
  }
}
