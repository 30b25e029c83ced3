import { describe, expect, it } from 'vitest';
import { planCluster } from '../plan.js';
import { formatTopologyError } from '../topology.js';
import type { Topology } from '../types.js';
import { loadManifests, parseManifests } from './index.js';
import type { ManifestResult } from './index.js';
import { NAME_ALPHABET, NameGenerator, fnv32a, podTemplateHash, safeEncodeString } from './names.js';

const ok = (r: ManifestResult): Topology => {
  if (!r.ok) throw new Error(r.errors.map((e) => formatTopologyError(e, { location: true })).join('\n'));
  return r.topology;
};
const errorsOf = (r: ManifestResult): string[] => (r.ok ? [] : r.errors.map((e) => formatTopologyError(e, { location: true })));
const warningsOf = (r: ManifestResult): string[] => r.warnings.map((e) => formatTopologyError(e, { location: true }));
const podNames = (t: Topology): string[] => t.pods.map((p) => p.name);
const C = `[${NAME_ALPHABET}]`;

const DEPLOY = (replicas: unknown = 3): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${String(replicas)}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: c
          image: nginx
          ports:
            - { name: http, containerPort: 8080 }
            - { containerPort: 53, protocol: UDP }
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
`;

describe('names (Kubernetes naming, seeded)', () => {
  it('fnv32a matches the FNV-1a reference vectors; SafeEncodeString maps each digit through the alphabet', () => {
    // FNV-1a 32-bit test vectors (Landon Curt Noll's fnv test suite): "" and "a", "foobar".
    expect(fnv32a(new Uint8Array())).toBe(0x811c9dc5);
    expect(fnv32a(new TextEncoder().encode('a'))).toBe(0xe40c292c);
    expect(fnv32a(new TextEncoder().encode('foobar'))).toBe(0xbf9cf968);
    // '0' is 48, 48 % 27 = 21 -> '4'; '1' -> '5'; '9' is 57 % 27 = 3 -> 'f'.
    expect(safeEncodeString('019')).toBe('45f');
  });

  it('pod-template-hash depends on the template and the collision count only', () => {
    const t = { metadata: { labels: { app: 'web', tier: 'x' } }, spec: { containers: [{ name: 'c' }] } };
    const same = { spec: { containers: [{ name: 'c' }] }, metadata: { labels: { tier: 'x', app: 'web' } } };
    expect(podTemplateHash(t)).toBe(podTemplateHash(same));
    expect(podTemplateHash(t)).toMatch(new RegExp(`^${C}{1,10}$`));
    expect(podTemplateHash(t, 1)).not.toBe(podTemplateHash(t));
    expect(podTemplateHash({ ...t, spec: { containers: [{ name: 'd' }] } })).not.toBe(podTemplateHash(t));
  });

  it('generated names are base + 5 characters of the alphabet, the same for the same seed and workload', () => {
    const a = new NameGenerator(1, 'ReplicaSet/default/x');
    const b = new NameGenerator(1, 'ReplicaSet/default/x');
    const names = [a.generate('x-'), a.generate('x-')];
    expect([b.generate('x-'), b.generate('x-')]).toEqual(names);
    for (const n of names) expect(n).toMatch(new RegExp(`^x-${C}{5}$`));
    expect(new NameGenerator(2, 'ReplicaSet/default/x').generate('x-')).not.toBe(names[0]);
    expect(new NameGenerator(1, 'x').generate('a'.repeat(70))).toHaveLength(63);
  });
});

describe('reading manifests', () => {
  it('multi-document YAML: a Deployment becomes 3 pods <name>-<hash>-<5>, labelled with pod-template-hash', () => {
    const t = ok(parseManifests(`${DEPLOY()}---\n${SERVICE}`, 'app.yaml'));
    expect(t.pods).toHaveLength(3);
    const hash = t.pods[0]!.labels['pod-template-hash']!;
    for (const p of t.pods) {
      expect(p.name).toMatch(new RegExp(`^web-${hash}-${C}{5}$`));
      expect(p.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
      // every declared containerPort listens: TCP with the HTTP app, UDP with echo
      expect(p.apps).toEqual([{ type: 'http', port: 8080 }, { type: 'udp-echo', port: 53 }]);
    }
    expect(new Set(podNames(t)).size).toBe(3);
    // the named targetPort stays a name: each pod resolves it (FindPort) when endpoints are computed
    expect(t.services[0]!.ports[0]!.targetPort).toBe('http');
    // same input, same names
    expect(podNames(ok(parseManifests(`${DEPLOY()}---\n${SERVICE}`, 'app.yaml')))).toEqual(podNames(t));
  });

  it('a duplicate key is a YAML error with its line and column (found without yaml\'s quadratic check), in any document', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: { name: p1 }\n---\napiVersion: v1\nkind: Pod\nmetadata: { name: p2, name: p3 }\nspec: {}\nspec: {}\n';
    const r = parseManifests(text, 'dup.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.filter((e) => e.message.startsWith('YAML')).map((e) => `${e.source}:${e.line}: ${e.message}`)).toEqual([
      'dup.yaml:7: YAML syntax error at line 7, column 23: Map keys must be unique',
      'dup.yaml:9: YAML syntax error at line 9, column 1: Map keys must be unique',
    ]);
  });

  it('JSON, a v1 List, and a kind: List with items', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', labels: { a: 'b' } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] } };
    const t = ok(parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod, { ...pod, metadata: { name: 'p2' } }] }), 'list.json'));
    expect(podNames(t)).toEqual(['p1', 'p2']);
    expect(t.pods[0]!.labels).toEqual({ a: 'b' });
    expect(ok(parseManifests(JSON.stringify(pod), 'pod.json')).pods[0]!.name).toBe('p1');
  });

  it('a directory: files in sorted order; objects podwire does not model are listed once; NetworkPolicy stored', async () => {
    const r = await loadManifests('examples/k8s/guestbook');
    const t = ok(r);
    expect(podNames(t)[0]).toBe('client'); // client.yaml sorts before frontend.yaml and redis.yaml
    expect(podNames(t).slice(4)).toEqual(['redis-0', 'redis-1']);
    expect(warningsOf(r).filter((w) => w.includes('ignored'))).toEqual(['ignored (podwire models the network only): 1 ConfigMap']);
    expect(r.ok && r.objects?.networkPolicies.map((n) => (n['metadata'] as { name: string }).name)).toEqual(['redis-from-frontend']);
    expect(r.ok && r.objects?.services).toEqual([]); // headless is in the model now
    expect(t.services.find((s) => s.name === 'redis-headless')).toMatchObject({ clusterIP: 'None' });
    expect(t.pods.find((p) => p.name === 'redis-1')).toMatchObject({ hostname: 'redis-1', subdomain: 'redis-headless' });
    expect(r.ok && r.objects?.hostnames['default/redis-1']).toEqual({ hostname: 'redis-1', subdomain: 'redis-headless' });
  });

  it('Nodes: name, spec.podCIDR, the InternalIP, the zone label; nodeCIDR derived from the addresses', () => {
    const node = (name: string, ip: string, cidr: string, zone: string): string => `apiVersion: v1
