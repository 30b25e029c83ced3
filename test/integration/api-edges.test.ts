/**
 * The REST API at its edges, through inject: every answer that is not a success has
 * podwire's shape `{ error, field, value }` (never fastify's `{ statusCode, error, message }`):
 * bodies nested 5,000 deep (400 before schema validation, whose recursion overflowed the
 * stack: a 500), numbers JS cannot hold (1e400, 2^64), malformed JSON (400), bad URL
 * encoding (400), unknown routes (404), known paths with another method (405 + Allow),
 * bodies over the 8 MiB cap (413), other content types (415); ports in query strings take
 * decimal digits only (?sport=0x50 is a 400, not port 80).
 */
import { connect } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { startApi } from '../../src/api/server.js';
import { MAX_BODY_DEPTH, scanJsonBody } from '../../src/api/validation.js';
import { MAX_INPUT_BYTES } from '../../src/kube/topology.js';
import { demoApi } from './helpers.js';

const api = demoApi();

const json = { 'content-type': 'application/json' };

async function send(opts: InjectOptions): Promise<LightMyRequestResponse> {
  return api.app.inject(opts);
}

/** Asserts podwire's error shape (exactly its keys) and the status; returns the body. */
function podwireError(r: LightMyRequestResponse, status: number): { error: string; field: string | null; value: unknown; in?: string } {
  expect(r.statusCode, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const b = r.json<Record<string, unknown>>();
  expect(Object.keys(b).filter((k) => k !== 'in').sort(), r.body).toEqual(['error', 'field', 'value']);
  expect(typeof b['error']).toBe('string');
  expect(b).not.toHaveProperty('statusCode');
  return b as { error: string; field: string | null; value: unknown; in?: string };
}

const nest = (depth: number, inner = '1'): string => '['.repeat(depth) + inner + ']'.repeat(depth);

describe('bodies too deep or with unreadable numbers', () => {
  for (const url of ['/api/v1/pods', '/api/v1/services']) {
    it(`POST ${url} with a 10 KB body nested 5,000 deep is a 400 naming where`, async () => {
      const bodies = [
        nest(5000),
        `{"name":${nest(5000)},"node":"node1"}`,
        `{"name":"p9","node":"node1","labels":{"a":${nest(5000)}}}`,
        `{"name":"p9","node":"node1","x":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
      ];
      for (const payload of bodies) {
        expect(payload.length).toBeGreaterThanOrEqual(10_000);
        const b = podwireError(await send({ method: 'POST', url, headers: json, payload }), 400);
        expect(b.error).toContain(`nested more than ${MAX_BODY_DEPTH} levels deep`);
        expect(b.in).toBe('body');
        expect(b.field!.split('/').length - 1).toBe(MAX_BODY_DEPTH);
      }
      const named = podwireError(await send({ method: 'POST', url, headers: json, payload: bodies[2]! }), 400);
      expect(named.field).toBe(`/labels/a${'/0'.repeat(MAX_BODY_DEPTH - 2)}`);
    });
  }

  it('a body within the depth limit still reaches the schema', async () => {
    const b = podwireError(await send({ method: 'POST', url: '/api/v1/pods', headers: json, payload: `{"name":"p9","node":"node1","x":${nest(10)}}` }), 400);
    expect(b).toMatchObject({ field: '/x', in: 'body' });
    expect(b.error).toContain('unknown field "x"');
  });

  it('1e400 and integers past 2^53 are 400s naming the field and the number as written', async () => {
    const cases: [string, string, string][] = [
      ['{"from":"pod1","to":"pod2","proto":"udp","port":1e400}', '/port', '1e400'],
      ['{"from":"pod1","to":"pod2","proto":"udp","port":18446744073709551616}', '/port', '18446744073709551616'],
      [`{"name":"p9","node":"node1","apps":[{"type":"udp-echo","port":${'9'.repeat(400)}}]}`, '/apps/0/port', '9'.repeat(400)],
    ];
    for (const [payload, field, value] of cases) {
      const url = payload.includes('"from"') ? '/api/v1/trace' : '/api/v1/pods';
      const b = podwireError(await send({ method: 'POST', url, headers: json, payload }), 400);
      expect(b).toMatchObject({ field, value, in: 'body' });
      expect(b.error).toMatch(/is not a number podwire can read exactly/);
    }
  });

  it('the scan follows keys with escapes, strings holding brackets, and arrays', () => {
    expect(scanJsonBody('{"a\\"]{[":"[[[[{{{{","b":[1,2,{"c":1e999}]}')).toMatchObject({ field: '/b/2/c', value: '1e999' });
    expect(scanJsonBody('{"a/b~c":[[1]]}', 2)).toMatchObject({ field: '/a~1b~0c/0' });
    expect(scanJsonBody('{"port": 65535, "x": -1.5e3, "y": 9007199254740991}')).toBeNull();
    expect(scanJsonBody('not json [[[')).toBeNull();
  });
});

describe('fastify errors in podwire shape', () => {
  it('malformed JSON and an empty JSON body are 400s on the body', async () => {
    for (const payload of ['{"from":', '']) {
      const b = podwireError(await send({ method: 'POST', url: '/api/v1/trace', headers: json, payload }), 400);
      expect(b).toMatchObject({ field: '', value: null, in: 'body' });
      expect(b.error).toMatch(/^body is not valid JSON/);
    }
  });

  it('GET /pods/% (bad percent-encoding) is a 400', async () => {
    for (const [method, url] of [['GET', '/api/v1/pods/%'], ['DELETE', '/api/v1/pods/%zz'], ['GET', '/api/v1/services/%E0%A4%A/endpoints']] as const) {
      const b = podwireError(await send({ method, url }), 400);
      expect(b.error).toContain('is not a valid URL');
      expect(b.in).toBe('params');
    }
  });

  it('an unknown route is a 404', async () => {
    const b = podwireError(await send({ method: 'GET', url: '/api/v1/nosuch' }), 404);
    expect(b.error).toContain('no route GET /api/v1/nosuch');
  });

  it('a known path with another method is a 405 with Allow', async () => {
    const cases: [string, string, string][] = [
      ['PATCH', '/api/v1/pods', 'POST'],
      ['PUT', '/api/v1/topology', 'GET, HEAD'],
      ['GET', '/api/v1/pods/pod1', 'DELETE, PATCH'],
      ['POST', '/api/v1/conntrack', 'DELETE, GET, HEAD'],
      ['DELETE', '/api/v1/trace', 'POST'],
    ];
    for (const [method, url, allow] of cases) {
      const r = await send({ method: method as 'GET', url });
      const b = podwireError(r, 405);
      expect(r.headers['allow'], `${method} ${url}`).toBe(allow);
      expect(b).toMatchObject({ field: null, value: method });
      expect(b.error).toBe(`method ${method} is not allowed on ${url} (allowed: ${allow})`);
    }
  });

  it('a body over the 8 MiB cap is a 413', async () => {
    const payload = `{"from":"${'a'.repeat(MAX_INPUT_BYTES)}"}`;
    const b = podwireError(await send({ method: 'POST', url: '/api/v1/trace', headers: json, payload }), 413);
    expect(b).toMatchObject({ field: '', in: 'body' });
    expect(b.error).toBe(`body is larger than 8 MiB (${MAX_INPUT_BYTES} bytes)`);
  });

  it('a body that is not JSON is a 415 naming the content type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
      const b = podwireError(await send({ method: 'POST', url: '/api/v1/trace', headers: { 'content-type': type }, payload: 'from=pod1' }), 415);
      expect(b).toMatchObject({ field: '/content-type', value: type, in: 'headers' });
      expect(b.error).toContain('(send application/json)');
    }
    const ok = await send({ method: 'POST', url: '/api/v1/trace', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{"from":"pod1","to":"pod2"}' });
    expect(ok.statusCode, ok.body).toBe(200);
  });
});

describe('ports in query strings', () => {
  it('?sport=0x50 and other non-decimal ports are 400s; decimal ones filter', async () => {
    for (const v of ['0x50', '1e2', '+80', '80.0', '65536', '-1', '']) {
      const r = await send({ method: 'GET', url: `/api/v1/conntrack?sport=${encodeURIComponent(v)}` });
      const b = podwireError(r, 400);
      expect(b, v).toMatchObject({ field: '/sport', value: v, in: 'query' });
      expect(b.error, v).toMatch(/is not a port \(decimal/);
    }
    for (const q of ['sport=80', 'dport=0', 'dport=65535']) {
      const r = await send({ method: 'GET', url: `/api/v1/conntrack?${q}` });
      expect(r.statusCode, r.body).toBe(200);
    }
    const d = await send({ method: 'DELETE', url: '/api/v1/conntrack?dport=0x50' });
    expect(podwireError(d, 400)).toMatchObject({ field: '/dport', value: '0x50' });
  });
});

describe('requests the HTTP parser refuses, over a real socket', () => {
  /** Writes `raw` to the API's port and returns all it answers before closing. */
  async function raw(port: number, text: string): Promise<string> {
    return new Promise((res, rej) => {
      const s = connect(port, '127.0.0.1', () => s.end(text));
      let got = '';
      s.on('data', (b: Buffer) => { got += b.toString(); });
      s.on('close', () => res(got));
      s.on('error', rej);
    });
  }

  it('an unknown method (FOO) is a 501, malformed HTTP a 400, both in podwire shape', async () => {
    const started = await startApi(api.h.ctl, { host: '127.0.0.1', port: 0 });
    try {
      const cases: [string, number][] = [
        ['FOO /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n', 501],
        ['GET /api/v1/pods HTTP/9.Z\r\n\r\n', 400],
      ];
      for (const [text, status] of cases) {
        const answer = await raw(started.port, text);
        const [head, body] = answer.split('\r\n\r\n');
        expect(head, answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        const b = JSON.parse(body!) as Record<string, unknown>;
        expect(Object.keys(b).sort()).toEqual(['error', 'field', 'value']);
        expect(b['error']).toMatch(/\(HPE_/);
      }
    } finally {
      await started.close();
    }
  });
});
