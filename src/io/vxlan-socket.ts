/**
 * VxlanSocket: the real-socket underlay of a VXLAN tunnel endpoint (VxlanTransport of
 * src/net/vxlan-tunnel.ts). A UDP socket bound at "host:port" carries VXLAN datagrams
 * (VXLAN header + inner frame; the host kernel adds outer IPv4 and UDP) to the peers'
 * sockets and hands every datagram it receives to `onDatagram`, then calls `onBatch` once
 * per batch (the overlay runs the scheduler there). Peers are looked up by VTEP IP (uint32).
 *
 * Two backends:
 * - `native` (the default when the addon is built): src/io/udp-socket.ts. The receive
 *   buffer is asked for at 8 MiB with SO_RCVBUFFORCE (the kernel grants 16 MiB; without
 *   CAP_NET_ADMIN SO_RCVBUF, capped by net.core.rmem_max); datagrams are read with
 *   recvmmsg, 64 per call and up to 16 calls per event-loop wake-up (until a short one),
 *   into one reused slab. Sends are batched:
 *   `send` copies the datagram into a reused send slab (offsets, lengths and addresses in
 *   fixed arrays: nothing allocated per datagram) and the queue goes out with one sendmmsg
 *   when it holds `txBatch` datagrams (64) or at the end of the current turn of the event
 *   loop (a microtask queued by the first datagram of a batch: after the scheduler's turn,
 *   the recvmmsg callback or whatever code sent), whichever comes first; `stats()` and
 *   `close()` flush first. A datagram the kernel refuses in a batch (send buffer full:
 *   EAGAIN/ENOBUFS, the rest of that batch) counts in `txDrops`, another errno in
 *   `txErrors`: `txDatagrams + txDrops + txErrors` is every datagram `send` accepted.
 *   `txBatches` counts send system calls. `txBatch: 1` sends each datagram with its own
 *   sendto() at once (the behaviour before batching; the benchmark's baseline).
 * - `dgram` (fallback: the addon is not built): Node's `dgram`, with `recvBufferSize` asked
 *   for the same (SO_RCVBUF: capped by net.core.rmem_max, 212992 by default, so a burst of
 *   more than about 90 datagrams overflows it). Node may keep a send buffer until the send
 *   completes, so each datagram is copied into a slot of a fixed ring; a full ring refuses
 *   the send (the tunnel counts `transport-error`).
 *
 * Drops at the socket: `stats().kernelDrops` is the kernel's count of datagrams it dropped
 * at this socket (receive buffer full): SO_MEMINFO on the native socket, the `drops` column
 * of /proc/net/udp for the dgram one (the same counter, sk_drops; `ss -uam` shows it as
 * `d`). `podwire stats` prints it per node.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { VxlanDatagramHandler, VxlanTransport, VxlanTransportOptions, VxlanTransportStats } from '../net/vxlan-tunnel.js';
import { tryParseIpv4, tryParseIpv4Port } from '../wire/addr.js';
import { TapAddonError } from './tap.js';
import { DEFAULT_UDP_RCVBUF, UdpCounter, UdpSocket, type DatagramsHandler } from './udp-socket.js';

const SLOTS = 256;
const SLOT_SIZE = 2048;
/** Datagrams per sendmmsg (the addon sends in chunks of 64: native/udp.c PW_UDP_TX_CHUNK). */
export const DEFAULT_TX_BATCH = 64;
/** Bytes of the send slab: a batch of datagrams of a 1500-byte underlay, and any single UDP datagram. */
const TX_SLAB = DEFAULT_TX_BATCH * SLOT_SIZE;
/** The largest UDP payload over IPv4: 65535 - 20 (IPv4 header) - 8 (UDP header). */
const MAX_UDP_PAYLOAD = 65507;

interface Peer {
  host: string;
  port: number;
}

/** "host:port" -> {host, port}; throws naming the value. */
export function parseHostPort(s: string, what = 'address'): Peer {
  const a = tryParseIpv4Port(s); // the parser validate uses too (src/kube/semantic-nodes.ts)
  if (a === null) throw new Error(`${what} ${JSON.stringify(s)} is not "IPv4:port"`);
  return { host: a.host, port: a.port };
}

