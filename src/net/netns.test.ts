/**
 * NetNamespace through its interfaces, in virtual time: a router namespace `r` with four
 * interfaces, each attached to a test Port that injects frames and records what `r` sends.
 *
 *   client 10.0.0.5 --- in 10.0.0.1/24
 *                       a  10.0.1.1/24
 *                   r   b  10.0.2.1/24  (MTU 1000)
 *                       c  10.0.3.1/24
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine } from '../engine/engine.js';
import { EtherType, EthernetFrame } from '../wire/ethernet.js';
import { ArpOperation, ArpPacket, parseArp } from '../wire/arp.js';
import { IcmpPacket, parseIcmp, type IcmpRepr } from '../wire/icmp.js';
import { Ipv4Packet, IpProtocol, parseIpv4Header, type Ipv4Repr } from '../wire/ipv4.js';
import { TcpFlag, TcpPacket, parseTcp } from '../wire/tcp.js';
import { MAC_BROADCAST, parseIpv4 as ip } from '../wire/addr.js';
import { NetNamespace, NETNS_DROPS } from './netns.js';
import { Veth } from './veth.js';
import { connect } from '../engine/element.js';
import { NeighState } from './neighbor.js';
import { Port, arpFrame, echoFrame, tcpFrame, udpFrame } from './testing/frames.js';

const CLIENT_MAC = 0x02_00_00_00_00_05;
const CLIENT = ip('10.0.0.5');
const MACS = { in: 0x02_00_00_00_01_00, a: 0x02_00_00_00_01_01, b: 0x02_00_00_00_01_02, c: 0x02_00_00_00_01_03 } as const;
type IfName = keyof typeof MACS;
const ADDRS: Record<IfName, string> = { in: '10.0.0.1', a: '10.0.1.1', b: '10.0.2.1', c: '10.0.3.1' };

function rig() {
  const e = new Engine({ pool: { size: 256 } });
  const r = new NetNamespace(e, { node: 'n1', name: 'r', forwarding: true });
  const ports = {} as Record<IfName, Port>;
  for (const n of Object.keys(MACS) as IfName[]) {
    r.addInterface(n, 'ether', MACS[n], n === 'b' ? 1000 : 1500);
    r.addAddress(n, ip(ADDRS[n]), 24);
    ports[n] = Port.on(e, r, n);
  }
  r.neighbors.update(CLIENT, CLIENT_MAC, r.iface('in')!.ifindex, 0);
  const full = e.pool.available;
  const drops = (): Record<string, number> => r.drops.toJSON();
  const send = (frame: Uint8Array, on: IfName = 'in'): void => { ports[on].inject(frame); e.runUntilIdle(); };
  return { e, r, ports, full, drops, send };
}

/** From the client, through `r` (dst MAC = r's `in`). */
const fromClient = (dst: string, o: { ttl?: number; ident?: number; df?: boolean } = {}) => ({ src: CLIENT, dst: ip(dst), ...o });
const ping = (dst: string, o: { ttl?: number; ident?: number; df?: boolean; size?: number } = {}): Buffer =>
  echoFrame(MACS.in, CLIENT_MAC, fromClient(dst, o), 0x1234, o.ident ?? 1, new Uint8Array((o.size ?? 64) - 28).fill(0x61));

