/**
 * Names over the REST API (issue 13): `POST /pods {"name":"root","node":"node1"}` used to
 * answer 500 `element "node1/root" exists` and leave a pod that could neither be deleted
 * nor re-created; `POST /services` took `kubernetes` although `validate` reserves it.
 * Now any valid Kubernetes pod name works (up to 253 characters, in a URL too), and the
 * reserved service names are a 409 naming the field, as every podwire error does.
 */
import { describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { consistencyProblems, demoApi } from './helpers.js';

const api = demoApi();

const post = (url: string, payload: object): Promise<LightMyRequestResponse> => api.app.inject({ method: 'POST', url: `/api/v1${url}`, payload });
const del = (url: string): Promise<LightMyRequestResponse> => api.app.inject({ method: 'DELETE', url: `/api/v1${url}` });

async function traced(from: string, to: string): Promise<boolean> {
  const r = await post('/trace', { from, to, proto: 'icmp' });
  expect(r.statusCode, r.body).toBe(200);
  const j = r.json<{ request: { delivered: boolean }; reply: { delivered: boolean } | null }>();
  return j.request.delivered && j.reply?.delivered === true;
}

describe('pod names', () => {
  it('POST /pods root -> 201, traced, DELETE -> 200, re-created, deleted again', async () => {
    for (let round = 0; round < 2; round++) {
      const r = await post('/pods', { name: 'root', node: 'node1' });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json()).toMatchObject({ name: 'root', namespace: 'default', key: 'root', node: 'node1', emulated: true });
      expect(await traced('pod1', 'root')).toBe(true);
      expect(await traced('root', 'pod3')).toBe(true);
      const d = await del('/pods/root');
      expect(d.statusCode, d.body).toBe(200);
      expect(d.json()).toEqual({ removed: 'root', detached: false });
      expect(consistencyProblems(api.h.cluster)).toEqual([]);
    }
    expect((await del('/pods/root')).statusCode).toBe(404);
  });

  it('every other colliding name, dotted names and namespace "1" go in and out through the API', async () => {
    const pods = [
      { name: 'cbr0', node: 'node1' }, { name: 'veth0', node: 'node1' }, { name: 'flannel', node: 'node1', namespace: '1' },
      { name: 'flannel.1', node: 'node2' }, { name: 'node1', node: 'node2' }, { name: 'underlay', node: 'node1' }, { name: 'web.v1', node: 'node1' },
    ];
    const keys: string[] = [];
    for (const p of pods) {
      const r = await post('/pods', p);
      expect(r.statusCode, r.body).toBe(201);
      keys.push(r.json<{ key: string }>().key);
    }
    expect(keys).toEqual(['cbr0', 'veth0', 'flannel.1', 'flannel.1.default', 'node1', 'underlay', 'web.v1.default']);
    for (const k of keys) expect(await traced(k, 'pod2'), k).toBe(true);
    const caps = (await post('/captures', { interfaces: ['node1.default/eth0', 'flannel.1/eth0', 'flannel.1.default/eth0', 'node1/eth0'] }));
    expect(caps.statusCode, caps.body).toBe(201);
    expect((await del(`/captures/${caps.json<{ id: string }>().id}`)).statusCode).toBe(200);
    for (const k of keys) expect((await del(`/pods/${k}`)).statusCode, k).toBe(200);
    expect(consistencyProblems(api.h.cluster)).toEqual([]);
  });

  it('a 253-character pod name works, in the URL too (fastify\'s maxParamLength)', async () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    const r = await post('/pods', { name, node: 'node2' });
    expect(r.statusCode, r.body).toBe(201);
    const key = r.json<{ key: string }>().key;
    expect(key).toBe(`${name}.default`);
    expect(await traced(key, 'pod1')).toBe(true);
    const d = await del(`/pods/${key}`);
    expect(d.statusCode, d.body).toBe(200);
    // Too long for any key: a 400 naming the parameter, not a 404 for a route that "does not exist".
    const bad = await del(`/pods/${'x'.repeat(400)}`);
    expect(bad.statusCode, bad.body).toBe(400);
    expect(bad.json()).toMatchObject({ field: '/name', in: 'params' });
  });

  it('names Kubernetes refuses are a 400 naming the field', async () => {
    for (const name of ['Root', 'a..b', '-a', 'a.', 'a_b', 'a'.repeat(254)]) {
      const r = await post('/pods', { name, node: 'node1' });
      expect(r.statusCode, name).toBe(400);
      expect(r.json()).toMatchObject({ field: '/name', value: name, in: 'body' });
    }
  });
});

describe('reserved service names', () => {
  it('POST /services kubernetes -> 409 {error, field: "/name", value}; elsewhere the name is free', async () => {
    const r = await post('/services', { name: 'kubernetes', ports: [{ port: 443 }] });
    expect(r.statusCode, r.body).toBe(409);
    expect(r.json()).toEqual({
      error: 'name: "kubernetes" is reserved in namespace "default" (the API server\'s service)', field: '/name', value: 'kubernetes', in: 'body',
    });
    const dns = await post('/services', { name: 'kube-dns', namespace: 'kube-system', ports: [{ port: 53 }] });
    expect(dns.statusCode, dns.body).toBe(409);
    expect(dns.json()).toMatchObject({ field: '/name', value: 'kube-dns', error: expect.stringContaining('reserved in namespace "kube-system"') });
    expect(api.h.cluster.plan.services.filter((s) => s.name === 'kubernetes')).toEqual([]);
    const other = await post('/services', { name: 'kubernetes', namespace: 'team', ports: [{ port: 443 }] });
    expect(other.statusCode, other.body).toBe(201);
    expect((await del('/services/kubernetes.team')).statusCode).toBe(200);
  });
});
