import { describe, expect, it } from 'vitest';
import { readCapture } from './capture-reader.js';
import { PcapngWriter } from './pcapng.js';
import { MemorySink } from './sink.js';

const frame = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
};

describe('PcapngWriter', () => {
  it('writes the Section Header Block byte for byte', () => {
    const sink = new MemorySink();
    new PcapngWriter(sink);
    expect(sink.bytes().toString('hex')).toBe(
      '0a0d0d0a' + '2c000000' + // type, total length 44
      '4d3c2b1a' + '0100' + '0000' + 'ffffffffffffffff' + // BOM, version 1.0, section length -1
      '0400' + '0700' + Buffer.from('podwire\0').toString('hex') + // shb_userappl "podwire" + 1 pad byte
      '00000000' + '2c000000', // end of options, trailing length
    );
  });

  it('writes an IDB with if_name, if_description and if_tsresol=9', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    const before = sink.size;
    expect(w.addInterface('eth0', { description: 'node1 uplink', snaplen: 1500 })).toBe(0);
    const idb = sink.bytes().subarray(before);
    expect(idb.readUInt32LE(0)).toBe(1);
    expect(idb.readUInt32LE(4)).toBe(idb.length);
    expect(idb.readUInt32LE(idb.length - 4)).toBe(idb.length);
    expect(idb.readUInt16LE(8)).toBe(1); // Ethernet
    expect(idb.readUInt32LE(12)).toBe(1500);
    expect(idb.toString('hex')).toContain('0900' + '0100' + '09000000'); // if_tsresol = 9, padded
    expect(idb.length % 4).toBe(0);
  });

  it('round-trips packets of every length mod 4, interface names, comments and ns timestamps', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    const a = w.addInterface('pod1-eth0', { description: 'pod1' });
    const big = frame(300);
    const lens = [0, 1, 2, 3, 4, 5, 60, 61, 62, 63];
    lens.forEach((n, i) => w.writePacketAt(a, big, i, n, 1700000000 + i, 123456789 + i, i % 3 === 0 ? `c${'x'.repeat(i)}` : undefined));
    // an interface added after packets were written
    const b = w.addInterface('vxlan.calico', { linktype: 1 });
    w.writePacket(b, big, 0, 42, 1700000000123.4375, 'après «VXLAN»'); // a double that is exact in ns
    w.writePacket(a, big, 5, 17, 2.5);
    w.close();
    const bytes = sink.bytes();
    expect(bytes.length % 4).toBe(0);
    const cap = readCapture(bytes);
    expect(cap.format).toBe('pcapng');
    expect(cap.application).toBe('podwire');
    expect(cap.interfaces.map((i) => [i.name, i.description, i.linktype, i.unitsPerSec])).toEqual([
      ['pod1-eth0', 'pod1', 1, 1_000_000_000n], ['vxlan.calico', undefined, 1, 1_000_000_000n],
    ]);
    expect(cap.packets).toHaveLength(lens.length + 2);
    lens.forEach((n, i) => {
      const p = cap.packets[i];
      expect(p?.interfaceId).toBe(0);
      expect(p?.data.equals(big.subarray(i, i + n))).toBe(true);
      expect(p?.origLen).toBe(n);
      expect(p?.tsNs).toBe(BigInt(1700000000 + i) * 1_000_000_000n + BigInt(123456789 + i));
      expect(p?.comment).toBe(i % 3 === 0 ? `c${'x'.repeat(i)}` : undefined);
    });
    const late = cap.packets[lens.length];
    expect(late?.interfaceId).toBe(1);
    expect(late?.comment).toBe('après «VXLAN»');
    expect(late?.tsNs).toBe(1700000000123437500n);
    expect(cap.packets[lens.length + 1]?.tsNs).toBe(2_500_000n);
  });

  it('encodes 64-bit ns timestamps exactly, including the high word carry', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    w.addInterface('lo');
    const cases: Array<[number, number]> = [[0, 0], [4, 294967295], [4, 294967296], [4294967295, 999999999], [1700000000, 1], [65535, 999999999], [65536, 0]];
    for (const [s, ns] of cases) w.writePacketAt(0, frame(4), 0, 4, s, ns);
    const cap = readCapture(sink.bytes());
    expect(cap.packets.map((p) => p.tsNs)).toEqual(cases.map(([s, ns]) => BigInt(s) * 1_000_000_000n + BigInt(ns)));
  });

  it('truncates to the interface snaplen and keeps the original length', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    w.addInterface('short', { snaplen: 33 });
    w.addInterface('long');
    w.writePacket(0, frame(100), 0, 100, 0);
    w.writePacket(1, frame(100), 0, 100, 0);
    const cap = readCapture(sink.bytes());
    expect(cap.packets.map((p) => [p.data.length, p.origLen])).toEqual([[33, 100], [100, 100]]);
    expect(cap.packets[0]?.data.equals(frame(100).subarray(0, 33))).toBe(true);
    expect(w.truncated).toBe(1);
  });

  it('rejects unknown interfaces, bad snaplens and writes after close', () => {
    const w = new PcapngWriter(new MemorySink());
    expect(() => w.writePacket(0, frame(4), 0, 4, 0)).toThrow(/interface 0 not added/);
    expect(() => w.addInterface('x', { snaplen: -1 })).toThrow(/snaplen/);
    w.addInterface('x');
    expect(() => w.writePacket(0, frame(4), 2, 4, 0)).toThrow(RangeError);
    w.close();
    expect(() => w.writePacket(0, frame(4), 0, 4, 0)).toThrow(/after close/);
    expect(w.interfaceName(0)).toBe('x');
  });
});
