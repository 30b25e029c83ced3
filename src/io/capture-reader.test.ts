import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CaptureFormatError, readCapture } from './capture-reader.js';
import { PcapWriter } from './pcap.js';
import { PcapngWriter } from './pcapng.js';
import { MemorySink } from './sink.js';

/** Builds a pcapng block in either byte order (test-side encoder, independent of the writer). */
function block(le: boolean, type: number, body: Buffer, opts: Array<[number, Buffer]> = []): Buffer {
  const parts: Buffer[] = [body];
  const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); if (le) b.writeUInt16LE(v); else b.writeUInt16BE(v); return b; };
  const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); if (le) b.writeUInt32LE(v); else b.writeUInt32BE(v); return b; };
  for (const [code, v] of opts) parts.push(u16(code), u16(v.length), v, Buffer.alloc((4 - (v.length % 4)) % 4));
  if (opts.length > 0) parts.push(Buffer.alloc(4));
  const inner = Buffer.concat(parts);
  const total = inner.length + 12;
  return Buffer.concat([u32(type), u32(total), inner, u32(total)]);
}
const be32 = (...vs: number[]): Buffer => Buffer.concat(vs.map((v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; }));
const be16 = (...vs: number[]): Buffer => Buffer.concat(vs.map((v) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }));

describe('readCapture', () => {
  it('reads a big-endian pcap (µs) and a big-endian nanosecond pcap', () => {
    for (const [magic, frac, ns] of [[0xa1b2c3d4, 250000, 250000000n], [0xa1b23c4d, 7, 7n]] as const) {
      const file = Buffer.concat([
        be32(magic), be16(2, 4), be32(0, 0, 65535, 1),
        be32(1000, frac, 3, 60), Buffer.from([0xaa, 0xbb, 0xcc]),
      ]);
      const cap = readCapture(file);
      expect(cap.littleEndian).toBe(false);
      expect(cap.nanosecond).toBe(magic === 0xa1b23c4d);
      expect(cap.interfaces).toEqual([{ name: '', linktype: 1, snaplen: 65535, unitsPerSec: magic === 0xa1b23c4d ? 1_000_000_000n : 1_000_000n }]);
      expect(cap.packets).toHaveLength(1);
      expect(cap.packets[0]?.tsNs).toBe(1000_000_000_000n + ns);
      expect([...(cap.packets[0]?.data ?? [])]).toEqual([0xaa, 0xbb, 0xcc]);
      expect(cap.packets[0]?.origLen).toBe(60);
    }
  });

  it('reads a big-endian pcapng: 2^-n and 10^-n tsresol, EPB, SPB, obsolete PB; skips unknown blocks', () => {
    const shb = block(false, 0x0a0d0d0a, Buffer.concat([be32(0x1a2b3c4d), be16(1, 0), Buffer.alloc(8, 0xff)]), [[4, Buffer.from('other tool')]]);
    const idb0 = block(false, 1, Buffer.concat([be16(1, 0), be32(128)]), [[2, Buffer.from('wlan0')], [9, Buffer.from([0x80 | 10])]]); // 1/1024 s
    const idb1 = block(false, 1, Buffer.concat([be16(228, 0), be32(0)]), [[9, Buffer.from([3])], [14, Buffer.from([0, 0, 0, 0, 0, 0, 0, 5])]]); // ms, offset 5 s
    const unknown = block(false, 0x0bad, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const epb = block(false, 6, Buffer.concat([be32(0, 0, 2048, 5, 9), Buffer.from([1, 2, 3, 4, 5, 0, 0, 0])]), [[1, Buffer.from('hi')], [1, Buffer.from('there')]]);
    const epb1 = block(false, 6, Buffer.concat([be32(1, 0, 1500, 0, 0)]));
    const spb = block(false, 3, Buffer.concat([be32(6), Buffer.from([9, 8, 7, 6, 5, 4, 0, 0])]));
    const pb = block(false, 2, Buffer.concat([be16(0, 0), be32(0, 1024, 2, 2), Buffer.from([0xee, 0xff, 0, 0])]));
    const cap = readCapture(Buffer.concat([shb, idb0, unknown, idb1, epb, epb1, spb, pb]));
    expect(cap.format).toBe('pcapng');
    expect(cap.littleEndian).toBe(false);
    expect(cap.application).toBe('other tool');
    expect(cap.linktypes).toEqual([1, 228]);
    expect(cap.interfaces.map((i) => [i.name, i.snaplen, i.unitsPerSec])).toEqual([['wlan0', 128, 1024n], ['', 0, 1000n]]);
    expect(cap.packets.map((p) => [p.block, p.interfaceId, p.tsNs, [...p.data], p.origLen, p.comment])).toEqual([
      ['epb', 0, 2_000_000_000n, [1, 2, 3, 4, 5], 9, 'hi\nthere'],
      ['epb', 1, 6_500_000_000n, [], 0, undefined],
      ['spb', 0, 0n, [9, 8, 7, 6, 5, 4], 6, undefined],
      ['pb', 0, 1_000_000_000n, [0xee, 0xff], 2, undefined],
    ]);
  });

  it('resets interfaces at a new section and numbers them globally', () => {
    const a = new MemorySink();
    const w1 = new PcapngWriter(a);
    w1.addInterface('s1-if0');
    w1.writePacket(0, Buffer.from([1]), 0, 1, 0);
    const b = new MemorySink();
    const w2 = new PcapngWriter(b);
    w2.addInterface('s2-if0');
    w2.writePacket(0, Buffer.from([2]), 0, 1, 0);
    const cap = readCapture(Buffer.concat([a.bytes(), b.bytes()]));
    expect(cap.interfaces.map((i) => i.name)).toEqual(['s1-if0', 's2-if0']);
    expect(cap.packets.map((p) => p.interfaceId)).toEqual([0, 1]);
  });

  it('rejects garbage with the offset and the block or record named', () => {
    const err = (b: Buffer): string => {
      try { readCapture(b); } catch (e) { expect(e).toBeInstanceOf(CaptureFormatError); return (e as Error).message; }
      throw new Error('expected readCapture to throw');
    };
    expect(err(Buffer.from('hello world'))).toMatch(/unknown magic 0x68656c6c at offset 0/);
    expect(err(Buffer.from([1]))).toMatch(/too short/);

    const pcap = new MemorySink();
    const pw = new PcapWriter(pcap);
    pw.writePacket(Buffer.alloc(40), 0, 40, 0);
    const good = pcap.bytes();
    expect(err(good.subarray(0, good.length - 1))).toMatch(/pcap: record at offset 24: captured length 40 exceeds the 39 bytes left/);
    expect(err(good.subarray(0, 30))).toMatch(/pcap: record header at offset 24 needs 16 bytes, 6 left/);

    const ng = new MemorySink();
    const nw = new PcapngWriter(ng);
    nw.addInterface('eth0');
    nw.writePacket(0, Buffer.alloc(10), 0, 10, 0);
    const g = ng.bytes();
    const idbAt = g.readUInt32LE(4);
    const epbAt = idbAt + g.readUInt32LE(idbAt + 4);
    const badLen = Buffer.from(g);
    badLen.writeUInt32LE(13, epbAt + 4);
    expect(err(badLen)).toMatch(new RegExp(`pcapng: EPB at offset ${epbAt}: block length 13 invalid`));
    const badTrailer = Buffer.from(g);
    badTrailer.writeUInt32LE(4, g.length - 4);
    expect(err(badTrailer)).toMatch(new RegExp(`pcapng: EPB at offset ${epbAt}: trailing length 4 != leading length`));
    const badIf = Buffer.from(g);
    badIf.writeUInt32LE(3, epbAt + 8);
    expect(err(badIf)).toMatch(new RegExp(`pcapng: EPB at offset ${epbAt}: interface id 3 not described`));
    const badCap = Buffer.from(g);
    badCap.writeUInt32LE(200, epbAt + 20);
    expect(err(badCap)).toMatch(/captured length 200 exceeds/);
    const badBom = Buffer.from(g);
    badBom.writeUInt32LE(0x12345678, 8);
    expect(err(badBom)).toMatch(/SHB at offset 0: bad byte-order magic 0x12345678/);
    expect(err(g.subarray(0, g.length - 2))).toMatch(/at offset/);
  });

  it('either parses or throws CaptureFormatError on arbitrary bytes after a valid magic', () => {
    fc.assert(fc.property(fc.constantFrom('d4c3b2a1', 'a1b2c3d4', '0a0d0d0a'), fc.uint8Array({ maxLength: 200 }), (magic, rest) => {
      try { readCapture(Buffer.concat([Buffer.from(magic, 'hex'), rest])); } catch (e) { expect(e).toBeInstanceOf(CaptureFormatError); }
    }));
  });
});
