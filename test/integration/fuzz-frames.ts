/**
 * Frames for the dataplane fuzz test (issue 13): builders for Ethernet/ARP/IPv4/ICMP/UDP/
 * TCP/VXLAN frames with correct checksums, a corpus of the real frames the demo's journeys
 * put on every interface, and a seeded generator that mutates them (bit flips, truncation,
 * length fields, IHL, options, fragments, addresses, ICMP errors around them, VXLAN around
 * them) or makes pure garbage. Everything is reproducible from one seed.
 */
import { runTrace } from '../../src/kube/trace.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { checksum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { httpGet } from '../../src/apps/http.js';
import { udpRoundTrip } from './cluster-util.js';

/** mulberry32: small, fast, seeded. */
export class Rand {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= n < max. */
  int(max: number): number {
    return max <= 0 ? 0 : this.u32() % max;
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

// ---- builders ---------------------------------------------------------------------------

const u16 = (b: Uint8Array, o: number, v: number): void => { b[o] = (v >>> 8) & 0xff; b[o + 1] = v & 0xff; };
const u32 = (b: Uint8Array, o: number, v: number): void => { u16(b, o, v >>> 16); u16(b, o + 2, v & 0xffff); };
const r16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
const r32 = (b: Uint8Array, o: number): number => ((r16(b, o) << 16) | r16(b, o + 2)) >>> 0;

function macBytes(b: Uint8Array, o: number, mac: number): void {
  u16(b, o, Math.floor(mac / 0x1_0000_0000));
  u32(b, o + 2, mac % 0x1_0000_0000);
}

export function ethernet(dst: number, src: number, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  macBytes(f, 0, dst);
  macBytes(f, 6, src);
  u16(f, 12, type);
  f.set(payload, 14);
  return f;
}

export interface Ipv4Fields {
  src: number;
  dst: number;
  proto: number;
  ttl?: number;
  /** IP options (padded to a multiple of 4 with EOL). */
  options?: Uint8Array;
  flags?: number;
  id?: number;
  /** Total length to write (default: the real one). */
  totalLen?: number;
}

/** An IPv4 packet around `l4` (whose checksum the caller has filled, see `l4Checksum`). */
export function ipv4(f: Ipv4Fields, l4: Uint8Array): Uint8Array {
  const optLen = f.options === undefined ? 0 : (f.options.length + 3) & ~3;
  const hl = 20 + optLen;
  const b = new Uint8Array(hl + l4.length);
  b[0] = 0x40 | (hl >>> 2);
  u16(b, 2, f.totalLen ?? b.length);
  u16(b, 4, f.id ?? 1);
  u16(b, 6, f.flags ?? 0x4000);
  b[8] = f.ttl ?? 64;
  b[9] = f.proto;
  u32(b, 12, f.src);
  u32(b, 16, f.dst);
  if (f.options !== undefined) b.set(f.options, 20);
  u16(b, 10, checksum(b, 0, hl));
  b.set(l4, hl);
  fixL4Checksum(b, 0, b.length);
  return b;
}

export function udp(sport: number, dport: number, payload: Uint8Array, ulen?: number): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  u16(b, 0, sport);
  u16(b, 2, dport);
  u16(b, 4, ulen ?? b.length);
  b.set(payload, 8);
  return b;
}

export function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(20 + payload.length);
  u16(b, 0, sport);
  u16(b, 2, dport);
  u32(b, 4, seq);
  u32(b, 8, ack);
  b[12] = 5 << 4;
  b[13] = flags;
  u16(b, 14, 65535);
  b.set(payload, 20);
  return b;
}

export function icmp(type: number, code: number, rest: number, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + body.length);
  b[0] = type;
  b[1] = code;
  u32(b, 4, rest);
  b.set(body, 8);
  return b;
}

/** The IPv4 header length of the packet at `o` when it looks like one, else 0. */
function ihlAt(b: Uint8Array, o: number, end: number): number {
  if (end - o < 20 || b[o]! >>> 4 !== 4) return 0;
  const hl = (b[o]! & 0x0f) << 2;
  return hl >= 20 && hl <= end - o ? hl : 0;
}

