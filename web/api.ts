/**
 * The page's only way to the cluster: podwire's public REST API under `api/v1/`, relative
 * to the page. With a token configured on `podwire up` every call carries
 * `Authorization: Bearer T` (asked for once, kept in sessionStorage for this tab); the
 * event stream is read with fetch, not EventSource, so it carries the header too.
 */

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) {
    super(message);
  }
}

const TOKEN_KEY = 'podwire-token';

export class Api {
  readonly base: URL;
  token: string | null;

  constructor(base: URL) {
    this.base = base;
    this.token = sessionStorage.getItem(TOKEN_KEY);
  }

  setToken(t: string | null): void {
    this.token = t;
    if (t === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, t);
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.token !== null) h['authorization'] = `Bearer ${this.token}`;
    if (json) h['content-type'] = 'application/json';
    return h;
  }

  async raw(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const init: RequestInit = { method, headers: this.headers(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal !== undefined) init.signal = signal;
    const r = await fetch(new URL(path.replace(/^\//, ''), this.base), init);
    if (!r.ok) {
      const text = await r.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* a plain-text error */ }
      const msg = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String((parsed as { error: unknown }).error) : text;
      throw new ApiError(r.status, `${method} ${path}: ${r.status} ${msg}`, parsed);
    }
    return r;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.raw(method, path, body)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.raw('GET', path)).text();
  }

  /**
   * Reads a server-sent event stream (`data: JSON` lines, blank line between events) and
   * calls `onEvent` with each parsed event; resolves when the stream ends or `signal` aborts.
   */
  async events(path: string, onEvent: (e: unknown) => void, signal: AbortSignal): Promise<void> {
    const r = await this.raw('GET', path, undefined, signal);
    if (r.body === null) return;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let data: string[] = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) {
              try { onEvent(JSON.parse(data.join('\n'))); } catch { /* not JSON: a comment or keep-alive */ }
            }
            data = [];
          } else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }
}