interface Decoded { dstMac: number; srcMac: number; type: number; ip: Ipv4Repr; l4: Buffer }
/** Parses an Ethernet/IPv4 frame; parseIpv4Header fails (throws here) on a bad header checksum. */
function decode(f: Buffer): Decoded {
  const eth = new EthernetFrame().wrap(f, 0, f.length);
  expect(eth.check()).toBe(0);
  const type = eth.etherType();
  expect(type).toBe(EtherType.Ipv4);
  const r = parseIpv4Header(new Ipv4Packet().wrap(f, 14, f.length - 14));
  if (typeof r === 'number') throw new Error(`IPv4 parse error ${r}`);
  return { dstMac: eth.dstMac(), srcMac: eth.srcMac(), type, ip: r, l4: f.subarray(34, 34 + r.payloadLen) };
}
function icmpOf(d: Decoded): IcmpRepr {
  expect(d.ip.protocol).toBe(IpProtocol.Icmp);
  const r = parseIcmp(new IcmpPacket().wrap(d.l4, 0, d.l4.length)); // verifies the checksum
  if (typeof r === 'number') throw new Error(`ICMP parse error ${r}`);
  return r;
}
function arpOf(f: Buffer) {
  const r = parseArp(new ArpPacket().wrap(f, 14, f.length - 14));
  if (typeof r === 'number') throw new Error(`ARP parse error ${r}`);
  return r;
}

describe('NetNamespace routing', () => {
  it('chooses the longest matching prefix whatever the insertion order (/24 over /16 over default)', () => {
    const nh = { a: ip('10.0.1.9'), b: ip('10.0.2.9'), c: ip('10.0.3.9') };
    const orders: [string, number, 'a' | 'b' | 'c'][][] = [
      [['10.9.0.0', 16, 'a'], ['10.9.1.0', 24, 'b'], ['0.0.0.0', 0, 'c']],
      [['0.0.0.0', 0, 'c'], ['10.9.1.0', 24, 'b'], ['10.9.0.0', 16, 'a']],
      [['10.9.1.0', 24, 'b'], ['0.0.0.0', 0, 'c'], ['10.9.0.0', 16, 'a']],
    ];
    for (const order of orders) {
      const { r, ports, send } = rig();
      for (const [dst, prefix, dev] of order) r.addRoute({ dst: ip(dst), prefix, via: nh[dev], dev });
      for (const dev of ['a', 'b', 'c'] as const) r.neighbors.update(nh[dev], 0x02_00_00_00_09_00 + dev.charCodeAt(0), r.iface(dev)!.ifindex, 0);
      const cases: [string, IfName][] = [['10.9.1.77', 'b'], ['10.9.200.1', 'a'], ['10.10.0.1', 'c'], ['8.8.8.8', 'c'], ['10.0.2.77', 'b']];
      for (const [dst, dev] of cases) {
        if (dst === '10.0.2.77') r.neighbors.update(ip(dst), 0x02_00_00_00_07_07, r.iface('b')!.ifindex, 0); // connected /24
        send(ping(dst, { ttl: 9 }));
        const got = (Object.keys(MACS) as IfName[]).flatMap((n) => ports[n].take().map((f) => [n, f] as const));
        expect(got.map(([n]) => n), `${dst} via ${dev}`).toEqual([dev]);
        const d = decode(got[0]![1]);
        expect(d.srcMac).toBe(MACS[dev]);
        expect(d.dstMac).toBe(dst === '10.0.2.77' ? 0x02_00_00_00_07_07 : 0x02_00_00_00_09_00 + dev.charCodeAt(0));
        expect(d.ip.ttl).toBe(8); // decremented, header checksum verified by decode()
        expect(d.ip.dst).toBe(ip(dst));
      }
    }
  });

  it('answers an unroutable destination with ICMP net unreachable and counts no-route', () => {
    const { ports, drops, send, e, full } = rig();
    send(ping('192.0.2.1'));
    const [f] = ports.in.take();
    const d = decode(f!);
    expect(d.dstMac).toBe(CLIENT_MAC);
    expect(d.ip.src).toBe(ip('10.0.0.1'));
    expect(d.ip.dst).toBe(CLIENT);
    const m = icmpOf(d);
    expect(m.kind).toBe('dest-unreachable');
    if (m.kind !== 'dest-unreachable') return;
    expect(m.code).toBe(0);
    expect(Buffer.from(m.original.subarray(16, 20))).toEqual(Buffer.from([192, 0, 2, 1]));
    expect(drops()).toEqual({ 'no-route': 1 });
    expect(e.pool.available).toBe(full);
  });
});

