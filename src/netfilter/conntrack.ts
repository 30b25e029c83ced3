/**
 * ConntrackTable: the connection tracking table of one namespace (a node's root netns),
 * after Linux nf_conntrack and gVisor's `pkg/tcpip/stack/conntrack.go`.
 *
 * Every connection is one entry with two tuples, the original (as the first packet was
 * seen) and the reply (what a reply looks like after NAT: for a DNATed connection the
 * reply source is the endpoint). Both tuples are keys of one open-addressing hash index,
 * so a packet in either direction finds its entry with one probe sequence; the index
 * value is `entry << 1 | dir` (dir 0 original, 1 reply).
 *
 * Storage (no objects per entry, no allocation per packet): one ArrayBuffer of 48-byte
 * rows, one per entry, seen through Uint32/Uint8/Float64 views, so a lookup touches two
 * cache lines (the index slot, the row) however big the table is:
 *
 *   word 0..2   original src, dst, sport << 16 | dport
 *   word 3..5   reply src, dst, sport << 16 | dport
 *   word 6      bytes: protocol, TCP state, status bits (CtStatus), NAT bits (NatFlag)
 *   word 7, 8   mark, tag
 *   word 9      UDP stream_ts: creation + 2 s (uint32 ms, compared as Linux's time_after)
 *   word 10-11  deadline (float64, ms)
 *
 * plus the TCP window state (conntrack-window.ts: td_end, td_maxend, td_maxwin per
 * direction, window scales and flags; 32 bytes per entry in an array of its own, read only
 * by `update`), a free stack (Int32Array) and the index (conntrack-index.ts: value/hash pairs in
 * one Int32Array, a power of two >= 4 x capacity slots: two keys per entry, load factor
 * <= 0.5; linear probing with backward-shift deletion, no tombstones, so probe lengths
 * stay flat however many entries come and go). Measured: 116 bytes per entry at 1M
 * capacity (see the test). Storage grows on demand: it starts at 256 rows and doubles,
 * rows copied and keys re-indexed, when an entry is created in a full table, until
 * `capacity` (entry numbers never change).
 *
 * Time: `now` is the engine clock in milliseconds; timeouts are in seconds, as sysctl
 * `net.netfilter.nf_conntrack_*_timeout*` gives them. Expiry needs no timer: each entry
 * stores its deadline; an entry with `now > deadline` is absent for `lookup` (which
 * reclaims it on the spot), and `gc(now, budget)` sweeps a bounded number of entries per
 * call for a periodic timer of the caller's.
 *
 * ICMP tuples (the encoding used by every caller): sport = echo identifier, dport =
 * type << 8 | code, so the original tuple of a ping is (A, B, id, 8 << 8) and its reply
 * tuple (B, A, id, 0 << 8): request and reply are told apart as Linux tells them by type.
 *
 * Protocols: TCP (state machine in conntrack-tcp.ts, window tracking in conntrack-window.ts
 * when `update` gets the segment's fields), UDP, ICMP; any other protocol is
 * tracked like UDP. UDP, as Linux's nf_conntrack_udp_packet: every packet refreshes the
 * unreplied timeout (30 s) until the first reply, which sets SEEN_REPLY (after the packet,
 * as nf_conntrack_in does); a packet with SEEN_REPLY set that comes more than 2 s after the
 * entry was created (stream_ts) makes it a stream: ASSURED, and the stream timeout (120 s)
 * from then on. A request and its answer (a DNS lookup) never become ASSURED.
 * ASSURED, TCP: see `update`; ICMP: never.
 *
 * Table full, Linux's early_drop (nf_conntrack_core.c, `__nf_conntrack_alloc`): a new entry
 * in a full table evicts an entry that is not ASSURED near its own hash before it is refused:
 * see `create`. ASSURED connections are what it protects from a flood of new ones.
 *
 * Stats (as `conntrack -S`): searched, found, inserted, insertFailed (table full: nothing
 * evictable in range; Linux counts this packet as `drop`), earlyDrop (entries evicted for a
 * new one, Linux's `early_drop`), expired, deleted, invalid (TCP packets that fit no
 * transition), clashInsertFailed / clashResolve (Linux's insert_failed / clash_resolve: two
 * packets of one tuple raced to confirmation; counted by NatHooks, see its `cpus`).
 */

