/**
 * UdpDnsUpstream against a DNS server on 127.0.0.1 (a node dgram socket in this test): ids are
 * rewritten on the wire and put back on the answer, concurrent queries are matched by id, an
 * unanswered query ends in null after the timeout, and stray datagrams are counted, not taken
 * for answers. `wake` runs after every completion.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpDnsUpstream } from './dns-upstream.js';

const sockets: Socket[] = [];
const upstreams: UdpDnsUpstream[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const u of upstreams.splice(0)) u.close();
});

async function server(answer: (q: Buffer) => Buffer | null): Promise<{ port: number; seen: Buffer[] }> {
  const s = createSocket('udp4');
  sockets.push(s);
  const seen: Buffer[] = [];
  s.on('message', (m, r) => {
    seen.push(Buffer.from(m));
    const a = answer(m);
    if (a !== null) s.send(a, r.port, r.address);
  });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: s.address().port, seen };
}

/** A 12-byte header plus `tag` bytes: enough for the upstream, which only reads the id. */
const msg = (id: number, tag: number): Buffer => Buffer.from([id >> 8, id & 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, tag]);
const reply = (q: Buffer): Buffer => { const a = Buffer.from(q); a[2] = 0x81; a[3] = 0x80; return a; };
const ask = (u: UdpDnsUpstream, m: Buffer): Promise<Uint8Array | null> => new Promise((res) => u.query(m, res));

describe('UdpDnsUpstream', () => {
  it('rewrites ids on the wire, puts the client\'s back, matches concurrent answers, wakes each time', async () => {
    const srv = await server((q) => reply(q));
    let wakes = 0;
    const u = new UdpDnsUpstream('127.0.0.1', srv.port, () => { wakes++; });
    upstreams.push(u);
    const answers = await Promise.all([ask(u, msg(0x1111, 1)), ask(u, msg(0x1111, 2)), ask(u, msg(0x2222, 3))]);
    expect(answers.map((a) => [Buffer.from(a!).readUInt16BE(0), a![12], a![2]! & 0x80])).toEqual([[0x1111, 1, 0x80], [0x1111, 2, 0x80], [0x2222, 3, 0x80]]);
    // Two clients chose the same id: on the wire they differ.
    const wireIds = srv.seen.map((m) => m.readUInt16BE(0));
    expect(new Set(wireIds).size).toBe(3);
    expect(wakes).toBe(3);
    expect(u.stats).toMatchObject({ sent: 3, answered: 3, timeouts: 0 });
  });

  it('an unanswered query ends in null after the timeout; a late or stray datagram is counted and ignored', async () => {
    let held: Buffer | null = null;
    const srv = await server((q) => { held = q; return null; });
    const u = new UdpDnsUpstream('127.0.0.1', srv.port, () => undefined, 50);
    upstreams.push(u);
    expect(await ask(u, msg(0x3333, 9))).toBeNull();
    expect(u.stats.timeouts).toBe(1);
    // The late answer to the timed-out query, and one with an id nobody asked.
    const s = sockets[0]!;
    const port = (u as unknown as { sock: Socket }).sock.address().port;
    s.send(reply(held!), port, '127.0.0.1');
    const stray = reply(msg(0x4444, 0)); stray.writeUInt16BE(0xbeef, 0);
    s.send(stray, port, '127.0.0.1');
    const ok = ask(u, msg(0x5555, 5));
    await new Promise<void>((res) => { const t = setInterval(() => { if (u.stats.unmatched >= 2) { clearInterval(t); res(); } }, 5); });
    expect(u.stats.unmatched).toBe(2);
    expect(await ok).toBeNull(); // the server holds everything: this one times out too
  });

  it('after close, queries end in null at once', async () => {
    const srv = await server((q) => reply(q));
    const u = new UdpDnsUpstream('127.0.0.1', srv.port, () => undefined);
    u.close();
    expect(await ask(u, msg(1, 1))).toBeNull();
  });
});
