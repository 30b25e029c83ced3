/**
 * The REST API over the demo cluster: every route through fastify's inject, every class
 * of error (400 with the field's JSON pointer and value, 404, 409, 501), the OpenAPI
 * document, then the same server over a real socket on 127.0.0.1: bearer tokens, the
 * loopback rule, a live pcapng stream, and 50 concurrent clients that must leave the
 * topology consistent.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApi, startApi, ApiConfigError, type StartedApi } from '../../src/api/server.js';
import { isLoopbackHost, listenRefusal, parseListen } from '../../src/api/auth.js';
import { podSchema } from '../../src/kube/schema.js';
import { Controller } from '../../src/control/controller.js';
import { consistencyProblems, demoController, pcapngBlocks, PCAPNG_EPB, PCAPNG_SHB, until, type Harness } from './helpers.js';

let h: Harness;
let app: FastifyInstance;
const covered = new Set<string>();

/** Calls `METHOD /api/v1<template>` with `{param}`s filled in, recording the route as covered. */
async function call(method: string, template: string, params: Record<string, string> = {}, body?: unknown, qs = ''): Promise<LightMyRequestResponse> {
  covered.add(`${method.toLowerCase()} /api/v1${template}`);
  const url = `/api/v1${template.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k]!))}${qs}`;
  return app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}) });
}

function expectError(r: LightMyRequestResponse, status: number, field: string | null, value?: unknown): Record<string, unknown> {
  expect(r.statusCode, r.body).toBe(status);
  const b = r.json<Record<string, unknown>>();
  expect(typeof b['error']).toBe('string');
  expect(b['field']).toBe(field);
  if (value !== undefined) expect(b['value']).toEqual(value);
  return b;
}

beforeAll(async () => {
  h = await demoController();
  app = buildApi(h.ctl);
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await h.done();
});

