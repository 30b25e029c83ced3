/**
 * A Cyclonus-style step case driven entirely through the REST API, as Cyclonus drives a real
 * cluster (pkg/generator's actions: CreatePolicy, SetPodLabels, DeletePolicy; then
 * ProbeAllAvailable): each step changes the running x/y/z model (`POST /networkpolicies`,
 * `PATCH /pods/:name`, `DELETE /networkpolicies/:ns/:name`) and `POST /probe` sends real
 * packets; the whole 9x9 TCP/80 matrix of every step is asserted. Rows are sources, columns
 * targets, both in Cyclonus' order (x/a ... z/c); `.` allowed, `X` blocked. A pod always reaches
 * itself (the API's rule), so the diagonal is `.`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { Controller } from '../../src/control/controller.js';
import type { ProbeRecord } from '../../src/kube/probe.js';
import { ALL_PODS, modelCluster } from './runner.js';

// y/b admits TCP 80 from pods labelled client=yes in namespaces labelled ns=x: one peer, both selectors (ANDed).
const POLICY = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-clients', namespace: 'y' },
  spec: {
    podSelector: { matchLabels: { pod: 'b' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { client: 'yes' } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
  },
};

const OPEN = ALL_PODS.map(() => '.........');
/** Every row open but the column of y/b (index 4), which is `X` except where `allowed` says `.` (and y/b itself). */
const toYB = (...allowed: string[]): string[] => ALL_PODS.map((from) => (from === 'y/b' || allowed.includes(from) ? '.........' : '....X....'));

interface StepCase {
  what: string;
  method: 'POST' | 'PATCH' | 'DELETE' | null;
  url?: string;
  body?: unknown;
  status?: number;
  matrix: string[];
}

const STEPS: StepCase[] = [
  { what: 'no policy: everything allowed', method: null, matrix: OPEN },
  { what: 'create y/allow-clients: nobody is a client yet, y/b ingress isolated', method: 'POST', url: '/networkpolicies', body: POLICY, status: 201, matrix: toYB() },
  { what: 'set x/a client=yes: x/a now matches both selectors', method: 'PATCH', url: '/pods/a.x', body: { labels: { client: 'yes' } }, matrix: toYB('x/a') },
  { what: 'set z/c client=yes: its namespace is not ns=x (the AND of one peer)', method: 'PATCH', url: '/pods/c.z', body: { labels: { client: 'yes' } }, matrix: toYB('x/a') },
  { what: 'set y/b pod=b2: the policy no longer selects its target, y/b is not isolated', method: 'PATCH', url: '/pods/b.y', body: { labels: { pod: 'b2' } }, matrix: OPEN },
  { what: 'set y/b pod=b again: selected and isolated again', method: 'PATCH', url: '/pods/b.y', body: { labels: { pod: 'b' } }, matrix: toYB('x/a') },
  { what: 'remove x/a client (null): no client left in x', method: 'PATCH', url: '/pods/a.x', body: { labels: { client: null } }, matrix: toYB() },
  { what: 'delete y/allow-clients: everything allowed again', method: 'DELETE', url: '/networkpolicies/y/allow-clients', matrix: OPEN },
];

/** The probes of one port and protocol as Cyclonus' grid: one string per source, one mark per target. */
function grid(probes: readonly ProbeRecord[]): string[] {
  const at = new Map(probes.map((p) => [`${p.from} ${p.to}`, p.allowed]));
  return ALL_PODS.map((from) => ALL_PODS.map((to) => {
    const v = at.get(`${from} ${to}`);
    return v === undefined ? '?' : v ? '.' : 'X';
  }).join(''));
}

describe('a Cyclonus-style step case through the API: create policy, set pod labels, delete policy, the matrix after every step', () => {
  let app: FastifyInstance;
  let ctl: Controller;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podwire-api-steps-'));
    ctl = new Controller(modelCluster(), { capturesDir: dir });
    app = buildApi(ctl);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await ctl.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every step\'s 9x9 TCP/80 matrix is the expected one', async () => {
    const seen: string[] = [];
    for (const [i, s] of STEPS.entries()) {
      if (s.method !== null) {
        const r = await app.inject({ method: s.method, url: `/api/v1${s.url!}`, ...(s.body !== undefined ? { payload: s.body as object } : {}) });
        expect(r.statusCode, `step ${i} (${s.what}): ${r.body}`).toBe(s.status ?? 200);
      }
      const probe = await app.inject({ method: 'POST', url: '/api/v1/probe', payload: { ports: [80], protocols: ['tcp'] } });
      expect(probe.statusCode, probe.body).toBe(200);
      const probes = probe.json<{ probes: ProbeRecord[] }>().probes;
      expect(probes).toHaveLength(81);
      expect({ step: i, what: s.what, matrix: grid(probes) }).toEqual({ step: i, what: s.what, matrix: s.matrix });
      // The reason of a refused probe names the policy that isolated y/b.
      for (const p of probes) if (!p.allowed) expect(p.reason, `${p.from} -> ${p.to}`).toContain('ingress of y/b isolated by y/allow-clients');
      seen.push(grid(probes).join('|'));
    }
    // The labels the steps left: the model's, plus z/c's client=yes.
    const topo = (await app.inject({ method: 'GET', url: '/api/v1/topology' })).json<{ pods: { key: string; labels: Record<string, string> }[] }>();
    expect(Object.fromEntries(topo.pods.filter((p) => /^[abc]\.[xyz]$/.test(p.key)).map((p) => [p.key, p.labels]))).toEqual({
      'a.x': { pod: 'a' }, 'b.x': { pod: 'b' }, 'c.x': { pod: 'c' },
      'a.y': { pod: 'a' }, 'b.y': { pod: 'b' }, 'c.y': { pod: 'c' },
      'a.z': { pod: 'a' }, 'b.z': { pod: 'b' }, 'c.z': { pod: 'c', client: 'yes' },
    });
    expect(new Set(seen).size).toBe(3); // open, y/b closed, y/b open to x/a only
  }, 60_000);
});
