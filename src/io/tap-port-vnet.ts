/**
 * VnetRx: the receive side of a TapPort in offload mode (TAP opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD CSUM|TSO4|TSO6, `attach` option `offloads: true`). Every frame read comes
 * behind a virtio_net_hdr (tap-offload.ts). Per frame, in order:
 *
 *   1. fast path: a TCP GSO frame (up to 64 KiB) whose destination MAC the bridge behind
 *      this port has learned on a port that leads to another offload TapPort (not back to
 *      this one, no capture on either link) is written to that TAP whole, header included,
 *      straight from this port's read slab: bridge forwarding needs no segmentation.
 *      br_netfilter still sees it: when the bridge has netfilter hooks (kube-proxy), a copy
 *      of the frame's headers (IPv4 total length cut to the headers) goes through
 *      `netfilter.bridged` first, so conntrack tracks the connection; if NAT would rewrite
 *      the frame (a same-node service reply needing un-DNAT) it takes step 3 instead, and a
 *      refused frame is dropped (`netfilter-drop`). The bridge decides and counts
 *      (`Bridge.unicastEgress`, `Bridge.switchOutside`); the port counts `fast-path`.
 *   2. a frame without GSO is copied into a pool packet; NEEDS_CSUM: its L4 checksum is
 *      completed in software (`csum-completed`), so the emulator only sees whole checksums.
 *   3. a TCP GSO frame otherwise (towards L3, VXLAN, NAT, an emulated pod, a plain TAP) is
 *      segmented in software into gso_size segments with full checksums (`segmented`).
 *      UDP GSO is never enabled (no TUN_F_USO), so `gso-unsupported` means a bad header.
 * Order between the two ways out is kept: queued raw frames are written before the engine
 * runs, and the engine is run before raw frames are queued after engine-bound ones.
 * Transmit (engine -> this TAP): plain frames behind a zeroed header (TapWrite.ZeroVnetHdr).
 */
import type { Engine } from '../engine/engine.js';
import type { OutPort } from '../engine/element.js';
import { Bridge, Outside } from '../net/bridge.js';
import { readMac } from '../wire/addr.js';
import { completeChecksum, emitTcpSegment, TcpFrameLayout, VnetFlag, VnetGso } from './tap-offload.js';
import type { TapPort } from './tap-port.js';
import { C, D } from './tap-port-counters.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN } from '../wire/ethernet.js';

const MAX_PEERS = 8;

export class VnetRx {
  /** Raw frames (header included) queued for this port's TAP by another port's fast path. */
  private rawSlab: Buffer | null = null;
  private readonly rawOffsets: Int32Array;
  private readonly rawLengths: Int32Array;
  private rawCount = 0;
  private readonly lay = new TcpFrameLayout();
  /** Peers with raw frames queued during the current batch. */
  private readonly peers: (VnetRx | null)[] = new Array<VnetRx | null>(MAX_PEERS).fill(null);
  private npeers = 0;
  /** Packets sent into the engine and not yet run (the order rule above). */
  private engineDirty = false;

  constructor(private readonly engine: Engine, private readonly port: TapPort, private readonly out: OutPort,
    private readonly hs: number, batch = 64) {
    this.rawOffsets = new Int32Array(batch);
    this.rawLengths = new Int32Array(batch);
  }

  readonly onFrames = (slab: Buffer, slotSize: number, lengths: Int32Array, count: number): void => {
    const port = this.port;
    const v = port.counters.values;
    const hs = this.hs;
    v[C['rx-batches']]!++;
    for (let i = 0; i < count; i++) {
      const off = i * slotSize;
      const len = lengths[i]!;
      v[C['rx-frames']]!++;
      v[C['rx-bytes']]! += len - hs;
      if (len > slotSize) { this.count(D.oversize); continue; }
      if (len < hs + ETH_HLEN) { this.count(D.runt); continue; }
      const gso = slab[off + 1]! & ~VnetGso.Ecn;
      if (gso === VnetGso.None) { this.plain(slab, off, len); continue; }
      if (gso !== VnetGso.TcpV4 && gso !== VnetGso.TcpV6) { this.count(D['gso-unsupported']); continue; }
      if (!this.lay.parse(slab, off + hs, len - hs)) { this.count(D['bad-offload']); continue; }
      if (this.fastPath(slab, off, len)) continue;
      this.segment(slab, off, len);
    }
    this.flushPeers();
    if (this.engineDirty) { this.engineDirty = false; this.engine.scheduler.kick(); }
  };

  private count(reason: number): void {
    this.port.drops.values[reason]!++;
  }

