/**
 * The demo cluster's VXLAN overlay in-process: pods on node1 reach pods on node2 (ICMP,
 * UDP, TCP) through flannel.1 on both nodes, the trace shows encap -> underlay -> decap,
 * tshark decodes a capture of node1/eth0 as VXLAN (8472 with a decode-as, 4789 natively),
 * and a DF packet too big for the tunnel gets ICMP fragmentation-needed with MTU 1450.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/kube/cluster.js';
import { loadTopologyFile } from '../../src/kube/topology.js';
import type { Topology } from '../../src/kube/types.js';
import type { VxlanOverlay } from '../../src/kube/overlay-vxlan.js';
import type { NetNamespace } from '../../src/net/netns.js';
import type { Packet } from '../../src/engine/packet.js';
import { Capture } from '../../src/io/capture.js';
import { MemorySink } from '../../src/io/sink.js';
import { openVxlanSocket } from '../../src/io/vxlan-socket.js';
import { TcpConnection, TcpListener } from '../../src/apps/tcp.js';
import { formatIpv4, parseIpv4, readU16, writeU16, writeU32 } from '../../src/wire/addr.js';
import { checksum } from '../../src/wire/checksum.js';
import { describeE2E } from '../e2e/prereq.js';
import { tempDir, tsharkRecords } from '../e2e/tshark-util.js';

let demo: Topology;
beforeAll(async () => {
  const r = await loadTopologyFile('examples/demo.yaml');
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  demo = r.topology;
});

const ip = (c: Cluster, pod: string): number => c.pod(pod).plan.ip;

/** ICMP echo request from `ns` to `dst` (IPv4 total length `size`, DF when asked); resolves the reply count after the run. */
function ping(c: Cluster, ns: NetNamespace, dst: number, opts: { size?: number; df?: boolean; trace?: boolean; id?: number } = {}): { replies: number[]; trace: number } {
  const id = opts.id ?? 0x4242;
  const replies: number[] = [];
  ns.bind(1, id, (p: Packet, info) => {
    if (p.buf[info.l4] === 0) replies.push(info.src);
    ns.free(p);
  });
  const p = ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  const total = opts.size ?? 84;
  b.fill(0x61, s, s + total);
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, total); writeU16(b, s + 4, 7); writeU16(b, s + 6, opts.df === true ? 0x4000 : 0);
  b[s + 8] = 64; b[s + 9] = 1; writeU16(b, s + 10, 0);
  writeU32(b, s + 12, ns.sourceFor(dst)); writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  const l4 = s + 20;
  b[l4] = 8; b[l4 + 1] = 0; writeU16(b, l4 + 2, 0); writeU16(b, l4 + 4, id); writeU16(b, l4 + 6, 1);
  writeU16(b, l4 + 2, checksum(b, l4, total - 20));
  p.end = s + total;
  const trace = opts.trace === true ? c.engine.trace.begin() : 0;
  p.trace = trace;
  ns.output(p);
  c.engine.advance(10);
  ns.unbind(1, id);
  return { replies, trace };
}

function actions(c: Cluster, trace: number): string[] {
  return c.engine.trace.hops(trace).map((h) => `${h.node}:${h.action}`);
}