/** Recomputes the L4 checksum (TCP, UDP, ICMP) of the IPv4 packet at b[o, end), over what its total length says. */
function fixL4Checksum(b: Uint8Array, o: number, end: number): void {
  const hl = ihlAt(b, o, end);
  if (hl === 0 || (r16(b, o + 6) & 0x1fff) !== 0) return;
  const l4 = o + hl;
  const len = Math.min(r16(b, o + 2), end - o) - hl;
  const proto = b[o + 9]!;
  const off = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
  if (off < 0 || len < off + 2) return;
  u16(b, l4 + off, 0);
  if (proto === 1) {
    u16(b, l4 + 2, checksum(b, l4, len));
    return;
  }
  const ulen = proto === 17 ? Math.min(r16(b, l4 + 4), len) : len;
  if (ulen < off + 2) return;
  const c = checksum(b, l4, ulen, pseudoHeaderSum(r32(b, o + 12), r32(b, o + 16), proto, ulen));
  u16(b, l4 + off, proto === 17 && c === 0 ? 0xffff : c);
}

/**
 * Makes the checksums of a frame right again after a mutation, so that it gets past the
 * checksum checks to the code behind them: IPv4 header, L4, and the same inside a VXLAN
 * frame or an ICMP error's quote (inner first).
 */
export function fixChecksums(f: Uint8Array, depth = 0): void {
  if (f.length < 14 || depth > 3) return;
  let o = 14;
  if (r16(f, 12) === 0x8100) o = 18;
  if (r16(f, o - 2) !== 0x0800) return;
  fixIpv4(f, o, f.length, depth);
}

function fixIpv4(f: Uint8Array, o: number, end: number, depth: number): void {
  const hl = ihlAt(f, o, end);
  if (hl === 0) return;
  const l4 = o + hl;
  const stop = Math.min(o + r16(f, o + 2), end);
  const proto = f[o + 9]!;
  if (proto === 17 && stop - l4 >= 16 && (r16(f, l4 + 2) === 8472 || r16(f, l4 + 2) === 4789)) {
    fixChecksums(f.subarray(l4 + 16, stop), depth + 1);
  }
  if (proto === 1 && stop - l4 >= 28 && [3, 4, 5, 11, 12].includes(f[l4]!) && depth < 3) fixIpv4(f, l4 + 8, stop, depth + 1);
  u16(f, o + 10, 0);
  u16(f, o + 10, checksum(f, o, hl));
  fixL4Checksum(f, o, end);
}

/** A VXLAN frame on the underlay around `inner`, from `from` to node `to` (outer UDP checksum 0, as Linux). */
export function vxlanFrame(from: NodeAddr, to: NodeAddr, inner: Uint8Array, vni = 1, port = 8472): Uint8Array {
  const v = new Uint8Array(8 + inner.length);
  v[0] = 0x08;
  u32(v, 4, vni << 8);
  v.set(inner, 8);
  const u = udp(40000 + (inner.length % 1000), port, v);
  const ip = ipv4({ src: from.ip, dst: to.ip, proto: 17, flags: 0 }, u);
  u16(ip, 20 + 6, 0);
  return ethernet(to.mac, from.mac, 0x0800, ip);
}

// ---- the cluster's addresses ---------------------------------------------------------------

export interface NodeAddr { name: string; ip: number; mac: number; bridgeIp: number; bridgeMac: number; vtepMac: number }
export interface PodAddr { name: string; node: string; ip: number; mac: number }

export interface Addrs {
  nodes: NodeAddr[];
  pods: PodAddr[];
  vips: number[];
  /** Every local address of every namespace -> the namespace's registry key. */
  owner: Map<number, string>;
  /** Namespace key -> its UDP echo ports. */
  echoPorts: Map<string, Set<number>>;
  /** Service VIP -> addresses of its endpoints. */
  endpoints: Map<number, Set<number>>;
  /** Interesting values for address fields. */
  all: number[];
}

export function clusterAddrs(c: Cluster): Addrs {
  const owner = new Map<number, string>();
  const echoPorts = new Map<string, Set<number>>();
  const nodes: NodeAddr[] = [];
  for (const n of c.nodes.values()) {
    const key = `${n.plan.name}/root`;
    for (const i of n.root.interfaces()) for (const a of i.addrs) owner.set(a.ip >>> 0, key);
    const vtep = n.root.iface('flannel.1');
    nodes.push({ name: n.plan.name, ip: n.plan.ip, mac: n.plan.mac, bridgeIp: n.plan.bridgeIp, bridgeMac: n.plan.bridgeMac, vtepMac: vtep?.mac ?? 0 });
  }
  const pods: PodAddr[] = [];
  for (const p of c.pods.values()) {
    const key = `${p.plan.node}/${p.ns.name}`;
    owner.set(p.plan.ip >>> 0, key);
    pods.push({ name: p.ns.name, node: p.plan.node, ip: p.plan.ip, mac: p.plan.mac });
    echoPorts.set(key, new Set(p.plan.apps.filter((a) => a.type === 'udp-echo').map((a) => a.port)));
  }
  const endpoints = new Map<number, Set<number>>();
  for (const s of c.plan.services) {
    const ips = c.plan.pods.filter((p) => p.namespace === s.namespace && s.endpoints.includes(p.name)).map((p) => p.ip >>> 0);
    endpoints.set(s.clusterIP >>> 0, new Set(ips));
  }
  const vips = c.plan.services.map((s) => s.clusterIP >>> 0);
  const all = [...owner.keys(), ...vips, 0, 0xffffffff, 0x7f000001, 0x0af4ffff, 0xe0000001, 0x08080808];
  return { nodes, pods, vips, owner, echoPorts, endpoints, all };
}

