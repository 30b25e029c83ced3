/**
 * tshark (Wireshark's dissectors) as the real peer for our capture writers and wire layer.
 *
 * Part 1: hand-built frames through PcapWriter (µs and ns magic) and PcapngWriter (two named
 * interfaces, comments, truncation); tshark must read the files and report the same fields.
 * Part 2: frames emitted by src/wire (Ethernet + 802.1Q, ARP, IPv4, ICMP, UDP, TCP, VXLAN on
 * 8472 and 4789, deliberately bad checksums, a truncated frame) written to one pcapng; each
 * frame's comment names its case and tshark's fields must equal what was emitted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PcapWriter } from '../../src/io/pcap.js';
import { PcapngWriter } from '../../src/io/pcapng.js';
import { FileSink } from '../../src/io/sink.js';
import { parseIpv4, parseMac } from '../../src/wire/addr.js';
import { ArpOperation, emitArp } from '../../src/wire/arp.js';
import { EtherType, emitEthernet, ethernetHeaderLen } from '../../src/wire/ethernet.js';
import type { EthernetVlan } from '../../src/wire/ethernet.js';
import { IcmpCode, IcmpType, emitIcmp, emitIcmpError } from '../../src/wire/icmp.js';
import { IpProtocol, emitIpv4 } from '../../src/wire/ipv4.js';
import { TcpFlag, emitTcp, fillTcpChecksum } from '../../src/wire/tcp.js';
import type { TcpOption } from '../../src/wire/tcp.js';
import { emitUdp, fillUdpChecksum } from '../../src/wire/udp.js';
import { VXLAN_PORT_IANA, VXLAN_PORT_LINUX, emitVxlan } from '../../src/wire/vxlan.js';
import { describeE2E } from './prereq.js';
import { tempDir, tsharkFields, tsharkRecords, tsharkVersion } from './tshark-util.js';

/** Wireshark's checksum status values (proto.h: PROTO_CHECKSUM_E_BAD/GOOD/UNVERIFIED). */
const BAD = '0';
const GOOD = '1';

/** Ethernet + IPv4 + UDP built byte by byte (checksums left 0 = "not computed" for UDP). */
function handFrame(srcMacLast: number, payloadLen: number): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + payloadLen);
  Buffer.from('02000000000a', 'hex').copy(f, 0); // dst 02:00:00:00:00:0a
  Buffer.from([0x02, 0, 0, 0, 0, srcMacLast]).copy(f, 6); // src 02:00:00:00:00:XX
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45; // version 4, IHL 5
  f.writeUInt16BE(20 + 8 + payloadLen, 16);
  f.writeUInt16BE(0x4000, 20); // DF
  f[22] = 64; // TTL
  f[23] = 17; // UDP
  Buffer.from([10, 244, 1, 2]).copy(f, 26);
  Buffer.from([10, 96, 0, 10]).copy(f, 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(53, 36);
  f.writeUInt16BE(8 + payloadLen, 38);
  for (let i = 0; i < payloadLen; i++) f[42 + i] = 0x61 + (i % 26);
  return f;
}

