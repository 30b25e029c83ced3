/**
 * NetpolFilter: NetworkPolicy enforcement on one node, where a CNI enforces it: on the
 * packets forwarded to and from its pods' veths (or TAPs), routed through the node or
 * switched by its bridge (br_netfilter). It runs in the node's POSTROUTING path before
 * kube-proxy's masquerade, i.e. after PREROUTING's DNAT (a Service's packet shows its
 * backend pod) and before SNAT (the client's own address): the position of iptables'
 * filter FORWARD chain, where Calico's `cali-FORWARD` sends a packet to the per-workload
 * chains of the veth it leaves by (`cali-to-wl-dispatch`: the pod's ingress) and came in by
 * (`cali-from-wl-dispatch`: its egress).
 *
 * Stateful through the node's conntrack, as a CNI's `-m conntrack --ctstate
 * RELATED,ESTABLISHED -j ACCEPT` first rule: only the first packet of a connection (an
 * original-direction packet whose entry is not yet confirmed) is checked; replies and
 * later packets pass, also when a policy that would refuse the connection now was applied
 * after it started (podwire's choice, docs/networkpolicy.md). A refused first packet is
 * dropped as `policy-denied` and its unconfirmed conntrack entry goes with it (as Linux
 * frees an unconfirmed entry with its skb). Packets conntrack does not track (other
 * protocols) are checked one by one, each allowed when its direction or the reverse one
 * (a reply) is allowed, and an ICMP error about such a datagram when the datagram (or its
 * reverse) was; TCP
 * that conntrack calls INVALID (no entry, not a SYN) is checked as if new.
 *
 * This node checks the egress of its own pods and the ingress of its own pods only (the
 * other side is the other node's business, as each node's agent programs its own pods).
 *
 * Verdicts between two pods are cached per (source pod, destination pod, protocol, port), as
 * Cilium's policy map holds one verdict per (identity, port, protocol): the rules are walked
 * once per such combination until the verdict table is recompiled (any policy, namespace or
 * pod change makes a new table, and the cache starts empty). At most VERDICT_CACHE entries;
 * full, it starts over. Addresses that are not pods are never cached.
 *
 * Counters: `checked` (NEW connections looked at), `allowed`, `denied`. Drop reason:
 * `policy-denied`; the controller counts each denial per policy (`deniedBy`). Trace: a
 * `policy` hop on every checked packet, {verdict, reason}.
 */
import { Counters, indexOf, type Counted } from '../../engine/counters.js';
import type { Engine } from '../../engine/engine.js';
import type { Packet } from '../../engine/packet.js';
import type { Where } from '../../engine/trace.js';
import { Verdict } from '../../net/hooks.js';
import { CtDir, type ConntrackTable } from '../../netfilter/conntrack.js';
import { readU16, readU32 } from '../../wire/addr.js';
import { Decode, decodes } from '../../wire/decodes.js';
import { ipv4Dst, ipv4HeaderLength, ipv4IsLaterFragment, ipv4Src } from '../../wire/ipv4.js';
import { ICMP_PROTOCOL as ICMP, isIcmpError } from '../../wire/icmp.js';
import type { NetpolController } from './controller.js';
import { Direction, type NetpolModel } from './evaluate.js';
import { SCTP_PROTOCOL as SCTP } from '../../wire/sctp.js';
import { TCP_PROTOCOL as TCP } from '../../wire/tcp.js';
import { UDP_PROTOCOL as UDP } from '../../wire/udp.js';

export const NETPOL_COUNTERS = ['checked', 'allowed', 'denied'] as const;
const Counter = indexOf(NETPOL_COUNTERS);
export const NETPOL_DROPS = ['policy-denied'] as const;

const VERDICT_CACHE = 65536;
/** Cached verdicts: allowed, refused by the source's egress, refused by the destination's ingress. */
const V_ALLOWED = 0;
const V_EGRESS = 1;
const V_INGRESS = 2;

export class NetpolFilter implements Counted {
  readonly kind = 'netpol';
  readonly name: string;
  readonly counters = new Counters(NETPOL_COUNTERS);
  readonly drops = new Counters(NETPOL_DROPS);
  private readonly where: Where;
  /** Verdict cache (see the header), valid for `cacheModel` only. */
  private readonly cache = new Map<number, number>();
  private cacheModel: NetpolModel | null = null;

  constructor(
    private readonly engine: Engine,
    readonly node: string,
    private readonly controller: NetpolController,
    private readonly table: ConntrackTable,
  ) {
    this.name = `${node}/netpol`;
    this.where = { node, netns: 'root', device: 'netpol' };
  }

