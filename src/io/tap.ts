/**
 * TapDevice: a Linux TAP device through the native addon (native/tap.c).
 *
 * Reading: `onFrames(handler)` starts watching the device's fd on the event loop (uv_poll,
 * no threadpool). Each time it is readable the addon reads frames until EAGAIN or the batch
 * is full into one preallocated slab of fixed-size slots and calls the handler once:
 * frame i is `slab[i * slotSize, i * slotSize + lengths[i])`. Nothing is allocated per frame
 * or per batch; the slab and lengths are reused, so a handler copies what it keeps.
 * `onFramesAt(slab, offsets, maxLen, handler)` reads frame i into slab[offsets[i]] instead:
 * the caller (TapPort) points the offsets at free pool packets and so receives without a copy.
 *
 * Offloads: `vnetHdr: true` (IFF_VNET_HDR) puts a virtio_net_hdr in front of every frame read
 * and expected on write; `offloads` (TUNSETOFFLOAD) lets the kernel hand over partial
 * checksums and TSO frames of up to 64 KiB (slots then default to 64 KiB + 12, 16 per batch).
 * `writeBatch(..., TapWrite.ZeroVnetHdr)` sends plain frames behind a zeroed header.
 *
 * Writing: `write(buf, off, len)` sends one frame, `writeBatch(slab, offsets, lengths, count)`
 * sends many in one call. Never blocks: on EAGAIN the frame (and the rest of the batch) is
 * dropped and counted; podwire does not retry, like a NIC with a full ring.
 *
 * Counters (read live from a Float64Array the addon increments): rxFrames, rxBatches,
 * rxErrors, txFrames, txDrops (EAGAIN), txErrors (any other errno, e.g. EIO while down,
 * EINVAL for a frame shorter than an Ethernet header).
 *
 * Errors: `TapDevice.open` throws an Error whose `code` is the errno name (EPERM, ENOENT,
 * EBUSY, EINVAL, ENAMETOOLONG) and whose message names it and the device. A read or poll
 * error (the device deleted underneath) stops reading and goes to `onError`'s handler, or
 * is thrown as an uncaught exception when there is none (like an EventEmitter 'error').
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** TUNSETOFFLOAD flags (linux/if_tun.h). Only meaningful with `vnetHdr: true`. */
export const TunOffload = {
  Csum: 0x01,
  Tso4: 0x02,
  Tso6: 0x04,
  TsoEcn: 0x08,
  Ufo: 0x10,
  Uso4: 0x20,
  Uso6: 0x40,
} as const;

/** Slots of the counters array shared with the addon (enum in native/tap.c). */
export const TapCounter = {
  RxFrames: 0,
  RxBatches: 1,
  RxErrors: 2,
  TxFrames: 3,
  TxDrops: 4,
  TxErrors: 5,
  LastRxErrno: 6,
  LastTxErrno: 7,
} as const;
const COUNTER_SLOTS = 8;

declare const tapHandleBrand: unique symbol;
/** Opaque native handle (a napi_external). */
export interface TapHandle { readonly [tapHandleBrand]: true }

/** The raw addon; TapDevice is the typed way to use it. */
export interface TapAddon {
  readonly COUNTER_COUNT: number;
  open(name: string, vnetHdr: boolean, vnetHdrSize: number, offloads: number, counters: Float64Array):
    { handle: TapHandle; fd: number; name: string };
  readStart(handle: TapHandle, slab: Buffer, slotSize: number, lengths: Int32Array, batch: number,
    cb: (count: number, err?: Error) => void, offsets?: Int32Array): void;
  readStop(handle: TapHandle): void;
  setRef(handle: TapHandle, ref: boolean): void;
  write(handle: TapHandle, buf: Uint8Array, off: number, len: number): boolean;
  writeBatch(handle: TapHandle, slab: Uint8Array, offsets: Int32Array | Uint32Array,
    lengths: Int32Array | Uint32Array, count: number, flags?: number): number;
  close(handle: TapHandle): void;
  /** An AF_PACKET socket on an existing interface (native/packet.c); reads/writes as a vnet-hdr TAP. */
  packetOpen(ifname: string, netnsPath: string, blockSize: number, blockCount: number, counters: Float64Array):
    { handle: TapHandle; fd: number; name: string; ifindex: number };
  /**
   * Latency probe (native/tap.h; tools/bench/tap-latency.mjs): with a Float64Array every TAP
   * wake-up appends a record of CLOCK_MONOTONIC timestamps; null switches it off (the default).
   */
  setLatencyProbe?(probe: Float64Array | null): void;
}