kind: Node
metadata: { name: ${name}, labels: { topology.kubernetes.io/zone: ${zone} } }
spec: { podCIDR: ${cidr} }
status:
  addresses: [ { type: Hostname, address: ${name} }, { type: InternalIP, address: ${ip} } ]
`;
    const r = parseManifests([node('kind-worker', '172.18.0.3', '10.244.1.0/24', 'a'), node('kind-worker2', '172.18.0.4', '10.244.2.0/24', 'b')].join('---\n'), 'nodes.yaml');
    const t = ok(r);
    expect(t.nodes.map((n) => [n.name, n.ip, n.podCIDR])).toEqual([['kind-worker', '172.18.0.3', '10.244.1.0/24'], ['kind-worker2', '172.18.0.4', '10.244.2.0/24']]);
    expect(t.cluster.nodeCIDR).toBe('172.18.0.0/24');
    expect(r.ok && r.objects?.zones).toEqual({ 'kind-worker': 'a', 'kind-worker2': 'b' });
    expect(t.nodes.map((n) => n.zone)).toEqual(['a', 'b']);
  });

  it('Services: spec.trafficDistribution is kept; an unknown value is an error', () => {
    const td = (v: string): string => `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { selector: { app: web }, trafficDistribution: ${v}, ports: [ { port: 80 } ] }
