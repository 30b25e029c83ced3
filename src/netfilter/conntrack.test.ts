import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpv4 } from '../wire/addr.js';
import {
  ConntrackTable, CtDir, CtStatus, KUBE_PROXY_TIMEOUTS, LINUX_TIMEOUTS, TcpState,
} from './conntrack.js';
import { conntrackSummary } from './conntrack-dump.js';
import { tcpNextState, TCP_IG, TCP_IV } from './conntrack-tcp.js';
import { hash5 } from './conntrack-index.js';

const TCP = 6, UDP = 17, ICMP = 1;
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;
const O = CtDir.Original, R = CtDir.Reply;
const ip = parseIpv4;
const CLIENT = ip('10.244.1.2'), VIP = ip('10.96.0.20'), EP = ip('10.244.2.2');
const S = 1000; // ms per second

/** A TCP connection client:40000 -> VIP:80 DNATed to EP:8080. */
function tcpConn(t: ConntrackTable, now = 0): number {
  const e = t.create(TCP, CLIENT, VIP, 40000, 80, EP, CLIENT, 8080, 40000, now);
  expect(e).toBeGreaterThanOrEqual(0);
  return e;
}

/** Asserts the entry is still there at `deadline` ms and gone 1 ms later. */
function expectExpiry(t: ConntrackTable, deadline: number): void {
  expect(t.lookup(TCP, CLIENT, VIP, 40000, 80, deadline)).toBeGreaterThanOrEqual(0);
  const before = t.stats.expired;
  expect(t.lookup(TCP, CLIENT, VIP, 40000, 80, deadline + 1)).toBe(-1);
  expect(t.stats.expired).toBe(before + 1);
  expect(t.count).toBe(0);
}

