import { describe, expect, it } from 'vitest';
import type { Packet } from '../engine/packet.js';
import { readU32 } from '../wire/addr.js';
import { IpProtocol } from '../wire/ipv4.js';
import { TcpFlag } from '../wire/tcp.js';
import { TcpConnection, TcpError, TcpListener } from './tcp.js';
import { TcpEcho } from './tcp-echo.js';
import { readMss, sealSegment, writeSegment } from './tcp-seg.js';
import { fakePair, tcpFlagsOf, tcpPayloadLenOf, type FakeHost } from './testing/fake-host.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

/** Flags of every TCP segment on the wire, as `a>b SYN` strings. */
function recordWire(a: FakeHost, b: FakeHost): string[] {
  const log: string[] = [];
  const name = (f: number): string =>
    [[SYN, 'SYN'], [ACK, 'ACK'], [PSH, 'PSH'], [FIN, 'FIN'], [RST, 'RST']].filter(([bit]) => (f & (bit as number)) !== 0)
      .map(([, n]) => n).join('|');
  a.onWire = (p) => { log.push(`a>b ${name(tcpFlagsOf(p))}${tcpPayloadLenOf(p) > 0 ? ` ${tcpPayloadLenOf(p)}` : ''}`); };
  b.onWire = (p) => { log.push(`b>a ${name(tcpFlagsOf(p))}${tcpPayloadLenOf(p) > 0 ? ` ${tcpPayloadLenOf(p)}` : ''}`); };
  return log;
}

function mssOf(p: Packet): number {
  return readMss(p.buf, p.start + 20);
}

describe('TCP handshake and close', () => {
  it('SYN (MSS 1460) / SYN-ACK / ACK, data both ways, FIN from the client, TIME-WAIT, no leaks', async () => {
    const { engine, a, b } = fakePair(256);
    const wire = recordWire(a, b);
    const msses: number[] = [];
    const onWireA = a.onWire!;
    a.onWire = (p) => { if ((tcpFlagsOf(p) & SYN) !== 0) msses.push(mssOf(p)); onWireA(p); };
    const serverGot: string[] = [];
    let server: TcpConnection | null = null;
    const listener = TcpListener.listen(b, 8080, (c) => {
      server = c;
      c.onData((d) => { serverGot.push(d.toString()); c.write(`echo:${d.toString()}`); });
    });
    const c = TcpConnection.connect(a, '10.244.2.2', 8080);
    const clientGot: string[] = [];
    c.onData((d) => clientGot.push(d.toString()));
    expect(c.state).toBe('syn-sent');
    const connected = c.connected;
    engine.runUntilIdle();
    await connected;
    expect(c.state).toBe('established');
    expect(server!.state).toBe('established');
    expect(server!.remote).toBe(a.addr);
    expect(server!.remotePort).toBe(c.localPort);
    expect(wire).toEqual(['a>b SYN', 'b>a SYN|ACK', 'a>b ACK']);
    expect(msses).toEqual([1460]);

    c.write('hello');
    engine.runUntilIdle();
    expect(serverGot).toEqual(['hello']);
    expect(clientGot).toEqual(['echo:hello']);
    expect(wire.slice(3)).toEqual(['a>b ACK|PSH 5', 'b>a ACK|PSH 10', 'a>b ACK']);

    const done = c.done;
    c.close();
    engine.runUntilIdle();
    await done;
    expect(wire.slice(6)).toEqual(['a>b ACK|FIN', 'b>a ACK|FIN', 'a>b ACK']);
    expect(c.state).toBe('time-wait');
    expect(server!.state).toBe('closed');
    expect(listener.connections.size).toBe(0);
    expect(a.bound(IpProtocol.Tcp)).toEqual([c.localPort]);
    engine.advance(59_999);
    expect(c.state).toBe('time-wait');
    engine.advance(1);
    expect(c.state).toBe('closed');
    expect(a.bound(IpProtocol.Tcp)).toEqual([]);
    expect(engine.pool.available).toBe(256);
    expect(c.stats).toMatchObject({ bytesIn: 10, bytesOut: 5, segmentsDropped: 0 });
  });

  it('the server closes first: it goes through TIME-WAIT, the client through CLOSE-WAIT / LAST-ACK', () => {
    const { engine, a, b } = fakePair(64);
    let server: TcpConnection | null = null;
    TcpListener.listen(b, 80, (c) => { server = c; c.write('bye'); c.close(); }, { timeWaitMs: 1000 });
    const c = TcpConnection.connect(a, b.addr, 80);
    let got = '';
    let ended = false;
    let closed: Error | null | undefined;
    c.onData((d) => { got += d.toString(); }).onEnd(() => { ended = true; }).onClose((e) => { closed = e; });
    engine.runUntilIdle();
    expect(got).toBe('bye');
    expect(ended).toBe(true);
    expect(closed).toBeNull();
    expect(c.state).toBe('closed');
    expect(server!.state).toBe('time-wait');
    expect(a.bound(IpProtocol.Tcp)).toEqual([]);
    engine.advance(1000);
    expect(server!.state).toBe('closed');
    expect(engine.pool.available).toBe(64);
  });

  it('allowHalfOpen keeps sending after the peer FIN', () => {
    const { engine, a, b } = fakePair(64);
    TcpListener.listen(b, 80, (c) => { c.onEnd(() => { c.write('late'); c.close(); }); });
    const c = TcpConnection.connect(a, b.addr, 80, { allowHalfOpen: true, timeWaitMs: 10 });
    let got = '';
    c.onData((d) => { got += d.toString(); });
    c.onConnect(() => c.close());
    engine.runUntilIdle();
    expect(got).toBe('late');
    expect(c.state).toBe('time-wait');
    engine.advance(10);
    expect(engine.pool.available).toBe(64);
  });

  it('a client and a server on the same host (synchronous local delivery, re-entrant)', () => {
    const { engine, a } = fakePair(64);
    TcpEcho.listen(a, 7);
    const c = TcpConnection.connect(a, a.addr, 7, { timeWaitMs: 10 });
    let got = '';
    c.onData((d) => { got += d.toString(); });
    expect(c.state).toBe('established');
    c.write('ping');
    c.close();
    engine.runUntilIdle();
    expect(got).toBe('ping');
    expect(c.state).toBe('time-wait');
    engine.advance(10);
    expect(a.bound(IpProtocol.Tcp)).toEqual([7]);
    expect(engine.pool.available).toBe(64);
  });
});

