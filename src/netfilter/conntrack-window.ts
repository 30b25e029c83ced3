/**
 * TCP window tracking of conntrack: Linux's `tcp_in_window` and `tcp_new`
 * (net/netfilter/nf_conntrack_proto_tcp.c), re-derived, on eight words of an entry's row.
 *
 * Per direction ("sender" is the direction of the packet, "receiver" the other one), as
 * Linux's `struct ip_ct_tcp_state`:
 *
 *   td_end     the highest seq + len seen sent
 *   td_maxend  the highest ack + window seen from the receiver (what the sender may send up to)
 *   td_maxwin  the largest window the sender advertised (plus the receiver's overshoot)
 *   td_scale   the window scale of the sender's SYN option (0 unless both SYNs carried one)
 *
 * and Linux's four checks of a segment with sequence `seq`, end `end = seq + len (+SYN, +FIN)`
 * and acknowledgement `ack`:
 *
 *   I.   seq <= sender.td_maxend                                  (SEQ over the upper bound)
 *   II.  end >= sender.td_end - receiver.td_maxwin                (SEQ under the lower bound)
 *   III. ack <= receiver.td_end                                   (ACK over the upper bound)
 *   IV.  ack >= receiver.td_end - MAXACKWINDOW(sender)            (ACK under the lower bound)
 *
 * What a failed check means depends on the kernel, which is why `kernel` is an option:
 * - Linux 6.1 and later: I and III make the packet INVALID (no NAT, no state change);
 *   II and IV, and I when the overshoot fits the receiver's window, IGNORE it: accepted
 *   with its connection (so it is NATed) but the entry neither moves nor is refreshed.
 * - before 6.1 (`'5.15'`, the kernels of kubernetes#74839 and most reports): every failed
 *   check makes the packet INVALID. An already-acknowledged segment sent again (II) is
 *   then delivered without its reverse NAT, and the client answers it with a RST.
 * - `nf_conntrack_tcp_be_liberal=1` (kube-proxy `--conntrack-tcp-be-liberal`): a failed
 *   check is accepted, on every kernel.
 *
 * Not modelled: SACK blocks (`sack` is taken as `ack`: III is then never stricter, IV never
 * looser than Linux's), NAT sequence offsets (no helper here rewrites payloads), the
 * retransmission counter and the UNACK/RETRANS timeouts it drives.
 */

import { TcpFlag } from '../wire/tcp.js';
import { TcpState } from './conntrack-tcp.js';

/** The words of one entry's window state: [end, maxend, maxwin] per direction, then scales and flags. */
export const WINDOW_WORDS = 8;
const END = 0, MAXEND = 1, MAXWIN = 2;
/** Byte offsets within word 6 (little-endian bytes of the row's Uint8 view): scale and flags per direction. */
const B_SCALE = 24, B_FLAGS = 26;
/** Per-direction flags (Linux IP_CT_TCP_FLAG_*). */
const F_WINDOW_SCALE = 1;
/** Linux MAXACKWINCONST. */
const MAX_ACK_WIN_CONST = 66000;
/** Linux TCP_MAX_WSCALE. */
const TCP_MAX_WSCALE = 14;

export const WindowVerdict = { Accept: 0, Ignore: 1, Invalid: 2 } as const;

/** Why a segment failed, in Linux's log words (nf_ct_l4proto_log_invalid), by WindowFailure. */
export const WINDOW_FAILURES = [
  '',
  'SEQ is over the upper bound (over the window of the receiver)',
  'SEQ is under the lower bound (already ACKed data retransmitted)',
  'ACK is over the upper bound (ACKed data not seen yet)',
  'ACK is under the lower bound (possible overly delayed ACK)',
  'bytes more than expected (overshoot within the receiver window)',
] as const;
const SEQ_OVER = 1, SEQ_UNDER = 2, ACK_OVER = 3, ACK_UNDER = 4, OVERSHOT = 5;

/** The TCP fields window tracking reads from a segment (PacketTuple fills them). */
export interface TcpSegmentInfo {
  flags: number;
  seq: number;
  ack: number;
  /** The raw window field. */
  win: number;
  /** seq + payload length + SYN + FIN (mod 2^32). */
  end: number;
  /** The window scale option of a SYN, -1 when absent (or not a SYN). */
  wscale: number;
}

export type TcpWindowKernel = '6.1' | '5.15';

export interface TcpWindowOptions {
  kernel: TcpWindowKernel;
  beLiberal: boolean;
}

/** a after b, modulo 2^32 (Linux `after`). */
function after(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}
/** a before b, modulo 2^32 (Linux `before`). */
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * One table's window tracker over its rows (`row`/`rowB` views of one buffer, entries of
 * `rowWords` words whose window state starts at word `base`). `lastFailure` is the
 * WindowFailure of the last segment that failed a check (0 after one that passed).
 */
export class TcpWindow {
  lastFailure = 0;

  constructor(private readonly opts: TcpWindowOptions) {}

  /** Linux tcp_new for a SYN: the original direction's state from the SYN (as tcp_init_sender), the reply's cleared. */
  init(row: Uint32Array, rowB: Uint8Array, w: number, s: TcpSegmentInfo): void {
    row[w + 3 + END] = 0;
    row[w + 3 + MAXEND] = 0;
    row[w + 3 + MAXWIN] = 0;
    rowB[w * 4 + B_SCALE + 1] = 0;
    rowB[w * 4 + B_FLAGS + 1] = 0;
    this.initSender(row, rowB, w * 4, w, 0, s.end >>> 0, s.win, s.wscale);
  }

