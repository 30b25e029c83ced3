/**
 * SctpServer: the first step of an SCTP association on a port, as a connectivity probe
 * needs it (RFC 9260 5.1): an INIT is answered with an INIT ACK carrying a fresh Initiate
 * Tag and a State Cookie, so "SCTP on port 80" answers as agnhost's server does in the
 * upstream NetworkPolicy e2e model. No association is kept: a COOKIE ECHO, DATA or any
 * other chunk is counted and freed (a real server would go on to ESTABLISHED; nothing in
 * podwire needs that yet), and the verification tag of an INIT must be 0 (RFC 9260 8.5.1 A:
 * otherwise the packet is silently discarded).
 *
 * The INIT is reused in place: addresses swapped, TTL 64, the INIT ACK written over the
 * SCTP packet (44 bytes), IPv4 length and header checksum recomputed, CRC32c filled in.
 *
 * Counters: rx, init (INIT ACKs sent), other (chunks that are not an INIT, or a bad INIT),
 * icmp (ICMP errors quoting our port).
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { readU32 } from '../wire/addr.js';
import { checksum } from '../wire/checksum.js';
import { IpProtocol, ipv4TurnAround } from '../wire/ipv4.js';
import { emitSctpInit, sctpInitiateTag, SctpChunk } from '../wire/sctp.js';

export const SCTP_SERVER_COUNTERS = ['rx', 'init', 'other', 'icmp'] as const;
const C = indexOf(SCTP_SERVER_COUNTERS);
const REPLY_TTL = 64;
/** INIT: common header + chunk header + 16 bytes of fixed value. */
const INIT_LEN = 32;

export class SctpServer {
  readonly counters = new Counters(SCTP_SERVER_COUNTERS);
  private readonly handler = (p: Packet, info: L4Info): void => this.receive(p, info);

  private constructor(readonly host: IpHost, readonly port: number) {}

  /** Binds SCTP `port` (throws when taken). */
  static listen(host: IpHost, port: number): SctpServer {
    const s = new SctpServer(host, port);
    host.bind(IpProtocol.Sctp, port, s.handler);
    return s;
  }

  close(): void {
    this.host.unbind(IpProtocol.Sctp, this.port);
  }

  private receive(p: Packet, info: L4Info): void {
    const v = this.counters.values;
    if (info.protocol !== IpProtocol.Sctp) {
      v[C.icmp]!++;
      this.host.free(p);
      return;
    }
    v[C.rx]!++;
    const b = p.buf;
    const l3 = info.l3;
    const l4 = info.l4;
    if (info.payloadLen + 12 < INIT_LEN || b[l4 + 12] !== SctpChunk.Init || readU32(b, l4 + 4) !== 0 || l4 + 44 > b.length) {
      v[C.other]!++;
      this.host.free(p);
      return;
    }
    const peerTag = sctpInitiateTag(b, l4);
    const n = emitSctpInit({
      srcPort: info.dport, dstPort: info.sport, vtag: peerTag, initiateTag: (this.host.random() | 1) >>> 0,
      initialTsn: this.host.random(), cookieLen: 8,
    }, true, b, l4);
    const total = l4 - l3 + n;
    ipv4TurnAround(b, l3, REPLY_TTL, total);
    p.start = l3;
    p.end = l3 + total;
    p.inIf = 0;
    p.mark = 0;
    p.ct = -1;
    p.ctDir = 0;
    p.l3 = -1;
    p.trace = this.host.replyTrace(p.trace);
    v[C.init]!++;
    this.host.output(p);
  }
}
