import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import type { Packet } from '../engine/packet.js';
import { Verdict } from '../net/hooks.js';
import { parseIpv4, readU16, readU32 } from '../wire/addr.js';
import { ConntrackTable, CtDir, CtStatus, NatFlag, TcpState } from './conntrack.js';
import { CT_INVALID, MARK_MASQ, NatHooks, type DnatDecision, type NatPolicy } from './nat-hooks.js';
import { buildIcmpError, buildPacket, recomputeAll, type PacketSpec } from './test-packets.js';

const ip = parseIpv4;
const TCP = 6, UDP = 17, ICMP = 1;
const SYN = 0x02, ACK = 0x10, FIN = 0x01;
const CLIENT = ip('10.244.1.2'), VIP = ip('10.96.0.20'), VIP2 = ip('10.96.0.21');
const EP = ip('10.244.2.2'), NODE = ip('10.244.1.1'), REMOTE = ip('192.0.2.7');
const WHERE = { node: 'node1', netns: 'root', device: '' };

class FakePolicy implements NatPolicy {
  dnatCalls = 0;
  snatCalls: { proto: number; origSrc: number; origDst: number; natDst: number; natDport: number; outIf: number; mark: number }[] = [];
  releasedTags: number[] = [];
  /** VIP:port -> [endpoint, port, tag] */
  services = new Map<string, [number, number, number]>([
    [`${VIP}:80`, [EP, 8080, 7]], [`${VIP2}:80`, [EP, 8080, 8]], [`${VIP}:53`, [EP, 5353, 9]],
  ]);

  dnat(proto: number, src: number, dst: number, sport: number, dport: number, inIf: number, traced: boolean, out: DnatDecision): boolean {
    this.dnatCalls++;
    const s = this.services.get(`${dst}:${proto === ICMP ? 0 : dport}`);
    if (s === undefined) return false;
    out.ip = s[0];
    out.port = proto === ICMP ? sport : s[1];
    out.tag = s[2];
    // Hairpin: an endpoint reaching itself through the VIP needs SNAT (kube-proxy's KUBE-MARK-MASQ).
    out.mark = src === s[0] ? MARK_MASQ : 0;
    if (traced) out.detail = { service: 'default/svc', vip: '10.96.0.20', endpoint: '10.244.2.2:8080', inIf };
    return true;
  }

  snat(proto: number, origSrc: number, origDst: number, natDst: number, natDport: number, outIf: number, mark: number): number {
    this.snatCalls.push({ proto, origSrc, origDst, natDst, natDport, outIf, mark });
    if ((mark & MARK_MASQ) !== 0) return NODE;
    if (natDst === REMOTE) return ip('172.16.0.1'); // masquerade towards the outside
    return 0;
  }

  released(tag: number): void {
    this.releasedTags.push(tag);
  }
}

function setup(capacity = 64): { engine: Engine; table: ConntrackTable; policy: FakePolicy; hooks: NatHooks } {
  const engine = new Engine({ pool: { size: 32 } });
  const table = new ConntrackTable({ capacity });
  const policy = new FakePolicy();
  return { engine, table, policy, hooks: new NatHooks(engine, WHERE, table, policy) };
}

function packet(engine: Engine, s: PacketSpec): Packet {
  const p = engine.pool.alloc()!;
  p.end = p.start + buildPacket(s, p.buf, p.start);
  p.setIpv4(p.start);
  return p;
}

/** [src, dst, sport, dport] of the packet (ICMP echo: identifier as both ports). */
function tuple(p: Packet): [number, number, number, number] {
  const l4 = p.l3 + 20;
  const icmp = p.buf[p.l3 + 9] === ICMP;
  return [readU32(p.buf, p.l3 + 12), readU32(p.buf, p.l3 + 16), readU16(p.buf, l4 + (icmp ? 4 : 0)), readU16(p.buf, l4 + (icmp ? 4 : 2))];
}

function expectChecksumsValid(p: Packet): void {
  const bytes = Uint8Array.from(p.buf.subarray(p.l3, p.end));
  const copy = Uint8Array.from(bytes);
  recomputeAll(copy, 0);
  expect(bytes).toEqual(copy);
}

/** One packet through PREROUTING then POSTROUTING (a forwarded packet). */
function forward(h: NatHooks, p: Packet, inIf = 1, outIf = 2): number {
  const v = h.prerouting(p, p.l3, inIf);
  if (v !== Verdict.Accept) return v;
  return h.postrouting(p, p.l3, outIf);
}

