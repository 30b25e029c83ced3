/**
 * TcpConnection: one TCP endpoint (RFC 9293) on raw segments, over the `IpHost` contract.
 * Clients come from `TcpConnection.connect` (ephemeral port, SYN with an MSS option, ISN
 * from host.random(), `opts.trace` on the SYN); server sides from `TcpListener`.
 *
 * Behaviour: three-way handshake; data in order only (out-of-order / duplicate segments
 * are dropped and ACKed, overlaps trimmed); an ACK for every segment that moved RCV.NXT,
 * piggybacked when the app answers inside its callback; data in segments of at most the
 * peer's MSS, within its window (our window: fixed 65535, no scaling); FIN both ways
 * (FIN-WAIT-1 -> FIN-WAIT-2 / CLOSING -> TIME-WAIT for the first to close, CLOSE-WAIT ->
 * LAST-ACK for the other; unless `allowHalfOpen`, the peer's FIN closes our side once the
 * onEnd callbacks ran). RST: in SYN-SENT "connection refused", later "connection reset by
 * peer"; a bad ACK in SYN-SENT / SYN-RECEIVED is answered with a RST.
 *
 * Retransmission as Linux's (rto.ts has the figures and their sources): the SYN, SYN-ACK,
 * data and FIN are retransmitted when the RTO expires (initial RTO 1 s, RFC 6298 SRTT /
 * RTTVAR from Karn-valid samples, at least 200 ms, at most 120 s, doubling per expiry);
 * only the first unacknowledged segment is resent, then one more per ACK until everything
 * sent before the expiry is acknowledged (the receiver keeps no out-of-order data, so this
 * is go-back-N at one segment per round trip; no fast retransmit, no congestion window).
 * After tcp_syn_retries (6: SYNs at 0, 1, 3, 7, 15, 31, 63 s, ETIMEDOUT at 127 s),
 * tcp_synack_retries (5) or tcp_retries2 (15) expiries the connection fails with
 * ETIMEDOUT (no RST, as tcp_write_err). On top of that, the app's own wait: `timeoutMs`
 * without progress (a segment from the peer, or new data / FIN from us; 0 = none) fails
 * the connection with an Error naming what it waited for (`connect to 10.244.2.2:8080
 * timed out after 3000 ms`), with a RST when synchronized. TIME-WAIT lasts `timeWaitMs` and re-ACKs a retransmitted FIN; the
 * port is released at CLOSED. Every packet handed to a connection is freed by it.
 * App side (callbacks, promises): see tcp-events.ts; `onData` views are valid during the
 * call only.
 */
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { formatIpv4, parseIpv4, readU16, readU32 } from '../wire/addr.js';
import { IpProtocol, ipv4Dst, ipv4HeaderLength } from '../wire/ipv4.js';
import { TcpFlag } from '../wire/tcp.js';
import {
  TcpError, TcpEvents, type TcpConnectOptions, type TcpOptions, type TcpState, type TcpStats,
} from './tcp-events.js';
import {
  DEFAULT_MSS, DEFAULT_PEER_MSS, Deadline, SendQueue, TCP_WINDOW, readMss, replyRst, sealSegment, seqAdd, seqLe, seqLt,
  writeSegment,
} from './tcp-seg.js';
import { RtoEstimator, TCP_RETRIES2, TCP_SYNACK_RETRIES, TCP_SYN_RETRIES } from './tcp-rto.js';

export type { TcpConnectOptions, TcpOptions, TcpState, TcpStats } from './tcp-events.js';

/** What a connection tells its owner (the listener, or the client's port binding). */
export interface TcpOwner {
  established(c: TcpConnection): void;
  release(c: TcpConnection): void;
}

const { FIN, SYN, RST, PSH, ACK } = TcpFlag;
const CLIENT_OWNER: TcpOwner = {
  established: () => {},
  release: (c) => c.host.unbind(IpProtocol.Tcp, c.localPort),
};

