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

/**
 * The error that says what is wrong: the first one, except inside an anyOf (a targetPort is
 * a number or a port name), where Ajv lists every branch before the anyOf itself: then the
 * error of the branch of the value's own type (`"Http" is not a valid port name`), or the
 * anyOf when the value has none of the branches' types.
 */
function firstError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  const e = errors[0];
  const any = errors.find((x) => x.keyword === 'anyOf');
  if (e === undefined || any === undefined || !e.schemaPath.startsWith(`${any.schemaPath}/`)) return e;
  return errors.find((x) => x.keyword !== 'type' && x !== any && x.instancePath === any.instancePath && x.schemaPath.startsWith(`${any.schemaPath}/`)) ?? any;
}

/** The first Ajv error of a failed request, as the API's 400 body. */
export function validationErrorBody(errors: readonly ErrorObject[], part: string | undefined): ApiErrorBody {
  const where = partName(part);
  const e = firstError(errors);
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
      // A bad key of a map (propertyNames): named as the topology loader names it, `key "Bad Key"`, in the map's field.
      const what = e.schemaPath.includes('/propertyNames/') ? `key ${q(value)}` : q(value);
      why = noun !== undefined ? `${what} is not ${noun}` : `${what} does not match ${String(p['pattern'])}`;
      break;
    }
    case 'enum':
      why = `${q(value)} must be one of ${(p['allowedValues'] as unknown[]).map((v) => q(v)).join(', ')}`;
      break;
    case 'type':
      why = `${q(value)} must be ${article(String(p['type']))}`;
      break;
    case 'anyOf':
      why = `${q(value)} must be ${article(((e.schema ?? []) as { type?: string }[]).map((b) => String(b.type)).join(','))}`;
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

/** An error found before routing or validation (body too deep, wrong content type, ...): its status and body as is. */
export class ApiBodyError extends Error {
  override readonly name = 'ApiBodyError';
  constructor(readonly status: number, readonly body: ApiErrorBody) {
    super(body.error);
  }
}

/**
 * How deep a request body may nest. The deepest body the API takes (a pod with
 * attach/labels or apps[]) nests 3 levels; a deeper one is refused before JSON.parse and
 * before schema validation, whose recursion ran out of stack on 5,000 levels (a 500).
 */
export const MAX_BODY_DEPTH = 32;

/** Characters of a JSON number: digits - + . e E */
const isNumberChar = (c: number): boolean => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/** Numbers JSON text may hold that a JS number cannot: 1e400 (Infinity), 2^53 and more (rounded). */
function unreadableNumber(text: string): boolean {
  const n = Number(text);
  return !Number.isFinite(n) || (Number.isInteger(n) && !Number.isSafeInteger(n));
}

/**
 * One linear pass over JSON text, before it is parsed: the first value nested deeper than
 * `maxDepth`, or the first number a JS number cannot hold exactly, as a 400 body naming
 * its JSON pointer (and the number's text). null when neither; text that is not JSON is
 * left for JSON.parse to report. Never throws, never recurses.
 */
export function scanJsonBody(text: string, maxDepth = MAX_BODY_DEPTH): ApiErrorBody | null {
  // Per open container: its key (object) or index (array), and whether a key comes next.
  const keys: (string | number)[] = [];
  const isObj: boolean[] = [];
  let expectKey = false;
  const pointer = (): string => keys.map((k) => `/${escape(String(k))}`).join('');
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // '"': a string; an object key when one is due
      let j = i + 1;
      while (j < n && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (expectKey && isObj.length > 0) {
        let key: string;
        try { key = JSON.parse(text.slice(i, j + 1)) as string; } catch { key = text.slice(i + 1, j); }
        keys[keys.length - 1] = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) { // '{' '['
      if (isObj.length >= maxDepth) {
        const field = pointer();
        return { error: `body${field}: nested more than ${maxDepth} levels deep`, field, value: null, in: 'body' };
      }
      isObj.push(c === 0x7b);
      keys.push(c === 0x7b ? '' : 0);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) { // '}' ']'
      isObj.pop();
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c) { // ','
      const top = keys.length - 1;
      if (top >= 0 && isObj[top] === false) keys[top] = (keys[top] as number) + 1;
      else expectKey = top >= 0;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) { // a number
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j++;
      const num = text.slice(i, j);
      if (unreadableNumber(num)) {
        const field = pointer();
        return { error: `body${field}: ${num.length > 40 ? `${num.slice(0, 20)}...(${num.length} characters)` : num} is not a number podwire can read exactly (finite, integers at most 2^53 - 1)`, field, value: num, in: 'body' };
      }
      i = j - 1;
    }
  }
  return null;
}
