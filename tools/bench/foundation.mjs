/**
 * Figures of the "foundation" issue: the wire layer and the engine, without any device.
 *
 *   checksum.64B / .1500B      RFC 1071 checksum over 64 / 1500 bytes (Mops/s)
 *   parse.ethernet             EthernetFrame wrap + check + etherType + dstMac
 *   parse.ipv4                 Ipv4Packet wrap + check + verifyChecksum + src/dst
 *   parse.udp / parse.tcp      UdpPacket / TcpPacket wrap + check + ports
 *   parse.vxlan                VxlanPacket wrap + check + vni
 *   nat.dnat.udp / .tcp        natRewriteDst (address + port, RFC 1624 fix-ups of the IPv4
 *                              and L4 checksums), alternating VIP:80 <-> endpoint:8080 so
 *                              every call really rewrites; checksums verified afterwards
 *   pool.alloc-free            PacketPool alloc + free, in batches of 32 (pairs/s)
 *   chain.N (N = 1, 10, 100)   bursts of 256 packets through N PassThrough elements into a
 *                              Sink, runUntilIdle() per burst (packets/s through the chain);
 *                              chain.N.ns-per-hop = ns per packet / (N + 1) links crossed
 *                              (N pass-throughs and the sink). Measured interleaved.
 */
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

const BURST = 256;

export const NAMES = [
  'checksum.64B', 'checksum.1500B', 'parse.ethernet', 'parse.ipv4', 'parse.udp', 'parse.tcp', 'parse.vxlan',
  'nat.dnat.udp', 'nat.dnat.tcp', 'pool.alloc-free', 'chain.1', 'chain.1.ns-per-hop', 'chain.10', 'chain.10.ns-per-hop',
  'chain.100', 'chain.100.ns-per-hop',
];

export async function benchmarks() {
  const [checksumMod, eth, ipv4, udp, tcp, vxlan, packet, engineMod, basic, element] = await Promise.all([
    load('wire/checksum.js'), load('wire/ethernet.js'), load('wire/ipv4.js'), load('wire/udp.js'), load('wire/tcp.js'),
    load('wire/vxlan.js'), load('engine/packet.js'), load('engine/engine.js'), load('engine/basic.js'), load('engine/element.js'),
  ]);
  const frames = buildFrames({ eth, ipv4, udp, tcp, vxlan });
  // Results flow into a closure variable, so no work is dead code to the optimiser.
  let sinkhole = 0;
  const keep = (v) => { sinkhole = (sinkhole + v) | 0; };
  const out = [];

  for (const size of [64, 1500]) {
    out.push({
      name: `checksum.${size}B`, unit: 'Mops/s',
      setup() {
        const buf = Buffer.alloc(size);
        for (let i = 0; i < size; i++) buf[i] = (i * 131 + 7) & 0xff;
        const { checksum } = checksumMod;
        return { step(n) { let a = 0; for (let i = 0; i < n; i++) { buf[0] = i; a += checksum(buf, 0, size); } keep(a); return n; } };
      },
    });
  }

  const parsers = {
    ethernet: () => {
      const v = new eth.EthernetFrame();
      const b = frames.udp;
      return (n) => { let a = 0; for (let i = 0; i < n; i++) { v.wrap(b, 0, b.length); if (v.check() === 0) a += v.etherType() + v.dstMac(); } return a; };
    },
    ipv4: () => {
      const v = new ipv4.Ipv4Packet();
      const b = frames.udp;
      return (n) => { let a = 0; for (let i = 0; i < n; i++) { v.wrap(b, 14, b.length - 14); if (v.check() === 0 && v.verifyChecksum()) a += v.srcAddr() ^ v.dstAddr(); } return a; };
    },
    udp: () => {
      const v = new udp.UdpPacket();
      const b = frames.udp;
      return (n) => { let a = 0; for (let i = 0; i < n; i++) { v.wrap(b, 34, b.length - 34); if (v.check() === 0) a += v.srcPort() + v.dstPort(); } return a; };
    },
    tcp: () => {
      const v = new tcp.TcpPacket();
      const b = frames.tcp;
      return (n) => { let a = 0; for (let i = 0; i < n; i++) { v.wrap(b, 34, b.length - 34); if (v.check() === 0) a += v.srcPort() + v.dstPort() + v.flags(); } return a; };
    },
    vxlan: () => {
      const v = new vxlan.VxlanPacket();
      const b = frames.vxlan;
      return (n) => { let a = 0; for (let i = 0; i < n; i++) { v.wrap(b, 42, b.length - 42); if (v.check() === 0) a += v.vni(); } return a; };
    },
  };
  for (const [proto, make] of Object.entries(parsers)) {
    out.push({
      name: `parse.${proto}`, unit: 'Mops/s',
      setup() {
        const f = make();
        return {
          step(n) {
            const a = f(n);
            if (a === 0) throw new Error(`parse.${proto}: the frame did not parse`);
            keep(a);
            return n;
          },
        };
      },
    });
  }

  const nat = await load('netfilter/nat.js').catch(() => null);
  for (const proto of ['udp', 'tcp']) {
    if (nat === null) {
      out.push({ skip: `nat.dnat.${proto}`, reason: 'dist/netfilter/nat.js not built yet' });
      continue;
    }
    out.push({ name: `nat.dnat.${proto}`, unit: 'Mops/s', setup: () => natBench(nat, frames[proto], proto, { ipv4, udp, tcp }) });
  }

  out.push({
    name: 'pool.alloc-free', unit: 'Mops/s',
    setup() {
      const pool = new packet.PacketPool({ size: 1024 });
      const held = new Array(32).fill(null);
      return {
        step(n) {
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < 32; j++) held[j] = pool.alloc();
            for (let j = 0; j < 32; j++) pool.free(held[j]);
          }
          if (pool.available !== 1024) throw new Error('pool.alloc-free: pool leaked');
          return n * 32;
        },
      };
    },
  });

  const chain = [1, 10, 100].map((n) => ({
    name: `chain.${n}`, unit: 'Mpps',
    derive: [{ name: `chain.${n}.ns-per-hop`, unit: 'ns/hop', f: (rate) => 1e9 / rate / (n + 1) }],
    setup: () => chainBench(n, { engineMod, basic, element }),
  }));
  out.push({ group: chain });
  return out;
}

