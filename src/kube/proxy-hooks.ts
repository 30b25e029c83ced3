/**
 * ProxyHooks: a node's netfilter hook points as kube-proxy leaves them: conntrack + NAT
 * (src/netfilter NatHooks, with the node's ServiceProxy as its policy) plus the filter rule
 * kube-proxy adds for service ports without endpoints (KUBE-SERVICES / KUBE-EXTERNAL-SERVICES
 * `-j REJECT`).
 *
 * At PREROUTING/OUTPUT the packet goes through NatHooks first; when the proxy refused the
 * NEW connection, the verdict comes back as NAT_REFUSED with the reason in the decision
 * (`nat.decision.refuse`) and no conntrack entry was made (an unconfirmed entry dies with its
 * packet in Linux); a forwarded packet is answered with ICMP
 * port unreachable when kube-proxy REJECTs (REJECT's default; not for its DROPs: no local
 * endpoints, an unallocated cluster IP), and the packet is dropped under the proxy's reason,
 * with a `dnat` hop that says why (detail.reason) before the `drop` hop.
 *
 * Drop reasons: `no-endpoints`, `no-local-endpoints`, and in nftables mode
 * `invalid-cluster-ip-port`, `unallocated-cluster-ip` (PROXY_DROPS), and `ctstate-invalid` (KUBE-FORWARD's drop below); registered with the
 * engine as `<node>/kube-proxy` (kind `kube-proxy`, not an element) by the builder.
 *
 * kube-proxy's `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP` (`dropInvalid`; the
 * builder sets it in iptables and IPVS modes unless nf_conntrack_tcp_be_liberal is set, as
 * kubernetes PR #120412 does; nftables mode installs no such rule): a forwarded packet that
 * conntrack marked INVALID (Packet.ct === CT_INVALID) is dropped, `ctstate-invalid` (kube-proxy's
 * metric iptables_ct_state_invalid_dropped_packets_total). Bridged frames pass FORWARD too.
 *
 * NetworkPolicy (`netpol`, src/kube/netpol/filter.ts), when set, decides at POSTROUTING
 * before the masquerade: after DNAT, before SNAT, as a CNI's FORWARD rules see the packet.
 *
 * BridgedHooks: the same hooks as the bridge calls them for frames it switches between two
 * pods (br_netfilter, see src/net/bridge.ts): only a well-formed IPv4 header gets there
 * (br_validate_ipv4: the wire view's `check()`); PREROUTING, NetworkPolicy, POSTROUTING.
 * conntrack runs as for routed packets through NatHooks' bridged entry points, whose routine
 * hops stay out of the trace unless NAT rewrote an address: journey 1 reads as the bridge
 * story, and a same-node service reply shows its `un-dnat` hop (`bridged: true`).
 * NetworkPolicy's hop does show.
 */
import { Counters, type Counted } from '../engine/counters.js';
import type { Engine } from '../engine/engine.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { Verdict, type BridgeNetfilter, type PacketHooks } from '../net/hooks.js';
import type { NetNamespace } from '../net/netns.js';
import { CT_INVALID, NAT_REFUSED, type NatHooks } from '../netfilter/nat-hooks.js';
import { CtStatus } from '../netfilter/conntrack-defs.js';
import { PROXY_DROPS, PROXY_REJECTS, type ServiceProxy } from './service-proxy.js';
import { checkIpv4 } from '../wire/ipv4.js';
import { WireError } from '../wire/errors.js';
import type { NetpolFilter } from './netpol/filter.js';

const ICMP_UNREACH = 3;
const ICMP_PORT_UNREACH = 3;
/** The hooks' drop reasons: the proxy's refusals, then KUBE-FORWARD's INVALID drop. */
export const PROXY_HOOK_DROPS = [...PROXY_DROPS, 'ctstate-invalid'] as const;
const CTSTATE_INVALID = PROXY_HOOK_DROPS.length - 1;

export class ProxyHooks implements PacketHooks, Counted {
  readonly kind = 'kube-proxy';
  readonly counters = new Counters([]);
  readonly drops = new Counters(PROXY_HOOK_DROPS);
  readonly name: string;
  /** The node's NetworkPolicy filter (the builder sets it), or null. */
  netpol: NetpolFilter | null = null;
  /** KUBE-FORWARD drops forwarded packets in conntrack state INVALID (header). */
  dropInvalid = false;

  constructor(
    private readonly engine: Engine,
    private readonly where: Where,
    private readonly root: NetNamespace,
    readonly nat: NatHooks,
    readonly proxy: ServiceProxy,
  ) {
    this.name = `${where.node}/kube-proxy`;
  }

