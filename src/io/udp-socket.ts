/**
 * UdpSocket: an IPv4 UDP socket through the native addon (native/udp.c), for carrying
 * datagrams at rates Node's `dgram` loses them at (one callback and one Buffer per
 * datagram, and a receive buffer capped by net.core.rmem_max).
 *
 * Receive buffer: `rcvbuf` bytes are asked for with SO_RCVBUFFORCE (root or CAP_NET_ADMIN;
 * not capped by net.core.rmem_max), else SO_RCVBUF (capped); the kernel doubles the request
 * for its bookkeeping (socket(7)), and `rcvbuf` / `rcvbufForced` report what it granted.
 *
 * Reading: `onDatagrams(handler)` watches the fd on the event loop (uv_poll, the TAP
 * machinery of native/tap_poll.c). Each time it is readable the addon reads up to a batch of
 * datagrams with one recvmmsg() into one preallocated slab of fixed slots and calls the
 * handler once: datagram i is `slab[i * slotSize, i * slotSize + lengths[i])` from
 * `addrs[2i]` (IPv4 as uint32) port `addrs[2i + 1]`; a length above `slotSize` means the
 * datagram was longer than a slot and was cut (counted in `rxTruncated`). Nothing is
 * allocated per datagram or per batch: slab, lengths and addrs are reused.
 *
 * Drops: `kernelDrops()` is the kernel's count of datagrams it dropped at this socket
 * (sk_drops: the receive buffer was full, or a bad checksum), read with
 * getsockopt(SO_MEMINFO); the same number as the `drops` column of /proc/net/udp and `d`
 * in `ss -uam` (`counters[UdpCounter.KernelDrops]` holds the last value read). Not
 * SO_RXQ_OVFL: see native/udp.c (a kernel BUG on Linux 6.18 killed the process).
 *
 * Sending: `send(buf, off, len, ip, port)` is one sendto() straight from the caller's
 * buffer (the kernel copies it; the buffer is free on return), `sendBatch` one sendmmsg().
 * Never blocks: EAGAIN drops the datagram (txDrops), another errno counts in txErrors.
 *
 * Errors: `UdpSocket.open` throws an Error whose `code` is the errno name (EADDRINUSE,
 * EADDRNOTAVAIL, EACCES) and whose message names the address; TapAddonError when the addon
 * is missing or too old to have UDP sockets.
 */
import { TapAddonError, TapCounter, defaultAddonPath, loadTapAddon, type TapAddon, type TapHandle } from './tap.js';

/** Slots of the counters array shared with the addon (native/tap.h: the TAP slots, then U_*). */
export const UdpCounter = {
  RxDatagrams: TapCounter.RxFrames,
  RxBatches: TapCounter.RxBatches,
  RxErrors: TapCounter.RxErrors,
  TxDatagrams: TapCounter.TxFrames,
  TxDrops: TapCounter.TxDrops,
  TxErrors: TapCounter.TxErrors,
  LastRxErrno: TapCounter.LastRxErrno,
  LastTxErrno: TapCounter.LastTxErrno,
  KernelDrops: 8,
  Rcvbuf: 9,
  Sndbuf: 10,
  RcvbufForced: 11,
  RxTruncated: 12,
  RxBytes: 13,
  TxBytes: 14,
} as const;
const UDP_COUNTER_SLOTS = 15;

/** The UDP half of the addon. */
export interface UdpAddon {
  readonly UDP_COUNTER_COUNT: number;
  udpOpen(host: string, port: number, rcvbuf: number, sndbuf: number, batch: number, counters: Float64Array, addrs: Uint32Array):
    { handle: TapHandle; fd: number; name: string; port: number };
  udpSend(handle: TapHandle, buf: Uint8Array, off: number, len: number, ip: number, port: number): boolean;
  udpSendBatch(handle: TapHandle, slab: Uint8Array, offsets: Int32Array | Uint32Array, lengths: Int32Array | Uint32Array,
    addrs: Uint32Array, count: number): number;
  udpDrops(handle: TapHandle): number;
}