export class TcpConnection {
  state: TcpState = 'closed';
  readonly stats: TcpStats = {
    segmentsIn: 0, segmentsOut: 0, bytesIn: 0, bytesOut: 0, segmentsDropped: 0, poolExhausted: 0, retransmits: 0,
  };
  /** Trace id of the SYN (client) or of the SYN-ACK (server); 0 when not traced. */
  trace = 0;
  private readonly ev: TcpEvents;
  private readonly txq = new SendQueue();
  private iss = 0;
  private sndUna = 0;
  private sndNxt = 0;
  private sndWnd = 0;
  private sndMss = DEFAULT_PEER_MSS;
  private rcvNxt = 0;
  private irs = 0;
  private lastAckSent = 0;
  private ident: number;
  private finSent = false;
  /** Sequence number of our FIN (valid once finSent). */
  private finSeq = 0;
  /** Data bytes sent and not acknowledged (the head of txq). */
  private inflight = 0;
  private readonly rtoEst = new RtoEstimator();
  private rtoTimer: Timer | null = null;
  /** RTO expiries since the last ACK of new data (icsk_retransmits). */
  private retransmits = 0;
  /** After an expiry: resend one segment per ACK until SND.UNA reaches `recover`. */
  private recovering = false;
  private recover = 0;
  /** One segment timed at once (Karn: never a retransmitted one). */
  private timing = false;
  private rttSeq = 0;
  private rttAt = 0;
  private openedAt = 0;
  private readonly onRto = (): void => { this.rtoTimer = null; this.rtoExpired(); };
  private closeRequested = false;
  private readonly deadline: Deadline;
  private retryTimer: Timer | null = null;
  private readonly onRetry = (): void => { this.retryTimer = null; this.trySend(); };
  private readonly timeoutMs: number;
  private readonly timeWaitMs: number;
  private readonly mss: number;
  private readonly allowHalfOpen: boolean;

  constructor(
    readonly host: IpHost, readonly local: number, readonly localPort: number,
    readonly remote: number, readonly remotePort: number,
    opts: TcpOptions, private readonly owner: TcpOwner,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.timeWaitMs = opts.timeWaitMs ?? 60_000;
    // Announce what fits the egress MTU (1450 - 40 under VXLAN), never more than asked.
    this.mss = Math.min(opts.mss ?? DEFAULT_MSS, host.mtuFor(remote) - 40);
    this.allowHalfOpen = opts.allowHalfOpen ?? false;
    this.ident = host.random() & 0xffff;
    this.ev = new TcpEvents(this.peerName());
    this.deadline = new Deadline(host, () => this.expired());
  }

  /** Opens a connection to `dst:dport` from `opts.localPort` or an ephemeral port; failures arrive through onClose / done. */
  static connect(host: IpHost, dst: number | string, dport: number, opts: TcpConnectOptions = {}): TcpConnection {
    const remote = typeof dst === 'string' ? parseIpv4(dst) : dst >>> 0;
    if (!Number.isInteger(dport) || dport < 1 || dport > 65535) throw new Error(`connect: port ${dport} out of range 1-65535`);
    const local = host.sourceFor(remote);
    let conn: TcpConnection | null = null;
    const lport = host.bind(IpProtocol.Tcp, opts.localPort ?? 0, (p, info) => {
      if (conn === null) host.free(p);
      else conn.clientInput(p, info);
    });
    const c = new TcpConnection(host, local, lport, remote, dport, opts, CLIENT_OWNER);
    conn = c;
    c.state = 'syn-sent';
    if (local === 0) {
      // After the caller had a chance to register callbacks.
      host.after(0, () => c.fail(new TcpError(`connect to ${c.peerName()}: no route to host`, 'EHOSTUNREACH'), false));
      return c;
    }
    c.iss = c.sndUna = c.sndNxt = host.random();
    c.trace = opts.trace ?? 0;
    c.openedAt = host.now();
    c.touch(); // armed even when the pool is empty and the SYN cannot go out
    c.emit(SYN, c.sndNxt, 0, c.trace);
    return c;
  }

