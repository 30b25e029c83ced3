/**
 * The trace recorder. A packet whose `trace` field is non-zero gets one hop record per
 * element it passes; the check costs one branch when it is zero. Hops carry where the
 * packet was (node, network namespace, device), what was decided (`action`, from the
 * closed list below plus element-specific ones documented in docs/trace.md) and details.
 *
 * Clones (bridge floods) and packets an app builds in answer to a traced packet carry
 * the trace id on, so a request and its reply can be followed as two journeys.
 *
 * Time (docs/trace.md, "Time and captures"): while `timed` is on (the trace runner sets it
 * for the run), every hop is stamped with the clock's epoch time (`time`, ms), and in
 * virtual time the clock first moves on by the hop's modelled latency (`HOP_LATENCY_US`),
 * so hops get distinct, increasing timestamps and a capture taken meanwhile stamps each
 * frame with the time of the hop that put it on the wire. `seen` names the capture frames
 * a hop's packet appeared in (filled by whoever captures, src/control/trace-captures.ts).
 */
import type { Clock, VirtualClock } from './clock.js';

export type HopAction =
  | 'send' | 'veth' | 'bridge-forward' | 'bridge-flood' | 'bridge-local' | 'arp-request' | 'arp-reply'
  | 'route' | 'forward' | 'dnat' | 'un-dnat' | 'snat' | 'un-snat' | 'conntrack'
  | 'vxlan-encap' | 'vxlan-decap' | 'underlay' | 'deliver' | 'drop' | 'icmp-error' | 'tap';

export interface Hop {
  node: string;
  netns: string;
  device: string;
  action: HopAction | (string & {});
  detail: Record<string, unknown>;
  /** Epoch milliseconds (microsecond precision) when the hop happened; set while the recorder is `timed`. */
  time?: number;
  /** The captured frames this hop put on the wire (the frames captured after it and before the journey's next hop). */
  captures?: HopCapture[];
}

/** A frame of a capture file: `frame` is its number in `file` (1-based, as Wireshark and tshark count). */
export interface HopCapture {
  interface: string;
  file: string;
  frame: number;
}

/**
 * The modelled latency of each step, in microseconds: the time from the previous hop until
 * this one happens. Orders of magnitude of a Linux host's stack on a server CPU, not
 * measurements: a routing or netfilter decision ~1 us, a veth crossing or a bridge ~2 us
 * (a softirq hand-over), VXLAN encapsulation ~3 us, the underlay (NIC, wire and switch
 * between two nodes) 20 us, a socket wake-up 5 us, an ARP round trip on a bridge 30 us.
 * Anything not listed costs 1 us, so no two hops share a timestamp.
 */
export const HOP_LATENCY_US: Readonly<Record<string, number>> = {
  send: 1, route: 1, forward: 1, conntrack: 1, dnat: 1, 'un-dnat': 1, snat: 1, 'un-snat': 1,
  veth: 2, 'bridge-forward': 2, 'bridge-flood': 2, 'bridge-local': 2,
  'vxlan-encap': 3, 'vxlan-decap': 3, underlay: 20, deliver: 5, 'arp-request': 1, 'arp-reply': 30,
};

export function hopLatencyUs(action: string): number {
  return HOP_LATENCY_US[action] ?? 1;
}

/** Where an element sits, preallocated per element/interface so the hot path passes a reference. */
export interface Where {
  readonly node: string;
  readonly netns: string;
  readonly device: string;
}

export class TraceRecorder {
  private nextId = 1;
  private readonly journeys = new Map<number, Hop[]>();
  /** Hop records kept per trace at most; a loop cannot eat memory. */
  maxHops = 512;
  /** Stamp hops with the time and, in virtual time, pace them by HOP_LATENCY_US (the trace runner turns it on). */
  timed = false;

  /** `clock`: the engine's clock (read per hop while `timed`). */
  constructor(private readonly clock: (() => Clock) | null = null) {}

  /** Starts a new trace and returns its id (never 0). */
  begin(): number {
    const id = this.nextId++;
    this.journeys.set(id, []);
    return id;
  }

  hop(id: number, where: Where, action: Hop['action'], detail: Record<string, unknown> = {}): void {
    const hops = this.journeys.get(id);
    if (hops === undefined || hops.length >= this.maxHops) return;
    const h: Hop = { node: where.node, netns: where.netns, device: where.device, action, detail };
    if (this.timed && this.clock !== null) {
      const c = this.clock();
      if (c.kind === 'virtual') (c as VirtualClock).advance(hopLatencyUs(action) / 1000);
      h.time = Math.round(c.epochMs() * 1000) / 1000;
    }
    hops.push(h);
  }

  /** A capture wrote a frame of trace `id`: it belongs to the journey's latest hop. */
  seen(id: number, capture: HopCapture): void {
    const hops = this.journeys.get(id);
    const last = hops?.[hops.length - 1];
    if (last !== undefined) (last.captures ??= []).push(capture);
  }

  hops(id: number): readonly Hop[] {
    return this.journeys.get(id) ?? [];
  }

  private readonly replies = new Map<number, number>();

  /**
   * The trace id of the reply journey to trace `id`, created on first use (an echo reply,
   * a SYN-ACK): the trace tool shows request and reply as two journeys.
   */
  replyOf(id: number): number {
    if (id === 0 || !this.journeys.has(id)) return 0;
    let r = this.replies.get(id);
    if (r === undefined) {
      r = this.begin();
      this.replies.set(id, r);
    }
    return r;
  }

  /** The reply journey of `id` if one was started. */
  replyIdOf(id: number): number {
    return this.replies.get(id) ?? 0;
  }

  /** Forgets a trace and returns its hops. */
  end(id: number): Hop[] {
    const hops = this.journeys.get(id) ?? [];
    this.journeys.delete(id);
    this.replies.delete(id);
    return hops;
  }
}