describe('NatHooks: frames a bridge switches (br_netfilter entry points)', () => {
  const BRIDGE = { node: 'node1', netns: 'root', device: 'cbr0' };
  /** One frame through the bridged PREROUTING then POSTROUTING. */
  const bridged = (h: NatHooks, p: Packet): number => {
    const v = h.bridgedPrerouting(p, p.l3, 4, BRIDGE);
    return v !== Verdict.Accept ? v : h.bridgedPostrouting(p, p.l3, 4, BRIDGE);
  };

  it('a header-only copy of a frame (Packet.missing, the TAP fast path\'s probe) counts its whole payload in the TCP window', () => {
    for (const withMissing of [true, false]) {
      const { engine, table, hooks } = setup();
      const send = (s: PacketSpec, missing: number): number => {
        const p = packet(engine, s);
        if (withMissing) p.missing = missing;
        const v = bridged(hooks, p);
        if (v === Verdict.Accept) engine.pool.free(p);
        return p.ct;
      };
      const A = ip('10.244.1.2'), B = ip('10.244.1.3');
      send({ proto: TCP, src: A, dst: B, sport: 40000, dport: 5201, flags: SYN, seq: 1000, ack: 0 }, 0);
      send({ proto: TCP, src: B, dst: A, sport: 5201, dport: 40000, flags: SYN | ACK, seq: 5000, ack: 1001 }, 0);
      send({ proto: TCP, src: A, dst: B, sport: 40000, dport: 5201, flags: ACK, seq: 1001, ack: 5001 }, 0);
      // a 3000-byte GSO frame A -> B whose probe holds only its headers, then B acknowledging all of it
      send({ proto: TCP, src: A, dst: B, sport: 40000, dport: 5201, flags: ACK, seq: 1001, ack: 5001 }, 3000);
      const ackCt = send({ proto: TCP, src: B, dst: A, sport: 5201, dport: 40000, flags: ACK, seq: 5001, ack: 4001 }, 0);
      // without the missing bytes conntrack never saw the data: "ACK is over the upper bound", INVALID
      expect(ackCt === CT_INVALID).toBe(!withMissing);
      expect(table.stats.invalid).toBe(withMissing ? 0 : 1);
    }
  });

  it('tracks and NATs as routed, without conntrack hops; an un-DNAT shows at the bridge, marked bridged, address only in `from`', () => {
    const { engine, table, hooks } = setup();
    const syn = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    expect(forward(hooks, syn)).toBe(Verdict.Accept); // the request was routed (it went up to the node for the VIP)
    const synack = packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 8080, dport: 40000, flags: SYN | ACK });
    synack.trace = engine.trace.begin();
    expect(bridged(hooks, synack)).toBe(Verdict.Accept);
    expect(tuple(synack)).toEqual([VIP, CLIENT, 80, 40000]);
    expectChecksumsValid(synack);
    expect(engine.trace.hops(synack.trace).map((h) => [h.device, h.action, h.detail])).toEqual([
      ['cbr0', 'un-dnat', { from: '10.244.2.2', to: '10.96.0.20:80', conntrack: 'reply', bridged: true }],
    ]);
    expect(table.tcpState(synack.ct)).toBe(TcpState.SynRecv);
    expect(hooks.counters.toJSON()).toEqual({ new: 1, reply: 1, dnat: 1, 'un-dnat': 1 });
  });

  it('a frame NAT leaves alone records no hop at all, but its connection is tracked', () => {
    const { engine, table, hooks } = setup();
    const p = packet(engine, { proto: UDP, src: CLIENT, dst: EP, sport: 40000, dport: 9000 });
    p.trace = engine.trace.begin();
    expect(bridged(hooks, p)).toBe(Verdict.Accept);
    expect(engine.trace.hops(p.trace)).toEqual([]);
    expect(table.isConfirmed(p.ct)).toBe(true);
    expect(hooks.counters.toJSON()).toEqual({ new: 1 });
  });

  it('a bridged frame dropped by conntrack keeps its drop hop (the verdict comes back as Stolen)', () => {
    const { engine, table, hooks } = setup(1);
    // One ASSURED connection fills the table (early_drop may not evict it).
    expect(bridged(hooks, packet(engine, { proto: TCP, src: CLIENT, dst: EP, sport: 40000, dport: 80, flags: SYN }))).toBe(Verdict.Accept);
    expect(bridged(hooks, packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 80, dport: 40000, flags: SYN | ACK }))).toBe(Verdict.Accept);
    const ack = packet(engine, { proto: TCP, src: CLIENT, dst: EP, sport: 40000, dport: 80, flags: ACK });
    expect(bridged(hooks, ack)).toBe(Verdict.Accept);
    expect(table.status(ack.ct) & CtStatus.Assured).toBe(CtStatus.Assured);
    const p = packet(engine, { proto: TCP, src: CLIENT, dst: EP, sport: 40001, dport: 80, flags: SYN });
    const id = engine.trace.begin();
    p.trace = id;
    expect(hooks.bridgedPrerouting(p, p.l3, 4, BRIDGE)).toBe(Verdict.Stolen);
    expect(engine.trace.hops(id).map((h) => [h.device, h.action, h.detail])).toEqual([['', 'drop', { reason: 'conntrack-table-full' }]]);
  });
});