  /** Step 2: a frame without GSO, into a pool packet, its checksum completed. */
  private plain(slab: Buffer, off: number, len: number): void {
    const port = this.port;
    const hs = this.hs;
    const f = off + hs;
    const flen = len - hs;
    const tagged = slab[f + 12] === 0x81 && slab[f + 13] === 0x00;
    if (flen > port.mtu + ETH_HLEN + (tagged ? 4 : 0)) { this.count(D['mtu-exceeded']); return; }
    const pool = this.engine.pool;
    if (flen > pool.maxFrame) { this.count(D.oversize); return; }
    const p = pool.alloc();
    if (p === null) { this.count(D['pool-exhausted']); return; }
    slab.copy(p.buf, p.start, f, f + flen);
    p.end = p.start + flen;
    if ((slab[off]! & VnetFlag.NeedsCsum) !== 0) {
      if (!completeChecksum(p.buf, p.start, flen, slab.readUInt16LE(off + 6), slab.readUInt16LE(off + 8))) {
        this.engine.drop(p, port, D['bad-offload'], port.where);
        return;
      }
      port.counters.values[C['csum-completed']]!++;
    }
    this.toEngine(p);
  }

  private toEngine(p: Parameters<OutPort['send']>[0]): void {
    if (this.npeers > 0) this.flushPeers(); // raw frames read earlier go out first
    this.engineDirty = true;
    this.out.send(p);
  }

  /** Step 3: software GSO into gso_size segments. */
  private segment(slab: Buffer, off: number, len: number): void {
    const port = this.port;
    const f = off + this.hs;
    const flen = len - this.hs;
    const mss = slab.readUInt16LE(off + 4);
    const lay = this.lay;
    const pool = this.engine.pool;
    if (mss === 0 || lay.hdrLen + mss > pool.maxFrame || flen <= lay.hdrLen) { this.count(D['bad-offload']); return; }
    const n = Math.ceil((flen - lay.hdrLen) / mss);
    port.counters.values[C.segmented]!++;
    for (let k = 0; k < n; k++) {
      const p = pool.alloc();
      if (p === null) { this.count(D['pool-exhausted']); continue; }
      emitTcpSegment(slab, f, flen, lay, mss, k, n, p);
      this.toEngine(p);
    }
  }

  /** Step 1; true when the frame was taken (queued to a peer or dropped by netfilter). */
  private fastPath(slab: Buffer, off: number, len: number): boolean {
    const link = this.out.link;
    if (link === null || link.tap !== null) return false;
    const br = link.consumer;
    if (!(br instanceof Bridge)) return false;
    const f = off + this.hs;
    const peerLink = br.unicastEgress(link.port, readMac(slab, f));
    if (peerLink === null || peerLink.tap !== null) return false;
    const peer = peerLink.consumer as TapPort | null;
    if (peer === null || peer.kind !== 'tap' || peer.vnet === null || peer.vnetHdrSize !== this.hs) return false;
    if (peer.device.closed || peer.error !== null) return false;
    const lay = this.lay;
    const verdict = br.switchOutside(slab, f, !lay.v6, lay.l3, lay.hdrLen, len - this.hs);
    if (verdict === Outside.ToEngine) return false; // the hooks would do more than pass it (NAT): segment, the engine does it
    if (verdict === Outside.Refused) { this.count(D['netfilter-drop']); return true; }
    if (this.engineDirty) { this.engineDirty = false; this.engine.scheduler.kick(); }
    this.port.counters.values[C['fast-path']]!++;
    const rx = peer.vnet;
    if (!rx.queueRaw(slab, off, len)) {
      rx.flushRaw();
      rx.queueRaw(slab, off, len);
    }
    let k = 0;
    while (k < this.npeers && this.peers[k] !== rx) k++;
    if (k === this.npeers) {
      if (k === MAX_PEERS) { rx.flushRaw(); return true; }
      this.peers[this.npeers++] = rx;
    }
    return true;
  }

  /** Queues a raw frame (header included) for this port's TAP; false when the queue is full. */
  queueRaw(slab: Buffer, off: number, len: number): boolean {
    if (this.rawCount === this.rawOffsets.length) return false;
    if (this.rawCount > 0 && this.rawSlab !== slab) this.flushRaw();
    this.rawSlab = slab;
    this.rawOffsets[this.rawCount] = off;
    this.rawLengths[this.rawCount++] = len;
    return true;
  }

  /** Writes the queued raw frames; EAGAIN drops the rest (`tap-full`), as for engine frames. */
  flushRaw(): void {
    const n = this.rawCount;
    if (n === 0) return;
    this.rawCount = 0;
    const port = this.port;
    const written = port.device.writeBatch(this.rawSlab!, this.rawOffsets, this.rawLengths, n);
    const v = port.counters.values;
    v[C['tx-batches']]!++;
    v[C['tx-frames']]! += written;
    for (let i = 0; i < written; i++) v[C['tx-bytes']]! += this.rawLengths[i]! - this.hs;
    if (written < n) port.drops.values[D['tap-full']]! += n - written;
    this.rawSlab = null;
  }

  private flushPeers(): void {
    for (let k = 0; k < this.npeers; k++) {
      this.peers[k]!.flushRaw();
      this.peers[k] = null;
    }
    this.npeers = 0;
  }
}
