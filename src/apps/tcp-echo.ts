/**
 * TcpEcho: the echo service (RFC 862) on a TcpListener: every byte a client sends comes
 * back on the same connection; when the client closes, so does the server (after the
 * echoed bytes).
 *
 * Counters: connections, bytes (echoed), errors (connections that ended with an error).
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { IpHost } from '../net/ip-host.js';
import type { TcpConnection } from './tcp-conn.js';
import { TcpListener, type TcpListenOptions } from './tcp-listener.js';

export const TCP_ECHO_COUNTERS = ['connections', 'bytes', 'errors'] as const;
const C = indexOf(TCP_ECHO_COUNTERS);

export class TcpEcho {
  readonly counters = new Counters(TCP_ECHO_COUNTERS);
  readonly listener: TcpListener;

  private constructor(host: IpHost, port: number, opts: TcpListenOptions) {
    this.listener = TcpListener.listen(host, port, (c) => this.serve(c), opts);
  }

  /** Binds TCP `port` (throws when taken). */
  static listen(host: IpHost, port: number, opts: TcpListenOptions = {}): TcpEcho {
    return new TcpEcho(host, port, opts);
  }

  close(): void {
    this.listener.close();
  }

  private serve(c: TcpConnection): void {
    const v = this.counters.values;
    v[C.connections]!++;
    c.onData((d) => {
      v[C.bytes]! += d.length;
      c.write(d);
    });
    c.onClose((err) => {
      if (err !== null) v[C.errors]!++;
    });
  }
}