describe('NatHooks.passesUnchanged: the lookup a frame switched outside the engine is asked (Bridge.switchOutside)', () => {
  const BRIDGE = { node: 'node1', netns: 'root', device: 'cbr0' };
  const bridged = (h: NatHooks, p: Packet): number => {
    const v = h.bridgedPrerouting(p, p.l3, 4, BRIDGE);
    return v !== Verdict.Accept ? v : h.bridgedPostrouting(p, p.l3, 4, BRIDGE);
  };
  it('true only for a confirmed entry without NAT and a segment without SYN, and it changes nothing it looks at', () => {
    const { engine, table, hooks } = setup();
    const seg = (src: number, dst: number, sport: number, dport: number, flags: number): Packet =>
      packet(engine, { proto: TCP, src, dst, sport, dport, flags });
    const syn = seg(CLIENT, EP, 40000, 80, SYN);
    expect(hooks.passesUnchanged(syn, syn.l3)).toBe(false); // no entry: the engine creates it
    expect(bridged(hooks, syn)).toBe(Verdict.Accept);
    const synack = seg(EP, CLIENT, 80, 40000, SYN | ACK);
    expect(hooks.passesUnchanged(synack, synack.l3)).toBe(false); // a SYN
    expect(bridged(hooks, synack)).toBe(Verdict.Accept);
    const ack = seg(CLIENT, EP, 40000, 80, ACK);
    const e = syn.ct;
    const before = { stats: { ...table.stats }, counters: hooks.counters.toJSON(), deadline: table.deadlineOf(e), state: table.tcpState(e), size: table.count };
    for (let i = 0; i < 3; i++) expect(hooks.passesUnchanged(ack, ack.l3)).toBe(true);
    expect({ stats: { ...table.stats }, counters: hooks.counters.toJSON(), deadline: table.deadlineOf(e), state: table.tcpState(e), size: table.count }).toEqual(before);
    expect(ack.ct).toBe(-1); // the packet was only looked at
    // A DNATed connection: its packets would be rewritten, so they go to the engine.
    const vsyn = seg(CLIENT, VIP, 40001, 80, SYN);
    expect(bridged(hooks, vsyn)).toBe(Verdict.Accept);
    const reply = seg(EP, CLIENT, 8080, 40001, ACK);
    expect(hooks.passesUnchanged(reply, reply.l3)).toBe(false);
    // Not tracked as a connection of its own (an ICMP error) or not tracked at all: the engine.
    const udpNew = packet(engine, { proto: UDP, src: CLIENT, dst: EP, sport: 5000, dport: 53 });
    expect(hooks.passesUnchanged(udpNew, udpNew.l3)).toBe(false);
    // Expired: left for the real lookup to release.
    engine.advance(10 * 24 * 3600 * 1000);
    expect(hooks.passesUnchanged(ack, ack.l3)).toBe(false);
    expect(table.count).toBe(before.size + 1);
  });
});