/** Loads the addon and checks it has UDP sockets; throws TapAddonError (with how to rebuild) otherwise. */
export function loadUdpAddon(path?: string): TapAddon & UdpAddon {
  const addon = loadTapAddon(path) as TapAddon & Partial<UdpAddon>;
  if (typeof addon.udpOpen !== 'function' || addon.UDP_COUNTER_COUNT !== UDP_COUNTER_SLOTS) {
    throw new TapAddonError(path ?? defaultAddonPath,
      new Error(`addon has no UDP sockets of ${UDP_COUNTER_SLOTS} counters: rebuild it`));
  }
  return addon as TapAddon & UdpAddon;
}

export interface UdpOpenOptions {
  /** Receive buffer to ask for, bytes (the kernel grants twice that). Default 8 MiB; 0 keeps the kernel default. */
  readonly rcvbuf?: number;
  /** Send buffer to ask for, bytes. Default 4 MiB; 0 keeps the kernel default. */
  readonly sndbuf?: number;
  /** Bytes per read slot. Default 2048 (a VXLAN datagram of a 1500-byte underlay is at most 1472). */
  readonly slotSize?: number;
  /** Datagrams per recvmmsg(). Default 64. */
  readonly batchSize?: number;
  /** Path of the addon, for tests and unusual layouts. */
  readonly addonPath?: string;
}

/** Called once per batch; see the file comment for where datagram i is. */
export type DatagramsHandler = (slab: Buffer, slotSize: number, lengths: Int32Array, addrs: Uint32Array, count: number) => void;

export const DEFAULT_UDP_RCVBUF = 8 << 20;
export const DEFAULT_UDP_SNDBUF = 4 << 20;

export class UdpSocket {
  /** "IPv4:port" as bound (port 0 resolved). */
  readonly address: string;
  readonly port: number;
  /** The receive buffer size asked for (bytes). */
  readonly rcvbufRequested: number;
  readonly slab: Buffer;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  readonly addrs: Uint32Array;
  readonly batchSize: number;
  /** Live counters, indexed by UdpCounter. */
  readonly counters: Float64Array;

