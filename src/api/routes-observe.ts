/**
 * Routes for seeing the cluster: `GET /inspect` (everything allocated, per node: the
 * document the web UI draws from, src/control/inspect.ts) and `GET /flows` (the flow log,
 * src/control/flows.ts): recent events as JSON, or with `?follow=true` a server-sent event
 * stream (`text/event-stream`, one `id: N` + `data: <event JSON>` per event; a comment line
 * every 15 s keeps proxies from closing it). A reader that falls behind by more than
 * FLOW_BACKLOG bytes loses events (a `: dropped N` comment line before the next event it
 * gets says how many) rather than growing memory. The stream ends when
 * the client goes away or podwire shuts down.
 */
import type { FastifyInstance } from 'fastify';
import type { Controller } from '../control/controller.js';
import type { FlowEvent, FlowFilter } from '../control/flows.js';
import { flowsQuery, inspectQuery } from './schemas.js';
import { flowEventSchema, flowsResponse, inspectResponse } from './schemas-observe.js';

/** Bytes an SSE client may have unread before events are dropped for it. */
export const FLOW_BACKLOG = 1024 * 1024;
const KEEPALIVE_MS = 15_000;

interface FlowsQuery extends FlowFilter { follow?: boolean; limit?: number }

function filterOf(q: FlowsQuery): FlowFilter {
  const f: FlowFilter = {};
  if (q.pod !== undefined) f.pod = q.pod;
  if (q.service !== undefined) f.service = q.service;
  if (q.verdict !== undefined) f.verdict = q.verdict;
  if (q.protocol !== undefined) f.protocol = q.protocol;
  return f;
}

export function observeRoutes(app: FastifyInstance, ctl: Controller): void {
  app.get('/inspect', {
    schema: {
      summary: 'Everything allocated, per node: namespaces, interfaces (MAC, addresses, MTU, peer), routes, bridge ports and FDB, VTEP; pods; services with endpoints',
      tags: ['cluster'], querystring: inspectQuery,
    },
    config: { errors: [400, 404], schemas: { 'application/json': inspectResponse } },
  }, (req) => ctl.inspect((req.query as { node?: string }).node));

  app.get('/flows', {
    schema: {
      summary: 'The flow log: recent flow events (conntrack decisions and counted drops, with reasons), filtered; ?follow=true streams them as server-sent events',
      tags: ['flows'], querystring: flowsQuery,
    },
    config: {
      produces: ['application/json', 'text/event-stream'],
      schemas: {
        'application/json': flowsResponse,
        'text/event-stream': { type: 'string', description: 'one `id: N` and `data: <FlowEvent JSON>` per event, a blank line after each', contentSchema: flowEventSchema },
      },
    },
  }, (req, reply) => {
    const q = req.query as FlowsQuery;
    const f = filterOf(q);
    if (q.follow !== true) {
      const events = ctl.flows.recent(f, q.limit ?? ctl.flows.capacity);
      return { events, count: events.length, total: ctl.flows.total, capacity: ctl.flows.capacity };
    }
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    let dropped = 0;
    const send = (e: FlowEvent): void => {
      if (raw.writableLength > FLOW_BACKLOG) { dropped++; return; }
      const lost = dropped > 0 ? `: dropped ${dropped}\n` : '';
      dropped = 0;
      raw.write(`${lost}id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    raw.write(': podwire flows\n\n');
    for (const e of ctl.flows.recent(f, q.limit ?? 0)) send(e);
    const timer = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    timer.unref();
    const stop = ctl.flows.subscribe(f, send, () => { clearInterval(timer); raw.end(); });
    raw.on('close', () => { clearInterval(timer); stop(); });
    const sock = req.raw.socket as { setNoDelay?: (v: boolean) => void } | undefined;
    if (typeof sock?.setNoDelay === 'function') sock.setNoDelay(true);
  });
}
