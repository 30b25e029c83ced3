/**
 * UdpEcho: answers every datagram on a UDP port with the same datagram, back to its
 * sender (RFC 862 over UDP).
 *
 * The request packet is reused in place: IPv4 source and destination swapped, TTL set to
 * 64, UDP ports swapped, the packet cut to the UDP length (no Ethernet header, no padding,
 * nothing of the IP payload past the datagram; the IPv4 total length and header checksum
 * follow, `ipv4TurnAround`) and handed to host.output(). Swapping two 16-bit-aligned fields does
 * not change a one's complement sum, so the UDP checksum (pseudo-header included) stays valid as
 * it is. The
 * reply carries the trace of the reply journey (`host.replyTrace(p.trace)`). Packet
 * metadata from the request's path (conntrack entry, mark, input interface) is cleared:
 * the reply is a new, locally generated packet.
 *
 * Counters: rx, tx, bytes (payload bytes echoed), icmp (ICMP errors quoting our port, freed).
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { readU16, writeU16 } from '../wire/addr.js';

import { IpProtocol, ipv4TurnAround } from '../wire/ipv4.js';

export const UDP_ECHO_COUNTERS = ['rx', 'tx', 'bytes', 'icmp'] as const;
const C = indexOf(UDP_ECHO_COUNTERS);
const REPLY_TTL = 64;

export class UdpEcho {
  readonly counters = new Counters(UDP_ECHO_COUNTERS);
  private readonly handler = (p: Packet, info: L4Info): void => this.echo(p, info);

  private constructor(readonly host: IpHost, readonly port: number) {}

  /** Binds `port` (throws when taken). */
  static start(host: IpHost, port: number): UdpEcho {
    const e = new UdpEcho(host, port);
    host.bind(IpProtocol.Udp, port, e.handler);
    return e;
  }

  close(): void {
    this.host.unbind(IpProtocol.Udp, this.port);
  }

  private echo(p: Packet, info: L4Info): void {
    const v = this.counters.values;
    if (info.protocol !== IpProtocol.Udp) {
      v[C.icmp]!++;
      this.host.free(p);
      return;
    }
    v[C.rx]!++;
    const b = p.buf;
    const l3 = info.l3;
    const l4 = info.l4;
    v[C.bytes]! += info.payloadLen;
    const sport = readU16(b, l4);
    writeU16(b, l4, readU16(b, l4 + 2));
    writeU16(b, l4 + 2, sport);
    // Only the UDP length's bytes go back (Linux trims the datagram to it): IPv4 total length with them.
    const total = l4 - l3 + 8 + info.payloadLen;
    ipv4TurnAround(b, l3, REPLY_TTL, total);
    p.start = l3;
    p.end = l3 + total;
    p.inIf = 0;
    p.mark = 0;
    p.ct = -1;
    p.ctDir = 0;
    p.l3 = -1;
    p.trace = this.host.replyTrace(p.trace);
    v[C.tx]!++;
    this.host.output(p);
  }
}
