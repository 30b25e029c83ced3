/**
 * Routes over the cluster's state: topology, pods, services, per-node tables, conntrack,
 * trace, stats, health. Thin: each validates through its schema and calls the Controller.
 */
import type { FastifyInstance } from 'fastify';
import type { ConntrackQuery, Controller, PodBody, PodPatchBody, ServiceBody, TraceBody } from '../control/controller.js';
import {
  conntrackDeleteQuery, conntrackQuery, dnsQuery, emptyQuery, keyParams, namespaceBody, netpolParams, nodeParams, podPatchBody, podSchema, rulesQuery, serviceSchema, traceBody,
} from './schemas.js';

type Q = Record<string, string | number | undefined>;

function filterOf(q: Q): ConntrackQuery {
  const out: ConntrackQuery = {};
  for (const k of ['proto', 'src', 'dst', 'sport', 'dport', 'node'] as const) {
    const v = q[k];
    if (v !== undefined) (out as Record<string, string | number>)[k] = v;
  }
  return out;
}

export function clusterRoutes(app: FastifyInstance, ctl: Controller): void {
  app.get('/topology', {
    schema: { summary: 'The cluster as it runs now: nodes, pods (with attach state), services with endpoints', tags: ['cluster'], querystring: emptyQuery },
  }, () => ctl.topology());

  app.post('/pods', {
    schema: { summary: 'Add a pod while running (emulated, or attached when `attach` is given)', tags: ['pods'], body: podSchema },
    config: { errors: [400, 404, 409, 501], status: 201 },
  }, async (req, reply) => reply.code(201).send(await ctl.addPod(req.body as PodBody)));

  app.delete('/pods/:name', {
    schema: { summary: 'Remove a pod (an attached one is detached)', tags: ['pods'], params: keyParams },
    config: { errors: [400, 404, 409] },
  }, (req) => ctl.removePod((req.params as { name: string }).name));

  app.patch('/pods/:name', {
    schema: {
      summary: "Change a pod's labels (merge patch: `{ labels: { key: value, gone: null } }`); Services' endpoints and NetworkPolicies follow at once",
      tags: ['pods'], params: keyParams, body: podPatchBody,
    },
    config: { errors: [400, 404, 409] },
  }, (req) => ctl.patchPod((req.params as { name: string }).name, req.body as PodPatchBody));

  app.post('/services', {
    schema: { summary: 'Add a service while running (cluster IP allocated unless given)', tags: ['services'], body: serviceSchema },
    config: { errors: [400, 404, 409, 501], status: 201 },
  }, async (req, reply) => reply.code(201).send(await ctl.addService(req.body as ServiceBody)));

  app.delete('/services/:name', {
    schema: { summary: 'Remove a service: its rules, DNS name, cluster IP and NodePorts go', tags: ['services'], params: keyParams },
    config: { errors: [400, 404, 501] },
  }, (req) => ctl.removeService((req.params as { name: string }).name));

  app.get('/services/:name/endpoints', {
    schema: { summary: 'The pods behind a service', tags: ['services'], params: keyParams },
    config: { errors: [400, 404, 501] },
  }, (req) => ctl.endpoints((req.params as { name: string }).name));

  for (const table of ['fdb', 'routes', 'neighbors', 'interfaces'] as const) {
    const what = { fdb: 'the bridge\'s forwarding database', routes: 'the root namespace\'s routing table', neighbors: 'the root namespace\'s ARP table', interfaces: 'interfaces with counters' }[table];
    app.get(`/nodes/:name/${table}`, {
      schema: { summary: `A node's ${what}`, tags: ['nodes'], params: nodeParams },
      config: { errors: [400, 404, 409] },
    }, (req) => ctl.nodeTable((req.params as { name: string }).name, table));
  }

  app.get('/nodes/:name/rules', {
    schema: {
      summary: 'kube-proxy\'s rules on a node as the node\'s tools print them: `iptables-save -t nat|filter` or `ipvsadm -Ln` text',
      tags: ['nodes'], params: nodeParams, querystring: rulesQuery,
    },
    config: { errors: [400, 404, 409], produces: ['text/plain'] },
  }, (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const text = ctl.rules((req.params as { name: string }).name, {
      ...(q['format'] !== undefined ? { format: q['format'] } : {}),
      ...(q['table'] !== undefined ? { table: q['table'] } : {}),
      ...(q['service'] !== undefined ? { service: q['service'] } : {}),
    });
    return reply.header('content-type', 'text/plain; charset=utf-8').send(text);
  });

  app.get('/dns', {
    schema: {
      summary: 'A name looked up from a pod as its resolver would (search list, ndots:5): every query and the answer in dig\'s format, as `text/plain`',
      tags: ['dns'], querystring: dnsQuery,
    },
    config: { errors: [400, 404], produces: ['text/plain'] },
  }, (req, reply) => {
    const q = req.query as { from: string; name: string; type?: string };
    return reply.header('content-type', 'text/plain; charset=utf-8').send(`${ctl.dns(q)}\n`);
  });

  app.get('/conntrack', {
    schema: { summary: 'Conntrack entries of every node (or ?node=), filtered; JSON or `conntrack -L` text', tags: ['conntrack'], querystring: conntrackQuery },
    config: { errors: [400, 404, 501], produces: ['application/json', 'text/plain'] },
  }, (req, reply) => {
    const q = req.query as Q;
    if (q['format'] === 'text') {
      const r = ctl.conntrackText(filterOf(q));
      return reply.header('content-type', 'text/plain; charset=utf-8').header('x-podwire-count', String(r.count)).send(r.text);
    }
    return ctl.conntrack(filterOf(q));
  });

  app.delete('/conntrack', {
    schema: { summary: 'Delete the conntrack entries matching the filters (`conntrack -D`)', tags: ['conntrack'], querystring: conntrackDeleteQuery },
    config: { errors: [400, 404, 501] },
  }, (req) => ctl.deleteConntrack(filterOf(req.query as Q)));

  app.get('/networkpolicies', {
    schema: { summary: 'NetworkPolicies in force (creation order) and every namespace with its labels', tags: ['networkpolicies'], querystring: emptyQuery },
  }, () => ctl.networkPolicies());

  app.post('/networkpolicies', {
    schema: {
      summary: 'Create or replace NetworkPolicies while running (one object, or `{ items: [...] }`; all or nothing, errors with Kubernetes field paths)',
      tags: ['networkpolicies'], body: { type: 'object' },
    },
    config: { errors: [400], status: 201 },
  }, async (req, reply) => reply.code(201).send(await ctl.applyNetworkPolicies(req.body)));

  app.delete('/networkpolicies/:namespace/:name', {
    schema: { summary: 'Delete a NetworkPolicy', tags: ['networkpolicies'], params: netpolParams },
    config: { errors: [400, 404] },
  }, (req) => {
    const p = req.params as { namespace: string; name: string };
    return ctl.deleteNetworkPolicy(p.namespace, p.name);
  });

  app.put('/namespaces/:name', {
    schema: { summary: "Set a namespace's labels (what NetworkPolicy namespaceSelectors match)", tags: ['networkpolicies'], params: nodeParams, body: namespaceBody },
    config: { errors: [400] },
  }, (req) => ctl.setNamespaceLabels((req.params as { name: string }).name, (req.body as { labels: Record<string, string> }).labels));

  app.post('/trace', {
    schema: { summary: 'Send one traced packet and return its journey and its reply\'s, hop by hop', tags: ['trace'], body: traceBody },
    config: { errors: [400, 404] },
  }, (req) => ctl.trace(req.body as TraceBody));

  app.get('/stats', {
    schema: { summary: 'Counters: per interface, per element (with drop reasons), link drops, packet pool', tags: ['stats'], querystring: emptyQuery },
  }, () => ctl.stats());

  app.get('/healthz', {
    schema: { summary: 'Liveness and a summary of the instance', tags: ['stats'], querystring: emptyQuery },
  }, () => ctl.health());
}
