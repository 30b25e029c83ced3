/**
 * Endpoint conditions through the emulated cluster: pods' readiness and termination, as the
 * EndpointSlice controller publishes them and kube-proxy uses them (KEP-1669), in the
 * dataplane (traced connections) and in `podwire rules`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const make = (mode = 'iptables', text = demo): Cluster => clusterFromTopology(text.replace(/^ {2}proxyMode: iptables/m, `  proxyMode: ${mode}`));
/** The pods that answered 12 traced TCP SYNs from `from` (distinct source ports through the proxy). */
const served = (c: Cluster, from: string, to: string, port: number): Set<string> => {
  const out = new Set<string>();
  for (let k = 0; k < 12; k++) {
    const t = runTrace(c, { from, to, proto: 'tcp', port });
    if (!t.request.delivered || t.reply === null) out.add(`dropped:${t.request.dropReason}`);
    else out.add([...t.request.hops].reverse().find((h) => h.action === 'deliver')?.netns ?? '?');
  }
  return out;
};

describe('endpoint conditions (ready, terminating) and publishNotReadyAddresses', () => {
  for (const mode of ['iptables', 'ipvs', 'nftables']) {
    it(`${mode}: an unready pod gets no traffic and no rules; both unready -> refused`, () => {
      const c = make(mode);
      try {
        expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2', 'pod3']));
        c.setPodConditions('pod2', { ready: false });
        expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod3']));
        expect(nodeRules(c, { node: 'node1' })).not.toContain('10.244.1.3');
        c.setPodConditions('pod3', { ready: false });
        expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['dropped:no-endpoints']));
        c.setPodConditions('pod2', { ready: true });
        expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2']));
      } finally {
        c.close();
      }
    });
  }

  it('Cluster policy: with no ready endpoint, the terminating (still serving) one answers', () => {
    const c = make();
    try {
      c.setPodConditions('pod2', { terminating: true });
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod3'])); // ready pod3 preferred
      c.setPodConditions('pod3', { ready: false });
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2'])); // fallback
      expect(nodeRules(c, { node: 'node2' })).toContain('--to-destination 10.244.1.3:8080');
      expect(nodeRules(c, { node: 'node2' })).not.toContain('10.244.2.2:8080');
      c.setPodConditions('pod2', { ready: false }); // terminating and no longer serving
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['dropped:no-endpoints']));
    } finally {
      c.close();
    }
  });

  it('Local policy: the node\'s own terminating endpoint, while a ready one exists elsewhere', () => {
    const c = make();
    try {
      // pod1 is on node1 with pod2; pod3 is on node2.
      c.addService({ name: 'itp', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], internalTrafficPolicy: 'Local' });
      c.setPodConditions('pod2', { terminating: true });
      expect(served(c, 'pod1', 'itp', 80)).toEqual(new Set(['pod2']));
      // Cluster-policy service1 keeps to the ready pod3.
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod3']));
      expect(nodeRules(c, { node: 'node1', service: 'default/itp' })).toMatch(/-A KUBE-SVL-\S+ -m comment --comment "default\/itp -> 10\.244\.1\.3:8080" -j KUBE-SEP-/);
    } finally {
      c.close();
    }
  });

  it('a pod added at run time unready joins its service once marked ready', () => {
    const c = make();
    try {
      c.removePod('pod3');
      c.addPod({ name: 'pod4', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'http', port: 8080 }], ready: false });
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2']));
      c.setPodConditions('pod4', { ready: true });
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2', 'pod4']));
    } finally {
      c.close();
    }
  });

  it('publishNotReadyAddresses: unready pods are published ready', () => {
    const c = make();
    try {
      c.setPodConditions('pod2', { ready: false });
      c.setPodConditions('pod3', { ready: false, terminating: true });
      c.addService({ name: 'pna', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], publishNotReadyAddresses: true });
      expect(served(c, 'pod1', 'pna', 80)).toEqual(new Set(['pod2', 'pod3']));
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['dropped:no-endpoints']));
    } finally {
      c.close();
    }
  });

  it('the topology file: `ready: false` and `terminating: true` on a pod, `publishNotReadyAddresses` on a service', () => {
    const text = demo.replace('  - name: pod3\n    node: node2\n', '  - name: pod3\n    node: node2\n    ready: false\n')
      .replace('  - name: pod2\n    node: node1\n', '  - name: pod2\n    node: node1\n    terminating: true\n');
    const c = make('iptables', text);
    try {
      expect(served(c, 'pod1', 'service1', 80)).toEqual(new Set(['pod2'])); // pod2: terminating, still serving
    } finally {
      c.close();
    }
    const c2 = make('iptables', text.replace('    sessionAffinity: None', '    publishNotReadyAddresses: true\n    sessionAffinity: None'));
    try {
      expect(served(c2, 'pod1', 'service1', 80)).toEqual(new Set(['pod2', 'pod3']));
    } finally {
      c2.close();
    }
  });
});
