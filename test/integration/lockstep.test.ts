/**
 * Lockstep reproducers of issue 13's out-of-bounds reads: two demo clusters whose free pool
 * bytes differ (test/integration/twin.ts) get the same frame; code that reads past a
 * packet's end sees a different byte in each and the twins diverge.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { examplePath } from '../../src/control/load.js';
import { runTrace } from '../../src/kube/trace.js';
import { topology } from './cluster-util.js';
import { Twin } from './twin.js';
import { clusterAddrs, dnsQuery, ethernet, icmp, ipv4, tcp, udp } from './fuzz-frames.js';

let twin: Twin | null = null;
afterEach(() => {
  twin?.close();
  twin = null;
});

function demo(): Twin {
  twin = new Twin(topology(examplePath('demo.yaml')));
  return twin;
}

function at(t: Twin, name: string): number {
  const i = t.points.findIndex((p) => p.name === name);
  if (i < 0) throw new Error(`no injection point ${name} (have ${t.points.map((p) => p.name).join(', ')})`);
  return i;
}

describe('lockstep twins', () => {
  it('agree on the demo journeys and on every corpus-like frame', () => {
    const t = demo();
    const [ra, rb, d] = t.both((c) => runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 }));
    expect(d).toBeNull();
    expect(ra.request.delivered).toBe(true);
    expect(JSON.stringify(rb)).toBe(JSON.stringify(ra));
    expect(t.advance(600_000)).toBeNull();
    expect(t.statsDiff()).toBe('');
    expect(t.a.engine.pool.available).toBe(t.a.engine.pool.size);
  });

  it('forwarding a TTL 1 ICMP packet with IHL 11 and total length 44 (no ICMP byte) sends no error and reads no stale type', () => {
    // netns-icmp.ts error(): the ICMP type of the offending packet was read at l3 + IHL = past its end.
    const t = demo();
    const a = clusterAddrs(t.a);
    const pod1 = a.pods.find((p) => p.name === 'pod1')!;
    const pod3 = a.pods.find((p) => p.name === 'pod3')!;
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const ip = ipv4({ src: pod1.ip, dst: pod3.ip, proto: 1, ttl: 1, options: new Uint8Array(24).fill(1) }, new Uint8Array(0));
    expect(ip.length).toBe(44);
    expect(ip[0]).toBe(0x4b);
    const d = t.inject(at(t, 'pod1/eth0 tx'), ethernet(node1.bridgeMac, pod1.mac, 0x0800, ip));
    expect(d).toBeNull();
    expect(t.a.node('node1').root.drops.get('ttl-exceeded')).toBe(1);
    // Linux's icmp_send: no ICMP header to look at (skb_header_pointer fails), no error.
    expect(t.a.node('node1').root.counters.get('icmp-errors-sent')).toBe(0);
    expect(t.advance(600_000)).toBeNull();
    expect(t.statsDiff()).toBe('');
  });

  it('an ICMP error quoting 24 bytes with a quoted IHL of 24 is dropped as icmp-bad-quote, not matched on stale ports', () => {
    // l4.ts: the quoted ports were read at inner + quoted IHL, past the 24 quoted bytes.
    const t = demo();
    const a = clusterAddrs(t.a);
    const pod2 = a.pods.find((p) => p.name === 'pod2')!;
    const pod3 = a.pods.find((p) => p.name === 'pod3')!;
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const quoted = ipv4({ src: pod2.ip, dst: pod3.ip, proto: 17, options: new Uint8Array(4).fill(1) }, new Uint8Array(0));
    expect(quoted.length).toBe(24);
    const err = ipv4({ src: pod3.ip, dst: pod2.ip, proto: 1 }, icmp(3, 3, 0, quoted));
    const d = t.inject(at(t, 'pod2/eth0 rx'), ethernet(pod2.mac, node1.bridgeMac, 0x0800, err));
    expect(d).toBeNull();
    expect(t.a.pod('pod2').ns.drops.get('icmp-bad-quote')).toBe(1);
  });

  it('a UDP length shorter than the IP payload: checksum over the UDP length, echo of the UDP length only', () => {
    // Linux __udp4_lib_rcv: ulen <= skb->len, the skb is trimmed to ulen, the checksum covers ulen bytes.
    const t = demo();
    const a = clusterAddrs(t.a);
    const pod1 = a.pods.find((p) => p.name === 'pod1')!;
    const pod2 = a.pods.find((p) => p.name === 'pod2')!;
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const payload = Buffer.from('echo');
    const trailer = Buffer.from('TRAILER');
    // The sender's checksum covers the 12 UDP bytes; the IP payload carries 7 bytes more.
    const l4 = new Uint8Array(8 + payload.length + trailer.length);
    l4.set(udp(5555, 9000, payload));
    l4.set(trailer, 8 + payload.length);
    const withTrailer = ipv4({ src: pod1.ip, dst: pod2.ip, proto: 17 }, l4);
    const seen: number[] = [];
    t.a.pod('pod2').ns.iface('eth0')!.outPort!.link!.addTap((p) => seen.push(p.end - p.start));
    expect(t.inject(at(t, 'pod2/eth0 rx'), ethernet(pod2.mac, node1.bridgeMac, 0x0800, withTrailer))).toBeNull();
    expect(t.a.pod('pod2').ns.drops.get('bad-checksum')).toBe(0);
    const echo = t.a.pod('pod2').apps.running.find((r) => r.spec.type === 'udp-echo')!.app as unknown as { counters: { get(n: string): number } };
    expect(echo.counters.get('rx')).toBe(1);
    // The echo (after ARP for the gateway) is 14 + 20 + 8 + 4 bytes: the trailer is not echoed.
    expect(seen.filter((n) => n !== 42)).toContain(14 + 20 + 8 + 4);
    expect(seen).not.toContain(14 + withTrailer.length);
  });

  it('a UDP length longer than the IP payload is dropped', () => {
    const t = demo();
    const a = clusterAddrs(t.a);
    const pod1 = a.pods.find((p) => p.name === 'pod1')!;
    const pod2 = a.pods.find((p) => p.name === 'pod2')!;
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const ip = ipv4({ src: pod1.ip, dst: pod2.ip, proto: 17 }, udp(5555, 9000, Buffer.from('echo'), 40));
    expect(t.inject(at(t, 'pod2/eth0 rx'), ethernet(pod2.mac, node1.bridgeMac, 0x0800, ip))).toBeNull();
    expect(t.a.pod('pod2').ns.drops.get('ipv4-bad-length')).toBe(1);
  });

  it('an ICMP error quoting the VXLAN port is not taken for a VXLAN datagram', () => {
    // The tunnel's UDP handler got ICMP errors too and decapsulated the quote as VXLAN.
    const t = demo();
    const a = clusterAddrs(t.a);
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const node2 = a.nodes.find((n) => n.name === 'node2')!;
    // Quoted: IHL 8 (0x48: the VXLAN I flag, 0x08, is set), id 0, flags 0x0100 (read as VNI 1), then UDP from port 8472.
    const quoted = ipv4({ src: node2.ip, dst: node1.ip, proto: 17, id: 0, flags: 0x0100, options: new Uint8Array(12).fill(1) }, udp(8472, 40000, new Uint8Array(8)));
    expect(quoted[0]).toBe(0x48);
    const err = ipv4({ src: node1.ip, dst: node2.ip, proto: 1 }, icmp(3, 3, 0, quoted));
    expect(t.inject(at(t, 'node2/eth0 rx'), ethernet(node2.mac, node1.mac, 0x0800, err))).toBeNull();
    const vx = t.a.engine.elements.get('node2/flannel.1')!;
    expect(vx.drops.get('not-vxlan')).toBe(1);
    expect(vx.counters.get('rx-packets')).toBe(0);
  });

  it('cuts nothing valid: a DNS query and a TCP SYN through the twins agree', () => {
    const t = demo();
    const a = clusterAddrs(t.a);
    const pod1 = a.pods.find((p) => p.name === 'pod1')!;
    const node1 = a.nodes.find((n) => n.name === 'node1')!;
    const dns = t.a.plan.services.find((s) => s.name === 'kube-dns')!.clusterIP;
    const q = ipv4({ src: pod1.ip, dst: dns, proto: 17 }, udp(33333, 53, dnsQuery(7, 'service1.default.svc.cluster.local')));
    expect(t.inject(at(t, 'pod1/eth0 tx'), ethernet(node1.bridgeMac, pod1.mac, 0x0800, q))).toBeNull();
    const syn = ipv4({ src: pod1.ip, dst: t.a.plan.services.find((s) => s.name === 'service1')!.clusterIP, proto: 6 }, tcp(33334, 80, 1, 0, 0x02));
    expect(t.inject(at(t, 'pod1/eth0 tx'), ethernet(node1.bridgeMac, pod1.mac, 0x0800, syn))).toBeNull();
    expect(t.advance(600_000)).toBeNull();
    expect(t.statsDiff()).toBe('');
  });
});