import { TCP_PROTOCOL as TCP, TcpFlag } from '../wire/tcp.js';
import { TcpState, TCP_IG, TCP_IV, tcpNextState } from './conntrack-tcp.js';
import { entryView, formatEntry, matchesFilter, type ConntrackEntryView } from './conntrack-dump.js';
import {
  CtDir, CtStatus, DEFAULT_CONNTRACK_CAPACITY, LINUX_TIMEOUTS,
  type ConntrackFilter, type ConntrackOptions, type ConntrackTimeouts,
} from './conntrack-defs.js';
import { hash5, TupleIndex } from './conntrack-index.js';
import { TcpWindow, WindowVerdict, WINDOW_WORDS, type TcpSegmentInfo } from './conntrack-window.js';
import { findBurst, type ConntrackBurst } from './conntrack-batch.js';

export { TcpState } from './conntrack-tcp.js';
export { ConntrackBurst } from './conntrack-batch.js';
export type { ConntrackEntryView, TupleView } from './conntrack-dump.js';
export {
  CtDir, CtStatus, NatFlag, DEFAULT_CONNTRACK_CAPACITY, LINUX_TIMEOUTS, KUBE_PROXY_TIMEOUTS,
  type ConntrackFilter, type ConntrackOptions, type ConntrackTimeouts,
} from './conntrack-defs.js';
import { ICMP_PROTOCOL as ICMP } from '../wire/icmp.js';

/** Row layout, in 32-bit words (see the header). */
const W = 12;
/** Float64 slots per row. */
const FW = W / 2;
const O_SRC = 0, O_DST = 1, O_PORTS = 2, R_SRC = 3, R_DST = 4, R_PORTS = 5, MARK = 7, TAG = 8, STREAM = 9;
/** Byte offsets within a row (word 6). */
const B_PROTO = 24, B_STATE = 25, B_STATUS = 26, B_NAT = 27;
/** Float64 index of the deadline within a row (byte 40). */
const F_DEADLINE = 5;
/** Rows a table starts with (see `allocated`). */
const INITIAL_ROWS = 256;
/** UDP: traffic this long after the first packet, with a reply seen, is a stream (Linux: stream_ts = 2 * HZ). */
const UDP_STREAM_AFTER_MS = 2000;
/**
 * Index keys early_drop looks at from the new tuple's home slot. Linux: NF_CT_EVICTION_RANGE
 * (8) hash buckets, two keys each on average at its default nf_conntrack_max (= buckets).
 */
const EVICTION_KEYS = 16;
/** Why an entry is released (the stat it counts under). */
const DELETED = 0, EXPIRED = 1, EARLY_DROP = 2;

export class ConntrackTable {
  readonly capacity: number;
  readonly timeouts: Readonly<ConntrackTimeouts>;
  readonly stats = {
    searched: 0, found: 0, inserted: 0, insertFailed: 0, earlyDrop: 0, expired: 0, deleted: 0, invalid: 0,
    /** Confirm clashes (nat-hooks.ts, `cpus`): Linux's insert_failed of __nf_conntrack_confirm, and clash_resolve. */
    clashInsertFailed: 0, clashResolve: 0,
  };
  /**
   * Moves whenever a tuple stops leading to the entry it led to (an entry released, a reply
   * tuple changed): a caller that remembers `lookup` answers (NatHooks' flow cache) checks it.
   */
  generation = 0;
  /** Called with the entry index just before an entry is deleted or expires (its fields still readable). */
  onRelease: ((entry: number) => void) | null = null;
  /** TCP window tracking (options `kernel`, `tcpBeLiberal`); `window.lastFailure` says why the last segment failed. */
  readonly window: TcpWindow;