describe('NetNamespace TTL and MTU', () => {
  it('forwards TTL 2 with TTL 1; answers TTL 1 with ICMP time exceeded (ttl-exceeded)', () => {
    const { r, ports, drops, send } = rig();
    r.neighbors.update(ip('10.0.1.2'), 0x02_00_00_00_0a_02, r.iface('a')!.ifindex, 0);
    send(ping('10.0.1.2', { ttl: 2 }));
    expect(decode(ports.a.take()[0]!).ip.ttl).toBe(1);
    send(ping('10.0.1.2', { ttl: 1, ident: 77 }));
    expect(ports.a.take()).toEqual([]);
    const d = decode(ports.in.take()[0]!);
    expect([d.ip.src, d.ip.dst]).toEqual([ip('10.0.0.1'), CLIENT]);
    const m = icmpOf(d);
    expect(m.kind).toBe('time-exceeded');
    if (m.kind !== 'time-exceeded') return;
    expect(m.code).toBe(0);
    // RFC 792: the original IP header (TTL still 1, ident 77) and the first 8 bytes of its payload.
    expect(m.original.length).toBe(64); // the whole datagram: it fits in a 576-byte error (RFC 1812, as Linux quotes)
    expect(d.ip.dscp).toBe(0xc0 >> 2); // TOS 0xc0: precedence internetwork control, as Linux sends errors
    expect(m.original[8]).toBe(1);
    expect((m.original[4]! << 8) | m.original[5]!).toBe(77);
    expect(m.original[20]).toBe(8); // the quoted echo request
    expect(drops()).toEqual({ 'ttl-exceeded': 1 });
  });

  it('answers a DF packet larger than the egress MTU with fragmentation needed, next-hop MTU 1000', () => {
    const { r, ports, drops, send } = rig();
    r.neighbors.update(ip('10.0.2.2'), 0x02_00_00_00_0b_02, r.iface('b')!.ifindex, 0);
    send(ping('10.0.2.2', { size: 1000 }));
    expect(decode(ports.b.take()[0]!).ip.payloadLen).toBe(980); // exactly the MTU passes
    send(ping('10.0.2.2', { size: 1001 }));
    expect(ports.b.take()).toEqual([]);
    const m = icmpOf(decode(ports.in.take()[0]!));
    expect(m).toMatchObject({ kind: 'dest-unreachable', code: 4, nextHopMtu: 1000 });
    send(ping('10.0.2.2', { size: 1200, df: false }));
    expect(ports.in.take()).toEqual([]);
    expect(drops()).toEqual({ 'frag-needed': 1, 'fragmentation-unsupported': 1 });
  });
});