// ---- the corpus: what the demo's journeys put on the wire ------------------------------------

export interface Seed { point: string; frame: Uint8Array }

/** DNS query for `name` type A (RFC 1035 4.1). */
export function dnsQuery(id: number, name: string): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const b = new Uint8Array(12 + labels.length + 1 + 4);
  u16(b, 0, id);
  u16(b, 2, 0x0100);
  u16(b, 4, 1);
  b.set(labels, 12);
  u16(b, 12 + labels.length + 1, 1);
  u16(b, 12 + labels.length + 3, 1);
  return b;
}

/**
 * Runs the demo's journeys (and a few more: UDP echo, DNS, HTTP through the service, a
 * closed port, TTL expiry) in `c` and returns every frame seen on every capture point,
 * named like `Twin.points` (`pod1/eth0 tx`).
 */
export async function corpus(c: Cluster): Promise<Seed[]> {
  const out: Seed[] = [];
  for (const pt of c.capturePoints()) {
    for (const [dir, link] of [['rx', pt.rx], ['tx', pt.tx]] as const) {
      link?.addTap((p) => out.push({ point: `${pt.name} ${dir}`, frame: Uint8Array.from(p.buf.subarray(p.start, p.end)) }));
    }
  }
  const traces = [
    { from: 'pod1', to: 'pod2', proto: 'icmp' }, { from: 'pod1', to: 'pod3', proto: 'icmp' },
    { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 }, { from: 'pod1', to: 'pod2', proto: 'udp', port: 9000 },
    { from: 'pod1', to: 'pod3', proto: 'udp', port: 9000 }, { from: 'pod3', to: 'pod1', proto: 'udp', port: 5 },
    { from: 'pod1', to: 'pod3', proto: 'tcp', port: 7 }, { from: 'pod2', to: '10.244.9.9', proto: 'icmp' },
  ] as const;
  for (const t of traces) runTrace(c, t);
  const pod1 = c.pod('pod1').ns;
  const dns = c.plan.services.find((s) => s.name === 'kube-dns');
  if (dns !== undefined) udpRoundTrip(c, pod1, dns.clusterIP, 53, Buffer.from(dnsQuery(0x4242, 'service1.default.svc.cluster.local')).toString('latin1'));
  const svc = c.plan.services.find((s) => s.name === 'service1');
  if (svc !== undefined) {
    const r = httpGet(pod1, svc.clusterIP, 80, '/', { timeoutMs: 3000 });
    c.engine.advance(5000);
    await r.catch(() => undefined);
  }
  c.engine.advance(10 * 60_000);
  return out;
}

// ---- mutations ------------------------------------------------------------------------

const INTERESTING = [0, 1, 2, 4, 5, 6, 8, 11, 15, 17, 20, 24, 0x40, 0x45, 0x46, 0x4f, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 7, 8, 9, 19, 20, 27, 28, 40, 44, 53, 80, 576, 1450, 1500, 8080, 8472, 9000, 0x7fff, 0xffff];

/** Offset of the (first) IPv4 header in an Ethernet frame, or -1. */
function l3Of(f: Uint8Array): number {
  if (f.length < 14) return -1;
  const o = r16(f, 12) === 0x8100 ? 18 : 14;
  return f.length >= o + 20 && r16(f, o - 2) === 0x0800 ? o : -1;
}

function resize(f: Uint8Array, len: number, r: Rand): Uint8Array {
  const g = new Uint8Array(Math.max(0, len));
  g.set(f.subarray(0, Math.min(f.length, g.length)));
  for (let i = f.length; i < g.length; i++) g[i] = r.int(256);
  return g;
}

