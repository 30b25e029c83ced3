import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readCapture } from './capture-reader.js';
import { PcapWriter, splitTimestampMs } from './pcap.js';
import { MemorySink } from './sink.js';

const frame = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

describe('splitTimestampMs', () => {
  const out = new Float64Array(2);
  it('splits into seconds and µs / ns with no negative fraction', () => {
    splitTimestampMs(1700000000123.456, 1e6, out);
    expect([...out]).toEqual([1700000000, 123456]);
    splitTimestampMs(1234.567891, 1e9, out);
    expect([...out]).toEqual([1, 234567891]);
    splitTimestampMs(-0.5, 1e6, out); // 0.5 ms before the epoch
    expect([...out]).toEqual([-1, 999500]);
    splitTimestampMs(1999.9999999, 1e6, out); // rounds up into the next second
    expect([...out]).toEqual([2, 0]);
    splitTimestampMs(0, 1e9, out);
    expect([...out]).toEqual([0, 0]);
  });
  it('fraction always in [0, units) and sec * 1000 + frac close to the input', () => {
    fc.assert(fc.property(fc.double({ min: -1e13, max: 1e13, noNaN: true }), fc.constantFrom(1e6, 1e9), (ms, units) => {
      splitTimestampMs(ms, units, out);
      const [sec = NaN, frac = NaN] = out;
      expect(Number.isInteger(sec) && Number.isInteger(frac)).toBe(true);
      expect(frac).toBeGreaterThanOrEqual(0);
      expect(frac).toBeLessThan(units);
      expect(Math.abs(sec * 1000 + (frac * 1000) / units - ms)).toBeLessThanOrEqual(0.002);
    }));
  });
});

describe('PcapWriter', () => {
  it('writes the global header byte for byte (µs magic, v2.4, snaplen, Ethernet)', () => {
    const sink = new MemorySink();
    new PcapWriter(sink);
    expect(sink.bytes().toString('hex')).toBe('d4c3b2a1' + '02000400' + '00000000' + '00000000' + '00000400' + '01000000');
  });

  it('writes the nanosecond magic and a custom snaplen/linktype', () => {
    const sink = new MemorySink();
    new PcapWriter(sink, { nanosecond: true, snaplen: 96, linktype: 101 });
    const h = sink.bytes();
    expect(h.readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(h.readUInt32LE(16)).toBe(96);
    expect(h.readUInt32LE(20)).toBe(101);
  });

  it.each([false, true])('round-trips packets and exact timestamps (nanosecond=%s)', (ns) => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { nanosecond: ns });
    const big = frame(200);
    w.writePacket(big, 10, 60, 1700000000123.4375); // exact as a double; 437.5 µs rounds up
    w.writePacket(big, 0, 1, 0);
    w.writePacket(big, 3, 0, 1000); // empty packet is legal
    w.writePacketAt(big, 0, 61, 4000000000, ns ? 999999999 : 999999);
    w.close();
    expect(sink.closed).toBe(true);
    const cap = readCapture(sink.bytes());
    expect(cap.format).toBe('pcap');
    expect(cap.nanosecond).toBe(ns);
    expect(cap.linktypes).toEqual([1]);
    expect(cap.interfaces[0]?.snaplen).toBe(262144);
    expect(cap.packets.map((p) => p.tsNs)).toEqual([
      ns ? 1700000000123437500n : 1700000000123438000n, 0n, 1000000000n, ns ? 4000000000999999999n : 4000000000999999000n,
    ]);
    expect(cap.packets[0]?.data.equals(big.subarray(10, 70))).toBe(true);
    expect(cap.packets[0]?.tsMs).toBeCloseTo(1700000000123.4375, 3);
    expect(cap.packets[1]?.data.equals(big.subarray(0, 1))).toBe(true);
    expect(cap.packets[2]?.data.length).toBe(0);
    expect(cap.packets[3]?.origLen).toBe(61);
    expect(w.packets).toBe(4);
  });

  it('truncates to snaplen and records the original length', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { snaplen: 64 });
    const f = frame(1514);
    w.writePacket(f, 0, 1514, 5);
    w.writePacket(f, 0, 64, 5);
    w.close();
    const cap = readCapture(sink.bytes());
    expect(cap.packets.map((p) => [p.data.length, p.origLen])).toEqual([[64, 1514], [64, 64]]);
    expect(cap.packets[0]?.data.equals(f.subarray(0, 64))).toBe(true);
    expect(w.truncated).toBe(1);
    expect(sink.bytes().length).toBe(24 + 2 * (16 + 64));
  });

  it('rejects bad ranges, bad options and writes after close', () => {
    const sink = new MemorySink();
    expect(() => new PcapWriter(sink, { snaplen: 0 })).toThrow(/snaplen/);
    const w = new PcapWriter(new MemorySink());
    expect(() => w.writePacket(frame(10), 5, 6, 0)).toThrow(RangeError);
    w.close();
    w.close();
    expect(() => w.writePacket(frame(10), 0, 1, 0)).toThrow(/after close/);
  });

  it('signals one record per packet to the sink (for per-packet streaming)', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink);
    w.writePacket(frame(10), 0, 10, 0);
    w.writePacket(frame(10), 0, 10, 0);
    expect(sink.records).toBe(3); // header + 2 packets
  });
});