describe('NetNamespace neighbour resolution', () => {
  it('queues packets while ARP is in flight and releases them in order on the reply', () => {
    const { r, ports, send, e, full } = rig();
    for (const id of [1, 2, 3]) send(ping('10.0.2.2', { ident: id }));
    const reqs = ports.b.take();
    expect(reqs.length).toBe(1); // one request for three packets
    expect(new EthernetFrame().wrap(reqs[0]!, 0, reqs[0]!.length).dstMac()).toBe(MAC_BROADCAST);
    expect(arpOf(reqs[0]!)).toMatchObject({ operation: ArpOperation.Request, senderMac: MACS.b, senderIp: ip('10.0.2.1'), targetIp: ip('10.0.2.2') });
    expect(r.neighbors.stateOf(ip('10.0.2.2'))).toBe(NeighState.Incomplete);
    const peer = 0x02_00_00_00_0b_02;
    send(arpFrame('reply', peer, ip('10.0.2.2'), MACS.b, ip('10.0.2.1')), 'b');
    const out = ports.b.take().map(decode);
    expect(out.map((d) => d.ip.ident)).toEqual([1, 2, 3]);
    expect(out.every((d) => d.dstMac === peer && d.srcMac === MACS.b && d.ip.ttl === 63)).toBe(true);
    expect(r.neighbors.stateOf(ip('10.0.2.2'))).toBe(NeighState.Reachable);
    send(ping('10.0.2.2', { ident: 4 }));
    expect(ports.b.take().map((f) => decode(f).ip.ident)).toEqual([4]); // resolved: no new request
    expect(e.pool.available).toBe(full);
  });

  it('bounds the queue: packets beyond pendingMax are dropped as neighbor-queue-full', () => {
    const { r, ports, drops, send } = rig();
    const max = r.neighbors.pendingMax;
    for (let i = 0; i < max + 4; i++) send(ping('10.0.2.2', { ident: i }));
    expect(drops()).toEqual({ 'neighbor-queue-full': 4 });
    expect(ports.b.take().length).toBe(1);
    send(arpFrame('reply', 0x02_00_00_00_0b_02, ip('10.0.2.2'), MACS.b, ip('10.0.2.1')), 'b');
    expect(ports.b.take().map((f) => decode(f).ip.ident)).toEqual([...Array(max).keys()]);
  });

  it('gives up after 3 unanswered probes, 1 s apart: queued packets dropped as neighbor-unreachable after 3 s', () => {
    const { r, ports, drops, send, e, full } = rig();
    send(ping('10.0.2.2', { ident: 1 }));
    send(ping('10.0.2.2', { ident: 2 }));
    const requests = (): number => ports.b.frames.filter((f) => f.readUInt16BE(12) === EtherType.Arp).length;
    expect(requests()).toBe(1);
    e.advance(999);
    expect(requests()).toBe(1);
    e.advance(1);
    expect(requests()).toBe(2);
    e.advance(1000);
    expect(requests()).toBe(3);
    expect(drops()).toEqual({});
    e.advance(999);
    expect(drops()).toEqual({});
    e.advance(1);
    expect(requests()).toBe(3);
    expect(drops()).toEqual({ 'neighbor-unreachable': 2 });
    expect(r.neighbors.stateOf(ip('10.0.2.2'))).toBe(NeighState.Failed);
    expect(e.pool.available).toBe(full);
    // A new packet restarts resolution, as Linux does.
    send(ping('10.0.2.2', { ident: 3 }));
    expect(requests()).toBe(4);
  });

  it('a forwarded packet whose ARP fails gets ICMP host unreachable (3/1) back to its sender after the 3 s, as arp_error_report sends it', () => {
    const { ports, drops, send, e, full } = rig();
    send(ping('10.0.2.2', { ident: 41 }));
    e.advance(2999);
    expect(ports.in.take()).toEqual([]); // nothing before the third request went unanswered
    e.advance(1);
    const errs = ports.in.take().map(decode);
    expect(errs.length).toBe(1);
    const d = errs[0]!;
    expect([d.ip.src, d.ip.dst]).toEqual([ip('10.0.0.1'), CLIENT]); // from the address it came in on
    const m = icmpOf(d);
    expect(m.kind).toBe('dest-unreachable');
    if (m.kind !== 'dest-unreachable') return;
    expect(m.code).toBe(1); // ICMP_HOST_UNREACH
    expect((m.original[4]! << 8) | m.original[5]!).toBe(41); // quotes the packet that waited (IPv4 ident)
    expect(m.original[20]).toBe(8);
    expect(drops()).toEqual({ 'neighbor-unreachable': 1 });
    expect(e.pool.available).toBe(full);
  });

  it('answers ARP requests for its own addresses in place and ignores the rest', () => {
    const { ports, drops, send } = rig();
    send(arpFrame('request', CLIENT_MAC, CLIENT, 0, ip('10.0.0.1')));
    const [f] = ports.in.take();
    expect(new EthernetFrame().wrap(f!, 0, f!.length).dstMac()).toBe(CLIENT_MAC);
    expect(arpOf(f!)).toEqual({ operation: ArpOperation.Reply, senderMac: MACS.in, senderIp: ip('10.0.0.1'), targetMac: CLIENT_MAC, targetIp: CLIENT });
    send(arpFrame('request', 0x02_00_00_00_00_06, ip('10.0.0.6'), 0, ip('10.0.0.99')));
    expect(ports.in.take()).toEqual([]);
    expect(drops()).toEqual({ 'arp-not-for-us': 1 });
  });
});