`;
    expect(ok(parseManifests(td('PreferSameNode'), 's.yaml')).services[0]!.trafficDistribution).toBe('PreferSameNode');
    expect(errorsOf(parseManifests(td('Nearby'), 's.yaml')).join('\n')).toContain('spec.trafficDistribution: "Nearby": supported values');
  });

  it('Pods: spec.nodeName, status.podIP, generateName; StatefulSet <name>-0..n-1; DaemonSet one pod per untainted node', () => {
    const r = parseManifests(`apiVersion: v1
kind: Node
metadata: { name: cp }
spec: { taints: [ { key: node-role.kubernetes.io/control-plane, effect: NoSchedule } ] }
---
apiVersion: v1
kind: Node
metadata: { name: w1 }
---
apiVersion: v1
kind: Node
metadata: { name: w2 }
---
apiVersion: v1
kind: Pod
metadata: { name: fixed }
spec: { nodeName: cp, containers: [ { name: c } ] }
status: { podIP: 10.244.1.9 }
---
apiVersion: v1
kind: Pod
metadata: { generateName: gen- }
spec: { containers: [ { name: c } ] }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db }
spec:
  replicas: 3
  serviceName: db
  selector: { matchLabels: { app: db } }
  template: { metadata: { labels: { app: db } }, spec: { containers: [ { name: c } ] } }
---
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent }
spec:
  selector: { matchLabels: { app: agent } }
  template: { metadata: { labels: { app: agent } }, spec: { containers: [ { name: c } ] } }
`, 'mix.yaml');
    const t = ok(r);
    const at = (n: string): string | undefined => t.pods.find((p) => p.name === n)?.node;
    expect(at('fixed')).toBe('cp');
    expect(t.pods.find((p) => p.name === 'fixed')!.ip).toBe('10.244.1.9');
    expect(t.pods.some((p) => new RegExp(`^gen-${C}{5}$`).test(p.name))).toBe(true);
    expect(podNames(t).filter((n) => n.startsWith('db-'))).toEqual(['db-0', 'db-1', 'db-2']);
    expect(t.pods.find((p) => p.name === 'db-1')!.labels).toEqual({ app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-1', 'apps.kubernetes.io/pod-index': '1' });
    const agents = t.pods.filter((p) => p.name.startsWith('agent-'));
    expect(agents.map((p) => p.node)).toEqual(['w1', 'w2']); // not on the tainted control plane
    // Scheduling: nothing lands on the tainted node; the others spread, fewest pods first.
    const free = t.pods.filter((p) => p.name !== 'fixed');
    expect(free.every((p) => p.node !== 'cp')).toBe(true);
    const perNode = (n: string): number => free.filter((p) => p.node === n).length;
    expect(Math.abs(perNode('w1') - perNode('w2'))).toBeLessThanOrEqual(1);
  });

  it('scheduling: fewest pods first, ties by node order (podwire\'s kube-dns on the first node counts)', () => {
    const t = ok(parseManifests(`apiVersion: v1\nkind: Node\nmetadata: { name: a }\n---\napiVersion: v1\nkind: Node\nmetadata: { name: b }\n---\n${DEPLOY(4)}`, 'd.yaml'));
    // a holds kube-dns-1: the first replica goes to b, then a (tie: node order), b, a.
    expect(t.pods.map((p) => p.node)).toEqual(['b', 'a', 'b', 'a']);
  });

  it('workloads whose pods are among the objects (a kubectl dump) are not expanded again', () => {
    const t = ok(parseManifests(`${DEPLOY(2)}---
