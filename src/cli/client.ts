/**
 * How CLI commands reach a running `podwire up`: HTTP to its API (`--api URL`, default
 * http://127.0.0.1:7070; `--token T` or PODWIRE_TOKEN). A refused connection, a 4xx/5xx
 * answer or a non-JSON body becomes a RemoteError with a message a person can act on.
 * Also here: the one-line progress display (stderr, only on a TTY).
 */
export const DEFAULT_API = 'http://127.0.0.1:7070';

export class RemoteError extends Error {
  constructor(message: string, readonly status: number | null, readonly body: unknown = null) {
    super(message);
  }
}

export interface ApiTarget {
  base: string;
  token: string | null;
}

/** `--api` as given (`http://host:port`, with or without `/api/v1`) -> the API base URL. */
export function apiTarget(api: string | undefined, token: string | undefined): ApiTarget {
  const raw = api ?? process.env['PODWIRE_API'] ?? DEFAULT_API;
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new Error(`--api ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:7070)`);
  }
  const path = u.pathname.replace(/\/+$/, '');
  const base = `${u.origin}${path.endsWith('/api/v1') ? path : `${path}/api/v1`}`;
  const t = token ?? process.env['PODWIRE_TOKEN'];
  return { base, token: t === undefined || t === '' ? null : t };
}

export async function request(t: ApiTarget, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (t.token !== null) headers['authorization'] = `Bearer ${t.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${t.base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    throw new RemoteError(`cannot reach podwire at ${t.base} (${why}): is \`podwire up\` running there? (--api URL)`, null);
  }
  if (!res.ok) {
    const text = await res.text();
    let parsed: unknown = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    const msg = (parsed as { error?: string } | null)?.error ?? (text.trim() || res.statusText);
    throw new RemoteError(`${msg} (HTTP ${res.status})`, res.status, parsed);
  }
  return res;
}

export async function requestJson<T = Record<string, unknown>>(t: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(t, method, path, body);
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RemoteError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, res.status);
  }
}

/** A one-line progress display on stderr, redrawn in place; silent when stderr is not a TTY. */
export function progress(stream: NodeJS.WriteStream = process.stderr): { update(msg: string): void; done(): void } {
  if (stream.isTTY !== true) return { update() { /* not a TTY */ }, done() { /* not a TTY */ } };
  let shown = false;
  return {
    update(msg) {
      stream.write(`\r\x1b[2K${msg.slice(0, (stream.columns ?? 80) - 1)}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}

export function query(params: Record<string, string | number | boolean | undefined>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const out = s.toString();
  return out === '' ? '' : `?${out}`;
}
