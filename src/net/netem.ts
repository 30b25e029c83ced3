/**
 * Netem: Linux's `sch_netem` on one link direction (net/sched/sch_netem.c, as of the
 * kernels with `slot`, `rate`, `ecn` and the PRNG seed), not a look-alike.
 *
 * Ports: `in` -> `out`. `spliceNetem` puts one in front of any link (a veth end, a TAP,
 * the underlay, the VXLAN socket), so that link, and the captures on it, carry what leaves
 * the qdisc, as tcpdump on a device with a netem root qdisc shows.
 *
 * Enqueue, in the kernel's order (netem_enqueue): 1) duplicate draw, 2) loss (random with
 * `get_crandom`, the 4-state GI model or Gilbert-Elliott; with `ecn` an ECN-capable IPv4
 * packet is marked CE instead), 3) count = 1 + dup - loss, 0 drops (`loss`), 4) the copy
 * is enqueued first with duplication off (so a duplicate is never duplicated, but gets its
 * own loss, corruption and delay), 5) corrupt one random bit of the frame (checksum state
 * cleared: the receiver verifies and drops it), 6) `limit` (`qlen >= limit` drops,
 * `limit`), 7) reorder-or-delay: unless `gap == 0 || counter < gap - 1 || reorder <
 * crandom`, the packet is sent now from the head queue and the counter restarts; else its
 * time to send is now + tabledist(latency, jitter) (uniform when no table is loaded),
 * with `rate` after the last queued packet plus (len + overhead, in cells) * 1e9 / rate.
 * The time-sorted queue (the kernel's rb-tree, ties in arrival order) makes jitter larger
 * than the packet gap reorder packets. Dequeue (netem_dequeue): the head queue first, then
 * the earliest packet once due and its slot open (`slot`: each slot releases up to N
 * packets / bytes, then the next slot is drawn uniform in [min, max]).
 *
 * Random numbers: the kernel's PRNG (LFSR113, `prandom_seed_state(seed)`) for duplicate,
 * loss, reorder and delay, so `seed N` replays `tc ... netem seed N`'s decisions; the draws
 * the kernel takes from get_random_u32 (corruption, slots, crandom's initial `last`) come
 * from a second generator seeded from the same seed, so podwire replays them too. Without
 * a seed, one is drawn from the engine's RNG (reproducible with the topology's seed).
 *
 * Time: nanoseconds, integers, from the engine clock; one watchdog timer per element at
 * the next deadline. In wall time the watchdog runs on HrTimers (src/engine/hr-timers.ts):
 * hrtime polled in the last 2 ms, not the host's 1 ms timers. A watchdog that fires more
 * than 1 ms late counts `overrun` and logs (at most once a second): podwire says when it
 * cannot keep up.
 *
 * Counters: enqueued, sent, sent-bytes, duplicated, corrupted, reordered, ecn-marked,
 * overrun, backlog (packets queued now). Drop reasons: `loss`, `limit`.
 * Trace: hop `netem` with `{ delayNs }` or `{ reordered: true }`; drops as `drop` hops.
 */
import { Counters, indexOf } from '../engine/counters.js';
import { Ports, connect, type OutPort, type InPort } from '../engine/element.js';
import type { Element } from '../engine/element.js';
import type { Engine } from '../engine/engine.js';
import type { Link } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import type { Timer } from '../engine/scheduler.js';
import type { Where } from '../engine/trace.js';
import { Rng } from '../engine/rng.js';
import { HrTimers, type HrTimer } from '../engine/hr-timers.js';

import { Prandom, crandom, type CrndState } from './netem-prng.js';
import { distTable, NETEM_DIST_SCALE } from './netem-tables.js';
import { LOSS_4STATE, LOSS_GE, LOSS_RANDOM, compileNetem, type NetemParams, type NetemSpec } from './netem-spec.js';
import { ETHERNET_HEADER_LEN, ETH_P_IPV4 as ETH_P_IP, etherTypeField } from '../wire/ethernet.js';
import { IPV4_MIN_HEADER_LEN, ipv4SetCe } from '../wire/ipv4.js';

export const NETEM_COUNTERS = [
  'enqueued', 'sent', 'sent-bytes', 'duplicated', 'corrupted', 'reordered', 'ecn-marked', 'overrun', 'backlog',
] as const;
export const NETEM_DROPS = ['loss', 'limit'] as const;
const C = indexOf(NETEM_COUNTERS);
const D = indexOf(NETEM_DROPS);

