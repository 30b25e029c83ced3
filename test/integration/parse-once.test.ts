/**
 * Parse once per namespace (docs/architecture.md, "Headers are decoded once"): one UDP
 * packet pod1 -> ClusterIP -> pod3 across the VXLAN overlay, counted with the wire layer's
 * decode counters (src/wire/decodes.ts). A namespace decodes a frame's Ethernet and IPv4
 * headers where it receives or sends it (`ethernetType`, `checkIpv4`) and records the offsets
 * on the packet (`Packet.l3`/`l4`/`proto`); conntrack, NAT, routing, the tunnel's flow hash
 * and the socket lookup read those instead of decoding the header again. L4 decodes are the
 * stages that read ports for a decision: conntrack's tuple at each hook that tracks, the
 * socket lookup of a local delivery.
 */
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/kube/cluster.js';
import type { IpHost } from '../../src/net/ip-host.js';
import { Decode, decodes, resetDecodes } from '../../src/wire/decodes.js';
import { writeIpv4Header, IpProtocol } from '../../src/wire/ipv4.js';
import { writeUdpHeader } from '../../src/wire/udp.js';
import { topology } from './cluster-util.js';

const T = (overlay: string): string => `
cluster: { name: parse, overlay: ${overlay}, dnsReplicas: 0, seed: 1 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: pod1, node: node1 }
  - { name: pod3, node: node2, labels: { app: sink } }
services:
  - { name: sink, selector: { app: sink }, ports: [ { port: 5000, targetPort: 5001, protocol: UDP } ] }
`;

function send(host: IpHost, dst: number, payload: number): void {
  const p = host.alloc()!;
  const s = p.start;
  const src = host.sourceFor(dst);
  writeIpv4Header(p.buf, s, src, dst, IpProtocol.Udp, 20 + 8 + payload, 1, 64, false);
  p.buf.fill(0x61, s + 28, s + 28 + payload);
  writeUdpHeader(p.buf, s + 20, 40000, 5000, payload, src, dst);
  p.end = s + 28 + payload;
  host.output(p);
}

/** The decodes of the second packet of a flow (the first resolves ARP and creates the conntrack entries). */
function countOne(overlay: string): { delivered: number; eth: number; ipv4: number; l4: number } {
  const c = new Cluster(topology(T(overlay)));
  let delivered = 0;
  const pod3 = c.pod('pod3').ns;
  pod3.bind(IpProtocol.Udp, 5001, (p) => { delivered++; pod3.free(p); });
  const vip = c.plan.services.find((s) => s.name === 'sink')!.clusterIP;
  const pod1 = c.pod('pod1').ns;
  send(pod1, vip, 32);
  c.engine.advance(1_000);
  expect(delivered).toBe(1);
  resetDecodes();
  send(pod1, vip, 32);
  c.engine.advance(1_000);
  return { delivered, eth: decodes[Decode.Ethernet]!, ipv4: decodes[Decode.Ipv4]!, l4: decodes[Decode.L4]! };
}

describe('headers are decoded once per namespace', () => {
  it('VXLAN: pod1 -> service -> pod3 decodes each header once in each namespace it enters', () => {
    const n = countOne('vxlan');
    expect(n.delivered).toBe(2);
    // Ethernet, where a namespace receives a frame: node1 (inner, from cbr0), node2 (outer, on
    // eth0), node2 (inner, on flannel.1), pod3.
    expect(n.eth).toBe(4);
    // IPv4: the inner header in pod1 (output), node1, node2 and pod3; the outer header in node1
    // (the tunnel's output) and node2.
    expect(n.ipv4).toBe(6);
    // L4: node1's conntrack on the inner packet (PREROUTING; POSTROUTING reads the entry) and on
    // the outer one (OUTPUT); node2's conntrack on the outer packet and the UDP socket lookup that
    // hands it to the VXLAN device; node2's conntrack on the inner packet; pod3's socket lookup.
    expect(n.l4).toBe(6);
  });

  it('routed: the same packet without the tunnel: one IPv4 decode per namespace (pod1, node1, node2, pod3)', () => {
    const n = countOne('routed');
    expect(n.delivered).toBe(2);
    expect(n.eth).toBe(3); // node1, node2, pod3
    expect(n.ipv4).toBe(4);
    expect(n.l4).toBe(3); // node1's and node2's conntrack, pod3's socket
  });
});