apiVersion: apps/v1
kind: ReplicaSet
metadata: { name: web-abc, ownerReferences: [ { kind: Deployment, name: web } ] }
spec: { replicas: 1, selector: { matchLabels: { app: web } }, template: { metadata: { labels: { app: web } }, spec: { containers: [ { name: c } ] } } }
---
apiVersion: v1
kind: Pod
metadata: { name: web-abc-xyz12, labels: { app: web }, ownerReferences: [ { kind: ReplicaSet, name: web-abc } ] }
spec: { containers: [ { name: c } ] }
`, 'dump.yaml'));
    expect(podNames(t)).toEqual(['web-abc-xyz12']);
  });

  it('Services: ClusterIP, NodePort, sessionAffinity ClientIP with the default 10800 s, externalTrafficPolicy', () => {
    const t = ok(parseManifests(`${DEPLOY()}---
apiVersion: v1
kind: Service
metadata: { name: np }
spec:
  type: NodePort
  selector: { app: web }
  sessionAffinity: ClientIP
  externalTrafficPolicy: Local
  ports: [ { port: 80, targetPort: 8080, nodePort: 30080 } ]
---
apiVersion: v1
kind: Service
metadata: { name: vip }
spec:
  clusterIP: 10.96.0.50
  sessionAffinity: ClientIP
  sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }
  selector: { app: web }
  ports: [ { name: dns, port: 53, protocol: UDP }, { name: http, port: 80, targetPort: "8080" } ]
`, 's.yaml'));
    const [np, vip] = t.services;
    expect(np).toMatchObject({ type: 'NodePort', sessionAffinity: 'ClientIP', sessionAffinityTimeout: 10800, externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }] });
    expect(vip).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.50', sessionAffinityTimeout: 60, ports: [{ port: 53, targetPort: 53, protocol: 'UDP' }, { port: 80, targetPort: 8080 }] });
  });

  it('Services: LoadBalancer with its status.loadBalancer.ingress IPs, externalIPs, internalTrafficPolicy', () => {
    const r = parseManifests(`${DEPLOY()}---
apiVersion: v1
kind: Service
metadata: { name: lb }
spec:
  type: LoadBalancer
  selector: { app: web }
  externalIPs: [ 203.0.113.10 ]
  internalTrafficPolicy: Local
  ports: [ { port: 80, targetPort: 8080 } ]
status:
  loadBalancer: { ingress: [ { ip: 198.51.100.7 }, { hostname: lb.example.com } ] }
`, 'lb.yaml');
    const t = ok(r);
    expect(t.services[0]).toMatchObject({
      type: 'LoadBalancer', externalIPs: ['203.0.113.10'], loadBalancerIPs: ['198.51.100.7'], internalTrafficPolicy: 'Local',
    });
    expect(warningsOf(r).join('\n')).not.toContain('emulated as NodePort');
  });

  it('Services: a LoadBalancer with externalTrafficPolicy Local keeps its spec.healthCheckNodePort', () => {
    const t = ok(parseManifests(`${DEPLOY()}---
apiVersion: v1
kind: Service
metadata: { name: lb }
spec: { type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 32123, selector: { app: web }, ports: [ { port: 80, targetPort: 8080 } ] }
`, 'lb.yaml'));
    expect(t.services[0]!.healthCheckNodePort).toBe(32123);
    expect(planCluster(t).services.find((s) => s.name === 'lb')!.healthCheckNodePort).toBe(32123);
  });

  it('Pods: status.conditions Ready and metadata.deletionTimestamp; Services: publishNotReadyAddresses', () => {
    const pod = (name: string, extra: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { app: web }${extra.startsWith('deletion') ? `, ${extra}` : ''} }
spec: { nodeName: node1, containers: [ { name: c, image: x, ports: [ { containerPort: 8080 } ] } ] }
${extra.startsWith('status') ? extra : ''}
`;
    const r = parseManifests([
      pod('up', 'status: { conditions: [ { type: Ready, status: "True" } ] }'),
      pod('down', 'status: { conditions: [ { type: PodScheduled, status: "True" }, { type: Ready, status: "False" } ] }'),
      pod('going', 'deletionTimestamp: "2026-01-01T00:00:00Z"'),
      pod('plain', ''),
      `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { selector: { app: web }, publishNotReadyAddresses: true, ports: [ { port: 80, targetPort: 8080 } ] }
`,
    ].join('---\n'), 'pods.yaml');
    const t = ok(r);
    const byName = Object.fromEntries(t.pods.map((p) => [p.name, p]));
    expect(byName['up']!.ready).toBeUndefined();
    expect(byName['down']!.ready).toBe(false);
    expect(byName['going']!.terminating).toBe(true);
    expect(byName['plain']!.ready).toBeUndefined();
    expect(byName['plain']!.terminating).toBeUndefined();
    expect(t.services[0]!.publishNotReadyAddresses).toBe(true);
  });

  it('a Service whose selector matches nothing is valid (no endpoints)', () => {
    const r = parseManifests(SERVICE.replace('app: web', 'app: nothing'), 'svc.yaml');
    const t = ok(r);
    expect(planCluster(t).services.find((s) => s.name === 'web')!.endpoints).toEqual([]);
    expect(warningsOf(r).join('\n')).toContain('Service/default/web: spec.selector: {"app":"nothing"} matches no pod');
  });
});