describe('NetNamespace local delivery', () => {
  it('answers an echo request in place: addresses swapped, type 0, both checksums valid', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 64 }), (ident, seq, data) => {
      const { ports, send, e, full } = rig();
      send(echoFrame(MACS.in, CLIENT_MAC, fromClient('10.0.1.1', { ttl: 7 }), ident, seq, data));
      const out = ports.in.take();
      expect(out.length).toBe(1);
      const d = decode(out[0]!); // header checksum verified
      expect([d.ip.src, d.ip.dst, d.ip.ttl, d.dstMac]).toEqual([ip('10.0.1.1'), CLIENT, 64, CLIENT_MAC]);
      expect(icmpOf(d)).toEqual({ kind: 'echo-reply', ident, seq, data: new Uint8Array(data) }); // ICMP checksum verified
      expect(e.pool.available).toBe(full);
    }), { numRuns: 200 });
  });

  it('answers UDP to a closed port with ICMP port unreachable (no-socket)', () => {
    const { ports, drops, send } = rig();
    send(udpFrame(MACS.in, CLIENT_MAC, fromClient('10.0.0.1'), 40000, 9999, Buffer.from('hello')));
    const d = decode(ports.in.take()[0]!);
    expect([d.ip.src, d.ip.dst]).toEqual([ip('10.0.0.1'), CLIENT]);
    const m = icmpOf(d);
    expect(m).toMatchObject({ kind: 'dest-unreachable', code: 3 });
    if (m.kind !== 'dest-unreachable') return;
    expect((m.original[22]! << 8) | m.original[23]!).toBe(9999); // quoted UDP header
    expect(drops()).toEqual({ 'no-socket': 1 });
  });

  it('delivers UDP to a bound socket, with the info of the datagram', () => {
    const { r, send, ports } = rig();
    const got: string[] = [];
    r.bind(IpProtocol.Udp, 53, (p, info) => {
      got.push(`${info.src}:${info.sport}->${info.dport} ${p.buf.subarray(info.payload, info.payload + info.payloadLen).toString()}`);
      r.free(p);
    });
    send(udpFrame(MACS.in, CLIENT_MAC, fromClient('10.0.3.1'), 40000, 53, Buffer.from('q')));
    expect(got).toEqual([`${CLIENT}:40000->53 q`]);
    expect(ports.in.take()).toEqual([]);
  });

  it('answers TCP to a closed port with a RST (RST|ACK for a SYN, RST seq=ack for an ACK)', () => {
    const { ports, drops, send } = rig();
    const ipo = fromClient('10.0.0.1');
    send(tcpFrame(MACS.in, CLIENT_MAC, ipo, { srcPort: 41000, dstPort: 81, seq: 1000, ack: 0, flags: TcpFlag.SYN }));
    const rst = (f: Buffer) => {
      const d = decode(f);
      expect([d.ip.src, d.ip.dst]).toEqual([ip('10.0.0.1'), CLIENT]);
      const t = parseTcp(new TcpPacket().wrap(d.l4, 0, d.l4.length), d.ip.src, d.ip.dst); // checksum verified
      if (typeof t === 'number') throw new Error(`TCP parse error ${t}`);
      return t;
    };
    expect(rst(ports.in.take()[0]!)).toMatchObject({ srcPort: 81, dstPort: 41000, seq: 0, ack: 1001, flags: TcpFlag.RST | TcpFlag.ACK });
    send(tcpFrame(MACS.in, CLIENT_MAC, ipo, { srcPort: 41000, dstPort: 81, seq: 1000, ack: 5555, flags: TcpFlag.ACK }, Buffer.from('data')));
    expect(rst(ports.in.take()[0]!)).toMatchObject({ seq: 5555, flags: TcpFlag.RST });
    send(tcpFrame(MACS.in, CLIENT_MAC, ipo, { srcPort: 41000, dstPort: 81, seq: 1000, ack: 0, flags: TcpFlag.RST }));
    expect(ports.in.take()).toEqual([]); // never a RST for a RST
    expect(drops()).toEqual({ 'no-socket': 3 });
  });
});