describe('NatHooks: a TCP connection to a service VIP', () => {
  it('DNATs the first packet, un-DNATs the reply, and takes later packets from the table', () => {
    const { engine, table, policy, hooks } = setup();
    const syn = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    syn.trace = engine.trace.begin();
    expect(hooks.prerouting(syn, syn.l3, 3)).toBe(Verdict.Accept);
    expect(tuple(syn)).toEqual([CLIENT, EP, 40000, 8080]);
    expect(syn.ct).toBeGreaterThanOrEqual(0);
    expect(syn.ctDir).toBe(CtDir.Original);
    expect(hooks.postrouting(syn, syn.l3, 2)).toBe(Verdict.Accept);
    expect(tuple(syn)).toEqual([CLIENT, EP, 40000, 8080]);
    expectChecksumsValid(syn);
    expect(policy.snatCalls).toEqual([{ proto: TCP, origSrc: CLIENT, origDst: VIP, natDst: EP, natDport: 8080, outIf: 2, mark: 0 }]);
    const e = syn.ct;
    expect(table.natFlags(e)).toBe(NatFlag.Dnat);
    expect(table.tag(e)).toBe(7);
    expect(table.tcpState(e)).toBe(TcpState.SynSent);
    const hops = engine.trace.hops(syn.trace);
    expect(hops.map((h) => h.action)).toEqual(['conntrack', 'dnat']);
    expect(hops[0]!.detail).toMatchObject({ state: 'new', proto: 'tcp', tcp: 'SYN_SENT', orig: '10.244.1.2:40000 -> 10.96.0.20:80', reply: '10.244.2.2:8080 -> 10.244.1.2:40000' });
    expect(hops[1]!.detail).toEqual({ service: 'default/svc', vip: '10.96.0.20', endpoint: '10.244.2.2:8080', inIf: 3 });

    const synack = packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 8080, dport: 40000, flags: SYN | ACK });
    synack.trace = engine.trace.begin();
    expect(forward(hooks, synack)).toBe(Verdict.Accept);
    expect(synack.ct).toBe(e);
    expect(synack.ctDir).toBe(CtDir.Reply);
    expect(tuple(synack)).toEqual([VIP, CLIENT, 80, 40000]);
    expectChecksumsValid(synack);
    expect(engine.trace.hops(synack.trace).map((h) => [h.action, h.detail])).toEqual([
      ['conntrack', expect.objectContaining({ state: 'reply', tcp: 'SYN_RECV' })],
      ['un-dnat', { from: '10.244.2.2:8080', to: '10.96.0.20:80', conntrack: 'reply' }],
    ]);

    const ack = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK });
    expect(forward(hooks, ack)).toBe(Verdict.Accept);
    expect(tuple(ack)).toEqual([CLIENT, EP, 40000, 8080]);
    expectChecksumsValid(ack);
    expect(policy.dnatCalls).toBe(1);
    expect(policy.snatCalls).toHaveLength(1);
    expect(table.tcpState(e)).toBe(TcpState.Established);
    expect(table.status(e) & CtStatus.Assured).toBe(CtStatus.Assured);
    expect(hooks.counters.toJSON()).toEqual({ new: 1, established: 1, reply: 1, dnat: 2, 'un-dnat': 1 });
    expect(table.dump(engine.now())).toContain('ESTABLISHED src=10.244.1.2 dst=10.96.0.20 sport=40000 dport=80 src=10.244.2.2 dst=10.244.1.2 sport=8080 dport=40000 [ASSURED]');
  });

  it('hairpin: an endpoint reaching itself via the VIP is SNATed to the node and un-SNATed back', () => {
    const { engine, table, policy, hooks } = setup();
    const syn = packet(engine, { proto: TCP, src: EP, dst: VIP, sport: 41000, dport: 80, flags: SYN });
    expect(forward(hooks, syn)).toBe(Verdict.Accept);
    expect(syn.mark & MARK_MASQ).toBe(MARK_MASQ);
    expect(policy.snatCalls[0]!.mark).toBe(MARK_MASQ);
    expect(tuple(syn)).toEqual([NODE, EP, 41000, 8080]);
    expectChecksumsValid(syn);
    const e = syn.ct;
    expect(table.natFlags(e)).toBe(NatFlag.Dnat | NatFlag.Snat);
    expect([table.replySrc(e), table.replyDst(e), table.replySport(e), table.replyDport(e)]).toEqual([EP, NODE, 8080, 41000]);

    const synack = packet(engine, { proto: TCP, src: EP, dst: NODE, sport: 8080, dport: 41000, flags: SYN | ACK });
    synack.trace = engine.trace.begin();
    expect(forward(hooks, synack)).toBe(Verdict.Accept);
    expect(tuple(synack)).toEqual([VIP, EP, 80, 41000]);
    expectChecksumsValid(synack);
    expect(engine.trace.hops(synack.trace).map((h) => h.action)).toEqual(['conntrack', 'un-snat', 'un-dnat']);
    expect(table.dump(engine.now())).toContain('src=10.244.2.2 dst=10.96.0.20 sport=41000 dport=80 src=10.244.2.2 dst=10.244.1.1 sport=8080 dport=41000');
  });

  it('masquerade picks another source port when the SNATed tuple is taken', () => {
    const { engine, table, hooks } = setup();
    const a = packet(engine, { proto: UDP, src: CLIENT, dst: REMOTE, sport: 5000, dport: 53 });
    const b = packet(engine, { proto: UDP, src: ip('10.244.1.3'), dst: REMOTE, sport: 5000, dport: 53 });
    expect(forward(hooks, a)).toBe(Verdict.Accept);
    expect(forward(hooks, b)).toBe(Verdict.Accept);
    const masq = ip('172.16.0.1');
    expect(tuple(a)).toEqual([masq, REMOTE, 5000, 53]);
    expect(tuple(b)).toEqual([masq, REMOTE, 5001, 53]);
    expectChecksumsValid(b);
    expect(hooks.counters.get('port-remap')).toBe(1);
    const reply = packet(engine, { proto: UDP, src: REMOTE, dst: masq, sport: 53, dport: 5001 });
    expect(forward(hooks, reply)).toBe(Verdict.Accept);
    expect(tuple(reply)).toEqual([REMOTE, ip('10.244.1.3'), 53, 5000]);
    expectChecksumsValid(reply);
    expect(table.count).toBe(2);
  });

  it('remaps the source port when two services lead one client port to the same endpoint', () => {
    const { engine, table, hooks } = setup();
    const a = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    const b = packet(engine, { proto: TCP, src: CLIENT, dst: VIP2, sport: 40000, dport: 80, flags: SYN });
    expect(forward(hooks, a)).toBe(Verdict.Accept);
    expect(forward(hooks, b)).toBe(Verdict.Accept);
    expect(tuple(a)).toEqual([CLIENT, EP, 40000, 8080]);
    expect(tuple(b)).toEqual([CLIENT, EP, 40001, 8080]);
    expectChecksumsValid(b);
    const reply = packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 8080, dport: 40001, flags: SYN | ACK });
    expect(forward(hooks, reply)).toBe(Verdict.Accept);
    expect(tuple(reply)).toEqual([VIP2, CLIENT, 80, 40000]);
    expect(table.tag(reply.ct)).toBe(8);
  });

  it('table full: a NEW connection is dropped as conntrack-table-full, established ones carry on', () => {
    const { engine, table, hooks } = setup(1);
    const syn = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    expect(forward(hooks, syn)).toBe(Verdict.Accept);
    const synack = packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 8080, dport: 40000, flags: SYN | ACK });
    expect(forward(hooks, synack)).toBe(Verdict.Accept);
    expect(tuple(synack)).toEqual([VIP, CLIENT, 80, 40000]);
    const ack = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK });
    expect(forward(hooks, ack)).toBe(Verdict.Accept);
    expect(table.status(ack.ct) & CtStatus.Assured).toBe(CtStatus.Assured); // nothing early_drop may evict
    const free = engine.pool.available;
    const other = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: SYN });
    other.trace = engine.trace.begin();
    expect(hooks.prerouting(other, other.l3, 1)).toBe(Verdict.Stolen);
    expect(engine.pool.available).toBe(free); // the hook freed it
    expect(hooks.drops.toJSON()).toEqual({ 'conntrack-table-full': 1 });
    expect(table.stats.insertFailed).toBe(1);
    expect(table.stats.earlyDrop).toBe(0);
    expect(engine.firstDrops).toEqual([{ element: 'node1/conntrack', reason: 'conntrack-table-full' }]);
    expect(engine.trace.hops(other.trace).at(-1)).toMatchObject({ action: 'drop', detail: { reason: 'conntrack-table-full' } });
    const data = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK | 0x08 });
    expect(forward(hooks, data)).toBe(Verdict.Accept);
    expect(tuple(data)).toEqual([CLIENT, EP, 40000, 8080]);
  });

  it('table full of connections that are not ASSURED: a NEW one evicts one (early_drop) and the policy hears of it', () => {
    const { engine, table, policy, hooks } = setup(1);
    const syn = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    expect(forward(hooks, syn)).toBe(Verdict.Accept); // SYN_SENT: unreplied
    const other = packet(engine, { proto: TCP, src: CLIENT, dst: VIP2, sport: 40001, dport: 80, flags: SYN });
    expect(forward(hooks, other)).toBe(Verdict.Accept);
    expect(tuple(other)).toEqual([CLIENT, EP, 40001, 8080]);
    expect(table.stats).toMatchObject({ earlyDrop: 1, insertFailed: 0 });
    expect(policy.releasedTags).toEqual([7]); // the evicted connection's endpoint (lc/wlc load)
    expect(table.tag(other.ct)).toBe(8);
    expect(hooks.drops.toJSON()).toEqual({});
    expect(table.lookup(TCP, CLIENT, VIP, 40000, 80, engine.now())).toBe(-1);
  });

  it('accepts a first packet that is not a SYN untouched, as INVALID', () => {
    const { engine, table, policy, hooks } = setup();
    const ack = packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK });
    expect(forward(hooks, ack)).toBe(Verdict.Accept);
    expect(tuple(ack)).toEqual([CLIENT, VIP, 40000, 80]);
    expect(ack.ct).toBe(CT_INVALID); // conntrack --ctstate INVALID: no entry, no NAT
    expect(table.count).toBe(0);
    expect(policy.dnatCalls).toBe(0);
    expect(hooks.counters.get('invalid')).toBe(1);
  });

  it('a SYN on the tuple of a TIME_WAIT connection starts a new one (the policy chooses again)', () => {
    const { engine, table, policy, hooks } = setup();
    const seq: [number, number, number][] = [[0, SYN, 0], [1, SYN | ACK, 0], [0, ACK, 0], [0, FIN | ACK, 0], [1, FIN | ACK, 0], [0, ACK, 0]];
    const send = (dir: number, flags: number): void => {
      const p = dir === 0
        ? packet(engine, { proto: TCP, src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags })
        : packet(engine, { proto: TCP, src: EP, dst: CLIENT, sport: 8080, dport: 40000, flags });
      expect(forward(hooks, p)).toBe(Verdict.Accept);
      engine.pool.free(p);
    };
    for (const [dir, flags] of seq) send(dir, flags);
    expect(table.entries(0)[0]!.state).toBe('TIME_WAIT');
    send(0, SYN);
    expect(policy.dnatCalls).toBe(2);
    expect(policy.releasedTags).toEqual([7]);
    expect(table.entries(0)[0]!.state).toBe('SYN_SENT');
  });
});