describe('named targetPorts', () => {
  it('stay names in the model, resolved on each pod later: pods that disagree or lack the name are no mistake', async () => {
    const r = await loadManifests('examples/k8s/named-ports');
    const t = ok(r);
    expect(t.services.find((s) => s.name === 'web')!.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'admin', port: 81, targetPort: 7000, protocol: 'TCP' },
    ]);
    expect(warningsOf(r).filter((w) => w.includes('targetPort'))).toEqual([]);
    // Each pod's named ports reach the model (what FindPort reads).
    const v2 = t.pods.find((p) => p.labels['version'] === 'v2')!;
    expect(v2.ports).toEqual([{ name: 'http', containerPort: 9090, protocol: 'TCP' }, { name: 'admin', containerPort: 7000, protocol: 'TCP' }]);
  });

  it('a name no selected pod declares (for the port\'s protocol) is warned about at its line: the port has no endpoints', () => {
    const svc = `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
    - { name: grpc, port: 90, targetPort: grpc }
    - { name: dns, port: 53, targetPort: http, protocol: UDP }
`;
    const r = parseManifests(`${DEPLOY(1)}---\n${svc}`, 'app.yaml');
    ok(r);
    const pod = ok(r).pods.find((p) => p.labels['app'] === 'web')!.name;
    expect(warningsOf(r).filter((w) => w.includes('targetPort'))).toEqual([
      `app.yaml:27: Service/default/web: spec.ports[1].targetPort: "grpc" is not a TCP container port of any selected pod ("${pod}"): the port has no endpoints`,
      `app.yaml:28: Service/default/web: spec.ports[2].targetPort: "http" is not a UDP container port of any selected pod ("${pod}"): the port has no endpoints`,
    ]);
  });

  it('sidecar containers\' ports count, after the containers\' (FindPort\'s order); other init containers\' do not', () => {
    const pod = `apiVersion: v1
kind: Pod
metadata: { name: p, labels: { app: p } }
spec:
  initContainers:
    - { name: setup, ports: [ { name: setup, containerPort: 1000 } ] }
    - { name: proxy, restartPolicy: Always, ports: [ { name: proxy, containerPort: 15001 }, { name: http, containerPort: 15080 } ] }
  containers:
    - { name: app, ports: [ { name: http, containerPort: 8080 } ] }
`;
    const t = ok(parseManifests(pod, 'pod.yaml'));
    expect(t.pods[0]!.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'proxy', containerPort: 15001, protocol: 'TCP' }, { name: 'http', containerPort: 15080, protocol: 'TCP' },
    ]);
  });
});