  /**
   * Linux tcp_in_window for a segment in direction `dir` of a connection in TCP state
   * `state` (before this packet), window state at word `w`: Accept (state updated),
   * Ignore or Invalid (state unchanged), after the kernel and be_liberal options.
   */
  check(row: Uint32Array, rowB: Uint8Array, w: number, dir: number, state: number, s: TcpSegmentInfo): number {
    const sw = w + dir * 3;
    const rw = w + (1 - dir) * 3;
    const b = w * 4;
    const flags = s.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const hasAck = (flags & TcpFlag.ACK) !== 0;
    let seq = s.seq >>> 0;
    let end = s.end >>> 0;
    let ack = s.ack >>> 0;
    const win0 = s.win;
    if (row[sw + MAXWIN] === 0) {
      if (syn) {
        this.initSender(row, rowB, b, sw, dir, end, win0, s.wscale);
        if (!hasAck) return this.ok(); // simultaneous open
      } else {
        // picked up mid-stream (podwire never creates such entries; kept for completeness)
        row[sw + END] = end;
        const swin = (win0 << rowB[b + B_SCALE + dir]!) >>> 0;
        row[sw + MAXWIN] = swin === 0 ? 1 : swin;
        row[sw + MAXEND] = (end + row[sw + MAXWIN]!) >>> 0;
        if (row[rw + MAXWIN] === 0) { row[rw + END] = ack; row[rw + MAXEND] = ack; }
        else if (ack === ((row[rw + END]! + 1) >>> 0)) row[rw + END] = (row[rw + END]! + 1) >>> 0;
      }
    } else if (syn && after(end, row[sw + END]!) && (state === TcpState.SynSent || state === TcpState.SynRecv)) {
      // a SYN (SYN-ACK) again with a new sequence number in SYN_SENT/SYN_RECV: re-init (RFC 793)
      this.initSender(row, rowB, b, sw, dir, end, win0, s.wscale);
      if (dir === 1 && !hasAck) return this.ok(); // a SYN from the reply side (simultaneous open)
    }
    if (!hasAck || ((flags & TcpFlag.RST) !== 0 && ack === 0)) ack = row[rw + END]!;
    if ((flags & TcpFlag.RST) !== 0 && seq === 0 && state === TcpState.SynSent) { seq = row[sw + END]!; end = seq; }

    const sEnd = row[sw + END]!;
    const sMaxend = row[sw + MAXEND]!;
    const sMaxwin = row[sw + MAXWIN]!;
    const rEnd = row[rw + END]!;
    const rMaxwin = row[rw + MAXWIN]!;
    const maxAckWin = sMaxwin > MAX_ACK_WIN_CONST ? sMaxwin : MAX_ACK_WIN_CONST;
    const seqOk = before(seq, (sMaxend + 1) >>> 0);
    const inRecvWin = rMaxwin === 0 || after(end, (sEnd - rMaxwin - 1) >>> 0);
    const ackHighOk = before(ack, (rEnd + 1) >>> 0);
    const ackLowOk = after(ack, (rEnd - maxAckWin - 1) >>> 0);
    if (!seqOk) {
      const overshot = (end - sMaxend + 1) >>> 0;
      if (this.opts.kernel === '6.1' && rMaxwin !== 0 && inRecvWin && ackLowOk && overshot <= rMaxwin && ackHighOk) {
        row[sw + END] = end; // Linux updates td_end so the peer's ACK of this data stays valid
        return this.fail(OVERSHOT, WindowVerdict.Ignore);
      }
      return this.fail(SEQ_OVER, WindowVerdict.Invalid);
    }
    if (!ackHighOk) return this.fail(ACK_OVER, WindowVerdict.Invalid);
    if (!inRecvWin) return this.fail(SEQ_UNDER, WindowVerdict.Ignore);
    if (!ackLowOk) return this.fail(ACK_UNDER, WindowVerdict.Ignore);

    const win = syn ? win0 : (win0 << rowB[b + B_SCALE + dir]!) >>> 0;
    if (sMaxwin < win) row[sw + MAXWIN] = win;
    if (after(end, sEnd)) row[sw + END] = end;
    if (rMaxwin !== 0 && after(end, sMaxend)) row[rw + MAXWIN] = (rMaxwin + (end - sMaxend)) >>> 0;
    if (after((ack + win) >>> 0, (row[rw + MAXEND]! - 1) >>> 0)) {
      row[rw + MAXEND] = (ack + win + (win === 0 ? 1 : 0)) >>> 0;
    }
    return this.ok();
  }

  /** Linux tcp_init_sender: a SYN-ACK answering the SYN (or a SYN of a simultaneous open). */
  private initSender(row: Uint32Array, rowB: Uint8Array, b: number, sw: number, dir: number, end: number, win: number, wscale: number): void {
    row[sw + END] = end;
    row[sw + MAXEND] = end;
    row[sw + MAXWIN] = win === 0 ? 1 : win;
    rowB[b + B_SCALE + dir] = wscale >= 0 ? Math.min(wscale, TCP_MAX_WSCALE) : 0;
    rowB[b + B_FLAGS + dir] = wscale >= 0 ? F_WINDOW_SCALE : 0;
    // RFC 7323: both SYNs must carry the option for either direction to scale
    if (dir === 1 && ((rowB[b + B_FLAGS]! & rowB[b + B_FLAGS + 1]! & F_WINDOW_SCALE) === 0)) {
      rowB[b + B_SCALE] = 0;
      rowB[b + B_SCALE + 1] = 0;
    }
  }

  private ok(): number {
    this.lastFailure = 0;
    return WindowVerdict.Accept;
  }

  /** A failed check: what the kernel makes of it (module header). */
  private fail(why: number, onNewKernel: number): number {
    this.lastFailure = why;
    if (this.opts.beLiberal) return WindowVerdict.Accept;
    if (this.opts.kernel === '5.15') return WindowVerdict.Invalid;
    return onNewKernel;
  }
}
