/**
 * Veth: a veth pair, two Ethernet devices joined back to back (each usually in a
 * different network namespace: a pod's `eth0` and the node's `vethN`).
 *
 * Ports: inputs `a`, `b` (frames the namespace of that end transmits on it); outputs
 * `a`, `b` (frames that end receives). A frame entering input `a` leaves output `b`
 * with `p.inIf` set to end b's ifindex, and the other way round. Bytes are untouched.
 *
 * Checks (Linux `veth_xmit` -> `__dev_forward_skb`): a frame shorter than an Ethernet
 * header is dropped (`runt`); a frame longer than the receiving end's MTU + 14 (+4 when
 * it carries an 802.1Q tag) is dropped (`mtu-exceeded`). Linux is a little more lenient
 * (it always allows the 4 tag bytes); we count an untagged oversize frame as the error
 * it is. Drops are recorded at the sending end.
 *
 * State exposed: `ends` (where, ifindex, mac, mtu; mtu may be changed at run time).
 * Counters: `a-tx-packets`, `a-tx-bytes`, `a-rx-packets`, `a-rx-bytes`, the same for b
 * (a frame sent into end a counts as a-tx, and as b-rx once delivered).
 * Drop reasons: `runt`, `mtu-exceeded`.
 * Trace: hop `veth` at the sending end with detail `{ from: 'netns/dev', to: 'netns/dev' }`
 * ("crosses the veth pair into ...").
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, type OutPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Where } from '../engine/trace.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN, ETH_P_8021Q } from '../wire/ethernet.js';
import type { Flowtable, FlowSlot } from './flowtable.js';

export interface VethEnd {
  where: Where;
  ifindex: number;
  mac: number;
  mtu: number;
}

export const VETH_COUNTERS = [
  'a-tx-packets', 'a-tx-bytes', 'a-rx-packets', 'a-rx-bytes',
  'b-tx-packets', 'b-tx-bytes', 'b-rx-packets', 'b-rx-bytes',
] as const;
export const VETH_DROPS = ['runt', 'mtu-exceeded'] as const;
const VethDrop = indexOf(VETH_DROPS);

const VLAN_HLEN = 4;
/** Counter offset of end b (the four counters of a come first). */
const B = 4;

export class Veth implements Element {
  readonly kind = 'veth';
  readonly ports: Ports;
  readonly counters = new Counters(VETH_COUNTERS);
  readonly drops = new Counters(VETH_DROPS);
  readonly ends: { readonly a: VethEnd; readonly b: VethEnd };
  /** Output ports of end a and end b (the flowtable checks a path's wiring against them). */
  readonly outA: OutPort;
  readonly outB: OutPort;
  /** Input port numbers of end a and end b. */
  readonly inA: number;
  readonly inB: number;
  /**
   * The flowtable asked about frames entering end a (a pod's eth0 transmitting), or null:
   * a hit carries the frame past the bridge to the receiving pod (src/net/flowtable.ts).
   */
  flowtable: Flowtable | null = null;
  /** Flowtable entries whose ingress is this veth (kept by the flowtable): none, no lookup. */
  ftEntries = 0;
  /** The flowtable entry this veth's last hit used (checked first; the flowtable owns it). */
  ftLast: FlowSlot | null = null;
  /** Trace detail strings, built once. */
  private readonly aName: string;
  private readonly bName: string;

  constructor(private readonly engine: Engine, readonly name: string, ends: { a: VethEnd; b: VethEnd }) {
    this.ends = ends;
    this.ports = new Ports(engine, this);
    this.inA = this.ports.addIn('a').index;
    this.inB = this.ports.addIn('b').index;
    this.outA = this.ports.addOut('a');
    this.outB = this.ports.addOut('b');
    this.aName = `${ends.a.where.netns}/${ends.a.where.device}`;
    this.bName = `${ends.b.where.netns}/${ends.b.where.device}`;
  }

  push(port: number, link: Link): void {
    const fromA = port === this.inA;
    const src = fromA ? this.ends.a : this.ends.b;
    const dst = fromA ? this.ends.b : this.ends.a;
    const out = fromA ? this.outB : this.outA;
    const tx = fromA ? 0 : B;
    const rx = fromA ? B + 2 : 2;
    // Counted per batch: the counters are only read between scheduler steps.
    let txN = 0;
    let txBytes = 0;
    let rxN = 0;
    let rxBytes = 0;
    const ifindex = dst.ifindex;
    const ft = fromA ? this.flowtable : null;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      const len = p.end - p.start;
      txN++;
      txBytes += len;
      if (len < ETH_HLEN) {
        this.engine.drop(p, this, VethDrop.runt, src.where);
        continue;
      }
      const max = dst.mtu + ETH_HLEN;
      if (len > max && (len > max + VLAN_HLEN || ((p.buf[p.start + 12]! << 8) | p.buf[p.start + 13]!) !== ETH_P_8021Q)) {
        this.engine.drop(p, this, VethDrop['mtu-exceeded'], src.where);
        continue;
      }
      if (p.trace !== 0) {
        this.engine.trace.hop(p.trace, src.where, 'veth', fromA ? { from: this.aName, to: this.bName } : { from: this.bName, to: this.aName });
      }
      p.inIf = ifindex;
      rxN++;
      rxBytes += len;
      if (ft !== null && ft.forward(p, this, len)) continue;
      out.send(p);
    }
    const v = this.counters.values;
    v[tx]! += txN;
    v[tx + 1]! += txBytes;
    v[rx]! += rxN;
    v[rx + 1]! += rxBytes;
  }

  /**
   * A flowtable hit crossing this pair from end b to end a (bridge -> pod) without its ring:
   * what `push` counts and stamps for such a frame (b-tx, a-rx, `p.inIf`). The caller has
   * checked end a's MTU.
   */
  passB(p: Packet, bytes: number): void {
    const v = this.counters.values;
    v[B]!++;
    v[B + 1]! += bytes;
    v[2]!++;
    v[3]! += bytes;
    p.inIf = this.ends.a.ifindex;
  }
}