describe('ConntrackTable: TCP states and timeouts', () => {
  it('SYN_SENT lasts 120 s: present at 120.000, expired at 120.001', () => {
    const t = new ConntrackTable({ capacity: 16 });
    const e = tcpConn(t);
    expect(t.update(e, O, SYN, 0)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.SynSent);
    expect(t.timeoutLeft(e, 0)).toBe(120);
    expectExpiry(t, 120 * S);
  });

  it('walks the handshake and the close with the netfilter timeouts at each step', () => {
    const t = new ConntrackTable({ capacity: 16 });
    const e = tcpConn(t);
    const steps: [number, number, number, number][] = [
      // dir, flags, expected state, expected timeout (s)
      [O, SYN, TcpState.SynSent, 120],
      [R, SYN | ACK, TcpState.SynRecv, 60],
      [O, ACK, TcpState.Established, 432000],
      [O, ACK | PSH, TcpState.Established, 432000],
      [R, ACK | PSH, TcpState.Established, 432000],
      [O, FIN | ACK, TcpState.FinWait, 120],
      [R, ACK, TcpState.CloseWait, 60],
      [R, FIN | ACK, TcpState.LastAck, 30],
      [O, ACK, TcpState.TimeWait, 120],
    ];
    let now = 0;
    for (const [dir, flags, state, timeout] of steps) {
      now += 10;
      expect(t.update(e, dir, flags, now)).toBe(true);
      expect(t.tcpState(e)).toBe(state);
      expect(t.deadlineOf(e)).toBe(now + timeout * S);
    }
    expect(t.status(e) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(CtStatus.SeenReply | CtStatus.Assured);
    expectExpiry(t, now + 120 * S);
  });

  it('becomes ASSURED on the third packet of the handshake, not before', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.update(e, R, SYN | ACK, 1);
    expect(t.status(e) & CtStatus.Assured).toBe(0);
    expect(t.status(e) & CtStatus.SeenReply).toBe(CtStatus.SeenReply);
    t.update(e, O, ACK, 2);
    expect(t.status(e) & CtStatus.Assured).toBe(CtStatus.Assured);
  });

  it('SYN_RECV times out after 60 s', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.update(e, R, SYN | ACK, 5);
    expectExpiry(t, 5 + 60 * S);
  });

  it('ESTABLISHED: 432000 s with Linux timeouts, 86400 s with kube-proxy', () => {
    for (const [timeouts, secs] of [[LINUX_TIMEOUTS, 432000], [KUBE_PROXY_TIMEOUTS, 86400]] as const) {
      const t = new ConntrackTable({ capacity: 4, timeouts });
      const e = tcpConn(t);
      t.update(e, O, SYN, 0);
      t.update(e, R, SYN | ACK, 0);
      t.update(e, O, ACK, 0);
      expect(t.timeoutLeft(e, 0)).toBe(secs);
      expectExpiry(t, secs * S);
    }
  });

  it('CLOSE_WAIT: 60 s with Linux timeouts, 3600 s with kube-proxy; FIN_WAIT, LAST_ACK, TIME_WAIT expire', () => {
    const cases: [typeof LINUX_TIMEOUTS, [number, number][], number][] = [
      [LINUX_TIMEOUTS, [[O, FIN | ACK]], 120],
      [LINUX_TIMEOUTS, [[O, FIN | ACK], [R, ACK]], 60],
      [KUBE_PROXY_TIMEOUTS, [[O, FIN | ACK], [R, ACK]], 3600],
      [LINUX_TIMEOUTS, [[O, FIN | ACK], [R, ACK], [R, FIN | ACK]], 30],
      [LINUX_TIMEOUTS, [[O, FIN | ACK], [R, FIN | ACK], [O, ACK]], 120],
    ];
    for (const [timeouts, close, secs] of cases) {
      const t = new ConntrackTable({ capacity: 4, timeouts });
      const e = tcpConn(t);
      t.update(e, O, SYN, 0);
      t.update(e, R, SYN | ACK, 0);
      t.update(e, O, ACK, 0);
      for (const [dir, flags] of close) expect(t.update(e, dir, flags, 0)).toBe(true);
      expect(t.timeoutLeft(e, 0)).toBe(secs);
      expectExpiry(t, secs * S);
    }
  });

  it('RST moves an answered connection to CLOSE for 10 s', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.update(e, R, SYN | ACK, 0);
    t.update(e, O, ACK, 0);
    expect(t.update(e, R, RST, 100)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.Close);
    expectExpiry(t, 100 + 10 * S);
  });

  it('an RST before any reply (port closed behind the VIP) ends the entry at once', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    expect(t.update(e, R, RST | ACK, 50)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.Close);
    expect(t.lookup(TCP, EP, CLIENT, 8080, 40000, 50)).toBe((e << 1) | 1);
    expect(t.lookup(TCP, EP, CLIENT, 8080, 40000, 51)).toBe(-1);
  });

  it('rejects transitions netfilter calls invalid and leaves the entry as it was', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    const d = t.deadlineOf(e);
    expect(t.update(e, O, SYN | ACK, 1)).toBe(false); // SYN/ACK from the client
    expect(t.update(e, O, ACK, 1)).toBe(false);       // ACK before the SYN/ACK
    expect(t.update(e, R, FIN, 1)).toBe(false);
    expect(t.update(e, O, 0, 1)).toBe(false);          // no flags
    expect(t.stats.invalid).toBe(4);
    expect(t.tcpState(e)).toBe(TcpState.SynSent);
    expect(t.deadlineOf(e)).toBe(d);
  });

  it('ignores a retransmitted SYN/ACK once established (no change, no refresh)', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.update(e, R, SYN | ACK, 0);
    t.update(e, O, ACK, 0);
    expect(t.update(e, R, SYN | ACK, 5000)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.Established);
    expect(t.deadlineOf(e)).toBe(432000 * S);
  });

  it('simultaneous open: a SYN in the reply direction gives SYN_SENT2', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    expect(t.update(e, R, SYN, 1)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.SynSent2);
    expect(t.update(e, R, SYN | ACK, 2)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.SynRecv);
  });

  it('a SYN in TIME_WAIT reopens the connection with flags cleared', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = tcpConn(t);
    for (const [d, f] of [[O, SYN], [R, SYN | ACK], [O, ACK], [O, FIN | ACK], [R, FIN | ACK], [O, ACK]] as const) t.update(e, d, f, 0);
    expect(t.tcpState(e)).toBe(TcpState.TimeWait);
    expect(t.update(e, O, SYN, 1)).toBe(true);
    expect(t.tcpState(e)).toBe(TcpState.SynSent);
    expect(t.status(e) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(0);
  });

  it('matches the netfilter transition table on selected cells', () => {
    const S_ = TcpState;
    const cells: [number, number, number, number][] = [
      // state, dir, flags, next
      [S_.None, O, SYN, S_.SynSent],
      [S_.None, O, ACK, S_.Established], // loose pickup in the table; NatHooks refuses it (tcpNewOk)
      [S_.None, R, SYN, TCP_IV],
      [S_.SynSent, O, SYN, S_.SynSent],
      [S_.SynSent, R, SYN | ACK, S_.SynRecv],
      [S_.SynSent, R, ACK, TCP_IG],
      [S_.SynSent, O, RST, S_.Close],
      [S_.SynRecv, O, ACK, S_.Established],
      [S_.SynRecv, O, SYN, TCP_IG],
      [S_.SynRecv, O, FIN, S_.FinWait],
      [S_.Established, R, FIN, S_.FinWait],
      [S_.Established, O, SYN, TCP_IG],
      [S_.FinWait, R, ACK, S_.CloseWait],
      [S_.FinWait, R, FIN, S_.LastAck],
      [S_.CloseWait, R, FIN, S_.LastAck],
      [S_.LastAck, O, ACK, S_.TimeWait],
      [S_.TimeWait, O, ACK, S_.TimeWait],
      [S_.TimeWait, R, SYN, S_.SynSent],
      [S_.Close, O, SYN, S_.SynSent],
      [S_.Close, R, ACK, S_.Close],
      [S_.SynSent2, R, SYN | ACK, S_.SynRecv],
      [S_.SynSent2, O, ACK, TCP_IV],
    ];
    for (const [state, dir, flags, next] of cells) expect([state, dir, flags, tcpNextState(state, dir, flags)]).toEqual([state, dir, flags, next]);
  });
});

