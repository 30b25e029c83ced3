/**
 * br_netfilter's hops on the demo cluster (examples/demo.yaml, seed 2: pod1 -> service1 lands
 * on pod2, next door on node1). Frames the bridge switches between two pods go through the
 * node's conntrack + NAT (src/kube/proxy-hooks.ts BridgedHooks), but conntrack's routine hops
 * stay out of the journey: only a rewrite shows, as `un-dnat` marked `bridged`.
 * Pinned byte for byte (times aside), so a change to how the hooks are called for bridged
 * frames cannot change a journey.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Hop } from '../../src/engine/trace.js';
import { examplePath } from '../../src/control/load.js';
import { Cluster } from '../../src/kube/cluster.js';
import { loadTopologyFile } from '../../src/kube/topology.js';
import { runTrace } from '../../src/kube/trace.js';
import type { Topology } from '../../src/kube/types.js';

let demo: Topology;
beforeAll(async () => {
  const r = await loadTopologyFile(examplePath('demo.yaml'));
  if (!r.ok) throw new Error('demo.yaml does not validate');
  demo = r.topology;
});

function cluster(): Cluster {
  const t = structuredClone(demo);
  t.cluster.seed = 2;
  const c = new Cluster(t);
  // A UDP port nobody listens on behind the service: pod2 answers ICMP port unreachable.
  c.addService({ name: 'dead', selector: { app: 'web' }, ports: [{ port: 5353, targetPort: 5999, protocol: 'UDP' }] });
  return c;
}

/** The hops in node1's root namespace, without their times. */
const node1Root = (hops: Hop[]): unknown[] =>
  hops.filter((h) => h.node === 'node1' && h.netns === 'root').map(({ time: _t, ...h }) => h);

/** The bridge's forwarding hop and the veth the frame leaves by, to `pod`. */
const forward = (port: string, mac: string, pod: string): unknown[] => [
  { node: 'node1', netns: 'root', device: 'cbr0', action: 'bridge-forward', detail: { dstMac: mac, port, fdb: 'hit' } },
  { node: 'node1', netns: 'root', device: port, action: 'veth', detail: { from: `root/${port}`, to: `${pod}/eth0` } },
];
const POD1_MAC = '02:42:0a:f4:01:02';

describe('bridged frames through kube-proxy\'s hooks (br_netfilter)', () => {
  it('a same-node service reply shows only its un-DNAT on the bridge, marked bridged, without conntrack hops', () => {
    const c = cluster();
    const t = runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
    expect(t.request.hops.find((h) => h.action === 'dnat')?.detail['endpoint']).toBe('10.244.1.3:8080');
    expect(t.reply?.delivered).toBe(true);
    expect(node1Root(t.reply!.hops)).toEqual([
      { node: 'node1', netns: 'root', device: 'cbr0', action: 'un-dnat', detail: { from: '10.244.1.3', to: '10.96.0.2:80', conntrack: 'reply', bridged: true } },
      ...forward('veth0', POD1_MAC, 'pod1'),
    ]);
    c.close();
  });

  it('the ICMP error of a same-node endpoint is un-DNATed on the bridge (outer source back to the VIP, no port)', () => {
    const c = cluster();
    const t = runTrace(c, { from: 'pod1', to: 'dead', proto: 'udp', port: 5353 });
    expect(t.replyKind).toBe('icmp-error');
    expect(node1Root(t.reply!.hops)).toEqual([
      { node: 'node1', netns: 'root', device: 'cbr0', action: 'un-dnat', detail: { from: '10.244.1.3', to: '10.96.0.3', conntrack: 'reply', bridged: true } },
      ...forward('veth0', POD1_MAC, 'pod1'),
    ]);
    c.close();
  });

  it('journey 1 (pod1 -> pod2 by address) reads as the bridge story both ways: conntrack tracks it, no hop of its own', () => {
    const c = cluster();
    const t = runTrace(c, { from: 'pod1', to: 'pod2', proto: 'udp', port: 7 });
    expect(node1Root(t.request.hops)).toEqual(forward('veth1', '02:42:0a:f4:01:03', 'pod2'));
    expect(node1Root(t.reply!.hops)).toEqual(forward('veth0', POD1_MAC, 'pod1'));
    expect(c.services.conntrack.get('node1')!.dump(c.engine.now(), {})).toContain('dport=7');
    c.close();
  });
});
