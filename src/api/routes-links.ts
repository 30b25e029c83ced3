/**
 * Link impairment routes: netem on interface directions (docs/netem.md). A link is named
 * by its interface as captures name it (`pod1/eth0`: URL-encode the slash, `pod1%2Feth0`).
 *
 *   GET    /links                                 every impaired direction
 *   GET    /links/:id/impairment[?format=tc]      its settings, counters; or the tc lines
 *   PUT    /links/:id/impairment[?direction=]     replace (tc qdisc replace)
 *   PATCH  /links/:id/impairment[?direction=]     merge (RFC 7386: null removes a field)
 *   DELETE /links/:id/impairment[?direction=]     remove (both directions unless given)
 */
import type { FastifyInstance } from 'fastify';
import type { Controller } from '../control/controller.js';

const idParams = {
  type: 'object', additionalProperties: false, required: ['id'],
  properties: { id: { type: 'string', pattern: '^[^/\\s]+/[^/\\s]+$', description: 'interface, e.g. pod1/eth0 (URL-encoded)' } },
} as const;
const dirQuery = {
  type: 'object', additionalProperties: false,
  properties: { direction: { type: 'string', enum: ['egress', 'ingress', 'both'] } },
} as const;
const getQuery = {
  type: 'object', additionalProperties: false,
  properties: { format: { type: 'string', enum: ['json', 'tc'] } },
} as const;
const body = {
  type: 'object',
  description: 'netem settings in tc\'s words ({"delay": "20ms", "loss": "1%", "rate": "10mbit"}) or {"tc": "delay 20ms loss 1%"}',
} as const;

type IdReq = { params: unknown; query: unknown; body?: unknown };
const id = (req: IdReq): string => (req.params as { id: string }).id;
const dir = (req: IdReq): string | undefined => (req.query as { direction?: string }).direction;

export function linkRoutes(app: FastifyInstance, ctl: Controller): void {
  app.get('/links', {
    schema: { summary: 'Every impaired link direction (netem) with its settings and counters', tags: ['links'], querystring: { type: 'object', additionalProperties: false } },
  }, () => ctl.netem.list());

  app.get('/links/:id/impairment', {
    schema: { summary: 'A link\'s netem settings and counters, or (?format=tc) the equivalent tc qdisc lines', tags: ['links'], params: idParams, querystring: getQuery },
    config: { errors: [400, 404], produces: ['application/json', 'text/plain'] },
  }, (req, reply) => {
    if ((req.query as { format?: string }).format === 'tc') {
      return reply.header('content-type', 'text/plain; charset=utf-8').send(ctl.netem.tc(id(req)));
    }
    return ctl.netem.get(id(req));
  });

  app.put('/links/:id/impairment', {
    schema: { summary: 'Replace a link direction\'s netem settings (created when absent)', tags: ['links'], params: idParams, querystring: dirQuery, body },
    config: { errors: [400, 404, 503] },
  }, (req) => ctl.netem.set(id(req), req.body, dir(req)));

  app.patch('/links/:id/impairment', {
    schema: { summary: 'Merge into a link direction\'s netem settings (RFC 7386: null removes a field)', tags: ['links'], params: idParams, querystring: dirQuery, body },
    config: { errors: [400, 404, 503] },
  }, (req) => ctl.netem.patch(id(req), req.body, dir(req)));

  app.delete('/links/:id/impairment', {
    schema: { summary: 'Remove a link\'s netem (both directions unless ?direction=)', tags: ['links'], params: idParams, querystring: dirQuery },
    config: { errors: [400, 404, 503] },
  }, (req) => ctl.netem.clear(id(req), dir(req)));
}
