/**
 * Request validation for the API: two Ajv instances (bodies: no type coercion, schema
 * defaults filled in; query strings and URL parameters: strings coerced to the schema's
 * types), and the translation of an Ajv error into the API's error body
 *
 *   400 { error: 'body/node: "Node1" is not a valid name (...)', field: '/node', in: 'body', value: 'Node1' }
 *
 * `field` is the JSON pointer of the bad value inside the part named by `in`; an unknown
 * field names itself (`/nmae`), a missing one too (`/name`, value null). Pattern errors
 * read as the topology loader's do (`"10.244.1.0/33" is not a CIDR`, PATTERN_NAMES).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { PATTERN_NAMES } from '../kube/schema.js';

export type HttpPart = 'body' | 'querystring' | 'params' | 'headers';

export interface ApiErrorBody {
  error: string;
  field: string | null;
  value: unknown;
  in?: 'body' | 'query' | 'params' | 'headers';
}

const bodyAjv = new Ajv({ allErrors: false, useDefaults: true, verbose: true, coerceTypes: false, strict: true });
const urlAjv = new Ajv({ allErrors: false, useDefaults: true, verbose: true, coerceTypes: true, strict: true });

/** Fastify's validator compiler: bodies strict, URL parts coerced. */
export function compileValidator({ schema, httpPart }: { schema: unknown; httpPart?: string }): ValidateFunction {
  return (httpPart === 'body' ? bodyAjv : urlAjv).compile(schema as object);
}

const q = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

function partName(p: string | undefined): NonNullable<ApiErrorBody['in']> {
  return p === 'querystring' ? 'query' : p === 'params' ? 'params' : p === 'headers' ? 'headers' : 'body';
}

/** The first Ajv error of a failed request, as the API's 400 body. */
export function validationErrorBody(errors: readonly ErrorObject[], part: string | undefined): ApiErrorBody {
  const where = partName(part);
  const e = errors[0];
  if (e === undefined) return { error: `${where}: invalid`, field: '', value: null, in: where };
  let field = e.instancePath;
  let value: unknown = e.data;
  let why: string;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String(p['additionalProperty']);
      field = `${field}/${escape(extra)}`;
      value = (e.data as Record<string, unknown> | null)?.[extra] ?? null;
      why = `unknown field ${q(extra)}`;
      break;
    }
    case 'required': {
      const missing = String(p['missingProperty']);
      field = `${field}/${escape(missing)}`;
      value = null;
      why = 'is required';
      break;
    }
    case 'pattern': {
      const noun = PATTERN_NAMES[String(p['pattern'])];
      why = noun !== undefined ? `${q(value)} is not ${noun}` : `${q(value)} does not match ${String(p['pattern'])}`;
      break;
    }
    case 'enum':
      why = `${q(value)} must be one of ${(p['allowedValues'] as unknown[]).map((v) => q(v)).join(', ')}`;
      break;
    case 'type':
      why = `${q(value)} must be ${article(String(p['type']))}`;
      break;
    case 'propertyNames':
      value = p['propertyName'] ?? value;
      field = `${field}/${escape(String(value))}`;
      why = `${q(value)} is not a valid key`;
      break;
    default:
      why = `${q(value)} ${e.message ?? 'is invalid'}`;
  }
  const label = field === '' ? where : `${where}${field}`;
  return { error: `${label}: ${why}`, field, value: value === undefined ? null : value, in: where };
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function article(t: string): string {
  const list = t.split(',');
  return list.map((x) => (x === 'integer' || x === 'object' || x === 'array' ? `an ${x}` : x === 'null' ? 'null' : `a ${x}`)).join(' or ');
}