describe('TCP data', () => {
  it('splits writes above the MSS into segments and delivers them in order (window respected)', () => {
    const { engine, a, b } = fakePair(512);
    const sizes: number[] = [];
    a.onWire = (p) => { const n = tcpPayloadLenOf(p); if (n > 0) sizes.push(n); };
    const echo = TcpEcho.listen(b, 7);
    const c = TcpConnection.connect(a, b.addr, 7);
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    const back: Buffer[] = [];
    c.onData((d) => back.push(Buffer.from(d)));
    c.write(data);
    engine.runUntilIdle();
    expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
    expect(Math.max(...sizes)).toBe(1460);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(200_000);
    expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(200_000 / 1460));
    expect(echo.counters.get('bytes')).toBe(200_000);
    c.close();
    engine.runUntilIdle();
    expect(c.state).toBe('time-wait');
  });

  it('sends at most the smaller MSS of the two ends', () => {
    const { engine, a, b } = fakePair(128);
    const sizes: number[] = [];
    const synMss: number[] = [];
    b.onWire = (p) => {
      const n = tcpPayloadLenOf(p);
      if (n > 0) sizes.push(n);
      if ((tcpFlagsOf(p) & SYN) !== 0) synMss.push(mssOf(p));
    };
    TcpListener.listen(b, 80, (c) => c.write(Buffer.alloc(5000, 1)));
    TcpConnection.connect(a, b.addr, 80, { mss: 1000 });
    engine.runUntilIdle();
    expect(synMss).toEqual([1460]);
    expect(sizes).toEqual([1000, 1000, 1000, 1000, 1000]);
  });

  it('data written before the handshake completes is sent once established', () => {
    const { engine, a, b } = fakePair(64);
    TcpEcho.listen(b, 7);
    const c = TcpConnection.connect(a, b.addr, 7);
    c.write('early');
    expect(c.queuedBytes).toBe(5);
    let got = '';
    c.onData((d) => { got += d.toString(); });
    engine.runUntilIdle();
    expect(got).toBe('early');
  });
});

