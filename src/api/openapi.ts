/**
 * The OpenAPI 3.1 document of the API, generated from the routes as they are registered
 * (fastify's onRoute hook hands us each route's schemas): parameters from the `params`
 * and `querystring` schemas, the request body from `body`, the error answers from the
 * route's `config.errors`. OpenAPI 3.1 uses JSON Schema as is, so the topology's
 * sub-schemas appear unchanged.
 */
import type { RouteOptions } from 'fastify';
import { errorSchema } from './schemas.js';

interface JsonObject { [k: string]: unknown }

export interface RecordedRoute {
  method: string;
  url: string;
  schema: JsonObject;
  /** `schemas`: the answer's schema per media type (default: any object for JSON, bytes otherwise). */
  config: { errors?: number[]; status?: number; produces?: string[]; schemas?: Record<string, unknown> };
}

export function recordRoute(list: RecordedRoute[], prefix: string, r: RouteOptions): void {
  const methods = Array.isArray(r.method) ? r.method : [r.method];
  for (const m of methods) {
    if (m === 'HEAD' || r.url.endsWith('*')) continue;
    list.push({
      method: m.toLowerCase(), url: r.url.startsWith(prefix) ? r.url : `${prefix}${r.url}`,
      schema: (r.schema ?? {}) as JsonObject, config: (r.config ?? {}) as RecordedRoute['config'],
    });
  }
}

const DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'a body, parameter or query value is invalid (field names it as a JSON pointer)',
  401: 'missing or wrong bearer token',
  404: 'an unknown name (pod, node, service, capture, interface)',
  409: 'conflicts with the running cluster (exists, in use, not emulated here)',
  501: 'not available in this build or cluster',
  503: 'shutting down',
};

function parameters(schema: unknown, where: 'path' | 'query'): JsonObject[] {
  const s = schema as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (s?.properties === undefined) return [];
  return Object.entries(s.properties).map(([name, sub]) => {
    const { description, ...rest } = sub as JsonObject;
    return {
      name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: rest,
      ...(typeof description === 'string' ? { description } : {}),
    };
  });
}

export function openapiDocument(routes: readonly RecordedRoute[], info: { version: string; secured: boolean }): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const ok = r.config.status ?? 200;
    const produces = r.config.produces ?? ['application/json'];
    const responses: JsonObject = {
      [String(ok)]: {
        description: 'OK',
        content: Object.fromEntries(produces.map((m) => [m, {
          schema: r.config.schemas?.[m] ?? (m === 'application/json' ? { type: 'object' } : { type: 'string', format: 'binary' }),
        }])),
      },
    };
    for (const code of [...(r.schema['body'] !== undefined || r.schema['params'] !== undefined || r.schema['querystring'] !== undefined ? [400] : []), ...(r.config.errors ?? []), ...(info.secured ? [401] : []), 503]) {
      responses[String(code)] = { description: DESCRIPTIONS[code] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: JsonObject = {
      operationId: `${r.method}${path.replace(/\/api\/v1/, '').replace(/[{}]/g, '').split('/').map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('')}`,
      summary: r.schema['summary'] ?? '',
      tags: r.schema['tags'] ?? [],
      parameters: [...parameters(r.schema['params'], 'path'), ...parameters(r.schema['querystring'], 'query')],
      responses,
    };
    if (r.schema['body'] !== undefined) op['requestBody'] = { required: true, content: { 'application/json': { schema: r.schema['body'] } } };
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'podwire API', version: info.version,
      description: 'Control a running podwire cluster: pods, services, per-node tables, conntrack, traces, captures (files and live pcapng streams), attach, stats.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    ...(info.secured ? { security: [{ bearer: [] }] } : {}),
  };
}
