/**
 * Live changes do not disturb traffic that does not involve them: a continuous UDP stream
 * from pod1 (node1) to pod3 (node2) keeps flowing, every datagram counted at the sink,
 * while a pod is added on node1 (it joins service1's endpoints) and an endpoint of
 * service1 (pod2, on the same bridge as pod1) is removed, through the API, with packets
 * of the stream in flight on the links at the moment each change is applied.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { UdpGenerator, UdpSink } from '../../src/apps/traffic.js';
import { consistencyProblems, demoController, type Harness } from './helpers.js';

let h: Harness;
let app: FastifyInstance;

beforeAll(async () => {
  h = await demoController();
  app = buildApi(h.ctl);
});

afterAll(async () => {
  await app.close();
  await h.done();
});

it('adding a pod and removing an endpoint while a UDP stream flows loses nothing', async () => {
  const c = h.cluster;
  const src = c.pod('pod1');
  const dst = c.pod('pod3');
  const sink = UdpSink.start(dst.ns, 5001);
  const gen = new UdpGenerator(src.ns, { dst: dst.plan.ip, dport: 5001, sport: 40001, frameSize: 128 });
  // Warm up: ARP on both nodes and the overlay's neighbour entries.
  gen.burst(1);
  c.engine.advance(100);
  expect(sink.packets).toBe(1);

  const endpoints = async (): Promise<string[]> => (await app.inject({ method: 'GET', url: '/api/v1/services/service1/endpoints' }))
    .json<{ endpoints: { pod: string }[] }>().endpoints.map((e) => e.pod).sort();
  expect(await endpoints()).toEqual(['pod2', 'pod3']);

  for (let step = 0; step < 60; step++) {
    gen.burst(16);
    if (step === 20) {
      const r = await app.inject({ method: 'POST', url: '/api/v1/pods', payload: { name: 'pod4', node: 'node1', labels: { app: 'web' }, apps: [{ type: 'http', port: 8080 }] } });
      expect(r.statusCode, r.body).toBe(201);
      expect(await endpoints()).toEqual(['pod2', 'pod3', 'pod4']);
    }
    if (step === 40) {
      const r = await app.inject({ method: 'DELETE', url: '/api/v1/pods/pod2' });
      expect(r.statusCode, r.body).toBe(200);
      expect(await endpoints()).toEqual(['pod3', 'pod4']);
    }
    c.engine.advance(5);
  }
  c.engine.advance(1000);

  expect(gen.poolExhausted).toBe(0);
  expect(gen.sent).toBe(1 + 60 * 16);
  expect(sink.packets).toBe(gen.sent);
  expect(c.engine.linkDrops).toBe(0);
  expect(consistencyProblems(c)).toEqual([]);
  // The service still works through the new endpoint set.
  const tr = await app.inject({ method: 'POST', url: '/api/v1/trace', payload: { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 } });
  expect(tr.json<{ request: { delivered: boolean } }>().request.delivered).toBe(true);
  sink.close();
});
