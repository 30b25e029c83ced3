/**
 * TcpListener: a TCP port in LISTEN (RFC 9293) over the `IpHost` contract.
 *
 * Binds TCP `port`; every segment for it comes here. Segments of a known connection
 * (keyed by remote address and port) go to that TcpConnection; a SYN for a new one makes
 * a connection in SYN-RECEIVED that answers with a SYN-ACK (MSS option, ISN from
 * host.random(), trace = host.replyTrace(the SYN's trace)) and is handed to
 * `onConnection` once the handshake's ACK arrives. A SYN to a connection in TIME-WAIT
 * starts a new one. Anything else for an unknown connection gets a RST (RFC 9293
 * 3.10.7.1); segments to ports nobody bound are the host's business.
 *
 * A traced RST that ends a connection records `tcp-closed` (the state it ended in: a
 * trace's probe resets the SYN-RECEIVED connection its SYN made).
 *
 * `close()` stops accepting (new SYNs get a RST, as a closed port would) and unbinds the
 * port once the accepted connections have ended.
 *
 * Counters: syn, accepted, rst-sent, backlog-full (SYN dropped: `maxConnections` reached),
 * icmp (ICMP errors quoting our port, freed).
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { IpProtocol } from '../wire/ipv4.js';
import { TcpFlag } from '../wire/tcp.js';
import { TcpConnection, type TcpOptions, type TcpOwner } from './tcp-conn.js';
import { replyRst } from './tcp-seg.js';

/** Server-side connections wait `timeoutMs` (default 30000 here) for the peer. */
export interface TcpListenOptions extends TcpOptions {
  /** Connections (in any state, TIME-WAIT included) before new SYNs are dropped. Default 4096. */
  maxConnections?: number;
}

export const TCP_LISTENER_COUNTERS = ['syn', 'accepted', 'rst-sent', 'backlog-full', 'icmp'] as const;
const C = indexOf(TCP_LISTENER_COUNTERS);
const { SYN, RST, ACK } = TcpFlag;

export class TcpListener {
  readonly counters = new Counters(TCP_LISTENER_COUNTERS);
  /** Live connections by `remote * 65536 + remotePort`. */
  readonly connections = new Map<number, TcpConnection>();
  private closing = false;
  private bound = true;
  private ident: number;
  private readonly maxConnections: number;
  private readonly owner: TcpOwner;
  private readonly opts: TcpListenOptions;

  private constructor(
    readonly host: IpHost,
    readonly port: number,
    private readonly onConnection: (c: TcpConnection) => void,
    opts: TcpListenOptions,
  ) {
    this.opts = { ...opts, timeoutMs: opts.timeoutMs ?? 30_000 };
    this.maxConnections = opts.maxConnections ?? 4096;
    this.ident = host.random() & 0xffff;
    this.owner = {
      established: (c) => {
        this.counters.values[C.accepted]!++;
        this.onConnection(c);
      },
      release: (c) => {
        const k = c.remote * 65536 + c.remotePort;
        if (this.connections.get(k) === c) this.connections.delete(k);
        if (this.closing && this.connections.size === 0) this.unbind();
      },
    };
  }

  /** Binds `port` (throws when taken) and calls `onConnection` for every established connection. */
  static listen(host: IpHost, port: number, onConnection: (c: TcpConnection) => void, opts: TcpListenOptions = {}): TcpListener {
    const l = new TcpListener(host, port, onConnection, opts);
    host.bind(IpProtocol.Tcp, port, (p, info) => l.input(p, info));
    return l;
  }

  /** Stops accepting; the port is released when the last connection ends. */
  close(): void {
    this.closing = true;
    if (this.connections.size === 0) this.unbind();
  }

  private unbind(): void {
    if (!this.bound) return;
    this.bound = false;
    this.host.unbind(IpProtocol.Tcp, this.port);
  }

  private input(p: Packet, info: L4Info): void {
    const host = this.host;
    if (info.protocol !== IpProtocol.Tcp) {
      this.counters.values[C.icmp]!++;
      host.free(p);
      return;
    }
    const key = info.src * 65536 + info.sport;
    const flags = p.buf[info.l4 + 13]!;
    const isSyn = (flags & (SYN | ACK | RST)) === SYN;
    let conn = this.connections.get(key);
    if (conn !== undefined && isSyn && conn.state === 'time-wait') {
      conn.abort(); // a new incarnation of the same pair
      conn = undefined;
    }
    if (conn !== undefined) {
      const trace = p.trace;
      const was = conn.state;
      conn.input(p, info.l4, info.payload, info.payloadLen);
      if (trace !== 0 && conn.state === 'closed' && (flags & RST) !== 0) {
        host.hop(trace, 'tcp-closed', { port: this.port, peer: conn.peerName(), was });
      }
      return;
    }
    if (!isSyn || this.closing) {
      if (replyRst(host, p, info.l3, info.l4, info.payloadLen, this.ident)) this.counters.values[C['rst-sent']]!++;
      this.ident = (this.ident + 1) & 0xffff;
      host.free(p);
      return;
    }
    this.counters.values[C.syn]!++;
    if (this.connections.size >= this.maxConnections) {
      this.counters.values[C['backlog-full']]!++;
      host.free(p);
      return;
    }
    if (p.trace !== 0) host.hop(p.trace, 'tcp-syn', { port: this.port, state: 'syn-received' });
    conn = new TcpConnection(host, info.dst, this.port, info.src, info.sport, this.opts, this.owner);
    this.connections.set(key, conn);
    conn.acceptSyn(p, info.l4);
    host.free(p);
  }
}
