#!/usr/bin/env node
/**
 * Builds the web UI (web/) into dist/web/: app.js (web/main.ts and what it imports, elkjs
 * and src/kube/trace-text.ts included, bundled by esbuild into one script), index.html and
 * style.css. Run by `npm run build` (so at `npm install` time, through `prepare`); the page
 * loads nothing from anywhere else.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist/web');
mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(ROOT, 'web/main.ts')],
  outfile: join(OUT, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(ROOT, 'web', f), join(OUT, f));
