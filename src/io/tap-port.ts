/**
 * TapPort: one TAP device as a port of the emulated network. It stands where an emulated
 * pod's veth host end stands (`node1/vethN`, a port of the node bridge), but the other end
 * is a real network namespace: the TAP, moved into it as `eth0` (src/io/attach.ts).
 *
 * Ports: input `in` (frames the bridge sends towards the pod: written to the TAP), output
 * `out` (frames the real namespace transmitted: read from the TAP, sent to the bridge).
 *
 * Behaviour:
 *   - from the TAP, once per batch the addon delivers: each frame was read straight into a
 *     pool packet (the port keeps one batch of free packets whose slots the addon reads
 *     into, `onFramesAt`; an endpoint without it gets the frames copied from its slab) and
 *     is sent out of `out`; then one `scheduler.kick()` runs the engine for the whole batch. A frame shorter than an Ethernet header is dropped `runt`; one the
 *     kernel reported longer than the read slot (tun truncates it) or longer than a pool
 *     packet holds, `oversize`; one longer than the pod MTU + 14 (+4 when 802.1Q tagged),
 *     `mtu-exceeded` (Linux's bridge drops it too, `is_skb_forwardable`); no free packet,
 *     `pool-exhausted`. Everything else (random bytes included) goes to the bridge, which
 *     counts what it cannot use (bad-source, ...) and so do the namespaces behind it.
 *   - towards the TAP: every frame the link holds is written with one `writeBatch` per
 *     64 frames, straight from the pool's slab (no copy). A runt or an over-MTU frame is
 *     dropped (`runt`, `mtu-exceeded`) before the write; EAGAIN (the kernel's queue of the
 *     TAP is full: nobody in the namespace reads fast enough) drops the rest of the batch,
 *     `tap-full`, like a NIC with a full ring; any other write error, `tap-error`; a closed
 *     or vanished device, `closed`.
 *
 *   - offload mode (the device has IFF_VNET_HDR, `vnetHdrSize` > 0; see tap-port-vnet.ts):
 *     frames arrive behind a virtio_net_hdr; a TCP GSO frame whose destination is another
 *     offload TapPort on the same bridge is written there whole (`fast-path`), anything
 *     else is made an ordinary frame first (checksum completed, TSO frames segmented).
 *
 * State exposed: `device` (the TapDevice), `mtu`, `error` (the device's read error once it
 * vanished, e.g. the container's namespace was destroyed), `onDeviceError`.
 * Counters: rx-frames, rx-bytes, rx-batches (read from the TAP), tx-frames, tx-bytes,
 * tx-batches (written to it).
 * Offload mode counters: fast-path (GSO frames passed through whole), segmented (GSO frames
 * cut in software), csum-completed.
 * Drop reasons: runt, oversize, mtu-exceeded, pool-exhausted, tap-full, tap-error, closed,
 * bad-offload (a virtio_net_hdr that does not fit its frame), gso-unsupported (UDP GSO),
 * netfilter-drop (br_netfilter refused a passed-through GSO frame).
 * Trace: hop `tap` when a traced frame is written to the TAP ({ to: '<pod>/eth0', tap }).
 */