  /** Entry rows as words, bytes and float64 (same buffer). */
  private row!: Uint32Array;
  private rowB!: Uint8Array;
  private rowF!: Float64Array;
  /**
   * TCP window state, WINDOW_WORDS per entry (words and bytes of one buffer), apart from the
   * rows so that lookups, which read only the rows, touch 48-byte rows.
   */
  private win!: Uint32Array;
  private winB!: Uint8Array;
  /** Entries released and free again (LIFO); fresh entries come from `highWater`. */
  private freeStack!: Int32Array;
  private top = 0;
  /** Both tuples of every entry: value entry << 1 | dir. */
  private index!: TupleIndex;
  /** TCP timeout per state (ms), indexed by TcpState. */
  private readonly tcpMs: Float64Array;
  private readonly udpMs: number;
  private readonly udpStreamMs: number;
  private readonly icmpMs: number;
  private live = 0;
  private highWater = 0;
  private gcCursor = 0;

  constructor(opts: ConntrackOptions = {}) {
    const cap = opts.capacity ?? DEFAULT_CONNTRACK_CAPACITY;
    if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 26) throw new RangeError(`conntrack capacity ${cap} must be an integer in 1..${1 << 26}`);
    this.capacity = cap;
    const t = opts.timeouts ?? LINUX_TIMEOUTS;
    this.timeouts = t;
    this.window = new TcpWindow({ kernel: opts.kernel ?? '6.1', beLiberal: opts.tcpBeLiberal ?? false });
    this.resize(Math.min(cap, INITIAL_ROWS));
    this.tcpMs = Float64Array.from([
      t.tcpSynSent, t.tcpSynSent, t.tcpSynRecv, t.tcpEstablished, t.tcpFinWait, t.tcpCloseWait, t.tcpLastAck,
      t.tcpTimeWait, t.tcpClose, t.tcpSynSent,
    ], (s) => s * 1000);
    this.udpMs = t.udp * 1000;
    this.udpStreamMs = t.udpStream * 1000;
    this.icmpMs = t.icmp * 1000;
  }

  /**
   * Rows allocated so far: storage starts at INITIAL_ROWS and doubles (up to `capacity`) when
   * an entry is created in a full table, so a 1000-node cluster's default 262,144-entry
   * tables cost nothing until traffic fills them.
   */
  get allocated(): number {
    return this.freeStack.length;
  }

  /** Bytes of typed-array storage the table holds (rows, free stack, index). */
  get byteSize(): number {
    return this.row.byteLength + this.win.byteLength + this.freeStack.byteLength + this.index.tab.byteLength;
  }

  /** Live entries (some may be past their deadline until looked up or swept). */
  get count(): number {
    return this.live;
  }

  /** Looks a tuple up in either direction: `entry << 1 | dir`, or -1. Reclaims an expired hit. */
  lookup(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    const v = this.find(proto, src, dst, sport, dport);
    if (v >= 0) return this.lookupAgain(v, now);
    this.stats.searched++;
    return -1;
  }

  /**
   * `lookup` without side effects: the answer (entry << 1 | direction) for a live entry, else
   * -1; no stats, and an expired entry is left for the next real lookup to release. For a
   * caller that only decides which path a packet takes (Bridge.switchOutside).
   */
  peek(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    const v = this.find(proto, src, dst, sport, dport);
    return v >= 0 && now <= this.rowF[(v >> 1) * FW + F_DEADLINE]! ? v : -1;
  }

  /**
   * `lookup` again for a tuple whose answer `v` the caller remembers from a lookup made at the
   * same `generation`: the same answer and stats, without hashing and probing (also the
   * second half of `lookup` itself: the expiry check of a hit).
   */
  lookupAgain(v: number, now: number): number {
    this.stats.searched++;
    const e = v >> 1;
    if (now > this.rowF[e * FW + F_DEADLINE]!) {
      this.release(e, EXPIRED);
      return -1;
    }
    this.stats.found++;
    return v;
  }

  /**
   * `lookup` for the first n tuples of a burst (conntrack-batch.ts): the same answers and
   * stats, with the memory loads of different tuples overlapped. Results in `b.result`.
   */
  lookupBurst(b: ConntrackBurst, n: number, now: number): void {
    findBurst(b, n, this.index.tab, this.index.mask, this.row, this.rowB, W, R_SRC, B_PROTO, hash5);
    const res = b.result;
    let found = 0;
    for (let i = 0; i < n; i++) {
      const v = res[i]!;
      if (v < 0) continue;
      if (now > this.rowF[(v >> 1) * FW + F_DEADLINE]!) {
        this.release(v >> 1, EXPIRED);
        res[i] = -1;
      } else found++;
    }
    this.stats.searched += n;
    this.stats.found += found;
  }

  /** The live, unexpired entry holding this tuple in either direction, or -1 (no stats; reclaims an expired hit). */
  holder(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    return this.inUse(proto, src, dst, sport, dport, now) ? this.find(proto, src, dst, sport, dport) >> 1 : -1;
  }

  /** True when a live, unexpired entry has this tuple in either direction (no stats; reclaims an expired hit). */
  inUse(proto: number, src: number, dst: number, sport: number, dport: number, now: number): boolean {
    const v = this.find(proto, src, dst, sport, dport);
    if (v < 0) return false;
    if (now > this.rowF[(v >> 1) * FW + F_DEADLINE]!) {
      this.release(v >> 1, EXPIRED);
      return false;
    }
    return true;
  }

  /**
   * Creates an entry: original tuple as seen, reply tuple as given. Returns the entry, or
   * -1 when the table is full and early_drop found nothing to evict (stats.insertFailed++).
   * The caller makes sure neither tuple is in the table already (`lookup`/`inUse`). State
   * NONE, no flags; the timeout is the protocol's first one (TCP SYN_SENT, UDP unreplied,
   * ICMP) until `update`. An entry evicted to make room is released first (`onRelease`,
   * stats.earlyDrop), and its row is the new entry's.
   */
  create(
    proto: number, src: number, dst: number, sport: number, dport: number,
    rsrc: number, rdst: number, rsport: number, rdport: number, now: number,
  ): number {
    let e: number;
    if (this.top > 0) e = this.freeStack[--this.top]!;
    else if (this.highWater < this.freeStack.length) e = this.highWater++;
    else if (this.highWater < this.capacity) {
      this.resize(Math.min(this.capacity, this.highWater * 2));
      e = this.highWater++;
    } else {
      e = this.earlyDrop(hash5(proto, src >>> 0, dst >>> 0, sport, dport), now);
      if (e < 0) {
        this.stats.insertFailed++;
        return -1;
      }
    }
    const w = e * W;
    const r = this.row;
    r[w + O_SRC] = src;
    r[w + O_DST] = dst;
    r[w + O_PORTS] = ((sport & 0xffff) << 16) | (dport & 0xffff);
    r[w + R_SRC] = rsrc;
    r[w + R_DST] = rdst;
    r[w + R_PORTS] = ((rsport & 0xffff) << 16) | (rdport & 0xffff);
    r[w + MARK] = 0;
    r[w + TAG] = 0;
    r[w + STREAM] = (now + UDP_STREAM_AFTER_MS) >>> 0;
    const b = w * 4;
    this.rowB[b + B_PROTO] = proto;
    this.rowB[b + B_STATE] = TcpState.None;
    this.rowB[b + B_STATUS] = CtStatus.Live;
    this.rowB[b + B_NAT] = 0;
    this.rowF[e * FW + F_DEADLINE] = now + (proto === TCP ? this.tcpMs[TcpState.SynSent]! : proto === ICMP ? this.icmpMs : this.udpMs);
    this.index.insert(hash5(proto, src >>> 0, dst >>> 0, sport, dport), e << 1);
    this.index.insert(hash5(proto, rsrc >>> 0, rdst >>> 0, rsport, rdport), (e << 1) | 1);
    this.live++;
    this.stats.inserted++;
    return e;
  }

  /** Changes an entry's reply tuple (SNAT decided at POSTROUTING after DNAT at PREROUTING), re-indexing it. */
  setReply(entry: number, rsrc: number, rdst: number, rsport: number, rdport: number): void {
    if (!this.isLive(entry)) return;
    this.generation++;
    const w = entry * W;
    const r = this.row;
    const p = this.rowB[w * 4 + B_PROTO]!;
    this.index.remove(this.keyHash(entry, CtDir.Reply), (entry << 1) | 1);
    r[w + R_SRC] = rsrc;
    r[w + R_DST] = rdst;
    r[w + R_PORTS] = ((rsport & 0xffff) << 16) | (rdport & 0xffff);
    this.index.insert(hash5(p, rsrc >>> 0, rdst >>> 0, rsport, rdport), (entry << 1) | 1);
  }

  /**
   * Advances the entry for one packet in direction `dir` and sets its timeout. TCP: the
   * state machine of conntrack-tcp.ts on `tcpFlags` (header byte 13); returns false for an
   * invalid transition (entry unchanged, stats.invalid++). ASSURED is set when a TCP
   * connection with a reply seen moves SYN_RECV/ESTABLISHED -> ESTABLISHED (the third
   * packet of the handshake); an RST before any reply closes the entry at once (deadline
   * now, as Linux kills it). UDP/other: see the header. ICMP: 30 s per packet, SEEN_REPLY
   * on the first reply (never ASSURED).
   *
   * With `seg` (the segment's sequence fields) a TCP packet also goes through window
   * tracking (conntrack-window.ts) once its transition is known to be valid, as Linux's
   * tcp_in_window: INVALID returns false (stats.invalid++), IGNORE returns true with the
   * entry unchanged and not refreshed. The first SYN of an entry (state NONE) initialises it.
   */
  update(entry: number, dir: number, tcpFlags: number, now: number, seg?: TcpSegmentInfo): boolean {
    const b = entry * W * 4;
    const f = entry * FW + F_DEADLINE;
    const bytes = this.rowB;
    const proto = bytes[b + B_PROTO]!;
    let st = bytes[b + B_STATUS]!;
    if (proto === TCP) {
      this.window.lastFailure = 0;
      const old = bytes[b + B_STATE]!;
      const next = tcpNextState(old, dir, tcpFlags);
      if (next === TCP_IV) {
        this.stats.invalid++;
        return false;
      }
      if (next === TCP_IG) {
        if (dir === CtDir.Reply) bytes[b + B_STATUS] = st | CtStatus.SeenReply;
        return true;
      }
      if (seg !== undefined) {
        const ww = entry * WINDOW_WORDS;
        const fresh = old === TcpState.None || (dir === CtDir.Original && next === TcpState.SynSent && old >= TcpState.TimeWait);
        if (fresh) this.window.init(this.win, this.winB, ww, seg);
        const wv = this.window.check(this.win, this.winB, ww, dir, old, seg);
        if (wv === WindowVerdict.Invalid) {
          this.stats.invalid++;
          return false;
        }
        if (wv === WindowVerdict.Ignore) {
          if (dir === CtDir.Reply) bytes[b + B_STATUS] = st | CtStatus.SeenReply;
          return true;
        }
      }
      if (dir === CtDir.Original && next === TcpState.SynSent && old >= TcpState.TimeWait) {
        st &= ~(CtStatus.SeenReply | CtStatus.Assured); // reopened
      }
      bytes[b + B_STATE] = next;
      if ((st & CtStatus.SeenReply) === 0 && (tcpFlags & TcpFlag.RST) !== 0) {
        bytes[b + B_STATE] = TcpState.Close;
        this.rowF[f] = now;
      } else {
        if ((st & (CtStatus.SeenReply | CtStatus.Assured)) === CtStatus.SeenReply && next === TcpState.Established
          && (old === TcpState.SynRecv || old === TcpState.Established)) {
          st |= CtStatus.Assured;
        }
        this.rowF[f] = now + this.tcpMs[next]!;
      }
      if (dir === CtDir.Reply) st |= CtStatus.SeenReply;
      bytes[b + B_STATUS] = st;
      return true;
    }
    if (proto === ICMP) {
      if (dir === CtDir.Reply) bytes[b + B_STATUS] = st | CtStatus.SeenReply;
      this.rowF[f] = now + this.icmpMs;
      return true;
    }
    // Linux: nf_conntrack_udp_packet (the status as it was before this packet).
    let ms = this.udpMs;
    if ((st & CtStatus.SeenReply) !== 0) {
      if ((st & CtStatus.Assured) !== 0) ms = this.udpStreamMs;
      else if ((((now >>> 0) - this.row[entry * W + STREAM]!) | 0) > 0) { // time_after(now, stream_ts)
        ms = this.udpStreamMs;
        bytes[b + B_STATUS] = st | CtStatus.Assured;
      }
    } else if (dir === CtDir.Reply) bytes[b + B_STATUS] = st | CtStatus.SeenReply;
    this.rowF[f] = now + ms;
    return true;
  }

  /** Deletes a live entry (onRelease first). */
  delete(entry: number): void {
    if (this.isLive(entry)) this.release(entry, DELETED);
  }

  /** Deletes the unexpired entries matching `filter` and returns how many (expired matches are reclaimed, not counted). */
  deleteWhere(filter: ConntrackFilter, now: number): number {
    return this.deleteIf(filter.proto ?? -1, now, (e) => matchesFilter(this, e, filter));
  }

  /**
   * Deletes the unexpired entries of protocol `proto` (-1: any) for which `pred(entry)` is
   * true (read the entry with the accessors) and returns how many; expired matches are
   * reclaimed, not counted. A full scan: for control-plane work (`conntrack -D`, kube-proxy's
   * stale UDP reconcile), not per packet.
   */
  deleteIf(proto: number, now: number, pred: (entry: number) => boolean): number {
    let n = 0;
    const hw = this.highWater;
    for (let e = 0; e < hw; e++) {
      if (!this.isLive(e) || (proto >= 0 && this.proto(e) !== proto) || !pred(e)) continue;
      const expired = now > this.deadlineOf(e);
      this.release(e, expired ? EXPIRED : DELETED);
      if (!expired) n++;
    }
    return n;
  }

  /** Sweeps at most `budget` entry slots from where the last sweep stopped; returns how many expired entries it reclaimed. */
  gc(now: number, budget: number): number {
    const hw = this.highWater;
    if (hw === 0) return 0;
    let n = 0;
    const steps = Math.min(budget, hw);
    for (let k = 0; k < steps; k++) {
      if (this.gcCursor >= hw) this.gcCursor = 0;
      const e = this.gcCursor++;
      if (this.isLive(e) && now > this.deadlineOf(e)) {
        this.release(e, EXPIRED);
        n++;
      }
    }
    return n;
  }

  /** JSON-ready views of the live, unexpired entries (matching `filter`), in entry order. */
  entries(now: number, filter?: ConntrackFilter): ConntrackEntryView[] {
    const out: ConntrackEntryView[] = [];
    this.forEachLive(now, filter, (e) => { out.push(entryView(this, e, now)); });
    return out;
  }

  /**
   * The entries as `conntrack -L` prints them on stdout, one line each ending in "\n".
   * The tool's summary (`conntrack v1.4.8 (conntrack-tools): N flow entries have been
   * shown.`) goes to stderr there: see `conntrackSummary()` in conntrack-dump.ts.
   */
  dump(now: number, filter?: ConntrackFilter): string {
    let s = '';
    this.forEachLive(now, filter, (e) => { s += formatEntry(this, e, now) + '\n'; });
    return s;
  }

  // Per-entry accessors.
  isLive(e: number): boolean { return e >= 0 && e < this.highWater && (this.rowB[e * W * 4 + B_STATUS]! & CtStatus.Live) !== 0; }
  proto(e: number): number { return this.rowB[e * W * 4 + B_PROTO]!; }
  origSrc(e: number): number { return this.row[e * W + O_SRC]!; }
  origDst(e: number): number { return this.row[e * W + O_DST]!; }
  origSport(e: number): number { return this.row[e * W + O_PORTS]! >>> 16; }
  origDport(e: number): number { return this.row[e * W + O_PORTS]! & 0xffff; }
  replySrc(e: number): number { return this.row[e * W + R_SRC]!; }
  replyDst(e: number): number { return this.row[e * W + R_DST]!; }
  replySport(e: number): number { return this.row[e * W + R_PORTS]! >>> 16; }
  replyDport(e: number): number { return this.row[e * W + R_PORTS]! & 0xffff; }
  tcpState(e: number): number { return this.rowB[e * W * 4 + B_STATE]!; }
  /** CtStatus bits. */
  status(e: number): number { return this.rowB[e * W * 4 + B_STATUS]!; }
  isConfirmed(e: number): boolean { return (this.status(e) & CtStatus.Confirmed) !== 0; }
  confirm(e: number): void { this.rowB[e * W * 4 + B_STATUS]! |= CtStatus.Confirmed; }
  natFlags(e: number): number { return this.rowB[e * W * 4 + B_NAT]!; }
  setNatFlags(e: number, flags: number): void { this.rowB[e * W * 4 + B_NAT] = flags; }
  mark(e: number): number { return this.row[e * W + MARK]!; }
  setMark(e: number, v: number): void { this.row[e * W + MARK] = v; }
  tag(e: number): number { return this.row[e * W + TAG]!; }
  setTag(e: number, v: number): void { this.row[e * W + TAG] = v; }
  /** Deadline in ms (engine clock). */
  deadlineOf(e: number): number { return this.rowF[e * FW + F_DEADLINE]!; }
  /** Whole seconds left before expiry, as conntrack -L shows them. */
  timeoutLeft(e: number, now: number): number { return Math.max(0, Math.floor((this.deadlineOf(e) - now) / 1000)); }

  /** Keys in the index and their displacement from their home slots (tests). */
  probeStats(): ReturnType<TupleIndex['probeStats']> {
    return this.index.probeStats();
  }

  private forEachLive(now: number, filter: ConntrackFilter | undefined, fn: (e: number) => void): void {
    const hw = this.highWater;
    for (let e = 0; e < hw; e++) {
      if (!this.isLive(e) || now > this.deadlineOf(e)) continue;
      if (filter !== undefined && !matchesFilter(this, e, filter)) continue;
      fn(e);
    }
  }

  private find(proto: number, srcIn: number, dstIn: number, sport: number, dport: number): number {
    const src = srcIn >>> 0;
    const dst = dstIn >>> 0;
    const ports = (((sport & 0xffff) << 16) | (dport & 0xffff)) >>> 0;
    const h = hash5(proto, src, dst, sport, dport) | 0;
    const tab = this.index.tab;
    const mask = this.index.mask;
    const row = this.row;
    let i = h & mask;
    for (;;) {
      const v = tab[i << 1]!;
      if (v === -1) return -1;
      if (tab[(i << 1) + 1] === h) {
        const w = (v >> 1) * W + ((v & 1) === 0 ? O_SRC : R_SRC);
        if (row[w] === src && row[w + 1] === dst && row[w + 2] === ports && this.rowB[(v >> 1) * W * 4 + B_PROTO] === proto) return v;
      }
      i = (i + 1) & mask;
    }
  }

  /** The index hash of an entry's tuple in direction `dir`. */
  private keyHash(e: number, dir: number): number {
    const w = e * W + (dir === CtDir.Original ? O_SRC : R_SRC);
    const ports = this.row[w + 2]!;
    return hash5(this.proto(e), this.row[w]!, this.row[w + 1]!, ports >>> 16, ports & 0xffff);
  }

  /** (Re)allocates storage for `rows` entries, copying the rows and re-indexing every key (cold). */
  private resize(rows: number): void {
    const buf = new ArrayBuffer(rows * W * 4);
    const row = new Uint32Array(buf);
    if (this.highWater > 0) row.set(this.row.subarray(0, this.highWater * W));
    this.row = row;
    this.rowB = new Uint8Array(buf);
    this.rowF = new Float64Array(buf);
    const win = new Uint32Array(rows * WINDOW_WORDS);
    if (this.highWater > 0) win.set(this.win.subarray(0, this.highWater * WINDOW_WORDS));
    this.win = win;
    this.winB = new Uint8Array(win.buffer);
    const free = new Int32Array(rows);
    if (this.top > 0) free.set(this.freeStack.subarray(0, this.top));
    this.freeStack = free;
    const index = new TupleIndex(rows * 2);
    if (this.highWater > 0) index.insertAll(this.index);
    this.index = index;
  }

  /**
   * Linux: early_drop. The table is full: frees a row near the new tuple's hash `h`. Looks at
   * EVICTION_KEYS index keys from h's home slot on (Linux: the chains of NF_CT_EVICTION_RANGE
   * buckets from the tuple's); an expired entry there is reclaimed (Linux's early_drop_list
   * reclaims it too, but still drops the packet that found the table full: podwire lets it
   * in), else the first entry that is not ASSURED is evicted (current Linux evicts every one
   * of the first bucket that has one; this index has no buckets). Returns the freed row,
   * taken off the free stack, or -1: nothing evictable in range. Runs only when the table is
   * full; confirmed or not does not matter here: an entry is confirmed before its packet
   * leaves the hooks, and one that never was belongs to a packet that died in between (in
   * Linux it would have gone with it).
   */
  private earlyDrop(h: number, now: number): number {
    const tab = this.index.tab;
    const mask = this.index.mask;
    const bytes = this.rowB;
    const rowF = this.rowF;
    let i = h & mask;
    for (let k = 0, keys = 0; k <= mask && keys < EVICTION_KEYS; k++, i = (i + 1) & mask) {
      const v = tab[i << 1]!;
      if (v === -1) continue;
      keys++;
      const e = v >> 1;
      if (now > rowF[e * FW + F_DEADLINE]!) this.release(e, EXPIRED);
      else if ((bytes[e * W * 4 + B_STATUS]! & CtStatus.Assured) === 0) this.release(e, EARLY_DROP);
      else continue;
      return this.freeStack[--this.top]!;
    }
    return -1;
  }

  private release(e: number, why: number): void {
    this.generation++;
    this.onRelease?.(e);
    this.index.remove(this.keyHash(e, CtDir.Original), e << 1);
    this.index.remove(this.keyHash(e, CtDir.Reply), (e << 1) | 1);
    this.rowB[e * W * 4 + B_STATUS] = 0;
    this.freeStack[this.top++] = e;
    this.live--;
    if (why === EXPIRED) this.stats.expired++;
    else if (why === EARLY_DROP) this.stats.earlyDrop++;
    else this.stats.deleted++;
  }
}