describe('NatHooks: UDP, ICMP and RELATED errors', () => {
  it('un-NATs a port unreachable from the endpoint (RELATED): outer source and quoted destination become the VIP', () => {
    const { engine, table, hooks } = setup();
    const q = packet(engine, { proto: UDP, src: CLIENT, dst: VIP, sport: 5000, dport: 53, payload: new Uint8Array(20).fill(3) });
    expect(forward(hooks, q)).toBe(Verdict.Accept);
    const sent = Uint8Array.from(q.buf.subarray(q.l3, q.end)); // as it left: CLIENT:5000 -> EP:5353
    const err = engine.pool.alloc()!;
    err.end = err.start + buildIcmpError(EP, CLIENT, 3, 3, sent.subarray(0, 28), err.buf, err.start);
    err.l3 = err.start;
    err.trace = engine.trace.begin();
    expect(forward(hooks, err)).toBe(Verdict.Accept);
    expect(err.ct).toBe(q.ct);
    expect(err.ctDir).toBe(CtDir.Reply);
    expect(readU32(err.buf, err.l3 + 12)).toBe(VIP);
    const inner = err.l3 + 28;
    expect([readU32(err.buf, inner + 12), readU32(err.buf, inner + 16), readU16(err.buf, inner + 20), readU16(err.buf, inner + 22)])
      .toEqual([CLIENT, VIP, 5000, 53]);
    expectChecksumsValid(err);
    expect(engine.trace.hops(err.trace).map((h) => [h.action, h.detail.state ?? h.detail.conntrack])).toEqual([['conntrack', 'related'], ['un-dnat', 'related']]);
    expect(hooks.counters.get('related')).toBe(1);
    expect(table.status(q.ct) & CtStatus.SeenReply).toBe(0); // RELATED does not count as a reply
  });

  it('un-SNATs an ICMP error coming back to a masqueraded flow at PREROUTING', () => {
    const { engine, hooks } = setup();
    const q = packet(engine, { proto: UDP, src: CLIENT, dst: REMOTE, sport: 5000, dport: 53, payload: new Uint8Array(4) });
    expect(forward(hooks, q)).toBe(Verdict.Accept);
    const sent = Uint8Array.from(q.buf.subarray(q.l3, q.end));
    const err = engine.pool.alloc()!;
    err.end = err.start + buildIcmpError(ip('198.51.100.1'), ip('172.16.0.1'), 11, 0, sent, err.buf, err.start);
    err.l3 = err.start;
    expect(hooks.prerouting(err, err.l3, 2)).toBe(Verdict.Accept);
    expect(readU32(err.buf, err.l3 + 16)).toBe(CLIENT);
    expect(readU32(err.buf, err.l3 + 28 + 12)).toBe(CLIENT);
    expect(readU32(err.buf, err.l3 + 12)).toBe(ip('198.51.100.1'));
    expectChecksumsValid(err);
  });

  it('tracks ICMP echo: the reply finds the entry and marks it seen', () => {
    const { engine, table, hooks } = setup();
    const req = packet(engine, { proto: ICMP, src: CLIENT, dst: EP, sport: 77, dport: 0, payload: new Uint8Array(8) });
    expect(forward(hooks, req)).toBe(Verdict.Accept);
    const rep = packet(engine, { proto: ICMP, icmpType: 0, src: EP, dst: CLIENT, sport: 77, dport: 0, payload: new Uint8Array(8) });
    expect(forward(hooks, rep)).toBe(Verdict.Accept);
    expect(rep.ct).toBe(req.ct);
    expect(rep.ctDir).toBe(CtDir.Reply);
    expect(table.dump(0)).toBe('icmp     1 30 src=10.244.1.2 dst=10.244.2.2 type=8 code=0 id=77 src=10.244.2.2 dst=10.244.1.2 type=0 code=0 id=77 mark=0 use=1\n');
    // An echo reply nobody asked for is INVALID.
    const stray = packet(engine, { proto: ICMP, icmpType: 0, src: EP, dst: CLIENT, sport: 78, dport: 0 });
    expect(forward(hooks, stray)).toBe(Verdict.Accept);
    expect(stray.ct).toBe(CT_INVALID);
    expect(hooks.counters.get('invalid')).toBe(1);
  });

  it('locally generated packets take OUTPUT, locally delivered replies are un-DNATed at INPUT', () => {
    const { engine, policy, hooks } = setup();
    const q = packet(engine, { proto: UDP, src: NODE, dst: VIP, sport: 6000, dport: 53 });
    expect(hooks.output(q, q.l3)).toBe(Verdict.Accept);
    expect(tuple(q)).toEqual([NODE, EP, 6000, 5353]);
    expect(hooks.postrouting(q, q.l3, 2)).toBe(Verdict.Accept);
    const r = packet(engine, { proto: UDP, src: EP, dst: NODE, sport: 5353, dport: 6000 });
    expect(hooks.prerouting(r, r.l3, 2)).toBe(Verdict.Accept);
    expect(hooks.input(r, r.l3, 2)).toBe(Verdict.Accept);
    expect(tuple(r)).toEqual([VIP, NODE, 53, 6000]);
    expectChecksumsValid(r);
    expect(policy.dnatCalls).toBe(1);
  });

  it('tells the policy when a DNATed entry goes (stale UDP flush, expiry)', () => {
    const { engine, table, policy, hooks } = setup();
    const q = packet(engine, { proto: UDP, src: CLIENT, dst: VIP, sport: 5000, dport: 53 });
    forward(hooks, q);
    const plain = packet(engine, { proto: UDP, src: CLIENT, dst: REMOTE, sport: 5001, dport: 53 });
    forward(hooks, plain);
    expect(table.deleteWhere({ proto: UDP, replySrc: EP, replySport: 5353 }, 0)).toBe(1);
    expect(policy.releasedTags).toEqual([9]);
    expect(hooks.gc()).toBe(0);
    engine.advance(31_000);
    expect(hooks.gc()).toBe(1);
    expect(policy.releasedTags).toEqual([9]); // the un-DNATed entry is not the policy's
  });
});

