/**
 * A minimal HTTP/1.1 server and client (RFC 9112) on the small TCP endpoint.
 *
 * HttpServer: one request per connection. `GET <path>` is answered with `200 OK`,
 * `Content-Type: text/plain`, `Content-Length`, `Connection: close` and the body
 * `<pod name>\n` (host.name is the namespace, i.e. the pod) unless `body` says otherwise;
 * `HEAD` gets the same head without the body; another method gets `405`; garbage (a bad
 * request line or header line, a head over 8 KiB, a FIN before the head ended) gets `400`.
 * The server then closes. Counters: requests, ok, bad-request, method-not-allowed.
 *
 * httpGet: connects (TcpConnection.connect, so the same timeouts and errors), sends
 * `GET <path>` with `Connection: close`, reads until the server closes and resolves with
 * `{ status, reason, headers (lower-case names), body }`. One promise per request.
 */
import { Counters, indexOf } from '../engine/counters.js';
import type { IpHost } from '../net/ip-host.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { TcpConnection, type TcpConnectOptions } from './tcp-conn.js';
import { TcpListener, type TcpListenOptions } from './tcp-listener.js';

const MAX_HEAD = 8192;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/;
const HEADER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/;

export interface HttpServerOptions extends TcpListenOptions {
  /** Body for GET: a string, or a function of the request path. Default `${host.name}\n`. */
  body?: string | ((path: string) => string);
  /** The whole answer to a GET/HEAD of `path` (status, headers, body), computed per request; replaces `body`. */
  respond?: (path: string) => HttpAnswer;
}

export interface HttpAnswer {
  status: number;
  reason: string;
  /** Header lines without CRLF (`Content-Type: application/json`); default `Content-Type: text/plain`. */
  headers?: string[];
  body: string;
}

export const HTTP_SERVER_COUNTERS = ['requests', 'ok', 'bad-request', 'method-not-allowed'] as const;
const C = indexOf(HTTP_SERVER_COUNTERS);

export class HttpServer {
  readonly counters = new Counters(HTTP_SERVER_COUNTERS);
  readonly listener: TcpListener;
  private readonly body: (path: string) => string;
  private readonly respond: ((path: string) => HttpAnswer) | null;

  private constructor(readonly host: IpHost, port: number, opts: HttpServerOptions) {
    const b = opts.body ?? `${host.name}\n`;
    this.body = typeof b === 'string' ? () => b : b;
    this.respond = opts.respond ?? null;
    this.listener = TcpListener.listen(host, port, (c) => this.serve(c), opts);
  }

  /** Binds TCP `port` (default 80; throws when taken). */
  static listen(host: IpHost, port = 80, opts: HttpServerOptions = {}): HttpServer {
    return new HttpServer(host, port, opts);
  }

  close(): void {
    this.listener.close();
  }

  private serve(c: TcpConnection): void {
    let head = '';
    let answered = false;
    const answer = (status: number, reason: string, body: string, sendBody: boolean, extra = '', type = 'Content-Type: text/plain\r\n'): void => {
      answered = true;
      const len = Buffer.byteLength(body);
      c.write(`HTTP/1.1 ${status} ${reason}\r\n${type}Content-Length: ${len}\r\n${extra}Connection: close\r\n\r\n`
        + (sendBody ? body : ''));
      c.close();
    };
    const bad = (): void => {
      this.counters.values[C['bad-request']]!++;
      answer(400, 'Bad Request', 'bad request\n', true);
    };
    c.onData((d) => {
      if (answered) return;
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        const eol = head.indexOf('\r\n');
        if (head.length > MAX_HEAD || (eol >= 0 && !REQUEST_LINE.test(head.slice(0, eol)))) bad();
        return;
      }
      this.counters.values[C.requests]!++;
      const lines = head.slice(0, end).split('\r\n');
      const m = REQUEST_LINE.exec(lines[0] ?? '');
      if (m === null || end > MAX_HEAD || !lines.slice(1).every((l) => HEADER_LINE.test(l))) { bad(); return; }
      const method = m[1]!;
      if (method !== 'GET' && method !== 'HEAD') {
        this.counters.values[C['method-not-allowed']]!++;
        answer(405, 'Method Not Allowed', 'method not allowed\n', true, 'Allow: GET, HEAD\r\n');
        return;
      }
      this.counters.values[C.ok]!++;
      if (this.respond !== null) {
        const a = this.respond(m[2]!);
        answer(a.status, a.reason, a.body, method === 'GET', '', (a.headers ?? ['Content-Type: text/plain']).map((h) => `${h}\r\n`).join(''));
        return;
      }
      answer(200, 'OK', this.body(m[2]!), method === 'GET');
    });
    c.onEnd(() => {
      if (!answered && head.length > 0) bad();
    });
  }
}

export interface HttpGetOptions extends TcpConnectOptions {
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  reason: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

/** GET http://dst:port/path; rejects with the connection's error or a bad-response Error. */
export function httpGet(host: IpHost, dst: number | string, port = 80, path = '/', opts: HttpGetOptions = {}): Promise<HttpResponse> {
  if (!path.startsWith('/')) throw new Error(`httpGet: path "${path}" must start with /`);
  const addr = typeof dst === 'string' ? parseIpv4(dst) : dst >>> 0;
  const url = `http://${formatIpv4(addr)}:${port}${path}`;
  let req = `GET ${path} HTTP/1.1\r\nHost: ${formatIpv4(addr)}:${port}\r\nUser-Agent: podwire\r\nAccept: */*\r\n`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) req += `${k}: ${v}\r\n`;
  req += 'Connection: close\r\n\r\n';
  return new Promise<HttpResponse>((resolve, reject) => {
    const c = TcpConnection.connect(host, addr, port, opts);
    const chunks: Buffer[] = [];
    c.onData((d) => { chunks.push(Buffer.from(d)); });
    c.onClose((err) => {
      if (err !== null) { reject(err); return; }
      const r = parseResponse(Buffer.concat(chunks));
      if (typeof r === 'string') reject(new Error(`${url}: bad response: ${r}`));
      else resolve(r);
    });
    if (c.state !== 'closed') c.write(req);
  });
}

/** A response, or what is wrong with it. */
export function parseResponse(raw: Buffer): HttpResponse | string {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return raw.length === 0 ? 'empty' : 'no end of head';
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = STATUS_LINE.exec(lines[0] ?? '');
  if (m === null) return `status line "${lines[0]}"`;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return `header line "${l}"`;
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (!Number.isInteger(n) || n < 0) return `content-length "${cl}"`;
    if (body.length < n) return `body of ${body.length} bytes, content-length ${n}`;
    body = body.subarray(0, n);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, body: body.toString('utf8') };
}
