import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../wire/tcp.js';
import { TcpConnection, TcpError, TcpListener } from './tcp.js';
import { RtoEstimator, TCP_RTO_MAX, TCP_RTO_MIN } from './tcp-rto.js';
import { fakePair, tcpFlagsOf, tcpPayloadLenOf } from './testing/fake-host.js';

const { SYN, ACK } = TcpFlag;

describe('RTO estimator (RFC 6298, Linux bounds)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(4 RTTVAR, 200 ms)', () => {
    const e = new RtoEstimator();
    expect(e.rto).toBe(1000); // TCP_TIMEOUT_INIT
    e.sample(100);
    expect([e.srtt, e.rttvar, e.rto]).toEqual([100, 50, 300]);
    e.sample(20); // RTTVAR = 3/4*50 + 1/4*80 = 57.5, SRTT = 7/8*100 + 1/8*20 = 90
    expect([e.srtt, e.rttvar, e.rto]).toEqual([90, 57.5, 320]);
    const z = new RtoEstimator();
    z.sample(0);
    expect(z.rto).toBe(TCP_RTO_MIN);
  });

  it('backoff doubles up to TCP_RTO_MAX; an ACK recomputes from SRTT', () => {
    const e = new RtoEstimator();
    e.sample(0);
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) { e.backoff(); seen.push(e.rto); }
    expect(seen).toEqual([400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 102_400, TCP_RTO_MAX, TCP_RTO_MAX, TCP_RTO_MAX]);
    e.resetBackoff();
    expect(e.rto).toBe(TCP_RTO_MIN);
    const n = new RtoEstimator();
    n.backoff();
    n.resetBackoff();
    expect(n.rto).toBe(3000); // TCP_TIMEOUT_FALLBACK: no sample from a retransmitted SYN
  });
});

describe('TCP retransmission in virtual time', () => {
  it('dropped SYNs go out at 0, 1, 3, 7, 15, 31, 63 s; the connect fails with ETIMEDOUT at 127 s', async () => {
    const { engine, a, b } = fakePair(32);
    const synAt: number[] = [];
    a.onWire = (p) => { if (tcpFlagsOf(p) === SYN) synAt.push(engine.now()); };
    a.lose = (p) => tcpFlagsOf(p) === SYN;
    TcpListener.listen(b, 80, () => {});
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    const done = c.done;
    engine.advance(126_999);
    expect(c.state).toBe('syn-sent');
    expect(synAt).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 63_000]);
    engine.advance(1);
    await expect(done).rejects.toThrow('connect to 10.244.2.2:80 timed out after 127000 ms (6 SYN retransmissions)');
    expect((c.error as TcpError).code).toBe('ETIMEDOUT');
    expect(c.stats.retransmits).toBe(6);
    expect(engine.scheduler.nextDeadline()).toBe(Infinity); // no timer left behind
    expect(engine.pool.available).toBe(32);
  });

  it('the first five SYNs lost: connected at 31 s, by the sixth SYN', async () => {
    const { engine, a, b } = fakePair(32);
    let syns = 0;
    a.lose = (p) => tcpFlagsOf(p) === SYN && ++syns <= 5;
    TcpListener.listen(b, 80, () => {});
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    let at = -1;
    c.onConnect(() => { at = engine.now(); });
    engine.advance(40_000);
    expect(at).toBe(31_000);
    c.abort();
  });

  it('a lost SYN-ACK is resent by the server after 1 s (and the client SYN again)', () => {
    const { engine, a, b } = fakePair(32);
    let lost = 0;
    b.lose = (p) => tcpFlagsOf(p) === (SYN | ACK) && ++lost === 1;
    TcpListener.listen(b, 80, () => {});
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    engine.advance(999);
    expect(c.state).toBe('syn-sent');
    engine.advance(1);
    expect(c.state).toBe('established');
    c.abort();
  });

  it('a lost data segment is resent after exactly one RTO (200 ms at RTT 0) and delivered', () => {
    const { engine, a, b } = fakePair(32);
    let lost = 0;
    const dataAt: number[] = [];
    a.onWire = (p) => { if (tcpPayloadLenOf(p) > 0) dataAt.push(engine.now()); };
    a.lose = (p) => tcpPayloadLenOf(p) > 0 && ++lost === 1;
    let got = '';
    TcpListener.listen(b, 80, (s) => s.onData((d) => { got += d.toString(); }));
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    engine.runUntilIdle();
    engine.advance(50);
    c.write('hello');
    engine.advance(199);
    expect(got).toBe('');
    engine.advance(1);
    expect(got).toBe('hello');
    expect(dataAt).toEqual([50, 250]);
    expect(c.stats.retransmits).toBe(1);
    c.abort();
  });

  it('data never ACKed: 15 retransmissions (tcp_retries2), ETIMEDOUT 924.6 s after the write', async () => {
    const { engine, a, b } = fakePair(32);
    const dataAt: number[] = [];
    a.onWire = (p) => { if (tcpPayloadLenOf(p) > 0) dataAt.push(engine.now()); };
    a.lose = (p) => tcpPayloadLenOf(p) > 0;
    TcpListener.listen(b, 80, () => {}, { timeoutMs: 0 });
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    engine.runUntilIdle();
    c.write('x');
    const done = c.done;
    engine.advance(924_599);
    expect(c.state).toBe('established');
    expect(dataAt.length).toBe(16);
    expect(dataAt.slice(0, 4)).toEqual([0, 200, 600, 1400]);
    engine.advance(1);
    await expect(done).rejects.toThrow('connection to 10.244.2.2:80 timed out waiting for an ACK (15 retransmissions)');
    expect((c.error as TcpError).code).toBe('ETIMEDOUT');
  });

  it('runUntilIdle does not fire the RTO; close and abort cancel it', () => {
    const { engine, a, b } = fakePair(32);
    a.lose = (p) => tcpFlagsOf(p) === SYN;
    TcpListener.listen(b, 80, () => {});
    const c = TcpConnection.connect(a, b.addr, 80, { timeoutMs: 0 });
    engine.runUntilIdle();
    expect(c.stats.retransmits).toBe(0);
    expect(engine.scheduler.nextDeadline()).toBe(1000);
    c.abort();
    expect(engine.scheduler.nextDeadline()).toBe(Infinity);
  });
});
