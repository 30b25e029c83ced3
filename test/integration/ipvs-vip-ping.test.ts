/**
 * IPVS mode binds the cluster IPs (and external and load-balancer IPs) to each node's dummy
 * `kube-ipvs0`, so a ping to a cluster IP is answered (by the node the pod sends through); iptables mode binds nothing and the echo
 * request finds no one. Traced with --proto icmp as a user would.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { formatIpv4 } from '../../src/wire/addr.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const make = (mode: string): Cluster => clusterFromTopology(demo.replace(/^ {2}proxyMode: iptables/m, `  proxyMode: ${mode}`));
const vipOf = (c: Cluster, name: string): string => formatIpv4(c.plan.services.find((s) => s.name === name)!.clusterIP);

describe('ping a cluster IP', () => {
  it('ipvs: answered by the client\'s node (kube-ipvs0), and only while the service exists', () => {
    const c = make('ipvs');
    try {
      const vip = vipOf(c, 'service1');
      const t = runTrace(c, { from: 'pod1', to: vip, proto: 'icmp' });
      expect(t.request.delivered).toBe(true);
      expect(t.reply?.delivered).toBe(true);
      const deliver = t.request.hops.find((h) => h.action === 'deliver')!;
      expect([deliver.node, deliver.netns]).toEqual(['node1', 'root']);
      expect(c.node('node1').root.iface('kube-ipvs0')!.addrs.map((a) => formatIpv4(a.ip))).toContain(vip);
      // NodePorts are not answered on the cluster IPs (ipvsadm lists node addresses without them).
      expect(nodeRules(c, { node: 'node1', format: 'ipvsadm' })).not.toMatch(new RegExp(`TCP  ${vip.replace(/\./g, '\\.')}:3\\d{4}`));
      const added = c.addService({ name: 'extra', type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080 }] });
      const extra = formatIpv4(added.clusterIP);
      expect(runTrace(c, { from: 'pod1', to: extra, proto: 'icmp' }).reply?.delivered).toBe(true);
      expect(nodeRules(c, { node: 'node1', format: 'ipvsadm' })).not.toContain(`TCP  ${extra}:${added.ports[0]!.nodePort}`);
      // The service still answers on its port.
      expect(runTrace(c, { from: 'pod1', to: extra, proto: 'tcp', port: 81 }).reply?.delivered).toBe(true);
      c.removeService('extra');
      expect(runTrace(c, { from: 'pod1', to: extra, proto: 'icmp' }).request.delivered).toBe(false);
    } finally {
      c.close();
    }
  });

  it('ipvs: external and load-balancer IPs are bound too (ping answered by the node), but not one a node interface already has', () => {
    const c = make('ipvs');
    try {
      const node2ip = formatIpv4(c.node('node2').plan.ip);
      c.addService({ name: 'lb', type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], externalIPs: ['203.0.113.10', node2ip], loadBalancerIPs: ['198.51.100.7'] });
      const bound = (n: string): string[] => c.node(n).root.iface('kube-ipvs0')!.addrs.map((a) => formatIpv4(a.ip));
      expect(bound('node1')).toEqual(expect.arrayContaining(['203.0.113.10', '198.51.100.7', node2ip]));
      // node2 holds that address on eth0: kube-proxy does not add it to the dummy device there.
      expect(bound('node2')).toEqual(expect.arrayContaining(['203.0.113.10', '198.51.100.7']));
      expect(bound('node2')).not.toContain(node2ip);
      for (const to of ['203.0.113.10', '198.51.100.7']) {
        const t = runTrace(c, { from: 'pod1', to, proto: 'icmp' });
        expect(t.reply?.delivered, to).toBe(true);
        const deliver = t.request.hops.find((h) => h.action === 'deliver')!;
        expect([deliver.node, deliver.netns], to).toEqual(['node1', 'root']);
      }
      c.removeService('lb');
      expect(bound('node1')).not.toContain('203.0.113.10');
      expect(runTrace(c, { from: 'pod1', to: '203.0.113.10', proto: 'icmp' }).request.delivered).toBe(false); // no route: ICMP net unreachable
    } finally {
      c.close();
    }
  });

  it('iptables: no echo reply from a cluster IP', () => {
    const c = make('iptables');
    try {
      const t = runTrace(c, { from: 'pod1', to: vipOf(c, 'service1'), proto: 'icmp' });
      // No one holds the address: the node has no route for it and answers "network unreachable", not an echo reply.
      expect(t.request.delivered).toBe(false);
      expect(t.request.hops.some((h) => h.action === 'deliver')).toBe(false);
      expect(t.request.hops.find((h) => h.action === 'icmp-error')?.detail).toMatchObject({ type: 3, code: 0 });
      expect(c.node('node1').root.iface('kube-ipvs0')).toBeUndefined();
    } finally {
      c.close();
    }
  });
});