  /** @internal The listener's path: answers the SYN at `l4` with a SYN-ACK (reply trace of the SYN's). */
  acceptSyn(p: Packet, l4: number): void {
    const b = p.buf;
    this.irs = readU32(b, l4 + 4);
    this.rcvNxt = seqAdd(this.irs, 1);
    const m = readMss(b, l4);
    this.sndMss = Math.min(m === 0 ? DEFAULT_PEER_MSS : m, this.mss);
    this.sndWnd = readU16(b, l4 + 14);
    this.iss = this.sndUna = this.sndNxt = this.host.random();
    this.state = 'syn-received';
    this.openedAt = this.host.now();
    this.trace = this.host.replyTrace(p.trace);
    this.touch();
    this.emit(SYN | ACK, this.sndNxt, 0, this.trace);
  }

  /** `10.244.2.2:8080` */
  peerName(): string {
    return `${formatIpv4(this.remote)}:${this.remotePort}`;
  }

  // ---- app API (see tcp-events.ts) --------------------------------------------------

  onConnect(cb: () => void): this { this.ev.onConnect(cb); return this; }
  /** `data` is a view into the packet, valid during the call only. */
  onData(cb: (data: Buffer) => void): this { this.ev.onData(cb); return this; }
  /** The peer sent FIN: no more data will come. */
  onEnd(cb: () => void): this { this.ev.onEnd(cb); return this; }
  /** Once: null after a clean close (TIME-WAIT or CLOSED), else the error. */
  onClose(cb: (err: Error | null) => void): this { this.ev.onClose(cb); return this; }
  /** Resolves when established; rejects when the connection ends before. */
  get connected(): Promise<void> { return this.ev.connected; }
  /** Resolves after a clean close; rejects with the connection's error. */
  get done(): Promise<void> { return this.ev.done; }
  get error(): Error | null { return this.ev.error; }
  /** Bytes written but not sent yet. */
  get queuedBytes(): number { return this.txq.bytes - this.inflight; }

  /** Queues bytes (copied; before the handshake completes too) and sends what the window allows. */
  write(data: Uint8Array | string): void {
    if (this.closeRequested || this.ev.finished || this.state === 'closed') {
      throw new Error(`write to ${this.peerName()} after close (state ${this.state})`);
    }
    this.txq.push(data);
    this.trySend();
  }

  /** Sends FIN once the queued data is out (after the handshake when it is still running; `abort` gives up). */
  close(): void {
    if (this.closeRequested || this.ev.finished) return;
    this.closeRequested = true;
    this.trySend();
  }