describeE2E('tshark reads podwire captures', ['tshark'], () => {
  const tmp = tempDir();
  beforeAll(() => { process.stderr.write(`[podwire e2e] ${tsharkVersion()}\n`); });
  afterAll(() => tmp.remove());

  it.each([false, true])('pcap (nanosecond magic: %s): addresses, lengths, timestamps', (ns) => {
    const path = tmp.file(`hand-${ns ? 'ns' : 'us'}.pcap`);
    const w = new PcapWriter(new FileSink(path), { nanosecond: ns });
    const frames = [handFrame(1, 4), handFrame(2, 33), handFrame(3, 1)];
    w.writePacketAt(frames[0] ?? Buffer.alloc(0), 0, frames[0]?.length ?? 0, 1700000000, ns ? 123456789 : 123456);
    w.writePacket(frames[1] ?? Buffer.alloc(0), 0, frames[1]?.length ?? 0, 1700000001000.5);
    w.writePacket(frames[2] ?? Buffer.alloc(0), 0, frames[2]?.length ?? 0, 1700000002999);
    w.close();
    const rows = tsharkRecords(path, ['frame.len', 'frame.cap_len', 'frame.time_epoch', 'eth.src', 'ip.src', 'ip.dst', 'udp.dstport', 'ip.checksum.status'], ['-o', 'ip.check_checksum:TRUE']);
    expect(rows).toEqual([
      { 'frame.len': '46', 'frame.cap_len': '46', 'frame.time_epoch': ns ? '1700000000.123456789' : '1700000000.123456000', 'eth.src': '02:00:00:00:00:01', 'ip.src': '10.244.1.2', 'ip.dst': '10.96.0.10', 'udp.dstport': '53', 'ip.checksum.status': GOOD },
      { 'frame.len': '75', 'frame.cap_len': '75', 'frame.time_epoch': ns ? '1700000001.000500000' : '1700000001.000500000', 'eth.src': '02:00:00:00:00:02', 'ip.src': '10.244.1.2', 'ip.dst': '10.96.0.10', 'udp.dstport': '53', 'ip.checksum.status': GOOD },
      { 'frame.len': '43', 'frame.cap_len': '43', 'frame.time_epoch': '1700000002.999000000', 'eth.src': '02:00:00:00:00:03', 'ip.src': '10.244.1.2', 'ip.dst': '10.96.0.10', 'udp.dstport': '53', 'ip.checksum.status': GOOD },
    ]);
  });

  it('pcapng: two named interfaces (one added after packets), comments, truncation, ns timestamps', () => {
    const path = tmp.file('hand.pcapng');
    const w = new PcapngWriter(new FileSink(path));
    const a = w.addInterface('pod1-eth0', { description: 'pod1 veth' });
    const f1 = handFrame(1, 5);
    w.writePacketAt(a, f1, 0, f1.length, 1700000000, 1, 'first, with a comma');
    const b = w.addInterface('node1-vxlan', { snaplen: 40 });
    const f2 = handFrame(2, 60);
    w.writePacketAt(b, f2, 0, f2.length, 1700000000, 999999999);
    w.writePacketAt(a, f2, 0, f2.length, 1700000001, 500, 'dritte Zeile – ünïcode');
    w.close();
    const rows = tsharkRecords(path, ['frame.interface_id', 'frame.interface_name', 'frame.interface_description', 'frame.comment', 'frame.len', 'frame.cap_len', 'frame.time_epoch', 'eth.src']);
    expect(rows).toEqual([
      { 'frame.interface_id': '0', 'frame.interface_name': 'pod1-eth0', 'frame.interface_description': 'pod1 veth', 'frame.comment': 'first, with a comma', 'frame.len': '47', 'frame.cap_len': '47', 'frame.time_epoch': '1700000000.000000001', 'eth.src': '02:00:00:00:00:01' },
      { 'frame.interface_id': '1', 'frame.interface_name': 'node1-vxlan', 'frame.interface_description': '', 'frame.comment': '', 'frame.len': '102', 'frame.cap_len': '40', 'frame.time_epoch': '1700000000.999999999', 'eth.src': '02:00:00:00:00:02' },
      { 'frame.interface_id': '0', 'frame.interface_name': 'pod1-eth0', 'frame.interface_description': 'pod1 veth', 'frame.comment': 'dritte Zeile – ünïcode', 'frame.len': '102', 'frame.cap_len': '102', 'frame.time_epoch': '1700000001.000000500', 'eth.src': '02:00:00:00:00:02' },
    ]);
    // the capture-level view: capinfos-style checks through tshark's own statistics
    const ifaces = tsharkFields(path, ['frame.interface_name'], ['-Y', 'frame.cap_len < frame.len']);
    expect(ifaces).toEqual([['node1-vxlan']]);
  });
});

// ---------------------------------------------------------------------------------------
// Part 2: frames emitted by the wire layer

const mac = parseMac;
const ip = parseIpv4;
const POD1 = { mac: mac('0a:58:0a:f4:01:02'), ip: ip('10.244.1.2') };
const POD3 = { mac: mac('0a:58:0a:f4:02:03'), ip: ip('10.244.2.3') };
const GW = { mac: mac('0a:58:0a:f4:01:01'), ip: ip('10.244.1.1') };
const NODE1 = { mac: mac('52:54:00:00:00:01'), ip: ip('192.168.56.11') };
const NODE2 = { mac: mac('52:54:00:00:00:02'), ip: ip('192.168.56.12') };

