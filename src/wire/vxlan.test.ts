import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from './errors.js';
import {
  VXLAN_HEADER_LEN, VXLAN_OVERHEAD, VXLAN_PORT_IANA, VXLAN_PORT_LINUX, VXLAN_SRC_PORT_MAX, VXLAN_SRC_PORT_MIN,
  VxlanPacket, emitVxlan, flowHash, flowHashIpv4, jhash3, parseVxlan, vxlanHeaderLen, vxlanSourcePort,
} from './vxlan.js';

const runs = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

// Headers built from RFC 7348 section 5:
//  08        flags: I set, reserved bits 0
//  00 00 00  reserved
//  00 00 01  VNI 1
//  00        reserved
const VNI_1 = hex('08 00 00 00 00 00 01 00');
const VNI_ABCDEF = hex('08 00 00 00 ab cd ef 00');

describe('VxlanPacket', () => {
  it('constants', () => {
    expect([VXLAN_PORT_IANA, VXLAN_PORT_LINUX, VXLAN_HEADER_LEN, VXLAN_OVERHEAD]).toEqual([4789, 8472, 8, 14 + 20 + 8 + 8]);
  });

  it('parses VNI 1 and VNI 0xabcdef', () => {
    const p = new VxlanPacket();
    expect(p.wrap(VNI_1, 0, 8).check()).toBe(WireError.Ok);
    expect(p.flags()).toBe(0x08);
    expect(p.iFlag()).toBe(true);
    expect(p.vni()).toBe(1);
    expect(p.payloadOffset()).toBe(8);
    expect(p.payloadLen()).toBe(0);
    expect(parseVxlan(p.wrap(VNI_ABCDEF, 0, 8))).toEqual({ vni: 0xabcdef });
  });

  it('builds the same bytes, reserved bits zero', () => {
    const buf = new Uint8Array(12).fill(0xff);
    expect(emitVxlan({ vni: 1 }, buf, 2)).toBe(vxlanHeaderLen({ vni: 1 }));
    expect(buf.subarray(2, 10)).toEqual(VNI_1);
    expect([buf[1], buf[10]]).toEqual([0xff, 0xff]);
    emitVxlan({ vni: 0xabcdef }, buf, 0);
    expect(buf.subarray(0, 8)).toEqual(VNI_ABCDEF);
    expect(() => emitVxlan({ vni: 0x1000000 }, buf, 0)).toThrow(RangeError);
    expect(() => emitVxlan({ vni: 1 }, buf, 5)).toThrow(RangeError);
  });

  it('ignores reserved bits on receipt', () => {
    const b = hex('ff ff ff ff 12 34 56 ff 00');
    const p = new VxlanPacket().wrap(b, 0, b.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.vni()).toBe(0x123456);
    expect(p.payloadLen()).toBe(1);
    p.setVni(0xabcdef);
    expect(Array.from(b.subarray(4, 8))).toEqual([0xab, 0xcd, 0xef, 0xff]); // reserved byte untouched
  });

  it('rejects short headers and a clear I flag', () => {
    const p = new VxlanPacket();
    for (let n = 0; n < 8; n++) expect(p.wrap(VNI_1, 0, n).check()).toBe(WireError.Truncated);
    expect(p.wrap(VNI_1, 1, 8).check()).toBe(WireError.Truncated);
    const b = hex('f7 ff ff ff 00 00 01 00'); // every bit but I
    expect(parseVxlan(p.wrap(b, 0, 8))).toBe(WireError.Malformed);
  });

  it('VNI round trip through the setter and through emit/parse', () => {
    const p = new VxlanPacket();
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (vni, junk) => {
      const b = Uint8Array.from(junk);
      b[0] = b[0]! | 0x08;
      p.wrap(b, 0, 8).setVni(vni);
      expect(p.vni()).toBe(vni);
      const x = new Uint8Array(8);
      emitVxlan({ vni }, x, 0);
      const r = parseVxlan(p.wrap(x, 0, 8));
      expect(r).toEqual({ vni });
      const y = new Uint8Array(8);
      emitVxlan(r as { vni: number }, y, 0);
      expect(Buffer.compare(y, x)).toBe(0);
    }), { numRuns: runs });
  });

  it('check() and parse never throw on arbitrary bytes', () => {
    const p = new VxlanPacket();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 16, size: 'max' }), fc.nat({ max: 20 }), (b, len) => {
      const c = p.wrap(b, 0, len).check();
      expect([WireError.Ok, WireError.Truncated, WireError.Malformed]).toContain(c);
      const r = parseVxlan(p);
      if (c !== WireError.Ok) expect(r).toBe(c);
    }), { numRuns: runs });
  });
});