describe('TCP under loss and pool pressure', () => {
  it('a lost middle segment: the receiver keeps only the in-order prefix until the RTO resends the rest', () => {
    const { engine, a, b } = fakePair(128);
    let n = 0;
    a.lose = (p) => tcpPayloadLenOf(p) > 0 && ++n === 2;
    let server: TcpConnection | null = null;
    let got = 0;
    TcpListener.listen(b, 80, (s) => { server = s; s.onData((d) => { got += d.length; }); });
    const c = TcpConnection.connect(a, b.addr, 80);
    c.write(Buffer.alloc(10_000, 7));
    engine.advance(199); // RTT 0 in virtual time: RTO = TCP_RTO_MIN
    expect(got).toBe(1460);
    expect(server!.stats.segmentsDropped).toBe(5);
    engine.advance(1);
    expect(got).toBe(10_000);
    expect(c.stats.retransmits).toBe(1); // then one segment per ACK (go-back-N)
    c.abort();
    engine.runUntilIdle();
    expect(engine.pool.available).toBe(128);
  });

  it('an empty pool delays segments (retried) instead of losing them', () => {
    const { engine, a, b } = fakePair(8);
    const echo = TcpEcho.listen(b, 7);
    const c = TcpConnection.connect(a, b.addr, 7);
    let back = 0;
    c.onData((d) => { back += d.length; });
    engine.runUntilIdle();
    c.write(Buffer.alloc(50_000, 1));
    engine.advance(200);
    expect(back).toBe(50_000);
    expect(echo.counters.get('bytes')).toBe(50_000);
    expect(c.stats.poolExhausted).toBeGreaterThan(0);
    c.close();
    engine.advance(60_000);
    expect(engine.pool.available).toBe(8);
  });
});

describe('TCP errors', () => {
  it('RST from a closed port: connection refused', async () => {
    const { engine, a, b } = fakePair(16);
    const c = TcpConnection.connect(a, b.addr, 9999);
    const done = c.done;
    engine.runUntilIdle();
    await expect(done).rejects.toThrow('connect to 10.244.2.2:9999: connection refused');
    expect((c.error as TcpError).code).toBe('ECONNREFUSED');
    await expect(c.connected).rejects.toThrow(/refused/);
    expect(a.bound(IpProtocol.Tcp)).toEqual([]);
    expect(engine.pool.available).toBe(16);
  });

  it('a lost SYN-ACK: the connect times out after timeoutMs, the server drops its half-open connection', async () => {
    const { engine, a, b } = fakePair(16);
    b.lose = (p) => tcpFlagsOf(p) === (SYN | ACK);
    const l = TcpListener.listen(b, 8080, () => {}, { timeoutMs: 5000 });
    const c = TcpConnection.connect(a, b.addr, 8080, { timeoutMs: 3000 });
    const done = c.done;
    let err: Error | null = null;
    c.onClose((e) => { err = e; });
    engine.advance(2999);
    expect(err).toBeNull();
    expect(l.connections.size).toBe(1);
    engine.advance(1);
    expect(err).toBeInstanceOf(TcpError);
    await expect(done).rejects.toThrow(/^connect to 10\.244\.2\.2:8080 timed out after 3000 ms$/);
    expect(a.bound(IpProtocol.Tcp)).toEqual([]);
    engine.advance(2000);
    expect(l.connections.size).toBe(0);
    expect(engine.pool.available).toBe(16);
  });

  it('a lost data segment: the client fails waiting for an ACK, with a RST to the server', async () => {
    const { engine, a, b } = fakePair(32);
    a.lose = (p) => tcpPayloadLenOf(p) > 0;
    let server: TcpConnection | null = null;
    let serverErr: Error | null | undefined;
    TcpListener.listen(b, 8080, (s) => { server = s; s.onClose((e) => { serverErr = e; }); });
    const c = TcpConnection.connect(a, b.addr, 8080);
    engine.runUntilIdle();
    c.write('lost');
    const done = c.done;
    engine.advance(3000);
    await expect(done).rejects.toThrow('connection to 10.244.2.2:8080 timed out after 3000 ms waiting for an ACK');
    expect(server!.state).toBe('closed');
    expect((serverErr as TcpError).code).toBe('ECONNRESET');
    expect(engine.pool.available).toBe(32);
  });

  it('a lost FIN-ACK: the client resends its FIN at the RTO, the server ACKs it, the client then fails waiting for FIN', async () => {
    const { engine, a, b } = fakePair(32);
    b.lose = (p) => (tcpFlagsOf(p) & FIN) !== 0;
    TcpListener.listen(b, 8080, () => {});
    const c = TcpConnection.connect(a, b.addr, 8080, { timeoutMs: 500 });
    engine.runUntilIdle();
    c.close();
    const done = c.done;
    engine.advance(199);
    expect(c.state).toBe('fin-wait-1');
    engine.advance(1);
    expect(c.state).toBe('fin-wait-2');
    expect(c.stats.retransmits).toBe(1);
    engine.advance(500);
    await expect(done).rejects.toThrow('connection to 10.244.2.2:8080 timed out after 500 ms waiting for FIN');
  });

  it('an idle connection times out waiting for data', async () => {
    const { engine, a, b } = fakePair(32);
    TcpListener.listen(b, 8080, () => {});
    const c = TcpConnection.connect(a, b.addr, 8080, { timeoutMs: 1000 });
    const done = c.done;
    engine.advance(1000);
    await expect(done).rejects.toThrow('connection to 10.244.2.2:8080 timed out after 1000 ms waiting for data');
  });

  it('abort() on the server: the client sees connection reset by peer', async () => {
    const { engine, a, b } = fakePair(32);
    TcpListener.listen(b, 8080, (s) => s.onData(() => s.abort()));
    const c = TcpConnection.connect(a, b.addr, 8080);
    c.write('x');
    const done = c.done;
    engine.runUntilIdle();
    await expect(done).rejects.toThrow('connection to 10.244.2.2:8080: connection reset by peer');
    expect(engine.pool.available).toBe(32);
  });

  it('a segment for an unknown connection on a listening port gets a RST (seq = its ACK number)', () => {
    const { engine, a, b } = fakePair(16);
    const l = TcpListener.listen(b, 8080, () => {});
    const seen: { flags: number; seq: number }[] = [];
    a.bind(IpProtocol.Tcp, 40000, (p, info) => {
      seen.push({ flags: p.buf[info.l4 + 13]!, seq: readU32(p.buf, info.l4 + 4) });
      a.free(p);
    });
    const p = a.alloc()!;
    writeSegment(p, a.addr, b.addr, 40000, 8080, 1000, 0xdeadbeef, ACK, 0, 1, 0);
    sealSegment(p);
    a.output(p);
    engine.runUntilIdle();
    expect(seen).toEqual([{ flags: RST, seq: 0xdeadbeef }]);
    expect(l.counters.get('rst-sent')).toBe(1);
    expect(l.connections.size).toBe(0);
  });

  it('no route: connect fails with no route to host', async () => {
    const { engine, a } = fakePair(8);
    a.sourceFor = () => 0;
    const c = TcpConnection.connect(a, '192.0.2.1', 80);
    const done = c.done;
    engine.advance(0);
    await expect(done).rejects.toThrow('connect to 192.0.2.1:80: no route to host');
  });

  it('listener close() refuses new connections and unbinds after the last one', () => {
    const { engine, a, b } = fakePair(32);
    let server: TcpConnection | null = null;
    const l = TcpListener.listen(b, 8080, (s) => { server = s; }, { timeWaitMs: 1 });
    TcpConnection.connect(a, b.addr, 8080);
    engine.runUntilIdle();
    l.close();
    let err: Error | null = null;
    TcpConnection.connect(a, b.addr, 8080).onClose((e) => { err = e; });
    engine.runUntilIdle();
    expect(err).toBeInstanceOf(TcpError);
    expect(b.bound(IpProtocol.Tcp)).toEqual([8080]);
    server!.close();
    engine.runUntilIdle();
    engine.advance(1);
    expect(b.bound(IpProtocol.Tcp)).toEqual([]);
  });
});

