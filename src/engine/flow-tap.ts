/**
 * FlowTap: where flow events leave the dataplane (`podwire observe`, `GET /flows`;
 * implemented by src/control/flows.ts). `Engine.flowTap` is null unless someone observes:
 * then a counted drop and a conntrack decision cost one null check each, nothing more.
 *
 * Events come from two places, as a conntrack-based flow log sees a cluster:
 *   - `tracked`: a node's conntrack (src/netfilter/nat-hooks.ts) classified a packet: a NEW
 *     connection when its entry is confirmed (POSTROUTING/INPUT, as Linux sends conntrack's
 *     [NEW] event: the packet got past the filter; `dst`/`dport` is what the client sent to,
 *     `natDst`/`natDport` the endpoint kube-proxy chose), the first packet of the reply
 *     direction, and every TCP packet with SYN, FIN or RST (the connection's state changes);
 *   - `dropped`: any counted drop (`Engine.drop`, `dropCounted`, full links, loop aborts,
 *     unconnected ports), with its reason, just before the packet is freed (its bytes are
 *     still readable).
 * The implementation may allocate (it runs only when observing) but must not keep `p`.
 */
import type { Packet } from './packet.js';
import type { Where } from './trace.js';

export const FlowState = { New: 0, Reply: 1, Established: 2 } as const;

export interface FlowTap {
  dropped(p: Packet, where: Where, reason: string): void;
  tracked(
    where: Where, state: number, proto: number,
    src: number, sport: number, dst: number, dport: number, natDst: number, natDport: number, tcpFlags: number,
  ): void;
}
