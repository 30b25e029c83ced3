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
 * (a reply) is allowed; TCP that conntrack calls INVALID (no entry, not a SYN) is checked
 * as if new.
 *
 * This node checks the egress of its own pods and the ingress of its own pods only (the
 * other side is the other node's business, as each node's agent programs its own pods).
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
import type { NetpolController } from './controller.js';

export const NETPOL_COUNTERS = ['checked', 'allowed', 'denied'] as const;
const Counter = indexOf(NETPOL_COUNTERS);
export const NETPOL_DROPS = ['policy-denied'] as const;

const TCP = 6;
const UDP = 17;
const SCTP = 132;

export class NetpolFilter implements Counted {
  readonly kind = 'netpol';
  readonly name: string;
  readonly counters = new Counters(NETPOL_COUNTERS);
  readonly drops = new Counters(NETPOL_DROPS);
  private readonly where: Where;

  constructor(
    private readonly engine: Engine,
    readonly node: string,
    private readonly controller: NetpolController,
    private readonly table: ConntrackTable,
  ) {
    this.name = `${node}/netpol`;
    this.where = { node, netns: 'root', device: 'netpol' };
  }

  /** The verdict for a packet about to leave the node's POSTROUTING (IPv4 header at `l3`); `trace` is the packet's trace id (also when its hooks run quietly). */
  filter(p: Packet, l3: number, trace: number): number {
    const m = this.controller.model;
    if (m === null) return Verdict.Accept;
    const e = p.ct;
    const t = this.table;
    if (e >= 0 && (p.ctDir === CtDir.Reply || t.isConfirmed(e))) return Verdict.Accept;
    const b = p.buf;
    const src = readU32(b, l3 + 12);
    const dst = readU32(b, l3 + 16);
    const proto = b[l3 + 9]!;
    const l4 = l3 + ((b[l3]! & 0x0f) << 2);
    const ports = (proto === TCP || proto === UDP || proto === SCTP) && p.end - l4 >= 4 && (readU16(b, l3 + 6) & 0x1fff) === 0;
    const sport = ports ? readU16(b, l4) : 0;
    const dport = ports ? readU16(b, l4 + 2) : 0;
    const node = this.node;
    if (!m.involves(src, dst, node)) return Verdict.Accept;
    this.counters.values[Counter.checked]!++;
    let ok = m.check(src, dst, proto, dport, node);
    // Untracked (protocols conntrack does not know): no state to tell a reply by; a packet the reverse direction allows is one.
    if (!ok && e < 0 && proto !== TCP && proto !== UDP && proto !== 1) ok = m.check(dst, src, proto, sport, node);
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
    // Re-run to know the denying side (lastDenied) when the reverse check cleared it.
    m.check(src, dst, proto, dport, node);
    if (m.lastDenied !== null) this.controller.countDenied(m, m.lastDenied.policies);
    if (e >= 0) t.delete(e);
    p.trace = trace; // the bridge runs its hooks with the trace off (proxy-hooks.ts BridgedHooks)
    this.engine.dropCounted(p, this, 0, this.where);
    return Verdict.Stolen;
  }
}
