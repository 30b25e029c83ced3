/**
 * The TCP state machine of conntrack, after Linux `net/netfilter/nf_conntrack_proto_tcp.c`
 * (the `tcp_conntracks[2][6][10]` table of Linux 5.x/6.x), without window tracking.
 *
 * A packet is classified by its flags into one of six sets, in this order of precedence
 * (`get_conntrack_index`): RST, SYN+ACK, SYN, FIN, ACK, none. The next state is
 * `TABLE[dir][set][state]`; two pseudo-states say what to do instead of moving:
 *
 *   IV (invalid)  the packet does not fit the connection: conntrack marks it INVALID and
 *                 leaves the entry unchanged (`update()` returns false);
 *   IG (ignore)   the packet is accepted but changes nothing and does not refresh the
 *                 timeout (e.g. a retransmitted SYN/ACK once established).
 *
 * Differences from Linux, on purpose:
 * - No sequence-window checks (`tcp_in_window`), so no RETRANS/UNACK timeouts (5 min).
 * - A connection is only created by a SYN (SYN without ACK/RST/FIN): Linux's default
 *   `nf_conntrack_tcp_loose=1` would pick up a mid-stream ACK as ESTABLISHED; behind a
 *   service VIP such a pickup would pick a fresh endpoint, which answers RST anyway.
 *   `tcpNewOk()` says whether a first packet may create an entry.
 * - A SYN in the original direction in TIME_WAIT/CLOSE reopens the connection in place
 *   (state SYN_SENT, flags cleared); Linux kills the entry and makes a new one, which is
 *   what NatHooks does (so the service proxy chooses again).
 */

import { TcpFlag } from '../wire/tcp.js';

/** Conntrack TCP states, numbered as Linux's `enum tcp_conntrack` (SYN_SENT2 is 9). */
export const TcpState = {
  None: 0, SynSent: 1, SynRecv: 2, Established: 3, FinWait: 4, CloseWait: 5, LastAck: 6, TimeWait: 7, Close: 8,
  SynSent2: 9,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/** Names as `conntrack -L` prints them. */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
];

/** Pseudo-state: invalid transition. */
export const TCP_IV = 10;
/** Pseudo-state: ignore the packet (no change, no refresh). */
export const TCP_IG = 11;

/** Flag sets, in the order of the table's rows. */
export const TcpFlagSet = { Syn: 0, SynAck: 1, Fin: 2, Ack: 3, Rst: 4, None: 5 } as const;

const sNO = 0, sSS = 1, sSR = 2, sES = 3, sFW = 4, sCW = 5, sLA = 6, sTW = 7, sCL = 8, sS2 = 9;
const sIV = TCP_IV, sIG = TCP_IG;

/**
 * TABLE[dir * 60 + set * 10 + state]. Columns: sNO sSS sSR sES sFW sCW sLA sTW sCL sS2.
 * sNO in the original direction is only consulted for a new connection.
 */
const TABLE = Uint8Array.from([
  // ORIGINAL
  /* syn    */ sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2,
  /* synack */ sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
  // REPLY
  /* syn    */ sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2,
  /* synack */ sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
]);

/** The row of a packet's flags (TCP header byte 13): RST, then SYN(+ACK), FIN, ACK, none. */
export function tcpFlagSet(flags: number): number {
  if ((flags & TcpFlag.RST) !== 0) return TcpFlagSet.Rst;
  if ((flags & TcpFlag.SYN) !== 0) return (flags & TcpFlag.ACK) !== 0 ? TcpFlagSet.SynAck : TcpFlagSet.Syn;
  if ((flags & TcpFlag.FIN) !== 0) return TcpFlagSet.Fin;
  if ((flags & TcpFlag.ACK) !== 0) return TcpFlagSet.Ack;
  return TcpFlagSet.None;
}

/** Next state (0..9), TCP_IV or TCP_IG for a packet with `flags` in direction `dir` (0/1). */
export function tcpNextState(state: number, dir: number, flags: number): number {
  return TABLE[dir * 60 + tcpFlagSet(flags) * 10 + state]!;
}

/** True when the first packet of a connection may create an entry: a plain SYN (see the header). */
export function tcpNewOk(flags: number): boolean {
  return (flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST | TcpFlag.FIN)) === TcpFlag.SYN;
}