/** Where `npm install` puts the addon: <package root>/build/Release (from src/io or dist/io). */
export const defaultAddonPath = fileURLToPath(new URL('../../build/Release/podwire_tap.node', import.meta.url));

/** Error thrown when the addon cannot be loaded; `code` is ERR_PODWIRE_TAP_ADDON. */
export class TapAddonError extends Error {
  readonly code = 'ERR_PODWIRE_TAP_ADDON';
  constructor(readonly path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(`the TAP addon could not be loaded from ${path} (${why}). It is built by \`npm install\`; `
      + 'rebuild it with `npm rebuild` (or `node native/build.mjs`), which needs python3, make and a '
      + 'C compiler (sudo tools/setup-system.sh). TAP devices exist on Linux only.', { cause });
    this.name = 'TapAddonError';
  }
}

/** Loads the native addon (Node caches it per path); throws TapAddonError with a how-to-fix message. */
export function loadTapAddon(path: string = defaultAddonPath): TapAddon {
  try {
    const addon = createRequire(import.meta.url)(path) as TapAddon;
    if (addon.COUNTER_COUNT !== COUNTER_SLOTS) {
      throw new Error(`addon has ${addon.COUNTER_COUNT} counters, this podwire expects ${COUNTER_SLOTS}: rebuild it`);
    }
    return addon;
  } catch (err) {
    throw new TapAddonError(path, err);
  }
}

export interface TapOpenOptions {
  /** IFF_VNET_HDR: every frame is preceded by a struct virtio_net_hdr. Default false. */
  readonly vnetHdr?: boolean;
  /** TUNSETVNETHDRSZ (10, or 12 with num_buffers); default: the kernel's (10). */
  readonly vnetHdrSize?: 10 | 12;
  /** TUNSETOFFLOAD flags (TunOffload.*); needs vnetHdr. Default 0. */
  readonly offloads?: number;
  /** Bytes per read slot. Default 2048; 65536 + 12 when offloads allow TSO/UFO/USO (64 KiB frames). */
  readonly slotSize?: number;
  /** Frames per read batch. Default 64. */
  readonly batchSize?: number;
  /** Path of the addon, for tests and unusual layouts. Default: build/Release of this package. */
  readonly addonPath?: string;
}

/** writeBatch flags (native/tap.h). */
export const TapWrite = {
  /** The device has IFF_VNET_HDR, the frames are plain: each goes out behind a zeroed virtio_net_hdr. */
  ZeroVnetHdr: 1,
} as const;

/**
 * Called once per batch: frame i is slab[i * slotSize, i * slotSize + lengths[i]), or with
 * `onFramesAt`, slab[offsets[i], offsets[i] + lengths[i]) (slotSize is then the read limit).
 */
export type FramesHandler = (slab: Buffer, slotSize: number, lengths: Int32Array, count: number) => void;

const GSO_OFFLOADS = TunOffload.Tso4 | TunOffload.Tso6 | TunOffload.Ufo | TunOffload.Uso4 | TunOffload.Uso6;