describe('ConntrackTable: UDP and ICMP', () => {
  it('UDP: unreplied 30 s; SEEN_REPLY on the first reply; ASSURED and 120 s for traffic 2 s after creation', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = t.create(UDP, CLIENT, VIP, 5353, 53, EP, CLIENT, 53, 5353, 0);
    t.update(e, O, 0, 0);
    expect(t.timeoutLeft(e, 0)).toBe(30);
    expect(t.status(e) & CtStatus.SeenReply).toBe(0);
    expect(t.lookup(UDP, CLIENT, VIP, 5353, 53, 30 * S + 1)).toBe(-1); // expired unreplied

    const f = t.create(UDP, CLIENT, VIP, 5353, 53, EP, CLIENT, 53, 5353, 100 * S);
    t.update(f, O, 0, 100 * S);
    t.update(f, R, 0, 101 * S);
    // Linux nf_conntrack_udp_packet: the reply refreshes the unreplied timeout; SEEN_REPLY is set after it.
    expect(t.status(f) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(CtStatus.SeenReply);
    expect(t.timeoutLeft(f, 101 * S)).toBe(30);
    t.update(f, O, 0, 102 * S); // not after stream_ts (creation + 2 s): still 30 s, not ASSURED
    expect(t.status(f) & CtStatus.Assured).toBe(0);
    expect(t.deadlineOf(f)).toBe(132 * S);
    t.update(f, O, 0, 110 * S);
    expect(t.status(f) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(CtStatus.SeenReply | CtStatus.Assured);
    expect(t.deadlineOf(f)).toBe(230 * S);
    expect(t.lookup(UDP, EP, CLIENT, 53, 5353, 230 * S)).toBe((f << 1) | 1);
    expect(t.lookup(UDP, EP, CLIENT, 53, 5353, 230 * S + 1)).toBe(-1);
  });

  it('UDP: a request and its answer (a DNS lookup) never become ASSURED', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = t.create(UDP, CLIENT, VIP, 5353, 53, EP, CLIENT, 53, 5353, 0);
    t.update(e, O, 0, 0);
    t.update(e, R, 0, 5 * S); // a slow answer, after the 2 s: the packet still sees no SEEN_REPLY
    expect(t.status(e) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(CtStatus.SeenReply);
    expect(t.timeoutLeft(e, 5 * S)).toBe(30);
    expect(t.dump(5 * S)).not.toContain('[ASSURED]');
    t.update(e, R, 0, 6 * S); // a second answer, after the 2 s: a stream
    expect(t.dump(6 * S)).toContain('[ASSURED]');
    expect(t.timeoutLeft(e, 6 * S)).toBe(120);
  });

  it('ICMP echo: 30 s, the reply sets SEEN_REPLY but never ASSURED', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const e = t.create(ICMP, CLIENT, EP, 7, 8 << 8, EP, CLIENT, 7, 0, 0);
    t.update(e, O, 0, 0);
    expect(t.lookup(ICMP, EP, CLIENT, 7, 0, 10)).toBe((e << 1) | 1);
    t.update(e, R, 0, 10);
    expect(t.status(e) & (CtStatus.SeenReply | CtStatus.Assured)).toBe(CtStatus.SeenReply);
    expect(t.lookup(ICMP, CLIENT, EP, 7, 8 << 8, 10 + 30 * S)).toBe(e << 1);
    expect(t.lookup(ICMP, CLIENT, EP, 7, 8 << 8, 10 + 30 * S + 1)).toBe(-1);
  });
});

