/**
 * Test helpers for the host devices: frame builders (with the wire emitters) and a `Port`
 * element that stands for whatever sits on the far side of a namespace's interface. It
 * injects frames into the interface and records (a copy of) every frame the namespace
 * transmits on it. Tests only: allocates freely.
 */
import { Counters } from '../../engine/counters.js';
import { connect, Ports, type OutPort } from '../../engine/element.js';
import type { Element } from '../../engine/element.js';
import type { Engine } from '../../engine/engine.js';
import type { Link } from '../../engine/link.js';
import { ArpOperation, emitArp } from '../../wire/arp.js';
import { emitEthernet, EtherType } from '../../wire/ethernet.js';
import { emitIcmp, type IcmpRepr } from '../../wire/icmp.js';
import { emitIpv4, IpProtocol } from '../../wire/ipv4.js';
import { emitTcp, fillTcpChecksum, type TcpRepr } from '../../wire/tcp.js';
import { emitUdp, fillUdpChecksum } from '../../wire/udp.js';
import { MAC_BROADCAST } from '../../wire/addr.js';
import type { NetNamespace } from '../netns.js';

export interface IpOpts {
  src: number;
  dst: number;
  ttl?: number;
  ident?: number;
  df?: boolean;
}

/** An Ethernet frame around an IPv4 packet whose payload is `l4` (already complete). */
export function ipFrame(dstMac: number, srcMac: number, ip: IpOpts, protocol: number, l4: Uint8Array): Buffer {
  const b = Buffer.alloc(14 + 20 + l4.length);
  emitEthernet({ dst: dstMac, src: srcMac, etherType: EtherType.Ipv4 }, b, 0);
  emitIpv4({
    src: ip.src, dst: ip.dst, protocol, ttl: ip.ttl ?? 64, payloadLen: l4.length, ident: ip.ident ?? 1,
    dscp: 0, ecn: 0, dontFrag: ip.df ?? true, moreFrags: false, fragOffset: 0,
  }, b, 14);
  b.set(l4, 34);
  return b;
}

export function icmpBytes(repr: IcmpRepr, len: number): Buffer {
  const b = Buffer.alloc(len);
  emitIcmp(repr, b, 0);
  return b;
}

export function echoFrame(dstMac: number, srcMac: number, ip: IpOpts, ident: number, seq: number, data: Uint8Array = new Uint8Array(8)): Buffer {
  return ipFrame(dstMac, srcMac, ip, IpProtocol.Icmp, icmpBytes({ kind: 'echo-request', ident, seq, data }, 8 + data.length));
}

export function udpFrame(dstMac: number, srcMac: number, ip: IpOpts, sport: number, dport: number, data: Uint8Array): Buffer {
  const u = Buffer.alloc(8 + data.length);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: data.length }, u, 0);
  u.set(data, 8);
  fillUdpChecksum(u, 0, ip.src, ip.dst);
  return ipFrame(dstMac, srcMac, ip, IpProtocol.Udp, u);
}

export function tcpFrame(dstMac: number, srcMac: number, ip: IpOpts, tcp: Omit<TcpRepr, 'options' | 'urgent' | 'window'>, data: Uint8Array = new Uint8Array(0)): Buffer {
  const t = Buffer.alloc(20 + data.length);
  emitTcp({ ...tcp, window: 64240, urgent: 0, options: [] }, t, 0);
  t.set(data, 20);
  fillTcpChecksum(t, 0, t.length, ip.src, ip.dst);
  return ipFrame(dstMac, srcMac, ip, IpProtocol.Tcp, t);
}

export function arpFrame(op: 'request' | 'reply', senderMac: number, senderIp: number, targetMac: number, targetIp: number): Buffer {
  const b = Buffer.alloc(14 + 28);
  emitEthernet({ dst: op === 'request' ? MAC_BROADCAST : targetMac, src: senderMac, etherType: EtherType.Arp }, b, 0);
  emitArp({
    operation: op === 'request' ? ArpOperation.Request : ArpOperation.Reply,
    senderMac, senderIp, targetMac: op === 'request' ? 0 : targetMac, targetIp,
  }, b, 14);
  return b;
}

/** The far side of one namespace interface: inject frames in, record frames out. */
export class Port implements Element {
  readonly kind = 'test-port';
  readonly ports: Ports;
  readonly counters = new Counters([]);
  readonly drops = new Counters([]);
  /** Copies of the frames the namespace transmitted on the interface, in order. */
  readonly frames: Buffer[] = [];
  private readonly out: OutPort;

  constructor(private readonly engine: Engine, readonly name: string) {
    this.ports = new Ports(engine, this);
    this.ports.addIn('in');
    this.out = this.ports.addOut('out');
  }

  /** Attaches to interface `ifname` of `ns` (both directions). */
  static on(engine: Engine, ns: NetNamespace, ifname: string): Port {
    const port = new Port(engine, `${ns.name}:${ifname}`);
    connect(engine, ns.ports.out(`if:${ifname}`), port.ports.in('in'));
    connect(engine, port.out, ns.ports.in(`if:${ifname}`));
    return port;
  }

  push(_port: number, link: Link): void {
    for (let p = link.receive(); p !== null; p = link.receive()) {
      this.frames.push(Buffer.from(p.buf.subarray(p.start, p.end)));
      this.engine.pool.free(p);
    }
  }

  /** Sends `frame` into the namespace (it arrives once the engine runs). */
  inject(frame: Uint8Array): void {
    const p = this.engine.pool.fromBytes(frame, 0, frame.length);
    if (p === null) throw new Error('pool exhausted');
    this.out.send(p);
  }

  /** Removes and returns the recorded frames. */
  take(): Buffer[] {
    return this.frames.splice(0, this.frames.length);
  }
}
