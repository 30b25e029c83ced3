/**
 * Loading a topology: YAML text -> plain data -> JSON Schema (schema.ts) -> semantic checks
 * (semantic.ts) -> a `Topology` with every default filled in.
 *
 * Errors name the field in bracketed style and quote the bad value as JSON; when the input was
 * YAML they also carry the line and column it came from:
 *
 *     pods[2].node: "node9" is not a node
 *     nodes[0].podCIDR: "10.244.1.0/33" is not a CIDR
 *     pods[1]: unknown field "nmae"
 *
 * The second pass runs only when the first passes (it relies on the schema's types); each
 * pass reports everything it finds. Warnings (a selector that matches no pod, ...) never make
 * a topology invalid.
 */

import { open } from 'node:fs/promises';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Pair } from 'yaml';
import { PATTERN_NAMES, topologySchema } from './schema.js';
import { checkTopology, joinPath } from './semantic.js';
import type { SchemaTopology } from './semantic.js';
import type { TopologyError, TopologyResult } from './types.js';

export type { TopologyError, TopologyResult } from './types.js';

const q = (v: unknown): string => (v === undefined ? 'undefined' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v));

/**
 * The largest topology file (and API request body, src/api/server.ts) podwire reads: 8 MiB.
 * A topology of 10,000 pods is about 1 MB; the cap keeps a stray 50 MB file from taking
 * minutes and gigabytes before it is refused.
 */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;