describe('ConntrackTable: index, capacity, deletion', () => {
  it('finds an entry by its reply tuple after NAT, with dir Reply', () => {
    const t = new ConntrackTable({ capacity: 8 });
    const e = tcpConn(t);
    expect(t.lookup(TCP, CLIENT, VIP, 40000, 80, 0)).toBe(e << 1);
    expect(t.lookup(TCP, EP, CLIENT, 8080, 40000, 0)).toBe((e << 1) | 1);
    // The un-NATed reply (VIP -> client) is not a key.
    expect(t.lookup(TCP, VIP, CLIENT, 80, 40000, 0)).toBe(-1);
    expect(t.stats).toMatchObject({ searched: 3, found: 2 });
  });

  it('setReply re-keys the reply tuple (SNAT decided at POSTROUTING)', () => {
    const t = new ConntrackTable({ capacity: 8 });
    const e = tcpConn(t);
    const node = ip('10.244.1.1');
    t.setReply(e, EP, node, 8080, 40000);
    expect(t.lookup(TCP, EP, CLIENT, 8080, 40000, 0)).toBe(-1);
    expect(t.lookup(TCP, EP, node, 8080, 40000, 0)).toBe((e << 1) | 1);
    expect(t.lookup(TCP, CLIENT, VIP, 40000, 80, 0)).toBe(e << 1);
  });

  it('table full (of ASSURED entries): a new entry fails and is counted, existing entries carry on', () => {
    const t = new ConntrackTable({ capacity: 4 });
    for (let i = 0; i < 4; i++) {
      expect(t.create(UDP, CLIENT, VIP, 1000 + i, 53, EP, CLIENT, 53, 1000 + i, 0)).toBe(i);
      t.update(i, R, 0, 0);
      t.update(i, O, 0, 3 * S); // a UDP stream: ASSURED, early_drop leaves it alone
    }
    expect(t.create(UDP, CLIENT, VIP, 2000, 53, EP, CLIENT, 53, 2000, 0)).toBe(-1);
    expect(t.stats.insertFailed).toBe(1);
    expect(t.count).toBe(4);
    for (let i = 0; i < 4; i++) expect(t.lookup(UDP, EP, CLIENT, 53, 1000 + i, 1)).toBe((i << 1) | 1);
    t.delete(2);
    expect(t.create(UDP, CLIENT, VIP, 2000, 53, EP, CLIENT, 53, 2000, 0)).toBe(2);
  });

  it('deleteWhere flushes stale UDP entries of a removed endpoint', () => {
    const t = new ConntrackTable({ capacity: 16 });
    const ep2 = ip('10.244.3.3');
    for (let i = 0; i < 3; i++) t.create(UDP, CLIENT, VIP, 1000 + i, 53, EP, CLIENT, 53, 1000 + i, 0);
    t.create(UDP, CLIENT, VIP, 2000, 53, ep2, CLIENT, 53, 2000, 0);
    t.create(TCP, CLIENT, VIP, 3000, 53, EP, CLIENT, 53, 3000, 0);
    const released: number[] = [];
    t.onRelease = (e) => released.push(e);
    expect(t.deleteWhere({ proto: UDP, replySrc: EP, replySport: 53 }, 1)).toBe(3);
    expect(released).toEqual([0, 1, 2]);
    expect(t.count).toBe(2);
    expect(t.stats.deleted).toBe(3);
    expect(t.lookup(UDP, ep2, CLIENT, 53, 2000, 1)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(TCP, EP, CLIENT, 53, 3000, 1)).toBeGreaterThanOrEqual(0);
    expect(t.deleteWhere({ dst: VIP }, 1)).toBe(2);
    expect(t.count).toBe(0);
  });

  it('gc sweeps a bounded number of slots per call and reclaims expired entries', () => {
    const t = new ConntrackTable({ capacity: 64 });
    for (let i = 0; i < 40; i++) {
      const e = t.create(UDP, CLIENT, VIP, 1000 + i, 53, EP, CLIENT, 53, 1000 + i, 0);
      t.update(e, O, 0, i % 2 === 0 ? 0 : 100 * S); // even: expire at 30 s; odd: at 130 s
    }
    const now = 31 * S;
    expect(t.gc(now, 10)).toBe(5);
    expect(t.count).toBe(35);
    expect(t.gc(now, 30)).toBe(15);
    expect(t.gc(now, 1000)).toBe(0);
    expect(t.count).toBe(20);
    expect(t.stats.expired).toBe(20);
    expect(t.entries(now)).toHaveLength(20);
  });

  it('probe lengths stay flat from 1k to 200k live entries', () => {
    const cap = 262144;
    const t = new ConntrackTable({ capacity: cap });
    const avg = (): number => { const s = t.probeStats(); return s.totalDisplacement / s.keys; };
    let i = 0;
    const fill = (n: number): void => {
      for (; i < n; i++) t.create(TCP, (0x0af40000 + (i >>> 8)) >>> 0, VIP, 1024 + (i & 0xff), 80, EP, 0x0af40000 + (i >>> 8), 8080, 1024 + (i & 0xff), 0);
    };
    fill(1000);
    const small = avg();
    fill(200000);
    const large = avg();
    expect(small).toBeLessThan(1);
    expect(large).toBeLessThan(1);
    expect(t.probeStats().maxDisplacement).toBeLessThan(64);
  });

  it('stays consistent with a naive Map model under random create/lookup/delete/setReply', () => {
    type Op =
      | { k: 'create'; a: number; b: number; c: number; d: number }
      | { k: 'lookup'; a: number; b: number }
      | { k: 'delete'; i: number }
      | { k: 'reply'; i: number; a: number };
    const small = fc.integer({ min: 0, max: 5 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('create' as const), a: small, b: small, c: small, d: small }),
      fc.record({ k: fc.constant('lookup' as const), a: small, b: small }),
      fc.record({ k: fc.constant('delete' as const), i: fc.nat(40) }),
      fc.record({ k: fc.constant('reply' as const), i: fc.nat(40), a: small }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const t = new ConntrackTable({ capacity: 24 });
      const released: number[] = [];
      t.onRelease = (e) => released.push(e);
      const model = new Map<string, number>(); // key -> entry << 1 | dir
      const tuples = new Map<number, [string, string]>();
      const key = (s: number, d: number, sp: number, dp: number): string => `${s}|${d}|${sp}|${dp}`;
      for (const o of ops) {
        if (o.k === 'create') {
          const ok = key(o.a, o.b, o.c, 80);
          const rk = key(o.b + 100, o.a, o.d, o.c);
          if (model.has(ok) || model.has(rk)) continue; // the caller's contract: tuples unique
          released.length = 0;
          const e = t.create(TCP, o.a, o.b, o.c, 80, o.b + 100, o.a, o.d, o.c, 0);
          if (tuples.size === 24) { // full: early_drop evicts one (none is ASSURED), the new one takes its row
            expect(released).toEqual([e]);
            for (const k of tuples.get(e)!) model.delete(k);
            tuples.delete(e);
          } else expect(released).toEqual([]);
          expect(e).toBeGreaterThanOrEqual(0);
          model.set(ok, e << 1);
          model.set(rk, (e << 1) | 1);
          tuples.set(e, [ok, rk]);
        } else if (o.k === 'lookup') {
          for (const [s, d, sp, dp] of [[o.a, o.b, o.a, 80], [o.b + 100, o.a, o.b, o.a]] as const) {
            expect(t.lookup(TCP, s, d, sp, dp, 0)).toBe(model.get(key(s, d, sp, dp)) ?? -1);
          }
        } else if (o.k === 'delete') {
          const e = [...tuples.keys()][o.i % Math.max(1, tuples.size)];
          if (e === undefined) continue;
          t.delete(e);
          for (const k of tuples.get(e)!) model.delete(k);
          tuples.delete(e);
        } else {
          const e = [...tuples.keys()][o.i % Math.max(1, tuples.size)];
          if (e === undefined) continue;
          const nk = key(t.replySrc(e), 200 + o.a, t.replySport(e), t.replyDport(e));
          if (model.has(nk)) continue;
          t.setReply(e, t.replySrc(e), 200 + o.a, t.replySport(e), t.replyDport(e));
          model.delete(tuples.get(e)![1]);
          model.set(nk, (e << 1) | 1);
          tuples.set(e, [tuples.get(e)![0], nk]);
        }
        expect(t.count).toBe(tuples.size);
      }
      // Every key in the model is found; the index holds exactly the model's keys.
      for (const [k, v] of model) {
        const [s, d, sp, dp] = k.split('|').map(Number) as [number, number, number, number];
        expect(t.lookup(TCP, s, d, sp, dp, 0)).toBe(v);
      }
      expect(t.probeStats().keys).toBe(model.size);
    }), { numRuns: 300 });
  });

  it('fits in 128 bytes per entry at 1M live entries', () => {
    const before = process.memoryUsage().arrayBuffers;
    const cap = 1 << 20;
    const t = new ConntrackTable({ capacity: cap });
    expect(t.byteSize).toBeLessThan(200 * 1024); // nothing big until entries arrive
    let wrong = 0;
    for (let k = 0; k < cap; k++) if (t.create(UDP, 0x0a000000 + k, VIP, 1024, 53, EP, 0x0a000000 + k, 53, 1024, 0) !== k) wrong++;
    expect(wrong).toBe(0);
    expect(t.create(UDP, CLIENT, VIP, 1, 2, EP, CLIENT, 2, 1, 0)).toBeGreaterThanOrEqual(0); // full: early_drop made room
    expect(t.stats.earlyDrop).toBe(1);
    expect(t.count).toBe(cap);
    const measured = (process.memoryUsage().arrayBuffers - before) / t.capacity;
    console.log(`conntrack at 1M live entries: ${t.byteSize / t.capacity} bytes/entry held, ${measured.toFixed(1)} bytes/entry measured (arrayBuffers)`);
    expect(t.allocated).toBe(cap);
    expect(t.byteSize / t.capacity).toBe(116); // 48-byte row + 32 of TCP window state + 4 free stack + 4 index slots x 2 x 4 bytes
    expect(t.byteSize / t.capacity).toBeLessThanOrEqual(128);
    expect(measured).toBeGreaterThan(40); // the allocator saw the table (a GC in between may hide a little)
  });

  it('grows on demand: entry numbers, keys and free-list order survive every resize (against a model)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.tuple(fc.boolean(), fc.nat()), { minLength: 1, maxLength: 3000 }),
      (cap, ops) => {
        const t = new ConntrackTable({ capacity: cap });
        // Naive model: a fixed array of `cap` slots handed out lowest-fresh-first, released ones LIFO;
        // in a full table (every entry unreplied) early_drop evicts one and the new entry takes its row.
        const evicted: number[] = [];
        t.onRelease = (e) => evicted.push(e);
        const free: number[] = [];
        let fresh = 0;
        const live = new Map<number, number>(); // entry -> source address
        let serial = 0;
        for (const [add, pick] of ops) {
          if (add || live.size === 0) {
            const src = 0x0a000000 + serial++;
            const want = free.length > 0 ? free.pop()! : fresh < cap ? fresh++ : -1;
            evicted.length = 0;
            const e = t.create(UDP, src, VIP, 1000, 53, EP, src, 53, 1000, 0);
            if (want >= 0) {
              expect(e).toBe(want);
              expect(evicted).toEqual([]);
            } else {
              expect(evicted).toHaveLength(1);
              expect(e).toBe(evicted[0]);
              expect(live.has(e)).toBe(true);
            }
            live.set(e, src);
          } else {
            const e = [...live.keys()][pick % live.size]!;
            t.delete(e);
            live.delete(e);
            free.push(e);
          }
        }
        expect(t.count).toBe(live.size);
        expect(t.allocated).toBeLessThanOrEqual(cap);
        for (const [e, src] of live) {
          expect(t.lookup(UDP, src, VIP, 1000, 53, 0)).toBe(e << 1);
          expect(t.lookup(UDP, EP, src, 53, 1000, 0)).toBe((e << 1) | 1);
        }
        expect(t.probeStats().keys).toBe(2 * live.size);
      },
    ), { numRuns: 60 });
  });
});

