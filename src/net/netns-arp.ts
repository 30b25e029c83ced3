/**
 * ARP for a NetNamespace (RFC 826, Linux's arp.c + neighbour resolution): answers requests
 * for local addresses in place, learns senders, queues packets whose next hop is not
 * resolved yet, sends and retransmits requests, and releases (or drops, when resolution
 * fails) the queued packets. The neighbour table itself is `NeighborTable`.
 *
 * Drop reasons (the namespace's): bad-arp, arp-not-for-us, neighbor-queue-full,
 * neighbor-table-overflow (no entry could be created: the kernel's ARP table is at gc_thresh3,
 * Linux's SKB_DROP_REASON_NEIGH_CREATEFAIL),
 * neighbor-unreachable. Trace hops: arp-reply (answered, or a queued packet released),
 * arp-request (a packet queued). When resolution fails (3 requests 1 s apart, no answer:
 * Linux's mcast_solicit 3, retrans_time 1 s), a forwarded packet that waited gets ICMP host
 * unreachable (type 3 code 1) back to its sender, as Linux's arp_error_report sends it, then
 * is dropped as neighbor-unreachable.
 */
import type { Packet } from '../engine/packet.js';
import { MAC_BROADCAST, formatIpv4, formatMac } from '../wire/addr.js';
import { ETHERNET_HEADER_LEN as ETH_LEN, EtherType, EthernetFrame } from '../wire/ethernet.js';
import { ArpOperation, ArpPacket, ARP_LEN } from '../wire/arp.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import { Enqueue, Probe } from './neighbor.js';
import type { NetIf } from './iface.js';
import type { NetNamespace } from './netns.js';
import { NetnsDrop } from './netns-drops.js';

export class ArpHandler {
  private readonly eth = new EthernetFrame();
  private readonly arp = new ArpPacket();
  private readonly ip = new Ipv4Packet();

  constructor(private readonly ns: NetNamespace) {}

  /** An ARP frame arrived on `nif` (its payload at `l3`). */
  receive(p: Packet, l3: number, nif: NetIf): void {
    const ns = this.ns;
    const arp = this.arp.wrap(p.buf, l3, p.end - l3);
    if (arp.check() !== 0) return ns.dropAt(p, NetnsDrop['bad-arp'], nif.where);
    const op = arp.oper();
    const sha = arp.sha();
    const spa = arp.spa();
    const tpa = arp.tpa();
    const now = ns.engine.now();
    const owner = ns.isLocalAddr(tpa);
    const neighbors = ns.neighbors;
    if (owner && op === ArpOperation.Request) {
      this.release(neighbors.update(spa, sha, nif.ifindex, now));
      // Answer in place: the request becomes the reply (a new frame: no bridge stamp).
      p.brIn = 0;
      arp.setOper(ArpOperation.Reply);
      arp.setTha(sha);
      arp.setTpa(spa);
      arp.setSha(nif.mac);
      arp.setSpa(tpa);
      this.eth.wrap(p.buf, p.start, p.end - p.start);
      this.eth.setDstMac(sha);
      this.eth.setSrcMac(nif.mac);
      if (p.trace !== 0) ns.engine.trace.hop(p.trace, nif.where, 'arp-reply', { ip: formatIpv4(tpa), answeredTo: formatIpv4(spa) });
      ns.transmit(p, nif);
      return;
    }
    if (owner || neighbors.lookup(spa, now) !== -1 || neighbors.hasPending(spa)) {
      this.release(neighbors.update(spa, sha, nif.ifindex, now));
      ns.engine.pool.free(p);
      return;
    }
    ns.dropAt(p, NetnsDrop['arp-not-for-us'], nif.where);
  }

  /** `nexthop` has no usable neighbour entry: queue `p` (IPv4 header at `l3`) and resolve. */
  resolve(p: Packet, l3: number, nexthop: number, out: NetIf, now: number): void {
    const ns = this.ns;
    if (p.l3 !== l3 || p.l4 <= l3) p.setIpv4(l3);
    const r = ns.neighbors.enqueue(nexthop, out.ifindex, p, now);
    if (r === Enqueue.QueueFull) {
      const none = ns.neighbors.stateOf(nexthop) === 0; // refused to create the entry, not a full queue
      return ns.dropAt(p, NetnsDrop[none ? 'neighbor-table-overflow' : 'neighbor-queue-full'], out.where);
    }
    if (p.trace !== 0) ns.engine.trace.hop(p.trace, out.where, 'arp-request', { who: formatIpv4(nexthop), queued: true });
    if (r === Enqueue.QueuedSendRequest) {
      this.sendRequest(out, nexthop, 0);
      this.scheduleProbe(nexthop);
    }
  }

