/**
 * The contract between a network namespace's IP stack and what runs on top of it (pod
 * apps, the VXLAN socket, the DNS server): sockets by protocol and port, raw IPv4 output,
 * timers, time and randomness. Apps see only this, never the namespace's interfaces.
 *
 * Delivery hands the packet over: the handler owns `p` and must free it (`host.free(p)`)
 * or reuse it (rewrite in place and `output(p)`). `L4Info` is one object per namespace,
 * rewritten for every delivery: read it during the call, never keep it.
 */
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';

export interface L4Info {
  /** IPv4 source and destination (uint32). */
  src: number;
  dst: number;
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP, 132 SCTP). */
  protocol: number;
  /** L4 ports (0 for ICMP). */
  sport: number;
  dport: number;
  ttl: number;
  /** Offsets into p.buf: IPv4 header, L4 header, L4 payload; payload length in bytes. */
  l3: number;
  l4: number;
  payload: number;
  payloadLen: number;
  /** Interface index the packet arrived on. */
  ifindex: number;
}

export type L4Handler = (p: Packet, info: L4Info) => void;

export interface IpHost {
  /** e.g. `pod1`; for hops and logs. */
  readonly name: string;
  /** The node this namespace lives on. */
  readonly node: string;
  now(): number;
  /** Uniform random uint32 from the engine's seeded RNG. */
  random(): number;
  after(ms: number, fn: () => void): Timer;
  cancel(t: Timer): void;
  /** A fresh packet whose `start` leaves room in front for the Ethernet header, or null when the pool is exhausted. */
  alloc(): Packet | null;
  free(p: Packet): void;
  /**
   * Sends an IPv4 packet that starts at p.start (no Ethernet header): OUTPUT hook, route
   * lookup, neighbour resolution, Ethernet framing, transmit. Source address 0 is filled
   * in with the egress interface's address (and the IPv4 and L4 checksums fixed).
   */
  output(p: Packet): void;
  /** The source address this host would use towards `dst` (0 when there is no route). */
  sourceFor(dst: number): number;
  /** The MTU of the interface the route to `dst` leaves by (TCP derives its MSS from it); 1500 when unknown. */
  mtuFor(dst: number): number;
  /** Binds a protocol/port (UDP 17, TCP 6, SCTP 132); throws when taken. Port 0 picks a free ephemeral port. Returns the port. */
  bind(protocol: number, port: number, handler: L4Handler): number;
  unbind(protocol: number, port: number): void;
  /** Trace id of the reply journey to the traced packet `requestTrace` (0 when not traced). */
  replyTrace(requestTrace: number): number;
  /** Records a hop in trace `trace` at this namespace (no-op when trace is 0). */
  hop(trace: number, action: string, detail: Record<string, unknown>): void;
}