  readonly #addon: TapAddon & UdpAddon;
  readonly #handle: TapHandle;
  #closed = false;
  #reading = false;
  #handler: DatagramsHandler | null = null;
  #onError: ((err: Error) => void) | null = null;
  readonly #onBatch = (count: number, err?: Error): void => {
    if (count > 0 && this.#handler !== null) this.#handler(this.slab, this.slotSize, this.lengths, this.addrs, count);
    if (err !== undefined) {
      this.#reading = false;
      if (this.#onError !== null) this.#onError(err);
      else throw err;
    }
  };

  private constructor(addon: TapAddon & UdpAddon, opened: { handle: TapHandle; name: string; port: number }, counters: Float64Array,
    addrs: Uint32Array, rcvbuf: number, slotSize: number, batchSize: number) {
    this.#addon = addon;
    this.#handle = opened.handle;
    this.address = opened.name;
    this.port = opened.port;
    this.counters = counters;
    this.addrs = addrs;
    this.rcvbufRequested = rcvbuf;
    this.slotSize = slotSize;
    this.batchSize = batchSize;
    this.slab = Buffer.alloc(slotSize * batchSize);
    this.lengths = new Int32Array(batchSize);
  }

  /** Opens and binds a UDP socket at host:port (port 0: the kernel chooses). Throws with `code` = errno name. */
  static open(host: string, port: number, opts: UdpOpenOptions = {}): UdpSocket {
    const rcvbuf = opts.rcvbuf ?? DEFAULT_UDP_RCVBUF;
    const sndbuf = opts.sndbuf ?? DEFAULT_UDP_SNDBUF;
    const slotSize = opts.slotSize ?? 2048;
    const batchSize = opts.batchSize ?? 64;
    const where = `UDP socket ${host}:${port}`;
    for (const [k, v, lo, hi] of [['rcvbuf', rcvbuf, 0, 2 ** 30], ['sndbuf', sndbuf, 0, 2 ** 30], ['slotSize', slotSize, 64, 65536],
      ['batchSize', batchSize, 1, 1024], ['port', port, 0, 65535]] as const) {
      if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${where}: ${k} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
    const addon = loadUdpAddon(opts.addonPath);
    const counters = new Float64Array(UDP_COUNTER_SLOTS);
    const addrs = new Uint32Array(2 * batchSize);
    const opened = addon.udpOpen(host, port, rcvbuf, sndbuf, batchSize, counters, addrs);
    return new UdpSocket(addon, opened, counters, addrs, rcvbuf, slotSize, batchSize);
  }

  /** Sets the batch handler and starts reading (replacing any previous handler). */
  onDatagrams(handler: DatagramsHandler): void {
    if (this.#closed) throw Object.assign(new Error(`UDP socket ${this.address}: onDatagrams after close (EBADF)`), { code: 'EBADF' });
    this.#handler = handler;
    if (!this.#reading) this.resume();
  }

  /** Handler for read/poll errors (reading has stopped when it runs). */
  onError(handler: (err: Error) => void): void {
    this.#onError = handler;
  }

  /** Stops reading; datagrams queue in the receive buffer (and are dropped, counted, when it is full). */
  pause(): void {
    if (this.#reading) this.#addon.readStop(this.#handle);
    this.#reading = false;
  }

  /** Restarts reading with the current handler after pause(). */
  resume(): void {
    if (this.#closed || this.#handler === null || this.#reading) return;
    this.#addon.readStart(this.#handle, this.slab, this.slotSize, this.lengths, this.batchSize, this.#onBatch);
    this.#reading = true;
  }

  get reading(): boolean { return this.#reading; }
  get closed(): boolean { return this.#closed; }

  /** Whether a reading socket keeps the process alive (default true). */
  ref(): void { if (!this.#closed) this.#addon.setRef(this.#handle, true); }
  unref(): void { if (!this.#closed) this.#addon.setRef(this.#handle, false); }

  /** One datagram to ip (uint32):port; false when dropped (EAGAIN, error, closed). */
  send(buf: Uint8Array, off: number, len: number, ip: number, port: number): boolean {
    return this.#addon.udpSend(this.#handle, buf, off, len, ip >>> 0, port);
  }

  /** `count` datagrams, i at slab[offsets[i], + lengths[i]) to addrs[2i]:addrs[2i + 1], one sendmmsg(); returns how many went. */
  sendBatch(slab: Uint8Array, offsets: Int32Array | Uint32Array, lengths: Int32Array | Uint32Array, addrs: Uint32Array, count: number): number {
    return this.#addon.udpSendBatch(this.#handle, slab, offsets, lengths, addrs, count);
  }

  /** Datagrams the kernel dropped at this socket so far (SO_MEMINFO); one system call, not for the hot path. */
  kernelDrops(): number {
    return this.#addon.udpDrops(this.#handle);
  }

  /** Receive buffer the kernel granted (bytes, twice the request), and whether SO_RCVBUFFORCE was allowed. */
  get rcvbuf(): number { return this.counters[UdpCounter.Rcvbuf]!; }
  get rcvbufForced(): boolean { return this.counters[UdpCounter.RcvbufForced] === 1; }
  get sndbuf(): number { return this.counters[UdpCounter.Sndbuf]!; }

  /** Stops reading and closes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#addon.close(this.#handle);
  }

  /** A snapshot for the API/CLI (allocates, and reads the drop counter with a system call). */
  stats(): Record<string, number | boolean> {
    const c = this.counters;
    const kernelDrops = this.#closed ? c[UdpCounter.KernelDrops]! : this.kernelDrops();
    return {
      rxDatagrams: c[UdpCounter.RxDatagrams]!, rxBatches: c[UdpCounter.RxBatches]!, rxBytes: c[UdpCounter.RxBytes]!,
      rxErrors: c[UdpCounter.RxErrors]!, rxTruncated: c[UdpCounter.RxTruncated]!,
      txDatagrams: c[UdpCounter.TxDatagrams]!, txBytes: c[UdpCounter.TxBytes]!, txDrops: c[UdpCounter.TxDrops]!,
      txErrors: c[UdpCounter.TxErrors]!, kernelDrops, rcvbuf: this.rcvbuf, rcvbufRequested: this.rcvbufRequested,
      rcvbufForced: this.rcvbufForced, sndbuf: this.sndbuf,
    };
  }
}