describe('outer source port', () => {
  it('jhash3 matches the Linux kernel jhash_3words', () => {
    // Reference values computed with a Python transcription of include/linux/jhash.h
    expect(jhash3(0, 0, 0, 0)).toBe(0x1b68e557);
    expect(jhash3(1, 2, 3, 0)).toBe(0xa46158f5);
  });

  it('maps hashes into the range, inclusive of both ends', () => {
    expect(vxlanSourcePort(0)).toBe(VXLAN_SRC_PORT_MIN);
    expect(vxlanSourcePort(0xffff)).toBe(VXLAN_SRC_PORT_MAX); // hash ^ hash << 16 = 0xffffffff
    expect(vxlanSourcePort(123, 5000, 5000)).toBe(5000);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (h, a, b) => {
      const min = Math.min(a, b);
      const max = Math.max(a, b);
      const port = vxlanSourcePort(h, min, max);
      expect(Number.isInteger(port)).toBe(true);
      expect(port).toBeGreaterThanOrEqual(min);
      expect(port).toBeLessThanOrEqual(max);
    }), { numRuns: runs });
  });

  it('spreads flows over the range', () => {
    const seen = new Set<number>();
    for (let sport = 40000; sport < 41000; sport++) {
      seen.add(vxlanSourcePort(flowHash(0x0af40102, 0x0af40203, 6, sport, 80)) >>> 10);
    }
    expect(seen.size).toBeGreaterThan(20); // 28 buckets of 1024 ports in 32768..60999
  });

  it('is symmetric and stable per flow, and depends on every field and the seed', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(fc.property(u32, u32, fc.integer({ min: 0, max: 255 }), u16, u16, u32, (s, d, proto, sp, dp, seed) => {
      const h = flowHash(s, d, proto, sp, dp, seed);
      expect(h).toBe(flowHash(s, d, proto, sp, dp, seed));
      expect(h).toBe(flowHash(d, s, proto, dp, sp, seed));
      expect(h >>> 0).toBe(h);
    }), { numRuns: runs });
    const base = flowHash(0x0af40102, 0x0af40203, 6, 45678, 80);
    expect(flowHash(0x0af40102, 0x0af40203, 17, 45678, 80)).not.toBe(base);
    expect(flowHash(0x0af40102, 0x0af40203, 6, 45679, 80)).not.toBe(base);
    expect(flowHash(0x0af40102, 0x0af40204, 6, 45678, 80)).not.toBe(base);
    expect(flowHash(0x0af40102, 0x0af40203, 6, 45678, 80, 1)).not.toBe(base);
  });

  it('hashes an IPv4 packet by its 5-tuple, fragments by addresses only', () => {
    // IPv4 10.244.1.2 -> 10.244.2.3 proto 6 (checksum not needed here), TCP ports 45678 -> 80
    const pkt = hex(`
      45 00 00 28 00 01 40 00 40 06 00 00 0a f4 01 02 0a f4 02 03
      b2 6e 00 50 00 00 00 00
    `);
    expect(flowHashIpv4(pkt, 0, pkt.length)).toBe(flowHash(0x0af40102, 0x0af40203, 6, 45678, 80));
    expect(flowHashIpv4(pkt, 0, pkt.length, 7)).toBe(flowHash(0x0af40102, 0x0af40203, 6, 45678, 80, 7));
    expect(flowHashIpv4(pkt, 0, 22)).toBe(flowHash(0x0af40102, 0x0af40203, 6, 0, 0)); // ports not there
    pkt[6] = 0x20; // MF
    expect(flowHashIpv4(pkt, 0, pkt.length)).toBe(flowHash(0x0af40102, 0x0af40203, 6, 0, 0));
    pkt[6] = 0x40;
    pkt[9] = 1; // ICMP: no ports
    expect(flowHashIpv4(pkt, 0, pkt.length)).toBe(flowHash(0x0af40102, 0x0af40203, 1, 0, 0));
    expect(flowHashIpv4(pkt, 0, 19)).toBe(0);
  });
});