interface EthSpec { src: number; dst: number; vlan?: EthernetVlan }
interface IpSpec { src: number; dst: number; protocol: number; ttl?: number; dontFrag?: boolean; ident?: number; dscp?: number }

/** Ethernet + IPv4 + whatever `l4` writes at the offset it gets (returning its length). */
function ipFrame(eth: EthSpec, l3: IpSpec, l4: (buf: Buffer, off: number) => number): Buffer {
  const buf = Buffer.alloc(2048);
  const e = { src: eth.src, dst: eth.dst, etherType: EtherType.Ipv4, ...(eth.vlan !== undefined ? { vlan: eth.vlan } : {}) };
  const ipOff = ethernetHeaderLen(e);
  const l4Len = l4(buf, ipOff + 20);
  emitIpv4({
    src: l3.src, dst: l3.dst, protocol: l3.protocol, ttl: l3.ttl ?? 64, payloadLen: l4Len, ident: l3.ident ?? 0x1234,
    dscp: l3.dscp ?? 0, ecn: 0, dontFrag: l3.dontFrag ?? true, moreFrags: false, fragOffset: 0,
  }, buf, ipOff);
  emitEthernet(e, buf, 0);
  return Buffer.from(buf.subarray(0, ipOff + 20 + l4Len));
}

function udpFrame(eth: EthSpec, l3: Omit<IpSpec, 'protocol'>, sport: number, dport: number, payload: Uint8Array): Buffer {
  return ipFrame(eth, { ...l3, protocol: IpProtocol.Udp }, (buf, off) => {
    emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, buf, off);
    buf.set(payload, off + 8);
    fillUdpChecksum(buf, off, l3.src, l3.dst);
    return 8 + payload.length;
  });
}

function tcpFrame(eth: EthSpec, l3: Omit<IpSpec, 'protocol'>, t: { sport: number; dport: number; seq: number; ack: number; flags: number; window: number; options?: TcpOption[] }, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return ipFrame(eth, { ...l3, protocol: IpProtocol.Tcp }, (buf, off) => {
    const hl = emitTcp({ srcPort: t.sport, dstPort: t.dport, seq: t.seq, ack: t.ack, flags: t.flags, window: t.window, urgent: 0, options: t.options ?? [] }, buf, off);
    buf.set(payload, off + hl);
    fillTcpChecksum(buf, off, hl + payload.length, l3.src, l3.dst);
    return hl + payload.length;
  });
}

function arpFrame(eth: EthSpec, operation: number, sender: { mac: number; ip: number }, target: { mac: number; ip: number }): Buffer {
  const buf = Buffer.alloc(64);
  const e = { src: eth.src, dst: eth.dst, etherType: EtherType.Arp, ...(eth.vlan !== undefined ? { vlan: eth.vlan } : {}) };
  const h = emitEthernet(e, buf, 0);
  const n = emitArp({ operation, senderMac: sender.mac, senderIp: sender.ip, targetMac: target.mac, targetIp: target.ip }, buf, h);
  return Buffer.from(buf.subarray(0, h + n));
}

/** Outer Ethernet/IPv4/UDP(dport)/VXLAN(vni) around `inner`. */
function vxlanFrame(dport: number, vni: number, inner: Buffer): Buffer {
  const body = Buffer.alloc(8 + inner.length);
  emitVxlan({ vni }, body, 0);
  inner.copy(body, 8);
  return udpFrame({ src: NODE1.mac, dst: NODE2.mac }, { src: NODE1.ip, dst: NODE2.ip }, 51234, dport, body);
}

