/**
 * The REST API: fastify under `/api/v1`, thin over the control façade (src/control).
 *
 * - Every body, URL parameter and query string is validated by its JSON Schema (pods and
 *   services with the topology file's own sub-schemas); a bad one is a 400
 *   `{ error, field, value, in }` naming the JSON pointer and the value.
 * - Control errors keep their status: 404 unknown names, 409 conflicts, 501 not available,
 *   503 shutting down.
 * - Without a token the API serves loopback only; any other address needs a bearer token,
 *   checked on every request in constant time (auth.ts). `startApi` refuses to start
 *   off loopback without one, before binding anything.
 * - `GET /api/v1/openapi.json` is generated from the registered routes' schemas.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { ControlError } from '../control/errors.js';
import type { Controller } from '../control/controller.js';
import { bearerChecker, listenRefusal } from './auth.js';
import { openapiDocument, recordRoute, type RecordedRoute } from './openapi.js';
import { captureRoutes } from './routes-captures.js';
import { clusterRoutes } from './routes-cluster.js';
import { compileValidator, validationErrorBody, type ApiErrorBody } from './validation.js';
import { emptyQuery, KEY_MAX } from './schemas.js';

export const API_PREFIX = '/api/v1';
export const API_VERSION = '0.1.0';

export interface ApiOptions {
  /** Bearer token every request must carry (required off loopback). */
  token?: string | null;
  /** fastify's logger (pino), off by default. */
  logger?: boolean;
}

export class ApiConfigError extends Error {
  override readonly name = 'ApiConfigError';
}

/** Where a ControlError's field lives: a URL parameter, a query key, else the body. */
function partOf(req: FastifyRequest, field: string | null): NonNullable<ApiErrorBody['in']> {
  const key = field?.split('/')[1];
  if (key === undefined || key === '') return 'body';
  if (typeof req.params === 'object' && req.params !== null && key in (req.params as object)) return 'params';
  if (typeof req.query === 'object' && req.query !== null && key in (req.query as object)) return 'query';
  return req.method === 'GET' || req.method === 'DELETE' ? 'query' : 'body';
}

function sendError(reply: FastifyReply, status: number, body: ApiErrorBody): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(body);
}

export function buildApi(ctl: Controller, opts: ApiOptions = {}): FastifyInstance {
  // A pod key in a URL is up to KEY_MAX (317) characters (fastify's default limit is 100); a longer one gets a 400 naming it, not a 404.
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 1024 * 1024, return503OnClosing: true, routerOptions: { maxParamLength: 2 * KEY_MAX } });
  const routes: RecordedRoute[] = [];
  const token = opts.token ?? null;
  app.setValidatorCompiler(compileValidator);
  app.addHook('onRoute', (r) => recordRoute(routes, '', r));

  if (token !== null && token !== '') {
    const ok = bearerChecker(token);
    app.addHook('onRequest', async (req, reply) => {
      if (!ok(req.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer realm="podwire"');
        return sendError(reply, 401, { error: 'missing or wrong bearer token (Authorization: Bearer T)', field: null, value: null, in: 'headers' });
      }
    });
  }

  app.setErrorHandler((err: FastifyError | ControlError, req, reply) => {
    if (err instanceof ControlError) {
      return sendError(reply, err.status, { ...err.toJSON(), in: partOf(req, err.field) });
    }
    const fe = err as FastifyError & { validationContext?: string };
    if (fe.validation !== undefined) return sendError(reply, 400, validationErrorBody(fe.validation as never, fe.validationContext));
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const isJson = fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError;
      return sendError(reply, status, { error: isJson ? `body is not valid JSON: ${fe.message}` : fe.message, field: isJson ? '' : null, value: null, in: 'body' });
    }
    req.log.error(err);
    return sendError(reply, 500, { error: fe.message, field: null, value: null });
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 404, {
    error: `no route ${req.method} ${req.url.split('?')[0]} (see ${API_PREFIX}/openapi.json)`, field: null, value: null,
  }));

  void app.register(async (api) => {
    clusterRoutes(api, ctl);
    captureRoutes(api, ctl);
    api.get('/openapi.json', { schema: { summary: 'This document', tags: ['meta'], querystring: emptyQuery } },
      () => openapiDocument(routes, { version: API_VERSION, secured: token !== null && token !== '' }));
  }, { prefix: API_PREFIX });
  return app;
}

export interface StartedApi {
  readonly app: FastifyInstance;
  readonly host: string;
  readonly port: number;
  /** Base URL of the API, e.g. http://127.0.0.1:7070/api/v1 */
  readonly url: string;
  close(): Promise<void>;
}

/** Throws ApiConfigError for an address the API refuses to serve (non-loopback without a token). */
export function checkListen(listen: { host: string }, token: string | null | undefined): void {
  const why = listenRefusal(listen.host, token);
  if (why !== null) throw new ApiConfigError(why);
}

/** Builds and binds the API; refuses (ApiConfigError) a non-loopback address without a token. */
export async function startApi(ctl: Controller, listen: { host: string; port: number }, opts: ApiOptions = {}): Promise<StartedApi> {
  checkListen(listen, opts.token);
  const app = buildApi(ctl, opts);
  await app.listen({ host: listen.host === 'localhost' ? '127.0.0.1' : listen.host, port: listen.port });
  const addr = app.server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    app, host: addr.address, port: addr.port, url: `http://${h}:${addr.port}${API_PREFIX}`,
    close: () => app.close(),
  };
}
