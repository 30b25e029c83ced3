/**
 * ShardLink: where the frames of one shard (an engine in a worker thread) cross to the
 * other shards, through SharedRings (docs/sharding.md). It stands where the remote
 * nodes' ports of a switch would be: one port, `uplink`, on the local underlay bridge.
 *
 * Ports: input `uplink` (frames the local switch sends towards remote nodes), output
 * `uplink` (frames that arrived from other shards).
 *
 * Behaviour: a frame entering `uplink` is copied into the ring of the shard that hosts its
 * destination MAC (`routes`, filled from the topology: node MAC -> shard), or into every
 * ring for broadcast, multicast and unknown unicast (counted `flooded`), then freed. Rings
 * are published once per batch (per `push`). `poll()` drains the inbound rings: each frame
 * is copied into a fresh packet and sent out of `uplink`. Frames from a ring never go back
 * into a ring (the local switch does not send a frame back out of its ingress port), so a
 * mesh of shards has no loops.
 *
 * Counters: tx-packets, tx-bytes, rx-packets, rx-bytes, flooded.
 * Drop reasons: runt, ring-full, too-long, pool-exhausted (inbound frame, no packet).
 * Copies move 32-bit words: a frame keeps its address modulo 4 through the ring (the
 * ring's `lead`), so an inbound packet may start up to 3 bytes after the pool's headroom.
 * Carried across: the checksum state (`Packet.csumOk`, a record flag), so the receiving
 * shard verifies what one engine hosting both nodes would verify. Not carried: other
 * packet metadata (trace id, mark, conntrack entry): a traced packet ends its journey at
 * the uplink of its shard.
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Where } from '../engine/trace.js';
import { copyWords, FRAME_CSUM_OK, type FrameSink, type SharedRing } from '../engine/shared-ring.js';
import { readMac } from '../wire/addr.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN } from '../wire/ethernet.js';

export const SHARD_LINK_COUNTERS = ['tx-packets', 'tx-bytes', 'rx-packets', 'rx-bytes', 'flooded'] as const;
export const SHARD_LINK_DROPS = ['runt', 'ring-full', 'too-long', 'pool-exhausted'] as const;
const C = indexOf(SHARD_LINK_COUNTERS);
const D = indexOf(SHARD_LINK_DROPS);

export interface ShardLinkOptions {
  /** Rings this shard writes, one per peer shard. */
  tx: readonly SharedRing[];
  /** Rings this shard reads, one per peer shard. */
  rx: readonly SharedRing[];
  /** Destination MAC (48-bit number) -> index into `tx`; misses flood. */
  routes?: ReadonlyMap<number, number>;
}

export class ShardLink implements Element, FrameSink {
  readonly kind = 'shard-link';
  readonly ports: Ports;
  readonly counters = new Counters(SHARD_LINK_COUNTERS);
  readonly drops = new Counters(SHARD_LINK_DROPS);
  readonly tx: readonly SharedRing[];
  readonly rx: readonly SharedRing[];
  readonly routes: ReadonlyMap<number, number>;
  private readonly out: OutPort;
  private readonly where: Where;
  private readonly touched: Uint8Array;
  /** Int32 view of the packet pool's slab (every packet's buf shares it), for word copies. */
  private slab: ArrayBufferLike | null = null;
  private slab32: Int32Array = new Int32Array(0);

  constructor(private readonly engine: Engine, readonly name: string, opts: ShardLinkOptions) {
    this.ports = new Ports(engine, this);
    this.ports.addIn('uplink');
    this.out = this.ports.addOut('uplink');
    this.tx = opts.tx;
    this.rx = opts.rx;
    this.routes = opts.routes ?? new Map();
    this.touched = new Uint8Array(opts.tx.length);
    this.where = { node: '', netns: 'underlay', device: name };
  }

  /** The smallest free space over the outbound rings, in bytes (for senders that pace themselves). */
  txFree(): number {
    let min = Infinity;
    for (const r of this.tx) min = Math.min(min, r.freeBytes());
    return min;
  }

