/**
 * healthCheckNodePort: kube-proxy's per-service health check server on every node, for a
 * LoadBalancer service with externalTrafficPolicy Local (pkg/proxy/healthcheck), asked over
 * the emulated network as a cloud load balancer asks it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { httpGet, type HttpResponse } from '../../src/apps/http.js';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { healthCheckAnswer } from '../../src/kube/health-check.js';
import { parseTopology } from '../../src/kube/topology.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');

/** GET http://<node>:<port>/healthz from `from` (a pod), in virtual time. */
async function healthz(c: Cluster, from: string, node: string, port: number): Promise<HttpResponse> {
  const pr = httpGet(c.pod(from).ns, c.node(node).plan.ip, port, '/healthz', { timeoutMs: 3000 });
  c.engine.advance(5000);
  return pr;
}

describe('healthCheckNodePort (LoadBalancer, externalTrafficPolicy Local)', () => {
  it('is allocated like a NodePort (or taken as given) and only for LoadBalancer + Local', () => {
    const c = clusterFromTopology(demo);
    try {
      const lb = c.addService({ name: 'lb', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
      expect(lb.healthCheckNodePort).toBe(lb.ports[0]!.nodePort! + 1);
      const given = c.addService({ name: 'lb2', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], healthCheckNodePort: 31500 });
      expect(given.healthCheckNodePort).toBe(31500);
      expect(c.addService({ name: 'lb3', type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80 }] }).healthCheckNodePort).toBeUndefined();
      expect(() => c.addService({ name: 'np', type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80 }], healthCheckNodePort: 31501 }))
        .toThrow('may only be set when type is LoadBalancer and externalTrafficPolicy is Local');
      c.removeService('lb2');
      expect(c.addService({ name: 'lb4', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80 }], healthCheckNodePort: 31500 }).healthCheckNodePort).toBe(31500);
    } finally {
      c.close();
    }
    const bad = parseTopology(demo.replace('    sessionAffinity: None', '    healthCheckNodePort: 31000\n    sessionAffinity: None'), 'demo.yaml');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors.map((e) => `${e.path}: ${e.message}`)).toContain('services[0].healthCheckNodePort: 31000 may only be set when type is LoadBalancer and externalTrafficPolicy is Local');
    // From the topology file: allocated after the service's NodePorts, or as given.
    const lbText = demo.replace(/^ {4}type: ClusterIP .*$/m, '    type: LoadBalancer').replace(/^ {4}externalTrafficPolicy: Cluster .*$/m, '    externalTrafficPolicy: Local');
    const c2 = clusterFromTopology(lbText);
    try {
      const s = c2.plan.services.find((x) => x.name === 'service1')!;
      expect(s.healthCheckNodePort).toBe(s.ports[0]!.nodePort! + 1);
    } finally {
      c2.close();
    }
    const c3 = clusterFromTopology(lbText.replace('    sessionAffinity: None', '    healthCheckNodePort: 32000\n    sessionAffinity: None'));
    try {
      expect(c3.plan.services.find((x) => x.name === 'service1')!.healthCheckNodePort).toBe(32000);
    } finally {
      c3.close();
    }
  });

  it('each node answers 200 with its local ready endpoints, 503 with none or only terminating ones; kube-proxy\'s JSON body', async () => {
    const c = clusterFromTopology(demo);
    try {
      const lb = c.addService({ name: 'lb', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
      const port = lb.healthCheckNodePort!;
      // pod2 is on node1, pod3 on node2: asked from pod1 (node1) across the overlay and next door.
      const r2 = await healthz(c, 'pod1', 'node2', port);
      expect(r2.status).toBe(200);
      expect(r2.headers['content-type']).toBe('application/json');
      expect(r2.headers['x-content-type-options']).toBe('nosniff');
      expect(r2.headers['x-load-balancing-endpoint-weight']).toBe('1');
      expect(r2.body).toBe('{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "lb"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}');
      expect(JSON.parse(r2.body)).toEqual({ service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
      expect((await healthz(c, 'pod1', 'node1', port)).status).toBe(200);
      // Only a terminating endpoint on node2: 503 (LocalReadyEndpoints counts ready ones only).
      c.setPodConditions('pod3', { terminating: true });
      const t = await healthz(c, 'pod1', 'node2', port);
      expect(t.status).toBe(503);
      expect(JSON.parse(t.body)).toMatchObject({ localEndpoints: 0 });
      expect(t.headers['x-load-balancing-endpoint-weight']).toBe('0');
      expect((await healthz(c, 'pod1', 'node1', port)).status).toBe(200);
      c.removePod('pod2');
      expect((await healthz(c, 'pod1', 'node1', port)).status).toBe(503);
      // The service goes: so does its health check server (the port is closed, connection refused).
      c.removeService('lb');
      await expect(healthz(c, 'pod1', 'node2', port)).rejects.toThrow();
    } finally {
      c.close();
    }
  });

  it('iptables mode: filter KUBE-NODEPORTS ACCEPTs the port ("health check node port"), with or without local endpoints', () => {
    const c = clusterFromTopology(demo);
    try {
      const lb = c.addService({ name: 'lb', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'none' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
      const rule = `-A KUBE-NODEPORTS -p tcp -m comment --comment "default/lb:http health check node port" -m tcp --dport ${lb.healthCheckNodePort} -j ACCEPT`;
      expect(nodeRules(c, { node: 'node1', table: 'filter' }).split('\n')).toContain(rule);
      expect(nodeRules(c, { node: 'node1', table: 'filter', service: 'default/lb' }).split('\n')).toContain(rule);
    } finally {
      c.close();
    }
  });

  it('the answer for a node without local endpoints', () => {
    const a = healthCheckAnswer('ns', 'svc', 0);
    expect([a.status, a.reason]).toEqual([503, 'Service Unavailable']);
    expect(JSON.parse(a.body)).toEqual({ service: { namespace: 'ns', name: 'svc' }, localEndpoints: 0, serviceProxyHealthy: true });
  });
});