/** An ASSURED TCP connection CLIENT:sport -> VIP:80 (handshake done), DNATed to EP:8080. */
function assuredTcp(t: ConntrackTable, sport: number, now = 0): number {
  const e = t.create(TCP, CLIENT, VIP, sport, 80, EP, CLIENT, 8080, sport, now);
  expect(e).toBeGreaterThanOrEqual(0);
  t.update(e, O, SYN, now);
  t.update(e, R, SYN | ACK, now);
  t.update(e, O, ACK, now);
  expect(t.status(e) & CtStatus.Assured).toBe(CtStatus.Assured);
  return e;
}

/** An unreplied UDP flow CLIENT:sport -> VIP:53 (reply from EP:53). */
function unrepliedUdp(t: ConntrackTable, sport: number, now = 0): number {
  const e = t.create(UDP, CLIENT, VIP, sport, 53, EP, CLIENT, 53, sport, now);
  if (e >= 0) t.update(e, O, 0, now);
  return e;
}

/** The index's home slot of a tuple (slots: probeStats().slots, a power of two). */
function homeSlot(t: ConntrackTable, proto: number, src: number, dst: number, sport: number, dport: number): number {
  return hash5(proto, src >>> 0, dst >>> 0, sport, dport) & (t.probeStats().slots - 1);
}

