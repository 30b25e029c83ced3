/**
 * TCP segment helpers shared by the endpoint (tcp-conn.ts) and the listener
 * (tcp-listener.ts): building an IPv4 + TCP segment in a pooled packet at `p.start`,
 * reading the MSS option, sequence-number comparisons (RFC 9293 3.4, modulo 2^32) and
 * the RST that answers a segment no connection wants (RFC 9293 3.10.7.1).
 *
 * Everything takes numbers and writes in place: no object per segment.
 */
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';
import type { IpHost } from '../net/ip-host.js';
import { readU16, readU32 } from '../wire/addr.js';
import { checksum } from '../wire/checksum.js';
import { ipv4Dst, ipv4Src, writeIpv4Header } from '../wire/ipv4.js';
import {
  TCP_PROTOCOL, TcpFlag, TcpOptionKind, fillTcpChecksum, tcpAck, tcpDstPort, tcpFlagsByte, tcpSeq, tcpSrcPort, writeTcpHeader,
} from '../wire/tcp.js';

/** The receive window every endpoint advertises (no window scaling). */
export const TCP_WINDOW = 65535;
/** Our MSS on a 1500-byte MTU (1500 - 20 IPv4 - 20 TCP). */
export const DEFAULT_MSS = 1460;
/** The MSS assumed when the peer's SYN carries no MSS option (RFC 9293 3.7.1). */
export const DEFAULT_PEER_MSS = 536;
/** IPv4 (20) + TCP (20) header bytes of every segment we build (options only on SYNs). */
export const TCP_IP_HEADERS = 40;
const TTL = 64;

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** (a + n) mod 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * Writes the IPv4 header (DF set, TTL 64) and the TCP header of a segment carrying
 * `payloadLen` bytes at p.start, with an MSS option when `mss` > 0, advertising `window`. Returns the offset
 * the payload goes to; then call `sealSegment`. The IPv4 header checksum is written here, the
 * TCP checksum is left for `sealSegment`.
 */
export function writeSegment(
  p: Packet, src: number, dst: number, sport: number, dport: number,
  seq: number, ack: number, flags: number, mss: number, ident: number, payloadLen: number, window = TCP_WINDOW,
): number {
  const b = p.buf;
  const s = p.start;
  const t = s + 20;
  const tcpHl = writeTcpHeader(b, t, sport, dport, seq, ack, flags, window, mss);
  const total = 20 + tcpHl + payloadLen;
  writeIpv4Header(b, s, src, dst, TCP_PROTOCOL, total, ident, TTL);
  p.end = s + total;
  return t + tcpHl;
}

/** Fills the TCP checksum of the segment at p.start (writeSegment wrote the IPv4 header's). */
export function sealSegment(p: Packet): void {
  const b = p.buf;
  const s = p.start;
  fillTcpChecksum(b, s + 20, p.end - s - 20, readU32(b, s + 12), readU32(b, s + 16));
}

/** The MSS option of the segment at `l4` (header length from the data offset), or 0 when absent. */
export function readMss(buf: Uint8Array, l4: number): number {
  const end = l4 + ((buf[l4 + 12]! >>> 4) << 2);
  let i = l4 + 20;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.Eol) return 0;
    if (kind === TcpOptionKind.Nop) { i++; continue; }
    if (i + 1 >= end) return 0;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return 0;
    if (kind === TcpOptionKind.Mss && len === 4) return readU16(buf, i + 2);
    i += len;
  }
  return 0;
}

/**
 * Answers the segment at `l3`/`l4` (`payloadLen` data bytes) with a RST, as RFC 9293
 * 3.10.7.1 says for a segment no connection accepts: never in answer to a RST; with the
 * ACK's number as sequence when the segment had ACK, else RST|ACK acknowledging it.
 * Returns true when a RST went out.
 */
export function replyRst(host: IpHost, p: Packet, l3: number, l4: number, payloadLen: number, ident: number): boolean {
  const b = p.buf;
  const flags = tcpFlagsByte(b, l4);
  if ((flags & TcpFlag.RST) !== 0) return false;
  const q = host.alloc();
  if (q === null) return false;
  const src = ipv4Src(b, l3);
  const dst = ipv4Dst(b, l3);
  let segLen = payloadLen;
  if ((flags & TcpFlag.SYN) !== 0) segLen++;
  if ((flags & TcpFlag.FIN) !== 0) segLen++;
  const hasAck = (flags & TcpFlag.ACK) !== 0;
  const seq = hasAck ? tcpAck(b, l4) : 0;
  const ack = hasAck ? 0 : seqAdd(tcpSeq(b, l4), segLen);
  // A RST advertises no window (Linux tcp_v4_send_reset: rep.th.window is 0).
  writeSegment(q, dst, src, tcpDstPort(b, l4), tcpSrcPort(b, l4), seq, ack, hasAck ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK, 0, ident, 0, 0);
  sealSegment(q);
  q.trace = host.replyTrace(p.trace);
  host.output(q);
  return true;
}

/**
 * Bytes written by the app and not acknowledged yet: copied chunks. The head is SND.UNA's
 * first data byte; segments copy from an offset (new data after the bytes in flight, a
 * retransmission from 0) and ACKed bytes are dropped from the head.
 */
export class SendQueue {
  private readonly chunks: Buffer[] = [];
  private off = 0;
  bytes = 0;

  push(data: Uint8Array | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    if (buf.length === 0) return;
    this.chunks.push(buf);
    this.bytes += buf.length;
  }

  /** Copies the `n` queued bytes starting `from` bytes after the head to dst[at, at+n). */
  copy(dst: Buffer, at: number, from: number, n: number): void {
    let skip = from + this.off;
    let i = 0;
    while (skip >= this.chunks[i]!.length) { skip -= this.chunks[i]!.length; i++; }
    let left = n;
    let pos = at;
    while (left > 0) {
      const c = this.chunks[i]!;
      const k = Math.min(left, c.length - skip);
      c.copy(dst, pos, skip, skip + k);
      pos += k;
      left -= k;
      skip = 0;
      i++;
    }
  }

  /** Forgets the first `n` bytes (acknowledged). */
  drop(n: number): void {
    let left = Math.min(n, this.bytes);
    this.bytes -= left;
    while (left > 0) {
      const head = this.chunks[0]!;
      const k = Math.min(left, head.length - this.off);
      left -= k;
      this.off += k;
      if (this.off === head.length) { this.chunks.shift(); this.off = 0; }
    }
  }

  clear(): void {
    this.chunks.length = 0;
    this.off = 0;
    this.bytes = 0;
  }
}

/**
 * One host timer for a deadline that mostly moves later (every segment restarts a wait):
 * moving it later only stores the new time, and the timer re-arms itself when it fires
 * early. `onExpire` runs once the deadline has passed.
 */
export class Deadline {
  private timer: Timer | null = null;
  private at = 0;
  private readonly fire = (): void => {
    this.timer = null;
    const now = this.host.now();
    if (now < this.at) this.timer = this.host.after(this.at - now, this.fire);
    else this.onExpire();
  };

  constructor(private readonly host: IpHost, private readonly onExpire: () => void) {}

  set(at: number): void {
    this.at = at;
    if (this.timer !== null && this.timer.at <= at) return;
    if (this.timer !== null) this.host.cancel(this.timer);
    this.timer = this.host.after(at - this.host.now(), this.fire);
  }

  clear(): void {
    if (this.timer !== null) this.host.cancel(this.timer);
    this.timer = null;
  }
}
