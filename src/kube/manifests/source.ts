/**
 * Reading Kubernetes objects as `kubectl apply -f` reads them: YAML or JSON, several documents
 * per file (`---`), `kind: List` (and `v1/List`, `kubectl get -o yaml`'s output) flattened into
 * its items, a directory read file by file in sorted name order (`.yaml`, `.yml`, `.json`, not
 * recursive, as kubectl without `-R`). Every object keeps its source and the YAML node it came
 * from, so an error can name `file:line` of the very field it is about.
 *
 * A document without `apiVersion`/`kind` is podwire's own: its `cluster:` (and `nodes:`) are
 * the cluster section of the manifests (manifests.md).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import type { TopologyError } from '../types.js';
import { scanDocument } from '../topology.js';

/** One Kubernetes object (or one podwire document) and where it was written. */
export interface SourceObject {
  obj: Record<string, unknown>;
  source: string;
  /** The object's YAML node (a mapping); undefined for objects built in code. */
  node?: YamlNode;
  lc?: LineCounter;
  /** 1-based line of the object's first field. */
  line: number;
}

export interface ReadResult {
  objects: SourceObject[];
  errors: TopologyError[];
}

const rangeOf = (n: unknown): [number, number, number] | undefined => (n as { range?: [number, number, number] } | null | undefined)?.range ?? undefined;

/** Line of the field at `path` (`spec.ports[0].nodePort`) in `o`, or of its deepest ancestor present. */
export function lineOf(o: SourceObject, path: string): number {
  if (o.node === undefined || o.lc === undefined) return o.line;
  let node: unknown = o.node;
  let off = rangeOf(node)?.[0];
  for (const m of path.matchAll(/(?:^|\.)([^.[\]]+)|\[(\d+)\]/g)) {
    let next: unknown;
    if (m[1] !== undefined && isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === m[1]);
      if (pair === undefined) break;
      next = pair.value ?? pair.key;
    } else if (m[2] !== undefined && isSeq(node)) {
      next = node.items[Number(m[2])];
    }
    const r = rangeOf(next);
    if (r === undefined) break;
    off = r[0];
    node = next;
  }
  return off === undefined ? o.line : o.lc.linePos(off).line;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether a text holds Kubernetes objects (some document has apiVersion and kind) rather than a podwire topology. */
export function looksLikeManifests(text: string): boolean {
  try {
    // uniqueKeys: false: yaml's duplicate-key check is quadratic in a map's keys (50,000 keys: 40 s)
    for (const doc of parseAllDocuments(text, { uniqueKeys: false })) {
      if (!('toJS' in doc) || doc.errors.length > 0) continue; // the other documents decide; readText reports the error
      const v: unknown = doc.toJS({ maxAliasCount: 100 });
      if (isObject(v) && typeof v['kind'] === 'string' && typeof v['apiVersion'] === 'string') return true;
    }
  } catch {
    return false;
  }
  return false;
}

/** The objects of one file's text; List items become objects of their own. */
export function readText(text: string, source: string): ReadResult {
  const lc = new LineCounter();
  const objects: SourceObject[] = [];
  const errors: TopologyError[] = [];
  // uniqueKeys: false and scanDocument's duplicate check instead of yaml's quadratic one
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const syntax = doc.errors.length > 0
      ? doc.errors.map((e) => ({ pos: e.pos[0], message: e.message }))
      : scanDocument(doc, text).duplicates.sort((a, b) => a.pos - b.pos);
    if (syntax.length > 0) {
      for (const e of syntax) {
        const { line, col } = lc.linePos(e.pos);
        const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        errors.push({ path: '', value: undefined, message: `YAML syntax error at line ${line}, column ${col}: ${message}`, source, line });
      }
      continue;
    }
    let v: unknown;
    try {
      v = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      errors.push({ path: '', value: undefined, message: (e as Error).message, source });
      continue;
    }
    if (v === null || v === undefined) continue; // an empty document (a trailing `---`)
    const line = lc.linePos(rangeOf(doc.contents)?.[0] ?? 0).line;
    if (!isObject(v)) {
      errors.push({ path: '', value: v, message: 'a document must be a mapping (a Kubernetes object)', source, line });
      continue;
    }
    const node = doc.contents ?? undefined;
    const top: SourceObject = { obj: v, source, lc, line, ...(node !== undefined && node !== null ? { node: node as YamlNode } : {}) };
    // kubectl: a kind ending in "List" with items (v1/List, PodList, ...) is its items.
    if (typeof v['kind'] === 'string' && v['kind'].endsWith('List') && Array.isArray(v['items'])) {
      const seq = isMap(node) ? node.items.find((it) => isScalar(it.key) && it.key.value === 'items')?.value : undefined;
      (v['items'] as unknown[]).forEach((item, i) => {
        const itemNode = isSeq(seq) ? (seq.items[i] as YamlNode | undefined) : undefined;
        const r = rangeOf(itemNode);
        const at: SourceObject = { obj: isObject(item) ? item : {}, source, lc, line: r !== undefined ? lc.linePos(r[0]).line : line };
        if (itemNode !== undefined) at.node = itemNode;
        if (!isObject(item)) errors.push({ path: `items[${i}]`, value: item, message: 'must be a mapping (a Kubernetes object)', source, line: at.line });
        else objects.push(at);
      });
      continue;
    }
    objects.push(top);
  }
  return { objects, errors };
}

const MANIFEST_EXT = /\.(ya?ml|json)$/;

/** The objects of a file or of a directory's manifest files (sorted by name, not recursive). */
export async function readPath(path: string): Promise<ReadResult> {
  let files: string[];
  try {
    const st = await stat(path);
    if (st.isDirectory()) {
      files = (await readdir(path)).filter((f) => MANIFEST_EXT.test(f)).sort().map((f) => join(path, f));
    } else {
      files = [path];
    }
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { objects: [], errors: [{ path: '', value: path, message: `cannot read ${JSON.stringify(path)}: ${reason}`, source: path }] };
  }
  const out: ReadResult = { objects: [], errors: [] };
  for (const f of files) {
    const r = readText(await readFile(f, 'utf8'), f);
    out.objects.push(...r.objects);
    out.errors.push(...r.errors);
  }
  return out;
}
