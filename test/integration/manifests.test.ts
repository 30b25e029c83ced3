/**
 * Kubernetes manifests through the front doors: `podwire trace` and `podwire validate` on a
 * directory of manifests (via the CLI's main()), and a `kubectl get -A -o yaml` dump of the
 * same cluster loading into the same pods and services.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterFromTopology, loadTopology } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import { Cluster } from '../../src/kube/cluster.js';
import { planCluster } from '../../src/kube/plan.js';
import { endpointChainName } from '../../src/kube/proxy-names.js';
import { runTraces } from '../../src/kube/trace.js';
import type { ClusterPlan, ProxyMode, Topology } from '../../src/kube/types.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/addr.js';
import { DnsType } from '../../src/wire/dns.js';
import { get } from './cluster-util.js';

const GUESTBOOK = 'examples/k8s/guestbook';
const DUMP = 'examples/k8s/guestbook-dump.yaml';
const tmp = mkdtempSync(join(tmpdir(), 'podwire-manifests-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = runCli;

interface Hop { node: string; netns: string; action: string; detail: Record<string, unknown> }
interface Journey { delivered: boolean; hops: Hop[] }

describe('podwire trace on a directory of manifests', () => {
  it('client -> Service web (a Deployment of 3) over TCP 80: the SYN reaches one replica and the SYN-ACK comes back', async () => {
    const topo = await loadTopology(GUESTBOOK);
    const replicas = topo.pods.filter((p) => p.labels['tier'] === 'frontend').map((p) => p.name);
    expect(replicas).toHaveLength(3);
    const r = await run('trace', GUESTBOOK, '--from', 'client', '--to', 'web', '--proto', 'tcp', '--port', '80', '--json');
    expect(r.code).toBe(0);
    const { request, reply } = JSON.parse(r.out) as { request: Journey; reply: Journey | null };
    expect(request.delivered).toBe(true);
    const at = request.hops.filter((h) => h.action === 'deliver').at(-1)!;
    expect(replicas).toContain(at.netns);
    expect(reply?.delivered).toBe(true);
    expect(reply!.hops[0]!.netns).toBe(at.netns);
    expect(reply!.hops.filter((h) => h.action === 'deliver').at(-1)!.netns).toBe('client');
  });

  it('the StatefulSet\'s Service (targetPort by name) answers a frontend pod from redis-0 or redis-1; the client is refused by the NetworkPolicy redis-from-frontend', async () => {
    const topo = await loadTopology(GUESTBOOK);
    const frontend = topo.pods.find((p) => p.labels['tier'] === 'frontend')!.name;
    const redis = await run('trace', GUESTBOOK, '--from', frontend, '--to', 'redis', '--proto', 'tcp', '--port', '6379', '--json');
    expect(redis.code).toBe(0);
    const j = JSON.parse(redis.out) as { request: Journey };
    expect(['redis-0', 'redis-1']).toContain(j.request.hops.filter((h) => h.action === 'deliver').at(-1)!.netns);
    const refused = await run('trace', GUESTBOOK, '--from', 'client', '--to', 'redis', '--proto', 'tcp', '--port', '6379', '--json');
    const k = JSON.parse(refused.out) as { request: Journey & { dropReason: string | null } };
    expect(k.request.dropReason).toBe('policy-denied');
    expect(String(k.request.hops.find((h) => h.action === 'policy' && h.detail['verdict'] === 'denied')?.detail['reason'])).toMatch(/^(egress of default\/client not isolated; )?ingress of default\/redis-[01] isolated by default\/redis-from-frontend; denied: no rule allows TCP\/6379 from default\/client$/);
  });
});

describe('podwire rules on manifests', () => {
  it("kube-proxy's rules for the manifests' Services, the NodePort among them", async () => {
    const r = await run('rules', GUESTBOOK, '--node', 'node1');
    expect(r.code).toBe(0);
    expect(r.out).toContain('default/web:http cluster IP');
    expect(r.out).toMatch(/--dport 30080 .*KUBE-EXT-/);
  });
});

describe('podwire validate on manifests', () => {
  it('a valid directory: the counts (the headless service among them), ignored kinds as warnings', async () => {
    const r = await run('validate', GUESTBOOK);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${GUESTBOOK}: valid (2 nodes, 6 pods, 4 services); list what it allocates: podwire inspect ${GUESTBOOK}`);
    expect(r.err).toContain('warning: ignored (podwire models the network only): 1 ConfigMap');
    expect(r.err).not.toContain('redis-headless'); // headless services are modelled (clusterIP: None), no warning
  });

  it('an invalid manifest: file:line: Kind/ns/name: field.path: message, exit 1', async () => {
    const file = join(tmp, 'deploy.yaml');
    writeFileSync(file, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: -1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [ { name: c } ] }
`);
    const r = await run('validate', file);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${file}:6: Deployment/default/web: spec.replicas: -1 must be >= 0\n1 error`);
    const broken = join(tmp, 'broken.yaml');
    writeFileSync(broken, 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [ { name: c } ] }\n---\nkind: [ Service\n');
    const b = await run('validate', broken);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(new RegExp(`^${broken.replace(/[.]/g, '\\.')}:7: YAML syntax error at line 7`));
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'not a manifest');
    const e = await run('validate', empty);
    expect(e.code).toBe(1);
    expect(e.err).toContain(`no objects in ${JSON.stringify(empty)}`);
    const t = await run('trace', file, '--from', 'a', '--to', 'b');
    expect(t.code).toBe(1);
    expect(t.err).toContain(`${file}:6: Deployment/default/web: spec.replicas: -1 must be >= 0`);
  });
});

/** A plan in a form that does not depend on object order (veth numbers do: they follow pod order per node). */
function shape(p: ClusterPlan): unknown {
  const key = (x: { namespace: string; name: string }): string => `${x.namespace}/${x.name}`;
  return {
    cluster: p.cluster, podCIDR: p.podCIDR, serviceCIDR: p.serviceCIDR, nodeCIDR: p.nodeCIDR,
    nodes: p.nodes.map((n) => ({ name: n.name, ip: n.ip, podCIDR: n.podCIDR })),
    pods: [...p.pods].sort((a, b) => key(a).localeCompare(key(b))).map((x) => ({ name: x.name, namespace: x.namespace, node: x.node, ip: x.ip, labels: x.labels, apps: x.apps, system: x.system })),
    services: [...p.services].sort((a, b) => key(a).localeCompare(key(b))).map((s) => ({ ...s, endpoints: [...s.endpoints].sort() })),
  };
}

