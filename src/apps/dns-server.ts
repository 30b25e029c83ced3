/**
 * DnsServer: the cluster DNS (kube-dns / CoreDNS) as an app on the IpHost contract. It binds
 * UDP port 53, hands each query's payload to a `DnsResponder` (src/kube/dns-records.ts
 * `ClusterDnsRecords`, which follows services as they come and go) and sends the answer
 * back in the same packet: payload replaced, IPv4 addresses and UDP ports swapped, lengths
 * set, both checksums recomputed (the payload changed, so no incremental update here).
 *
 * The answer is written to a scratch buffer first (the responder parses the request while
 * it writes), then copied over the request. Its size is capped by the packet slot and by
 * the responder's own UDP rules (512 bytes or the client's EDNS size, then TC=1 with the answers that fit).
 *
 * DNS over TCP (RFC 7766) on the same port: every message is a 2-byte length and the
 * message (RFC 1035 4.2.2); a connection may carry several queries, in a row or pipelined,
 * each answered in order, without the UDP size limit. The connection stays open until the
 * client closes it (dig +tcp, glibc after a TC=1 answer).
 *
 * Forwarding (CoreDNS `forward . UPSTREAM`): with an upstream given, a query the responder
 * does not serve (`forwards(query)`: a name outside the zone, a reverse name of no service)
 * is copied out and handed to the upstream; its answer comes back later and is sent to the
 * client from a new packet (UDP: cut to the client's size with TC=1 when it does not fit;
 * TCP: written on the connection). No answer from the upstream in time is SERVFAIL, as
 * CoreDNS's forward plugin answers when every upstream failed. The upstream is an
 * interface: `podwire up` gives a real UDP socket (src/io/dns-upstream.ts); without one
 * the responder's own answer (SERVFAIL) stands.
 *
 * Counters: queries, answers, no-answer (not a query, or too short: freed),
 * icmp (ICMP errors quoting our port: freed), tcp-connections, tcp-queries, truncated (UDP
 * answers sent with TC=1), formerr and notimp (malformed queries and unknown opcodes, as
 * CoreDNS answers them: miekg/dns's server sends FORMERR for what it cannot unpack and
 * NOTIMP for opcodes other than QUERY), forwarded, upstream-answers, upstream-failures
 * (SERVFAIL sent for a forwarded query). Drop reasons: `dns-not-a-query` (a response or a
 * runt: freed without an answer), `dns-tcp-oversize` (a TCP length prefix over 16 KiB: the
 * connection is reset).
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import type { Counted } from '../engine/counters.js';
import { DNS_HEADER_LEN as DNS_HLEN, DNS_PORT, DNS_UDP_MIN, DnsHeader, DnsRcode, parseDnsMessage } from '../wire/dns.js';
import type { TcpConnection } from './tcp-conn.js';
import { TcpListener } from './tcp-listener.js';
import { readU16 } from '../wire/addr.js';
import { IpProtocol, ipv4Dst, ipv4Src, writeIpv4Header } from '../wire/ipv4.js';
import { UDP_HEADER_LEN as UDP_HLEN, writeUdpHeader } from '../wire/udp.js';

/** What answers a DNS query: request bytes in, response written at out[outOff..], length back (0: none). */
export interface DnsResponder {
  answerQuery(req: Uint8Array, out: Uint8Array, outOff?: number, opts?: { tcp?: boolean }): number;
  /** True when a well-formed query asks a name this responder does not serve (forwarded when an upstream is set). */
  forwards?(req: Uint8Array): boolean;
}

/**
 * Where queries for names outside the cluster go (CoreDNS `forward`). `query` gets a copy of
 * the message and calls `done` once, later, with the upstream's answer or null (timeout,
 * error); `done` runs outside the scheduler, so the implementation wakes it afterwards.
 */
export interface DnsUpstream {
  query(msg: Uint8Array, done: (answer: Uint8Array | null) => void): void;
}

export const DNS_SERVER_COUNTERS = ['queries', 'answers', 'no-answer', 'icmp', 'tcp-connections', 'tcp-queries', 'truncated', 'formerr', 'notimp', 'forwarded', 'upstream-answers', 'upstream-failures'] as const;
const C = indexOf(DNS_SERVER_COUNTERS);
export const DNS_SERVER_DROPS = ['dns-not-a-query', 'dns-tcp-oversize'] as const;
const D = indexOf(DNS_SERVER_DROPS);
/** Largest TCP query accepted; a query is one question (and an OPT), far below this. */
const TCP_MAX_QUERY = 16384;
export { DNS_PORT };
const REPLY_TTL = 64;

