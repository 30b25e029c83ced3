/**
 * Netfilter-style hook points a namespace offers (prerouting, input, output, postrouting),
 * as an interface: src/netfilter implements it and src/kube plugs it in, so src/net never
 * imports src/netfilter (ARCHITECTURE.md).
 *
 * Every hook sees the packet with its IPv4 header at `l3` and may rewrite it in place
 * (NAT). It returns a Verdict: Accept (carry on), Drop (the namespace drops the packet
 * and counts `netfilter-drop`), or Stolen (the hook took the packet: it forwarded it or
 * dropped it itself under a reason of its own, e.g. `conntrack-table-full`).
 */
import type { Packet } from '../engine/packet.js';

export const Verdict = { Accept: 0, Drop: 1, Stolen: 2 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export interface PacketHooks {
  prerouting(p: Packet, l3: number, inIf: number): number;
  input(p: Packet, l3: number, inIf: number): number;
  output(p: Packet, l3: number): number;
  postrouting(p: Packet, l3: number, outIf: number): number;
}

/**
 * br_netfilter: IPv4 frames a bridge switches between two of its ports (never up to the
 * host) go through the host's netfilter hooks when `bridge-nf-call-iptables` is 1, as
 * kube-proxy requires. That is how the reply of a pod DNATed to a pod on the same node is
 * un-DNATed although it never leaves the bridge. `bridged` returns a Verdict; on Drop the
 * bridge drops the frame as `netfilter-drop`; Stolen means the hook took it.
 */
export interface BridgeNetfilter {
  bridged(p: Packet, l3: number): number;
  /**
   * True when `bridged` would accept the frame's IPv4 packet at `l3` unchanged (a lookup with
   * no side effects; `bridged` itself may still find it INVALID). A bridge switching a frame
   * outside the engine asks first: anything else goes to the engine untouched.
   */
  passesUnchanged(p: Packet, l3: number): boolean;
  /**
   * After `bridged` accepted `p`: true when the packet's conntrack entry (`p.ct`) is live,
   * confirmed, has seen its reply and NATs neither direction, and the hooks do not depend on
   * the order of packets (one CPU, no confirmation races). Only such a flow may get a
   * flowtable entry (src/net/flowtable.ts). Absent: never.
   */
  established?(p: Packet): boolean;
}