  /** Sends RST (when synchronized, not in TIME-WAIT) and drops the connection. */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'syn-sent' && this.state !== 'time-wait') this.emit(RST | ACK, this.sndNxt, 0, 0);
    this.end(null);
  }

  // ---- input -----------------------------------------------------------------------

  /** The client's port: its segments, strays (answered with RST), ICMP errors. Reads `info` first. */
  private clientInput(p: Packet, info: L4Info): void {
    if (info.protocol === IpProtocol.Icmp) {
      this.icmpError(p, info.l4);
      this.host.free(p);
    } else if (info.src !== this.remote || info.sport !== this.remotePort || this.state === 'closed') {
      replyRst(this.host, p, info.l3, info.l4, info.payloadLen, this.ident);
      this.host.free(p);
    } else {
      this.input(p, info.l4, info.payload, info.payloadLen);
    }
  }

  /** Destination unreachable quoting our SYN fails the connect; later ones are ignored. */
  private icmpError(p: Packet, l4: number): void {
    const b = p.buf;
    if (b[l4] !== 3 || this.state !== 'syn-sent' || l4 + 8 + 24 > p.end) return;
    const inner = l4 + 8;
    const ihl = ipv4HeaderLength(b, inner);
    if (ipv4Dst(b, inner) !== this.remote || inner + ihl + 4 > p.end || readU16(b, inner + ihl + 2) !== this.remotePort) return;
    const code = b[l4 + 1]!;
    const why = code === 0 ? 'network unreachable' : code === 1 ? 'host unreachable' : code === 3 ? 'port unreachable' : `code ${code}`;
    this.fail(new TcpError(`connect to ${this.peerName()}: destination unreachable (${why})`, 'EHOSTUNREACH'), false);
  }

  /** @internal One segment of this connection (TCP header at `l4`); frees `p`. */
  input(p: Packet, l4: number, payload: number, payloadLen: number): void {
    this.stats.segmentsIn++;
    this.segment(p.buf, l4, payload, payloadLen);
    this.host.free(p);
  }

  /** RFC 9293 3.10.7.4, simplified. Re-entrant: output() may deliver to a local peer and come back. */
  private segment(b: Buffer, l4: number, payload: number, plen: number): void {
    const seq = readU32(b, l4 + 4);
    const ack = readU32(b, l4 + 8);
    const flags = b[l4 + 13]!;
    const wnd = readU16(b, l4 + 14);
    if (this.state === 'closed') return;
    if (this.state === 'syn-sent') { this.synSent(b, l4, seq, ack, flags, wnd); return; }
    if (this.state === 'syn-received' && (flags & (SYN | ACK)) === SYN && seq === this.irs) {
      this.emit(SYN | ACK, this.iss, 0, this.trace); // the SYN again: our SYN-ACK was lost
      return;
    }
    const segLen = plen + ((flags & SYN) !== 0 ? 1 : 0) + ((flags & FIN) !== 0 ? 1 : 0);
    if (!this.acceptable(seq, segLen)) {
      this.stats.segmentsDropped++;
      if ((flags & RST) === 0) this.emit(ACK, this.sndNxt, 0, 0);
      if (this.state === 'time-wait' && (flags & FIN) !== 0) this.deadline.set(this.host.now() + this.timeWaitMs);
      return;
    }
    if ((flags & RST) !== 0) {
      if (seq !== this.rcvNxt) this.emit(ACK, this.sndNxt, 0, 0); // RFC 5961 challenge ACK
      else if (this.state === 'syn-received' || this.state === 'time-wait') this.end(null);
      else this.fail(new TcpError(`connection to ${this.peerName()}: connection reset by peer`, 'ECONNRESET'), false);
      return;
    }
    if ((flags & SYN) !== 0) { this.stats.segmentsDropped++; this.emit(ACK, this.sndNxt, 0, 0); return; }
    if ((flags & ACK) === 0) { this.stats.segmentsDropped++; return; }
    this.touch();
    if (this.state === 'syn-received') {
      if (ack !== this.sndNxt) { this.stats.segmentsDropped++; this.rstWithSeq(ack); return; }
      this.acked(ack);
      this.sndWnd = wnd;
      this.state = 'established';
      this.owner.established(this);
      this.ev.connect();
      if (this.isClosed()) return;
    } else {
      if (seqLt(this.sndNxt, ack)) { this.stats.segmentsDropped++; this.emit(ACK, this.sndNxt, 0, 0); return; }
      if (seqLt(this.sndUna, ack)) this.acked(ack);
      this.sndWnd = wnd;
      if (this.finSent && this.sndUna === this.sndNxt) {
        if (this.state === 'fin-wait-1') this.state = 'fin-wait-2';
        else if (this.state === 'closing') { this.timeWait(); return; }
        else if (this.state === 'last-ack') { this.end(null); return; }
      }
    }
    if (plen > 0 && (this.state === 'established' || this.state === 'fin-wait-1' || this.state === 'fin-wait-2')) {
      const skip = seqLt(seq, this.rcvNxt) ? (this.rcvNxt - seq) >>> 0 : 0;
      if (skip === 0 && seq !== this.rcvNxt) { // a gap: no reassembly, a duplicate ACK
        this.stats.segmentsDropped++;
        this.emit(ACK, this.sndNxt, 0, 0);
      } else if (plen > skip) {
        const len = plen - skip;
        this.rcvNxt = seqAdd(this.rcvNxt, len);
        this.stats.bytesIn += len;
        this.ev.data(b.subarray(payload + skip, payload + plen));
        if (this.isClosed()) return;
      }
    }
    if ((flags & FIN) !== 0 && seqAdd(seq, plen) === this.rcvNxt) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      const st = this.state;
      if (st === 'established') this.state = 'close-wait';
      else if (st === 'fin-wait-1') this.state = 'closing';
      else if (st === 'fin-wait-2') { this.state = 'time-wait'; this.deadline.set(this.host.now() + this.timeWaitMs); }
      if (st === 'established' || st === 'fin-wait-1' || st === 'fin-wait-2') {
        this.ev.end();
        if (this.state === 'time-wait') this.ev.finish(null); // after onEnd
        if (!this.allowHalfOpen && this.state === 'close-wait') this.close();
        if (this.isClosed()) return;
      }
    }
    this.trySend();
    if (this.rcvNxt !== this.lastAckSent && !this.isClosed()) this.emit(ACK, this.sndNxt, 0, 0);
  }

  private synSent(b: Buffer, l4: number, seq: number, ack: number, flags: number, wnd: number): void {
    if ((flags & ACK) !== 0 && ack !== this.sndNxt) {
      this.stats.segmentsDropped++;
      if ((flags & RST) === 0) this.rstWithSeq(ack);
      return;
    }
    if ((flags & RST) !== 0) {
      if ((flags & ACK) !== 0) this.fail(new TcpError(`connect to ${this.peerName()}: connection refused`, 'ECONNREFUSED'), false);
      return;
    }
    if ((flags & (SYN | ACK)) !== (SYN | ACK)) { this.stats.segmentsDropped++; return; } // no simultaneous open
    this.irs = seq;
    this.rcvNxt = seqAdd(seq, 1);
    this.acked(ack);
    this.sndWnd = wnd;
    const m = readMss(b, l4);
    this.sndMss = Math.min(m === 0 ? DEFAULT_PEER_MSS : m, this.mss);
    this.state = 'established';
    this.touch();
    this.emit(ACK, this.sndNxt, 0, 0);
    this.ev.connect();
    this.trySend();
  }

  /**
   * SND.UNA moves to `ack` (in (SND.UNA, SND.NXT]): ACKed data leaves the queue, the timed
   * segment gives an RTT sample, the backoff collapses and the RTO timer restarts for what
   * is still in flight (Linux tcp_rearm_rto); during recovery the next segment is resent.
   */
  private acked(ack: number): void {
    let k = (ack - this.sndUna) >>> 0;
    if (this.sndUna === this.iss) k--; // our SYN
    if (this.finSent && ack === seqAdd(this.finSeq, 1)) k--; // our FIN
    if (k > 0) {
      const d = Math.min(k, this.inflight);
      this.txq.drop(d);
      this.inflight -= d;
    }
    this.sndUna = ack;
    const now = this.host.now();
    if (this.timing && seqLe(this.rttSeq, ack)) {
      this.timing = false;
      this.rtoEst.sample(now - this.rttAt);
    }
    this.retransmits = 0;
    this.rtoEst.resetBackoff();
    if (this.rtoTimer !== null) { this.host.cancel(this.rtoTimer); this.rtoTimer = null; }
    if (this.sndUna !== this.sndNxt) this.rtoTimer = this.host.after(this.rtoEst.rto, this.onRto);
    if (this.recovering) {
      if (seqLt(ack, this.recover)) this.retransmitHead();
      else this.recovering = false;
    }
  }

  /** RFC 9293 3.10.7.4 acceptability with our fixed window. */
  private acceptable(seq: number, segLen: number): boolean {
    const lo = this.rcvNxt;
    const hi = seqAdd(lo, TCP_WINDOW);
    if (seqLe(lo, seq) && seqLt(seq, hi)) return true;
    if (segLen === 0) return false;
    const last = seqAdd(seq, segLen - 1);
    return seqLe(lo, last) && seqLt(last, hi);
  }

  // ---- output ----------------------------------------------------------------------

  /** Sends queued data within the peer's window, then our FIN when close() asked for it. */
  private trySend(): void {
    const st = this.state;
    if (st !== 'established' && st !== 'close-wait') return;
    while (this.txq.bytes > this.inflight) {
      const room = this.sndWnd - ((this.sndNxt - this.sndUna) >>> 0);
      if (room <= 0) return; // an ACK will open the window
      const unsent = this.txq.bytes - this.inflight;
      const n = Math.min(this.sndMss, unsent, room);
      if (!this.emit(n === unsent ? ACK | PSH : ACK, this.sndNxt, n, 0)) { this.retryLater(); return; }
      if (this.state !== st) return;
    }
    if (this.closeRequested && !this.finSent) {
      const p = this.host.alloc();
      if (p === null) { this.stats.poolExhausted++; this.retryLater(); return; }
      this.finSent = true;
      this.finSeq = this.sndNxt;
      this.state = st === 'established' ? 'fin-wait-1' : 'last-ack';
      this.emitWith(p, FIN | ACK, this.sndNxt, 0, 0);
    }
  }

  private retryLater(): void {
    if (this.retryTimer === null) this.retryTimer = this.host.after(1, this.onRetry);
  }

  /**
   * One segment with `n` bytes from the send queue (new data when `seq` is SND.NXT, else
   * the first `n` unacknowledged bytes: a retransmission); false when the pool is empty.
   */
  private emit(flags: number, seq: number, n: number, trace: number): boolean {
    const p = this.host.alloc();
    if (p === null) { this.stats.poolExhausted++; return false; }
    this.emitWith(p, flags, seq, n, trace);
    return true;
  }

  /** SND.NXT and the ACK we sent move before output(), which may come back into this connection. */
  private emitWith(p: Packet, flags: number, seq: number, n: number, trace: number): void {
    const withAck = (flags & ACK) !== 0;
    const at = writeSegment(p, this.local, this.remote, this.localPort, this.remotePort, seq,
      withAck ? this.rcvNxt : 0, flags, (flags & SYN) !== 0 ? this.mss : 0, this.ident, n);
    this.ident = (this.ident + 1) & 0xffff;
    const fresh = seq === this.sndNxt;
    if (n > 0) this.txq.copy(p.buf, at, fresh ? this.inflight : 0, n);
    sealSegment(p);
    p.trace = trace;
    const adv = n + ((flags & (SYN | FIN)) !== 0 ? 1 : 0);
    if (adv > 0 && fresh) {
      this.sndNxt = seqAdd(seq, adv);
      this.inflight += n;
      this.touch();
      if (!this.timing) {
        this.timing = true;
        this.rttSeq = this.sndNxt;
        this.rttAt = this.host.now();
      }
      if (this.rtoTimer === null) this.rtoTimer = this.host.after(this.rtoEst.rto, this.onRto);
    }
    if (withAck) this.lastAckSent = this.rcvNxt;
    this.stats.segmentsOut++;
    this.stats.bytesOut += n;
    this.host.output(p);
  }

  /** A bare RST with sequence number `seq` (answer to an unacceptable ACK while opening). */
  private rstWithSeq(seq: number): void {
    const p = this.host.alloc();
    if (p === null) { this.stats.poolExhausted++; return; }
    writeSegment(p, this.local, this.remote, this.localPort, this.remotePort, seq, 0, RST, 0, this.ident, 0);
    sealSegment(p);
    this.host.output(p);
  }

  // ---- timers and endings ----------------------------------------------------------

  /** Progress: the wait restarts (not in TIME-WAIT, whose end is fixed; not when the app set no timeout). */
  private touch(): void {
    if (this.state !== 'time-wait' && this.timeoutMs > 0) this.deadline.set(this.host.now() + this.timeoutMs);
  }

  /**
   * The RTO expired with data in flight (Linux tcp_retransmit_timer): give up after the
   * state's retry limit (tcp_write_timeout), else resend the head, double the RTO (at most
   * TCP_RTO_MAX) and re-arm.
   */
  private rtoExpired(): void {
    const st = this.state;
    if (st === 'closed' || st === 'time-wait' || this.sndUna === this.sndNxt) return;
    const limit = st === 'syn-sent' ? TCP_SYN_RETRIES : st === 'syn-received' ? TCP_SYNACK_RETRIES : TCP_RETRIES2;
    if (this.retransmits >= limit) {
      const ms = this.host.now() - this.openedAt;
      if (st === 'syn-received') { this.end(null); return; } // the request is forgotten
      if (st === 'syn-sent') {
        this.fail(new TcpError(`connect to ${this.peerName()} timed out after ${ms} ms (${limit} SYN retransmissions)`, 'ETIMEDOUT'), false);
        return;
      }
      this.fail(new TcpError(`connection to ${this.peerName()} timed out waiting for an ACK (${limit} retransmissions)`, 'ETIMEDOUT'), false);
      return;
    }
    this.retransmits++;
    this.stats.retransmits++;
    this.timing = false; // Karn: no sample from a retransmitted segment
    this.recovering = true;
    this.recover = this.sndNxt;
    this.retransmitHead();
    this.rtoEst.backoff();
    this.rtoTimer = this.host.after(this.rtoEst.rto, this.onRto);
  }

  /** Resends the first unacknowledged segment: SYN, SYN-ACK, up to one MSS of data, or FIN. */
  private retransmitHead(): void {
    const st = this.state;
    if (st === 'syn-sent') { this.emit(SYN, this.iss, 0, 0); return; }
    if (st === 'syn-received') { this.emit(SYN | ACK, this.iss, 0, 0); return; }
    if (this.inflight > 0) {
      const n = Math.min(this.sndMss, this.inflight);
      this.emit(n === this.txq.bytes ? ACK | PSH : ACK, this.sndUna, n, 0);
    } else if (this.finSent && this.sndUna === this.finSeq) {
      this.emit(FIN | ACK, this.finSeq, 0, 0);
    }
  }

  private expired(): void {
    if (this.state === 'closed') return;
    if (this.state === 'time-wait' || this.state === 'syn-received') { this.end(null); return; }
    const ms = this.timeoutMs;
    if (this.state === 'syn-sent') {
      this.fail(new TcpError(`connect to ${this.peerName()} timed out after ${ms} ms`, 'ETIMEDOUT'), false);
      return;
    }
    const what = this.sndUna !== this.sndNxt
      ? (this.finSent && seqAdd(this.sndUna, 1) === this.sndNxt ? 'the ACK of our FIN' : 'an ACK')
      : this.state === 'fin-wait-2' ? 'FIN' : 'data';
    this.fail(new TcpError(`connection to ${this.peerName()} timed out after ${ms} ms waiting for ${what}`, 'ETIMEDOUT'), true);
  }

  /** Callbacks and output() can close the connection under us (no narrowing across them). */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private timeWait(): void {
    this.state = 'time-wait';
    this.deadline.set(this.host.now() + this.timeWaitMs);
    this.ev.finish(null);
  }

  private fail(err: Error, rst: boolean): void {
    if (this.state === 'closed') return;
    if (rst) this.emit(RST | ACK, this.sndNxt, 0, 0);
    this.end(err);
  }

  /** CLOSED: the app is told (once), timers stop, the queue is dropped, the port or listener slot is released. */
  private end(err: Error | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.deadline.clear();
    if (this.retryTimer !== null) { this.host.cancel(this.retryTimer); this.retryTimer = null; }
    if (this.rtoTimer !== null) { this.host.cancel(this.rtoTimer); this.rtoTimer = null; }
    this.txq.clear();
    this.inflight = 0;
    this.owner.release(this);
    this.ev.finish(err);
  }
}
