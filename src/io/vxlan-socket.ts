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
 *   recvmmsg, up to 64 per event-loop wake-up, into one reused slab; sends are one sendto()
 *   straight from the packet's buffer (nothing to keep: the kernel copied it).
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

interface Peer {
  host: string;
  port: number;
}

/** "host:port" -> {host, port}; throws naming the value. */
export function parseHostPort(s: string, what = 'address'): Peer {
  const a = tryParseIpv4Port(s); // the parser validate uses too (src/kube/semantic.ts)
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
      if (!this.udp.send(buf, off, len, this.lastIp, peer.port)) return false;
      this.sent++;
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
    return true;
  }

  /** Counters and the kernel's drop count at this socket (a system call or a /proc read: for the API). */
  stats(): VxlanTransportStats {
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
      txDatagrams: this.sent, txDrops, txErrors, noPeer: this.noPeer, errors: this.errors,
    };
  }

  close(): void {
    if (this.closed) return;
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
