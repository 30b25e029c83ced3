/**
 * The app-facing side of a TcpConnection: options, states, stats, errors, and TcpEvents,
 * per connection and never per packet: callbacks (connect, data, end, close), data kept
 * until the first `onData`, and the `connected` / `done` promises, made on first use (an
 * unused promise never becomes an unhandled rejection). `finish` settles all of it once.
 */

export type TcpState =
  | 'closed' | 'syn-sent' | 'syn-received' | 'established' | 'fin-wait-1' | 'fin-wait-2'
  | 'closing' | 'time-wait' | 'close-wait' | 'last-ack';

export interface TcpOptions {
  /** The app's own wait: a wait (handshake, ACK, data, FIN) fails after this long without progress (retransmissions are not progress). Default 3000; 0 = none, only TCP's own retry limits. */
  timeoutMs?: number;
  /** TIME-WAIT duration. Default 60000 (Linux's TCP_TIMEWAIT_LEN). */
  timeWaitMs?: number;
  /** The MSS we announce and send at most. Default 1460, and never more than the egress MTU - 40 (host.mtuFor). */
  mss?: number;
  /** Keep our side open after the peer's FIN (default false). */
  allowHalfOpen?: boolean;
}

export interface TcpConnectOptions extends TcpOptions {
  /** Trace id put on the SYN (0 = not traced). */
  trace?: number;
  /** The local port to connect from (bind() before connect(); throws when taken). Default: a free ephemeral port. */
  localPort?: number;
}

export interface TcpStats {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Out of order, duplicate, outside the window, or not fitting the state. */
  segmentsDropped: number;
  /** Segments not built because the pool was empty (data and FIN retried 1 ms later). */
  poolExhausted: number;
  /** Segments resent because the RTO expired (SYN, SYN-ACK, data, FIN). */
  retransmits: number;
}

/** Error codes as Node names them. */
export type TcpErrorCode = 'ETIMEDOUT' | 'ECONNREFUSED' | 'ECONNRESET' | 'EHOSTUNREACH';

export class TcpError extends Error {
  constructor(message: string, readonly code: TcpErrorCode) {
    super(message);
    this.name = 'TcpError';
  }
}

export class TcpEvents {
  everEstablished = false;
  finished = false;
  error: Error | null = null;
  private readonly connectCbs: (() => void)[] = [];
  private readonly dataCbs: ((data: Buffer) => void)[] = [];
  private readonly endCbs: (() => void)[] = [];
  private readonly closeCbs: ((err: Error | null) => void)[] = [];
  private rxPending: Buffer[] | null = null;
  private connectedP: Promise<void> | null = null;
  private connectedSettle: ((err: Error | null) => void) | null = null;
  private doneP: Promise<void> | null = null;
  private doneSettle: ((err: Error | null) => void) | null = null;

  /** `peer` names the other end in messages (`10.244.2.2:8080`). */
  constructor(private readonly peer: string) {}

  onConnect(cb: () => void): void {
    if (this.everEstablished) cb();
    else this.connectCbs.push(cb);
  }

  onData(cb: (data: Buffer) => void): void {
    this.dataCbs.push(cb);
    const pending = this.rxPending;
    this.rxPending = null;
    if (pending !== null) for (const d of pending) cb(d);
  }

  onEnd(cb: () => void): void {
    this.endCbs.push(cb);
  }

  onClose(cb: (err: Error | null) => void): void {
    if (this.finished) cb(this.error);
    else this.closeCbs.push(cb);
  }

  get connected(): Promise<void> {
    if (this.connectedP === null) {
      if (this.everEstablished) this.connectedP = Promise.resolve();
      else if (this.finished) this.connectedP = Promise.reject(this.error ?? this.closedBeforeConnect());
      else {
        this.connectedP = new Promise<void>((res, rej) => {
          this.connectedSettle = (err) => (err === null ? res() : rej(err));
        });
      }
    }
    return this.connectedP;
  }

  get done(): Promise<void> {
    if (this.doneP === null) {
      if (this.finished) this.doneP = this.error === null ? Promise.resolve() : Promise.reject(this.error);
      else {
        this.doneP = new Promise<void>((res, rej) => {
          this.doneSettle = (err) => (err === null ? res() : rej(err));
        });
      }
    }
    return this.doneP;
  }

  connect(): void {
    this.everEstablished = true;
    this.connectedSettle?.(null);
    this.connectedSettle = null;
    const cbs = this.connectCbs.splice(0);
    for (const cb of cbs) cb();
  }

  /** In-order bytes: a view handed to the callbacks, or a copy kept until one is registered. */
  data(data: Buffer): void {
    if (this.dataCbs.length === 0) {
      (this.rxPending ??= []).push(Buffer.from(data));
      return;
    }
    for (const cb of this.dataCbs) cb(data);
  }

  end(): void {
    for (const cb of this.endCbs) cb();
  }

  /** The app's view of the end, once: null after a clean close, else the error. */
  finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    if (this.connectedSettle !== null) this.connectedSettle(err ?? this.closedBeforeConnect());
    this.connectedSettle = null;
    this.doneSettle?.(err);
    this.doneSettle = null;
    const cbs = this.closeCbs.splice(0);
    for (const cb of cbs) cb(err);
  }

  private closedBeforeConnect(): Error {
    return new Error(`connection to ${this.peer} closed before it was established`);
  }
}