/** A watchdog this late (ns) in wall time is an overrun. */
export const OVERRUN_NS = 1_000_000;
const TWO32 = 4294967296;
const INT_MAX = 0x7fffffff;

/** What an observer sees per enqueue decision (tests, determinism checks). */
export type NetemDecision = 'loss' | 'limit' | 'dup' | 'corrupt' | 'reorder' | 'delay' | 'ecn';

export class Netem implements Element {
  readonly kind = 'netem';
  readonly ports: Ports;
  readonly counters = new Counters(NETEM_COUNTERS);
  readonly drops = new Counters(NETEM_DROPS);
  /** Called for each decision (cold unless set). */
  observer: ((d: NetemDecision, p: Packet, value: number) => void) | null = null;
  /** Where overrun lines go (default: stderr). */
  log: (line: string) => void = (line) => { process.stderr.write(`${line}\n`); };
  readonly input: InPort;
  private readonly out: OutPort;
  private q!: NetemParams;
  private spec: NetemSpec = {};
  private dist: Int16Array | null = null;
  private prng = new Prandom(0n);
  /** The kernel's unseeded get_random_u32 draws (corruption, slots, crandom's first `last`). */
  private aux = new Rng(0);
  private readonly delayCor: CrndState = { last: 0, rho: 0 };
  private readonly lossCor: CrndState = { last: 0, rho: 0 };
  private readonly dupCor: CrndState = { last: 0, rho: 0 };
  private readonly reorderCor: CrndState = { last: 0, rho: 0 };
  private readonly corruptCor: CrndState = { last: 0, rho: 0 };
  private counter = 0;
  private clgState = 1;
  private duplicateOn = true;
  // tfifo: a binary heap on (timeToSend, seq).
  private hp: Packet[] = [];
  private ht: number[] = [];
  private hs: number[] = [];
  private hn = 0;
  private seq = 0;
  /** Latest time to send in the tfifo (valid while it is not empty: only the minimum leaves). */
  private tfifoMax = 0;
  // The head queue (sch->q): reordered packets, pushed at the head (LIFO).
  private rq: Packet[] = [];
  private rqt: number[] = [];
  // slot state
  private slotNext = 0;
  private packetsLeft = 0;
  private bytesLeft = 0;
  // watchdog
  private armedNs = Infinity;
  private timer: Timer | null = null;
  private hrTimer: HrTimer | null = null;
  private lastLog = -Infinity;

  constructor(private readonly engine: Engine, readonly name: string, readonly where: Where, spec: NetemSpec = {}) {
    this.ports = new Ports(engine, this);
    this.input = this.ports.addIn('in');
    this.out = this.ports.addOut('out');
    this.configure(spec);
  }

  /** The spec in force (as given, before normalisation). */
  get config(): NetemSpec {
    return this.spec;
  }

  get params(): NetemParams {
    return this.q;
  }

  /** Packets queued (tfifo + head queue): the kernel's sch->q.qlen. */
  get qlen(): number {
    return this.hn + this.rq.length;
  }

  /**
   * netem_change: the new settings apply to the packets that come next; queued packets
   * keep their times. As the kernel: the reorder counter restarts, the loss model's state
   * restarts, the PRNG is re-seeded (the given seed, or a fresh one). Throws NetemError.
   */
  configure(spec: NetemSpec, warnings?: string[]): void {
    const q = compileNetem(spec, warnings);
    this.spec = spec;
    this.q = q;
    this.dist = q.dist === null ? null : distTable(q.dist);
    const seed = q.seed ?? (BigInt(this.engine.rng.u32()) << 32n) | BigInt(this.engine.rng.u32());
    this.prng.seed(seed);
    this.aux = new Rng(Number(BigInt.asUintN(32, seed ^ (seed >> 32n))) ^ 0x6e65746d);
    this.initCrandom(this.delayCor, q.delayCorr);
    this.initCrandom(this.lossCor, q.lossCorr);
    this.initCrandom(this.dupCor, q.dupCorr);
    this.initCrandom(this.reorderCor, q.reorderCorr);
    this.initCrandom(this.corruptCor, q.corruptCorr);
    this.counter = 0;
    this.clgState = 1;
    // get_slot: a configured slot opens now.
    this.packetsLeft = q.slotPackets === 0 ? INT_MAX : q.slotPackets;
    this.bytesLeft = q.slotBytes === 0 ? INT_MAX : q.slotBytes;
    this.slotNext = q.slot ? this.nowNs() : 0;
    this.service(this.nowNs());
  }