  prerouting(p: Packet, l3: number, inIf: number): number {
    const v = this.nat.prerouting(p, l3, inIf);
    return v === NAT_REFUSED ? this.reject(p, l3, inIf, this.nat.decision.refuse) : v;
  }

  /** PREROUTING of a frame the bridge switches between two pods (br_netfilter): NatHooks' bridged hops. */
  bridgedPrerouting(p: Packet, l3: number, inIf: number, at: Where): number {
    const v = this.nat.bridgedPrerouting(p, l3, inIf, at);
    return v === NAT_REFUSED ? this.reject(p, l3, inIf, this.nat.decision.refuse) : v;
  }

  output(p: Packet, l3: number): number {
    const v = this.nat.output(p, l3);
    if (p.ct === CT_INVALID) p.ct = -1; // KUBE-FORWARD is not on the OUTPUT path
    return v === NAT_REFUSED ? this.reject(p, l3, 0, this.nat.decision.refuse) : v;
  }

  input(p: Packet, l3: number, inIf: number): number {
    return this.nat.input(p, l3, inIf);
  }

  postrouting(p: Packet, l3: number, outIf: number): number {
    if (p.ct === CT_INVALID && this.dropInvalid) return this.forwardDrop(p);
    if (this.netpol !== null) {
      const v = this.netpol.filter(p, l3);
      if (v !== Verdict.Accept) return v;
    }
    return this.nat.postrouting(p, l3, outIf);
  }

  /** KUBE-FORWARD's `--ctstate INVALID -j DROP`. */
  forwardDrop(p: Packet): number {
    if (p.trace !== 0) this.engine.trace.hop(p.trace, this.where, 'filter', { chain: 'KUBE-FORWARD', rule: '-m conntrack --ctstate INVALID -j DROP' });
    p.ct = -1;
    this.engine.dropCounted(p, this, CTSTATE_INVALID, this.where);
    return Verdict.Stolen;
  }

  private reject(p: Packet, l3: number, inIf: number, reason: number): number {
    if (p.trace !== 0) this.engine.trace.hop(p.trace, this.where, 'dnat', this.nat.decision.detail);
    // REJECT answers ICMP port unreachable; DROP (no local endpoints, an unallocated cluster IP) is silent.
    const nif = inIf > 0 && PROXY_REJECTS[reason] === true ? this.root.ifaceAt(inIf) : null;
    if (nif !== null) this.root.icmpError(p, l3, ICMP_UNREACH, ICMP_PORT_UNREACH, 0, nif);
    this.engine.dropCounted(p, this, reason, this.where);
    return Verdict.Stolen;
  }
}

export class BridgedHooks implements BridgeNetfilter {
  constructor(
    private readonly hooks: ProxyHooks,
    /** The bridge device's ifindex in the host namespace (the packets' in and out interface). */
    private readonly ifindex: number,
    /** The bridge (its hops: a NAT that changed an address). */
    private readonly where: Where,
  ) {}

  passesUnchanged(p: Packet, l3: number): boolean {
    // Not IPv4 as br_validate_ipv4 wants it: `bridged` passes it as is.
    if (checkIpv4(p.buf, l3, p.end - l3) !== WireError.Ok) return true;
    return this.hooks.nat.passesUnchanged(p, l3);
  }

  established(p: Packet): boolean {
    const nat = this.hooks.nat;
    const e = p.ct;
    if (e < 0 || nat.cpus !== 1) return false; // several CPUs: the race model depends on the order of packets
    const t = nat.table;
    return t.isLive(e) && t.isConfirmed(e) && (t.status(e) & CtStatus.SeenReply) !== 0 && t.natFlags(e) === 0;
  }

  bridged(p: Packet, l3: number): number {
    // br_validate_ipv4: only well-formed IPv4 reaches the hooks (anything else passes as is).
    if (checkIpv4(p.buf, l3, p.end - l3) !== WireError.Ok) return Verdict.Accept;
    p.setIpv4(l3);
    const hooks = this.hooks;
    let v = hooks.bridgedPrerouting(p, l3, this.ifindex, this.where);
    if (v === Verdict.Accept && p.ct === CT_INVALID && hooks.dropInvalid) return hooks.forwardDrop(p); // KUBE-FORWARD sees bridged frames too
    const netpol = hooks.netpol;
    if (v === Verdict.Accept && netpol !== null) v = netpol.filter(p, l3);
    if (v === Verdict.Accept) v = hooks.nat.bridgedPostrouting(p, l3, this.ifindex, this.where);
    return v;
  }
}
