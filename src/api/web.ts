/**
 * The web UI's files at `/` (index.html, app.js, style.css from dist/web/, built from web/ by
 * tools/build-web.mjs at `npm install` time). The page holds no cluster data: it is served
 * without the token, and every API call it makes carries the token (it asks for one when the
 * API answers 401), so the token rules of auth.ts hold for everything the page can read.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { WEB_DIR } from '../control/web-page.js';
import { emptyQuery } from './schemas.js';

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
} as const;

/** The paths served without a token (the page's own files, no cluster data). */
export const WEB_PATHS: ReadonlySet<string> = new Set(Object.keys(FILES));

export function webRoutes(app: FastifyInstance, dir = WEB_DIR): void {
  for (const [path, [file, type]] of Object.entries(FILES)) {
    app.get(path, {
      schema: { summary: path === '/' ? 'The web UI (docs/web-ui.md)' : `The web UI's ${file}`, tags: ['web'], querystring: path === '/' ? { type: 'object', additionalProperties: true } : emptyQuery },
      config: { errors: [404], produces: [type.split(';')[0]!] },
    }, (_req, reply) => {
      const f = `${dir}${file}`;
      if (!existsSync(f)) {
        return reply.code(404).header('content-type', 'application/json; charset=utf-8')
          .send({ error: `the web UI is not built (${f} is missing): run npm run build`, field: null, value: null });
      }
      return reply.header('content-type', type).header('cache-control', 'no-cache')
        .header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'")
        .send(readFileSync(f));
    });
  }
}