/** One mutation of `f` (a new array or `f` changed in place). */
function mutateOnce(f: Uint8Array, r: Rand, a: Addrs, pointFrames: readonly Uint8Array[]): Uint8Array {
  const l3 = l3Of(f);
  const k = r.int(l3 >= 0 ? 17 : 5);
  switch (k) {
    case 0: { // bit flips
      const g = Uint8Array.from(f);
      for (let n = 1 + r.int(8); n > 0 && g.length > 0; n--) g[r.int(g.length)]! ^= 1 << r.int(8);
      return g;
    }
    case 1: { // interesting bytes
      const g = Uint8Array.from(f);
      for (let n = 1 + r.int(4); n > 0 && g.length > 0; n--) g[r.int(g.length)] = r.pick(INTERESTING);
      return g;
    }
    case 2: // truncate
      return f.subarray(0, r.int(f.length + 1)).slice();
    case 3: // extend (padding, trailing garbage)
      return resize(f, f.length + 1 + r.int(r.chance(0.9) ? 64 : 1400), r);
    case 4: { // splice with another frame of the point
      const o = pointFrames.length > 0 ? r.pick(pointFrames) : f;
      const cut = r.int(f.length + 1);
      const g = new Uint8Array(cut + Math.max(0, o.length - cut));
      g.set(f.subarray(0, cut));
      if (o.length > cut) g.set(o.subarray(cut), cut);
      return g;
    }
    default: break;
  }
  const g = Uint8Array.from(f);
  switch (k) {
    case 5: g[l3] = 0x40 | r.int(16); break; // IHL
    case 6: u16(g, l3 + 2, r.chance(0.5) ? r.pick(INTERESTING16) : Math.max(0, g.length - l3 + r.int(9) - 4)); break; // total length
    case 7: g[l3 + 8] = r.pick([0, 1, 2, 64, 255]); break; // TTL
    case 8: g[l3 + 9] = r.pick([0, 1, 2, 4, 6, 17, 47, 50, 132, 255]); break; // protocol
    case 9: u16(g, l3 + 6, r.pick([0, 0x2000, 0x2001, 0x0001, 0x4000, 0x6000, 0x1fff, 0x8000, r.int(0x10000)])); break; // flags / fragments
    case 10: { // IP options: grow the header by 4..40 bytes of options
      const hl = (g[l3]! & 0x0f) << 2;
      const add = 4 * (1 + r.int(10));
      if (hl + add > 60 || hl < 20 || l3 + hl > g.length) break;
      const opts = new Uint8Array(add);
      const kind = r.int(4);
      for (let i = 0; i < add; i++) opts[i] = kind === 0 ? 1 : kind === 1 ? r.int(256) : kind === 2 ? 0 : r.pick([7, 68, 130, 131, 137, 148, 1, 0]);
      if (kind === 3 && add >= 2) opts[1] = r.pick([0, 1, 2, 3, add, add + 1, 255]);
      const h = new Uint8Array(g.length + add);
      h.set(g.subarray(0, l3 + hl));
      h.set(opts, l3 + hl);
      h.set(g.subarray(l3 + hl), l3 + hl + add);
      h[l3] = 0x40 | ((hl + add) >>> 2);
      u16(h, l3 + 2, r16(h, l3 + 2) + add);
      return h;
    }
    case 11: { // addresses
      u32(g, l3 + (r.chance(0.5) ? 12 : 16), r.pick(a.all));
      break;
    }
    case 12: { // L4 length fields and ports
      const hl = (g[l3]! & 0x0f) << 2;
      const l4 = l3 + hl;
      if (l4 + 20 > g.length) break;
      const proto = g[l3 + 9];
      if (proto === 17) u16(g, l4 + (r.chance(0.6) ? 4 : r.int(2) * 2), r.pick(INTERESTING16));
      else if (proto === 6) {
        if (r.chance(0.5)) g[l4 + 12] = r.int(16) << 4;
        else g[l4 + 13] = r.pick([0x02, 0x12, 0x10, 0x04, 0x14, 0x01, 0x11, 0x18, 0x3f, 0]);
      } else if (proto === 1) {
        g[l4] = r.pick([0, 3, 4, 5, 8, 11, 12, 13, 14, 17, 18, 255]);
        g[l4 + 1] = r.pick([0, 1, 3, 4, 13]);
      }
      break;
    }
    case 13: { // wrap into an ICMP error quoting (part of) the packet, sent to its source
      const stop = Math.min(g.length, l3 + r16(g, l3 + 2));
      const quoted = g.subarray(l3, Math.max(l3, Math.min(stop, l3 + r.pick([0, 8, 19, 20, 24, 27, 28, 32, 48, 64, 548]))));
      const type = r.pick([3, 3, 11, 12, 4, 5]);
      const err = icmp(type, r.pick([0, 1, 3, 4]), type === 3 ? r.pick([0, 1400]) : 0, quoted);
      const ip = ipv4({ src: r.pick(a.all), dst: r32(g, l3 + 12), proto: 1, flags: 0 }, err);
      const h = new Uint8Array(l3 + ip.length);
      h.set(g.subarray(0, l3));
      h.set(ip, l3);
      return h;
    }
    case 14: { // wrap into VXLAN on the underlay, as another node would send it
      if (a.nodes.length < 2) break;
      const from = r.pick(a.nodes);
      const to = r.pick(a.nodes);
      return vxlanFrame(from, to, g, r.chance(0.9) ? 1 : r.int(4));
    }
    case 15: { // a coherent bigger packet: payload grown to an MTU edge, IPv4 and UDP lengths follow
      const hl = (g[l3]! & 0x0f) << 2;
      const size = r.pick([576, 1400, 1450, 1451, 1472, 1480, 1500, 1501, 1886]);
      if (hl < 20 || l3 + hl > g.length || size <= g.length - l3) break;
      const h = resize(g, l3 + size, r);
      u16(h, l3 + 2, size);
      if (h[l3 + 9] === 17) u16(h, l3 + hl + 4, size - hl);
      if (r.chance(0.5)) h[l3 + 6]! |= 0x40;
      return h;
    }
    case 16: // the quoted header of an ICMP error: IHL and length
    default: {
      const hl = (g[l3]! & 0x0f) << 2;
      const inner = l3 + hl + 8;
      if (g[l3 + 9] !== 1 || inner + 20 > g.length) { g[l3] = 0x40 | r.int(16); break; }
      if (r.chance(0.5)) g[inner] = 0x40 | r.int(16);
      else u16(g, inner + 2, r.pick(INTERESTING16));
      break;
    }
  }
  return g;
}