  push(_port: number, link: Link): void {
    const tx = this.tx;
    const single = tx.length === 1 ? tx[0]! : null;
    const v = this.counters.values;
    const pool = this.engine.pool;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      const len = p.end - p.start;
      if (len < ETH_HLEN) {
        this.engine.drop(p, this, D.runt, this.where);
        continue;
      }
      if (p.buf.buffer !== this.slab) this.setSlab(p.buf.buffer);
      if (single !== null) {
        if (!single.write(p.buf, p.start, len, this.slab32, p.csumOk ? FRAME_CSUM_OK : 0)) {
          this.engine.drop(p, this, len > single.maxFrame ? D['too-long'] : D['ring-full'], this.where);
          continue;
        }
        this.touched[0] = 1;
      } else if (!this.route(p.buf, p.start, len, p.csumOk ? FRAME_CSUM_OK : 0)) {
        this.engine.drop(p, this, D['ring-full'], this.where);
        continue;
      }
      v[C['tx-packets']]!++;
      v[C['tx-bytes']]! += len;
      pool.free(p);
    }
    const t = this.touched;
    for (let i = 0; i < t.length; i++) {
      if (t[i] !== 0) {
        t[i] = 0;
        tx[i]!.publish();
      }
    }
  }

  private setSlab(b: ArrayBufferLike): void {
    this.slab = b;
    this.slab32 = new Int32Array(b, 0, b.byteLength >> 2);
  }

  /** Several peers: the ring of the destination MAC, else all of them; true when at least one took it. */
  private route(buf: Buffer, off: number, len: number, flags: number): boolean {
    const to = (buf[off]! & 1) === 0 ? this.routes.get(readMac(buf, off)) : undefined;
    const tx = this.tx;
    const words = this.slab32;
    if (to !== undefined) {
      const ok = tx[to]!.write(buf, off, len, words, flags);
      if (ok) this.touched[to] = 1;
      return ok;
    }
    this.counters.values[C.flooded]!++;
    let any = false;
    for (let i = 0; i < tx.length; i++) {
      if (tx[i]!.write(buf, off, len, words, flags)) {
        this.touched[i] = 1;
        any = true;
      } else this.drops.values[len > tx[i]!.maxFrame ? D['too-long'] : D['ring-full']]!++;
    }
    return any;
  }

  /** Moves up to `max` frames from the inbound rings into the engine; returns how many arrived. */
  poll(max = 1024): number {
    let n = 0;
    const rx = this.rx;
    for (let i = 0; i < rx.length; i++) n += rx[i]!.read(this, max);
    return n;
  }

  /** True when an inbound ring has frames waiting. */
  pending(): boolean {
    for (const r of this.rx) if (r.pending()) return true;
    return false;
  }

  /** FrameSink: one inbound frame, copied as words into a packet whose start agrees with `off` modulo 4. */
  onFrame(_bytes: Buffer, off: number, len: number, words: Int32Array, flags: number): void {
    const pool = this.engine.pool;
    if (len > pool.maxFrame - 4) {
      this.drops.values[D['too-long']]!++;
      return;
    }
    const p = pool.alloc();
    if (p === null) {
      this.drops.values[D['pool-exhausted']]!++;
      return;
    }
    const base = p.buf.byteOffset;
    if (p.buf.buffer !== this.slab) this.setSlab(p.buf.buffer);
    p.start += (off - (base + p.start)) & 3;
    copyWords(words, off, this.slab32, base + p.start, len);
    p.end = p.start + len;
    // The checksum state crosses with the frame, as the packet keeps it across the underlay
    // switch when both nodes share one engine.
    p.csumOk = (flags & FRAME_CSUM_OK) !== 0;
    const v = this.counters.values;
    v[C['rx-packets']]!++;
    v[C['rx-bytes']]! += len;
    this.out.send(p);
  }
}
