/**
 * The web UI's built files (dist/web/, from web/ by tools/build-web.mjs) and the
 * self-contained page `podwire demo --html` writes: index.html with the stylesheet and the
 * script inlined and the data (topology and journeys) embedded as JSON, so it opens from a
 * file with no server, no network and no other file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ControlError } from './errors.js';

/** dist/web/, from src/control/ (tests) and from dist/control/ (the package) alike. */
export const WEB_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

function webFile(name: string): string {
  const f = `${WEB_DIR}${name}`;
  if (!existsSync(f)) throw new ControlError(501, `the web UI is not built (${f} is missing): run npm run build`, null, null);
  return readFileSync(f, 'utf8');
}

/** JSON that cannot end a `<script>` element (nor open a comment) inside HTML. */
function scriptJson(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function staticPage(data: { topology: unknown; journeys: unknown[] }): string {
  const html = webFile('index.html');
  const css = webFile('style.css');
  const js = webFile('app.js').replace(/<\/(script)/gi, '<\\/$1');
  const parts = html.split('<link rel="stylesheet" href="style.css">');
  const [head, tail] = [parts[0] ?? '', parts[1] ?? ''];
  return `${head}<style>\n${css}</style>${tail}`
    .replace('<!--podwire:inline-->', `<script id="podwire-data" type="application/json">${scriptJson(data)}</script>`)
    .replace('<script src="app.js"></script>', () => `<script>\n${js}</script>`);
}