const sizeText = (n: number): string => (n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MiB` : `${n} bytes`);

/** The error for an input over MAX_INPUT_BYTES, naming it and its size. */
function tooLarge(source: string, bytes: number, atLeast: boolean): TopologyError {
  return {
    path: '', value: source, source,
    message: `${q(source)} is ${atLeast ? 'more than ' : ''}${sizeText(bytes)} (${bytes} bytes); podwire reads topologies of at most 8 MiB (${MAX_INPUT_BYTES} bytes)`,
  };
}

/** The compiled schema; it fills schema defaults into the data it checks (`useDefaults`). */
const validate: ValidateFunction = new Ajv({ allErrors: true, useDefaults: true, verbose: true }).compile(topologySchema);

/**
 * Text form: `pods[2].node: "node9" is not a node`; with `location`, prefixed by
 * `source:line:column: ` when the error came from YAML text (`demo.yaml:41:11: pods[2].node: ...`); an error
 * about a Kubernetes object names it before its field path (`deploy.yaml:14: Deployment/default/web: spec.replicas: ...`).
 */
export function formatTopologyError(e: TopologyError, opts: { location?: boolean } = {}): string {
  const where = opts.location === true && e.line !== undefined ? `${e.source ?? 'topology'}:${e.line}${e.column !== undefined ? `:${e.column}` : ''}: ` : '';
  return `${where}${e.object !== undefined ? `${e.object}: ` : ''}${e.path === '' ? '' : `${e.path}: `}${e.message}`;
}

/** Validates a parsed document (an object from YAML, JSON or an API body). Does not modify `obj`. */
export function validateTopology(obj: unknown): TopologyResult {
  return validateLocated(obj).result;
}

/** Parses YAML text and validates it; errors carry `sourceName`, line and column. */
export function parseTopology(yamlText: string, sourceName = 'topology'): TopologyResult {
  if (yamlText.length > MAX_INPUT_BYTES / 4 && Buffer.byteLength(yamlText) > MAX_INPUT_BYTES) {
    return { ok: false, errors: [tooLarge(sourceName, Buffer.byteLength(yamlText), false)], warnings: [] };
  }
  const lc = new LineCounter();
  // uniqueKeys: false: yaml's own duplicate-key check compares each key with every earlier
  // one (quadratic: 20k keys took seconds); scanDocument finds duplicates with one Set per map.
  const doc = parseDocument(yamlText, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const scan = doc.errors.length > 0 ? { duplicates: [], numbers: [] } : scanDocument(doc, yamlText);
  const syntax = [...doc.errors.map((e) => ({ pos: e.pos[0], message: e.message })), ...scan.duplicates].sort((a, b) => a.pos - b.pos);
  if (syntax.length > 0) {
    const errors = syntax.map((e): TopologyError => {
      const { line, col } = lc.linePos(e.pos);
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return { path: '', value: undefined, message: `YAML syntax error at line ${line}, column ${col}: ${message}`, source: sourceName, line, column: col };
    });
    return { ok: false, errors, warnings: [] };
  }
  if (scan.numbers.length > 0) {
    const errors = scan.numbers.map((e): TopologyError => {
      const { line, col } = lc.linePos(e.pos);
      const shown = e.text.length > 40 ? `${e.text.slice(0, 20)}...(${e.text.length} digits)` : e.text;
      const why = e.finite ? 'is beyond the largest integer podwire reads exactly (2^53 - 1)' : 'is not a finite number';
      return { path: e.path, value: e.text, message: `${shown} ${why}`, source: sourceName, line, column: col };
    });
    return { ok: false, errors, warnings: [] };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, errors: [{ path: '', value: undefined, message: (e as Error).message, source: sourceName }], warnings: [] };
  }
  if (data === null || data === undefined) {
    return { ok: false, errors: [{ path: '', value: null, message: 'the document is empty', source: sourceName }], warnings: [] };
  }
  const { result, at } = validateLocated(data);
  const index: KeyIndex = new WeakMap();
  const place = (e: TopologyError): TopologyError => {
    const off = locate(doc, at.get(e) ?? e.path, index);
    if (off === undefined) return { ...e, source: sourceName };
    const { line, col } = lc.linePos(off);
    return { ...e, source: sourceName, line, column: col };
  };
  return result.ok
    ? { ok: true, topology: result.topology, warnings: result.warnings.map(place) }
    : { ok: false, errors: result.errors.map(place), warnings: result.warnings.map(place) };
}

/** Reads and validates a topology file. A file that cannot be read is an error result, not an exception. */
export async function loadTopologyFile(path: string): Promise<TopologyResult> {
  let text: string;
  try {
    const r = await readCapped(path, MAX_INPUT_BYTES);
    if (r === null) return { ok: false, errors: [tooLarge(path, MAX_INPUT_BYTES, true)], warnings: [] };
    text = r;
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { ok: false, errors: [{ path: '', value: path, message: `cannot read ${q(path)}: ${reason}`, source: path }], warnings: [] };
  }
  return parseTopology(text, path);
}

/**
 * The file's text, or null when it holds more than `cap` bytes. Reads at most cap + 1 bytes
 * (a size from stat would miss pipes and /proc files), so a 50 MB file costs nothing.
 */
async function readCapped(path: string, cap: number): Promise<string | null> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(cap + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > cap) return null;
    }
    return buf.toString('utf8', 0, n);
  } finally {
    await fh.close();
  }
}

export interface DocumentScan {
  /** Keys given twice in one mapping (yaml's "Map keys must be unique", found in linear time). */
  duplicates: { pos: number; message: string }[];
  /** Numbers a JS number cannot hold: .inf, .nan, 1e400 (Infinity), integers past 2^53 - 1 (rounded). */
  numbers: { pos: number; path: string; text: string; finite: boolean }[];
}

/**
 * One pass over the parsed document, with an explicit stack (no recursion): duplicate keys
 * (one Set per map; parse with `uniqueKeys: false`, yaml's own check is quadratic) and
 * numbers a JS number cannot hold.
 */
export function scanDocument(doc: Document, text: string): DocumentScan {
  const out: DocumentScan = { duplicates: [], numbers: [] };
  const stack: { node: unknown; path: string }[] = [{ node: doc.contents, path: '' }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { node, path } = top;
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const k = pair.key;
        if (isScalar(k)) {
          if (seen.has(k.value)) out.duplicates.push({ pos: k.range?.[0] ?? 0, message: 'Map keys must be unique' });
          seen.add(k.value);
        }
        stack.push({ node: pair.value, path: joinPath(path, isScalar(k) ? String(k.value) : '?') });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: joinPath(path, i) }));
    } else if (isScalar(node) && typeof node.value === 'number') {
      const v = node.value;
      if (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v))) {
        const r = node.range ?? [0, 0];
        out.numbers.push({ pos: r[0], path, text: text.slice(r[0], r[1]), finite: Number.isFinite(v) });
      }
    }
  }
  out.numbers.sort((a, b) => a.pos - b.pos);
  return out;
}

// ---------------------------------------------------------------------------------------

/** The result plus, per error, the path to point at in the source (the unknown key itself, ...). */
function validateLocated(obj: unknown): { result: TopologyResult; at: Map<TopologyError, string> } {
  const at = new Map<TopologyError, string>();
  const data: unknown = structuredClone(obj);
  if (!validate(data)) {
    const seen = new Set<string>();
    const errors: TopologyError[] = [];
    const all = validate.errors ?? [];
    for (const e of all) {
      const b = anyOfBranch(e, all);
      const t = b === 'skip' ? null : b ?? translate(e);
      if (t === null) continue;
      const key = `${t.error.path}\n${t.error.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      errors.push(t.error);
      at.set(t.error, t.at);
    }
    return { result: { ok: false, errors, warnings: [] }, at };
  }
  const checked = checkTopology(data as SchemaTopology);
  const result: TopologyResult = checked.topology !== undefined && checked.errors.length === 0
    ? { ok: true, topology: checked.topology, warnings: checked.warnings }
    : { ok: false, errors: checked.errors, warnings: checked.warnings };
  return { result, at };
}