/**
 * The `drops` column of /proc/net/udp (this process's network namespace) for the socket
 * bound at host:port, or 0 when there is none. Reads a file: not for the hot path.
 */
export function procUdpDrops(host: string, port: number, file = '/proc/self/net/udp'): number {
  const ip = tryParseIpv4(host) ?? 0;
  // /proc/net/udp prints the address as the little-endian u32 of the network-order bytes.
  const le = (((ip & 0xff) << 24) | (((ip >>> 8) & 0xff) << 16) | (((ip >>> 16) & 0xff) << 8) | (ip >>> 24)) >>> 0;
  const local = `${le.toString(16).toUpperCase().padStart(8, '0')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return 0; }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return Number(f[f.length - 1]) || 0;
  }
  return 0;
}

export type VxlanSocketBackend = 'auto' | 'native' | 'dgram';

export interface VxlanSocketOptions {
  /** `auto` (default): native when the addon is built, else dgram. */
  backend?: VxlanSocketBackend;
  /** Receive buffer to ask for, bytes (the kernel grants twice that). Default 8 MiB. */
  rcvbuf?: number;
  /** Path of the addon, for tests. */
  addonPath?: string;
  /** Native backend: datagrams per sendmmsg, 1..64 (default 64); 1 = one sendto per datagram, unbatched. */
  txBatch?: number;
}

export class VxlanSocket implements VxlanTransport {
  readonly ready: Promise<void>;
  readonly backend: 'native' | 'dgram';
  sent = 0;
  received = 0;
  busy = 0;
  noPeer = 0;
  errors = 0;
  /** Datagrams longer than a read slot (2048 bytes): not delivered. */
  oversize = 0;
  /** Send system calls: sendmmsg per batch, sendto per datagram (unbatched, too long for the slab, dgram). */
  txBatches = 0;
  /** Native sends: datagrams per sendmmsg (1: sendto each at once). */
  readonly txBatch: number;
  private readonly txSlab: Buffer | null = null;
  private readonly txOffsets: Int32Array;
  private readonly txLengths: Int32Array;
  private readonly txAddrs: Uint32Array;
  private txCount = 0;
  private txUsed = 0;
  private flushQueued = false;
  private readonly flushTurn = (): void => {
    this.flushQueued = false;
    this.flush();
  };
  private readonly udp: UdpSocket | null = null;
  private readonly socket: Socket | null = null;
  private readonly bind: Peer;
  private readonly rcvbufRequested: number;
  private readonly peers = new Map<number, Peer>();
  /** Peer VTEP IP -> the uint32 of its socket's host (native sends). */
  private readonly peerIp = new Map<number, number>();
  private readonly slab: Buffer | null = null;
  private readonly slotFree: Uint8Array | null = null;
  private readonly doneCallbacks: (() => void)[] = [];
  private next = 0;
  private lastDst = -1;
  private lastPeer: Peer | null = null;
  private lastIp = 0;
  private closed = false;
  private readonly onDatagram: VxlanDatagramHandler;
  private readonly onBatch: (() => void) | null;

  constructor(opts: VxlanTransportOptions, sockOpts: VxlanSocketOptions = {}) {
    const bind = parseHostPort(opts.bind, 'vtep.bind');
    this.bind = bind;
    for (const [vtep, addr] of opts.peers) {
      const peer = parseHostPort(addr, 'peer VTEP address');
      this.peers.set(vtep >>> 0, peer);
      this.peerIp.set(vtep >>> 0, tryParseIpv4(peer.host)!);
    }
    this.onDatagram = opts.onDatagram;
    this.onBatch = opts.onBatch ?? null;
    this.rcvbufRequested = sockOpts.rcvbuf ?? DEFAULT_UDP_RCVBUF;
    const txBatch = sockOpts.txBatch ?? DEFAULT_TX_BATCH;
    if (!Number.isInteger(txBatch) || txBatch < 1 || txBatch > DEFAULT_TX_BATCH) {
      throw new RangeError(`vtep.bind ${opts.bind}: txBatch must be an integer in [1, ${DEFAULT_TX_BATCH}], got ${String(txBatch)}`);
    }
    this.txBatch = txBatch;
    this.txOffsets = new Int32Array(txBatch);
    this.txLengths = new Int32Array(txBatch);
    this.txAddrs = new Uint32Array(2 * txBatch);
    const backend = sockOpts.backend ?? 'auto';
    let bindError: Error | null = null;
    if (backend !== 'dgram') {
      try {
        this.udp = UdpSocket.open(bind.host, bind.port, {
          rcvbuf: this.rcvbufRequested, slotSize: SLOT_SIZE,
          ...(sockOpts.addonPath !== undefined ? { addonPath: sockOpts.addonPath } : {}),
        });
      } catch (e) {
        if (!(e instanceof TapAddonError) || backend === 'native') bindError = e as Error;
      }
    }
    this.backend = this.udp !== null || bindError !== null ? 'native' : 'dgram';
    if (this.backend === 'native') {
      const udp = this.udp;
      if (udp === null) {
        this.ready = Promise.reject(new Error(`vtep.bind ${opts.bind}: ${bindError!.message}`));
      } else {
        udp.onError((e) => {
          this.errors++;
          opts.onError?.(e);
        });
        udp.onDatagrams(this.onDatagrams);
        if (txBatch > 1) this.txSlab = Buffer.allocUnsafeSlow(TX_SLAB);
        this.ready = Promise.resolve();
      }
    } else {
      this.slab = Buffer.allocUnsafeSlow(SLOTS * SLOT_SIZE);
      const slotFree = new Uint8Array(SLOTS).fill(1);
      this.slotFree = slotFree;
      for (let i = 0; i < SLOTS; i++) this.doneCallbacks.push(() => { slotFree[i] = 1; });
      const socket = createSocket({ type: 'udp4', reuseAddr: false, recvBufferSize: this.rcvbufRequested });
      this.socket = socket;
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
        this.received++;
        this.onDatagram(msg, 0, msg.length, tryParseIpv4(rinfo.address) ?? 0);
        this.onBatch?.();
      });
      this.ready = new Promise<void>((resolve, reject) => {
        const onBindError = (e: Error): void => reject(new Error(`vtep.bind ${opts.bind}: ${e.message}`));
        socket.once('error', onBindError);
        socket.bind(bind.port, bind.host, () => {
          socket.off('error', onBindError);
          socket.on('error', (e: Error) => {
            this.errors++;
            opts.onError?.(e);
          });
          resolve();
        });
      });
    }
    this.ready.catch(() => undefined); // observed by whoever awaits it
  }

  /** One recvmmsg batch from the native socket: each datagram to the tunnel, then onBatch once. */
  private readonly onDatagrams: DatagramsHandler = (slab, slot, lengths, addrs, count) => {
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      if (len > slot) {
        this.oversize++;
        continue;
      }
      this.received++;
      this.onDatagram(slab, i * slot, len, addrs[2 * i]!);
    }
    this.onBatch?.();
  };

  /** The bound address ("host:port"), once ready. */
  address(): string {
    if (this.udp !== null) return this.udp.address;
    const a = this.socket!.address();
    return `${a.address}:${a.port}`;
  }

  send(buf: Uint8Array, off: number, len: number, dst: number): boolean {
    if (this.closed) return false;
    // The last peer, as VtepFdb caches its last MAC (a Map.get keyed by a double is slow).
    let peer = this.lastPeer;
    if (dst !== this.lastDst || peer === null) {
      const p = this.peers.get(dst >>> 0);
      if (p === undefined) {
        this.noPeer++;
        return false;
      }
      peer = p;
      this.lastDst = dst;
      this.lastPeer = p;
      this.lastIp = this.peerIp.get(dst >>> 0)!;
    }
    if (this.udp !== null) {
      const slab = this.txSlab;
      // Unbatched, or a datagram the kernel must refuse (EMSGSIZE): sendto now, so the tunnel
      // sees the failure (transport-error) as before batching.
      if (slab === null || len > MAX_UDP_PAYLOAD) {
        if (this.txCount > 0) this.flush(); // in order
        this.txBatches++;
        if (!this.udp.send(buf, off, len, this.lastIp, peer.port)) return false;
        this.sent++;
        return true;
      }
      if (this.txUsed + len > TX_SLAB) this.flush();
      const n = this.txCount;
      const at = this.txUsed;
      if (Buffer.isBuffer(buf)) buf.copy(slab, at, off, off + len);
      else slab.set(buf.subarray(off, off + len), at);
      this.txOffsets[n] = at;
      this.txLengths[n] = len;
      this.txAddrs[2 * n] = this.lastIp;
      this.txAddrs[2 * n + 1] = peer.port;
      this.txUsed = at + len;
      this.txCount = n + 1;
      if (n + 1 === this.txBatch) this.flush();
      else if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushTurn);
      }
      return true;
    }
    if (len > SLOT_SIZE || this.socket === null) return false;
    const slotFree = this.slotFree!;
    let slot = -1;
    for (let k = 0; k < SLOTS; k++) {
      const i = (this.next + k) % SLOTS;
      if (slotFree[i] === 1) { slot = i; break; }
    }
    if (slot < 0) {
      this.busy++;
      return false;
    }
    this.next = (slot + 1) % SLOTS;
    slotFree[slot] = 0;
    const at = slot * SLOT_SIZE;
    const slab = this.slab!;
    if (Buffer.isBuffer(buf)) buf.copy(slab, at, off, off + len);
    else slab.set(buf.subarray(off, off + len), at);
    this.socket.send(slab, at, len, peer.port, peer.host, this.doneCallbacks[slot]);
    this.sent++;
    this.txBatches++;
    return true;
  }

  /**
   * Sends the queued datagrams with one sendmmsg. The addon counts what the kernel refused
   * (txDrops: send buffer full, the rest of the batch; txErrors: another errno, that
   * datagram skipped), so nothing queued goes uncounted.
   */
  flush(): void {
    const n = this.txCount;
    if (n === 0 || this.udp === null) return;
    this.txCount = 0;
    this.txUsed = 0;
    this.txBatches++;
    this.sent += this.udp.sendBatch(this.txSlab!, this.txOffsets, this.txLengths, this.txAddrs, n);
  }

  /** Counters and the kernel's drop count at this socket (a system call or a /proc read: for the API). */
  stats(): VxlanTransportStats {
    this.flush();
    const udp = this.udp;
    let rcvbuf = 0;
    let kernelDrops = 0;
    let rcvbufForced = false;
    let rxBatches = this.received;
    let txDrops = this.busy;
    let txErrors = 0;
    if (udp !== null) {
      rcvbuf = udp.rcvbuf;
      rcvbufForced = udp.rcvbufForced;
      kernelDrops = udp.closed ? udp.counters[UdpCounter.KernelDrops]! : udp.kernelDrops();
      rxBatches = udp.counters[UdpCounter.RxBatches]!;
      txDrops = udp.counters[UdpCounter.TxDrops]!;
      txErrors = udp.counters[UdpCounter.TxErrors]!;
    } else if (this.socket !== null && !this.closed) {
      try { rcvbuf = this.socket.getRecvBufferSize(); } catch { /* not bound yet */ }
      kernelDrops = procUdpDrops(this.bind.host, this.bind.port);
    }
    return {
      backend: this.backend, bind: `${this.bind.host}:${this.bind.port}`, rcvbuf, rcvbufRequested: this.rcvbufRequested,
      rcvbufForced, kernelDrops, rxDatagrams: this.received, rxBatches, oversize: this.oversize,
      txDatagrams: this.sent, txBatches: this.txBatches, txDrops, txErrors, noPeer: this.noPeer, errors: this.errors,
    };
  }

  close(): void {
    if (this.closed) return;
    this.flush(); // what send() accepted goes out (or is counted) before the socket closes
    this.closed = true;
    if (this.udp !== null) this.udp.close();
    else try { this.socket?.close(); } catch { /* never bound */ }
  }
}

/** The VxlanTransportFactory to hand to `new Cluster(topology, { vxlanTransport })`. */
export function openVxlanSocket(opts: VxlanTransportOptions): VxlanSocket {
  return new VxlanSocket(opts);
}

/** A factory with a chosen backend or buffer size (tests, measurements). */
export function vxlanSocketFactory(sockOpts: VxlanSocketOptions): (opts: VxlanTransportOptions) => VxlanSocket {
  return (opts) => new VxlanSocket(opts, sockOpts);
}