describe('NatHooks: the flow cache', () => {
  it('answers a repeated tuple as the table does, and never after the entry went (deleted, expired, reply re-keyed)', () => {
    const { engine, table, policy, hooks } = setup();
    const send = (): Packet => {
      const p = packet(engine, { proto: UDP, src: CLIENT, dst: VIP, sport: 40000, dport: 53 });
      expect(forward(hooks, p)).toBe(Verdict.Accept);
      return p;
    };
    const first = send();
    const e = first.ct;
    for (let i = 0; i < 3; i++) {
      const p = send();
      expect(p.ct).toBe(e);
      expect(tuple(p)).toEqual([CLIENT, EP, 40000, 5353]);
    }
    expect(hooks.counters.toJSON()).toMatchObject({ new: 1, established: 3, dnat: 4 });
    expect(table.stats.found).toBe(3);

    table.delete(e); // conntrack -D: the next packet is a new connection, chosen again
    const again = send();
    expect(policy.dnatCalls).toBe(2);
    expect(hooks.counters.toJSON()).toMatchObject({ new: 2, established: 3 });
    expect(table.isLive(again.ct)).toBe(true);

    engine.scheduler.advance(31_000); // past the UDP timeout (30 s unreplied): expired, new again
    const late = send();
    expect(policy.dnatCalls).toBe(3);
    expect(hooks.counters.toJSON()).toMatchObject({ new: 3, established: 3 });
    expect(table.stats.expired).toBe(1);
    expect(late.ct).toBeGreaterThanOrEqual(0);

    // The cached answer for the reply direction goes when SNAT re-keys the reply tuple.
    const gen = table.generation;
    table.setReply(late.ct, EP, NODE, 5353, 40000);
    expect(table.generation).toBeGreaterThan(gen);
    const reply = packet(engine, { proto: UDP, src: EP, dst: NODE, sport: 5353, dport: 40000 });
    expect(forward(hooks, reply)).toBe(Verdict.Accept);
    expect(reply.ct).toBe(late.ct);
    expect(reply.ctDir).toBe(CtDir.Reply);
  });
});