  private scheduleProbe(ip: number): void {
    const ns = this.ns;
    ns.engine.scheduler.after(ns.neighbors.retransMs, () => {
      const r = ns.neighbors.probe(ip, ns.engine.now());
      if (r === Probe.Retry) {
        const ifindex = ns.neighbors.ifindexOf(ip);
        const nif = ifindex >= 0 ? ns.ifaceAt(ifindex) : null;
        if (nif !== null) this.sendRequest(nif, ip, 0);
        this.scheduleProbe(ip);
      } else if (r === Probe.Failed) {
        for (const q of ns.neighbors.takePending(ip)) {
          const inIf = q.inIf !== 0 ? ns.ifaceAt(q.inIf) : null;
          const nif = inIf ?? ns.ifaceAt(ns.neighbors.ifindexOf(ip));
          // Linux neigh_invalidate -> arp_error_report -> dst_link_failure -> ipv4_link_failure:
          // icmp_send(ICMP_DEST_UNREACH, ICMP_HOST_UNREACH) about each queued packet. Here for a
          // forwarded packet (one that came in on an interface), to its sender.
          // (An answer built in place from a received packet keeps its inIf: its source is ours.)
          if (inIf !== null && inIf !== ns.lo && !ns.isLocalAddr(this.ip.wrap(q.buf, q.l3, q.end - q.l3).srcAddr())) {
            ns.icmpError(q, q.l3, 3, 1, 0, inIf);
          }
          ns.dropAt(q, NetnsDrop['neighbor-unreachable'], nif?.where ?? ns.where);
        }
      }
    });
  }

  private release(pending: Packet[] | null): void {
    if (pending === null) return;
    const ns = this.ns;
    for (const q of pending) {
      const ifindex = ns.neighbors.ifindexOf(this.nexthopOf(q));
      const out = ns.ifaceAt(ifindex >= 0 ? ifindex : 0);
      const mac = ns.neighbors.lookup(this.nexthopOf(q), ns.engine.now());
      if (out === null || mac < 0) {
        ns.dropAt(q, NetnsDrop['neighbor-unreachable'], ns.where);
        continue;
      }
      if (q.trace !== 0) {
        ns.engine.trace.hop(q.trace, out.where, 'arp-reply', { ip: formatIpv4(this.nexthopOf(q)), mac: formatMac(mac) });
      }
      ns.frameAndSend(q, q.l3, mac, out);
    }
  }

  /** The next hop a queued packet waits for: recomputed from its route (packets carry no extra slot). */
  private nexthopOf(q: Packet): number {
    const dst = this.ip.wrap(q.buf, q.l3, q.end - q.l3).dstAddr();
    const r = this.ns.routes.lookup(dst);
    return r !== null && r.via !== 0 ? r.via : dst;
  }

  /** Broadcasts a request for `target` out of `out`. */
  sendRequest(out: NetIf, target: number, trace: number): void {
    const ns = this.ns;
    const q = ns.engine.pool.alloc();
    if (q === null) return;
    const b = q.buf;
    const s = q.start;
    q.end = s + ETH_LEN + ARP_LEN;
    this.eth.wrap(b, s, ETH_LEN + ARP_LEN);
    this.eth.setDstMac(MAC_BROADCAST);
    this.eth.setSrcMac(out.mac);
    this.eth.setEtherType(EtherType.Arp);
    const arp = this.arp.wrap(b, s + ETH_LEN, ARP_LEN);
    arp.setHtype(1);
    arp.setPtype(EtherType.Ipv4);
    arp.setHlen(6);
    arp.setPlen(4);
    arp.setOper(ArpOperation.Request);
    arp.setSha(out.mac);
    arp.setSpa(out.addrFor(target));
    arp.setTha(0);
    arp.setTpa(target);
    q.trace = trace;
    ns.transmit(q, out);
  }
}
