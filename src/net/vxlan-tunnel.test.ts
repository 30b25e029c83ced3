import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { Sink } from '../engine/basic.js';
import { connect } from '../engine/element.js';
import type { Packet } from '../engine/packet.js';
import { macFromIpv4, parseIpv4, readMac, readU16, readU32, writeU16, writeU32 } from '../wire/addr.js';
import { checksum, pseudoHeaderSum, sum16, fold } from '../wire/checksum.js';
import { NetNamespace } from './netns.js';
import { VxlanTunnel, type VxlanTransport } from './vxlan-tunnel.js';

const LOCAL_IP = parseIpv4('192.168.56.11');
const REMOTE_IP = parseIpv4('192.168.56.12');
const LOCAL_ETH_MAC = macFromIpv4(LOCAL_IP, 0x0200);
const REMOTE_ETH_MAC = macFromIpv4(REMOTE_IP, 0x0200);
const LOCAL_VTEP_MAC = macFromIpv4(LOCAL_IP, 0x0258);
const REMOTE_VTEP_MAC = macFromIpv4(REMOTE_IP, 0x0258);
const LOCAL_GW = parseIpv4('10.244.1.0');
const REMOTE_GW = parseIpv4('10.244.2.0');
const REMOTE_POD = parseIpv4('10.244.2.5');

interface Rig {
  e: Engine;
  ns: NetNamespace;
  tun: VxlanTunnel;
  wire: Buffer[];
}

/** A node's root namespace with eth0 on a sink (frames copied to `wire`) and flannel.1 programmed as flannel does. */
function rig(opts: { vni?: number; port?: number; range?: [number, number]; udpChecksum?: boolean } = {}): Rig {
  const e = new Engine({ seed: 7 });
  const ns = e.add(new NetNamespace(e, { node: 'node1', name: 'root', forwarding: true }));
  ns.addInterface('eth0', 'ether', LOCAL_ETH_MAC, 1500);
  ns.addAddress('eth0', LOCAL_IP, 24);
  const sink = e.add(new Sink(e, 'wire'));
  const wire: Buffer[] = [];
  sink.observer = (p) => { wire.push(Buffer.from(p.buf.subarray(p.start, p.end))); };
  connect(e, ns.ports.out('if:eth0'), sink.ports.in('in'));
  ns.neighbors.update(REMOTE_IP, REMOTE_ETH_MAC, ns.iface('eth0')!.ifindex, 0, true);
  const tun = e.add(new VxlanTunnel(e, ns, {
    node: 'node1', mac: LOCAL_VTEP_MAC, vtepIp: LOCAL_IP, vni: opts.vni ?? 1, port: opts.port ?? 8472,
    sourcePortRange: opts.range ?? [32768, 60999], udpChecksum: opts.udpChecksum ?? false, underlayMtu: 1500,
  }));
  ns.addAddress('flannel.1', LOCAL_GW, 32);
  ns.addRoute({ dst: REMOTE_GW, prefix: 24, via: REMOTE_GW, dev: 'flannel.1', onlink: true });
  ns.neighbors.update(REMOTE_GW, REMOTE_VTEP_MAC, tun.ifindex, 0, true);
  tun.fdb.add(REMOTE_VTEP_MAC, REMOTE_IP);
  return { e, ns, tun, wire };
}

/** A UDP datagram from the namespace (source filled in) to dst:dport from sport. */
function sendUdp(r: Rig, dst: number, sport: number, dport: number, payload = 16): void {
  const p = r.ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  const total = 28 + payload;
  b.fill(0xab, s, s + total);
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, total); writeU16(b, s + 4, 1); writeU16(b, s + 6, 0);
  b[s + 8] = 64; b[s + 9] = 17;
  writeU16(b, s + 10, 0); writeU32(b, s + 12, 0); writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  writeU16(b, s + 20, sport); writeU16(b, s + 22, dport); writeU16(b, s + 24, 8 + payload); writeU16(b, s + 26, 0);
  p.end = s + total;
  r.ns.output(p);
  r.e.runUntilIdle();
}

/**
 * An underlay frame to node1 (eth0): Ethernet / IPv4 REMOTE->LOCAL / UDP sport->port /
 * VXLAN (flags byte, reserved bytes, VNI) / inner Ethernet to flannel.1 / IPv4 to 10.244.1.0 / UDP to 7777.
 */
