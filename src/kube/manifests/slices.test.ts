import { describe, expect, it } from 'vitest';
import { planCluster } from '../plan.js';
import { sliceEndpoints } from '../slice-endpoints.js';
import { formatTopologyError } from '../topology.js';
import type { Topology } from '../types.js';
import { parseManifests } from './index.js';
import type { ManifestResult } from './index.js';

const ok = (r: ManifestResult): Topology => {
  if (!r.ok) throw new Error(r.errors.map((e) => formatTopologyError(e, { location: true })).join('\n'));
  return r.topology;
};
const errorsOf = (r: ManifestResult): string[] => (r.ok ? [] : r.errors.map((e) => formatTopologyError(e, { location: true })));
const warningsOf = (r: ManifestResult): string[] => r.warnings.map((e) => formatTopologyError(e, { location: true }));

const PODS = `apiVersion: v1
kind: Pod
metadata: { name: a, labels: { app: web } }
spec: { nodeName: node1, containers: [ { name: c, image: x, ports: [ { name: http, containerPort: 8080 } ] } ] }
status: { podIP: 10.244.1.5 }
---
apiVersion: v1
kind: Pod
metadata: { name: b, labels: { app: web } }
spec: { nodeName: node2, containers: [ { name: c, image: x, ports: [ { name: http, containerPort: 8080 } ] } ] }
status: { podIP: 10.244.2.5 }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [ { name: http, port: 80, targetPort: http }, { name: metrics, port: 9090, targetPort: 9100 } ]
---
`;

describe('EndpointSlices: read as kube-proxy reads them', () => {
  it('conditions: nil ready and serving are true, nil terminating false; nodeName, zone, hints; ports defaulted (name "", TCP)', () => {
    const t = ok(parseManifests(`${PODS}apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints:
  - { addresses: [ 10.244.1.5, 10.244.1.6 ], nodeName: node1, zone: z1, hints: { forZones: [ { name: z1 } ], forNodes: [ { name: node1 } ] } }
  - { addresses: [ 10.244.2.5 ], conditions: { ready: false, terminating: true } }
ports: [ { name: http, port: 8080 }, { port: 7 } ]
`, 's.yaml'));
    // endpointslicecache.go: Ready = nil || *ready, Serving = nil || *serving, Terminating = != nil && *terminating.
    expect(t.kubernetes?.sliceEndpoints['default/web']).toEqual([
      { slice: 'EndpointSlice/default/web-1', path: 'endpoints[0].addresses[0]', ip: '10.244.1.5', ready: true, serving: true, terminating: false,
        nodeName: 'node1', zone: 'z1', zoneHints: ['z1'], nodeHints: ['node1'], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: '', port: 7, protocol: 'TCP' }] },
      { slice: 'EndpointSlice/default/web-1', path: 'endpoints[1].addresses[0]', ip: '10.244.2.5', ready: false, serving: true, terminating: true,
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: '', port: 7, protocol: 'TCP' }] },
    ]);
  });

  it('slice ports map onto Service ports by name and protocol; endpoints merge over slices, de-duplicated by ip:port', () => {
    const t = ok(parseManifests(`${PODS}apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints: [ { addresses: [ 10.244.1.5 ] } ]
ports: [ { name: metrics, port: 9100 }, { name: http, port: 8081 } ]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-udp, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints: [ { addresses: [ 10.244.1.5 ] } ]
ports: [ { name: http, port: 8080, protocol: UDP } ]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-2, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints: [ { addresses: [ 10.244.1.5 ] }, { addresses: [ 10.244.2.5 ] } ]
ports: [ { name: http, port: 8081 } ]
`, 's.yaml'));
    const plan = planCluster(t);
    const web = plan.services.find((s) => s.name === 'web')!;
    const byIp = new Map(plan.pods.map((p) => [p.ip, p]));
    const r = sliceEndpoints(web.ports, web.sliceEndpoints!, byIp);
    // Service ports [http/TCP, metrics/TCP]: web-udp's UDP http serves neither; a's http 8081 is listed twice, kept once.
    expect(r.endpoints.map((e) => [e.pod, e.ports])).toEqual([['a', [8081, 9100]], ['b', [8081, 0]]]);
    expect(web.endpoints).toEqual(['a', 'b']);
  });

  it('bad fields get the API server\'s words at file:line; a slice without the service-name label or not IPv4 is not used', () => {
    const r = parseManifests(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bad, labels: { kubernetes.io/service-name: web } }
addressType: IPv5
endpoints:
  - addresses: []
  - addresses: [ 10.0.0.300 ]
    nodeName: Node_1
  - addresses: [ 127.0.0.1 ]
    conditions: { ready: "yes" }
    hints: { forZones: [ { name: z1 }, { name: z1 } ] }
ports:
  - { name: http, port: 70000 }
  - { name: http, protocol: ICMP, port: 80 }
  - { name: Web_Port, port: 81 }
`, 'bad.yaml');
    expect(errorsOf(r)).toEqual([
      'bad.yaml:4: EndpointSlice/default/bad: addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"',
      'bad.yaml:6: EndpointSlice/default/bad: endpoints[0].addresses: Required value: must contain at least 1 address',
      'bad.yaml:8: EndpointSlice/default/bad: endpoints[1].nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character',
      'bad.yaml:10: EndpointSlice/default/bad: endpoints[2].conditions.ready: Invalid value: "yes": must be a boolean',
      'bad.yaml:11: EndpointSlice/default/bad: endpoints[2].hints.forZones[1].name: Duplicate value: "z1"',
      'bad.yaml:13: EndpointSlice/default/bad: ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
      'bad.yaml:14: EndpointSlice/default/bad: ports[1].name: Duplicate value: "http"',
      'bad.yaml:14: EndpointSlice/default/bad: ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      'bad.yaml:15: EndpointSlice/default/bad: ports[2].name: Invalid value: "Web_Port": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character',
    ]);
    const v4 = parseManifests(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bad }
addressType: IPv4
endpoints:
  - addresses: [ 10.0.0.300 ]
  - addresses: [ 127.0.0.1 ]
  - addresses: [ 169.254.169.254 ]
`, 'v4.yaml');
    expect(errorsOf(v4)).toEqual([
      'v4.yaml:6: EndpointSlice/default/bad: endpoints[0].addresses[0]: Invalid value: "10.0.0.300": must be a valid IPv4 address',
      'v4.yaml:7: EndpointSlice/default/bad: endpoints[1].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'v4.yaml:8: EndpointSlice/default/bad: endpoints[2].addresses[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
    ]);
    const unused = parseManifests(`${PODS}apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: nolabel }
addressType: IPv4
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-v6, labels: { kubernetes.io/service-name: web } }
addressType: IPv6
endpoints: [ { addresses: [ "fd00::5" ] } ]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: other-1, labels: { kubernetes.io/service-name: other } }
addressType: IPv4
`, 'u.yaml');
    expect(warningsOf(unused).filter((w) => w.includes('EndpointSlice/'))).toEqual([
      'u.yaml:22: EndpointSlice/default/nolabel: metadata.labels: no "kubernetes.io/service-name" label: kube-proxy ignores the slice',
      'u.yaml:28: EndpointSlice/default/web-v6: addressType: "IPv6": podwire emulates IPv4 only, the slice is not used',
      'u.yaml:33: EndpointSlice/default/other-1: metadata.labels: Service "default/other" is not among the objects: the slice is not used',
    ]);
    // No IPv4 slice for web: its endpoints stay the selector's.
    expect(planCluster(ok(unused)).services.find((s) => s.name === 'web')!.endpoints).toEqual(['a', 'b']);
  });
});