  private initCrandom(s: CrndState, rho: number): void {
    s.rho = rho;
    s.last = this.aux.u32();
  }

  private nowNs(): number {
    return Math.round(this.engine.now() * 1e6);
  }

  push(_port: number, link: Link): void {
    const now = this.nowNs();
    for (let p = link.receive(); p !== null; p = link.receive()) {
      this.enqueue(p, now);
      this.service(now);
    }
  }

  private lossEvent(p: Packet): boolean {
    const q = this.q;
    switch (q.lossModel) {
      case LOSS_RANDOM:
        // Random packet drop 0 => none, ~0 => all
        return q.loss !== 0 && q.loss >= crandom(this.lossCor, this.prng);
      case LOSS_4STATE: return this.loss4state();
      case LOSS_GE: return this.lossGilbEll();
    }
    void p;
    return false;
  }

  /** sch_netem: loss_4state (the cumulative thresholds of current kernels; u32 sums wrap as in C). */
  private loss4state(): boolean {
    const q = this.q;
    const rnd = this.prng.u32();
    switch (this.clgState) {
      case 1: // TX_IN_GAP_PERIOD
        if (rnd < q.a4) { this.clgState = 4; return true; }
        if (q.a4 < rnd && rnd < ((q.a1 + q.a4) >>> 0)) { this.clgState = 3; return true; }
        if (((q.a1 + q.a4) >>> 0) < rnd) this.clgState = 1;
        break;
      case 2: // TX_IN_BURST_PERIOD
        if (rnd < q.a5) { this.clgState = 3; return true; }
        this.clgState = 2;
        break;
      case 3: // LOST_IN_BURST_PERIOD
        if (rnd < q.a3) this.clgState = 2;
        else if (q.a3 < rnd && rnd < ((q.a2 + q.a3) >>> 0)) this.clgState = 1;
        else if (((q.a2 + q.a3) >>> 0) < rnd) { this.clgState = 3; return true; }
        break;
      case 4: // LOST_IN_GAP_PERIOD
        this.clgState = 1;
        break;
    }
    return false;
  }

  /** sch_netem: loss_gilb_ell (one draw moves the state, a second decides the loss with the probability of the state the step began in). */
  private lossGilbEll(): boolean {
    const q = this.q;
    const s = this.prng;
    if (this.clgState === 1) {
      if (s.u32() < q.a1) this.clgState = 2;
      if (s.u32() < q.a4) return true;
    } else {
      if (s.u32() < q.a2) this.clgState = 1;
      if (s.u32() > q.a3) return true;
    }
    return false;
  }

  /** sch_netem: tabledist. */
  private tabledist(mu: number, sigma: number): number {
    if (sigma === 0) return mu;
    const rnd = crandom(this.delayCor, this.prng);
    const dist = this.dist;
    if (dist === null) return (rnd % (2 * sigma)) + mu - sigma;
    const t = dist[rnd % dist.length]!;
    let x = (sigma % NETEM_DIST_SCALE) * t;
    x += x >= 0 ? NETEM_DIST_SCALE / 2 : -NETEM_DIST_SCALE / 2;
    return Math.trunc(x / NETEM_DIST_SCALE) + Math.trunc(sigma / NETEM_DIST_SCALE) * t + mu;
  }

  /** sch_netem: packet_time_ns. */
  private packetTimeNs(len: number): number {
    const q = this.q;
    len += q.packetOverhead;
    if (len < 0) len = 0;
    if (q.cellSize !== 0) {
      let cells = Math.floor(len / q.cellSize);
      if (len > cells * q.cellSize) cells++;
      len = cells * (q.cellSize + q.cellOverhead);
    }
    return Math.floor((len * 1e9) / q.rate);
  }

  /** INET_ECN_set_ce for IPv4 in an Ethernet frame: true when the packet is (now) CE. */
  private setCe(p: Packet): boolean {
    const b = p.buf;
    const s = p.start;
    if (p.end - s < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN || etherTypeField(b, s) !== ETH_P_IP) return false;
    return ipv4SetCe(b, s + ETHERNET_HEADER_LEN);
  }

