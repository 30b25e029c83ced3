/**
 * Whole clusters in-process, in virtual time, under both overlays: three nodes with two
 * pods each. Between every ordered pair of pods: ICMP echo (runTrace and a raw socket),
 * UDP echo, and an HTTP GET whose body names the server pod. Pods added and removed while
 * running; the trace JSON shape; every packet back in the pool once the runs settle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import type { OverlayMode } from '../../src/kube/types.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import {
  THREE_NODES, actions, expectJourneyShape, expectNoLeak, get, isSubsequence, newCluster, ping, topology, udpRoundTrip,
} from './cluster-util.js';

const OVERLAYS: OverlayMode[] = ['routed', 'vxlan'];
let open: Cluster[] = [];
afterEach(() => {
  for (const c of open) c.close();
  open = [];
});
function cluster(overlay: OverlayMode): Cluster {
  const c = newCluster(topology(THREE_NODES, { overlay }));
  open.push(c);
  return c;
}
const pairs = (c: Cluster): [string, string][] => {
  const names = [...c.pods.keys()];
  return names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b] as [string, string]));
};
const sameNode = (c: Cluster, a: string, b: string): boolean => c.pod(a).plan.node === c.pod(b).plan.node;

describe.each(OVERLAYS)('three-node cluster, %s overlay', (overlay) => {
  it('builds 3 nodes and 6 pods with one /24 per node', () => {
    const c = cluster(overlay);
    expect([...c.nodes.keys()]).toEqual(['node1', 'node2', 'node3']);
    expect([...c.pods.keys()]).toEqual(['p1a', 'p1b', 'p2a', 'p2b', 'p3a', 'p3b']);
    expect(formatIpv4(c.pod('p2b').plan.ip)).toBe('10.244.2.3');
    expect(c.pod('p1a').plan.mtu).toBe(overlay === 'vxlan' ? 1450 : 1500);
  });

  it('traces an ICMP echo between every ordered pair of pods, both ways delivered', () => {
    const c = cluster(overlay);
    for (const [a, b] of pairs(c)) {
      const r = runTrace(c, { from: a, to: b });
      expect(r.request.delivered, `${a} -> ${b}: ${r.request.dropReason}`).toBe(true);
      expect(r.reply?.delivered, `${b} -> ${a} reply`).toBe(true);
      expectJourneyShape(r.request);
      expectJourneyShape(r.reply);
      const want = sameNode(c, a, b)
        ? ['send', 'veth', 'bridge-forward', 'veth', 'deliver']
        : ['send', 'veth', 'bridge-local', 'route', 'forward', ...(overlay === 'vxlan' ? ['vxlan-encap'] : []), 'underlay',
          ...(overlay === 'vxlan' ? ['vxlan-decap'] : []), 'route', 'forward', 'bridge-forward', 'veth', 'deliver'];
      expect(isSubsequence(want, actions(r.request)), `${a} -> ${b}: ${actions(r.request).join(' ')}`).toBe(true);
      const last = r.request.hops.at(-1)!;
      expect([last.action, last.netns, last.device]).toEqual(['deliver', b, 'eth0']);
      expect(r.reply!.hops.at(-1)).toMatchObject({ action: 'deliver', netns: a });
    }
    expectNoLeak(c);
  });

  it('pings every ordered pair through a raw ICMP socket: TTL 64 on a node, 62 across nodes', () => {
    const c = cluster(overlay);
    for (const [a, b] of pairs(c)) {
      const ttls = ping(c, c.pod(a).ns, c.pod(b).plan.ip);
      expect(ttls, `${a} -> ${b}`).toEqual([sameNode(c, a, b) ? 64 : 62]);
    }
    expectNoLeak(c);
  });

  it('echoes UDP between every ordered pair of pods', () => {
    const c = cluster(overlay);
    for (const [a, b] of pairs(c)) {
      expect(udpRoundTrip(c, c.pod(a).ns, c.pod(b).plan.ip, 9000, `${a} to ${b}`), `${a} -> ${b}`).toEqual([`${a} to ${b}`]);
    }
    expectNoLeak(c);
  });

  it('serves HTTP between every ordered pair of pods: the body names the server pod', async () => {
    const c = cluster(overlay);
    for (const [a, b] of pairs(c)) {
      const r = await get(c, c.pod(a).ns, c.pod(b).plan.ip, 8080);
      expect([r.status, r.body.trim()], `${a} -> ${b}`).toEqual([200, b]);
    }
    expectNoLeak(c);
  });

  it('answers a closed UDP port with port unreachable and a closed TCP port with a RST', () => {
    const c = cluster(overlay);
    const udp = runTrace(c, { from: 'p1a', to: 'p3b', proto: 'udp', port: 9999 });
    expect(udp.request.dropReason).toBe('no-socket');
    expect(udp.request.hops.at(-2)).toMatchObject({ action: 'icmp-error', netns: 'p3b', detail: { type: 3, code: 3 } });
    expect(udp.reply?.delivered).toBe(true);
    const tcp = runTrace(c, { from: 'p1a', to: 'p3b', proto: 'tcp', port: 81 });
    expect(tcp.request.hops.map((h) => h.action)).toContain('tcp-rst');
    expect(tcp.reply?.hops.at(-1)).toMatchObject({ action: 'deliver', netns: 'p1a', detail: { protocol: 'tcp' } });
    expectNoLeak(c);
  });

  it('adds a pod while running (reachable), removes it (unreachable, with a reason), and reuses its IP', async () => {
    const c = cluster(overlay);
    const added = c.addPod({ name: 'late', node: 'node2', apps: [{ type: 'http', port: 8080 }] });
    expect(formatIpv4(added.plan.ip)).toBe('10.244.2.4');
    for (const from of ['p1a', 'p2a', 'p3b']) {
      expect(runTrace(c, { from, to: 'late' }).reply?.delivered, `${from} -> late`).toBe(true);
      expect((await get(c, c.pod(from).ns, added.plan.ip, 8080)).body.trim()).toBe('late');
    }
    expect(runTrace(c, { from: 'late', to: 'p3a' }).reply?.delivered).toBe(true);
    const ip = added.plan.ip;
    c.removePod('late');
    expect(c.pods.has('late')).toBe(false);
    expect(c.capturePoints().some((p) => p.name.startsWith('late/'))).toBe(false);
    for (const from of ['p1a', 'p2a']) {
      const r = runTrace(c, { from, to: formatIpv4(ip) });
      expect(r.request.delivered, `${from} -> removed pod`).toBe(false);
      expect(r.request.dropReason, `${from}: ${actions(r.request).join(' ')}`).toMatch(/^[a-z-]+$/);
      expect(r.reply).toBeNull();
      expect(ping(c, c.pod(from).ns, ip)).toEqual([]);
    }
    await expect(get(c, c.pod('p1a').ns, ip, 8080)).rejects.toThrow(/timed out|refused|unreachable/);
    const again = c.addPod({ name: 'again', node: 'node2', apps: [{ type: 'http', port: 8080 }] });
    expect(again.plan.ip).toBe(ip);
    expect(again.plan.veth).toBe(added.plan.veth);
    for (const from of ['p1a', 'p2a']) {
      expect(runTrace(c, { from, to: 'again' }).reply?.delivered, `${from} -> again`).toBe(true);
      expect((await get(c, c.pod(from).ns, ip, 8080)).body.trim()).toBe('again');
    }
    expectNoLeak(c);
  });

  it('counts no drop anywhere on a clean run', async () => {
    const c = cluster(overlay);
    for (const [a, b] of pairs(c).slice(0, 8)) {
      runTrace(c, { from: a, to: b, proto: 'udp', port: 9000 });
      await get(c, c.pod(a).ns, c.pod(b).plan.ip, 8080);
    }
    const drops: Record<string, Record<string, number>> = {};
    for (const [name, el] of c.engine.elements) {
      const d = el.drops.toJSON();
      // Flooded ARP requests reach pods they are not for: the only expected drops.
      delete d['arp-not-for-us'];
      if (Object.keys(d).length > 0) drops[name] = d;
    }
    expect(drops).toEqual({});
    expect(c.engine.linkDrops + c.engine.unconnectedDrops).toBe(0);
    expectNoLeak(c);
  });
});

describe('the example topologies', () => {
  it.each(['examples/three-nodes-routed.yaml', 'examples/demo.yaml'])('%s: every pod reaches every pod', (file) => {
    const c = newCluster(topology(file, { dnsReplicas: 0 }));
    open.push(c);
    for (const [a, b] of pairs(c)) {
      expect(runTrace(c, { from: a, to: b }).reply?.delivered, `${a} -> ${b}`).toBe(true);
    }
    expectNoLeak(c);
  });
});
