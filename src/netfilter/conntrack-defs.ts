/**
 * Constants and types of the conntrack table (conntrack.ts re-exports all of them): tuple
 * directions, status and NAT bits, timeouts (netfilter's and kube-proxy's), filters.
 */

export const CtDir = { Original: 0, Reply: 1 } as const;
export type CtDir = (typeof CtDir)[keyof typeof CtDir];

/** Status bits of an entry (a subset of Linux's IPS_*), plus podwire's Confirmed. */
export const CtStatus = {
  SeenReply: 1,
  Assured: 2,
  /** The NAT hook decided the entry's SNAT at POSTROUTING/INPUT (Linux: confirmed). */
  Confirmed: 4,
  Live: 8,
} as const;

/** NAT bits of an entry: which manipulations apply to its packets. */
export const NatFlag = { Dnat: 1, Snat: 2 } as const;

export const DEFAULT_CONNTRACK_CAPACITY = 262144;

/** Timeouts in seconds. */
export interface ConntrackTimeouts {
  tcpSynSent: number;
  tcpSynRecv: number;
  tcpEstablished: number;
  tcpFinWait: number;
  tcpCloseWait: number;
  tcpLastAck: number;
  tcpTimeWait: number;
  tcpClose: number;
  udp: number;
  udpStream: number;
  icmp: number;
}

/** The kernel's defaults (nf_conntrack_proto_{tcp,udp,icmp}.c). */
export const LINUX_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  tcpSynSent: 120, tcpSynRecv: 60, tcpEstablished: 432000, tcpFinWait: 120, tcpCloseWait: 60,
  tcpLastAck: 30, tcpTimeWait: 120, tcpClose: 10, udp: 30, udpStream: 120, icmp: 30,
});

/** What kube-proxy sets (--conntrack-tcp-timeout-established 24h, -close-wait 1h). */
export const KUBE_PROXY_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  ...LINUX_TIMEOUTS, tcpEstablished: 86400, tcpCloseWait: 3600,
});

/** Selects entries: fields of the original tuple (src, dst, sport, dport) and of the reply tuple. */
export interface ConntrackFilter {
  proto?: number;
  src?: number;
  dst?: number;
  sport?: number;
  dport?: number;
  replySrc?: number;
  replyDst?: number;
  replySport?: number;
  replyDport?: number;
}

export interface ConntrackOptions {
  capacity?: number;
  timeouts?: ConntrackTimeouts;
  /**
   * Whose TCP window tracking (conntrack-window.ts): `6.1` (default) ignores segments under
   * the window; `5.15` (any kernel before 6.1) marks every out-of-window segment INVALID.
   */
  kernel?: '6.1' | '5.15';
  /** net.netfilter.nf_conntrack_tcp_be_liberal: out-of-window segments are accepted. */
  tcpBeLiberal?: boolean;
}