describe('API routes through inject', () => {
  it('GET /topology describes nodes, pods and services', async () => {
    const t = (await call('GET', '/topology')).json<{ nodes: { name: string }[]; pods: { name: string; ip: string }[]; services: { name: string; endpoints: string[] }[] }>();
    expect(t.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    expect(t.pods.find((p) => p.name === 'pod1')?.ip).toBe('10.244.1.2');
    expect(t.services.find((s) => s.name === 'service1')?.endpoints.sort()).toEqual(['pod2', 'pod3']);
  });

  it('NetworkPolicies: POST applies at run time, a bad one is refused with its Kubernetes field path, GET lists, DELETE removes', async () => {
    const deny = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-web' }, spec: { podSelector: { matchLabels: { app: 'web' } } } };
    const tr = async (): Promise<string | null> => (await call('POST', '/trace', {}, { from: 'pod1', to: 'pod2', proto: 'tcp', port: 8080 })).json<{ request: { dropReason: string | null } }>().request.dropReason;
    expect(await tr()).toBe(null);
    const r = await call('POST', '/networkpolicies', {}, deny);
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toEqual({ created: ['default/deny-web'], updated: [] });
    expect(await tr()).toBe('policy-denied');
    const bad = expectError(await call('POST', '/networkpolicies', {}, { items: [
      { ...deny, metadata: { name: 'other' } },
      { metadata: { name: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/16', except: ['10.2.0.0/24'] } }] }] } },
    ] }), 400, '/items/1/spec/ingress/0/from/1/ipBlock/except/0', '10.2.0.0/24');
    expect(bad['error']).toBe('NetworkPolicy is invalid: items[1].spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "10.2.0.0/24": must be a strict subset of `cidr`');
    const list = (await call('GET', '/networkpolicies')).json<{ items: { metadata: { name: string } }[]; namespaces: { name: string; labels: Record<string, string> }[] }>();
    expect(list.items.map((p) => p.metadata.name)).toEqual(['deny-web']); // the refused batch changed nothing
    expect(list.namespaces.find((n) => n.name === 'default')?.labels).toEqual({ 'kubernetes.io/metadata.name': 'default' });
    expect((await call('DELETE', '/networkpolicies/{namespace}/{name}', { namespace: 'default', name: 'deny-web' })).json()).toEqual({ removed: 'default/deny-web' });
    expectError(await call('DELETE', '/networkpolicies/{namespace}/{name}', { namespace: 'default', name: 'deny-web' }), 404, '/name', 'default/deny-web');
    expect(await tr()).toBe(null);
    // Namespace labels at run time: a namespaceSelector policy follows them.
    const fromTeam = { metadata: { name: 'web-from-blue' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }] } };
    expect((await call('POST', '/networkpolicies', {}, fromTeam)).statusCode).toBe(201);
    expect(await tr()).toBe('policy-denied');
    const put = await call('PUT', '/namespaces/{name}', { name: 'default' }, { labels: { team: 'blue' } });
    expect(put.json()).toEqual({ name: 'default', labels: { team: 'blue', 'kubernetes.io/metadata.name': 'default' } });
    expect(await tr()).toBe(null);
    expectError(await call('PUT', '/namespaces/{name}', { name: 'default' }, { labels: { team: 'no spaces' } }), 400, '/labels/team', 'no spaces');
    expect((await call('DELETE', '/networkpolicies/{namespace}/{name}', { namespace: 'default', name: 'web-from-blue' })).statusCode).toBe(200);
  });

  it('POST /pods adds a reachable pod, DELETE /pods/:name removes it', async () => {
    const r = await call('POST', '/pods', {}, { name: 'pod7', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'udp-echo', port: 9000 }] });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ name: 'pod7', node: 'node2', emulated: true, apps: [{ type: 'udp-echo', port: 9000 }] });
    const tr = (await call('POST', '/trace', {}, { from: 'pod1', to: 'pod7', proto: 'udp', port: 9000 })).json<{ request: { delivered: boolean }; reply: { delivered: boolean } | null }>();
    expect(tr.request.delivered).toBe(true);
    expect(tr.reply?.delivered).toBe(true);
    expect((await call('GET', '/services/{name}/endpoints', { name: 'service1' })).json<{ endpoints: { pod: string }[] }>().endpoints.map((e) => e.pod)).toContain('pod7');
    expect((await call('DELETE', '/pods/{name}', { name: 'pod7' })).statusCode).toBe(200);
    expectError(await call('DELETE', '/pods/{name}', { name: 'pod7' }), 404, '/name', 'pod7');
    expect(consistencyProblems(h.cluster)).toEqual([]);
  });

  it('PATCH /pods/:name merges labels (null removes one): service endpoints follow; bad labels are 400 naming field and value, nothing changes', async () => {
    const endpoints = async (): Promise<string[]> => (await call('GET', '/services/{name}/endpoints', { name: 'service1' })).json<{ endpoints: { pod: string }[] }>().endpoints.map((e) => e.pod).sort();
    const labels = (): Record<string, string> => ({ ...h.cluster.plan.pods.find((p) => p.name === 'pod3')!.labels });
    expect(await endpoints()).toEqual(['pod2', 'pod3']);
    // A merge patch: app removed, tier set, nothing else touched (RFC 7386, as `kubectl label pod3 app- tier=db`).
    const r = await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { app: null, tier: 'db' } });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ key: 'pod3', labels: { tier: 'db' } });
    expect(r.json<{ labels: object }>().labels).toEqual({ tier: 'db' });
    expect(await endpoints()).toEqual(['pod2']); // service1 selects app=web: pod3 left its endpoints
    expect((await call('POST', '/trace', {}, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80, count: 8 })).json<{ spread: { pod: string }[] }>().spread.map((s) => s.pod)).toEqual(['pod2']);
    // Refused bodies change nothing.
    expect(expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { 'Bad Key!': 'x', app: 'web' } }), 400, '/labels', 'Bad Key!')['error'])
      .toBe('body/labels: key "Bad Key!" is not a valid label key');
    expect(expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { app: 'web server' } }), 400, '/labels/app', 'web server')['error'])
      .toBe('body/labels/app: "web server" is not a valid label value (at most 63 letters, digits, \'-\', \'_\' or \'.\')');
    expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { app: 7 } }), 400, '/labels/app', 7);
    expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { [`${'a'.repeat(64)}`]: 'web' } }), 400, '/labels', 'a'.repeat(64));
    expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: {}, lables: { app: 'web' } }), 400, '/lables', { app: 'web' });
    expectError(await call('PATCH', '/pods/{name}', { name: 'pod3' }, {}), 400, '/labels', null);
    expectError(await call('PATCH', '/pods/{name}', { name: 'pod9' }, { labels: { app: 'web' } }), 404, '/name', 'pod9');
    expect(labels()).toEqual({ tier: 'db' });
    // Back: the prefixed key form and `name.namespace` are accepted too.
    const back = await call('PATCH', '/pods/{name}', { name: 'pod3.default' }, { labels: { app: 'web', tier: null, 'example.com/owner': 'team-a' } });
    expect(back.json<{ labels: object }>().labels).toEqual({ app: 'web', 'example.com/owner': 'team-a' });
    expect(await endpoints()).toEqual(['pod2', 'pod3']);
    await call('PATCH', '/pods/{name}', { name: 'pod3' }, { labels: { 'example.com/owner': null } });
    expect(labels()).toEqual({ app: 'web' });
    expect(consistencyProblems(h.cluster)).toEqual([]);
  });

  it('rejects bad pod bodies with 400 naming the field and the value', async () => {
    expect(expectError(await call('POST', '/pods', {}, { name: 'Pod9', node: 'node1' }), 400, '/name', 'Pod9')['in']).toBe('body');
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', nmae: 'x' }), 400, '/nmae', 'x');
    expectError(await call('POST', '/pods', {}, { node: 'node1' }), 400, '/name', null);
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', ip: '10.244.1.300' }), 400, '/ip', '10.244.1.300');
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', apps: [{ type: 'ftp' }] }), 400, '/apps/0/type', 'ftp');
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', ip: '10.244.2.50' }), 400, '/ip', '10.244.2.50');
    const bad = await app.inject({ method: 'POST', url: '/api/v1/pods', headers: { 'content-type': 'application/json' }, payload: '{"name": ' });
    expectError(bad, 400, '');
  });

  it('answers 404 for unknown names and 409 for conflicts', async () => {
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node9' }), 404, '/node', 'node9');
    expectError(await call('POST', '/pods', {}, { name: 'pod1', node: 'node1' }), 409, '/name', 'pod1');
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', ip: '10.244.1.2' }), 409, '/ip', '10.244.1.2');
    expectError(await call('POST', '/pods', {}, { name: 'pod9', node: 'node1', apps: [{ type: 'http', port: 80 }, { type: 'tcp-echo', port: 80 }] }), 409, '/apps/1/port', 80);
    expectError(await call('GET', '/nodes/{name}/fdb', { name: 'node9' }), 404, '/name', 'node9');
    expect(expectError(await call('GET', '/nodes/{name}/fdb', { name: 'Node_1' }), 400, '/name', 'Node_1')['in']).toBe('params');
    expectError(await call('GET', '/services/{name}/endpoints', { name: 'nope' }), 404, '/name', 'nope');
    expect((await app.inject({ method: 'GET', url: '/api/v1/nothing-here' })).statusCode).toBe(404);
    expect(consistencyProblems(h.cluster)).toEqual([]);
  });

  it('POST /services, endpoints, DELETE /services/:name', async () => {
    const r = await call('POST', '/services', {}, { name: 'web2', selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080 }] });
    expect(r.statusCode, r.body).toBe(201);
    const vip = r.json<{ clusterIP: string }>().clusterIP;
    const ep = (await call('GET', '/services/{name}/endpoints', { name: 'web2' })).json<{ clusterIP: string; endpoints: { pod: string; ip: string }[] }>();
    expect(ep.clusterIP).toBe(vip);
    expect(ep.endpoints.map((e) => e.pod).sort()).toEqual(['pod2', 'pod3']);
    const tr = (await call('POST', '/trace', {}, { from: 'pod1', to: 'web2', proto: 'tcp', port: 81 })).json<{ request: { delivered: boolean } }>();
    expect(tr.request.delivered).toBe(true);
    expectError(await call('POST', '/services', {}, { name: 'web2', ports: [{ port: 82 }] }), 409, '/name', 'web2');
    expectError(await call('POST', '/services', {}, { name: 'web3', clusterIP: vip, ports: [{ port: 82 }] }), 409, '/clusterIP', vip);
    expectError(await call('POST', '/services', {}, { name: 'web3', ports: [] }), 400, '/ports', []);
    expectError(await call('POST', '/services', {}, { name: 'web3', ports: [{ port: 82, protocol: 'ICMP' }] }), 400, '/ports/0/protocol', 'ICMP');
    expect((await call('DELETE', '/services/{name}', { name: 'web2' })).statusCode).toBe(200);
    expectError(await call('DELETE', '/services/{name}', { name: 'web2' }), 404, '/name', 'web2');
  });

  it('POST /services with a named targetPort: resolved on each pod (its own port in /endpoints); a bad name is a 400 that says what a targetPort may be', async () => {
    const pod = await call('POST', '/pods', {}, { name: 'named1', node: 'node1', labels: { app: 'named' }, apps: [{ type: 'http', port: 8081 }], ports: [{ name: 'http', containerPort: 8081 }] });
    expect(pod.statusCode, pod.body).toBe(201);
    const r = await call('POST', '/services', {}, { name: 'named', selector: { app: 'named' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'plain', port: 81, targetPort: 8081 }] });
    expect(r.statusCode, r.body).toBe(201);
    try {
      const ep = (await call('GET', '/services/{name}/endpoints', { name: 'named' })).json<{ ports: { targetPort: unknown }[]; endpoints: { pod: string; ports: string[] }[] }>();
      expect(ep.ports.map((p) => p.targetPort)).toEqual(['http', 8081]);
      expect(ep.endpoints).toMatchObject([{ pod: 'named1', ports: ['8081/TCP', '8081/TCP'] }]);
      const tr = (await call('POST', '/trace', {}, { from: 'pod1', to: 'named', proto: 'tcp', port: 80 })).json<{ request: { delivered: boolean; hops: { action: string; detail: Record<string, unknown> }[] } }>();
      expect(tr.request.delivered).toBe(true);
      expect(String(tr.request.hops.find((x) => x.action === 'dnat')?.detail['endpoint'])).toMatch(/:8081$/);
      const inspect = (await call('GET', '/inspect')).json<{ services: { name: string; endpoints: { pod: string; ports: (number | null)[] }[] }[] }>();
      expect(inspect.services.find((s) => s.name === 'named')!.endpoints).toMatchObject([{ pod: 'named1', ports: [8081, 8081] }]);
    } finally {
      expect((await call('DELETE', '/services/{name}', { name: 'named' })).statusCode).toBe(200);
      expect((await call('DELETE', '/pods/{name}', { name: 'named1' })).statusCode).toBe(200);
    }
    const bad = expectError(await call('POST', '/services', {}, { name: 'named', ports: [{ port: 80, targetPort: 'Http' }] }), 400, '/ports/0/targetPort', 'Http');
    expect(bad['error']).toBe("body/ports/0/targetPort: \"Http\" is not a port number or a valid port name (1 to 15 lower-case letters, digits and '-', at least one letter, no '--', starting and ending with a letter or digit)");
    expect(expectError(await call('POST', '/services', {}, { name: 'named', ports: [{ port: 80, targetPort: true }] }), 400, '/ports/0/targetPort', true)['error']).toBe('body/ports/0/targetPort: true must be an integer or a string');
  });

  it('POST /pods with ready/terminating, POST /services with healthCheckNodePort and publishNotReadyAddresses', async () => {
    const p = await call('POST', '/pods', {}, { name: 'unready', node: 'node2', labels: { app: 'hc' }, apps: [{ type: 'http', port: 8080 }], ready: false });
    expect(p.statusCode, p.body).toBe(201);
    expect(p.json<{ ready?: boolean }>().ready).toBe(false);
    const s = await call('POST', '/services', {}, {
      name: 'hc', type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'hc' }, ports: [{ port: 80, targetPort: 8080 }], healthCheckNodePort: 32100, publishNotReadyAddresses: true,
    });
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json<Record<string, unknown>>()).toMatchObject({ healthCheckNodePort: 32100, publishNotReadyAddresses: true });
    const tr = (await call('POST', '/trace', {}, { from: 'pod1', to: 'hc', proto: 'tcp', port: 80 })).json<{ request: { delivered: boolean } }>();
    expect(tr.request.delivered).toBe(true); // published though unready
    expectError(await call('POST', '/services', {}, { name: 'hc2', type: 'NodePort', ports: [{ port: 80 }], healthCheckNodePort: 32101 }), 400, '/healthCheckNodePort', 32101);
    expect((await call('DELETE', '/services/{name}', { name: 'hc' })).statusCode).toBe(200);
    expect((await call('DELETE', '/pods/{name}', { name: 'unready' })).statusCode).toBe(200);
  });

  it('GET /nodes/:name/fdb|routes|neighbors|interfaces', async () => {
    await call('POST', '/trace', {}, { from: 'pod1', to: 'pod2' });
    await call('POST', '/trace', {}, { from: 'pod3', to: 'pod1' }); // node1 routes it to pod1: a neighbour entry (not left to earlier tests)
    const fdb = (await call('GET', '/nodes/{name}/fdb', { name: 'node1' })).json<{ entries: { mac: string; portName: string }[] }>();
    expect(fdb.entries.some((e) => e.mac === '02:42:0a:f4:01:02' && e.portName === 'veth0')).toBe(true);
    const routes = (await call('GET', '/nodes/{name}/routes', { name: 'node1' })).json<{ routes: string[] }>();
    expect(routes.routes.some((r) => r.startsWith('10.244.1.0/24 dev cbr0'))).toBe(true);
    const neigh = (await call('GET', '/nodes/{name}/neighbors', { name: 'node1' })).json<{ neighbors: { ip: string }[] }>();
    expect(neigh.neighbors.some((n) => n.ip === '10.244.1.2')).toBe(true);
    const ifs = (await call('GET', '/nodes/{name}/interfaces', { name: 'node1' })).json<{ interfaces: { name: string; counters: { rxPackets: number } }[] }>();
    expect(ifs.interfaces.map((i) => i.name)).toEqual(expect.arrayContaining(['eth0', 'cbr0', 'veth0', 'veth1']));
    expect(ifs.interfaces.find((i) => i.name === 'veth0')!.counters.rxPackets).toBeGreaterThan(0);
  });

  it('GET /dns: the lookup from a pod as its resolver would send it, the text the CLI prints; bad values name their field', async () => {
    const r = await call('GET', '/dns', {}, undefined, '?from=pod1&name=service1');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/^;; query 1: service1\.default\.svc\.cluster\.local\. IN A -> NOERROR$/m);
    expect(r.body).toMatch(/^service1\.default\.svc\.cluster\.local\.\t5\tIN\tA\t10\.96\.0\.\d+$/m);
    const srv = await call('GET', '/dns', {}, undefined, '?from=default/pod1&name=_http._tcp.service1&type=srv');
    expect(srv.body).toMatch(/\tIN\tSRV\t0 100 80 service1\.default\.svc\.cluster\.local\.$/m);
    expectError(await call('GET', '/dns', {}, undefined, '?from=nosuch&name=service1'), 404, '/from', 'nosuch');
    expectError(await call('GET', '/dns', {}, undefined, '?from=pod1&name=service1&type=MX'), 400, '/type', 'MX');
    expectError(await call('GET', '/dns', {}, undefined, '?name=service1'), 400, '/from');
  });

  it('GET /nodes/:name/rules: iptables-save text, the same the CLI prints; bad values name their field', async () => {
    const r = await call('GET', '/nodes/{name}/rules', { name: 'node1' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toContain('-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU');
    const filter = await call('GET', '/nodes/{name}/rules', { name: 'node1' }, undefined, '?table=filter&service=default/service1');
    expect(filter.body.startsWith('*filter\n')).toBe(true);
    expectError(await call('GET', '/nodes/{name}/rules', { name: 'node1' }, undefined, '?format=ipvsadm'), 400, '/format', 'ipvsadm');
    expectError(await call('GET', '/nodes/{name}/rules', { name: 'node1' }, undefined, '?table=mangle'), 400, '/table', 'mangle');
    expectError(await call('GET', '/nodes/{name}/rules', { name: 'node1' }, undefined, '?service=nope'), 404, '/service', 'nope');
    expectError(await call('GET', '/nodes/{name}/rules', { name: 'node9' }), 404, '/name', 'node9');
  });

  it('conntrack: list (JSON and text) with filters, delete with the same filters', async () => {
    await call('POST', '/trace', {}, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
    const all = (await call('GET', '/conntrack')).json<{ entries: { node: string; proto: string; orig: { dport: number } }[]; count: number }>();
    expect(all.entries.some((e) => e.proto === 'tcp' && e.orig.dport === 80 && e.node === 'node1')).toBe(true);
    expect((await call('GET', '/conntrack', {}, undefined, '?proto=udp&dport=80')).json<{ count: number }>().count).toBe(0);
    const text = await call('GET', '/conntrack', {}, undefined, '?format=text&proto=tcp&dst=10.96.0.2&node=node1');
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.body).toMatch(/^tcp {6}6 \d+ \w+ src=10\.244\.1\.2 dst=10\.96\.0\.2 sport=\d+ dport=80 /m);
    expectError(await call('GET', '/conntrack', {}, undefined, '?src=10.0.0'), 400, '/src', '10.0.0');
    expectError(await call('GET', '/conntrack', {}, undefined, '?node=node9'), 404, '/node', 'node9');
    const del = (await call('DELETE', '/conntrack', {}, undefined, '?proto=tcp&dport=80')).json<{ deleted: number }>();
    expect(del.deleted).toBeGreaterThanOrEqual(1);
    expect((await call('GET', '/conntrack', {}, undefined, '?proto=tcp&dport=80')).json<{ count: number }>().count).toBe(0);
  });

  it('POST /trace returns the CLI\'s Journey JSON; bad targets are 404, bad protocols 400', async () => {
    const r = (await call('POST', '/trace', {}, { from: 'pod1', to: 'pod3' })).json<{ request: { delivered: boolean; hops: { action: string }[] }; reply: unknown }>();
    expect(Object.keys(r).sort()).toEqual(['request', 'reply', 'replyKind', 'reset'].sort());
    expect(r.request.delivered).toBe(true);
    expect(r.request.hops.map((x) => x.action)).toContain('deliver');
    expectError(await call('POST', '/trace', {}, { from: 'pod42', to: 'pod3' }), 404, '/from', 'pod42');
    expectError(await call('POST', '/trace', {}, { from: 'pod1', to: 'nowhere' }), 404, '/to', 'nowhere');
    expectError(await call('POST', '/trace', {}, { from: 'pod1', to: 'pod3', proto: 'sctp' }), 400, '/proto', 'sctp');
  });

  it('captures: start, list, download, stop; a ring keeps N files; unknown interfaces are 404', async () => {
    const r = await call('POST', '/captures', {}, { interfaces: ['node1/cbr0', 'pod1/eth0'] });
    expect(r.statusCode, r.body).toBe(201);
    const id = r.json<{ id: string }>().id;
    await call('POST', '/trace', {}, { from: 'pod1', to: 'pod3' });
    const list = (await call('GET', '/captures')).json<{ captures: { id: string; packets: number; state: string }[] }>();
    expect(list.captures.find((c) => c.id === id)!.packets).toBeGreaterThan(0);
    const running = await call('GET', '/captures/{id}', { id });
    expect(running.headers['content-type']).toBe('application/x-pcapng');
    const blocks = pcapngBlocks(running.rawPayload);
    expect(blocks.slice(0, 3)).toEqual([PCAPNG_SHB, 1, 1]);
    expect(blocks.filter((b) => b === PCAPNG_EPB).length).toBeGreaterThan(0);
    const stopped = (await call('DELETE', '/captures/{id}', { id })).json<{ state: string; files: string[]; packets: number }>();
    expect(stopped.state).toBe('stopped');
    expect(pcapngBlocks(readFileSync(stopped.files[0]!)).filter((b) => b === PCAPNG_EPB).length).toBe(stopped.packets);
    expect((await call('GET', '/captures/{id}', { id })).rawPayload.equals(readFileSync(stopped.files[0]!))).toBe(true);
    expectError(await call('POST', '/captures', {}, { interfaces: ['node1/cbr0', 'node7/eth0'] }), 404, '/interfaces/1', 'node7/eth0');
    expectError(await call('POST', '/captures', {}, { interfaces: 'all', format: 'erf' }), 400, '/format', 'erf');
    expectError(await call('GET', '/captures/{id}', { id: 'c999' }), 404, '/id', 'c999');
    expectError(await call('DELETE', '/captures/{id}', { id: 'x1' }), 400, '/id', 'x1');

    const ring = (await call('POST', '/captures', {}, { interfaces: 'all', format: 'pcap', ring: { files: 2, packets: 4 } })).json<{ id: string }>();
    for (let i = 0; i < 4; i++) await call('POST', '/trace', {}, { from: 'pod1', to: 'pod3' });
    const info = (await call('DELETE', '/captures/{id}', { id: ring.id })).json<{ files: string[]; filesDeleted: number }>();
    expect(info.files).toHaveLength(2);
    expect(info.filesDeleted).toBeGreaterThan(0);
    for (const f of info.files) {
      const b = readFileSync(f);
      expect(b.readUInt32LE(0)).toBe(0xa1b23c4d); // pcap, nanosecond timestamps: every file has its header
      expect(b.length).toBeGreaterThan(24);
    }
    const first = await call('GET', '/captures/{id}', { id: ring.id }, undefined, '?file=1');
    expect(first.headers['content-type']).toBe('application/vnd.tcpdump.pcap');
  });

  it('GET /captures/live streams pcapng blocks as packets pass', async () => {
    const pending = call('GET', '/captures/live', {}, undefined, '?iface=pod1/eth0&count=2');
    await until('the live capture to subscribe', () => h.ctl.captures.liveCount > 0);
    await h.ctl.trace({ from: 'pod1', to: 'pod2' });
    const r = await pending;
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-pcapng');
    const blocks = pcapngBlocks(r.rawPayload);
    expect(blocks[0]).toBe(PCAPNG_SHB);
    expect(blocks.filter((b) => b === PCAPNG_EPB).length).toBeGreaterThanOrEqual(2);
    expectError(await call('GET', '/captures/live', {}, undefined, '?iface=pod99/eth0'), 404, '/iface', 'pod99/eth0');
    expectError(await call('GET', '/captures/live', {}, undefined, ''), 400, '/iface', null);
  });

  it('attach: 409 for an emulated pod, 404 for unknown pods and namespaces, 400 without a target', async () => {
    expectError(await call('POST', '/attach', {}, { pod: 'pod1', netns: 'pw-none' }), 409, '/pod', 'pod1');
    expectError(await call('POST', '/attach', {}, { pod: 'ghost', netns: 'pw-none' }), 404, '/pod', 'ghost');
    expectError(await call('POST', '/attach', {}, { pod: 'ghost', node: 'node1' }), 400, '/netns', null);
    expectError(await call('POST', '/attach', {}, { pod: 'ghost', pid: 0 }), 400, '/pid', 0);
    expectError(await call('POST', '/attach', {}, { pod: 'ghost', netns: 'pw-none', offloads: 'yes' }), 400, '/offloads', 'yes');
    expectError(await call('DELETE', '/attach/{pod}', { pod: 'pod1' }), 404, '/pod', 'pod1');
    expect(consistencyProblems(h.cluster)).toEqual([]);
  });

  it('GET /stats and GET /healthz', async () => {
    const s = (await call('GET', '/stats')).json<{ elements: { name: string; kind: string }[]; interfaces: Record<string, { rxPackets: number }>; pool: { size: number } }>();
    expect(s.elements.some((e) => e.name === 'node1/cbr0' && e.kind === 'bridge')).toBe(true);
    expect(s.interfaces['pod1/eth0']!.rxPackets).toBeGreaterThan(0);
    expect(s.pool.size).toBeGreaterThan(0);
    expect((await call('GET', '/healthz')).json()).toMatchObject({ status: 'ok', cluster: 'demo', nodes: 2 });
  });

  it('GET /inspect and GET /flows (details in observe.test.ts)', async () => {
    expect((await call('GET', '/inspect', {}, undefined, '?node=node1')).json()).toMatchObject({ node: 'node1', nodes: [{ name: 'node1' }] });
    expect((await call('GET', '/flows', {}, undefined, '?limit=1')).json()).toMatchObject({ capacity: 4096 });
  });

  it('answers 501 where the cluster has no service layer', async () => {
    const x = await demoController();
    Object.defineProperty(x.cluster, 'supportsServices', { value: false });
    const a = buildApi(x.ctl);
    expectError(await a.inject({ method: 'POST', url: '/api/v1/services', payload: { name: 's', ports: [{ port: 1 }] } }), 501, null);
    expectError(await a.inject({ method: 'GET', url: '/api/v1/conntrack' }), 501, null);
    await a.close();
    await x.done();
  });

  it('POST /probe: the matrix of the running cluster', async () => {
    const r = await call('POST', '/probe', {}, { ports: [8080], protocols: ['tcp'] });
    expect(r.statusCode).toBe(200);
    const j = r.json<{ shape: string; probes: { from: string; to: string; allowed: boolean }[] }>();
    expect(j.shape).toBe('matrix');
    expect(j.probes.find((p) => p.from === 'default/pod1' && p.to === 'default/pod2')?.allowed).toBe(true);
  });

  it('link impairment: PUT, PATCH (merge), GET as JSON and ?format=tc, GET /links, DELETE; errors name the field', async () => {
    const id = { id: 'pod1/eth0' };
    const put = await call('PUT', '/links/{id}/impairment', id, { delay: '20ms', jitter: '5ms', loss: '1%' });
    expect(put.statusCode, put.body).toBe(200);
    const patched = await call('PATCH', '/links/{id}/impairment', id, { jitter: null, rate: '10mbit', loss: null, lossGemodel: { p: '1%' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json<{ impairments: { netem: unknown; rateBitsPerSecond: number }[] }>().impairments[0]).toMatchObject({
      netem: { delay: '20ms', rate: '10mbit', lossGemodel: { p: '1%' } }, rateBitsPerSecond: 10_000_000,
    });
    const tc = await call('GET', '/links/{id}/impairment', id, undefined, '?format=tc');
    expect(tc.headers['content-type']).toMatch(/text\/plain/);
    expect(tc.body).toBe('tc qdisc add dev eth0 root netem limit 1000 delay 20ms loss gemodel 1% 99% 100% 0% rate 10mbit\n');
    expect((await call('GET', '/links')).json<{ interface: string }[]>().map((l) => l.interface)).toEqual(['pod1/eth0']);
    expect((await call('GET', '/links/{id}/impairment', id)).json<{ impairments: unknown[] }>().impairments.length).toBe(1);
    expectError(await call('PATCH', '/links/{id}/impairment', id, { rate: '10Mbps' }), 400, '/netem/rate', '10Mbps');
    expectError(await call('PUT', '/links/{id}/impairment', id, { tc: 'delay 20ms reorder 10% gap x' }), 400, '/gap', 'x');
    expectError(await call('PUT', '/links/{id}/impairment', { id: 'pod9/eth0' }, { delay: '1ms' }), 404, '/interface', 'pod9/eth0');
    expect((await call('DELETE', '/links/{id}/impairment', id)).json()).toEqual({ interface: 'pod1/eth0', removed: 1 });
    expect((await call('GET', '/links')).json()).toEqual([]);
  });

  it('serves an OpenAPI document generated from the route schemas, covering every route tested here', async () => {
    const doc = (await call('GET', '/openapi.json')).json<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/api/v1/pods']!['post']!.requestBody!.content['application/json']!.schema).toEqual(JSON.parse(JSON.stringify(podSchema)));
    const all = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(all.length).toBe(38);
    expect(all.filter((r) => !covered.has(r))).toEqual([]);
  });
});

describe('API over a real socket', () => {
  let api: StartedApi;
  beforeAll(async () => { api = await startApi(h.ctl, { host: '127.0.0.1', port: 0 }); });
  afterAll(async () => { await api.close(); });

  it('listens on 127.0.0.1 with a random port', async () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    const r = await fetch(`${api.url}/healthz`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { status: string }).status).toBe('ok');
  });

  it('keeps the topology consistent under 50 concurrent trace and pod create/delete requests', async () => {
    for (let i = 0; i < 10; i++) await h.ctl.addPod({ name: `old${i}`, node: i % 2 === 0 ? 'node1' : 'node2' });
    const before = h.cluster.pods.size;
    const post = (path: string, body: unknown) => fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const reqs: Promise<Response>[] = [];
    for (let i = 0; i < 20; i++) reqs.push(post('/pods', { name: `new${i}`, node: i % 2 === 0 ? 'node1' : 'node2' }));
    for (let i = 0; i < 10; i++) reqs.push(fetch(`${api.url}/pods/old${i}`, { method: 'DELETE' }));
    for (let i = 0; i < 20; i++) reqs.push(post('/trace', { from: 'pod1', to: i % 2 === 0 ? 'pod2' : 'pod3', proto: 'icmp' }));
    const res = await Promise.all(reqs);
    expect(res.map((r) => r.status)).toEqual([...new Array(20).fill(201), ...new Array(10).fill(200), ...new Array(20).fill(200)]);
    const traces = await Promise.all(res.slice(30).map((r) => r.json() as Promise<{ request: { delivered: boolean } }>));
    expect(traces.every((t) => t.request.delivered)).toBe(true);
    expect(h.cluster.pods.size).toBe(before + 20 - 10);
    expect(consistencyProblems(h.cluster)).toEqual([]);
    // The same name created 10 times at once: one wins, nine conflict.
    const same = await Promise.all(new Array(10).fill(0).map(() => post('/pods', { name: 'twin', node: 'node1' })));
    expect(same.map((r) => r.status).sort()).toEqual([201, ...new Array(9).fill(409)]);
    // Every new pod answers, then all of them go again concurrently.
    for (let i = 0; i < 20; i += 7) expect((await h.ctl.trace({ from: 'pod1', to: `new${i}` })).request.delivered).toBe(true);
    const del = await Promise.all([...new Array(20).keys()].map((i) => fetch(`${api.url}/pods/new${i}`, { method: 'DELETE' })));
    expect(del.every((r) => r.status === 200)).toBe(true);
    await fetch(`${api.url}/pods/twin`, { method: 'DELETE' });
    expect(h.cluster.pods.size).toBe(before - 10);
    expect(consistencyProblems(h.cluster)).toEqual([]);
  });

  it('streams a live capture over HTTP chunk by chunk', async () => {
    const res = await fetch(`${api.url}/captures/live?iface=node1/cbr0,pod1/eth0&count=4`);
    expect(res.headers.get('content-type')).toBe('application/x-pcapng');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).readUInt32LE(0)).toBe(PCAPNG_SHB);
    await h.ctl.trace({ from: 'pod1', to: 'pod3' });
    const chunks = [Buffer.from(first.value!)];
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      chunks.push(Buffer.from(c.value));
    }
    expect(pcapngBlocks(Buffer.concat(chunks)).filter((b) => b === PCAPNG_EPB).length).toBeGreaterThanOrEqual(4);
  });

  it('requires the bearer token when one is set, compared on every request', async () => {
    const secured = await startApi(h.ctl, { host: '127.0.0.2', port: 0 }, { token: 'correct-horse-battery' });
    try {
      expect(secured.url).toMatch(/^http:\/\/127\.0\.0\.2:/);
      expect((await fetch(`${secured.url}/healthz`)).status).toBe(401);
      expect((await fetch(`${secured.url}/healthz`, { headers: { authorization: 'Bearer correct-horse-batterx' } })).status).toBe(401);
      expect((await fetch(`${secured.url}/healthz`, { headers: { authorization: 'Bearer correct' } })).status).toBe(401);
      const ok = await fetch(`${secured.url}/healthz`, { headers: { authorization: 'Bearer correct-horse-battery' } });
      expect(ok.status).toBe(200);
      const doc = (await (await fetch(`${secured.url}/openapi.json`, { headers: { authorization: 'Bearer correct-horse-battery' } })).json()) as { security?: unknown };
      expect(doc.security).toEqual([{ bearer: [] }]);
    } finally {
      await secured.close();
    }
  });

  it('refuses to start off loopback without a token, before binding', async () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::1]', 'localhost']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '192.168.1.1', '::2', '::ffff:10.0.0.1', 'fe80::1', 'example.com']) expect(isLoopbackHost(host), host).toBe(false);
    expect(listenRefusal('127.0.0.1', null)).toBeNull();
    expect(listenRefusal('0.0.0.0', null)).toMatch(/not a loopback address, without a token/);
    expect(listenRefusal('0.0.0.0', 'a-long-enough-token')).toBeNull();
    expect(listenRefusal('0.0.0.0', 'short')).toMatch(/too short/);
    await expect(startApi(h.ctl, { host: '0.0.0.0', port: 0 })).rejects.toBeInstanceOf(ApiConfigError);
    await expect(startApi(h.ctl, { host: '192.0.2.1', port: 0 }, { token: '' })).rejects.toThrow(/refusing to listen on 192\.0\.2\.1/);
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    expect(parseListen('7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(() => parseListen('::1:7070')).toThrow(/brackets/);
    expect(() => parseListen('127.0.0.1:70000')).toThrow(/0-65535/);
  });

  it('answers 503 once the controller is closing', async () => {
    const x = await demoController();
    const a = await startApi(x.ctl, { host: '127.0.0.1', port: 0 });
    await x.ctl.close();
    const r = await fetch(`${a.url}/pods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'late', node: 'node1' }) });
    expect(r.status).toBe(503);
    await a.close();
    await x.done();
    expect(x.ctl).toBeInstanceOf(Controller);
  });
});