describe('TCP trace', () => {
  it('the SYN carries the client trace, the SYN-ACK the reply journey', () => {
    const { engine, a, b } = fakePair(16);
    const traces: [string, number][] = [];
    a.onWire = (p) => traces.push([`a ${tcpFlagsOf(p)}`, p.trace]);
    b.onWire = (p) => traces.push([`b ${tcpFlagsOf(p)}`, p.trace]);
    TcpListener.listen(b, 80, () => {});
    const t = engine.trace.begin();
    const c = TcpConnection.connect(a, b.addr, 80, { trace: t });
    engine.runUntilIdle();
    const reply = engine.trace.replyIdOf(t);
    expect(reply).not.toBe(0);
    expect(traces).toEqual([[`a ${SYN}`, t], [`b ${SYN | ACK}`, reply], [`a ${ACK}`, 0]]);
    expect(c.trace).toBe(t);
    expect(engine.trace.hops(t).map((h) => h.action)).toEqual(['send', 'deliver', 'tcp-syn']);
  });
});

describe('TCP MSS from the egress MTU', () => {
  it('announces MTU - 40 (1410 under a 1450-byte VXLAN pod MTU) and splits data at the smaller MSS', async () => {
    const { engine, a, b } = fakePair(256);
    a.mtu = 1450;
    const msses: number[] = [];
    const sizes: number[] = [];
    a.onWire = (p) => {
      if ((tcpFlagsOf(p) & SYN) !== 0) msses.push(mssOf(p));
      if (tcpPayloadLenOf(p) > 0) sizes.push(tcpPayloadLenOf(p));
    };
    const listener = TcpListener.listen(b, 8080, () => {});
    const c = TcpConnection.connect(a, '10.244.2.2', 8080);
    const connected = c.connected;
    engine.runUntilIdle();
    await connected;
    expect(msses).toEqual([1410]);
    c.write(Buffer.alloc(3000, 1));
    engine.runUntilIdle();
    expect(sizes).toEqual([1410, 1410, 180]);
    c.abort();
    listener.close();
  });
});