function vxlanFrame(o: { vni?: number; flags?: number; reserved?: number; port?: number; csum?: 'zero' | 'good' | 'bad'; frag?: boolean } = {}): Buffer {
  const inner = 14 + 20 + 8 + 4;
  const udpLen = 8 + 8 + inner;
  const b = Buffer.alloc(14 + 20 + udpLen);
  b.writeUIntBE(LOCAL_ETH_MAC, 0, 6); b.writeUIntBE(REMOTE_ETH_MAC, 6, 6); b.writeUInt16BE(0x0800, 12);
  const ip = 14;
  b[ip] = 0x45; b.writeUInt16BE(20 + udpLen, ip + 2); b.writeUInt16BE(o.frag === true ? 0x2000 : 0, ip + 6);
  b[ip + 8] = 64; b[ip + 9] = 17; b.writeUInt32BE(REMOTE_IP, ip + 12); b.writeUInt32BE(LOCAL_IP, ip + 16);
  b.writeUInt16BE(checksum(b, ip, 20), ip + 10);
  const u = ip + 20;
  b.writeUInt16BE(40000, u); b.writeUInt16BE(o.port ?? 8472, u + 2); b.writeUInt16BE(udpLen, u + 4);
  const vx = u + 8;
  b[vx] = o.flags ?? 0x08; b[vx + 1] = o.reserved ?? 0; b[vx + 2] = o.reserved ?? 0; b[vx + 3] = o.reserved ?? 0;
  b.writeUInt32BE((((o.vni ?? 1) << 8) | (o.reserved ?? 0)) >>> 0, vx + 4);
  const ie = vx + 8;
  b.writeUIntBE(LOCAL_VTEP_MAC, ie, 6); b.writeUIntBE(REMOTE_VTEP_MAC, ie + 6, 6); b.writeUInt16BE(0x0800, ie + 12);
  const iip = ie + 14;
  b[iip] = 0x45; b.writeUInt16BE(20 + 8 + 4, iip + 2); b[iip + 8] = 63; b[iip + 9] = 17;
  b.writeUInt32BE(REMOTE_POD, iip + 12); b.writeUInt32BE(LOCAL_GW, iip + 16);
  b.writeUInt16BE(checksum(b, iip, 20), iip + 10);
  b.writeUInt16BE(5555, iip + 20); b.writeUInt16BE(7777, iip + 22); b.writeUInt16BE(12, iip + 24);
  b.write('ping', iip + 28);
  if (o.csum === 'good' || o.csum === 'bad') {
    const c = checksum(b, u, udpLen, pseudoHeaderSum(REMOTE_IP, LOCAL_IP, 17, udpLen));
    b.writeUInt16BE(o.csum === 'good' ? (c === 0 ? 0xffff : c) : (c ^ 0x5a5a) || 1, u + 6);
  }
  return b;
}

function inject(r: Rig, frame: Buffer, trace = 0): void {
  const p = r.e.pool.fromBytes(frame, 0, frame.length)!;
  p.trace = trace;
  r.ns.receiveFrame(p, r.ns.iface('eth0')!);
  r.e.runUntilIdle();
}

function listen(r: Rig): string[] {
  const got: string[] = [];
  r.ns.bind(17, 7777, (p: Packet, info) => {
    got.push(p.buf.toString('latin1', info.payload, info.payload + info.payloadLen));
    r.ns.free(p);
  });
  return got;
}