export class TapDevice {
  /** File descriptor (non-blocking); -1 once closed. */
  get fd(): number { return this.#closed ? -1 : this.#fd; }
  /** The kernel's name for the device at open time (a `%d` resolved); renames elsewhere are not seen. */
  readonly name: string;
  readonly vnetHdr: boolean;
  /** Bytes of virtio_net_hdr in front of every frame read or written raw: 0, 10 or 12. */
  readonly vnetHdrSize: number;
  /** The TUNSETOFFLOAD flags the device was opened with. */
  readonly offloads: number;
  /** Read slab, slot size and lengths handed to the frames handler (reused for every batch). */
  readonly slab: Buffer;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  readonly batchSize: number;
  /** Live counters, indexed by TapCounter. */
  readonly counters: Float64Array;

  readonly #addon: TapAddon;
  readonly #handle: TapHandle;
  readonly #fd: number;
  #closed = false;
  #reading = false;
  #frames: FramesHandler | null = null;
  /** Set by onFramesAt: frames are read into caller-owned slots. */
  #at: { slab: Buffer; offsets: Int32Array; maxLen: number } | null = null;
  #onError: ((err: Error) => void) | null = null;
  readonly #onBatch = (count: number, err?: Error): void => {
    if (count > 0 && this.#frames !== null) {
      const at = this.#at;
      if (at === null) this.#frames(this.slab, this.slotSize, this.lengths, count);
      else this.#frames(at.slab, at.maxLen, this.lengths, count);
    }
    if (err !== undefined) {
      this.#reading = false;
      if (this.#onError !== null) this.#onError(err);
      else throw err;
    }
  };

  private constructor(addon: TapAddon, opened: { handle: TapHandle; fd: number; name: string },
    counters: Float64Array, vnetHdr: boolean, vnetHdrSize: number, offloads: number, slotSize: number, batchSize: number) {
    this.#addon = addon;
    this.#handle = opened.handle;
    this.#fd = opened.fd;
    this.name = opened.name;
    this.vnetHdr = vnetHdr;
    this.vnetHdrSize = vnetHdrSize;
    this.offloads = offloads;
    this.counters = counters;
    this.slotSize = slotSize;
    this.batchSize = batchSize;
    this.slab = Buffer.alloc(slotSize * batchSize);
    this.lengths = new Int32Array(batchSize);
  }

  /**
   * Opens (creating if needed) the TAP device `name` ("" or "tap%d" lets the kernel choose).
   * Needs root or CAP_NET_ADMIN. Throws an Error with `code` = errno name on failure.
   */
  static open(name: string, opts: TapOpenOptions = {}): TapDevice {
    const vnetHdr = opts.vnetHdr ?? false;
    const offloads = opts.offloads ?? 0;
    if (!Number.isInteger(offloads) || offloads < 0 || offloads > 0x7f) {
      throw new RangeError(`TAP device ${name}: offloads must be a combination of TunOffload flags, got ${String(offloads)}`);
    }
    if (offloads !== 0 && !vnetHdr) {
      throw new RangeError(`TAP device ${name}: offloads (${offloads}) need vnetHdr: true`);
    }
    const hdr = vnetHdr ? (opts.vnetHdrSize ?? 10) : 0;
    const slotSize = opts.slotSize ?? ((offloads & GSO_OFFLOADS) !== 0 ? 65536 + 12 : 2048);
    const batchSize = opts.batchSize ?? (slotSize > 4096 ? 16 : 64);
    if (!Number.isInteger(slotSize) || slotSize < 64 + hdr || slotSize > 65536 + 64) {
      throw new RangeError(`TAP device ${name}: slotSize must be an integer in [${64 + hdr}, ${65536 + 64}], got ${String(slotSize)}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 4096) {
      throw new RangeError(`TAP device ${name}: batchSize must be an integer in [1, 4096], got ${String(batchSize)}`);
    }
    const addon = loadTapAddon(opts.addonPath);
    const counters = new Float64Array(COUNTER_SLOTS);
    const opened = addon.open(name, vnetHdr, opts.vnetHdrSize ?? 0, offloads, counters);
    return new TapDevice(addon, opened, counters, vnetHdr, hdr, offloads, slotSize, batchSize);
  }

  /** Sets the batch handler and starts reading (replacing any previous handler). */
  onFrames(handler: FramesHandler): void {
    if (this.#closed) throw this.#closedError('onFrames');
    if (this.#at !== null && this.#reading) this.pause();
    this.#frames = handler;
    this.#at = null;
    if (!this.#reading) this.#start();
  }

  /**
   * Like onFrames, but frame i of a batch is read straight into slab[offsets[i] ..], at most
   * `maxLen` bytes (a longer frame is reported with its full length, truncated): the caller
   * points `offsets` (batchSize entries, read by the addon at every read) at free slots of
   * its own, e.g. pool packets, and re-points the entries it consumed before returning.
   */
  onFramesAt(slab: Buffer, offsets: Int32Array, maxLen: number, handler: FramesHandler): void {
    if (this.#closed) throw this.#closedError('onFramesAt');
    if (offsets.length < this.batchSize || !Number.isInteger(maxLen) || maxLen < 1) {
      throw new RangeError(`TAP device ${this.name}: onFramesAt needs ${this.batchSize} offsets and a positive maxLen`);
    }
    if (this.#reading) this.pause();
    this.#frames = handler;
    this.#at = { slab, offsets, maxLen };
    this.#start();
  }

  #start(): void {
    const at = this.#at;
    if (at === null) this.#addon.readStart(this.#handle, this.slab, this.slotSize, this.lengths, this.batchSize, this.#onBatch);
    else this.#addon.readStart(this.#handle, at.slab, at.maxLen, this.lengths, this.batchSize, this.#onBatch, at.offsets);
    this.#reading = true;
  }

  /** Handler for read/poll errors (reading has stopped when it runs). */
  onError(handler: (err: Error) => void): void {
    this.#onError = handler;
  }

  /** Stops reading; frames queue in the kernel (and are dropped there when its queue is full). */
  pause(): void {
    if (this.#reading) this.#addon.readStop(this.#handle);
    this.#reading = false;
  }

  /** Restarts reading with the current handler after pause(). */
  resume(): void {
    if (this.#frames !== null && !this.#reading) this.#start();
  }

  get reading(): boolean { return this.#reading; }
  get closed(): boolean { return this.#closed; }

  /** Whether a reading device keeps the process alive (default true), like socket.ref()/unref(). */
  ref(): void { if (!this.#closed) this.#addon.setRef(this.#handle, true); }
  unref(): void { if (!this.#closed) this.#addon.setRef(this.#handle, false); }

  /** Writes one frame; false when dropped (EAGAIN, error, or closed), see txDrops / txErrors. */
  write(buf: Uint8Array, off: number, len: number): boolean {
    return this.#addon.write(this.#handle, buf, off, len);
  }

  /**
   * Writes `count` frames, frame i at slab[offsets[i], offsets[i] + lengths[i]), one write()
   * each, in one call. Returns the number written; the rest were dropped (EAGAIN: txDrops)
   * or failed (txErrors). `flags`: TapWrite.ZeroVnetHdr to send plain frames on a vnet-hdr device.
   */
  writeBatch(slab: Uint8Array, offsets: Int32Array | Uint32Array, lengths: Int32Array | Uint32Array, count: number, flags = 0): number {
    return this.#addon.writeBatch(this.#handle, slab, offsets, lengths, count, flags);
  }

  /** Stops reading and closes the fd (a non-persistent TAP then disappears). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#addon.close(this.#handle);
  }

  get rxFrames(): number { return this.counters[TapCounter.RxFrames]!; }
  get rxBatches(): number { return this.counters[TapCounter.RxBatches]!; }
  get rxErrors(): number { return this.counters[TapCounter.RxErrors]!; }
  get txFrames(): number { return this.counters[TapCounter.TxFrames]!; }
  get txDrops(): number { return this.counters[TapCounter.TxDrops]!; }
  get txErrors(): number { return this.counters[TapCounter.TxErrors]!; }

  /** A snapshot for the API/CLI (allocates; not for the hot path). */
  stats(): { rxFrames: number; rxBatches: number; rxErrors: number; txFrames: number; txDrops: number; txErrors: number } {
    return {
      rxFrames: this.rxFrames, rxBatches: this.rxBatches, rxErrors: this.rxErrors,
      txFrames: this.txFrames, txDrops: this.txDrops, txErrors: this.txErrors,
    };
  }

  #closedError(what: string): Error {
    return Object.assign(new Error(`TAP device ${this.name}: ${what} after close (EBADF)`), { code: 'EBADF' });
  }
}
