/**
 * TCP window tracking (conntrack-window.ts) against Linux's tcp_in_window: the four checks,
 * what each kernel makes of a failure (6.1: INVALID over the window, IGNORE under it;
 * before 6.1: INVALID for all four), be_liberal, and window scaling.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketTuple, TupleKind } from './packet-tuple.js';
import { ConntrackTable, CtDir, TcpState } from './conntrack.js';
import { WINDOW_FAILURES, type TcpSegmentInfo, type TcpWindowKernel } from './conntrack-window.js';
import { TCP_PROTOCOL as TCP, TcpFlag } from '../wire/tcp.js';

const { SYN, ACK, PSH, RST } = TcpFlag;
const runs = Number(process.env.PODWIRE_FC_RUNS ?? 2000);
const CLIENT = 0x0af40102, VIP = 0x0a600010, EP = 0x0af40203;
const C_ISN = 0x10000000, S_ISN = 0x80000000;

function seg(flags: number, seq: number, ack: number, len = 0, win = 64240, wscale = -1): TcpSegmentInfo {
  return { flags, seq: seq >>> 0, ack: ack >>> 0, win, end: (seq + len + (flags & SYN ? 1 : 0) + (flags & 1)) >>> 0, wscale };
}

/** A connection through a VIP after its handshake (client ISN C_ISN, server ISN S_ISN), window scale 7 on both SYNs unless `scale` is false. */
function established(kernel: TcpWindowKernel, beLiberal = false, scale = true): { t: ConntrackTable; e: number } {
  const t = new ConntrackTable({ capacity: 16, kernel, tcpBeLiberal: beLiberal });
  const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, 0);
  const ws = scale ? 7 : -1;
  expect(t.update(e, CtDir.Original, SYN, 0, seg(SYN, C_ISN, 0, 0, 64240, ws))).toBe(true);
  expect(t.update(e, CtDir.Reply, SYN | ACK, 1, seg(SYN | ACK, S_ISN, C_ISN + 1, 0, 65160, ws))).toBe(true);
  expect(t.update(e, CtDir.Original, ACK, 2, seg(ACK, C_ISN + 1, S_ISN + 1, 0, 502))).toBe(true);
  expect(t.tcpState(e)).toBe(TcpState.Established);
  return { t, e };
}

