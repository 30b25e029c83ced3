import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';
import { validateTopology } from './topology.js';

function cluster(overlay: 'routed' | 'vxlan'): Cluster {
  const r = validateTopology({ cluster: { overlay, dnsReplicas: 0 }, nodes: [{ name: 'node1' }, { name: 'node2' }, { name: 'node3' }] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new Cluster(r.topology);
}

describe('overlay routes shared between nodes', () => {
  it.each([
    ['routed', '10.244.2.0/24 via 192.168.56.12 dev eth0', '10.244.1.0/24 via 192.168.56.11 dev eth0'],
    ['vxlan', '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', '10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink'],
  ] as const)('%s: every node lists its own routes; the objects behind them are one frozen route per node', (mode, toNode2, toNode1) => {
    const c = cluster(mode);
    const [n1, n2, n3] = ['node1', 'node2', 'node3'].map((n) => c.node(n).root);
    expect(n1!.routeList()).toContain(toNode2);
    expect(n3!.routeList()).toContain(toNode2);
    expect(n2!.routeList()).not.toContain(toNode2); // its own CIDR is the bridge's connected route
    expect(n2!.routeList()).toContain(toNode1);
    const a = n1!.routes.lookup(0x0af40205)!;
    const b = n3!.routes.lookup(0x0af40205)!;
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(n2!.routes.lookup(0x0af40205)).not.toBe(a);
    // Listings are copies: editing one changes nothing in any table.
    const listed = n1!.routes.list().find((r) => r.dst === a.dst)!;
    listed.via = 1;
    expect(n3!.routeList()).toContain(toNode2);
    // Stopping one node's overlay removes its routes only.
    c.node('node1').overlay!.stop();
    expect(n1!.routeList()).not.toContain(toNode2);
    expect(n3!.routeList()).toContain(toNode2);
    c.close();
  });
});