describe('a kubectl dump of the cluster', () => {
  it('loads into the same pods and services as the manifests it was made from', async () => {
    const fromManifests: Topology = await loadTopology(GUESTBOOK);
    const fromDump: Topology = await loadTopology(DUMP);
    const a = shape(planCluster(fromManifests)) as { pods: unknown[]; services: unknown[] };
    const b = shape(planCluster(fromDump));
    expect(a.pods).toHaveLength(7); // 6 + podwire's kube-dns
    expect(a.services).toHaveLength(5);
    expect(b).toEqual(a);
    expect(fromDump.kubernetes?.zones).toEqual({ node1: 'zone-a', node2: 'zone-b' });
    expect(fromDump.kubernetes?.services).toEqual([]);
  });
});

describe('the library front door', () => {
  it('clusterFromTopology takes manifests text too, with the stored objects', () => {
    const c = clusterFromTopology(`apiVersion: v1
kind: Pod
metadata: { name: p1, labels: { app: a } }
spec: { containers: [ { name: c, ports: [ { containerPort: 80 } ] } ] }
---
apiVersion: v1
kind: Secret
metadata: { name: s }
`);
    try {
      expect(c.plan.pods.filter((p) => !p.system).map((p) => [p.name, p.apps])).toEqual([['p1', [{ type: 'http', port: 80 }]]]);
      expect(c.topology.kubernetes?.ignored).toEqual({ Secret: 1 });
    } finally {
      c.close();
    }
  });
});