export class DnsServer implements Counted {
  readonly kind = 'dns-server';
  readonly counters = new Counters(DNS_SERVER_COUNTERS);
  readonly drops = new Counters(DNS_SERVER_DROPS);
  private readonly scratch = Buffer.alloc(4096);
  private readonly tcpOut = Buffer.alloc(2 + 0xffff);
  private readonly hdr = new DnsHeader();
  private readonly handler = (p: Packet, info: L4Info): void => this.serve(p, info);
  private tcp: TcpListener | null = null;
  private closed = false;

  private constructor(
    readonly host: IpHost, readonly responder: DnsResponder, readonly port: number, readonly name: string,
    readonly upstream: DnsUpstream | null,
  ) {}

  /** Binds UDP and TCP `port` (default 53; throws when taken). `name` names it in the stats. */
  static start(host: IpHost, responder: DnsResponder, port = DNS_PORT, name = 'dns', upstream: DnsUpstream | null = null): DnsServer {
    const s = new DnsServer(host, responder, port, name, upstream);
    host.bind(IpProtocol.Udp, port, s.handler);
    try {
      s.tcp = TcpListener.listen(host, port, (c) => s.serveTcp(c));
    } catch (e) {
      host.unbind(IpProtocol.Udp, port);
      throw e;
    }
    return s;
  }

  close(): void {
    this.closed = true;
    this.host.unbind(IpProtocol.Udp, this.port);
    this.tcp?.close();
    this.tcp = null;
  }

  /** Counts what the responder made of a query from its answer's header. */
  private count(out: Uint8Array, n: number): void {
    const v = this.counters.values;
    const h = this.hdr.wrap(out, 0, n);
    if (h.check() !== 0) return;
    if (h.rcode() === DnsRcode.FormErr) v[C.formerr]!++;
    else if (h.rcode() === DnsRcode.NotImp) v[C.notimp]!++;
    if (h.tc()) v[C.truncated]!++;
  }