describe('NetNamespace malformed input', () => {
  const good = (): Buffer => ping('10.0.0.1');
  const cases: [string, (f: Buffer) => Buffer, string][] = [
    ['bad header checksum', (f) => { f[24] = f[24]! ^ 0xff; return f; }, 'bad-checksum'],
    ['bad version', (f) => { f[14] = 0x65; return f; }, 'ipv4-bad-version'],
    ['IHL below 5', (f) => { f[14] = 0x44; return f; }, 'ipv4-bad-header-length'],
    ['total length past the frame', (f) => { f.writeUInt16BE(2000, 16); return f; }, 'ipv4-bad-length'],
    ['truncated IPv4 header', (f) => f.subarray(0, 14 + 12), 'ipv4-truncated'],
    ['runt frame', (f) => f.subarray(0, 10), 'runt'],
    ['frame for another host', (f) => { f[0] = 0x02; f[5] = 0x77; return f; }, 'other-host'],
    ['unknown EtherType', (f) => { f.writeUInt16BE(0x88b5, 12); return f; }, 'unknown-ethertype'],
    ['bad ICMP checksum', (f) => { f[37] = f[37]! ^ 0x01; return f; }, 'bad-checksum'],
    // Linux ip_route_input_slow's martians (route_localnet, accept_local off).
    ['loopback source', (f) => readdress(f, '127.0.0.5'), 'martian-source'],
    ['source that is the address it is sent to (LAND)', (f) => readdress(f, '10.0.0.1'), 'martian-source'],
    ['source that is an address of another own interface', (f) => readdress(f, '10.0.3.1'), 'martian-source'],
    ['forwarded packet with an own address as source', (f) => readdress(f, '10.0.1.1', '10.0.2.77'), 'martian-source'],
    ['zero source', (f) => readdress(f, '0.0.0.0'), 'martian-source'],
    ['multicast source', (f) => readdress(f, '224.0.0.1'), 'martian-source'],
    ['limited broadcast source', (f) => readdress(f, '255.255.255.255'), 'martian-source'],
    ['destination 0.0.0.0', (f) => readdress(f, undefined, '0.0.0.0'), 'martian-destination'],
    ['destination in 0/8', (f) => readdress(f, undefined, '0.1.2.3'), 'martian-destination'],
    ['loopback destination', (f) => readdress(f, undefined, '127.0.0.1'), 'martian-destination'],
  ];
  for (const [what, mangle, reason] of cases) {
    it(`drops a ${what} as ${reason}, without a throw or a leak`, () => {
      const { ports, drops, send, e, full } = rig();
      expect(() => send(mangle(good()))).not.toThrow();
      expect(drops()).toEqual({ [reason]: 1 });
      expect(ports.in.take()).toEqual([]);
      expect(e.pool.available).toBe(full);
    });
  }

  it('never throws on arbitrary bytes, and frees every packet', () => {
    const { ports, send, e, full, r } = rig();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, asIp) => {
      const f = Buffer.from(bytes);
      if (asIp && f.length >= 14) { // aim at our MAC and the IPv4 path, so the body gets parsed
        f.writeUIntBE(MACS.in, 0, 6);
        f.writeUInt16BE(EtherType.Ipv4, 12);
      }
      send(f);
      e.advance(5000);
      for (const p of Object.values(ports)) p.take();
      return e.pool.available === full;
    }), { numRuns: 500 });
    const total = r.drops.values.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(r.drops.names).toEqual(NETNS_DROPS);
  });
});

