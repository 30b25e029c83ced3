/**
 * FakeHost: an `IpHost` for unit tests of the apps, backed by a real Engine (pool,
 * scheduler, virtual clock, RNG, trace recorder) but without interfaces, routes or
 * Ethernet. Two fake hosts joined by `wireHosts(engine, a, b)` form a "wire": everything
 * a host outputs (to any address but its own) goes over an engine link to the peer, which
 * checks it as a kernel would (IPv4 header and checksum, L4 checksum, destination is its
 * address) and delivers it to the bound handler. Output to the host's own address is
 * delivered synchronously, inside output(), as the real namespace does.
 *
 * Like the real stack: source address 0 is filled in (checksums fixed), a TCP segment to
 * an unbound port gets a RST, a datagram to an unbound UDP port is dropped (`no-socket`).
 *
 * Test hooks: `lose(p)` decides per packet whether the wire loses it; `onWire(p)` sees
 * every packet put on the wire. Counters: tx, rx, lost, bad-ip, bad-checksum, not-mine,
 * no-socket, rst-sent.
 */
import { Counters, indexOf } from '../../engine/counters.js';
import { Ports, connect, type OutPort } from '../../engine/element.js';
import type { Element } from '../../engine/element.js';
import { Engine } from '../../engine/engine.js';
import type { Link } from '../../engine/link.js';
import type { Packet } from '../../engine/packet.js';
import type { Timer } from '../../engine/scheduler.js';
import type { Where } from '../../engine/trace.js';
import { readU16, readU32, writeU16 } from '../../wire/addr.js';
import { checksum, fold, pseudoHeaderSum, sum16, update32 } from '../../wire/checksum.js';
import { Ipv4Packet, IpProtocol } from '../../wire/ipv4.js';
import type { IpHost, L4Handler, L4Info } from '../../net/ip-host.js';
import { replyRst } from '../tcp-seg.js';

export const FAKE_HOST_COUNTERS = ['tx', 'rx', 'lost', 'bad-ip', 'bad-checksum', 'not-mine', 'no-socket', 'rst-sent'] as const;
const C = indexOf(FAKE_HOST_COUNTERS);

export class FakeHost implements IpHost, Element {
  readonly kind = 'fake-host';
  readonly ports: Ports;
  readonly counters = new Counters(FAKE_HOST_COUNTERS);
  readonly drops = new Counters([]);
  readonly where: Where;
  /** Decides whether the wire loses `p` (it is freed and counted as `lost`). */
  lose: ((p: Packet) => boolean) | null = null;
  /** Sees every packet put on the wire (before `lose`). */
  onWire: ((p: Packet) => void) | null = null;
  private readonly out: OutPort;
  private readonly ip = new Ipv4Packet();
  private readonly info: L4Info = {
    src: 0, dst: 0, protocol: 0, sport: 0, dport: 0, ttl: 0, l3: 0, l4: 0, payload: 0, payloadLen: 0, ifindex: 0,
  };
  private readonly udp = new Map<number, L4Handler>();
  private readonly tcp = new Map<number, L4Handler>();
  private ident = 1;

  constructor(readonly engine: Engine, readonly name: string, readonly addr: number, readonly node = 'node1') {
    this.ports = new Ports(engine, this);
    this.ports.addIn('in');
    this.out = this.ports.addOut('out');
    this.where = { node, netns: name, device: 'wire' };
    engine.add(this);
  }

  now(): number { return this.engine.now(); }
  random(): number { return this.engine.rng.u32(); }
  after(ms: number, fn: () => void): Timer { return this.engine.scheduler.after(ms, fn); }
  cancel(t: Timer): void { this.engine.scheduler.cancel(t); }
  alloc(): Packet | null { return this.engine.pool.alloc(); }
  free(p: Packet): void { this.engine.pool.free(p); }
  sourceFor(_dst: number): number { return this.addr; }
  mtu = 1500;
  mtuFor(_dst: number): number { return this.mtu; }
  replyTrace(requestTrace: number): number { return this.engine.trace.replyOf(requestTrace); }

  hop(trace: number, action: string, detail: Record<string, unknown>): void {
    if (trace !== 0) this.engine.trace.hop(trace, this.where, action, detail);
  }

  bind(protocol: number, port: number, handler: L4Handler): number {
    const t = this.table(protocol);
    let p = port;
    if (p === 0) {
      const first = 32768 + (this.random() % 28232);
      for (let i = 0; i < 28232 && p === 0; i++) {
        const c = 32768 + ((first - 32768 + i) % 28232);
        if (!t.has(c)) p = c;
      }
      if (p === 0) throw new Error(`${this.name}: no free ephemeral port`);
    }
    if (t.has(p)) throw new Error(`${this.name}: port ${p} is in use`);
    t.set(p, handler);
    return p;
  }

  unbind(protocol: number, port: number): void {
    this.table(protocol).delete(port);
  }

  /** Bound ports of a protocol (leak checks). */
  bound(protocol: number): number[] {
    return [...this.table(protocol).keys()];
  }

  output(p: Packet): void {
    const ip = this.ip.wrap(p.buf, p.start, p.end - p.start);
    if (ip.check() !== 0) { this.counters.values[C['bad-ip']]!++; this.free(p); return; }
    if (ip.srcAddr() === 0) this.fillSource(p);
    this.counters.values[C.tx]!++;
    if (p.trace !== 0) this.hop(p.trace, 'send', { dst: ip.dstAddr() });
    if (this.ip.wrap(p.buf, p.start, p.end - p.start).dstAddr() === this.addr) { this.receive(p); return; }
    this.onWire?.(p);
    if (this.lose !== null && this.lose(p)) { this.counters.values[C.lost]!++; this.free(p); return; }
    this.out.send(p);
  }