describe('stored objects', () => {
  it('EndpointSlices and NetworkPolicies are kept as data; a podwire document with bad shapes is an error', () => {
    const r = parseManifests(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-abcde, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints: [ { addresses: [ 10.244.1.2 ], conditions: { ready: true } } ]
ports: [ { port: 80, protocol: TCP } ]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: default }
spec: { podSelector: {}, policyTypes: [ Ingress ] }
`, 'o.yaml');
    expect(ok(r).kubernetes?.endpointSlices.map((e) => (e['metadata'] as { name: string }).name)).toEqual(['web-abcde']);
    expect(ok(r).kubernetes?.networkPolicies).toHaveLength(1);
    expect(errorsOf(parseManifests('cluster: 3\nnodes: { name: a }\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: x }\n', 'p.yaml')))
      .toEqual(['p.yaml:1: cluster: 3 must be a mapping', 'p.yaml:2: nodes: {"name":"a"} must be a list']);
  });
});

describe('NetworkPolicy and Namespace objects', () => {
  it('are enforced: policies, namespace labels and named container ports reach the topology', () => {
    const r = parseManifests(`apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { team: blue } }
---
apiVersion: v1
kind: Pod
metadata: { name: db, namespace: shop, labels: { app: db } }
spec: { containers: [ { name: c, ports: [ { name: sql, containerPort: 5432 }, { containerPort: 53, protocol: UDP } ] } ] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db-from-blue, namespace: shop }
spec: { podSelector: { matchLabels: { app: db } }, ingress: [ { from: [ { namespaceSelector: { matchLabels: { team: blue } } } ], ports: [ { port: sql } ] } ] }
`, 'n.yaml');
    const t = ok(r);
    expect(t.namespaces).toEqual([{ name: 'shop', labels: { team: 'blue' } }]);
    expect(t.networkPolicies?.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(['shop/db-from-blue']);
    expect(t.pods.find((p) => p.name === 'db')?.ports).toEqual([{ name: 'sql', containerPort: 5432, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }]);
  });

  it('a bad policy is refused with file, line, object and its Kubernetes field path', () => {
    const r = parseManifests(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: p, namespace: shop }
spec:
  podSelector: {}
  ingress:
    - from:
        - ipBlock: { cidr: 10.0.0.0/16, except: [ 10.9.0.0/24 ] }
      ports: [ { port: 81, endPort: 80 } ]
`, 'bad.yaml');
    expect(errorsOf(r)).toEqual([
      'bad.yaml:9: NetworkPolicy/shop/p: spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`',
      'bad.yaml:8: NetworkPolicy/shop/p: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.9.0.0/24": must be a strict subset of `cidr`',
    ]);
  });
});

