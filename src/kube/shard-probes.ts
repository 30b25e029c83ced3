/**
 * One-shot probes a shard runs inside a pod for the coordinator (docs/sharding.md): an
 * ICMP echo (ping) and a UDP request that waits for one answer (UDP echo). Not on the hot
 * path: each builds one packet and one timer. Time comes from the pod's host (`after`),
 * the wall clock in a worker, the virtual clock in a test that drives shards itself.
 */
import type { NetNamespace } from '../net/netns.js';
import { emitIcmp } from '../wire/icmp.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';

export interface PingResult {
  /** TTL of the echo reply. */
  ttl: number;
  /** Round trip in the shard's clock, ms. */
  rttMs: number;
}

function ipv4Header(ns: NetNamespace, dst: number, protocol: number, payloadLen: number, buf: Buffer, off: number): number {
  const src = ns.sourceFor(dst);
  emitIpv4({
    src, dst, protocol, ttl: 64, payloadLen, ident: 1, dscp: 0, ecn: 0, dontFrag: true, moreFrags: false, fragOffset: 0,
  }, buf, off);
  return src;
}

/** Sends one echo request from `ns` to `dst`; resolves with the reply, or null after `timeoutMs`. */
export function ping(ns: NetNamespace, dst: number, ident: number, timeoutMs: number): Promise<PingResult | null> {
  return new Promise((resolve) => {
    const t0 = ns.now();
    let done = false;
    const finish = (r: PingResult | null): void => {
      if (done) return;
      done = true;
      ns.unbind(IpProtocol.Icmp, ident);
      ns.cancel(timer);
      resolve(r);
    };
    ns.bind(IpProtocol.Icmp, ident, (p, info) => {
      const reply = p.buf[info.l4] === 0 && info.src === dst;
      const ttl = info.ttl;
      ns.free(p);
      if (reply) finish({ ttl, rttMs: ns.now() - t0 });
    });
    const timer = ns.after(timeoutMs, () => finish(null));
    const p = ns.alloc();
    if (p === null) {
      finish(null);
      return;
    }
    const data = Buffer.alloc(56, 0x70);
    ipv4Header(ns, dst, IpProtocol.Icmp, 8 + data.length, p.buf, p.start);
    const n = emitIcmp({ kind: 'echo-request', ident, seq: 1, data }, p.buf, p.start + 20);
    p.end = p.start + 20 + n;
    ns.output(p);
  });
}

/** Sends `payload` from `ns` to dst:port; resolves with the first answer's payload, or null after `timeoutMs`. */
export function udpRequest(ns: NetNamespace, dst: number, port: number, payload: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: string | null): void => {
      if (done) return;
      done = true;
      ns.unbind(IpProtocol.Udp, sport);
      ns.cancel(timer);
      resolve(r);
    };
    const sport = ns.bind(IpProtocol.Udp, 0, (p, info) => {
      const text = info.src === dst && info.sport === port ? p.buf.toString('utf8', info.payload, info.payload + info.payloadLen) : null;
      ns.free(p);
      if (text !== null) finish(text);
    });
    const timer = ns.after(timeoutMs, () => finish(null));
    const p = ns.alloc();
    if (p === null) {
      finish(null);
      return;
    }
    const data = Buffer.from(payload);
    const src = ipv4Header(ns, dst, IpProtocol.Udp, 8 + data.length, p.buf, p.start);
    emitUdp({ srcPort: sport, dstPort: port, payloadLen: data.length }, p.buf, p.start + 20);
    data.copy(p.buf, p.start + 28);
    fillUdpChecksum(p.buf, p.start + 20, src, dst);
    p.end = p.start + 28 + data.length;
    ns.output(p);
  });
}
