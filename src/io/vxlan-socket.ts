/**
 * VxlanSocket: the real-socket underlay of a VXLAN tunnel endpoint (VxlanTransport of
 * src/net/vxlan-tunnel.ts). A `dgram` UDP socket bound at "host:port" carries VXLAN
 * datagrams (VXLAN header + inner frame; the host kernel adds outer IPv4 and UDP) to the
 * peers' sockets and hands every datagram it receives to `onDatagram`.
 *
 * Node may keep a send buffer until the send completes, so each datagram is copied into
 * a slot of a fixed ring (no allocation of our own per packet); a full ring refuses the
 * send (the tunnel counts `transport-error`). Peers are looked up by VTEP IP (uint32).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { VxlanDatagramHandler, VxlanTransport, VxlanTransportOptions } from '../net/vxlan-tunnel.js';
import { tryParseIpv4, tryParseIpv4Port } from '../wire/addr.js';

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

export class VxlanSocket implements VxlanTransport {
  readonly ready: Promise<void>;
  sent = 0;
  received = 0;
  busy = 0;
  noPeer = 0;
  errors = 0;
  private readonly socket: Socket;
  private readonly peers = new Map<number, Peer>();
  private readonly slab = Buffer.allocUnsafeSlow(SLOTS * SLOT_SIZE);
  private readonly slotFree = new Uint8Array(SLOTS).fill(1);
  private readonly doneCallbacks: (() => void)[] = [];
  private next = 0;
  private closed = false;
  private readonly onDatagram: VxlanDatagramHandler;

  constructor(opts: VxlanTransportOptions) {
    const bind = parseHostPort(opts.bind, 'vtep.bind');
    for (const [vtep, addr] of opts.peers) this.peers.set(vtep >>> 0, parseHostPort(addr, 'peer VTEP address'));
    this.onDatagram = opts.onDatagram;
    for (let i = 0; i < SLOTS; i++) this.doneCallbacks.push(() => { this.slotFree[i] = 1; });
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      this.received++;
      this.onDatagram(msg, 0, msg.length, tryParseIpv4(rinfo.address) ?? 0);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const onBindError = (e: Error): void => reject(new Error(`vtep.bind ${opts.bind}: ${e.message}`));
      this.socket.once('error', onBindError);
      this.socket.bind(bind.port, bind.host, () => {
        this.socket.off('error', onBindError);
        this.socket.on('error', (e: Error) => {
          this.errors++;
          opts.onError?.(e);
        });
        resolve();
      });
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it
  }

  /** The bound address ("host:port"), once ready. */
  address(): string {
    const a = this.socket.address();
    return `${a.address}:${a.port}`;
  }

  send(buf: Uint8Array, off: number, len: number, dst: number): boolean {
    if (this.closed) return false;
    const peer = this.peers.get(dst >>> 0);
    if (peer === undefined) {
      this.noPeer++;
      return false;
    }
    if (len > SLOT_SIZE) return false;
    let slot = -1;
    for (let k = 0; k < SLOTS; k++) {
      const i = (this.next + k) % SLOTS;
      if (this.slotFree[i] === 1) { slot = i; break; }
    }
    if (slot < 0) {
      this.busy++;
      return false;
    }
    this.next = (slot + 1) % SLOTS;
    this.slotFree[slot] = 0;
    const at = slot * SLOT_SIZE;
    if (Buffer.isBuffer(buf)) buf.copy(this.slab, at, off, off + len);
    else this.slab.set(buf.subarray(off, off + len), at);
    this.socket.send(this.slab, at, len, peer.port, peer.host, this.doneCallbacks[slot]);
    this.sent++;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.socket.close(); } catch { /* never bound */ }
  }
}

/** The VxlanTransportFactory to hand to `new Cluster(topology, { vxlanTransport })`. */
export function openVxlanSocket(opts: VxlanTransportOptions): VxlanSocket {
  return new VxlanSocket(opts);
}
