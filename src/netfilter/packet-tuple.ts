/**
 * PacketTuple: reads the conntrack tuple of an IPv4 packet into reused fields (one
 * instance per NatHooks; nothing allocated per packet).
 *
 * TCP/UDP/SCTP: addresses and ports (TCP also the flags byte and what window tracking
 * reads: seq, ack, window, the segment's end and a SYN's window scale; SCTP as Linux's generic
 * tracking of it needs nothing more here: no association state). ICMP echo request/reply:
 * sport = identifier, dport = type << 8 | code. ICMP errors (dest unreachable, source
 * quench, redirect, time exceeded, parameter problem): the tuple of the quoted datagram,
 * inverted, i.e. the tuple of the connection as seen from the error's own direction.
 * Fragments and other protocols are untracked; L4 headers cut short are invalid.
 */

import { readU16 } from '../wire/addr.js';
import { Decode, decodes } from '../wire/decodes.js';
import { ipv4Dst, ipv4HeaderLength, ipv4IsFragment, ipv4Protocol, ipv4Src, ipv4TotalLength } from '../wire/ipv4.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_PROTOCOL as ICMP, isIcmpError } from '../wire/icmp.js';
import { SCTP_PROTOCOL as SCTP } from '../wire/sctp.js';
import { TCP_PROTOCOL as TCP, TcpFlag, TcpOptionKind, tcpAck, tcpFlagsByte, tcpHeaderLength, tcpSeq, tcpWindow } from '../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../wire/udp.js';

export const TupleKind = { Untracked: 0, Invalid: 1, Normal: 2, IcmpError: 3 } as const;

export class PacketTuple {
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  /** TCP flags (header byte 13), 0 for other protocols. */
  flags = 0;
  /** TCP (conntrack-window.ts reads these): sequence and acknowledgement numbers, raw window. */
  seq = 0;
  ack = 0;
  win = 0;
  /** TCP: seq + payload length + SYN + FIN, mod 2^32 (Linux segment_seq_plus_len). */
  end = 0;
  /** TCP SYN: the window scale option's shift, -1 when absent (and for other segments). */
  wscale = -1;

  /**
   * Reads the tuple of the packet at `l3` (its L4 header at `l4At` with protocol `protocol`
   * when the caller knows them: Packet.l4/proto) into the fields and returns its TupleKind. ICMP
   * errors: the inverted tuple of the quoted datagram (what the connection's tuple looks
   * like from the error's direction), as Linux's icmp_error_message.
   */
  parse(buf: Uint8Array, l3: number, l4At = -1, protocol = -1): number {
    decodes[Decode.L4]!++;
    if (ipv4IsFragment(buf, l3)) return TupleKind.Untracked; // fragments: no reassembly
    // The namespace decoded the header (Packet.l4/proto); a caller without them: from the header.
    const l4 = l4At >= 0 ? l4At : l3 + ipv4HeaderLength(buf, l3);
    const proto = protocol >= 0 ? protocol : ipv4Protocol(buf, l3);
    const l4len = Math.min(ipv4TotalLength(buf, l3), buf.length - l3) - (l4 - l3);
    this.proto = proto;
    this.src = ipv4Src(buf, l3);
    this.dst = ipv4Dst(buf, l3);
    this.flags = 0;
    if (proto === TCP || proto === UDP || proto === SCTP) {
      if (l4len < (proto === TCP ? 20 : proto === UDP ? 8 : 12)) return TupleKind.Invalid;
      this.sport = readU16(buf, l4);
      this.dport = readU16(buf, l4 + 2);
      if (proto === TCP) {
        const doff = tcpHeaderLength(buf, l4);
        if (doff < 20 || doff > l4len) return TupleKind.Invalid; // Linux tcp_error: "truncated packet"
        const flags = tcpFlagsByte(buf, l4);
        this.flags = flags;
        this.seq = tcpSeq(buf, l4);
        this.ack = tcpAck(buf, l4);
        this.win = tcpWindow(buf, l4);
        this.end = (this.seq + l4len - doff + ((flags & TcpFlag.SYN) !== 0 ? 1 : 0) + ((flags & TcpFlag.FIN) !== 0 ? 1 : 0)) >>> 0;
        this.wscale = (flags & TcpFlag.SYN) !== 0 && doff > 20 ? windowScale(buf, l4 + 20, l4 + doff) : -1;
      }
      return TupleKind.Normal;
    }
    if (proto !== ICMP) return TupleKind.Untracked;
    if (l4len < 8) return TupleKind.Invalid;
    const type = buf[l4]!;
    if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) {
      this.sport = readU16(buf, l4 + 4);
      this.dport = (type << 8) | buf[l4 + 1]!;
      return TupleKind.Normal;
    }
    if (!isIcmpError(type)) return TupleKind.Untracked;
    const inner = l4 + 8;
    const qlen = l4len - 8;
    if (qlen < 20 || buf[inner]! >>> 4 !== 4) return TupleKind.Untracked;
    const iihl = (buf[inner]! & 0x0f) << 2;
    if (iihl < 20 || iihl > qlen) return TupleKind.Untracked;
    const ip = ipv4Protocol(buf, inner);
    const il4 = inner + iihl;
    const il4len = qlen - iihl;
    this.proto = ip;
    this.src = ipv4Dst(buf, inner); // the quoted packet went the other way
    this.dst = ipv4Src(buf, inner);
    if ((ip === TCP || ip === UDP || ip === SCTP) && il4len >= 4) {
      this.sport = readU16(buf, il4 + 2);
      this.dport = readU16(buf, il4);
      return TupleKind.IcmpError;
    }
    if (ip === ICMP && il4len >= 8) {
      const it = buf[il4]!;
      if (it !== ICMP_ECHO_REQUEST && it !== ICMP_ECHO_REPLY) return TupleKind.Untracked;
      this.sport = readU16(buf, il4 + 4);
      this.dport = ((it === ICMP_ECHO_REQUEST ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST) << 8) | buf[il4 + 1]!;
      return TupleKind.IcmpError;
    }
    return TupleKind.Untracked;
  }
}

/** The window scale option (kind 3, length 3) among the TCP options in [at, end), -1 if none (Linux tcp_options). */
function windowScale(buf: Uint8Array, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.Eol) return -1;
    if (kind === TcpOptionKind.Nop) { i++; continue; }
    if (i + 1 >= end) return -1;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return -1; // silly or partial option
    if (kind === TcpOptionKind.WindowScale && len === 3) return buf[i + 2]!;
    i += len;
  }
  return -1;
}