describe('a kind cluster dump', () => {
  it('control plane at 10.244.0.0/24, nodes on 172.18.0.0/24, kindnet/kube-proxy on the host network, CoreDNS skipped', () => {
    const node = (name: string, ip: string, cidr: string, cp: boolean): string => `  - apiVersion: v1
    kind: Node
    metadata: { name: ${name}, labels: { kubernetes.io/hostname: ${name} } }
    spec: { podCIDR: ${cidr}, podCIDRs: [ ${cidr} ], providerID: kind://docker/kind/${name}${cp ? ', taints: [ { effect: NoSchedule, key: node-role.kubernetes.io/control-plane } ]' : ''} }
    status: { addresses: [ { address: ${ip}, type: InternalIP }, { address: ${name}, type: Hostname } ] }
`;
    const pod = (ns: string, name: string, nodeName: string, ip: string, extra = ''): string => `  - apiVersion: v1
    kind: Pod
    metadata: { name: ${name}, namespace: ${ns}, labels: { app: ${name.split('-')[0]} } }
    spec: { nodeName: ${nodeName}, containers: [ { name: c, image: x } ]${extra} }
    status: { phase: Running, podIP: ${ip} }
`;
    const text = `apiVersion: v1
items:
${node('kind-control-plane', '172.18.0.2', '10.244.0.0/24', true)}${node('kind-worker', '172.18.0.3', '10.244.1.0/24', false)}  - apiVersion: v1
    kind: Namespace
    metadata: { name: local-path-storage }
${pod('kube-system', 'coredns-668d6bf9bc-7xkq2', 'kind-control-plane', '10.244.0.3').replace('app: coredns', 'k8s-app: kube-dns')}${pod('kube-system', 'kindnet-5wq8r', 'kind-worker', '172.18.0.3', ', hostNetwork: true')}${pod('local-path-storage', 'local-path-provisioner-7dc846544d-q2xvb', 'kind-control-plane', '10.244.0.2')}${pod('default', 'web-6d4cf56db6-abcde', 'kind-worker', '10.244.1.7')}  - apiVersion: v1
    kind: Service
    metadata: { name: kubernetes, namespace: default }
    spec: { clusterIP: 10.96.0.1, ports: [ { name: https, port: 443, targetPort: 6443 } ], type: ClusterIP }
  - apiVersion: v1
    kind: Service
    metadata: { name: kube-dns, namespace: kube-system }
    spec: { clusterIP: 10.96.0.10, selector: { k8s-app: kube-dns }, ports: [ { name: dns, port: 53, protocol: UDP, targetPort: 53 } ] }
  - apiVersion: v1
    kind: Service
    metadata: { name: web, namespace: default }
    spec: { clusterIP: 10.96.114.20, selector: { app: web }, ports: [ { port: 80, targetPort: 8080 } ] }
kind: List
metadata: { resourceVersion: "" }
`;
    const r = parseManifests(text, 'kind.yaml');
    const t = ok(r);
    expect(t.cluster.nodeCIDR).toBe('172.18.0.0/24');
    expect(t.nodes.map((n) => [n.name, n.ip, n.podCIDR])).toEqual([['kind-control-plane', '172.18.0.2', '10.244.0.0/24'], ['kind-worker', '172.18.0.3', '10.244.1.0/24']]);
    expect(t.pods.map((p) => `${p.namespace}/${p.name}@${p.node}=${p.ip}`)).toEqual([
      'local-path-storage/local-path-provisioner-7dc846544d-q2xvb@kind-control-plane=10.244.0.2',
      'default/web-6d4cf56db6-abcde@kind-worker=10.244.1.7',
    ]);
    expect(t.services.map((s) => `${s.namespace}/${s.name}=${s.clusterIP}`)).toEqual(['default/web=10.96.114.20']);
    const plan = planCluster(t);
    expect(plan.services.find((s) => s.name === 'web')!.endpoints).toEqual(['web-6d4cf56db6-abcde']);
    expect(warningsOf(r).filter((w) => /hostNetwork|kube-dns/.test(w))).toHaveLength(3);
  });
});