  /** RFC 7766: length-prefixed messages, answered in order; bytes are buffered across segments. */
  private serveTcp(c: TcpConnection): void {
    const v = this.counters.values;
    v[C['tcp-connections']]!++;
    let pending: Buffer = Buffer.alloc(0);
    c.onData((d) => {
      pending = pending.length === 0 ? Buffer.from(d) : Buffer.concat([pending, d]);
      while (pending.length >= 2) {
        const len = (pending[0]! << 8) | pending[1]!;
        if (len > TCP_MAX_QUERY) {
          this.drops.values[D['dns-tcp-oversize']]!++;
          c.abort();
          return;
        }
        if (pending.length < 2 + len) break;
        const req = pending.subarray(2, 2 + len);
        v[C.queries]!++;
        v[C['tcp-queries']]!++;
        if (this.shouldForward(req)) {
          // Answers go out in the order they come back (RFC 7766 6.2.1.1 allows it; ids match them).
          this.forward(req, (ans) => {
            const framed = Buffer.alloc(2 + ans.length);
            framed.writeUInt16BE(ans.length, 0);
            framed.set(ans, 2);
            v[C.answers]!++;
            c.write(framed);
          });
          pending = pending.subarray(2 + len);
          continue;
        }
        const n = this.responder.answerQuery(req, this.tcpOut, 2, { tcp: true });
        pending = pending.subarray(2 + len);
        if (n <= 0) {
          v[C['no-answer']]!++;
          this.drops.values[D['dns-not-a-query']]!++;
          continue;
        }
        this.tcpOut[0] = n >>> 8; this.tcpOut[1] = n & 0xff;
        this.count(this.tcpOut.subarray(2), n);
        v[C.answers]!++;
        c.write(this.tcpOut.subarray(0, 2 + n));
      }
    });
    c.onEnd(() => c.close());
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
    const query = b.subarray(info.payload, info.payload + info.payloadLen);
    if (this.shouldForward(query)) {
      const src = ipv4Src(b, l3);
      const dst = ipv4Dst(b, l3);
      const sport = readU16(b, l4);
      const max = udpLimit(query);
      this.host.free(p);
      this.forward(query, (ans) => this.sendUdp(dst, src, sport, ans, max));
      return;
    }
    const room = Math.min(this.scratch.length, b.length - (l4 + UDP_HLEN));
    const n = this.responder.answerQuery(query, this.scratch.subarray(0, room), 0);
    if (n <= 0) {
      v[C['no-answer']]!++;
      this.drops.values[D['dns-not-a-query']]!++;
      this.host.free(p);
      return;
    }
    this.count(this.scratch, n);
    // IPv4: 20-byte header (options dropped), addresses swapped.
    const src = ipv4Src(b, l3);
    const dst = ipv4Dst(b, l3);
    const sport = readU16(b, l4);
    const dport = readU16(b, l4 + 2);
    const o = l4 - 20; // IPv4 options are dropped: the new 20-byte header ends where UDP starts
    const udpLen = UDP_HLEN + n;
    writeIpv4Header(b, o, dst, src, IpProtocol.Udp, 20 + udpLen, this.host.random() & 0xffff, REPLY_TTL);
    this.scratch.copy(b, l4 + UDP_HLEN, 0, n);
    writeUdpHeader(b, l4, dport, sport, n, dst, src);
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

  private shouldForward(query: Uint8Array): boolean {
    return this.upstream !== null && this.responder.forwards?.(query) === true;
  }

  /** Hands a copy of `query` to the upstream; `send` gets its answer, or a SERVFAIL made here. */
  private forward(query: Uint8Array, send: (answer: Uint8Array) => void): void {
    const v = this.counters.values;
    v[C.forwarded]!++;
    const msg = Uint8Array.from(query);
    this.upstream!.query(msg, (ans) => {
      if (this.closed) return;
      const ok = ans !== null && ans.length >= DNS_HLEN && ans[0] === msg[0] && ans[1] === msg[1] && (ans[2]! & 0x80) !== 0;
      if (ok) {
        v[C['upstream-answers']]!++;
        send(ans);
        return;
      }
      v[C['upstream-failures']]!++;
      send(servfail(msg));
    });
  }

  /** A forwarded answer to a UDP client, from a new packet; cut to `max` bytes with TC=1 when longer. */
  private sendUdp(from: number, to: number, dport: number, ans: Uint8Array, max: number): void {
    const p = this.host.alloc();
    if (p === null) return;
    const b = p.buf;
    const o = p.start;
    const l4 = o + 20;
    let n = ans.length;
    const fits = Math.min(max, b.length - (l4 + UDP_HLEN));
    if (n > fits) { // header and question only, TC set: the client retries over TCP
      const q = questionEnd(ans);
      n = q > 0 && q <= fits ? q : DNS_HLEN;
    }
    b.set(ans.subarray(0, n), l4 + UDP_HLEN);
    if (n < ans.length) {
      b[l4 + UDP_HLEN + 2]! |= 0x02; // TC
      b.fill(0, l4 + UDP_HLEN + 6, l4 + UDP_HLEN + DNS_HLEN); // no records follow
      if (n === DNS_HLEN) b.fill(0, l4 + UDP_HLEN + 4, l4 + UDP_HLEN + 6); // nor the question
      this.counters.values[C.truncated]!++;
    }
    const udpLen = UDP_HLEN + n;
    writeIpv4Header(b, o, from, to, IpProtocol.Udp, 20 + udpLen, this.host.random() & 0xffff, REPLY_TTL);
    writeUdpHeader(b, l4, this.port, dport, n, from, to);
    p.end = l4 + udpLen;
    this.counters.values[C.answers]!++;
    this.host.output(p);
  }
}

/** The client's UDP size: 512, or its EDNS(0) OPT's (RFC 6891 6.2.5), options (a cookie, padding) or not. */
function udpLimit(query: Uint8Array): number {
  const m = parseDnsMessage(query, 0, query.length);
  return typeof m !== 'number' && m.edns !== undefined ? Math.max(DNS_UDP_MIN, m.edns.udpSize) : DNS_UDP_MIN;
}

/** SERVFAIL for `query`: its header (id, opcode, RD) and question, QR and RA set, no records. */
function servfail(query: Uint8Array): Uint8Array {
  const h = new DnsHeader().wrap(query, 0, query.length);
  const qdEnd = h.check() === 0 ? questionEnd(query) : -1;
  const out = Uint8Array.from(query.subarray(0, qdEnd > 0 ? qdEnd : DNS_HLEN));
  out[2] = 0x80 | (query[2]! & 0x79); // QR, opcode and RD kept, AA/TC cleared
  out[3] = 0x80 | DnsRcode.ServFail; // RA, RCODE
  if (qdEnd <= 0) { out[4] = 0; out[5] = 0; }
  out.fill(0, 6, DNS_HLEN); // no answer, authority or additional
  return out;
}

/** Offset after the first question (uncompressed name, type, class), or -1. */
function questionEnd(m: Uint8Array): number {
  let i = DNS_HLEN;
  while (i < m.length) {
    const len = m[i]!;
    if (len === 0) return i + 5 <= m.length ? i + 5 : -1;
    if (len >= 0x40) return -1;
    i += 1 + len;
  }
  return -1;
}