  push(_port: number, link: Link): void {
    for (let p = link.receive(); p !== null; p = link.receive()) this.receive(p);
  }

  /** What the kernel does with an arriving IPv4 packet at p.start. */
  private receive(p: Packet): void {
    const b = p.buf;
    const l3 = p.start;
    const ip = this.ip.wrap(b, l3, p.end - l3);
    const v = this.counters.values;
    v[C.rx]!++;
    if (ip.check() !== 0 || !ip.verifyChecksum()) { v[C['bad-ip']]!++; this.free(p); return; }
    if (ip.dstAddr() !== this.addr) { v[C['not-mine']]!++; this.free(p); return; }
    const proto = ip.protocol();
    const l4 = l3 + ip.headerLen();
    const l4len = ip.totalLen() - ip.headerLen();
    p.end = l3 + ip.totalLen();
    const info = this.info;
    info.src = ip.srcAddr();
    info.dst = ip.dstAddr();
    info.protocol = proto;
    info.ttl = ip.ttl();
    info.l3 = l3;
    info.l4 = l4;
    info.ifindex = 1;
    if (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp) { v[C['no-socket']]!++; this.free(p); return; }
    if (l4len < (proto === IpProtocol.Tcp ? 20 : 8)) { v[C['bad-ip']]!++; this.free(p); return; }
    const ck = readU16(b, l4 + (proto === IpProtocol.Udp ? 6 : 16));
    if ((proto === IpProtocol.Tcp || ck !== 0) && fold(sum16(b, l4, l4len, pseudoHeaderSum(info.src, info.dst, proto, l4len))) !== 0xffff) {
      v[C['bad-checksum']]!++;
      this.free(p);
      return;
    }
    info.sport = readU16(b, l4);
    info.dport = readU16(b, l4 + 2);
    if (proto === IpProtocol.Udp) {
      info.payload = l4 + 8;
      info.payloadLen = readU16(b, l4 + 4) - 8;
    } else {
      info.payload = l4 + ((b[l4 + 12]! >>> 4) << 2);
      info.payloadLen = l4 + l4len - info.payload;
    }
    const h = this.table(proto).get(info.dport);
    if (h === undefined) {
      v[C['no-socket']]!++;
      if (proto === IpProtocol.Tcp && replyRst(this, p, l3, l4, info.payloadLen, this.ident++ & 0xffff)) v[C['rst-sent']]!++;
      this.free(p);
      return;
    }
    if (p.trace !== 0) this.hop(p.trace, 'deliver', { protocol: proto, port: info.dport });
    h(p, info);
  }

  private fillSource(p: Packet): void {
    const ip = this.ip;
    ip.setSrcAddrFixChecksum(this.addr);
    const l4 = p.start + ip.headerLen();
    const proto = ip.protocol();
    const off = proto === IpProtocol.Tcp ? l4 + 16 : proto === IpProtocol.Udp ? l4 + 6 : -1;
    if (off < 0 || off + 2 > p.end) return;
    const old = readU16(p.buf, off);
    if (proto === IpProtocol.Udp && old === 0) return;
    const c = update32(old, 0, this.addr);
    writeU16(p.buf, off, proto === IpProtocol.Udp && c === 0 ? 0xffff : c);
  }

  private table(protocol: number): Map<number, L4Handler> {
    if (protocol === IpProtocol.Udp) return this.udp;
    if (protocol === IpProtocol.Tcp) return this.tcp;
    throw new Error(`${this.name}: cannot bind protocol ${protocol}`);
  }
}

/** Joins two fake hosts: each one's output goes to the other. */
export function wireHosts(engine: Engine, a: FakeHost, b: FakeHost): void {
  connect(engine, a.ports.out('out'), b.ports.in('in'));
  connect(engine, b.ports.out('out'), a.ports.in('in'));
}

/** TCP flags of the IPv4 packet at p.start, or -1 when it is not TCP (for `onWire` / `lose`). */
export function tcpFlagsOf(p: Packet): number {
  const b = p.buf;
  if (b[p.start + 9] !== IpProtocol.Tcp) return -1;
  return b[p.start + ((b[p.start]! & 0x0f) << 2) + 13]!;
}

/** TCP payload length of the IPv4 packet at p.start (0 when not TCP). */
export function tcpPayloadLenOf(p: Packet): number {
  const b = p.buf;
  if (b[p.start + 9] !== IpProtocol.Tcp) return 0;
  const l4 = p.start + ((b[p.start]! & 0x0f) << 2);
  return p.start + readU16(b, p.start + 2) - l4 - ((b[l4 + 12]! >>> 4) << 2);
}

/** Source address of the IPv4 packet at p.start. */
export function srcOf(p: Packet): number {
  return readU32(p.buf, p.start + 12);
}

/** IPv4 header checksum verification, for tests that build packets by hand. */
export function ipv4ChecksumOk(p: Packet): boolean {
  return checksum(p.buf, p.start, (p.buf[p.start]! & 0x0f) << 2) === 0;
}

/** Two wired fake hosts on one engine with a small pool: `pod1` 10.244.1.2 and `pod3` 10.244.2.2. */
export function fakePair(poolSize = 512, seed = 1): { engine: Engine; a: FakeHost; b: FakeHost } {
  const engine = new Engine({ seed, pool: { size: poolSize } });
  const a = new FakeHost(engine, 'pod1', 0x0af40102, 'node1');
  const b = new FakeHost(engine, 'pod3', 0x0af40202, 'node2');
  wireHosts(engine, a, b);
  return { engine, a, b };
}