/**
 * anyOf (a targetPort: a number or a port name; a seed: a number or its digits): Ajv reports
 * every branch and then the anyOf. Say one thing: the branch of the value's own type's error
 * (`70000 must be between 1 and 65535`, `"Web" is not a valid port name`), or, when the value
 * has none of the branches' types, which types it may have. Null: not an anyOf matter.
 */
function anyOfBranch(e: ErrorObject, all: readonly ErrorObject[]): { error: TopologyError; at: string } | 'skip' | null {
  if (e.keyword !== 'anyOf') {
    // A branch's type mismatch says nothing; a branch of the value's own type failing says it all.
    return e.keyword === 'type' && e.schemaPath.includes('/anyOf/') ? 'skip' : null;
  }
  const own = all.some((o) => o.instancePath === e.instancePath && o.keyword !== 'type' && o.schemaPath.startsWith(`${e.schemaPath}/`));
  if (own) return 'skip';
  const types = ((e.schema ?? []) as { type?: string }[]).map((b) => TYPE_NOUNS[String(b.type)] ?? String(b.type));
  const path = pointerToPath(e.instancePath);
  return { error: { path, value: e.data, message: `${q(e.data)} must be ${types.join(' or ')}` }, at: path };
}

/** "/pods/1/name" -> "pods[1].name". */
function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = joinPath(path, /^(0|[1-9][0-9]*)$/.test(seg) ? Number(seg) : seg);
  }
  return path;
}

const TYPE_NOUNS: Readonly<Record<string, string>> = {
  integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false',
  object: 'a mapping', array: 'a list', null: 'null',
};

type Schemaish = Record<string, unknown> & { properties?: Record<string, unknown>; propertyNames?: { pattern?: string } };

