/**
 * ICMP a NetNamespace generates itself (Linux's icmp.c): echo replies built in place from
 * the request, and errors (RFC 792: destination unreachable, time exceeded, fragmentation
 * needed) quoting the offending packet's header and first 8 payload bytes. Both leave
 * through the namespace's `output()` like any local packet.
 *
 * Errors are built as Linux builds them (icmp_send): the quote is as much of the original
 * datagram as fits in a 576-byte error (RFC 1812 4.3.2.3: 548 bytes after the two headers),
 * measured by its Total Length (never Ethernet padding), and the TOS is the original's TOS
 * bits with precedence "internetwork control" (0xc0), TTL 64, DF clear.
 *
 * Trace hops: icmp-error (on the offending packet's journey); the error and the echo reply
 * travel on the reply journey of the packet that caused them.
 */
import type { Packet } from '../engine/packet.js';
import { formatIpv4, readU16, writeU16 } from '../wire/addr.js';
import { Ipv4Packet, IpProtocol, ipv4TotalLength, ipv4TurnAround, writeIpv4Header } from '../wire/ipv4.js';
import { checksum } from '../wire/checksum.js';
import type { NetIf } from './iface.js';
import type { NetNamespace } from './netns.js';
import { NetnsCounter } from './netns-drops.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from '../wire/icmp.js';

/** 576 - 20 (IPv4) - 8 (ICMP): the most of the original an error quotes (RFC 1812 4.3.2.3). */
export const ICMP_ERROR_MAX_QUOTE = 548;
/** IPTOS_PREC_INTERNETCONTROL, and the TOS bits of the original kept beside it (RT_TOS). */
const TOS_INTERNETCONTROL = 0xc0;
const TOS_MASK = 0x1e;

export class IcmpSender {
  private readonly ip = new Ipv4Packet();

  constructor(private readonly ns: NetNamespace) {}

  /** Answers an echo request in place (swap addresses, type 0, checksums fixed). */
  echoReply(p: Packet, l3: number, l4: number): void {
    const b = p.buf;
    ipv4TurnAround(b, l3, 64, ipv4TotalLength(b, l3));
    // Type 8 -> 0: the ICMP checksum word holding the type drops by 0x0800.
    b[l4] = ICMP_ECHO_REPLY;
    const old = readU16(b, l4 + 2);
    let s = old + (ICMP_ECHO_REQUEST << 8);
    s = (s & 0xffff) + (s >>> 16);
    writeU16(b, l4 + 2, s & 0xffff);
    p.trace = this.ns.replyTrace(p.trace);
    p.start = l3;
    this.ns.output(p);
  }

  /**
   * Sends an ICMP error about the packet at `l3` (quoting its header and as much of its
   * payload as fits in 576 bytes, at least the 8 bytes RFC 792 asks for), from the address
   * of the interface it arrived on. Never about an ICMP error, a broadcast, or a fragment
   * other than the first.
   */
  error(orig: Packet, l3: number, type: number, code: number, mtu: number, inIf: NetIf): void {
    const ns = this.ns;
    const ip = this.ip.wrap(orig.buf, l3, orig.end - l3);
    const osrc = ip.srcAddr();
    if (ip.fragOffsetBytes() !== 0 || ip.dstAddr() === 0xffffffff) return;
    if (ip.protocol() === IpProtocol.Icmp) {
      // Linux icmp_send: no error when the offending packet holds no ICMP type byte (skb_header_pointer fails).
      const at = l3 + ip.headerLen();
      if (at >= Math.min(orig.end, l3 + ip.totalLen())) return;
      const t = orig.buf[at];
      if (t !== 0 && t !== 8) return;
    }
    const q = ns.engine.pool.alloc();
    if (q === null) return;
    const quote = Math.min(ip.totalLen(), orig.end - l3, ICMP_ERROR_MAX_QUOTE);
    const b = q.buf;
    const s = q.start;
    const total = 20 + 8 + quote;
    const ident = ns.engine.rng.u32() & 0xffff;
    const tos = TOS_INTERNETCONTROL | (orig.buf[l3 + 1]! & TOS_MASK);
    writeIpv4Header(b, s, inIf.addrFor(osrc) || ns.sourceFor(osrc), osrc, IpProtocol.Icmp, total, ident, 64, false, tos);
    const l4 = s + 20;
    b[l4] = type; b[l4 + 1] = code;
    writeU16(b, l4 + 2, 0);
    writeU16(b, l4 + 4, 0);
    writeU16(b, l4 + 6, type === 3 && code === 4 ? mtu : 0);
    orig.buf.copy(b, l4 + 8, l3, l3 + quote);
    writeU16(b, l4 + 2, checksum(b, l4, 8 + quote));
    q.end = s + total;
    q.trace = ns.replyTrace(orig.trace);
    ns.counters.values[NetnsCounter['icmp-errors-sent']]!++;
    if (orig.trace !== 0) {
      ns.engine.trace.hop(orig.trace, inIf.where, 'icmp-error', { type, code, mtu: mtu || undefined, to: formatIpv4(osrc) });
    }
    ns.output(q);
  }
}
