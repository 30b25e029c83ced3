import { describe, expect, it } from 'vitest';
import { PacketPool } from '../engine/packet.js';
import { checksum, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { completeChecksum, emitTcpSegment, TcpFrameLayout } from './tap-offload.js';

/** An IPv4 TCP frame with `payload` bytes, the TCP checksum field holding the pseudo-header sum (NEEDS_CSUM). */
function tsoFrame(payload: number, flags = 0x19 /* FIN PSH ACK */): Buffer {
  const b = Buffer.alloc(14 + 20 + 20 + payload);
  b.writeUIntBE(0x0242_0af4_0103, 0, 6);
  b.writeUIntBE(0x0242_0af4_0102, 6, 6);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(20 + 20 + payload, 16);
  b.writeUInt16BE(0x1234, 18); // id
  b[22] = 64;
  b[23] = 6;
  b.writeUInt32BE(0x0af40102, 26);
  b.writeUInt32BE(0x0af40103, 30);
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(5201, 36);
  b.writeUInt32BE(0xfffff000, 38); // seq: wraps within the frame
  b[46] = 0x50;
  b[47] = flags | 0x80; // + CWR
  for (let i = 0; i < payload; i++) b[54 + i] = (i * 7) & 0xff;
  return b;
}

describe('completeChecksum (NEEDS_CSUM)', () => {
  it('turns a pseudo-header partial sum into the full TCP checksum', () => {
    const f = tsoFrame(301);
    const tcpLen = 20 + 301;
    const partial = pseudoHeaderSum(f.readUInt32BE(26), f.readUInt32BE(30), 6, tcpLen);
    let folded = partial;
    while (folded > 0xffff) folded = (folded & 0xffff) + (folded >>> 16);
    f.writeUInt16BE(folded, 50);
    expect(completeChecksum(f, 0, f.length, 34, 16)).toBe(true);
    expect(checksum(f, 34, tcpLen, pseudoHeaderSum(f.readUInt32BE(26), f.readUInt32BE(30), 6, tcpLen))).toBe(0);
  });

  it('refuses a checksum field outside the frame and sends a UDP zero as 0xffff', () => {
    expect(completeChecksum(Buffer.alloc(40), 0, 40, 34, 16)).toBe(false);
    const u = Buffer.alloc(44); // UDP whose data sums to 0xffff: the complement is 0
    u.writeUInt16BE(0xffff, 34);
    expect(completeChecksum(u, 0, 44, 34, 6)).toBe(true);
    expect(u.readUInt16BE(40)).toBe(0xffff);
    expect(sum16(u, 34, 10)).toBeGreaterThan(0);
  });
});

describe('emitTcpSegment (software GSO)', () => {
  it('cuts a TSO frame into mss segments with fixed lengths, ids, sequence numbers, flags and valid checksums', () => {
    const mss = 1000;
    const f = tsoFrame(2500);
    const lay = new TcpFrameLayout();
    expect(lay.parse(f, 0, f.length)).toBe(true);
    expect([lay.l3, lay.l4, lay.hdrLen, lay.v6]).toEqual([14, 34, 54, false]);
    const pool = new PacketPool({ size: 4 });
    const segs = [0, 1, 2].map((k) => {
      const p = pool.alloc()!;
      emitTcpSegment(f, 0, f.length, lay, mss, k, 3, p);
      return p.buf.subarray(p.start, p.end);
    });
    expect(segs.map((s) => s.length)).toEqual([54 + 1000, 54 + 1000, 54 + 500]);
    segs.forEach((s, k) => {
      expect(s.readUInt16BE(16)).toBe(s.length - 14);
      expect(s.readUInt16BE(18)).toBe(0x1234 + k);
      expect(checksum(s, 14, 20)).toBe(0);
      expect(s.readUInt32BE(38)).toBe((0xfffff000 + k * mss) >>> 0);
      const tcpLen = s.length - 34;
      expect(checksum(s, 34, tcpLen, pseudoHeaderSum(s.readUInt32BE(26), s.readUInt32BE(30), 6, tcpLen))).toBe(0);
      expect(s.subarray(54).equals(f.subarray(54 + k * mss, 54 + k * mss + s.length - 54))).toBe(true);
    });
    expect(segs.map((s) => s[47])).toEqual([0x90, 0x10, 0x19]); // CWR first only; FIN PSH last only
  });

  it('parses only plain TCP over IPv4/IPv6 (no ARP, no UDP, no truncated headers)', () => {
    const lay = new TcpFrameLayout();
    const f = tsoFrame(10);
    expect(lay.parse(f, 0, 40)).toBe(false);
    f[23] = 17;
    expect(lay.parse(f, 0, f.length)).toBe(false);
    f.writeUInt16BE(0x0806, 12);
    expect(lay.parse(f, 0, f.length)).toBe(false);
  });
});