const IP_PAIR = { src: POD1.ip, dst: POD3.ip };
const POD_ETH = { src: POD1.mac, dst: GW.mac };
const dnsQuery = Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex'); // 29 bytes: odd
const synOptions: TcpOption[] = [
  { kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }, { kind: 'timestamps', tsVal: 3735928559, tsEcr: 0 },
  { kind: 'nop' }, { kind: 'window-scale', shift: 7 },
];
const syn = tcpFrame(POD_ETH, IP_PAIR, { sport: 43210, dport: 8080, seq: 0xfffffff0, ack: 0, flags: TcpFlag.SYN, window: 64240, options: synOptions });
const bigUdp = udpFrame(POD_ETH, IP_PAIR, 40000, 9000, Buffer.alloc(1472, 0x5a));

function icmpFrame(eth: EthSpec, l3: Omit<IpSpec, 'protocol'>, write: (buf: Buffer, off: number) => number): Buffer {
  return ipFrame(eth, { ...l3, protocol: IpProtocol.Icmp }, write);
}
function corrupt(frame: Buffer, at: number): Buffer {
  const f = Buffer.from(frame);
  f.writeUInt16BE(f.readUInt16BE(at) ^ 0x5555, at);
  return f;
}

interface Case { name: string; iface: 'pod1-eth0' | 'node1-eth0' | 'flannel.1'; frame: Buffer; expect: Record<string, string> }