function translate(e: ErrorObject): { error: TopologyError; at: string } | null {
  const path = pointerToPath(e.instancePath);
  const v: unknown = e.data;
  const ps = (e.parentSchema ?? {}) as Schemaish;
  const p = e.params as Record<string, unknown>;
  const out = (message: string, value: unknown = v, loc = path) => ({ error: { path, value, message }, at: loc });
  switch (e.keyword) {
    case 'additionalProperties': {
      const f = String(p['additionalProperty']);
      return out(`unknown field ${q(f)}`, f, joinPath(path, f));
    }
    case 'required':
      return out(`missing required field ${q(p['missingProperty'])}`, undefined);
    case 'enum':
      return out(`${q(v)} must be one of ${(p['allowedValues'] as unknown[]).join(', ')}`);
    case 'type': {
      const types = String(p['type']).split(',').map((t) => TYPE_NOUNS[t] ?? t);
      return out(`${q(v)} must be ${types.join(' or ')}`);
    }
    case 'pattern': {
      if (e.schemaPath.includes('/propertyNames/')) return null; // reported by the propertyNames error
      const noun = PATTERN_NAMES[String(p['pattern'])];
      return out(noun !== undefined ? `${q(v)} is not ${noun}` : `${q(v)} must match ${String(p['pattern'])}`);
    }
    case 'propertyNames': {
      const key = String(p['propertyName']);
      const noun = PATTERN_NAMES[ps.propertyNames?.pattern ?? ''] ?? 'a valid key';
      return out(`key ${q(key)} is not ${noun}`, key, joinPath(path, key));
    }
    case 'minimum':
    case 'maximum': {
      const { minimum: lo, maximum: hi } = ps;
      if (lo !== undefined && hi !== undefined) return out(`${q(v)} must be between ${String(lo)} and ${String(hi)}`);
      return out(`${q(v)} must be at ${e.keyword === 'minimum' ? 'least' : 'most'} ${String(p['limit'])}`);
    }
    case 'minItems':
    case 'maxItems': {
      const n = (k: number): string => `${k} item${k === 1 ? '' : 's'}`;
      if (ps['minItems'] === ps['maxItems']) return out(`${q(v)} must have exactly ${n(Number(p['limit']))}`);
      return out(`${q(v)} must have at ${e.keyword === 'minItems' ? 'least' : 'most'} ${n(Number(p['limit']))}`);
    }
    case 'minProperties':
    case 'maxProperties': {
      const names = Object.keys(ps.properties ?? {}).join(', ');
      if (ps['minProperties'] === 1 && ps['maxProperties'] === 1) return out(`${q(v)} must have exactly one of ${names}`);
      return out(`${q(v)} ${e.message ?? 'is invalid'}`);
    }
    case 'if':
      return null; // the then/else branch's own error says what is missing
    default:
      return out(`${q(v)} ${e.message ?? 'is invalid'}`);
  }
}

/** A map's pairs by key text, built once per map (a lookup per error was a scan: quadratic). */
type KeyIndex = WeakMap<object, Map<string, Pair>>;

function pairOf(index: KeyIndex, map: { items: Pair[] }, key: string): Pair | undefined {
  let byKey = index.get(map);
  if (byKey === undefined) {
    byKey = new Map();
    for (const it of map.items) if (isPair(it) && isScalar(it.key) && !byKey.has(String(it.key.value))) byKey.set(String(it.key.value), it);
    index.set(map, byKey);
  }
  return byKey.get(key);
}

/** Offset in the source of the node at `path` (or of its deepest existing ancestor). */
function locate(doc: Document, path: string, index: KeyIndex = new WeakMap()): number | undefined {
  let node: unknown = doc.contents;
  let offset = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0];
  const segs = path.matchAll(/(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g);
  for (const m of segs) {
    const key: string | number = m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string));
    let next: unknown;
    if (isMap(node)) {
      const pair = pairOf(index, node as { items: Pair[] }, String(key));
      if (pair === undefined) break;
      next = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof key === 'number') {
      next = node.items[key];
    }
    const r = (next as { range?: [number, number, number] } | null | undefined)?.range;
    if (r === undefined) break;
    offset = r[0];
    node = next;
  }
  return offset;
}
