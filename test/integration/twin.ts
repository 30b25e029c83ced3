/**
 * Twin clusters for lockstep tests (issue 13, "Out-of-bounds reads in the dataplane"): two
 * identical clusters built from one topology, whose free pool bytes differ. Every free
 * slot of twin A holds 0x00; a free slot of twin B mostly holds the bytes 0x23 0x28
 * repeated (UDP port 9000 big-endian, the demo's echo port: a stale port read then finds
 * a socket in B and none in A), now and then another two-byte word (0xffff, an IPv4 first
 * word, an EtherType). 0x00 against 0xff alone would not do: 0x0000 and 0xffff are the
 * same number to a one's complement checksum. Slots are scrubbed again on every free, so
 * a packet allocated later (an injected frame, an ICMP error, an ARP request) also has a
 * pattern past its bytes.
 *
 * The same frame is injected into the same link of both twins, each runs until idle, and
 * what they did is compared: every frame transmitted on any link (hashed with the link),
 * every drop (owner and reason), the free pool count. Code that reads only the bytes of
 * its packets behaves the same in both; a read past a packet's end (or of a freed slot)
 * sees a different byte in each twin and, sooner or later, makes them diverge.
 * `statsDiff()` compares the whole stats view and every app's counters.
 *
 * Bytes past an IPv4 packet's total length that belong to the frame (Ethernet padding) are
 * injected differently into B (except into a VXLAN device, which carries the frame as it
 * is), and left out of the frame hashes: a layer above Ethernet that reads them diverges.
 * Limit: padding a frame gets inside the cluster (a VXLAN inner frame) is the same in both.
 */
import { statsView } from '../../src/control/views.js';
import { Cluster } from '../../src/kube/cluster.js';
import type { Link } from '../../src/engine/link.js';
import type { Packet } from '../../src/engine/packet.js';
import type { Topology } from '../../src/kube/types.js';

/** A link frames can be injected into: `pod1/eth0 rx` is a frame arriving on pod1's eth0. */
export interface InjectPoint {
  readonly name: string;
  readonly a: Link;
  readonly b: Link;
}

/** One observable event: kind 0 = frame on link `id`, 1 = drop (`id` names owner and reason). */
interface Events {
  hash: number;
  n: number;
  /** The current frame's events, 4 numbers each: kind, id, length, hash. */
  log: number[];
}

/** Twin A: zeros. Twin B: port 9000 mostly, and now and then other words a parser may act on. */
const PATTERNS_A = [[0x00, 0x00]];
const PATTERNS_B = [[0x23, 0x28], [0x23, 0x28], [0x23, 0x28], [0xff, 0xff], [0x45, 0x00], [0x08, 0x00], [0x01, 0x01]];

function fnv(h: number, b: Uint8Array, start: number, end: number): number {
  let x = h;
  for (let i = start; i < end; i++) x = Math.imul(x ^ b[i]!, 0x01000193);
  return x >>> 0;
}

function mix(h: number, v: number): number {
  return Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
}

/** Fills slots (the whole buffer, headroom included) with two-byte patterns, taken in turn. */
class Scrubber {
  private readonly pats: Buffer[];
  private k = 0;
  constructor(pats: readonly number[][]) {
    this.pats = pats.map((p) => Buffer.from(p));
  }

  scrub(buf: Buffer): void {
    const pat = this.pats[this.k]!;
    this.k = (this.k + 1) % this.pats.length;
    if (pat[0] === pat[1]) buf.fill(pat[0]!);
    else buf.fill(pat);
  }
}

export class Twin {
  readonly a: Cluster;
  readonly b: Cluster;
  readonly points: InjectPoint[] = [];
  private readonly ev: [Events, Events] = [{ hash: 0x811c9dc5, n: 0, log: [] }, { hash: 0x811c9dc5, n: 0, log: [] }];
  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  /** Event ids of each drop counter's reasons (interned once). */
  private readonly dropIds = new Map<object, number[]>();
  private readonly linkNames: string[] = [];

  constructor(readonly topology: Topology) {
    this.a = new Cluster(structuredClone(topology));
    this.b = new Cluster(structuredClone(topology));
    this.instrument(this.a, 0, new Scrubber(PATTERNS_A));
    this.instrument(this.b, 1, new Scrubber(PATTERNS_B));
    const pa = this.a.capturePoints();
    const pb = this.b.capturePoints();
    pa.forEach((p, i) => {
      const q = pb[i]!;
      if (q.name !== p.name) throw new Error(`twins differ: capture point ${p.name} vs ${q.name}`);
      if (p.rx !== null && q.rx !== null) this.points.push({ name: `${p.name} rx`, a: p.rx, b: q.rx });
      if (p.tx !== null && q.tx !== null) this.points.push({ name: `${p.name} tx`, a: p.tx, b: q.tx });
    });
    this.tapLinks();
  }