/** Rewrites the IPv4 source and/or destination of a frame and fixes the header checksum (ICMP has no pseudo-header). */
function readdress(f: Buffer, src?: string, dst?: string): Buffer {
  if (src !== undefined) f.writeUInt32BE(ip(src), 26);
  if (dst !== undefined) f.writeUInt32BE(ip(dst), 30);
  f.writeUInt16BE(0, 24);
  f.writeUInt16BE(ipChecksum(f), 24);
  return f;
}

function ipChecksum(f: Buffer): number {
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += f.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('NetNamespace between veth pairs', () => {
  it('pings across a router: ARP on both sides, TTL decremented, reply back, no leak', () => {
    const e = new Engine({ pool: { size: 64 } });
    const mk = (name: string, fwd = false) => new NetNamespace(e, { node: 'n1', name, forwarding: fwd });
    const h1 = mk('h1');
    const h2 = mk('h2');
    const r = mk('r', true);
    const pair = (x: NetNamespace, xi: string, xm: number, y: NetNamespace, yi: string, ym: number) => {
      const a = x.addInterface(xi, 'veth', xm, 1500);
      const b = y.addInterface(yi, 'veth', ym, 1500);
      const v = new Veth(e, `${x.name}-${y.name}`, { a: { where: a.where, ifindex: a.ifindex, mac: xm, mtu: 1500 }, b: { where: b.where, ifindex: b.ifindex, mac: ym, mtu: 1500 } });
      connect(e, x.ports.out(`if:${xi}`), v.ports.in('a'));
      connect(e, v.ports.out('a'), x.ports.in(`if:${xi}`));
      connect(e, y.ports.out(`if:${yi}`), v.ports.in('b'));
      connect(e, v.ports.out('b'), y.ports.in(`if:${yi}`));
    };
    pair(h1, 'eth0', 0x02_00_00_00_00_11, r, 'v1', 0x02_00_00_00_00_01);
    pair(h2, 'eth0', 0x02_00_00_00_00_22, r, 'v2', 0x02_00_00_00_00_02);
    h1.addAddress('eth0', ip('10.1.0.2'), 24);
    h2.addAddress('eth0', ip('10.2.0.2'), 24);
    r.addAddress('v1', ip('10.1.0.1'), 24);
    r.addAddress('v2', ip('10.2.0.1'), 24);
    h1.addRoute({ dst: 0, prefix: 0, via: ip('10.1.0.1'), dev: 'eth0' });
    h2.addRoute({ dst: 0, prefix: 0, via: ip('10.2.0.1'), dev: 'eth0' });
    const full = e.pool.available;
    const replies: number[] = [];
    h1.bind(IpProtocol.Icmp, 0x77, (p, info) => { replies.push(info.ttl); h1.free(p); });
    const f = echoFrame(0, 0, { src: ip('10.1.0.2'), dst: ip('10.2.0.2') }, 0x77, 1);
    const p = h1.alloc()!;
    f.copy(p.buf, p.start, 14);
    p.end = p.start + f.length - 14;
    p.trace = e.trace.begin();
    const id = p.trace;
    h1.output(p);
    e.advance(10);
    expect(replies).toEqual([63]); // h2 answers with TTL 64, r decrements it once
    const hops = e.trace.hops(id).map((h) => `${h.netns}:${h.action}`);
    expect(hops).toEqual(expect.arrayContaining(['h1:arp-request', 'h1:arp-reply', 'r:forward', 'r:arp-request', 'h2:deliver']));
    expect(r.counters.get('forwarded')).toBe(2);
    expect(Object.keys(r.drops.toJSON())).toEqual([]);
    expect(e.pool.available).toBe(full);
  });
});