import { Counters } from '../engine/counters.js';
import { Ports, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { TapCounter, TapWrite, type FramesHandler } from './tap.js';
import { VnetRx } from './tap-port-vnet.js';
import { C, D, TAP_PORT_COUNTERS, TAP_PORT_DROPS } from './tap-port-counters.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN, ETH_P_8021Q } from '../wire/ethernet.js';

/** What TapPort needs of a TapDevice (unit tests pass a fake). */
export interface TapEndpoint {
  readonly name: string;
  readonly counters: Float64Array;
  readonly closed: boolean;
  /** Frames per read batch (default 64). */
  readonly batchSize?: number;
  /** virtio_net_hdr bytes in front of every frame (IFF_VNET_HDR); 0 or absent: plain frames. */
  readonly vnetHdrSize?: number;
  onFrames(handler: FramesHandler): void;
  /** Reads frame i into slab[offsets[i] ..] (zero copy into pool slots); optional. */
  onFramesAt?(slab: Buffer, offsets: Int32Array, maxLen: number, handler: FramesHandler): void;
  onError(handler: (err: Error) => void): void;
  writeBatch(slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, flags?: number): number;
  close(): void;
}

export interface TapPortOptions {
  /** Where the port sits (the host end): `{ node, netns: 'root', device: 'vethN' }`. */
  where: Where;
  /** The pod's MTU (its eth0). */
  mtu: number;
  /** Shown in trace hops: `pod/eth0`. */
  peer: string;
}

const VLAN_HLEN = 4;
/** Frames per writeBatch call. */
export const TAP_WRITE_BATCH = 128;

export class TapPort implements Element {
  readonly kind = 'tap';
  readonly ports: Ports;
  readonly counters = new Counters(TAP_PORT_COUNTERS);
  readonly drops = new Counters(TAP_PORT_DROPS);
  readonly where: Where;
  mtu: number;
  /** The device's read/poll error once it failed (reading has stopped), else null. */
  error: Error | null = null;
  /** Called once when the device fails underneath (deleted, namespace destroyed). */
  onDeviceError: ((err: Error) => void) | null = null;
  private readonly out: OutPort;
  private readonly hopDetail: Record<string, unknown>;
  /** Write batch: packets and their descriptors into the pool's slab. */
  private readonly batch: (Packet | null)[] = new Array<Packet | null>(TAP_WRITE_BATCH).fill(null);
  private readonly offsets = new Int32Array(TAP_WRITE_BATCH);
  private readonly lengths = new Int32Array(TAP_WRITE_BATCH);
  /** A Buffer over the whole pool slab (every packet's `buf` is a window of it), made on first use. */
  private slab: Buffer | null = null;
  /** Zero-copy reads: the packets whose slots the addon reads the next batch into. */
  private rxRing: (Packet | null)[] = [];
  private rxOffsets: Int32Array | null = null;
  /** Offload mode (IFF_VNET_HDR): virtio_net_hdr bytes in front of frames, and its receive side. */
  readonly vnetHdrSize: number;
  readonly vnet: VnetRx | null;

  constructor(private readonly engine: Engine, readonly name: string, readonly device: TapEndpoint, opts: TapPortOptions) {
    this.where = opts.where;
    this.mtu = opts.mtu;
    this.hopDetail = { to: opts.peer, tap: device.name };
    this.ports = new Ports(engine, this);
    this.ports.addIn('in');
    this.out = this.ports.addOut('out');
    device.onError((err) => {
      this.error = err;
      this.onDeviceError?.(err);
    });
    this.vnetHdrSize = device.vnetHdrSize ?? 0;
    this.vnet = this.vnetHdrSize > 0 ? new VnetRx(engine, this, this.out, this.vnetHdrSize) : null;
    if (this.vnet !== null) device.onFrames(this.vnet.onFrames);
    else if (!this.startZeroCopy()) device.onFrames(this.onFrames);
  }

  /** Hands the addon one batch of free pool packets to read into; false when not possible. */
  private startZeroCopy(): boolean {
    const d = this.device;
    const pool = this.engine.pool;
    const n = d.batchSize ?? 64;
    if (d.onFramesAt === undefined || pool.available < n * 4) return false;
    const offsets = new Int32Array(n);
    const ring: (Packet | null)[] = new Array<Packet | null>(n).fill(null);
    for (let i = 0; i < n; i++) {
      const p = pool.alloc()!;
      ring[i] = p;
      offsets[i] = p.buf.byteOffset + p.start;
    }
    this.rxRing = ring;
    this.rxOffsets = offsets;
    const slab = Buffer.from(ring[0]!.buf.buffer, 0, ring[0]!.buf.buffer.byteLength);
    d.onFramesAt(slab, offsets, pool.maxFrame, this.onSlots);
    return true;
  }

  /** Frames the addon read into the ring's packets: send them, give the addon fresh ones. */
  private readonly onSlots = (_slab: Buffer, maxLen: number, lengths: Int32Array, count: number): void => {
    const e = this.engine;
    const pool = e.pool;
    const v = this.counters.values;
    const ring = this.rxRing;
    const offs = this.rxOffsets!;
    v[C['rx-batches']]!++;
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      const p = ring[i]!;
      v[C['rx-frames']]!++;
      v[C['rx-bytes']]! += len;
      let reason = -1;
      if (len < ETH_HLEN) reason = D.runt;
      else if (len >= maxLen) reason = D.oversize; // tun truncates to the slot: maxLen may be a cut frame
      else {
        const tagged = ((p.buf[p.start + 12]! << 8) | p.buf[p.start + 13]!) === ETH_P_8021Q;
        if (len > this.mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0)) reason = D['mtu-exceeded'];
      }
      let q = reason < 0 ? pool.alloc() : null;
      if (q === null) {
        // Dropped (or no replacement slot: pool-exhausted): the packet goes back to the pool
        // and straight out again as this slot (the free list is LIFO).
        e.drop(p, this, reason < 0 ? D['pool-exhausted'] : reason, this.where);
        q = pool.alloc()!;
      } else {
        p.end = p.start + len;
        this.out.send(p);
      }
      ring[i] = q;
      offs[i] = q.buf.byteOffset + q.start;
    }
    e.scheduler.kick();
  };

  /** Frames read from the TAP: the real pod transmitted them. */
  private readonly onFrames = (slab: Buffer, slotSize: number, lengths: Int32Array, count: number): void => {
    const e = this.engine;
    const pool = e.pool;
    const v = this.counters.values;
    const maxLen = Math.min(slotSize, pool.maxFrame);
    v[C['rx-batches']]!++;
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      const off = i * slotSize;
      v[C['rx-frames']]!++;
      v[C['rx-bytes']]! += len;
      const p = pool.alloc();
      if (p === null) {
        this.drops.values[D['pool-exhausted']]!++;
        continue;
      }
      if (len < ETH_HLEN) {
        e.drop(p, this, D.runt, this.where);
        continue;
      }
      if (len > maxLen) {
        e.drop(p, this, D.oversize, this.where);
        continue;
      }
      const tagged = ((slab[off + 12]! << 8) | slab[off + 13]!) === ETH_P_8021Q;
      if (len > this.mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0)) {
        e.drop(p, this, D['mtu-exceeded'], this.where);
        continue;
      }
      slab.copy(p.buf, p.start, off, off + len);
      p.end = p.start + len;
      this.out.send(p);
    }
    e.scheduler.kick();
  };

  /** Frames from the bridge, towards the real pod: written to the TAP in batches. */
  push(_port: number, link: Link): void {
    const e = this.engine;
    const closed = this.device.closed || this.error !== null;
    let n = 0;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      if (closed) {
        e.drop(p, this, D.closed, this.where);
        continue;
      }
      const len = p.end - p.start;
      if (len < ETH_HLEN) {
        e.drop(p, this, D.runt, this.where);
        continue;
      }
      const tagged = ((p.buf[p.start + 12]! << 8) | p.buf[p.start + 13]!) === ETH_P_8021Q;
      if (len > this.mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0)) {
        e.drop(p, this, D['mtu-exceeded'], this.where);
        continue;
      }
      if (p.trace !== 0) e.trace.hop(p.trace, this.where, 'tap', this.hopDetail);
      if (this.slab === null || this.slab.buffer !== p.buf.buffer) {
        this.slab = Buffer.from(p.buf.buffer, 0, p.buf.buffer.byteLength);
      }
      this.batch[n] = p;
      this.offsets[n] = p.buf.byteOffset + p.start;
      this.lengths[n] = len;
      n++;
      if (n === TAP_WRITE_BATCH) {
        this.flush(n);
        n = 0;
      }
    }
    if (n > 0) this.flush(n);
  }

  /** Writes the batch; EAGAIN drops the tail (`tap-full`), other errors count `tap-error`. */
  private flush(n: number): void {
    const e = this.engine;
    const dc = this.device.counters;
    const full0 = dc[TapCounter.TxDrops]!;
    const err0 = dc[TapCounter.TxErrors]!;
    const written = this.device.writeBatch(this.slab!, this.offsets, this.lengths, n, this.vnetHdrSize > 0 ? TapWrite.ZeroVnetHdr : 0);
    const full = Math.min(n, dc[TapCounter.TxDrops]! - full0);
    const errs = dc[TapCounter.TxErrors]! - err0;
    const v = this.counters.values;
    v[C['tx-batches']]!++;
    v[C['tx-frames']]! += written;
    // writeBatch stops at the first EAGAIN: the last `full` frames were not written.
    const sentUpTo = n - full;
    for (let i = 0; i < n; i++) {
      const p = this.batch[i]!;
      this.batch[i] = null;
      if (i >= sentUpTo) {
        e.drop(p, this, D['tap-full'], this.where);
        continue;
      }
      v[C['tx-bytes']]! += this.lengths[i]!;
      e.pool.free(p);
    }
    if (errs > 0) {
      // The addon skips a frame that fails with an errno other than EAGAIN; which one is not
      // reported, so these are counted without a per-packet trace hop.
      this.drops.values[D['tap-error']]! += errs;
    }
  }

  /** Stops reading and closes the device (a non-persistent TAP then vanishes from its namespace). */
  close(): void {
    this.device.close();
    const pool = this.engine.pool;
    for (let i = 0; i < this.rxRing.length; i++) {
      const p = this.rxRing[i];
      if (p !== null && p !== undefined && !p.inPool) pool.free(p);
      this.rxRing[i] = null;
    }
  }

  /** Counters, drops and the device's own counters, for the API/CLI (allocates). */
  stats(): { counters: Record<string, number>; drops: Record<string, number>; device: Record<string, number> } {
    const dc = this.device.counters;
    return {
      counters: this.counters.toJSON(true),
      drops: this.drops.toJSON(),
      device: {
        rxFrames: dc[TapCounter.RxFrames]!, rxBatches: dc[TapCounter.RxBatches]!, rxErrors: dc[TapCounter.RxErrors]!,
        txFrames: dc[TapCounter.TxFrames]!, txDrops: dc[TapCounter.TxDrops]!, txErrors: dc[TapCounter.TxErrors]!,
      },
    };
  }
}
