/**
 * The REST API: fastify under `/api/v1`, thin over the control façade (src/control).
 *
 * - Every body, URL parameter and query string is validated by its JSON Schema (pods and
 *   services with the topology file's own sub-schemas); a bad one is a 400
 *   `{ error, field, value, in }` naming the JSON pointer and the value.
 * - Every other answer that is not a success has that shape too, fastify's own included:
 *   a body nested deeper than MAX_BODY_DEPTH or holding a number JS cannot read exactly
 *   (400, checked on the text before parsing), malformed JSON (400), a bad URL encoding
 *   (400), an unknown route (404), a known path with another method (405 with `Allow`),
 *   a body over MAX_INPUT_BYTES (413), a content type other than JSON (415), and what
 *   Node's HTTP parser refuses (an unknown method such as `FOO`: 501; bad HTTP: 400).
 * - Control errors keep their status: 404 unknown names, 409 conflicts, 501 not available,
 *   503 shutting down.
 * - Without a token the API serves loopback only; any other address needs a bearer token,
 *   checked on every request in constant time (auth.ts). `startApi` refuses to start
 *   off loopback without one, before binding anything.
 * - `GET /api/v1/openapi.json` is generated from the registered routes' schemas.
 * - The web UI is served at `/` (web.ts): its files without the token, its API calls with it.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ControlError } from '../control/errors.js';
import type { Controller } from '../control/controller.js';
import { bearerChecker, listenRefusal } from './auth.js';
import { openapiDocument, recordRoute, type RecordedRoute } from './openapi.js';
import { captureRoutes } from './routes-captures.js';
import { clusterRoutes } from './routes-cluster.js';
import { WEB_PATHS, webRoutes } from './web.js';
import { observeRoutes } from './routes-observe.js';
import { probeRoutes } from './routes-probe.js';
import { linkRoutes } from './routes-links.js';
import { ApiBodyError, compileValidator, scanJsonBody, validationErrorBody, type ApiErrorBody } from './validation.js';
import { emptyQuery, KEY_MAX } from './schemas.js';
import { MAX_INPUT_BYTES } from '../kube/topology.js';

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

const MIB = 1024 * 1024;

/** fastify's own 4xx errors (before a route's handler runs), in the API's shape. */
function frameworkErrorBody(fe: FastifyError, req: FastifyRequest): ApiErrorBody {
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { error: `body is not valid JSON: ${fe.message}`, field: '', value: null, in: 'body' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { error: `body is larger than ${MAX_INPUT_BYTES / MIB} MiB (${MAX_INPUT_BYTES} bytes)`, field: '', value: null, in: 'body' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = req.headers['content-type'] ?? null;
      return { error: `headers/content-type: ${JSON.stringify(type)} is not supported (send application/json)`, field: '/content-type', value: type, in: 'headers' };
    }
    case 'FST_ERR_BAD_URL':
      return { error: `params: ${JSON.stringify(req.url.split('?')[0])} is not a valid URL (bad percent-encoding)`, field: '', value: req.url.split('?')[0] ?? null, in: 'params' };
    default:
      return { error: fe.message, field: null, value: null };
  }
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (an unknown method such as
 * `FOO`, a malformed request line, headers over the limit): answered on the socket in the
 * API's shape, as fastify's default handler does in its own.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, why] = err.code === 'HPE_INVALID_METHOD' ? [501, 'the request method is not one HTTP servers know']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request did not arrive in time']
        : [400, 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: `${why} (${err.code ?? 'error'})`, field: null, value: null });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** `/api/v1/pods/:name` -> a RegExp matching its paths. */
function routePattern(url: string): RegExp {
  return new RegExp(`^${url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
}
export function buildApi(ctl: Controller, opts: ApiOptions = {}): FastifyInstance {
  // A pod key in a URL is up to KEY_MAX (317) characters (fastify's default limit is 100); a longer one gets a 400 naming it, not a 404.
  const app = Fastify({
    logger: opts.logger ?? false, bodyLimit: MAX_INPUT_BYTES, return503OnClosing: true, routerOptions: { maxParamLength: 2 * KEY_MAX },
    frameworkErrors: (err, req, reply) => sendError(reply, err.statusCode ?? 400, frameworkErrorBody(err, req as FastifyRequest)),
    clientErrorHandler,
  });
  const routes: RecordedRoute[] = [];
  const token = opts.token ?? null;
  app.setValidatorCompiler(compileValidator);
  webRoutes(app); // the web UI at `/`, before the hook: not part of the API's openapi.json
  app.addHook('onRoute', (r) => recordRoute(routes, '', r));
  // Only JSON bodies (no text/plain), scanned for depth and unreadable numbers before parsing.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const bad = scanJsonBody(body as string);
    if (bad !== null) { done(new ApiBodyError(400, bad), undefined); return; }
    parseJson(req, body as string, done);
  });

  if (token !== null && token !== '') {
    const ok = bearerChecker(token);
    app.addHook('onRequest', async (req, reply) => {
      // The web UI's own files hold no cluster data; the API calls the page makes carry the token.
      if ((req.method === 'GET' || req.method === 'HEAD') && WEB_PATHS.has(req.url.split('?')[0] ?? '')) return;
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
    if (err instanceof ApiBodyError) return sendError(reply, err.status, err.body);
    const fe = err as FastifyError & { validationContext?: string };
    if (fe.validation !== undefined) return sendError(reply, 400, validationErrorBody(fe.validation as never, fe.validationContext));
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const body = frameworkErrorBody(fe, req);
      if (err instanceof SyntaxError && body.field === null) return sendError(reply, 400, { error: `body is not valid JSON: ${fe.message}`, field: '', value: null, in: 'body' });
      return sendError(reply, status, { ...body, in: body.in ?? 'body' });
    }
    req.log.error(err);
    return sendError(reply, 500, { error: fe.message, field: null, value: null });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    // A known path asked with another method: 405 and the methods it has (RFC 9110 15.5.6).
    const allow = new Set<string>();
    for (const r of routes) if (routePattern(r.url).test(path)) allow.add(r.method.toUpperCase());
    if (allow.has('GET')) allow.add('HEAD');
    if (allow.size > 0) {
      const list = [...allow].sort().join(', ');
      return sendError(reply.header('allow', list), 405, { error: `method ${req.method} is not allowed on ${path} (allowed: ${list})`, field: null, value: req.method });
    }
    return sendError(reply, 404, { error: `no route ${req.method} ${path} (see ${API_PREFIX}/openapi.json)`, field: null, value: null });
  });

  void app.register(async (api) => {
    clusterRoutes(api, ctl);
    linkRoutes(api, ctl);
    captureRoutes(api, ctl);
    observeRoutes(api, ctl);
    probeRoutes(api, ctl);
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
