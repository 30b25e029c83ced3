/**
 * Traffic for benchmarks: UdpGenerator sends bursts of identical UDP datagrams, UdpSink
 * counts and frees what arrives on a port.
 *
 * UdpGenerator builds one template (IPv4 + UDP header + zero payload, checksums filled)
 * at construction; `burst(n)` allocates n packets, copies the template into each with
 * TypedArray#set and hands them to host.output(): no object, closure or promise per packet.
 * `frameSize` is the Ethernet frame the datagram becomes on the wire, FCS included: the
 * default 64 bytes = 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload + 4 FCS. Pool exhaustion
 * ends the burst; the packets not sent are counted as `pool-exhausted`.
 *
 * `flows` > 1 makes the datagrams a mix of that many flows: source ports sport ..
 * sport + flows - 1, one per datagram in round-robin order (every flow once per `flows`
 * datagrams, so a per-flow table such as conntrack sees the whole set), each datagram's
 * source port and UDP checksum rewritten in place after the copy (RFC 1624, from the
 * template's checksum).
 *
 * Counters: generator sent, pool-exhausted; sink packets, bytes (UDP payload), icmp.
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { Packet } from '../engine/packet.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import { parseIpv4 } from '../wire/addr.js';
import { readU16, writeU16 } from '../wire/addr.js';
import { udpFinal, update16 } from '../wire/checksum.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';

/** Ethernet header (14) + FCS (4): the frame bytes around the IPv4 packet. */
const ETHERNET_OVERHEAD = 18;
const HEADERS = 20 + 8;
/** Offsets in the template: UDP source port, UDP checksum. */
const SPORT_AT = 20;
const UDP_CHECK_AT = 26;

export interface UdpGeneratorOptions {
  dst: number | string;
  dport: number;
  /** Default 9 (discard). */
  sport?: number;
  /** Ethernet frame size including FCS, 64..1518. Default 64. */
  frameSize?: number;
  /** Source address; default host.sourceFor(dst) (0 lets the host fill it in per packet). */
  src?: number;
  /** Number of flows (source ports sport .. sport + flows - 1, round-robin), 1..65536 - sport. Default 1. */
  flows?: number;
}

export const UDP_GENERATOR_COUNTERS = ['sent', 'pool-exhausted'] as const;
const G = indexOf(UDP_GENERATOR_COUNTERS);

export class UdpGenerator {
  readonly counters = new Counters(UDP_GENERATOR_COUNTERS);
  /** The IPv4 packet every burst copies. */
  readonly template: Buffer;
  readonly payloadLen: number;
  /** Number of flows, and the flow the next datagram belongs to. */
  readonly flows: number;
  private nextFlow = 0;
  private readonly sport: number;
  private readonly check: number;

  constructor(readonly host: IpHost, opts: UdpGeneratorOptions) {
    const frame = opts.frameSize ?? 64;
    if (!Number.isInteger(frame) || frame < 64 || frame > 1518) throw new Error(`UdpGenerator: frameSize ${frame} out of range 64..1518`);
    const dst = typeof opts.dst === 'string' ? parseIpv4(opts.dst) : opts.dst >>> 0;
    const src = opts.src ?? host.sourceFor(dst);
    const sport = opts.sport ?? 9;
    const flows = opts.flows ?? 1;
    if (!Number.isInteger(flows) || flows < 1 || sport + flows > 0x10000) {
      throw new Error(`UdpGenerator: flows ${flows} out of range 1..${0x10000 - sport} (source ports from ${sport})`);
    }
    this.flows = flows;
    this.sport = sport;
    this.payloadLen = frame - ETHERNET_OVERHEAD - HEADERS;
    const t = Buffer.alloc(HEADERS + this.payloadLen);
    emitIpv4({
      src, dst, protocol: IpProtocol.Udp, ttl: 64, payloadLen: 8 + this.payloadLen, ident: 0, dscp: 0, ecn: 0,
      dontFrag: false, moreFrags: false, fragOffset: 0,
    }, t, 0);
    emitUdp({ srcPort: sport, dstPort: opts.dport, payloadLen: this.payloadLen }, t, 20);
    fillUdpChecksum(t, 20, src, dst);
    this.template = t;
    this.check = readU16(t, UDP_CHECK_AT);
  }

  get sent(): number { return this.counters.values[G.sent]!; }
  get poolExhausted(): number { return this.counters.values[G['pool-exhausted']]!; }

  /** Sends up to `n` datagrams; returns how many went out. */
  burst(n: number): number {
    // One flow: the loop the forwarding benchmarks time, kept as small as it was (the many-flow
    // loop lives in its own method so it does not change what V8 inlines here).
    if (this.flows !== 1) return this.burstFlows(n);
    const host = this.host;
    const t = this.template;
    const len = t.length;
    let i = 0;
    for (; i < n; i++) {
      const p = host.alloc();
      if (p === null) break;
      p.buf.set(t, p.start); // TypedArray#set: Buffer#copy allocates a view per call
      p.end = p.start + len;
      host.output(p);
    }
    return this.count(n, i);
  }

  private burstFlows(n: number): number {
    const host = this.host;
    const t = this.template;
    const len = t.length;
    const flows = this.flows;
    const sport = this.sport;
    const check = this.check;
    let f = this.nextFlow;
    let i = 0;
    for (; i < n; i++) {
      const p = host.alloc();
      if (p === null) break;
      const b = p.buf;
      const s = p.start;
      b.set(t, s);
      writeU16(b, s + SPORT_AT, sport + f);
      writeU16(b, s + UDP_CHECK_AT, udpFinal(update16(check, sport, sport + f)));
      p.end = s + len;
      host.output(p);
      if (++f === flows) f = 0;
    }
    this.nextFlow = f;
    return this.count(n, i);
  }

  private count(n: number, sent: number): number {
    const v = this.counters.values;
    v[G.sent]! += sent;
    v[G['pool-exhausted']]! += n - sent;
    return sent;
  }
}

export const UDP_SINK_COUNTERS = ['packets', 'bytes', 'icmp'] as const;
const S = indexOf(UDP_SINK_COUNTERS);

export class UdpSink {
  readonly counters = new Counters(UDP_SINK_COUNTERS);
  private readonly handler = (p: Packet, info: L4Info): void => {
    const v = this.counters.values;
    if (info.protocol === IpProtocol.Udp) {
      v[S.packets]!++;
      v[S.bytes]! += info.payloadLen;
    } else v[S.icmp]!++;
    this.host.free(p);
  };

  private constructor(readonly host: IpHost, readonly port: number) {}

  /** Binds UDP `port` (throws when taken). */
  static start(host: IpHost, port: number): UdpSink {
    const s = new UdpSink(host, port);
    host.bind(IpProtocol.Udp, port, s.handler);
    return s;
  }

  get packets(): number { return this.counters.values[S.packets]!; }
  get bytes(): number { return this.counters.values[S.bytes]!; }

  close(): void {
    this.host.unbind(IpProtocol.Udp, this.port);
  }
}