describe('NatHooks: the confirmation race (cpus > 1; nf_conntrack_core.c __nf_conntrack_confirm, nf_ct_resolve_clash)', () => {
  const EP2 = ip('10.244.3.2');
  /** kube-proxy's random endpoint choice, made deterministic: EP, EP2, EP, ... */
  class Alternating extends FakePolicy {
    override dnat(proto: number, src: number, dst: number, sport: number, dport: number, inIf: number, traced: boolean, out: DnatDecision): boolean {
      const r = super.dnat(proto, src, dst, sport, dport, inIf, traced, out);
      if (r && this.dnatCalls % 2 === 0) out.ip = EP2;
      return r;
    }
  }
  const query = (engine: Engine, proto = UDP): Packet => packet(engine, { proto, src: CLIENT, dst: VIP, sport: 41000, dport: proto === UDP ? 53 : 80, flags: SYN });

  it('two packets of one tuple in one instant on two CPUs, DNATed to different endpoints: the second is dropped at confirmation (insert_failed)', () => {
    const engine = new Engine({ pool: { size: 32 } });
    const table = new ConntrackTable({ capacity: 64 });
    const hooks = new NatHooks(engine, WHERE, table, new Alternating());
    hooks.cpus = 2;
    const a = query(engine);
    expect(forward(hooks, a)).toBe(Verdict.Accept);
    expect(tuple(a)).toEqual([CLIENT, EP, 41000, 5353]);
    const aaaa = query(engine);
    expect(hooks.prerouting(aaaa, aaaa.l3, 1)).toBe(Verdict.Accept); // CPU 1 did not see CPU 0's unconfirmed entry
    expect(tuple(aaaa)).toEqual([CLIENT, EP2, 41000, 5353]); // its own DNAT decision
    expect(hooks.postrouting(aaaa, aaaa.l3, 2)).toBe(Verdict.Stolen);
    expect(hooks.drops.get('insert-failed')).toBe(1);
    expect(table.stats).toMatchObject({ clashInsertFailed: 1, clashResolve: 0, inserted: 1 });
    expect(table.count).toBe(1);
    expect(engine.pool.available).toBe(engine.pool.size - 1); // the loser went back to the pool
  });

  it('the same endpoint chosen twice: the clash is resolved, the second packet joins the entry (clash_resolve); not for TCP', () => {
    const { engine, table, hooks } = setup();
    hooks.cpus = 2;
    expect(forward(hooks, query(engine))).toBe(Verdict.Accept);
    const second = query(engine);
    expect(forward(hooks, second)).toBe(Verdict.Accept);
    expect(tuple(second)).toEqual([CLIENT, EP, 41000, 5353]);
    expect(table.stats).toMatchObject({ clashInsertFailed: 0, clashResolve: 1 });
    expect(hooks.counters.get('clash-resolve')).toBe(1);
    // TCP has no allow_clash: a race is always a drop.
    const syn1 = query(engine, TCP);
    expect(forward(hooks, syn1)).toBe(Verdict.Accept);
    expect(forward(hooks, query(engine, TCP))).toBe(Verdict.Stolen);
    expect(table.stats.clashInsertFailed).toBe(1);
  });

  it('no race on one CPU, in a later instant, or once the entry has a reply', () => {
    for (const variant of ['one cpu', 'later', 'replied'] as const) {
      const engine = new Engine({ pool: { size: 32 } });
      const table = new ConntrackTable({ capacity: 64 });
      const hooks = new NatHooks(engine, WHERE, table, new Alternating());
      hooks.cpus = variant === 'one cpu' ? 1 : 2;
      const a = query(engine);
      expect(forward(hooks, a)).toBe(Verdict.Accept);
      if (variant === 'later') engine.advance(1);
      if (variant === 'replied') {
        const r = packet(engine, { proto: UDP, src: EP, dst: CLIENT, sport: 5353, dport: 41000 });
        expect(forward(hooks, r)).toBe(Verdict.Accept);
        engine.pool.free(r);
      }
      const b = query(engine);
      expect(forward(hooks, b), variant).toBe(Verdict.Accept);
      expect(tuple(b), variant).toEqual([CLIENT, EP, 41000, 5353]); // the entry's DNAT
      expect(table.stats.clashInsertFailed + table.stats.clashResolve, variant).toBe(0);
    }
  });
});