describe('ConntrackTable: early_drop when the table is full (Linux nf_conntrack_core.c)', () => {
  it('a full table of unreplied entries: the new entry evicts one and is counted as early_drop, not as a failure', () => {
    const t = new ConntrackTable({ capacity: 16 });
    for (let i = 0; i < 16; i++) expect(unrepliedUdp(t, 1000 + i)).toBe(i);
    const released: number[] = [];
    t.onRelease = (e) => released.push(e);
    const e = unrepliedUdp(t, 2000, 1);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(released).toEqual([e]); // the evicted entry's number is the new one's (the row is reused)
    expect(t.stats).toMatchObject({ earlyDrop: 1, insertFailed: 0, deleted: 0, expired: 0 });
    expect(t.count).toBe(16);
    const found = Array.from({ length: 16 }, (_, i) => t.lookup(UDP, CLIENT, VIP, 1000 + i, 53, 1)).filter((v) => v >= 0);
    expect(found).toHaveLength(15);
    expect(t.lookup(UDP, CLIENT, VIP, 2000, 53, 1)).toBe(e << 1);
    expect(t.lookup(UDP, EP, CLIENT, 53, 2000, 1)).toBe((e << 1) | 1);
    expect(t.probeStats().keys).toBe(32);
  });

  it('a full table of ASSURED entries: the new entry is refused (table full) and nothing is evicted', () => {
    const t = new ConntrackTable({ capacity: 16 });
    for (let i = 0; i < 8; i++) assuredTcp(t, 40000 + i);
    for (let i = 0; i < 8; i++) { // UDP streams: a reply, then traffic 3 s later
      const e = unrepliedUdp(t, 1000 + i);
      t.update(e, R, 0, 0);
      t.update(e, O, 0, 3 * S);
      expect(t.status(e) & CtStatus.Assured).toBe(CtStatus.Assured);
    }
    const released: number[] = [];
    t.onRelease = (e) => released.push(e);
    expect(unrepliedUdp(t, 2000, 3 * S)).toBe(-1);
    expect(t.create(TCP, CLIENT, VIP, 50000, 80, EP, CLIENT, 8080, 50000, 3 * S)).toBe(-1);
    expect(released).toEqual([]);
    expect(t.stats).toMatchObject({ earlyDrop: 0, insertFailed: 2 });
    expect(t.count).toBe(16);
  });

  it('SYN_SENT, SYN_RECV and ICMP entries are not ASSURED: a SYN flood cannot lock established connections out', () => {
    const t = new ConntrackTable({ capacity: 4 });
    const est = assuredTcp(t, 40000);
    const half = t.create(TCP, CLIENT, VIP, 40001, 80, EP, CLIENT, 8080, 40001, 0);
    t.update(half, O, SYN, 0);
    t.update(half, R, SYN | ACK, 0); // SYN_RECV, SEEN_REPLY, not ASSURED
    const syn = t.create(TCP, CLIENT, VIP, 40002, 80, EP, CLIENT, 8080, 40002, 0);
    t.update(syn, O, SYN, 0);
    const ping = t.create(ICMP, CLIENT, EP, 7, 8 << 8, EP, CLIENT, 7, 0, 0);
    t.update(ping, O, 0, 0);
    t.update(ping, R, 0, 0);
    for (let k = 0; k < 3; k++) expect(t.create(TCP, CLIENT, VIP, 41000 + k, 80, EP, CLIENT, 8080, 41000 + k, 1)).toBeGreaterThanOrEqual(0);
    expect(t.stats.earlyDrop).toBe(3);
    expect(t.lookup(TCP, CLIENT, VIP, 40000, 80, 1)).toBe(est << 1); // the ASSURED one survived
    expect(t.count).toBe(4);
  });

  it('an expired entry in range is reclaimed for the new one (counted expired, not early_drop)', () => {
    const t = new ConntrackTable({ capacity: 16 });
    for (let i = 0; i < 16; i++) unrepliedUdp(t, 1000 + i); // 30 s each
    expect(unrepliedUdp(t, 2000, 31 * S)).toBeGreaterThanOrEqual(0);
    expect(t.stats).toMatchObject({ earlyDrop: 0, expired: 1, insertFailed: 0 });
  });

  it('looks only near the new tuple\'s hash: an unassured entry out of range is not evicted, one in range is', () => {
    const t = new ConntrackTable({ capacity: 64 });
    const victim = unrepliedUdp(t, 1000);
    for (let i = 0; i < 63; i++) assuredTcp(t, 40000 + i);
    const slots = t.probeStats().slots;
    const homes = [homeSlot(t, UDP, CLIENT, VIP, 1000, 53), homeSlot(t, UDP, EP, CLIENT, 53, 1000)];
    const dist = (a: number, b: number): number => Math.min((a - b + slots) % slots, (b - a + slots) % slots);
    let far = -1, near = -1;
    for (let sp = 20000; (far < 0 || near < 0) && sp < 60000; sp++) {
      const h = homeSlot(t, UDP, CLIENT, VIP, sp, 53);
      if (far < 0 && homes.every((v) => dist(h, v) >= slots / 4)) far = sp;
      if (near < 0 && h === homes[0]) near = sp;
    }
    expect(far > 0 && near > 0).toBe(true);
    expect(unrepliedUdp(t, far, 1)).toBe(-1); // an unassured entry exists, but not in range
    expect(t.stats).toMatchObject({ earlyDrop: 0, insertFailed: 1 });
    expect(t.lookup(UDP, CLIENT, VIP, 1000, 53, 1)).toBe(victim << 1);
    expect(unrepliedUdp(t, near, 1)).toBe(victim);
    expect(t.stats.earlyDrop).toBe(1);
    expect(t.lookup(UDP, CLIENT, VIP, 1000, 53, 1)).toBe(-1);
  });

  it('the eviction range is bounded: with one unassured entry among 4096, few new tuples find it', () => {
    const t = new ConntrackTable({ capacity: 4096 });
    unrepliedUdp(t, 1000);
    for (let i = 0; i < 4095; i++) assuredTcp(t, 10000 + i);
    const attempts = 4000;
    let evicted = 0;
    for (let k = 0; k < attempts; k++) if (unrepliedUdp(t, 20000 + k, 1) >= 0) evicted++;
    // Linux scans 8 buckets (about 16 keys at its default nf_conntrack_max = buckets); a whole-table
    // scan would evict on every attempt. 16 of 8192 keys near the hash: about 2 x 16 / 8192 per try.
    expect(t.stats.earlyDrop).toBe(evicted);
    expect(t.stats.insertFailed).toBe(attempts - evicted);
    expect(evicted).toBeGreaterThan(0);
    expect(evicted).toBeLessThan(attempts / 20);
    expect(t.count).toBe(4096);
  });
});