export interface Generated { point: number; frame: Uint8Array; kind: 'seed' | 'mutated' | 'garbage' }

/** The seeded stream of frames: corpus frames, mutations of them, and garbage, each aimed at an injection point. */
export class FrameGen {
  private readonly byPoint = new Map<number, Uint8Array[]>();
  private readonly seeds: { point: number; frame: Uint8Array }[] = [];
  /** The generator's random stream (the test also draws the virtual time between bursts from it). */
  readonly r: Rand;

  constructor(seed: number, corpusFrames: readonly Seed[], readonly points: readonly string[], readonly addrs: Addrs) {
    this.r = new Rand(seed);
    for (const s of corpusFrames) {
      const i = points.indexOf(s.point);
      if (i < 0) continue;
      this.seeds.push({ point: i, frame: s.frame });
      const l = this.byPoint.get(i) ?? [];
      l.push(s.frame);
      this.byPoint.set(i, l);
    }
    if (this.seeds.length === 0) throw new Error('empty corpus');
  }

  next(): Generated {
    const r = this.r;
    const roll = r.int(100);
    if (roll < 8) return { point: r.int(this.points.length), frame: this.garbage(), kind: 'garbage' };
    const s = r.pick(this.seeds);
    const point = r.chance(0.8) ? s.point : r.int(this.points.length);
    if (roll < 12) return { point, frame: s.frame, kind: 'seed' };
    let f = s.frame;
    const same = this.byPoint.get(s.point) ?? [];
    for (let n = 1 + (r.chance(0.3) ? r.int(4) : 0); n > 0; n--) f = mutateOnce(f, r, this.addrs, same);
    if (r.chance(0.6)) {
      if (f === s.frame) f = Uint8Array.from(f);
      fixChecksums(f);
    }
    return { point, frame: f, kind: 'mutated' };
  }

  private garbage(): Uint8Array {
    const r = this.r;
    const len = r.chance(0.7) ? r.int(80) : r.int(1600);
    const g = new Uint8Array(len);
    for (let i = 0; i < len; i++) g[i] = r.int(256);
    if (len >= 14 && r.chance(0.6)) {
      // Addressed to someone who listens, with an EtherType someone parses.
      const dst = r.pick([...this.addrs.pods.map((p) => p.mac), ...this.addrs.nodes.flatMap((n) => [n.mac, n.bridgeMac, n.vtepMac]), 0xffffffffffff]);
      macBytes(g, 0, dst);
      u16(g, 12, r.pick([0x0800, 0x0800, 0x0806, 0x8100]));
      if (len >= 34 && r.chance(0.5)) g[14] = 0x45;
    }
    return g;
  }
}

/** Hex of a frame for a failure message. */
export function hex(f: Uint8Array): string {
  return Buffer.from(f).toString('hex');
}