describe('VxlanTunnel encap', () => {
  it('writes outer IPv4/UDP/VXLAN in front of the inner frame, VNI on the wire', () => {
    const r = rig({ vni: 0x123456 });
    sendUdp(r, REMOTE_POD, 1234, 9000);
    expect(r.wire).toHaveLength(1);
    const f = r.wire[0]!;
    expect(readMac(f, 0)).toBe(REMOTE_ETH_MAC);
    expect(readMac(f, 6)).toBe(LOCAL_ETH_MAC);
    expect(readU16(f, 12)).toBe(0x0800);
    const ip = 14;
    expect(f[ip]).toBe(0x45);
    expect(readU16(f, ip + 2)).toBe(f.length - 14);
    expect(readU16(f, ip + 6)).toBe(0); // DF clear: Linux vxlan `df unset`
    expect(f[ip + 8]).toBe(64);
    expect(f[ip + 9]).toBe(17);
    expect(checksum(f, ip, 20)).toBe(0);
    expect(readU32(f, ip + 12)).toBe(LOCAL_IP);
    expect(readU32(f, ip + 16)).toBe(REMOTE_IP);
    const u = ip + 20;
    expect(readU16(f, u + 2)).toBe(8472);
    expect(readU16(f, u + 4)).toBe(f.length - 34);
    expect(readU16(f, u + 6)).toBe(0); // no outer UDP checksum by default
    const vx = u + 8;
    expect([...f.subarray(vx, vx + 8)]).toEqual([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    const ie = vx + 8;
    expect(readMac(f, ie)).toBe(REMOTE_VTEP_MAC);
    expect(readMac(f, ie + 6)).toBe(LOCAL_VTEP_MAC);
    expect(readU32(f, ie + 14 + 12)).toBe(LOCAL_GW); // source picked from flannel.1 (10.244.1.0/32)
    expect(readU32(f, ie + 14 + 16)).toBe(REMOTE_POD);
    expect(f.length).toBe(14 + 50 + 20 + 8 + 16);
    expect(r.tun.counters.get('tx-packets')).toBe(1);
    expect(r.ns.iface('flannel.1')!.mtu).toBe(1450);
  });

  it('computes the outer UDP checksum when configured and uses port 4789 when configured', () => {
    const r = rig({ udpChecksum: true, port: 4789 });
    sendUdp(r, REMOTE_POD, 1234, 9000);
    const f = r.wire[0]!;
    const u = 34;
    expect(readU16(f, u + 2)).toBe(4789);
    expect(readU16(f, u + 6)).not.toBe(0);
    const len = readU16(f, u + 4);
    expect(fold(sum16(f, u, len, pseudoHeaderSum(LOCAL_IP, REMOTE_IP, 17, len)))).toBe(0xffff);
  });

  it('hashes the inner flow into the source port range: in range, stable per flow, spread across flows', () => {
    const r = rig({ range: [40000, 40063] });
    const ports: number[] = [];
    for (let i = 0; i < 32; i++) sendUdp(r, REMOTE_POD, 2000 + i, 9000);
    sendUdp(r, REMOTE_POD, 2000, 9000);
    for (const f of r.wire) ports.push(readU16(f, 34));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(40000);
      expect(p).toBeLessThanOrEqual(40063);
    }
    expect(ports[32]).toBe(ports[0]);
    expect(new Set(ports).size).toBeGreaterThan(8);
  });

  it('drops a frame whose destination MAC is not in the FDB (fdb-miss)', () => {
    const r = rig();
    const other = parseIpv4('10.244.3.0');
    r.ns.addRoute({ dst: other, prefix: 24, via: other, dev: 'flannel.1', onlink: true });
    r.ns.neighbors.update(other, macFromIpv4(parseIpv4('192.168.56.13'), 0x0258), r.tun.ifindex, 0, true);
    sendUdp(r, parseIpv4('10.244.3.4'), 1, 2);
    expect(r.wire).toHaveLength(0);
    expect(r.tun.drops.get('fdb-miss')).toBe(1);
    expect(r.e.pool.available).toBe(r.e.pool.size);
  });

  it('emits a vxlan-encap hop with the outer addresses', () => {
    const r = rig();
    const p = r.ns.alloc()!;
    const b = p.buf;
    const s = p.start;
    b[s] = 0x45; writeU16(b, s + 2, 28); b[s + 8] = 64; b[s + 9] = 17;
    writeU32(b, s + 12, LOCAL_GW); writeU32(b, s + 16, REMOTE_POD); writeU16(b, s + 10, checksum(b, s, 20));
    writeU16(b, s + 20, 1); writeU16(b, s + 22, 2); writeU16(b, s + 24, 8);
    p.end = s + 28;
    p.trace = r.e.trace.begin();
    const id = p.trace;
    r.ns.output(p);
    r.e.runUntilIdle();
    const hop = r.e.trace.hops(id).find((h) => h.action === 'vxlan-encap');
    expect(hop?.device).toBe('flannel.1');
    expect(hop?.detail).toMatchObject({ vni: 1, outerSrc: '192.168.56.11', outerDst: '192.168.56.12', dstPort: 8472, innerDstMac: '02:58:c0:a8:38:0c' });
    expect(hop?.detail['srcPort']).toBe(readU16(r.wire[0]!, 34));
  });
});

describe('VxlanTunnel decap', () => {
  it('strips the outer headers and delivers the inner frame as received on flannel.1', () => {
    const r = rig();
    const got = listen(r);
    const t = r.e.trace.begin();
    inject(r, vxlanFrame(), t);
    expect(got).toEqual(['ping']);
    expect(r.tun.counters.get('rx-packets')).toBe(1);
    expect(r.ns.iface('flannel.1')!.rxPackets).toBe(1);
    const hops = r.e.trace.hops(t);
    const d = hops.find((h) => h.action === 'vxlan-decap');
    expect(d?.detail).toEqual({ vni: 1, from: '192.168.56.12' });
    expect(hops.findIndex((h) => h.action === 'vxlan-decap')).toBeLessThan(hops.findIndex((h) => h.action === 'deliver' && h.device === 'flannel.1'));
  });

  it('ignores reserved bits on receipt (RFC 7348 section 5)', () => {
    const r = rig();
    const got = listen(r);
    inject(r, vxlanFrame({ flags: 0xff, reserved: 0xee }));
    expect(got).toEqual(['ping']);
  });

  it('accepts a zero outer checksum and a correct one; drops a wrong non-zero one as bad-checksum', () => {
    const r = rig();
    const got = listen(r);
    inject(r, vxlanFrame({ csum: 'zero' }));
    inject(r, vxlanFrame({ csum: 'good' }));
    expect(got).toEqual(['ping', 'ping']);
    const t = r.e.trace.begin();
    inject(r, vxlanFrame({ csum: 'bad' }), t);
    expect(got).toHaveLength(2);
    expect(r.ns.drops.get('bad-checksum')).toBe(1);
    expect(r.e.trace.hops(t).at(-1)).toMatchObject({ action: 'drop', detail: { reason: 'bad-checksum' } });
    expect(r.tun.counters.get('rx-packets')).toBe(2);
  });

  it('drops a wrong VNI (wrong-vni), a clear I flag (not-vxlan) and an outer fragment (fragment)', () => {
    const r = rig({ vni: 42 });
    const got = listen(r);
    inject(r, vxlanFrame({ vni: 42 }));
    inject(r, vxlanFrame({ vni: 1 }));
    inject(r, vxlanFrame({ vni: 42, flags: 0x00 }));
    const t = r.e.trace.begin();
    inject(r, vxlanFrame({ vni: 42, frag: true }), t);
    expect(got).toEqual(['ping']);
    expect(r.tun.drops.get('wrong-vni')).toBe(1);
    expect(r.tun.drops.get('not-vxlan')).toBe(1);
    expect(r.ns.drops.get('fragment')).toBe(1);
    expect(r.e.trace.hops(t).at(-1)).toMatchObject({ action: 'drop', detail: { reason: 'fragment' } });
  });
});

describe('VxlanTunnel over a real-socket transport', () => {
  it('sends VXLAN header + inner frame to the VTEP and decapsulates received datagrams', () => {
    const r = rig({ vni: 5 });
    const sent: { bytes: Buffer; dst: number }[] = [];
    const t: VxlanTransport = {
      ready: Promise.resolve(),
      send: (buf, off, len, dst) => { sent.push({ bytes: Buffer.from(buf.subarray(off, off + len)), dst }); return true; },
      close: () => undefined,
    };
    r.tun.transport = t;
    sendUdp(r, REMOTE_POD, 1, 2);
    expect(r.wire).toHaveLength(0);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.dst).toBe(REMOTE_IP);
    expect([...sent[0]!.bytes.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0, 0, 5, 0]);
    expect(readMac(sent[0]!.bytes, 8)).toBe(REMOTE_VTEP_MAC);
    expect(r.tun.counters.get('socket-tx')).toBe(1);

    const got = listen(r);
    const frame = vxlanFrame({ vni: 5 });
    r.tun.receiveDatagram(frame, 42, frame.length - 42, REMOTE_IP);
    r.e.runUntilIdle();
    expect(got).toEqual(['ping']);
    expect(r.e.pool.available).toBe(r.e.pool.size);
  });

  it('stop() removes flannel.1, its routes and neighbours, and the port binding', () => {
    const r = rig();
    r.tun.stop();
    expect(r.ns.iface('flannel.1')).toBeUndefined();
    expect(r.ns.routes.lookup(REMOTE_POD)).toBeNull();
    expect(r.ns.neighbors.lookup(REMOTE_GW, 0)).toBe(-1);
    expect(r.ns.l4.bound(17)).not.toContain(8472);
  });
});
