/**
 * DnsServer: the cluster DNS (kube-dns / CoreDNS) as an app on the IpHost contract. It binds
 * UDP port 53, hands each query's payload to a `DnsResponder` (src/kube/dns-records.ts
 * `ClusterDnsRecords`, which follows services as they come and go) and sends the answer
 * back in the same packet: payload replaced, IPv4 addresses and UDP ports swapped, lengths
 * set, both checksums recomputed (the payload changed, so no incremental update here).
 *
 * The answer is written to a scratch buffer first (the responder parses the request while
 * it writes), then copied over the request. Its size is capped by the packet slot and by
 * the responder's own UDP rules (512 bytes or the client's EDNS size, then TC=1).
 *
 * Counters: queries, answers, no-answer (not a query, or too short: freed),
 * icmp (ICMP errors quoting our port: freed). TCP (port 53/TCP) is not served.
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { readU16, readU32, writeU16, writeU32 } from '../wire/addr.js';
import { checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { IpProtocol } from '../wire/ipv4.js';

/** What answers a DNS query: request bytes in, response written at out[outOff..], length back (0: none). */
export interface DnsResponder {
  answerQuery(req: Uint8Array, out: Uint8Array, outOff?: number): number;
}

export const DNS_SERVER_COUNTERS = ['queries', 'answers', 'no-answer', 'icmp'] as const;
const C = indexOf(DNS_SERVER_COUNTERS);
export const DNS_PORT = 53;
const REPLY_TTL = 64;
const UDP_HLEN = 8;

export class DnsServer {
  readonly counters = new Counters(DNS_SERVER_COUNTERS);
  private readonly scratch = Buffer.alloc(4096);
  private readonly handler = (p: Packet, info: L4Info): void => this.serve(p, info);

  private constructor(readonly host: IpHost, readonly responder: DnsResponder, readonly port: number) {}

  /** Binds UDP `port` (default 53; throws when taken). */
  static start(host: IpHost, responder: DnsResponder, port = DNS_PORT): DnsServer {
    const s = new DnsServer(host, responder, port);
    host.bind(IpProtocol.Udp, port, s.handler);
    return s;
  }

  close(): void {
    this.host.unbind(IpProtocol.Udp, this.port);
  }

  private serve(p: Packet, info: L4Info): void {
    const v = this.counters.values;
    if (info.protocol !== IpProtocol.Udp) {
      v[C.icmp]!++;
      this.host.free(p);
      return;
    }
    v[C.queries]!++;
    const b = p.buf;
    const l3 = info.l3;
    const l4 = info.l4;
    const room = Math.min(this.scratch.length, b.length - (l4 + UDP_HLEN));
    const n = this.responder.answerQuery(b.subarray(info.payload, info.payload + info.payloadLen), this.scratch.subarray(0, room), 0);
    if (n <= 0) {
      v[C['no-answer']]!++;
      this.host.free(p);
      return;
    }
    // IPv4: 20-byte header (options dropped), addresses swapped.
    const src = readU32(b, l3 + 12);
    const dst = readU32(b, l3 + 16);
    const sport = readU16(b, l4);
    const dport = readU16(b, l4 + 2);
    const o = l4 - 20; // IPv4 options are dropped: the new 20-byte header ends where UDP starts
    const udpLen = UDP_HLEN + n;
    b[o] = 0x45; b[o + 1] = 0;
    writeU16(b, o + 2, 20 + udpLen);
    writeU16(b, o + 4, this.host.random() & 0xffff);
    writeU16(b, o + 6, 0x4000);
    b[o + 8] = REPLY_TTL; b[o + 9] = IpProtocol.Udp;
    writeU16(b, o + 10, 0);
    writeU32(b, o + 12, dst);
    writeU32(b, o + 16, src);
    writeU16(b, o + 10, checksum(b, o, 20));
    writeU16(b, l4, dport);
    writeU16(b, l4 + 2, sport);
    writeU16(b, l4 + 4, udpLen);
    writeU16(b, l4 + 6, 0);
    this.scratch.copy(b, l4 + UDP_HLEN, 0, n);
    const c = checksum(b, l4, udpLen, pseudoHeaderSum(dst, src, IpProtocol.Udp, udpLen));
    writeU16(b, l4 + 6, c === 0 ? 0xffff : c);
    p.start = o;
    p.end = l4 + udpLen;
    p.inIf = 0;
    p.mark = 0;
    p.ct = -1;
    p.ctDir = 0;
    p.l3 = -1;
    p.trace = this.host.replyTrace(p.trace);
    v[C.answers]!++;
    this.host.output(p);
  }
}