describe('conntrack TCP window tracking (tcp_in_window)', () => {
  it('a request and a 1 MB answer inside the windows: every segment accepted', () => {
    const { t, e } = established('6.1');
    expect(t.update(e, CtDir.Original, PSH | ACK, 3, seg(PSH | ACK, C_ISN + 1, S_ISN + 1, 100, 502))).toBe(true);
    let sent = 0;
    let acked = 0;
    for (let ms = 4; sent < 1 << 20; ms++) {
      // the server keeps 32 segments of 1448 bytes in flight; the client acknowledges every other one
      while (sent - acked < 32 * 1448) {
        expect(t.update(e, CtDir.Reply, ACK, ms, seg(ACK, S_ISN + 1 + sent, C_ISN + 101, 1448, 509))).toBe(true);
        sent += 1448;
      }
      acked += 2 * 1448;
      expect(t.update(e, CtDir.Original, ACK, ms, seg(ACK, C_ISN + 101, S_ISN + 1 + acked, 0, 4096))).toBe(true);
    }
    expect(t.stats.invalid).toBe(0);
  });

  it("upstream's regression-issue-74839 packet (seq 100000 under what the client acknowledged): IGNORE on 6.1, INVALID before", () => {
    // test/images/regression-issue-74839: Seq = the client's ACK - 100000, Ack = the client's next seq
    const boom = seg(PSH | ACK, S_ISN + 1 - 100000, C_ISN + 1, 7, 509);
    const now = established('6.1');
    const deadline = now.t.deadlineOf(now.e);
    expect(now.t.update(now.e, CtDir.Reply, PSH | ACK, 5000, boom)).toBe(true); // accepted with its connection: NATed
    expect(now.t.window.lastFailure).toBe(2);
    expect(WINDOW_FAILURES[2]).toContain('SEQ is under the lower bound');
    expect(now.t.deadlineOf(now.e)).toBe(deadline); // IGNORE: not refreshed
    expect(now.t.stats.invalid).toBe(0);

    const old = established('5.15');
    expect(old.t.update(old.e, CtDir.Reply, PSH | ACK, 5000, boom)).toBe(false); // INVALID: no reverse NAT
    expect(old.t.stats.invalid).toBe(1);

    const liberal = established('5.15', true);
    expect(liberal.t.update(liberal.e, CtDir.Reply, PSH | ACK, 5000, boom)).toBe(true);
    expect(liberal.t.stats.invalid).toBe(0);
  });

  it('SEQ over the upper bound and ACK over the upper bound: INVALID on every kernel, accepted with be_liberal', () => {
    for (const kernel of ['6.1', '5.15'] as const) {
      const a = established(kernel);
      // the client advertised 502 << 7 = 64256 bytes; a segment starting 1 MB past what it acknowledged
      expect(a.t.update(a.e, CtDir.Reply, ACK, 10, seg(ACK, S_ISN + 1 + (1 << 20), C_ISN + 1, 100, 509))).toBe(false);
      expect(a.t.window.lastFailure).toBe(1);
      // the server acknowledges client data that was never sent
      expect(a.t.update(a.e, CtDir.Reply, ACK, 11, seg(ACK, S_ISN + 1, C_ISN + 1 + 5000, 0, 509))).toBe(false);
      expect(a.t.window.lastFailure).toBe(3);
      expect(a.t.stats.invalid).toBe(2);
      const l = established(kernel, true);
      expect(l.t.update(l.e, CtDir.Reply, ACK, 10, seg(ACK, S_ISN + 1 + (1 << 20), C_ISN + 1, 100, 509))).toBe(true);
    }
  });

  it('an overshoot that fits the receiver window: IGNORE on 6.1 (td_end moves), INVALID before', () => {
    const a = established('6.1');
    // td_maxend of the server = the client's ack + 64256; a segment ending 1000 bytes past it, starting past it too
    const start = S_ISN + 1 + 64256 + 1;
    expect(a.t.update(a.e, CtDir.Reply, ACK, 10, seg(ACK, start, C_ISN + 1, 1000, 509))).toBe(true);
    expect(a.t.window.lastFailure).toBe(5);
    const b = established('5.15');
    expect(b.t.update(b.e, CtDir.Reply, ACK, 10, seg(ACK, start, C_ISN + 1, 1000, 509))).toBe(false);
  });

  it('window scaling needs both SYNs: without it the raw 16-bit window bounds the sender', () => {
    // both offered scale 7: the client's window 502 means 64256 bytes, 60000 bytes ahead is inside
    const scaled = established('6.1');
    expect(scaled.t.update(scaled.e, CtDir.Reply, ACK, 10, seg(ACK, S_ISN + 1 + 60000, C_ISN + 1, 1448, 509))).toBe(true);
    const t = new ConntrackTable({ capacity: 4, kernel: '6.1' });
    const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, 0);
    t.update(e, CtDir.Original, SYN, 0, seg(SYN, C_ISN, 0, 0, 64240, 7)); // only the client offers scaling
    t.update(e, CtDir.Reply, SYN | ACK, 1, seg(SYN | ACK, S_ISN, C_ISN + 1, 0, 65160, -1));
    // the client's ACK with window 502: unscaled, so the server may only send 502 bytes past it
    expect(t.update(e, CtDir.Original, ACK, 2, seg(ACK, C_ISN + 1, S_ISN + 1, 0, 502))).toBe(true);
    // 64241 bytes ahead: over the server's td_maxend (ack + 502), and by more than the client's
    // largest window (64240), so not the 6.1 overshoot allowance either
    expect(t.update(e, CtDir.Reply, ACK, 3, seg(ACK, S_ISN + 1 + 64240 + 1, C_ISN + 1, 1448, 509))).toBe(false);
    expect(t.window.lastFailure).toBe(1);
  });

  it('a RST answering a SYN (seq 0) is checked at the sender\'s end, and closes the entry', () => {
    const t = new ConntrackTable({ capacity: 4, kernel: '5.15' });
    const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, 0);
    t.update(e, CtDir.Original, SYN, 0, seg(SYN, C_ISN, 0));
    expect(t.update(e, CtDir.Reply, RST | ACK, 1, seg(RST | ACK, 0, C_ISN + 1, 0, 0))).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.Close);
  });

  it('without the segment fields, update() keeps its state-machine-only behaviour', () => {
    const t = new ConntrackTable({ capacity: 4, kernel: '5.15' });
    const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, 0);
    expect(t.update(e, CtDir.Original, SYN, 0)).toBe(true);
    expect(t.update(e, CtDir.Reply, SYN | ACK, 0)).toBe(true);
    expect(t.update(e, CtDir.Original, ACK, 0)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.Established);
  });
});