/** A UDP and a TCP frame (60 bytes, checksums valid) and a VXLAN-encapsulated UDP frame. */
function buildFrames({ eth, ipv4, udp, tcp, vxlan }) {
  const src = 0x0af40102; // 10.244.1.2
  const vip = 0x0a600002; // 10.96.0.2
  const l2 = (buf, off) => eth.emitEthernet({ dst: 0x0a5800000001, src: 0x0a5800000002, etherType: eth.EtherType.Ipv4 }, buf, off);
  const ip = (buf, off, proto, payloadLen, s, d) => {
    ipv4.emitIpv4({
      src: s, dst: d, protocol: proto, ttl: 64, payloadLen, ident: 1, dscp: 0, ecn: 0, dontFrag: true, moreFrags: false, fragOffset: 0,
    }, buf, off);
  };
  const u = Buffer.alloc(60);
  l2(u, 0);
  ip(u, 14, 17, 26, src, vip);
  udp.emitUdp({ srcPort: 40000, dstPort: 80, payloadLen: 18 }, u, 34);
  udp.fillUdpChecksum(u, 34, src, vip);
  const t = Buffer.alloc(60);
  l2(t, 0);
  ip(t, 14, 6, 26, src, vip);
  tcp.emitTcp({ srcPort: 40000, dstPort: 80, seq: 1, ack: 1, flags: tcp.TcpFlag.ACK, window: 65535, urgent: 0, options: [] }, t, 34);
  tcp.fillTcpChecksum(t, 34, 26, src, vip);
  const x = Buffer.alloc(50 + u.length);
  l2(x, 0);
  ip(x, 14, 17, 16 + u.length, 0xc0a8380b, 0xc0a8380c);
  udp.emitUdp({ srcPort: 40001, dstPort: vxlan.VXLAN_PORT_LINUX, payloadLen: 8 + u.length }, x, 34);
  vxlan.emitVxlan({ vni: 1 }, x, 42);
  u.copy(x, 50);
  return { udp: u, tcp: t, vxlan: x, src, vip };
}

function natBench(nat, frame, proto, { ipv4, udp, tcp }) {
  const b = Buffer.from(frame);
  const vip = 0x0a600002;
  const ep = 0x0af40202; // 10.244.2.2
  const { natRewriteDst } = nat;
  const ip = new ipv4.Ipv4Packet();
  return {
    step(n) {
      // Pairs keep the frame's original destination at the end of every step.
      for (let i = 0; i < n; i += 2) {
        natRewriteDst(b, 14, ep, 8080);
        natRewriteDst(b, 14, vip, 80);
      }
      ip.wrap(b, 14, b.length - 14);
      const l4 = proto === 'udp' ? new udp.UdpPacket().wrap(b, 34, 26) : new tcp.TcpPacket().wrap(b, 34, 26);
      if (!ip.verifyChecksum() || !l4.verifyChecksum(ip.srcAddr(), ip.dstAddr()) || ip.dstAddr() !== vip) {
        throw new Error(`nat.dnat.${proto}: checksums wrong after the incremental rewrites`);
      }
      return n + (n & 1);
    },
  };
}

function chainBench(n, { engineMod, basic, element }) {
  const engine = new engineMod.Engine({ pool: { size: 4096 } });
  const src = {
    name: 'src', kind: 'source', counters: null, drops: null, push() {},
  };
  src.ports = new element.Ports(engine, src);
  const out = src.ports.addOut('out');
  let prev = out;
  for (let i = 0; i < n; i++) {
    const pt = engine.add(new basic.PassThrough(engine, `pt${i}`));
    element.connect(engine, prev, pt.ports.in('in'));
    prev = pt.ports.out('out');
  }
  const sink = engine.add(new basic.Sink(engine, 'sink'));
  element.connect(engine, prev, sink.ports.in('in'));
  const pool = engine.pool;
  return {
    step(rounds) {
      const before = sink.counters.values[0];
      for (let r = 0; r < rounds; r++) {
        for (let j = 0; j < BURST; j++) {
          const p = pool.alloc();
          p.end = p.start + 60;
          out.send(p);
        }
        engine.runUntilIdle();
      }
      const got = sink.counters.values[0] - before;
      if (got !== rounds * BURST || engine.linkDrops !== 0) throw new Error(`chain.${n}: ${rounds * BURST - got} packets lost`);
      return got;
    },
  };
}
