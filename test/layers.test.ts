/**
 * The layering of src/ as docs/architecture.md draws it, checked on the code: every import
 * runs from a higher layer to a lower one (or within a folder), and no runtime import cycle
 * exists (`import type` is erased at compile time and does not count as runtime).
 *
 *   wire <- engine <- net <- netfilter <- apps <- kube <- io <- control <- api <- cli <- index.ts
 *
 * net never imports netfilter (a namespace offers hook points; the builder in kube plugs
 * netfilter in), so netfilter sits above net.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sources } from './src-files.js';

const SRC = resolve(import.meta.dirname, '../src');
const LAYERS = ['wire', 'engine', 'net', 'netfilter', 'apps', 'kube', 'io', 'control', 'api', 'cli', 'index.ts'];

interface Edge { from: string; to: string; typeOnly: boolean }

/** Relative imports and re-exports of a file; type-only when `import type` or every specifier is `type X`. */
export function importsOf(file: string, text: string): Edge[] {
  const edges: Edge[] = [];
  const re = /^(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+'(\.{1,2}\/[^']+)'/gms;
  for (const m of text.matchAll(re)) {
    const clause = m[2] ?? '';
    const specs = /\{([^}]*)\}/s.exec(clause)?.[1]?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
    const onlyNamed = /^\{[^}]*\}$/s.test(clause.trim());
    const typeOnly = m[1] !== undefined || (onlyNamed && specs.length > 0 && specs.every((s) => s.startsWith('type ')));
    edges.push({ from: file, to: resolve(dirname(file), m[3]!).replace(/\.js$/, '.ts'), typeOnly });
  }
  return edges;
}

const layerOf = (file: string): number => {
  const top = relative(SRC, file).split('/')[0]!;
  const i = LAYERS.indexOf(top);
  if (i < 0) throw new Error(`${relative(SRC, file)}: src/${top} is not a layer of docs/architecture.md`);
  return i;
};

/** Strongly connected components with more than one file (Tarjan), over runtime edges. */
function cycles(edges: Edge[]): string[][] {
  const g = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) g.set(e.from, [...(g.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n); low.set(v, n); n++;
    stack.push(v); on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      for (;;) { const w = stack.pop()!; on.delete(w); comp.push(relative(SRC, w)); if (w === v) break; }
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('layers of src/', () => {
  const files = sources(SRC);
  const edges = files.flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));

  it('reads the imports it checks (a walker that finds nothing proves nothing)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(files.length);
    expect(importsOf('/x/src/net/a.ts', "import type { A } from './b.js';\nimport { type B, type C } from './c.js';\nimport { D } from '../wire/d.js';"))
      .toEqual([
        { from: '/x/src/net/a.ts', to: '/x/src/net/b.ts', typeOnly: true },
        { from: '/x/src/net/a.ts', to: '/x/src/net/c.ts', typeOnly: true },
        { from: '/x/src/net/a.ts', to: '/x/src/wire/d.ts', typeOnly: false },
      ]);
    expect(cycles([{ from: join(SRC, 'a.ts'), to: join(SRC, 'b.ts'), typeOnly: false }, { from: join(SRC, 'b.ts'), to: join(SRC, 'a.ts'), typeOnly: false }])).toEqual([['a.ts', 'b.ts']]);
  });

  it('no file imports from a higher layer (type imports included)', () => {
    const up = edges.filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) => `${relative(SRC, e.from)} -> ${relative(SRC, e.to)}`);
    expect(up).toEqual([]);
  });

  it('the CLI reaches the layers below only through the control façade (and the API client side)', () => {
    const cli = edges.filter((e) => relative(SRC, e.from).startsWith('cli/'));
    expect(cli.length).toBeGreaterThan(5);
    const past = cli.filter((e) => !/^(cli|control|api)\//.test(relative(SRC, e.to))).map((e) => `${relative(SRC, e.from)} -> ${relative(SRC, e.to)}`);
    expect(past).toEqual([]);
  });

  it('no runtime import cycle', () => {
    expect(cycles(edges)).toEqual([]);
  });
});