  /** The verdict for a packet about to leave the node's POSTROUTING (IPv4 header at `l3`). */
  filter(p: Packet, l3: number): number {
    const trace = p.trace;
    const m = this.controller.model;
    if (m === null) return Verdict.Accept;
    const e = p.ct;
    const t = this.table;
    if (e >= 0 && (p.ctDir === CtDir.Reply || t.isConfirmed(e))) return Verdict.Accept;
    const b = p.buf;
    if (p.l3 !== l3 || p.l4 <= l3) p.setIpv4(l3); // conntrack ran first and has (Packet.l4/proto); a bare caller has not
    const src = ipv4Src(b, l3);
    const dst = ipv4Dst(b, l3);
    const proto = p.proto;
    const l4 = p.l4;
    decodes[Decode.L4]!++; // the policy reads the ports of a NEW connection
    const ports = (proto === TCP || proto === UDP || proto === SCTP) && p.end - l4 >= 4 && !ipv4IsLaterFragment(b, l3);
    const sport = ports ? readU16(b, l4) : 0;
    const dport = ports ? readU16(b, l4 + 2) : 0;
    const node = this.node;
    if (!m.involves(src, dst, node)) return Verdict.Accept;
    this.counters.values[Counter.checked]!++;
    let ok = this.cachedCheck(m, src, dst, proto, dport);
    // Untracked (protocols conntrack does not know): no state to tell a reply by; a packet the reverse direction allows is one.
    if (!ok && e < 0 && proto !== TCP && proto !== UDP && proto !== ICMP) ok = m.check(dst, src, proto, sport, node);
    // An ICMP error about an untracked datagram (conntrack found no connection to relate it to):
    // allowed when the datagram it quotes was (it travels back along that datagram's path).
    if (!ok && e < 0 && proto === ICMP && p.end - l4 >= 8 + 20 + 4 && isIcmpError(b[l4]!)) {
      const q = l4 + 8;
      const ql4 = q + ipv4HeaderLength(b, q);
      if (ql4 + 4 <= p.end) {
        const qs = readU32(b, q + 12);
        const qd = readU32(b, q + 16);
        const qp = b[q + 9]!;
        ok = m.check(qs, qd, qp, readU16(b, ql4 + 2), node) || m.check(qd, qs, qp, readU16(b, ql4), node);
      }
    }
    if (trace !== 0) {
      const v = m.explain(src, dst, proto, dport, node);
      const reply = ok && !v.allowed;
      this.engine.trace.hop(trace, this.where, 'policy', {
        verdict: ok ? 'allowed' : 'denied',
        reason: reply ? `a reply (${m.explain(dst, src, proto, sport, node).reason})` : v.reason,
        ...(v.egress.isolated ? { egress: v.egress } : {}),
        ...(v.ingress.isolated ? { ingress: v.ingress } : {}),
      });
    }
    if (ok) {
      this.counters.values[Counter.allowed]!++;
      return Verdict.Accept;
    }
    this.counters.values[Counter.denied]!++;
    // The denying side's policies (the reverse check of an untracked packet may have run since).
    this.cachedCheck(m, src, dst, proto, dport);
    if (this.denying !== null) this.controller.countDenied(m, this.denying);
    if (e >= 0) t.delete(e);
    this.engine.dropCounted(p, this, 0, this.where);
    return Verdict.Stolen;
  }

  /** The policies of the side that refused the last `cachedCheck`, or null when it allowed. */
  private denying: readonly number[] | null = null;

  /** `m.check` for this node through the verdict cache (pod to pod only). */
  private cachedCheck(m: NetpolModel, src: number, dst: number, proto: number, port: number): boolean {
    const sp = m.podAt(src);
    const dp = m.podAt(dst);
    const n = m.pods.length;
    const pi = proto === TCP ? 0 : proto === UDP ? 1 : proto === SCTP ? 2 : proto === ICMP ? 3 : -1;
    if (sp < 0 || dp < 0 || pi < 0 || n >= 65536) {
      const ok = m.check(src, dst, proto, port, this.node);
      this.denying = ok ? null : m.lastDenied!.policies;
      return ok;
    }
    if (this.cacheModel !== m) {
      this.cache.clear();
      this.cacheModel = m;
    }
    // (sp * n + dp) < 2^32, times 4 protocols, times 2^16 ports: below 2^50, an exact number.
    const key = ((sp * n + dp) * 4 + pi) * 65536 + port;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = m.check(src, dst, proto, port, this.node) ? V_ALLOWED : m.lastDeniedDir === Direction.Egress ? V_EGRESS : V_INGRESS;
      if (this.cache.size >= VERDICT_CACHE) this.cache.clear();
      this.cache.set(key, v);
    }
    this.denying = v === V_ALLOWED ? null : v === V_EGRESS ? m.egress[sp]!.policies : m.ingress[dp]!.policies;
    return v === V_ALLOWED;
  }
}