describe('ConntrackTable: conntrack -L output and JSON views', () => {
  it('prints entries as conntrack-tools does', () => {
    const t = new ConntrackTable({ capacity: 8 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.update(e, R, SYN | ACK, 0);
    t.update(e, O, ACK, 0);
    const u = t.create(UDP, CLIENT, ip('10.96.0.10'), 5353, 53, ip('10.244.2.3'), CLIENT, 53, 5353, 0);
    t.update(u, O, 0, 0);
    const i = t.create(ICMP, CLIENT, EP, 7, 8 << 8, EP, CLIENT, 7, 0, 0);
    t.update(i, O, 0, 0);
    t.update(i, R, 0, 0);
    t.setMark(i, 0x4000);
    expect(t.dump(1).split('\n')).toEqual([
      'tcp      6 431999 ESTABLISHED src=10.244.1.2 dst=10.96.0.20 sport=40000 dport=80 src=10.244.2.2 dst=10.244.1.2 sport=8080 dport=40000 [ASSURED] mark=0 use=1',
      'udp      17 29 src=10.244.1.2 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.2.3 dst=10.244.1.2 sport=53 dport=5353 mark=0 use=1',
      'icmp     1 29 src=10.244.1.2 dst=10.244.2.2 type=8 code=0 id=7 src=10.244.2.2 dst=10.244.1.2 type=0 code=0 id=7 mark=16384 use=1',
      '',
    ]);
    expect(t.dump(1, { proto: UDP })).toMatch(/^udp {6}17 29 /);
    expect(conntrackSummary(3)).toBe('conntrack v1.4.8 (conntrack-tools): 3 flow entries have been shown.');
  });

  it('gives JSON-ready views', () => {
    const t = new ConntrackTable({ capacity: 8 });
    const e = tcpConn(t);
    t.update(e, O, SYN, 0);
    t.setNatFlags(e, 1);
    t.setTag(e, 42);
    expect(t.entries(0)).toEqual([{
      id: e, proto: 'tcp', protoNum: 6, state: 'SYN_SENT', timeout: 120,
      orig: { src: '10.244.1.2', dst: '10.96.0.20', sport: 40000, dport: 80 },
      reply: { src: '10.244.2.2', dst: '10.244.1.2', sport: 8080, dport: 40000 },
      flags: ['UNREPLIED'], nat: ['dnat'], mark: 0, tag: 42,
    }]);
    expect(JSON.parse(JSON.stringify(t.entries(0)))).toEqual(t.entries(0));
  });
});

describe('ConntrackTable: lookup against a model', () => {
  it('answers as a map of both tuples would across creates, deletes, entry reuse and re-keyed replies (property)', () => {
    const A = [ip('10.0.0.1'), ip('10.0.0.2'), ip('10.96.0.1'), ip('192.168.0.1')];
    const P = [53, 80, 40000, 40001];
    const tuple = fc.record({ proto: fc.constantFrom(TCP, UDP, ICMP), s: fc.nat(3), d: fc.nat(3), sp: fc.nat(3), dp: fc.nat(3) });
    const op = fc.oneof(
      fc.record({ k: fc.constant('create' as const), o: tuple, r: tuple }),
      fc.record({ k: fc.constant('delete' as const), n: fc.nat(31) }),
      fc.record({ k: fc.constant('rekey' as const), n: fc.nat(31), r: tuple }),
      fc.record({ k: fc.constant('lookup' as const), o: tuple }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = new ConntrackTable({ capacity: 32 });
      const model = new Map<string, number>(); // tuple -> entry << 1 | dir
      const key = (p: number, s: number, d: number, sp: number, dp: number): string => `${p}/${s}/${d}/${sp}/${dp}`;
      const dropEntry = (e: number): void => { for (const [k, v] of model) if (v >> 1 === e) model.delete(k); };
      t.onRelease = dropEntry; // deletes, and early_drop's evictions once the table is full
      let looks = 0, hits = 0;
      for (const o of ops) {
        if (o.k === 'lookup') {
          const { proto, s, d, sp, dp } = o.o;
          const want = model.get(key(proto, A[s]!, A[d]!, P[sp]!, P[dp]!)) ?? -1;
          expect(t.lookup(proto, A[s]!, A[d]!, P[sp]!, P[dp]!, 0)).toBe(want);
          looks++;
          if (want >= 0) hits++;
        } else if (o.k === 'create') {
          const ko = key(o.o.proto, A[o.o.s]!, A[o.o.d]!, P[o.o.sp]!, P[o.o.dp]!);
          const kr = key(o.o.proto, A[o.r.s]!, A[o.r.d]!, P[o.r.sp]!, P[o.r.dp]!);
          if (ko === kr || model.has(ko) || model.has(kr)) continue;
          const e = t.create(o.o.proto, A[o.o.s]!, A[o.o.d]!, P[o.o.sp]!, P[o.o.dp]!, A[o.r.s]!, A[o.r.d]!, P[o.r.sp]!, P[o.r.dp]!, 0);
          if (e < 0) continue;
          model.set(ko, e << 1);
          model.set(kr, (e << 1) | 1);
        } else if (o.k === 'delete') {
          if (!t.isLive(o.n)) continue;
          t.delete(o.n);
          dropEntry(o.n);
        } else {
          if (!t.isLive(o.n)) continue;
          const p = t.proto(o.n);
          const kr = key(p, A[o.r.s]!, A[o.r.d]!, P[o.r.sp]!, P[o.r.dp]!);
          if (model.has(kr)) continue;
          for (const [k, v] of model) if (v === ((o.n << 1) | 1)) model.delete(k);
          t.setReply(o.n, A[o.r.s]!, A[o.r.d]!, P[o.r.sp]!, P[o.r.dp]!);
          model.set(kr, (o.n << 1) | 1);
        }
      }
      expect([t.stats.searched, t.stats.found]).toEqual([looks, hits]); // searched / found count every lookup
    }), { numRuns: 300 });
  });
});