describe('vxlan overlay (demo cluster)', () => {
  it('programs flannel.1 as flannel does: /32 address, onlink route, permanent neighbour, FDB entry', () => {
    const c = new Cluster(demo);
    try {
      const n1 = c.node('node1');
      const ov = n1.overlay as VxlanOverlay;
      expect(ov.mode).toBe('vxlan');
      const f1 = n1.root.iface('flannel.1')!;
      expect(f1.mtu).toBe(1450);
      expect(f1.addrs).toEqual([{ ip: parseIpv4('10.244.1.0'), prefix: 32 }]);
      expect(n1.root.routeList()).toContain('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
      const n2 = c.node('node2');
      expect(n1.root.neighbors.lookup(parseIpv4('10.244.2.0'), 1e9)).toBe(n2.plan.vtepMac);
      expect(ov.tunnel.fdb.entries()).toEqual([{ mac: '02:58:c0:a8:38:0c', dst: '192.168.56.12' }]);
      ov.stop();
      expect(n1.root.iface('flannel.1')).toBeUndefined();
      expect(n1.root.routes.lookup(parseIpv4('10.244.2.2'))).toBeNull();
    } finally {
      c.close();
    }
  });

  it('carries ping across nodes: encap on node1, underlay, decap on node2, and back', () => {
    const c = new Cluster(demo);
    try {
      const r = ping(c, c.pod('pod1').ns, ip(c, 'pod3'), { trace: true });
      expect(r.replies).toEqual([ip(c, 'pod3')]);
      const a = actions(c, r.trace);
      const enc = a.indexOf('node1:vxlan-encap');
      const und = a.indexOf('underlay:underlay');
      const dec = a.indexOf('node2:vxlan-decap');
      expect(enc).toBeGreaterThanOrEqual(0);
      expect(und).toBeGreaterThan(enc);
      expect(dec).toBeGreaterThan(und);
      const hop = c.engine.trace.hops(r.trace)[enc]!;
      expect(hop.device).toBe('flannel.1');
      expect(hop.detail).toMatchObject({ vni: 1, outerSrc: '192.168.56.11', outerDst: '192.168.56.12', dstPort: 8472 });
      const back = actions(c, c.engine.trace.replyIdOf(r.trace));
      expect(back.indexOf('node2:vxlan-encap')).toBeLessThan(back.indexOf('node1:vxlan-decap'));
      const t1 = (c.node('node1').overlay as VxlanOverlay).tunnel;
      expect(t1.counters.get('tx-packets')).toBeGreaterThanOrEqual(1);
      expect(t1.counters.get('rx-packets')).toBeGreaterThanOrEqual(1);
      expect(t1.drops.toJSON()).toEqual({});
    } finally {
      c.close();
    }
  });

  it('carries UDP across nodes both ways', () => {
    const c = new Cluster(demo);
    try {
      const pod3 = c.pod('pod3').ns;
      pod3.bind(17, 9999, (p, info) => {
        // Echo in place: swap addresses and ports, no checksum.
        const b = p.buf;
        writeU32(b, info.l3 + 12, info.dst); writeU32(b, info.l3 + 16, info.src);
        writeU16(b, info.l3 + 10, 0); writeU16(b, info.l3 + 10, checksum(b, info.l3, 20));
        writeU16(b, info.l4, info.dport); writeU16(b, info.l4 + 2, info.sport); writeU16(b, info.l4 + 6, 0);
        p.start = info.l3;
        pod3.output(p);
      });
      const pod1 = c.pod('pod1').ns;
      const got: string[] = [];
      pod1.bind(17, 5555, (p, info) => { got.push(`${formatIpv4(info.src)} ${p.buf.toString('latin1', info.payload, info.payload + info.payloadLen)}`); pod1.free(p); });
      const p = pod1.alloc()!;
      const b = p.buf; const s = p.start;
      b[s] = 0x45; b[s + 1] = 0; writeU16(b, s + 2, 33); writeU16(b, s + 4, 1); writeU16(b, s + 6, 0x4000);
      b[s + 8] = 64; b[s + 9] = 17; writeU32(b, s + 12, ip(c, 'pod1')); writeU32(b, s + 16, ip(c, 'pod3'));
      writeU16(b, s + 10, 0); writeU16(b, s + 10, checksum(b, s, 20));
      writeU16(b, s + 20, 5555); writeU16(b, s + 22, 9999); writeU16(b, s + 24, 13); writeU16(b, s + 26, 0);
      b.write('hello', s + 28, 'latin1');
      p.end = s + 33;
      pod1.output(p);
      c.engine.advance(10);
      expect(got).toEqual(['10.244.2.2 hello']);
    } finally {
      c.close();
    }
  });

  it('carries a TCP connection across nodes (handshake, data both ways, close)', async () => {
    const c = new Cluster(demo);
    try {
      const server = TcpListener.listen(c.pod('pod3').ns, 5000, (conn) => {
        conn.onData((d) => conn.write(Buffer.from(d.toString('latin1').toUpperCase(), 'latin1')));
        conn.onEnd(() => conn.close());
      });
      const conn = TcpConnection.connect(c.pod('pod1').ns, ip(c, 'pod3'), 5000, { trace: c.engine.trace.begin() });
      let got = '';
      conn.onData((d) => { got += d.toString('latin1'); });
      conn.write('across the overlay');
      for (let i = 0; i < 20 && got.length < 18; i++) c.engine.advance(5);
      expect(got).toBe('ACROSS THE OVERLAY');
      expect(conn.state).toBe('established');
      expect(actions(c, conn.trace)).toContain('node2:vxlan-decap');
      conn.close();
      c.engine.advance(100);
      expect(['time-wait', 'closed']).toContain(conn.state);
      server.close();
    } finally {
      c.close();
    }
  });

  it('fits a 1450-byte DF packet into the tunnel and answers a 1480-byte one with frag-needed, MTU 1450', () => {
    const c = new Cluster(demo);
    try {
      const pod1 = c.pod('pod1').ns;
      expect(ping(c, pod1, ip(c, 'pod3'), { size: 1450, df: true }).replies).toHaveLength(1);
      // A frame bigger than the pod MTU, as a misconfigured pod (or a TAP with MTU 1500) would send it.
      const root = c.node('node1').root;
      const cbr0 = root.iface('cbr0')!;
      const errors: { type: number; code: number; mtu: number }[] = [];
      pod1.bind(17, 6000, (p, info) => {
        errors.push({ type: p.buf[info.l4]!, code: p.buf[info.l4 + 1]!, mtu: readU16(p.buf, info.l4 + 6) });
        pod1.free(p);
      });
      const p = c.engine.pool.alloc()!;
      const b = p.buf; const s = p.start; const total = 1480;
      b.fill(0, s, s + 14 + total);
      b.writeUIntBE(cbr0.mac, s, 6); b.writeUIntBE(c.pod('pod1').plan.mac, s + 6, 6); b.writeUInt16BE(0x0800, s + 12);
      const l3 = s + 14;
      b[l3] = 0x45; writeU16(b, l3 + 2, total); writeU16(b, l3 + 6, 0x4000); b[l3 + 8] = 64; b[l3 + 9] = 17;
      writeU32(b, l3 + 12, ip(c, 'pod1')); writeU32(b, l3 + 16, ip(c, 'pod3')); writeU16(b, l3 + 10, checksum(b, l3, 20));
      writeU16(b, l3 + 20, 6000); writeU16(b, l3 + 22, 9000); writeU16(b, l3 + 24, total - 20);
      p.end = l3 + total;
      p.trace = c.engine.trace.begin();
      root.receiveFrame(p, cbr0);
      c.engine.advance(10);
      expect(errors).toEqual([{ type: 3, code: 4, mtu: 1450 }]);
      expect(root.drops.get('frag-needed')).toBe(1);
      expect(c.engine.trace.hops(p.trace).find((h) => h.action === 'icmp-error')?.detail).toMatchObject({ type: 3, code: 4, mtu: 1450 });
    } finally {
      c.close();
    }
  });
});

describe('vxlan overlay on real sockets (loopback, no root)', () => {
  it('refuses a socket-mode node whose peer is emulated without vtep.bind (its IP exists only inside podwire)', () => {
    const t = structuredClone(demo);
    t.nodes[0]!.vtep = { bind: '127.0.0.1:1' };
    let opened = 0;
    const factory = (() => { opened++; throw new Error('must not open a socket'); }) as never;
    expect(() => new Cluster(t, { vxlanTransport: factory })).toThrow(/nodes\[1\] "node2": node "node1" sends VXLAN on a real socket \(vtep\.bind\), so every other node needs vtep\.bind or external: true/);
    expect(opened).toBe(0);
  });

  it('carries ping between two nodes whose VTEPs are UDP sockets on 127.0.0.1', async () => {
    const t = structuredClone(demo);
    const base = 20000 + Math.floor(Math.random() * 20000);
    t.nodes[0]!.vtep = { bind: `127.0.0.1:${base}` };
    t.nodes[1]!.vtep = { bind: `127.0.0.1:${base + 1}` };
    expect(() => new Cluster(t)).toThrow(/vtep\.bind "127\.0\.0\.1:\d+": real-socket VXLAN needs ClusterOptions\.vxlanTransport/);
    const c = new Cluster(t, { vxlanTransport: openVxlanSocket });
    try {
      await c.ready();
      expect(c.engine.clock.kind).toBe('wall');
      const pod1 = c.pod('pod1').ns;
      const replies: number[] = [];
      pod1.bind(1, 0x99, (p, info) => { if (p.buf[info.l4] === 0) replies.push(info.src); pod1.free(p); });
      const p = pod1.alloc()!;
      const b = p.buf; const s = p.start;
      b[s] = 0x45; b[s + 1] = 0; writeU16(b, s + 2, 28); writeU16(b, s + 4, 1); writeU16(b, s + 6, 0);
      b[s + 8] = 64; b[s + 9] = 1; writeU16(b, s + 10, 0); writeU32(b, s + 12, ip(c, 'pod1')); writeU32(b, s + 16, ip(c, 'pod3'));
      writeU16(b, s + 10, checksum(b, s, 20));
      b[s + 20] = 8; b[s + 21] = 0; writeU16(b, s + 22, 0); writeU16(b, s + 24, 0x99); writeU16(b, s + 26, 1);
      writeU16(b, s + 22, checksum(b, s + 20, 8));
      p.end = s + 28;
      pod1.output(p);
      c.engine.scheduler.kick();
      for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(replies).toEqual([ip(c, 'pod3')]);
      const t1 = (c.node('node1').overlay as VxlanOverlay).tunnel;
      expect(t1.counters.get('socket-tx')).toBe(1);
      expect(t1.counters.get('socket-rx')).toBe(1);
      expect(c.underlay.counters.get('rx-packets')).toBe(0); // nothing crossed the emulated underlay
    } finally {
      c.close();
    }
  });
});

describeE2E('tshark decodes the overlay on node1/eth0', ['tshark'], () => {
  const tmp = tempDir('podwire-vxlan-');
  afterAll(() => tmp.remove());

  const captureNode1 = (t: Topology, file: string): Cluster => {
    const c = new Cluster(t);
    const sink = new MemorySink();
    const cap = new Capture(() => c.engine.clock, c.capturePoints().filter((p) => p.name === 'node1/eth0'), sink);
    try {
      expect(ping(c, c.pod('pod1').ns, ip(c, 'pod3')).replies).toHaveLength(1);
    } finally {
      cap.stop();
      c.close();
    }
    writeFileSync(file, sink.bytes());
    return c;
  };
  const fields = ['udp.srcport', 'udp.dstport', 'vxlan.vni', 'ip.src', 'ip.dst', 'icmp.type'];

  it('decodes VXLAN on 8472 (decode-as) with VNI 1 and the inner pod addresses', () => {
    const file = tmp.file('vxlan-8472.pcapng');
    captureNode1(demo, file);
    const rows = tsharkRecords(file, fields, ['-d', 'udp.port==8472,vxlan', '-Y', 'vxlan']);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ 'udp.dstport': '8472', 'vxlan.vni': '1', 'ip.src': '192.168.56.11,10.244.1.2', 'ip.dst': '192.168.56.12,10.244.2.2', 'icmp.type': '8' });
    expect(rows[1]).toMatchObject({ 'udp.dstport': '8472', 'vxlan.vni': '1', 'ip.src': '192.168.56.12,10.244.2.2', 'ip.dst': '192.168.56.11,10.244.1.2', 'icmp.type': '0' });
    const sport = Number(rows[0]!['udp.srcport']);
    expect(sport).toBeGreaterThanOrEqual(32768);
    expect(sport).toBeLessThanOrEqual(60999);
  });

  it('decodes VXLAN on 4789 without a decode-as when cluster.vxlan.port is 4789', () => {
    const file = tmp.file('vxlan-4789.pcapng');
    const t = structuredClone(demo);
    t.cluster.vxlan.port = 4789;
    t.cluster.vxlan.vni = 77;
    captureNode1(t, file);
    const rows = tsharkRecords(file, fields, ['-Y', 'vxlan']);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ 'udp.dstport': '4789', 'vxlan.vni': '77', 'ip.src': '192.168.56.11,10.244.1.2', 'ip.dst': '192.168.56.12,10.244.2.2' });
  });
});