  private enqueue(p: Packet, now: number): void {
    const q = this.q;
    const engine = this.engine;
    const v = this.counters.values;
    v[C.enqueued]!++;
    let count = 1;
    // sch_netem: enqueue order: duplicate, loss, count rule, the copy, corrupt, limit, reorder-or-delay
    if (this.duplicateOn && q.duplicate !== 0 && q.duplicate >= crandom(this.dupCor, this.prng)) count++;
    if (this.lossEvent(p)) {
      if (q.ecn && this.setCe(p)) {
        v[C['ecn-marked']]!++;
        this.observer?.('ecn', p, 0);
      } else count--;
    }
    if (count === 0) {
      this.observer?.('loss', p, 0);
      engine.drop(p, this, D.loss, this.where);
      return;
    }
    if (count > 1) {
      const c = engine.pool.clone(p);
      if (c !== null) {
        v[C.duplicated]!++;
        this.observer?.('dup', p, 0);
        this.duplicateOn = false; // prevent duplicating a dup
        this.enqueue(c, now);
        this.duplicateOn = true;
      }
    }
    if (q.corrupt !== 0 && q.corrupt >= crandom(this.corruptCor, this.prng)) {
      const len = p.end - p.start;
      if (len > 0) {
        const at = this.aux.int(len);
        p.buf[p.start + at]! ^= 1 << this.aux.int(8);
        p.csumOk = false; // skb_checksum_help before mangling: the receiver verifies
        v[C.corrupted]!++;
        this.observer?.('corrupt', p, at);
      }
    }
    if (this.hn + this.rq.length >= q.limit) {
      this.observer?.('limit', p, 0);
      engine.drop(p, this, D.limit, this.where);
      return;
    }
    if (q.gap === 0 || this.counter < q.gap - 1 || q.reorder < crandom(this.reorderCor, this.prng)) {
      let delay = this.tabledist(q.latencyNs, q.jitterNs);
      let base = now;
      if (q.rate !== 0) {
        const last = this.lastTimeToSend();
        if (last !== null) {
          // Last packet in queue is reference point (now)
          delay -= last - now;
          if (delay < 0) delay = 0;
          base = last;
        }
        delay += this.packetTimeNs(p.end - p.start);
      }
      const tts = base + delay;
      this.counter = (this.counter + 1) >>> 0;
      if (p.trace !== 0) engine.trace.hop(p.trace, this.where, 'netem', { delayNs: tts - now });
      this.observer?.('delay', p, tts - now);
      this.heapPush(p, tts);
    } else {
      this.counter = 0;
      v[C.reordered]!++;
      if (p.trace !== 0) engine.trace.hop(p.trace, this.where, 'netem', { reordered: true });
      this.observer?.('reorder', p, 0);
      this.rq.push(p);
      this.rqt.push(now);
    }
    v[C.backlog] = this.hn + this.rq.length;
  }

  /** The latest time to send of what is queued (sch->q's tail, the tfifo's last), or null. */
  private lastTimeToSend(): number | null {
    let last: number | null = this.rq.length > 0 ? this.rqt[0]! : null;
    if (this.hn > 0 && (last === null || this.tfifoMax > last)) last = this.tfifoMax;
    return last;
  }

  /** sch_netem: get_slot_next (uniform in [min, max]; the kernel draws it from get_random_u32). */
  private getSlotNext(now: number): void {
    const q = this.q;
    const next = q.slotMinNs + Math.floor((this.aux.u32() * (q.slotMaxNs - q.slotMinNs)) / TWO32);
    this.slotNext = now + next;
    this.packetsLeft = q.slotPackets === 0 ? INT_MAX : q.slotPackets;
    this.bytesLeft = q.slotBytes === 0 ? INT_MAX : q.slotBytes;
  }

  /** netem_dequeue, until nothing is due; arms the watchdog for the next deadline. */
  private service(now: number): void {
    const v = this.counters.values;
    const out = this.out;
    const slotOn = this.q.slot;
    for (;;) {
      if (this.rq.length > 0) {
        const p = this.rq.pop()!;
        this.rqt.pop();
        v[C.sent]!++;
        v[C['sent-bytes']]! += p.end - p.start;
        out.send(p);
        continue;
      }
      if (this.hn === 0) break;
      const tts = this.ht[0]!;
      if (slotOn && this.slotNext < tts) this.getSlotNext(now);
      if (tts <= now && (!slotOn || this.slotNext <= now)) {
        const p = this.heapPop();
        const len = p.end - p.start;
        if (slotOn) {
          this.packetsLeft--;
          this.bytesLeft -= len;
          if (this.packetsLeft <= 0 || this.bytesLeft <= 0) this.getSlotNext(now);
        }
        v[C.sent]!++;
        v[C['sent-bytes']]! += len;
        out.send(p);
        continue;
      }
      this.arm(slotOn ? Math.max(tts, this.slotNext) : tts);
      break;
    }
    v[C.backlog] = this.hn + this.rq.length;
  }