describe('window tracking on hostile input', () => {
  it('PacketTuple reads any TCP header bytes without throwing: a data offset outside the segment is INVALID, the window scale comes only from a SYN', () => {
    const tu = new PacketTuple();
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 80 }), fc.integer({ min: 0, max: 100 }), (tcp, cut) => {
      const len = Math.min(tcp.length, 20 + cut);
      const buf = new Uint8Array(20 + len);
      buf[0] = 0x45;
      buf[2] = (20 + len) >>> 8; buf[3] = (20 + len) & 0xff;
      buf[9] = TCP;
      buf.set(tcp.subarray(0, len), 20);
      const kind = tu.parse(buf, 0);
      const doff = (buf[32]! >>> 4) << 2;
      if (doff < 20 || doff > len) { expect(kind).toBe(TupleKind.Invalid); return; }
      expect(kind).toBe(TupleKind.Normal);
      expect(tu.wscale).toBeGreaterThanOrEqual(-1);
      expect(tu.wscale).toBeLessThanOrEqual(255);
      if ((buf[33]! & SYN) === 0) expect(tu.wscale).toBe(-1);
      const extra = ((buf[33]! & SYN) !== 0 ? 1 : 0) + (buf[33]! & 1);
      expect(tu.end).toBe((tu.seq + len - doff + extra) >>> 0);
    }), { numRuns: runs });
  });

  it('any sequence of segments leaves the entry in a valid state: a state of the table, ACCEPT/INVALID as a boolean, never a throw', () => {
    const segArb = fc.record({
      dir: fc.integer({ min: 0, max: 1 }), flags: fc.integer({ min: 0, max: 0x3f }), seq: fc.nat(), ack: fc.nat(),
      len: fc.integer({ min: 0, max: 70000 }), win: fc.integer({ min: 0, max: 65535 }), wscale: fc.integer({ min: -1, max: 20 }),
    });
    fc.assert(fc.property(fc.constantFrom<TcpWindowKernel>('6.1', '5.15'), fc.boolean(), fc.array(segArb, { maxLength: 30 }), (kernel, liberal, segs) => {
      const t = new ConntrackTable({ capacity: 4, kernel, tcpBeLiberal: liberal });
      const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, 0);
      t.update(e, CtDir.Original, SYN, 0, seg(SYN, C_ISN, 0));
      let now = 1;
      for (const g of segs) {
        const ok = t.update(e, g.dir, g.flags, now++, seg(g.flags, g.seq, g.ack, g.len, g.win, (g.flags & SYN) !== 0 ? g.wscale : -1));
        expect(typeof ok).toBe('boolean');
        if (!t.isLive(e)) return;
        expect(t.tcpState(e)).toBeLessThanOrEqual(TcpState.SynSent2);
        if (liberal) expect(t.window.lastFailure === 0 || ok).toBe(true); // be_liberal: a failed window check still passes
      }
    }), { numRuns: Math.max(200, runs / 10) });
  });
});
