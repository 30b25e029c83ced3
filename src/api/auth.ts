/**
 * Who may talk to the API. Without a token podwire serves loopback only; binding any
 * other address needs a bearer token, checked on every request.
 *
 * Loopback, precisely: IPv4 127.0.0.0/8, IPv6 ::1, and IPv4-mapped ::ffff:127.0.0.0/104;
 * the name `localhost` counts (Node binds it to 127.0.0.1 or ::1). Anything else (0.0.0.0,
 * ::, a LAN address, another host name) is "off loopback".
 *
 * The token comparison hashes both sides with SHA-256 and compares the equal-length
 * digests with crypto.timingSafeEqual, so neither the content nor the length of the token
 * leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export const MIN_TOKEN_LENGTH = 8;

export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.split('.')[0] === '127';
  if (isIPv6(h)) {
    const lower = h.toLowerCase();
    const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped !== null) return isIPv4(mapped[1]!) && mapped[1]!.split('.')[0] === '127';
    return expandV6(lower) === '0000:0000:0000:0000:0000:0000:0000:0001';
  }
  return false;
}

function expandV6(a: string): string {
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const fill = tail === null ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => x.padStart(4, '0')).join(':');
}

/**
 * Why the API may not start with these settings, or null when it may: a non-loopback
 * address needs a token; a token must be at least MIN_TOKEN_LENGTH characters.
 */
export function listenRefusal(host: string, token: string | null | undefined): string | null {
  if (token !== undefined && token !== null && token !== '' && token.length < MIN_TOKEN_LENGTH) {
    return `the token is too short (${token.length} characters; use at least ${MIN_TOKEN_LENGTH})`;
  }
  if (isLoopbackHost(host)) return null;
  if (token === undefined || token === null || token === '') {
    return `refusing to listen on ${host}, which is not a loopback address, without a token: give --token T or set PODWIRE_TOKEN (without one, only 127.0.0.0/8 and ::1 are served)`;
  }
  return null;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A checker for `Authorization` headers against `token` (constant time in the token). */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const want = digest(token);
  return (authorization) => {
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    const got = digest(m === null ? '' : m[1]!.trim());
    return timingSafeEqual(got, want) && m !== null;
  };
}

/** Parses `--listen`: `HOST:PORT`, `[V6]:PORT`, or a bare `PORT` (on 127.0.0.1). */
export function parseListen(s: string): { host: string; port: number } {
  let host = '127.0.0.1';
  let port: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (v6 !== null) {
    host = v6[1]!;
    port = v6[2]!;
  } else if (/^\d+$/.test(s)) {
    port = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i <= 0) throw new Error(`--listen ${JSON.stringify(s)}: expected HOST:PORT (e.g. 127.0.0.1:7070)`);
    host = s.slice(0, i);
    port = s.slice(i + 1);
    if (host.includes(':')) throw new Error(`--listen ${JSON.stringify(s)}: write an IPv6 address in brackets, e.g. [::1]:7070`);
  }
  const n = Number(port);
  if (!/^\d+$/.test(port) || n > 65535) throw new Error(`--listen ${JSON.stringify(s)}: port ${JSON.stringify(port)} must be 0-65535`);
  return { host, port: n };
}
