/**
 * The contract between the conntrack/NAT data path (NatHooks) and the policy that decides
 * NAT for new connections (src/kube/service-proxy.ts: kube-proxy's rules).
 *
 * ICMP echo: `sport` is the identifier and `dport` is type << 8 | code (conntrack's tuple
 * encoding, see conntrack.ts); a DNAT decision's `port` is then the identifier to use
 * (the packet's `sport` to keep it).
 */

export interface DnatDecision {
  ip: number;
  /** New destination port (ICMP echo: the identifier; pass the packet's sport to keep it). */
  port: number;
  /** 0 or a mark, e.g. MARK_MASQ when SNAT is needed later; stored on the entry and OR-ed into Packet.mark. */
  mark: number;
  /** A uint32 the policy uses to find its state later (e.g. an endpoint id). */
  tag: number;
  /** For the trace ({service, vip, endpoint, mode, scheduler, rule}); only filled when traced. */
  detail: Record<string, unknown>;
  /**
   * The verdict on a NEW connection the policy refuses (dnat() returns false): -1 none, else
   * the policy's own refusal reason (ServiceProxy: a PROXY_DROPS index). NatHooks then creates
   * no conntrack entry and returns NAT_REFUSED; the hooks that wrap it (ProxyHooks) answer.
   */
  refuse: number;
}

export interface NatPolicy {
  /** A NEW connection seen at PREROUTING (inIf > 0) or OUTPUT (inIf = 0). Return true and fill `out` to DNAT it; set `out.refuse` to refuse it. */
  dnat(proto: number, src: number, dst: number, sport: number, dport: number, inIf: number, traced: boolean, out: DnatDecision): boolean;
  /** A NEW connection at POSTROUTING after any DNAT: the SNAT source address, 0 = none. */
  snat(proto: number, origSrc: number, origDst: number, natDst: number, natDport: number, outIf: number, mark: number): number;
  /** An entry the policy DNATed was deleted or expired (release lc/wlc counters, affinity). */
  released?(tag: number): void;
}

/** kube-proxy's KUBE-MARK-MASQ bit. */
export const MARK_MASQ = 0x4000;