const cases: Case[] = [
  { name: 'arp-request-vlan', iface: 'node1-eth0',
    frame: arpFrame({ src: NODE1.mac, dst: 0xffffffffffff, vlan: { id: 100, pcp: 5, dei: false } }, ArpOperation.Request, NODE1, { mac: 0, ip: NODE2.ip }),
    expect: { 'eth.src': '52:54:00:00:00:01', 'eth.dst': 'ff:ff:ff:ff:ff:ff', 'vlan.id': '100', 'vlan.priority': '5', 'vlan.etype': '0x0806',
      'arp.opcode': '1', 'arp.src.hw_mac': '52:54:00:00:00:01', 'arp.src.proto_ipv4': '192.168.56.11', 'arp.dst.hw_mac': '00:00:00:00:00:00', 'arp.dst.proto_ipv4': '192.168.56.12' } },
  { name: 'arp-reply', iface: 'pod1-eth0',
    frame: arpFrame({ src: GW.mac, dst: POD1.mac }, ArpOperation.Reply, GW, POD1),
    expect: { 'eth.type': '0x0806', 'vlan.id': '', 'arp.opcode': '2', 'arp.src.hw_mac': '0a:58:0a:f4:01:01', 'arp.src.proto_ipv4': '10.244.1.1', 'arp.dst.hw_mac': '0a:58:0a:f4:01:02', 'arp.dst.proto_ipv4': '10.244.1.2' } },
  { name: 'icmp-echo-request', iface: 'pod1-eth0',
    frame: icmpFrame(POD_ETH, { ...IP_PAIR, ident: 0xbeef }, (b, o) => emitIcmp({ kind: 'echo-request', ident: 0x0102, seq: 7, data: Buffer.from('podwire ping!') }, b, o)),
    expect: { 'eth.src': '0a:58:0a:f4:01:02', 'eth.dst': '0a:58:0a:f4:01:01', 'ip.src': '10.244.1.2', 'ip.dst': '10.244.2.3', 'ip.ttl': '64', 'ip.flags.df': '1', 'ip.id': '0xbeef', 'ip.len': '41', 'ip.proto': '1', 'ip.checksum.status': GOOD,
      'icmp.type': '8', 'icmp.code': '0', 'icmp.ident': '258', 'icmp.seq': '7', 'icmp.checksum.status': GOOD } },
  { name: 'icmp-echo-reply', iface: 'pod1-eth0',
    frame: icmpFrame({ src: GW.mac, dst: POD1.mac }, { src: POD3.ip, dst: POD1.ip, ttl: 63, dontFrag: false }, (b, o) => emitIcmp({ kind: 'echo-reply', ident: 0x0102, seq: 7, data: Buffer.from('podwire ping!') }, b, o)),
    expect: { 'ip.src': '10.244.2.3', 'ip.dst': '10.244.1.2', 'ip.ttl': '63', 'ip.flags.df': '0', 'icmp.type': '0', 'icmp.ident': '258', 'icmp.seq': '7', 'icmp.checksum.status': GOOD, 'ip.checksum.status': GOOD } },
  { name: 'icmp-frag-needed', iface: 'pod1-eth0',
    frame: icmpFrame({ src: GW.mac, dst: POD1.mac }, { src: GW.ip, dst: POD1.ip, dontFrag: false },
      (b, o) => emitIcmpError(b, o, IcmpType.DestUnreachable, IcmpCode.FragNeeded, 1450, bigUdp, 14, bigUdp.length - 14)),
    expect: { 'ip.src': '10.244.1.1,10.244.1.2', 'ip.dst': '10.244.1.2,10.244.2.3', 'icmp.type': '3', 'icmp.code': '4', 'icmp.mtu': '1450', 'icmp.checksum.status': GOOD,
      'udp.srcport': '40000', 'udp.dstport': '9000', 'ip.len': '56,1500' } },
  { name: 'icmp-time-exceeded', iface: 'pod1-eth0',
    frame: icmpFrame({ src: GW.mac, dst: POD1.mac }, { src: GW.ip, dst: POD1.ip }, (b, o) => emitIcmp({ kind: 'time-exceeded', code: IcmpCode.TtlExceeded, original: syn.subarray(14, 14 + 28) }, b, o)),
    expect: { 'icmp.type': '11', 'icmp.code': '0', 'icmp.checksum.status': GOOD, 'ip.src': '10.244.1.1,10.244.1.2', 'tcp.srcport': '43210', 'tcp.dstport': '8080' } },
  { name: 'udp-dns-query', iface: 'pod1-eth0',
    frame: udpFrame(POD_ETH, { src: POD1.ip, dst: ip('10.96.0.10'), dscp: 46 }, 53535, 53, dnsQuery),
    expect: { 'ip.dst': '10.96.0.10', 'ip.dsfield.dscp': '46', 'ip.proto': '17', 'udp.srcport': '53535', 'udp.dstport': '53', 'udp.length': '37', 'udp.checksum.status': GOOD, 'ip.checksum.status': GOOD, 'dns.qry.name': 'example.com' } },
  { name: 'tcp-syn', iface: 'pod1-eth0', frame: syn,
    expect: { 'tcp.srcport': '43210', 'tcp.dstport': '8080', 'tcp.flags': '0x0002', 'tcp.seq_raw': String(0xfffffff0), 'tcp.ack_raw': '0', 'tcp.window_size_value': '64240', 'tcp.hdr_len': '40',
      'tcp.options.mss_val': '1460', 'tcp.options.wscale.shift': '7', 'tcp.options.timestamp.tsval': '3735928559', 'tcp.checksum.status': GOOD, 'tcp.len': '0' } },
  { name: 'tcp-syn-ack', iface: 'pod1-eth0',
    frame: tcpFrame({ src: GW.mac, dst: POD1.mac }, { src: POD3.ip, dst: POD1.ip }, { sport: 8080, dport: 43210, seq: 1000, ack: 0xfffffff1, flags: TcpFlag.SYN | TcpFlag.ACK, window: 65160, options: [{ kind: 'mss', mss: 1410 }] }),
    expect: { 'tcp.flags': '0x0012', 'tcp.seq_raw': '1000', 'tcp.ack_raw': String(0xfffffff1), 'tcp.options.mss_val': '1410', 'tcp.hdr_len': '24', 'tcp.checksum.status': GOOD } },
  { name: 'tcp-psh-ack-data', iface: 'pod1-eth0',
    frame: tcpFrame(POD_ETH, IP_PAIR, { sport: 43210, dport: 8080, seq: 0xfffffff1, ack: 1001, flags: TcpFlag.PSH | TcpFlag.ACK, window: 502 }, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
    expect: { 'tcp.flags': '0x0018', 'tcp.seq_raw': String(0xfffffff1), 'tcp.ack_raw': '1001', 'tcp.len': '27', 'tcp.checksum.status': GOOD, 'ip.len': '67' } },
  { name: 'vxlan-8472', iface: 'node1-eth0',
    frame: vxlanFrame(VXLAN_PORT_LINUX, 1, tcpFrame(POD_ETH, IP_PAIR, { sport: 43210, dport: 8080, seq: 5, ack: 6, flags: TcpFlag.ACK, window: 502 })),
    expect: { 'eth.src': '52:54:00:00:00:01,0a:58:0a:f4:01:02', 'ip.src': '192.168.56.11,10.244.1.2', 'ip.dst': '192.168.56.12,10.244.2.3', 'udp.dstport': '8472', 'udp.checksum.status': GOOD,
      'vxlan.vni': '1', 'vxlan.flags': '0x0800', 'tcp.srcport': '43210', 'tcp.checksum.status': GOOD } },
  { name: 'vxlan-4789', iface: 'node1-eth0',
    frame: vxlanFrame(VXLAN_PORT_IANA, 0xabcdef, udpFrame(POD_ETH, { src: POD1.ip, dst: POD3.ip }, 5000, 6000, Buffer.from('hello'))),
    expect: { 'ip.src': '192.168.56.11,10.244.1.2', 'ip.dst': '192.168.56.12,10.244.2.3', 'udp.dstport': '4789,6000', 'vxlan.vni': String(0xabcdef), 'udp.checksum.status': `${GOOD},${GOOD}`, 'ip.checksum.status': `${GOOD},${GOOD}` } },
  { name: 'bad-ipv4-checksum', iface: 'flannel.1', frame: corrupt(udpFrame(POD_ETH, IP_PAIR, 1, 2, Buffer.from('x')), 14 + 10),
    expect: { 'ip.checksum.status': BAD, 'udp.checksum.status': GOOD } },
  { name: 'bad-udp-checksum', iface: 'flannel.1', frame: corrupt(udpFrame(POD_ETH, IP_PAIR, 1, 2, Buffer.from('x')), 14 + 20 + 6),
    expect: { 'ip.checksum.status': GOOD, 'udp.checksum.status': BAD } },
  // the IPv4 header claims a whole SYN, the frame ends 30 bytes early
  { name: 'truncated-tcp', iface: 'flannel.1', frame: syn.subarray(0, syn.length - 30), expect: { 'ip.len': '60', 'tcp.srcport': '43210' } },
];

describeE2E('tshark decodes frames emitted by src/wire', ['tshark'], () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('every protocol field tshark reports equals what the wire layer emitted', () => {
    const path = tmp.file('wire.pcapng');
    const w = new PcapngWriter(new FileSink(path));
    const ids = new Map<string, number>();
    cases.forEach((c, i) => {
      let id = ids.get(c.iface);
      if (id === undefined) { id = w.addInterface(c.iface); ids.set(c.iface, id); }
      w.writePacketAt(id, c.frame, 0, c.frame.length, 1700000000, i * 1000, c.name);
    });
    w.close();
    const fields = [...new Set(['frame.comment', 'frame.interface_name', '_ws.malformed', '_ws.expert.severity', ...cases.flatMap((c) => Object.keys(c.expect))])];
    const rows = tsharkRecords(path, fields, ['-d', `udp.port==${VXLAN_PORT_LINUX},vxlan`,
      '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE']);
    expect(rows.map((r) => r['frame.comment'])).toEqual(cases.map((c) => c.name));
    rows.forEach((row, i) => {
      const c = cases[i];
      if (c === undefined) return;
      const got = Object.fromEntries([...Object.keys(c.expect), 'frame.interface_name'].map((k) => [k, row[k]]));
      expect({ case: c.name, ...got }).toEqual({ case: c.name, ...c.expect, 'frame.interface_name': c.iface });
      const malformed = row['_ws.malformed'] ?? '';
      if (c.name.startsWith('truncated')) expect(malformed, c.name).toMatch(/Malformed Packet: TCP/);
      else expect(malformed, c.name).toBe('');
      // good frames raise no expert item at warning level (0x600000) or above; bad ones an error (0x800000)
      const worst = Math.max(0, ...(row['_ws.expert.severity'] ?? '').split(',').filter((x) => x !== '').map(Number));
      if (c.name.startsWith('bad') || c.name.startsWith('truncated')) expect(worst, c.name).toBe(0x800000);
      else expect(worst, c.name).toBeLessThan(0x600000);
    });
  });
});
