/**
 * EndpointSlices in a dump or a manifest set: a Service's endpoints come from its slices (as
 * kube-proxy reads them, pkg/proxy/endpointslicecache.go), not from its selector, in the
 * dataplane (traced connections) and in `podwire rules`.
 */
import { describe, expect, it } from 'vitest';
import { inspectView } from '../../src/control/inspect.js';
import { nodeRules } from '../../src/control/rules.js';
import { Cluster } from '../../src/kube/cluster.js';
import { parseManifests } from '../../src/kube/manifests/index.js';
import type { ManifestResult } from '../../src/kube/manifests/index.js';
import { formatTopologyError } from '../../src/kube/topology.js';
import { runTrace } from '../../src/kube/trace.js';

const node = (name: string, ip: string, cidr: string): string => `apiVersion: v1
kind: Node
metadata: { name: ${name} }
spec: { podCIDR: ${cidr} }
status: { addresses: [ { address: ${ip}, type: InternalIP } ] }
---
`;
const pod = (name: string, nodeName: string, ip: string, app: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: ${app} } }
spec: { nodeName: ${nodeName}, containers: [ { name: c, image: x, ports: [ { name: http, containerPort: 8080 } ] } ] }
status: { phase: Running, podIP: ${ip} }
---
`;
const CLUSTER = `${node('node1', '192.168.56.11', '10.244.1.0/24')}${node('node2', '192.168.56.12', '10.244.2.0/24')}${pod('web-a', 'node1', '10.244.1.5', 'web')}${pod('web-b', 'node2', '10.244.2.5', 'web')}${pod('client', 'node1', '10.244.1.9', 'client')}apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec: { clusterIP: 10.96.0.50, selector: { app: web }, ports: [ { name: http, port: 80, targetPort: http } ] }
`;
/** The controller's slice for web: A ready, B not ready (its readiness probe failing). */
const WEB_SLICE = `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-x7k2p, namespace: default, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints:
  - { addresses: [ 10.244.1.5 ], conditions: { ready: true, serving: true, terminating: false }, nodeName: node1 }
  - { addresses: [ 10.244.2.5 ], conditions: { ready: false, serving: false, terminating: false }, nodeName: node2 }
ports: [ { name: http, port: 8080, protocol: TCP } ]
`;

const ok = (r: ManifestResult): ManifestResult & { ok: true } => {
  if (!r.ok) throw new Error(r.errors.map((e) => formatTopologyError(e, { location: true })).join('\n'));
  return r;
};
const clusterOf = (text: string): Cluster => new Cluster(ok(parseManifests(text, 'dump.yaml')).topology);
/** The pods that answered 12 traced TCP SYNs (distinct source ports through the proxy). */
const served = (c: Cluster, to: string, port: number): Set<string> => {
  const out = new Set<string>();
  for (let k = 0; k < 12; k++) {
    const t = runTrace(c, { from: 'client', to, proto: 'tcp', port });
    if (!t.request.delivered || t.reply === null) out.add(`dropped:${t.request.dropReason}`);
    else out.add([...t.request.hops].reverse().find((h) => h.action === 'deliver')?.netns ?? '?');
  }
  return out;
};

describe('EndpointSlices given: the Service\'s endpoints are the slices\'', () => {
  it('without slices, the selector picks A and B (the control: the test below can fail)', () => {
    const c = clusterOf(CLUSTER);
    try {
      expect(served(c, 'web', 80)).toEqual(new Set(['web-a', 'web-b']));
    } finally {
      c.close();
    }
  });

  it('selector matches A and B, the slice lists B not ready: rules and traces reach A only', () => {
    const c = clusterOf(CLUSTER + WEB_SLICE);
    try {
      expect(served(c, 'web', 80)).toEqual(new Set(['web-a']));
      for (const n of ['node1', 'node2']) {
        const rules = nodeRules(c, { node: n });
        expect(rules).toContain('-j DNAT --to-destination 10.244.1.5:8080');
        expect(rules).not.toContain('10.244.2.5');
      }
      expect(c.plan.services.find((s) => s.name === 'web')!.endpoints).toEqual(['web-a', 'web-b']); // both are in the slice
    } finally {
      c.close();
    }
  });

  it('the slice\'s port number is the endpoint port (matched to the Service port by name), not the pod\'s', () => {
    // The pods declare http as 8080; the slice says 9090: kube-proxy DNATs to what the slice says.
    const c = clusterOf(CLUSTER + WEB_SLICE.replace('port: 8080', 'port: 9090'));
    try {
      expect(nodeRules(c, { node: 'node1' })).toContain('-j DNAT --to-destination 10.244.1.5:9090');
      expect(nodeRules(c, { node: 'node1' })).not.toContain('10.244.1.5:8080');
      // podwire inspect shows the slice's port too.
      expect(inspectView(c).services.find((s) => s.name === 'web')!.endpoints.map((e) => [e.pod, e.ports])).toEqual([['web-a', [9090]], ['web-b', [9090]]]);
    } finally {
      c.close();
    }
  });

  it('a slice port of another name (or protocol) serves no Service port: no endpoints, connection refused', () => {
    const c = clusterOf(CLUSTER + WEB_SLICE.replace('name: http, port: 8080, protocol: TCP', 'name: http, port: 8080, protocol: UDP'));
    try {
      expect(served(c, 'web', 80)).toEqual(new Set(['dropped:no-endpoints']));
    } finally {
      c.close();
    }
  });

  it('a Service without a selector and a manual slice gets endpoints; an address that is no pod is warned about and left out', () => {
    const text = `${CLUSTER}---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: default }
spec: { clusterIP: 10.96.0.60, ports: [ { port: 5432, targetPort: 5432 } ] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-1, namespace: default, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
endpoints:
  - addresses: [ 192.0.2.10 ]
  - addresses: [ 10.244.2.5 ]
ports: [ { port: 8080 } ]
`;
    const r = ok(parseManifests(text, 'dump.yaml'));
    const warnings = r.warnings.map((w) => formatTopologyError(w, { location: true }));
    expect(warnings).toEqual(['dump.yaml:46: EndpointSlice/default/db-1: endpoints[0].addresses[0]: "192.0.2.10" is no emulated pod: podwire cannot deliver to it, the endpoint is left out']);
    // The selector warning does not apply to a service whose endpoints come from slices.
    expect(warnings.filter((w) => w.includes('Service/default/db'))).toEqual([]);
    const c = new Cluster(r.topology);
    try {
      expect(served(c, 'db', 5432)).toEqual(new Set(['web-b']));
      expect(nodeRules(c, { node: 'node1' })).toContain('-j DNAT --to-destination 10.244.2.5:8080');
      expect(nodeRules(c, { node: 'node1' })).not.toContain('192.0.2.10');
    } finally {
      c.close();
    }
  });
});
