/**
 * Service shapes beyond ClusterIP and NodePort, through the emulated cluster: externalIPs and
 * LoadBalancer ingress IPs (external traffic, with externalTrafficPolicy), and
 * internalTrafficPolicy Local.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { formatIpv4 } from '../../src/wire/addr.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const make = (mode = 'iptables'): Cluster => clusterFromTopology(demo.replace(/^ {2}proxyMode: iptables/m, `  proxyMode: ${mode}`));
/** The pod that answered a traced TCP SYN (its reply's first hop). */
const served = (c: Cluster, from: string, to: string, port: number): string | null => {
  const t = runTrace(c, { from, to, proto: 'tcp', port });
  if (!t.request.delivered || t.reply === null) return null;
  return [...t.request.hops].reverse().find((h) => h.action === 'deliver')?.netns ?? null;
};

describe('externalIPs and LoadBalancer IPs', () => {
  it('a pod reaches the service on an external IP and on a LoadBalancer IP, DNATed like the cluster IP', () => {
    const c = make();
    try {
      c.addService({ name: 'lb', type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], externalIPs: ['203.0.113.10'], loadBalancerIPs: ['198.51.100.7'] });
      for (const to of ['203.0.113.10', '198.51.100.7']) {
        const t = runTrace(c, { from: 'pod1', to, proto: 'tcp', port: 80 });
        expect(t.request.delivered, to).toBe(true);
        expect(t.reply?.delivered, to).toBe(true);
        const dnat = t.request.hops.find((h) => h.action === 'dnat')!;
        expect(dnat.detail).toMatchObject({ service: 'default/lb', external: to });
      }
      // Not on other ports of the external IP.
      expect(runTrace(c, { from: 'pod1', to: '203.0.113.10', proto: 'tcp', port: 81 }).request.hops.some((h) => h.action === 'dnat')).toBe(false);
      const nat = nodeRules(c, { node: 'node1' });
      expect(nat).toMatch(/-A KUBE-SERVICES -d 203\.0\.113\.10\/32 -p tcp -m comment --comment "default\/lb external IP" -m tcp --dport 80 -j KUBE-EXT-/);
      expect(nat).toMatch(/-A KUBE-SERVICES -d 198\.51\.100\.7\/32 -p tcp -m comment --comment "default\/lb loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-/);
    } finally {
      c.close();
    }
  });

  it('a LoadBalancer gets NodePorts', () => {
    const c = make();
    try {
      const plan = c.addService({ name: 'lb2', type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
      expect(plan.ports[0]!.nodePort).toBeGreaterThanOrEqual(30000);
    } finally {
      c.close();
    }
  });
});

describe('internalTrafficPolicy Local', () => {
  it('cluster IP traffic goes only to the client node\'s endpoints; none there -> dropped, no answer', () => {
    const c = make();
    try {
      // web: pod2 (node1) and pod3 (node2) carry app=web in the demo.
      c.addService({ name: 'itp', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], internalTrafficPolicy: 'Local' });
      for (let k = 0; k < 8; k++) expect(served(c, 'pod1', 'itp', 80)).toBe('pod2'); // pod1 is on node1
      c.removePod('pod2');
      const t = runTrace(c, { from: 'pod1', to: 'itp', proto: 'tcp', port: 80 });
      expect(t.request.delivered).toBe(false);
      expect(t.request.dropReason).toBe('no-local-endpoints');
      expect(t.reply).toBeNull(); // kube-proxy DROPs ("has no local endpoints"), it does not REJECT
      expect(nodeRules(c, { node: 'node1', table: 'filter' })).toMatch(/"default\/itp has no local endpoints" -m tcp --dport 80 -j DROP/);
    } finally {
      c.close();
    }
  });

  it('the same in nftables mode, with its names', () => {
    const c = make('nftables');
    try {
      c.addService({ name: 'itp', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], internalTrafficPolicy: 'Local' });
      expect(served(c, 'pod1', 'itp', 80)).toBe('pod2');
      expect(nodeRules(c, { node: 'node1' })).toMatch(/: goto local-[A-Z2-7]{8}-default\/itp\/tcp\//);
    } finally {
      c.close();
    }
  });
});

describe('examples/k8s/service-types (manifests)', () => {
  it('loads; a pod reaches the LoadBalancer IP unmasqueraded (externalTrafficPolicy Local short-circuits pod traffic); rules show it', async () => {
    const { loadCluster } = await import('../../src/control/load.js');
    const c = await loadCluster(examplePath('k8s/service-types'));
    try {
      const client = c.pod('client').plan.ip;
      for (const to of ['198.51.100.7', '203.0.113.10', 'echo-lb']) {
        const t = runTrace(c, { from: 'client', to, proto: 'tcp', port: 80 });
        expect(t.request.delivered, to).toBe(true);
        expect(t.request.hops.some((h) => h.action === 'snat'), to).toBe(false);
        const last = [...t.request.hops].reverse().find((h) => h.action === 'deliver')!;
        expect(JSON.stringify(last.detail), to).toContain(formatIpv4(client));
      }
      expect(nodeRules(c, { node: 'node1', service: 'echo-lb' })).toContain('"default/echo-lb:http loadbalancer IP"');
      // internalTrafficPolicy Local: delivered only if an echo replica shares the client's node.
      const local = c.plan.pods.some((p) => p.labels['app'] === 'echo' && p.node === c.pod('client').plan.node);
      const t = runTrace(c, { from: 'client', to: 'echo-local', proto: 'tcp', port: 80 });
      expect(t.request.delivered).toBe(local);
      if (!local) expect(t.request.dropReason).toBe('no-local-endpoints');
    } finally {
      c.close();
    }
  });
});

describe('a refused NEW connection (kube-proxy REJECT)', () => {
  it('makes no conntrack entry: the verdict comes back with the decision, nothing is created and deleted', () => {
    const c = make();
    try {
      c.addService({ name: 'nobody', selector: { app: 'nothing' }, ports: [{ port: 80, targetPort: 8080 }] });
      const nat = c.services.hooks.get('node1')!.nat;
      const before = nat.counters.toJSON()['new'];
      const t = runTrace(c, { from: 'pod1', to: 'nobody', proto: 'tcp', port: 80 });
      expect(t.request.dropReason).toBe('no-endpoints');
      expect(t.request.hops.some((h) => h.action === 'conntrack' && h.detail['state'] === 'new')).toBe(false);
      expect(nat.counters.toJSON()['new']).toBe(before);
      expect(c.services.conntrack.get('node1')!.count).toBe(0);
    } finally {
      c.close();
    }
  });
});
