/**
 * trafficDistribution through the emulated cluster: the EndpointSlice controller's hints
 * (forZones from the endpoint's node zone; PreferSameNode also forNodes) and kube-proxy's
 * topologyModeFromHints (hints apply only when every ready endpoint has one and one matches
 * this node, else cluster-wide), in the dataplane and in `podwire rules`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
/** The demo (pod1 and pod2 on node1, pod3 on node2) with node zones and a third node for pod4. */
const zoned = (z1: string | null, z2: string | null, mode = 'iptables'): Cluster => clusterFromTopology(demo
  .replace(/^ {2}proxyMode: iptables/m, `  proxyMode: ${mode}`)
  .replace('  - name: node1 ', `  - name: node1\n${z1 !== null ? `    zone: ${z1}\n` : ''}   `)
  .replace('  - name: node2\n', `  - name: node2\n${z2 !== null ? `    zone: ${z2}\n` : ''}`));
const served = (c: Cluster, from: string, to: string, port: number): Set<string> => {
  const out = new Set<string>();
  for (let k = 0; k < 12; k++) {
    const t = runTrace(c, { from, to, proto: 'tcp', port });
    out.add(t.reply === null ? 'dropped' : [...t.request.hops].reverse().find((h) => h.action === 'deliver')?.netns ?? '?');
  }
  return out;
};
const svc = (c: Cluster, td: 'PreferClose' | 'PreferSameZone' | 'PreferSameNode', name = 'td'): void => {
  c.addService({ name, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], trafficDistribution: td });
};

describe('trafficDistribution', () => {
  it('PreferSameZone / PreferClose: only this zone\'s endpoints, in the dataplane and the rules', () => {
    const c = zoned('zone-a', 'zone-b');
    try {
      svc(c, 'PreferSameZone');
      svc(c, 'PreferClose', 'close');
      expect(served(c, 'pod1', 'td', 80)).toEqual(new Set(['pod2']));
      expect(served(c, 'pod1', 'close', 80)).toEqual(new Set(['pod2']));
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2', 'pod3'])); // no trafficDistribution
      const nat1 = nodeRules(c, { node: 'node1', service: 'default/td' });
      expect(nat1).toContain('10.244.1.3:8080');
      expect(nat1).not.toContain('10.244.2.2:8080');
      expect(nodeRules(c, { node: 'node2', service: 'default/td' })).not.toContain('10.244.1.3:8080');
    } finally {
      c.close();
    }
  });

  it('cluster-wide when an endpoint has no hint (its node has no zone) or none is for this zone', () => {
    const c = zoned('zone-a', null);
    try {
      svc(c, 'PreferSameZone');
      expect(served(c, 'pod1', 'td', 80)).toEqual(new Set(['pod2', 'pod3']));
    } finally {
      c.close();
    }
    const d = zoned('zone-a', 'zone-b');
    try {
      svc(d, 'PreferSameZone');
      d.setPodConditions('pod2', { ready: false }); // zone-a's only endpoint: no ready one hinted for zone-a
      expect(served(d, 'pod1', 'td', 80)).toEqual(new Set(['pod3']));
    } finally {
      d.close();
    }
  });

  it('PreferSameNode: this node\'s endpoints; from a node without one, zone hints, else cluster-wide', () => {
    const c = zoned('zone-a', 'zone-a');
    try {
      svc(c, 'PreferSameNode');
      expect(served(c, 'pod1', 'td', 80)).toEqual(new Set(['pod2']));
      c.removePod('pod2');
      c.addPod({ name: 'pod4', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'http', port: 8080 }] });
      // node1 has no endpoint: node hints do not apply; every endpoint is in zone-a: both.
      expect(served(c, 'pod1', 'td', 80)).toEqual(new Set(['pod3', 'pod4']));
    } finally {
      c.close();
    }
  });

  for (const [mode, other] of [['nftables', '__10.244.2.2/8080'], ['ipvs', '10.244.2.2:8080']] as const) {
    it(`${mode} mode follows the hints too`, () => {
      const c = zoned('zone-a', 'zone-b', mode);
      try {
        svc(c, 'PreferSameZone');
        expect(served(c, 'pod1', 'td', 80)).toEqual(new Set(['pod2']));
        expect(nodeRules(c, { node: 'node1', service: 'default/td' })).not.toContain(other);
        expect(nodeRules(c, { node: 'node2', service: 'default/td' })).toContain(other);
      } finally {
        c.close();
      }
    });
  }
});
