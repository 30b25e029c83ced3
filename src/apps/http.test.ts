import { describe, expect, it } from 'vitest';
import { IpProtocol } from '../wire/ipv4.js';
import { HttpServer, httpGet, parseResponse } from './http.js';
import { TcpConnection } from './tcp-conn.js';
import { fakePair } from './testing/fake-host.js';

/** Sends raw bytes to b:80 and returns what came back once the connection closed. */
async function raw(request: string, halfClose = false): Promise<string> {
  const { engine, a, b } = fakePair(64);
  HttpServer.listen(b, 80);
  const c = TcpConnection.connect(a, b.addr, 80);
  let got = '';
  c.onData((d) => { got += d.toString('latin1'); });
  c.write(request);
  if (halfClose) c.close();
  const done = c.done;
  engine.runUntilIdle();
  await done;
  return got;
}

describe('HttpServer and httpGet', () => {
  it('GET returns the pod name with the standard headers, and everything is freed', async () => {
    const { engine, a, b } = fakePair(64);
    const server = HttpServer.listen(b, 8080);
    const r = httpGet(a, '10.244.2.2', 8080, '/healthz');
    engine.runUntilIdle();
    expect(await r).toEqual({
      status: 200, reason: 'OK', body: 'pod3\n',
      headers: { 'content-type': 'text/plain', 'content-length': '5', connection: 'close' },
    });
    expect(server.counters.toJSON()).toEqual({ requests: 1, ok: 1 });
    engine.advance(60_000);
    expect(a.bound(IpProtocol.Tcp)).toEqual([]);
    expect(b.bound(IpProtocol.Tcp)).toEqual([8080]);
    expect(engine.pool.available).toBe(64);
  });

  it('a custom body, by path', async () => {
    const { engine, a, b } = fakePair(64);
    HttpServer.listen(b, 80, { body: (path) => `you asked for ${path} — ok\n` });
    const r = httpGet(a, b.addr, 80, '/x?y=1');
    engine.runUntilIdle();
    const res = await r;
    expect(res.body).toBe('you asked for /x?y=1 — ok\n');
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.body)));
  });

  it('a long body is split in segments and reassembled', async () => {
    const { engine, a, b } = fakePair(128);
    const body = 'x'.repeat(10_000);
    HttpServer.listen(b, 80, { body });
    const r = httpGet(a, b.addr, 80, '/');
    engine.runUntilIdle();
    expect((await r).body).toBe(body);
  });

  it('400 for garbage, 405 for other methods, HEAD without body', async () => {
    expect(await raw('garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(await raw('GET / HTTP/1.1\r\nno colon here\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw('GET / HTTP/1.1\r\nHost: x', true)).toMatch(/^HTTP\/1\.1 400 /);
    const post = await raw('POST / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(post).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(post).toContain('Allow: GET, HEAD\r\n');
    const head = await raw('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toContain('Content-Length: 5\r\n');
    expect(head.endsWith('\r\n\r\n')).toBe(true);
  });

  it('httpGet rejects with the connection error (refused, timeout)', async () => {
    const { engine, a, b } = fakePair(16);
    const r = httpGet(a, b.addr, 81, '/');
    engine.runUntilIdle();
    await expect(r).rejects.toThrow('connect to 10.244.2.2:81: connection refused');
    b.lose = () => true;
    HttpServer.listen(b, 80);
    const t = httpGet(a, b.addr, 80, '/', { timeoutMs: 2000 });
    engine.advance(2000);
    await expect(t).rejects.toThrow('connect to 10.244.2.2:80 timed out after 2000 ms');
  });

  it('parseResponse names what is wrong', () => {
    expect(parseResponse(Buffer.from(''))).toBe('empty');
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\n'))).toBe('no end of head');
    expect(parseResponse(Buffer.from('SPDY 200\r\n\r\n'))).toMatch(/^status line/);
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort'))).toMatch(/content-length 9/);
    expect(parseResponse(Buffer.from('HTTP/1.0 204\r\n\r\n'))).toEqual({ status: 204, reason: '', headers: {}, body: '' });
  });
});