  private intern(s: string): number {
    let id = this.nameIds.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(s);
      this.nameIds.set(s, id);
    }
    return id;
  }

  /** The event id of reason `reason` of `owner`'s drop counters. */
  private dropId(owner: { name: string; drops: { names: readonly string[] } }, reason: number): number {
    let ids = this.dropIds.get(owner.drops);
    if (ids === undefined) {
      ids = owner.drops.names.map((r) => this.intern(`${owner.name}: ${r}`));
      this.dropIds.set(owner.drops, ids);
    }
    return ids[reason] ?? this.intern(`${owner.name}: reason ${reason}`);
  }

  private record(t: number, kind: number, id: number, len: number, h: number): void {
    const e = this.ev[t]!;
    e.hash = mix(mix(mix(mix(e.hash, kind), id), len), h);
    e.n++;
    if (e.log.length < 4096) e.log.push(kind, id, len, h);
  }

  /** Pattern in every free slot, scrub on free, drops recorded. */
  private instrument(c: Cluster, t: number, scrubber: Scrubber): void {
    const pool = c.engine.pool;
    const taken: Packet[] = [];
    for (let p = pool.alloc(); p !== null; p = pool.alloc()) taken.push(p);
    pool.exhausted = 0;
    for (const p of taken) scrubber.scrub(p.buf);
    // Freed in reverse: the free list is in its original order again.
    for (let i = taken.length - 1; i >= 0; i--) pool.free(taken[i]!);
    const free = pool.free.bind(pool);
    pool.free = (p: Packet): void => {
      free(p);
      scrubber.scrub(p.buf);
    };
    const e = c.engine;
    const drop = e.drop.bind(e);
    e.drop = (p, el, reason, where): void => {
      this.record(t, 1, this.dropId(el, reason), p.end - p.start, 0);
      drop(p, el, reason, where);
    };
    const dropCounted = e.dropCounted.bind(e);
    e.dropCounted = (p, owner, reason, where): void => {
      this.record(t, 1, this.dropId(owner, reason), p.end - p.start, 0);
      dropCounted(p, owner, reason, where);
    };
    const dropAtLink = e.dropAtLink.bind(e);
    e.dropAtLink = (p, link): void => {
      this.record(t, 1, this.intern(`${link.name}: link-full`), p.end - p.start, 0);
      dropAtLink(p, link);
    };
    const dropUnconnected = e.dropUnconnected.bind(e);
    e.dropUnconnected = (p, port): void => {
      this.record(t, 1, this.intern(`${port.owner.name}.${port.name}: unconnected`), p.end - p.start, 0);
      dropUnconnected(p, port);
    };
  }

  /** Every link of both twins (through the elements' output ports), paired by position. */
  private tapLinks(): void {
    const la = linksOf(this.a);
    const lb = linksOf(this.b);
    if (la.length !== lb.length) throw new Error(`twins differ: ${la.length} vs ${lb.length} links`);
    la.forEach((l, i) => {
      this.linkNames.push(l.name);
      l.addTap((p) => this.record(0, 0, i, p.end - p.start, fnv(0x811c9dc5, p.buf, p.start, ipv4End(p.buf, p.start, p.end))));
      lb[i]!.addTap((p) => this.record(1, 0, i, p.end - p.start, fnv(0x811c9dc5, p.buf, p.start, ipv4End(p.buf, p.start, p.end))));
    });
  }

  /**
   * Injects `frame` into point `i` of both twins, runs each until idle and compares them.
   * Returns null when they did the same, else a description of the first difference.
   */
  inject(i: number, frame: Uint8Array): string | null {
    const pt = this.points[i]!;
    for (const [t, c, link] of [[0, this.a, pt.a], [1, this.b, pt.b]] as const) {
      this.ev[t].log.length = 0;
      const p = c.engine.pool.fromBytes(frame, 0, frame.length);
      if (p === null) throw new Error(`twin ${t === 0 ? 'A' : 'B'}: pool exhausted or frame of ${frame.length} bytes too long`);
      // Twin B gets other bytes past an IPv4 packet's total length (Ethernet padding: no layer above
      // Ethernet may read it), except into a VXLAN device, which encapsulates the frame as it is.
      if (t === 1 && !pt.name.includes('flannel.1 tx')) {
        const end = ipv4End(p.buf, p.start, p.end);
        for (let k = end; k < p.end; k++) p.buf[k] = p.buf[k]! ^ 0xa5;
      }
      link.transmit(p);
      c.engine.runUntilIdle();
    }
    return this.diff();
  }

  /** Lets `ms` of virtual time pass in both twins (timers fire), then compares them. */
  advance(ms: number): string | null {
    this.ev[0].log.length = 0;
    this.ev[1].log.length = 0;
    this.a.engine.advance(ms);
    this.b.engine.advance(ms);
    return this.diff();
  }

  /** Runs `fn` against each twin (a trace, a client), then compares them. */
  both<T>(fn: (c: Cluster) => T): [T, T, string | null] {
    this.ev[0].log.length = 0;
    this.ev[1].log.length = 0;
    const ra = fn(this.a);
    const rb = fn(this.b);
    return [ra, rb, this.diff()];
  }

  private diff(): string | null {
    const [ea, eb] = this.ev;
    const fa = this.a.engine.pool.available;
    const fb = this.b.engine.pool.available;
    if (ea.hash === eb.hash && ea.n === eb.n && fa === fb) return null;
    const lines = [`twins diverged (free packets A ${fa}, B ${fb}; events A ${ea.n}, B ${eb.n})`];
    const n = Math.max(ea.log.length, eb.log.length);
    for (let k = 0; k < n; k += 4) {
      const x = this.eventText(ea.log, k);
      const y = this.eventText(eb.log, k);
      lines.push(`${x === y ? '  ' : '! '}A ${x}  |  B ${y}`);
    }
    return lines.join('\n');
  }

  private eventText(log: number[], k: number): string {
    if (k >= log.length) return '-';
    const [kind, id, len, h] = [log[k]!, log[k + 1]!, log[k + 2]!, log[k + 3]!];
    return kind === 0 ? `frame on ${this.linkNames[id]} (${len} bytes, ${h.toString(16)})` : `drop ${this.names[id]} (${len} bytes)`;
  }

  /** Differences between the twins' stats views and app counters ('' when none). */
  statsDiff(): string {
    const sa = snapshot(this.a);
    const sb = snapshot(this.b);
    if (sa === sb) return '';
    const la = sa.split('\n');
    const lb = sb.split('\n');
    const out: string[] = [];
    for (let k = 0; k < Math.max(la.length, lb.length) && out.length < 20; k++) {
      if (la[k] !== lb[k]) out.push(`A ${la[k] ?? '-'}\nB ${lb[k] ?? '-'}`);
    }
    return out.join('\n');
  }

  close(): void {
    this.a.close();
    this.b.close();
  }
}