describe("podwire's annotations and nodes", () => {
  it('podwire.io/apps replaces the apps of the container ports; podwire.io/attach-netns attaches a real namespace', () => {
    const t = ok(parseManifests(`${DEPLOY(1).replace('      labels: { app: web }', '      labels: { app: web }\n      annotations: { podwire.io/apps: "tcp-echo:7, udp-echo:5353" }')}---
apiVersion: v1
kind: Pod
metadata: { name: real, annotations: { podwire.io/attach-netns: pw-manifests-a } }
spec: { containers: [ { name: c, ports: [ { containerPort: 80 } ] } ] }
`, 'a.yaml'));
    expect(t.pods[0]!.apps).toEqual([{ type: 'tcp-echo', port: 7 }, { type: 'udp-echo', port: 5353 }]);
    expect(t.pods[1]).toMatchObject({ name: 'real', apps: [], attach: { netns: 'pw-manifests-a' } });
    expect(errorsOf(parseManifests(`apiVersion: v1\nkind: Pod\nmetadata: { name: p, annotations: { podwire.io/apps: "ftp:21" } }\nspec: { containers: [ { name: c } ] }\n`, 'b.yaml')))
      .toEqual(['b.yaml:3: Pod/default/p: metadata.annotations["podwire.io/apps"]: "ftp:21" must be TYPE:PORT with TYPE http, tcp-echo or udp-echo']);
  });

  it("without Node objects, podwire's nodes: (external ones get no pods), else node1 and node2", () => {
    const t = ok(parseManifests(`nodes:
  - { name: n1 }
  - { name: far, external: true, podCIDR: 10.244.9.0/24, vtepIP: 192.168.56.99, vtepMAC: "02:00:00:00:00:99" }
---
${DEPLOY(3)}`, 'n.yaml'));
    expect(t.nodes.map((n) => n.name)).toEqual(['n1', 'far']);
    expect(t.pods.map((p) => p.node)).toEqual(['n1', 'n1', 'n1']);
    expect(ok(parseManifests(DEPLOY(1), 'd.yaml')).nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
  });
});

describe('errors name file:line, the object and its field path', () => {
  it('spec.replicas: -1', () => {
    const r = parseManifests(`# header\n${SERVICE}---\n${DEPLOY(-1)}`, 'deploy.yaml');
    // the Service is lines 2-8, the Deployment starts at line 10; replicas is its 6th line
    expect(errorsOf(r)).toEqual(['deploy.yaml:15: Deployment/default/web: spec.replicas: -1 must be >= 0']);
  });

  it('conflicting NodePorts, in Kubernetes\' words; out of range; nodePort on a ClusterIP service', () => {
    const svc = (name: string, np: number, type = 'NodePort'): string => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  type: ${type}\n  ports:\n    - port: 80\n      nodePort: ${np}\n`;
    expect(errorsOf(parseManifests([svc('a', 30080), svc('b', 30080), svc('c', 29999), svc('d', 30001, 'ClusterIP')].join('---\n'), 'np.yaml'))).toEqual([
      'np.yaml:17: Service/default/b: spec.ports[0].nodePort: 30080: provided port is already allocated',
      'np.yaml:26: Service/default/c: spec.ports[0].nodePort: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767',
      "np.yaml:35: Service/default/d: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ]);
  });

  it('sessionAffinityConfig timeout out of 1..86400, selector not matching the template, bad containerPort', () => {
    const r = parseManifests(`apiVersion: v1
kind: Service
metadata: { name: s }
spec:
  sessionAffinity: ClientIP
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: 86401
  ports: [ { port: 80 } ]
---
${DEPLOY().replace('matchLabels: { app: web }', 'matchLabels: { app: other }')}---
apiVersion: v1
kind: Pod
metadata: { name: p, namespace: team }
spec:
  containers:
    - name: c
      ports:
        - containerPort: 70000
`, 'bad.yaml');
    expect(errorsOf(r)).toEqual([
      'bad.yaml:21: Deployment/default/web: spec.template.metadata.labels: `selector` does not match template `labels`',
      'bad.yaml:37: Pod/team/p: spec.containers[0].ports[0].containerPort: 70000 must be between 1 and 65535, inclusive',
      'bad.yaml:8: Service/default/s: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401: must be greater than 0 and less than 86400',
    ]);
  });

  it("podwire's own checks are mapped onto the objects: a nodeName that is not a node, a clusterIP outside the range", () => {
    const r = parseManifests(`apiVersion: v1
kind: Pod
metadata: { name: p }
spec:
  nodeName: node9
  containers: [ { name: c } ]
---
apiVersion: v1
kind: Service
metadata: { name: s }
spec:
  clusterIP: 10.200.0.1
  ports: [ { port: 80 } ]
---
cluster:
  serviceCIDR: 10.96.0.0/12
`, 'x.yaml');
    expect(errorsOf(r)).toEqual([
      'x.yaml:5: Pod/default/p: spec.nodeName: "node9" is not a node',
      'x.yaml:12: Service/default/s: spec.clusterIP: "10.200.0.1" is outside cluster.serviceCIDR 10.96.0.0/12',
    ]);
  });

  it('a podwire cluster document sets the cluster section; its mistakes point into it', () => {
    const t = ok(parseManifests(`cluster: { proxyMode: ipvs, overlay: routed, seed: 7 }\n---\n${DEPLOY(1)}`, 'c.yaml'));
    expect(t.cluster).toMatchObject({ proxyMode: 'ipvs', overlay: 'routed', seed: 7 });
    expect(t.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    const bad = errorsOf(parseManifests(`${DEPLOY(1)}---\ncluster:\n  proxyMode: bogus\n`, 'c.yaml'));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^c\.yaml:21: cluster\.proxyMode: "bogus" must be one of iptables, ipvs/);
  });
});
