/**
 * The trace recorder. A packet whose `trace` field is non-zero gets one hop record per
 * element it passes; the check costs one branch when it is zero. Hops carry where the
 * packet was (node, network namespace, device), what was decided (`action`, from the
 * closed list below plus element-specific ones documented in docs/trace.md) and details.
 *
 * Clones (bridge floods) and packets an app builds in answer to a traced packet carry
 * the trace id on, so a request and its reply can be followed as two journeys.
 */

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

  /** Starts a new trace and returns its id (never 0). */
  begin(): number {
    const id = this.nextId++;
    this.journeys.set(id, []);
    return id;
  }

  hop(id: number, where: Where, action: Hop['action'], detail: Record<string, unknown> = {}): void {
    const hops = this.journeys.get(id);
    if (hops === undefined || hops.length >= this.maxHops) return;
    hops.push({ node: where.node, netns: where.netns, device: where.device, action, detail });
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