  private arm(atNs: number): void {
    if (atNs >= this.armedNs) return;
    this.disarm();
    this.armedNs = atNs;
    const engine = this.engine;
    if (engine.clock.kind === 'wall') {
      this.hrTimer = HrTimers.of(engine).at(atNs / 1e6, this.onWatchdog);
    } else {
      this.timer = engine.scheduler.at(atNs / 1e6, this.onWatchdog);
    }
  }

  private disarm(): void {
    if (this.timer !== null) this.engine.scheduler.cancel(this.timer);
    if (this.hrTimer !== null) this.hrTimer.cancel();
    this.timer = null;
    this.hrTimer = null;
    this.armedNs = Infinity;
  }

  private readonly onWatchdog = (): void => {
    const due = this.armedNs;
    this.timer = null;
    this.hrTimer = null;
    this.armedNs = Infinity;
    let now = this.nowNs();
    if (this.engine.clock.kind === 'wall' && now - due > OVERRUN_NS) this.overrun(now - due);
    if (now < due) now = due; // the clock's ms float rounds; the deadline is due
    this.service(now);
  };

  private overrun(lateNs: number): void {
    this.counters.values[C.overrun]!++;
    const t = this.engine.now();
    if (t - this.lastLog >= 1000) {
      this.lastLog = t;
      this.log(`podwire: netem ${this.name}: cannot keep up: watchdog ${(lateNs / 1e6).toFixed(2)} ms late (overrun ${this.counters.values[C.overrun]})`);
    }
  }

  /** Frees every queued packet (the element is being removed): netem_reset. */
  reset(): number {
    this.disarm();
    let n = 0;
    const pool = this.engine.pool;
    for (const p of this.rq) { pool.free(p); n++; }
    for (let i = 0; i < this.hn; i++) { pool.free(this.hp[i]!); n++; }
    this.rq = [];
    this.rqt = [];
    this.hp = [];
    this.ht = [];
    this.hs = [];
    this.hn = 0;
    this.counters.values[C.backlog] = 0;
    return n;
  }

  private less(i: number, j: number): boolean {
    const a = this.ht[i]!;
    const b = this.ht[j]!;
    return a < b || (a === b && this.hs[i]! < this.hs[j]!);
  }

  private swap(i: number, j: number): void {
    const hp = this.hp;
    const ht = this.ht;
    const hs = this.hs;
    const p = hp[i]!; hp[i] = hp[j]!; hp[j] = p;
    const t = ht[i]!; ht[i] = ht[j]!; ht[j] = t;
    const s = hs[i]!; hs[i] = hs[j]!; hs[j] = s;
  }

  private heapPush(p: Packet, tts: number): void {
    if (this.hn === 0 || tts > this.tfifoMax) this.tfifoMax = tts;
    let i = this.hn++;
    this.hp[i] = p;
    this.ht[i] = tts;
    this.hs[i] = this.seq++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private heapPop(): Packet {
    const top = this.hp[0]!;
    const last = --this.hn;
    if (last > 0) {
      this.hp[0] = this.hp[last]!;
      this.ht[0] = this.ht[last]!;
      this.hs[0] = this.hs[last]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < last && this.less(l, m)) m = l;
        if (r < last && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    this.hp[last] = undefined as unknown as Packet;
    return top;
  }
}

/**
 * Puts a Netem in front of `link` (its sending side): the sender's port now feeds the
 * netem, whose output feeds `link`, so captures on `link` see what leaves the qdisc.
 */
export function spliceNetem(engine: Engine, link: Link, netem: Netem): void {
  const from = link.from;
  if (from === null) throw new Error(`${link.name}: not connected`);
  from.link = null;
  const out = netem.ports.out('out');
  out.link = link;
  link.from = out;
  connect(engine, from, netem.input);
}

/** Undoes spliceNetem: queued packets are freed, the sender's port feeds `link` again. */
export function unspliceNetem(netem: Netem): void {
  const out = netem.ports.out('out');
  const link = out.link;
  const inLink = netem.input.link;
  if (link === null || inLink === null || inLink.from === null) return;
  const from = inLink.from;
  link.rewired();
  netem.reset();
  // Packets still on the ring into the netem go on as if it had never been there.
  for (let p = inLink.receive(); p !== null; p = inLink.receive()) link.transmit(p);
  from.link = link;
  link.from = from;
  out.link = null;
  netem.input.link = null;
  inLink.from = null;
  inLink.to = null;
  inLink.consumer = null;
}
