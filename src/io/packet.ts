/**
 * PacketDevice: an AF_PACKET socket bound to an interface that already exists (the host end
 * of a container's veth), through the native addon (native/packet.c): a TPACKET_V3 receive
 * ring and PACKET_VNET_HDR, so it reads and writes like a TAP opened with IFF_VNET_HDR.
 * TapPort takes it as its endpoint in offload mode (src/io/tap-port-vnet.ts): a frame the
 * container's kernel sent with a partial checksum gets it completed, a TSO segment is cut
 * into MSS-sized frames, and frames towards the container go out behind a zeroed header.
 *
 * The socket is made inside the interface's network namespace (`netnsPath`: /run/netns/NAME
 * or /proc/PID/ns/net; '' for podwire's own) and stays there; closing it leaves the
 * interface as it was. Frames the interface transmits (PACKET_IGNORE_OUTGOING) are not read.
 * Counters and errors as TapDevice's (TapCounter slots; errors carry the errno name as code).
 */
import { loadTapAddon, TapCounter, type FramesHandler, type TapAddon, type TapHandle } from './tap.js';

export interface PacketOpenOptions {
  /** Frames per read batch. Default 16 (a slot holds a 64 KiB TSO segment). */
  readonly batchSize?: number;
  /** Ring: blocks of this many bytes (a power of two >= 64 KiB). Default 256 KiB. */
  readonly blockSize?: number;
  /** Ring: number of blocks. Default 16 (4 MiB). */
  readonly blockCount?: number;
  readonly addonPath?: string;
}

/** virtio_net_hdr bytes in front of every frame (PACKET_VNET_HDR). */
const VNET_HDR = 10;
/** A slot: the header and a 64 KiB segment. */
const SLOT = 65536 + 64;

export class PacketDevice {
  readonly name: string;
  readonly ifindex: number;
  readonly vnetHdrSize = VNET_HDR;
  readonly batchSize: number;
  readonly counters: Float64Array;
  readonly slab: Buffer;
  readonly lengths: Int32Array;
  readonly #addon: TapAddon;
  readonly #handle: TapHandle;
  #closed = false;
  #reading = false;
  #frames: FramesHandler | null = null;
  #onError: ((err: Error) => void) | null = null;
  readonly #onBatch = (count: number, err?: Error): void => {
    if (count > 0 && this.#frames !== null) this.#frames(this.slab, SLOT, this.lengths, count);
    if (err !== undefined) {
      this.#reading = false;
      if (this.#onError !== null) this.#onError(err);
      else throw err;
    }
  };

  private constructor(addon: TapAddon, opened: { handle: TapHandle; name: string; ifindex: number }, counters: Float64Array, batchSize: number) {
    this.#addon = addon;
    this.#handle = opened.handle;
    this.name = opened.name;
    this.ifindex = opened.ifindex;
    this.counters = counters;
    this.batchSize = batchSize;
    this.slab = Buffer.alloc(SLOT * batchSize);
    this.lengths = new Int32Array(batchSize);
  }

  /** Opens the socket on `ifname` in the namespace at `netnsPath` ('' = podwire's). Needs root (CAP_NET_RAW, CAP_SYS_ADMIN). */
  static open(ifname: string, netnsPath: string, opts: PacketOpenOptions = {}): PacketDevice {
    const batch = opts.batchSize ?? 16;
    const addon = loadTapAddon(opts.addonPath);
    const counters = new Float64Array(8);
    const opened = addon.packetOpen(ifname, netnsPath, opts.blockSize ?? 1 << 18, opts.blockCount ?? 16, counters);
    return new PacketDevice(addon, opened, counters, batch);
  }

  get closed(): boolean { return this.#closed; }

  onFrames(handler: FramesHandler): void {
    this.#frames = handler;
    if (!this.#reading && !this.#closed) {
      this.#addon.readStart(this.#handle, this.slab, SLOT, this.lengths, this.batchSize, this.#onBatch);
      this.#reading = true;
    }
  }

  onError(handler: (err: Error) => void): void {
    this.#onError = handler;
  }

  writeBatch(slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, flags = 0): number {
    return this.#addon.writeBatch(this.#handle, slab, offsets, lengths, count, flags);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#addon.close(this.#handle);
  }

  get rxFrames(): number { return this.counters[TapCounter.RxFrames]!; }
  get txFrames(): number { return this.counters[TapCounter.TxFrames]!; }
}