describe('NatHooks: the SNAT race and MASQUERADE --random-fully', () => {
  const POD2 = ip('10.244.1.3');
  /** Two pods, one source port, one masqueraded destination (REMOTE: the policy SNATs to 172.16.0.1). */
  const syn = (engine: Engine, src: number): Packet => packet(engine, { proto: TCP, src, dst: REMOTE, sport: 40000, dport: 443, flags: SYN });

  it('two pods with the same source port on two CPUs in one instant: both keep the port, the second confirmation clashes (insert_failed)', () => {
    const { engine, table, hooks } = setup();
    hooks.cpus = 2;
    const a = syn(engine, CLIENT);
    expect(forward(hooks, a)).toBe(Verdict.Accept);
    expect(tuple(a)).toEqual([ip('172.16.0.1'), REMOTE, 40000, 443]);
    expect(forward(hooks, syn(engine, POD2))).toBe(Verdict.Stolen);
    expect(hooks.drops.get('insert-failed')).toBe(1);
    expect(table.stats.clashInsertFailed).toBe(1);
    expect(table.count).toBe(1); // the loser's unconfirmed entry went with its packet
  });

  it('on one CPU, or in a later instant, the second gets another port (port-remap)', () => {
    for (const later of [false, true]) {
      const { engine, hooks } = setup();
      hooks.cpus = later ? 2 : 1;
      expect(forward(hooks, syn(engine, CLIENT))).toBe(Verdict.Accept);
      if (later) engine.advance(1);
      const b = syn(engine, POD2);
      expect(forward(hooks, b)).toBe(Verdict.Accept);
      expect(tuple(b)).toEqual([ip('172.16.0.1'), REMOTE, 40001, 443]);
      expect(hooks.counters.get('port-remap')).toBe(1);
    }
  });

  it('--random-fully: every connection gets a random port in 1024-65535, so the racing pair does not clash', () => {
    const { engine, table, hooks } = setup();
    hooks.cpus = 2;
    hooks.randomFully = true;
    const a = syn(engine, CLIENT);
    const b = syn(engine, POD2);
    expect(forward(hooks, a)).toBe(Verdict.Accept);
    expect(forward(hooks, b)).toBe(Verdict.Accept);
    const pa = tuple(a)[2];
    const pb = tuple(b)[2];
    expect(pa).not.toBe(40000);
    expect(pa).not.toBe(pb);
    for (const q of [pa, pb]) expect(q >= 1024 && q <= 65535).toBe(true);
    expect(table.stats.clashInsertFailed).toBe(0);
  });
});
