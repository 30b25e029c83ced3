/**
 * Local delivery of a namespace: the socket table (protocol + port -> handler) and what
 * the kernel does when nothing listens. ICMP echo requests are answered; other ICMP goes
 * to handlers bound on protocol 1 by echo identifier (echo replies) or, for errors, to the
 * handler of the embedded original's protocol and source port. UDP and TCP checksums are
 * verified (UDP over its UDP length, which must fit the IP payload: `ipv4-bad-length`); an
 * ICMP error whose quote lacks the quoted header plus 8 bytes is dropped (`icmp-bad-quote`,
 * Linux's ICMP_MIB_INERRORS); a datagram to a closed UDP port gets ICMP port unreachable,
 * a TCP segment to a closed port gets a RST (RFC 9293 3.10.7.1). SCTP (132) goes to sockets
 * by destination port after its CRC32c is verified (`bad-checksum`); a packet to a closed
 * port gets an ABORT, as Linux's sctp_ootb_pkt_new builds it (RFC 9260 8.4): for an INIT
 * the INIT's Initiate Tag without the T bit, otherwise the packet's own tag with it; none
 * for an ABORT. Fragments are not reassembled: dropped as `fragment`.
 */
import type { Packet } from '../engine/packet.js';
import { formatIpv4, readU16, readU32, writeU16 } from '../wire/addr.js';
import { checksum, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { Decode, decodes } from '../wire/decodes.js';
import { IPV4_MIN_HEADER_LEN, IpProtocol, ipv4Dst, ipv4IsFragment, ipv4Protocol, ipv4Src, ipv4Ttl, writeIpv4Header } from '../wire/ipv4.js';
import { TCP_HEADER_LEN, TcpFlag, tcpAck, tcpDstPort, tcpFlagsByte, tcpHeaderLength, tcpSeq, tcpSrcPort, writeTcpHeader } from '../wire/tcp.js';
import { emitSctpAbort, sctpChecksumOk, SctpChunk } from '../wire/sctp.js';
import type { NetIf } from './iface.js';
import type { L4Handler, L4Info } from './ip-host.js';
import type { NetNamespace } from './netns.js';
import { NetnsCounter, NetnsDrop } from './netns-drops.js';

const EPHEMERAL_LOW = 32768;
const EPHEMERAL_HIGH = 60999;

export class L4Delivery {
  readonly info: L4Info = {
    src: 0, dst: 0, protocol: 0, sport: 0, dport: 0, ttl: 0, l3: 0, l4: 0, payload: 0, payloadLen: 0, ifindex: 0,
  };
  private readonly udp = new Map<number, L4Handler>();
  private readonly tcp = new Map<number, L4Handler>();
  private readonly icmp = new Map<number, L4Handler>();
  private readonly sctp = new Map<number, L4Handler>();
  /**
   * The last UDP and TCP sockets a datagram was delivered to (port, handler): a flow's
   * packets skip the Map lookup. Cleared by bind/unbind.
   */
  private udpPort = -1;
  private udpHandler: L4Handler | null = null;
  private tcpPort = -1;
  private tcpHandler: L4Handler | null = null;

  constructor(private readonly ns: NetNamespace) {}

  private table(protocol: number): Map<number, L4Handler> {
    if (protocol === IpProtocol.Udp) return this.udp;
    if (protocol === IpProtocol.Tcp) return this.tcp;
    if (protocol === IpProtocol.Icmp) return this.icmp;
    if (protocol === IpProtocol.Sctp) return this.sctp;
    throw new Error(`${this.ns.name}: cannot bind protocol ${protocol} (udp 17, tcp 6, icmp 1, sctp 132)`);
  }

  bind(protocol: number, port: number, handler: L4Handler): number {
    const t = this.table(protocol);
    let p = port;
    if (p === 0) {
      const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
      const first = EPHEMERAL_LOW + (this.ns.random() % span);
      for (let i = 0; i < span; i++) {
        const c = EPHEMERAL_LOW + ((first - EPHEMERAL_LOW + i) % span);
        if (!t.has(c)) { p = c; break; }
      }
      if (p === 0) throw new Error(`${this.ns.name}: no free ephemeral port`);
    }
    if (p < 1 || p > 65535) throw new Error(`${this.ns.name}: port ${p} out of range 1-65535`);
    if (t.has(p)) throw new Error(`${this.ns.name}: ${protoName(protocol)} port ${p} is in use`);
    t.set(p, handler);
    this.forgetLast();
    return p;
  }

  unbind(protocol: number, port: number): void {
    this.table(protocol).delete(port);
    this.forgetLast();
  }

  private forgetLast(): void {
    this.udpPort = -1;
    this.udpHandler = null;
    this.tcpPort = -1;
    this.tcpHandler = null;
  }

  /** The socket bound to `port` (UDP or TCP), through the one-entry cache. */
  private socket(udp: boolean, port: number): L4Handler | undefined {
    if (udp) {
      if (port === this.udpPort) return this.udpHandler!;
      const h = this.udp.get(port);
      if (h !== undefined) {
        this.udpPort = port;
        this.udpHandler = h;
      }
      return h;
    }
    if (port === this.tcpPort) return this.tcpHandler!;
    const h = this.tcp.get(port);
    if (h !== undefined) {
      this.tcpPort = port;
      this.tcpHandler = h;
    }
    return h;
  }

  bound(protocol: number): number[] {
    return [...this.table(protocol).keys()];
  }

  deliver(p: Packet, l3: number, nif: NetIf): void {
    const ns = this.ns;
    const b = p.buf;
    if (ipv4IsFragment(b, l3)) return ns.dropAt(p, NetnsDrop.fragment, nif.where);
    const proto = p.proto; // receiveIpv4 decoded the header: Packet.l4/proto
    decodes[Decode.L4]!++; // the socket lookup reads the L4 header (udp_rcv, tcp_v4_rcv, icmp_rcv)
    const l4 = p.l4;
    const l4len = p.end - l4;
    const info = this.info;
    info.src = ipv4Src(b, l3);
    info.dst = ipv4Dst(b, l3);
    info.protocol = proto;
    info.ttl = ipv4Ttl(b, l3);
    info.l3 = l3;
    info.l4 = l4;
    info.ifindex = nif.ifindex;
    if (proto === IpProtocol.Icmp) {
      if (l4len < 8) return ns.dropAt(p, NetnsDrop['ipv4-truncated'], nif.where);
      if (!p.csumOk && checksum(b, l4, l4len) !== 0) return ns.dropAt(p, NetnsDrop['bad-checksum'], nif.where);
      const type = b[l4]!;
      info.sport = 0;
      info.dport = 0;
      info.payload = l4 + 8;
      info.payloadLen = l4len - 8;
      if (type === 8 && ns.icmpEcho) {
        this.hopDeliver(p, nif, 'icmp', 'echo-reply (kernel)');
        ns.echoReply(p, l3, l4);
        return;
      }
      // Echo replies by identifier; errors to the socket of the quoted packet.
      let key = readU16(b, l4 + 4);
      let table = this.icmp;
      if (type === 3 || type === 11) {
        const inner = l4 + 8;
        const ihl = l4len >= 8 + 20 ? (b[inner]! & 0x0f) << 2 : 0;
        // Linux icmp_unreach / icmp_socket_deliver: the quoted header (IHL >= 5) and 8 bytes behind it, or ICMP_MIB_INERRORS.
        if (ihl < 20 || l4len < 8 + ihl + 8) return ns.dropAt(p, NetnsDrop['icmp-bad-quote'], nif.where);
        const iproto = ipv4Protocol(b, inner);
        if (iproto === IpProtocol.Udp || iproto === IpProtocol.Tcp || iproto === IpProtocol.Sctp) {
          table = iproto === IpProtocol.Udp ? this.udp : iproto === IpProtocol.Tcp ? this.tcp : this.sctp;
          key = readU16(b, inner + ihl);
        } else if (iproto === IpProtocol.Icmp) {
          key = readU16(b, inner + ihl + 4);
        }
      }
      const h = table.get(key);
      if (h === undefined) return ns.dropAt(p, NetnsDrop['no-socket'], nif.where);
      this.hopDeliver(p, nif, 'icmp', `type ${type}`);
      h(p, info);
      return;
    }
    if (proto === IpProtocol.Sctp) return this.deliverSctp(p, l3, l4, l4len, nif);
    if (proto !== IpProtocol.Udp && proto !== IpProtocol.Tcp) {
      ns.icmpError(p, l3, 3, 2, 0, nif);
      return ns.dropAt(p, NetnsDrop['no-socket'], nif.where);
    }
    const minLen = proto === IpProtocol.Udp ? 8 : 20;
    if (l4len < minLen) return ns.dropAt(p, NetnsDrop['ipv4-truncated'], nif.where);
    // UDP: Linux __udp4_lib_rcv checks the UDP length against the IP payload, trims to it, and sums that many bytes.
    const segLen = proto === IpProtocol.Udp ? readU16(b, l4 + 4) : l4len;
    if (segLen < minLen || segLen > l4len) return ns.dropAt(p, NetnsDrop['ipv4-bad-length'], nif.where);
    const ck = readU16(b, l4 + (proto === IpProtocol.Udp ? 6 : 16));
    if (!p.csumOk && (proto === IpProtocol.Tcp || ck !== 0)) {
      // Below 2^32 for any IPv4 datagram (at most 32768 words + the pseudo-header): fold with bit operations.
      let s = sum16(b, l4, segLen, pseudoHeaderSum(info.src, info.dst, proto, segLen));
      s = (s & 0xffff) + (s >>> 16);
      s = (s & 0xffff) + (s >>> 16);
      if (s !== 0xffff) return ns.dropAt(p, NetnsDrop['bad-checksum'], nif.where);
    }
    info.sport = readU16(b, l4);
    info.dport = readU16(b, l4 + 2);
    if (proto === IpProtocol.Udp) {
      info.payload = l4 + 8;
      info.payloadLen = segLen - 8;
    } else {
      const doff = tcpHeaderLength(b, l4);
      if (doff < 20 || doff > l4len) return ns.dropAt(p, NetnsDrop['ipv4-bad-header-length'], nif.where);
      info.payload = l4 + doff;
      info.payloadLen = l4len - doff;
    }
    const h = this.socket(proto === IpProtocol.Udp, info.dport);
    if (h === undefined) {
      if (proto === IpProtocol.Udp) ns.icmpError(p, l3, 3, 3, 0, nif);
      else this.sendRst(p, l3, l4, nif);
      return ns.dropAt(p, NetnsDrop['no-socket'], nif.where);
    }
    this.hopDeliver(p, nif, protoName(proto), info.dport);
    h(p, info);
  }

  private deliverSctp(p: Packet, l3: number, l4: number, l4len: number, nif: NetIf): void {
    const ns = this.ns;
    const b = p.buf;
    const info = this.info;
    if (l4len < 12) return ns.dropAt(p, NetnsDrop['ipv4-truncated'], nif.where);
    if (!p.csumOk && !sctpChecksumOk(b, l4, l4len)) return ns.dropAt(p, NetnsDrop['bad-checksum'], nif.where);
    info.sport = readU16(b, l4);
    info.dport = readU16(b, l4 + 2);
    info.payload = l4 + 12;
    info.payloadLen = l4len - 12;
    const h = this.sctp.get(info.dport);
    if (h === undefined) {
      this.sendAbort(p, l3, l4, l4len, nif);
      return ns.dropAt(p, NetnsDrop['no-socket'], nif.where);
    }
    this.hopDeliver(p, nif, 'sctp', info.dport);
    h(p, info);
  }

  /** ABORT for an SCTP packet to a closed port (Linux sctp_ootb_pkt_new; never for an ABORT). */
  private sendAbort(p: Packet, l3: number, l4: number, l4len: number, nif: NetIf): void {
    const b = p.buf;
    const chunk = l4len >= 16 ? b[l4 + 12]! : -1;
    if (chunk === SctpChunk.Abort || chunk < 0) return;
    const q = this.ns.alloc();
    if (q === null) return;
    const init = chunk === SctpChunk.Init && l4len >= 20;
    const o = q.buf;
    const s = q.start;
    writeIpv4Header(o, s, ipv4Dst(b, l3), ipv4Src(b, l3), IpProtocol.Sctp, 36, 0);
    emitSctpAbort(readU16(b, l4 + 2), readU16(b, l4), init ? readU32(b, l4 + 16) : readU32(b, l4 + 4), !init, o, s + 20);
    q.end = s + 36;
    q.trace = this.ns.replyTrace(p.trace);
    if (p.trace !== 0) this.ns.engine.trace.hop(p.trace, nif.where, 'sctp-abort', { port: readU16(b, l4 + 2), reason: 'no listener' });
    this.ns.output(q);
  }

  private hopDeliver(p: Packet, nif: NetIf, proto: string, port: number | string): void {
    this.ns.counters.values[NetnsCounter.delivered]!++;
    if (p.trace !== 0) {
      this.ns.engine.trace.hop(p.trace, nif.where, 'deliver', {
        src: formatIpv4(this.info.src), dst: formatIpv4(this.info.dst), protocol: proto, port,
      });
    }
  }

  /** RST for a segment to a closed port (never in answer to a RST). */
  private sendRst(p: Packet, l3: number, l4: number, nif: NetIf): void {
    const b = p.buf;
    const flags = tcpFlagsByte(b, l4);
    if ((flags & TcpFlag.RST) !== 0) return;
    const q = this.ns.alloc();
    if (q === null) return;
    const seq = tcpSeq(b, l4);
    const ack = tcpAck(b, l4);
    let segLen = p.end - l4 - tcpHeaderLength(b, l4);
    if ((flags & TcpFlag.SYN) !== 0) segLen++;
    if ((flags & TcpFlag.FIN) !== 0) segLen++;
    const o = q.buf;
    const s = q.start;
    writeIpv4Header(o, s, ipv4Dst(b, l3), ipv4Src(b, l3), IpProtocol.Tcp, 40, 0);
    const t = s + IPV4_MIN_HEADER_LEN;
    // Linux tcp_v4_send_reset: seq = the segment's ack (and no ACK) when it had one, else seq 0 and ACK seq + len.
    const hasAck = (flags & TcpFlag.ACK) !== 0;
    writeTcpHeader(o, t, tcpDstPort(b, l4), tcpSrcPort(b, l4), hasAck ? ack : 0, hasAck ? 0 : (seq + segLen) >>> 0,
      hasAck ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK, 0, 0);
    writeU16(o, t + 16, checksum(o, t, TCP_HEADER_LEN, pseudoHeaderSum(ipv4Src(o, s), ipv4Dst(o, s), IpProtocol.Tcp, TCP_HEADER_LEN)));
    q.end = s + 40;
    q.trace = this.ns.replyTrace(p.trace);
    if (p.trace !== 0) this.ns.engine.trace.hop(p.trace, nif.where, 'tcp-rst', { port: readU16(b, l4 + 2), reason: 'no listener' });
    this.ns.output(q);
  }
}

function protoName(p: number): string {
  return p === IpProtocol.Udp ? 'udp' : p === IpProtocol.Tcp ? 'tcp' : p === IpProtocol.Icmp ? 'icmp' : p === IpProtocol.Sctp ? 'sctp' : `proto-${p}`;
}