describe('named targetPorts resolved per pod (examples/k8s/named-ports)', () => {
  // Kubernetes: the EndpointSlice controller resolves `targetPort: http` on each pod
  // (getEndpointPorts -> FindPort): web-v1's pod is an endpoint at 8080, web-v2's at 9090,
  // and the legacy pod, which names no port "http", is no endpoint of web:http; it stays one
  // of web:admin (targetPort 7000).
  const DIR = 'examples/k8s/named-ports';
  const load = async (mode: ProxyMode): Promise<{ c: Cluster; ip: (version: string) => string; legacy: string }> => {
    const t = await loadTopology(DIR);
    t.cluster.proxyMode = mode;
    const c = new Cluster(t);
    const ipOf = (version: string): string => formatIpv4(c.plan.pods.find((p) => p.labels['version'] === version)!.ip);
    return { c, ip: ipOf, legacy: formatIpv4(c.pod('legacy').plan.ip) };
  };

  it('podwire rules: each KUBE-SEP of web:http DNATs to its own pod\'s port; the legacy pod only under web:admin', async () => {
    const { c, ip, legacy } = await load('iptables');
    try {
      const nat = nodeRules(c, { node: 'node1', service: 'web' });
      for (const [v, port] of [['v1', 8080], ['v2', 9090]] as const) {
        const sep = endpointChainName('default/web:http', 'tcp', `${ip(v)}:${port}`);
        expect(nat).toContain(`-A ${sep} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination ${ip(v)}:${port}`);
      }
      expect(nat).not.toContain(`"default/web:http -> ${legacy}`);
      expect(nat).toContain(`-j DNAT --to-destination ${legacy}:7000`);
      expect(nat.split('\n').filter((l) => l.includes('"default/web:admin -> ')).length).toBe(3);
      expect(nat.split('\n').filter((l) => l.includes('"default/web:http -> ')).length).toBe(2);
    } finally {
      c.close();
    }
  });

  it('traces from the client spread over both backends, each at its port and delivered; HTTP GETs get answers from both', async () => {
    const { c, ip } = await load('iptables');
    try {
      const r = runTraces(c, { from: 'client', to: 'web', proto: 'tcp', port: 80 }, 24);
      expect(r.spread.map((s) => s.endpoint).sort()).toEqual([`${ip('v1')}:8080`, `${ip('v2')}:9090`].sort());
      for (const s of r.spread) expect(s.delivered, s.endpoint).toBe(s.flows);
      const vip = c.plan.services.find((s) => s.name === 'web')!.clusterIP;
      const client = c.pod('client').ns;
      const bodies = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await get(c, client, vip, 80);
        expect(res.status).toBe(200);
        bodies.add(res.body.trim());
      }
      const backends = c.plan.pods.filter((p) => p.labels['version'] !== undefined).map((p) => p.name);
      expect([...bodies].sort()).toEqual(backends.sort());
    } finally {
      c.close();
    }
  });

  it('the headless Service\'s SRV records name each pod at its own port, the legacy pod not at all', async () => {
    const { c, ip } = await load('iptables');
    try {
      const srv = c.services.records.answer('_http._tcp.web-headless.default.svc.cluster.local', DnsType.SRV);
      const byAddress = new Map(srv.additional.map((r) => [(r.data as { target?: string; address?: number }).address, r.name]));
      const got = srv.answers.map((r) => r.data as { port: number; target: string }).map((d) => [d.port, d.target]);
      expect(got.sort()).toEqual([
        [8080, byAddress.get(parseIpv4(ip('v1')))], [9090, byAddress.get(parseIpv4(ip('v2')))],
      ].sort());
      expect(srv.additional).toHaveLength(2);
    } finally {
      c.close();
    }
  });

  it('IPVS and nftables modes: the same endpoints at the same ports', async () => {
    for (const mode of ['ipvs', 'nftables'] as const) {
      const { c, ip, legacy } = await load(mode);
      try {
        const text = nodeRules(c, { node: 'node1', service: 'web' });
        if (mode === 'ipvs') {
          const reals = text.split('\n').filter((l) => l.startsWith('  -> ')).map((l) => l.trim().split(/\s+/)[1]);
          expect(reals).toEqual(expect.arrayContaining([`${ip('v1')}:8080`, `${ip('v2')}:9090`, `${legacy}:7000`]));
          expect(reals).not.toContain(`${legacy}:80`);
        } else {
          expect(text).toContain(`dnat to ${ip('v1')}:8080`);
          expect(text).toContain(`dnat to ${ip('v2')}:9090`);
          expect(text).not.toMatch(new RegExp(`tcp/http__${legacy.replace(/\./g, '\\.')}/`));
        }
        const vip = c.plan.services.find((s) => s.name === 'web')!.clusterIP;
        const bodies = new Set<string>();
        for (let i = 0; i < 4; i++) bodies.add((await get(c, c.pod('client').ns, vip, 80)).body.trim());
        expect(bodies.size, mode).toBe(2);
      } finally {
        c.close();
      }
    }
  });
});