/** The stats view and every app's counters, one line per entry. */
function snapshot(c: Cluster): string {
  const s = statsView(c) as Record<string, unknown>;
  const lines: string[] = [];
  for (const [k, v] of Object.entries(s)) {
    if (k === 'elements') for (const el of v as unknown[]) lines.push(JSON.stringify(el));
    else lines.push(`${k} ${JSON.stringify(v)}`);
  }
  for (const [name, p] of c.pods) {
    for (const r of p.apps.running) {
      const counters = (r.app as { counters?: { toJSON(): unknown } }).counters;
      if (counters !== undefined) lines.push(`${name} ${r.spec.type}:${r.spec.port} ${JSON.stringify(counters.toJSON())}`);
    }
  }
  return lines.join('\n');
}

/**
 * Where the bytes of a frame that matter end: for an IPv4 frame (EtherType 0x0800, one
 * 802.1Q tag at most) whose total length fits, the end of the IPv4 packet (what follows is
 * padding); else the end of the frame.
 */
function ipv4End(b: Uint8Array, s: number, e: number): number {
  if (e - s < 34) return e;
  let l3 = s + 14;
  if (b[s + 12] === 0x81 && b[s + 13] === 0x00) l3 += 4;
  if (b[l3 - 2] !== 0x08 || b[l3 - 1] !== 0x00 || e - l3 < 20 || b[l3]! >>> 4 !== 4) return e;
  const total = (b[l3 + 2]! << 8) | b[l3 + 3]!;
  return total >= 20 && total <= e - l3 ? l3 + total : e;
}

function linksOf(c: Cluster): Link[] {
  const out: Link[] = [];
  for (const el of c.engine.elements.values()) for (const port of el.ports.outputs.values()) if (port.link !== null) out.push(port.link);
  return out;
}
