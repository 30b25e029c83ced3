import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum, fold, pseudoHeaderSum, sum16, update16, update32 } from './checksum.js';

describe('checksum (RFC 1071)', () => {
  it('matches the worked example of RFC 1071 section 3', () => {
    // 00 01 f2 03 f4 f5 f6 f7 -> sum 0x2ddf0, folded 0xddf2, checksum 0x220d
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(sum16(b, 0, b.length)).toBe(0x2ddf0);
    expect(fold(0x2ddf0)).toBe(0xddf2);
    expect(checksum(b, 0, b.length)).toBe(0x220d);
  });

  it('verifies an IPv4 header to zero', () => {
    // ping 10.244.1.2 -> 10.244.2.2, ttl 64, id 0x1c46, DF, checksum 0x0578 (python cross-check)
    const h = Uint8Array.from([
      0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x05, 0x78,
      0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x02,
    ]);
    expect(checksum(h, 0, 20)).toBe(0);
  });

  it('pads an odd tail with zero and honours the offset', () => {
    const b = Uint8Array.from([0xff, 0x12, 0x34, 0x56]);
    expect(sum16(b, 1, 3)).toBe(0x1234 + 0x5600);
  });

  it('pseudo-header sum is the sum of its 16-bit words', () => {
    expect(pseudoHeaderSum(0x0af40102, 0x0af40202, 17, 8)).toBe(0x0af4 + 0x0102 + 0x0af4 + 0x0202 + 17 + 8);
  });

  it('incremental update equals a full recompute (16-bit words)', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 64 }).map((a) => (a.length % 2 ? a.subarray(1) : a)),
      fc.nat(), fc.integer({ min: 0, max: 0xffff }),
      (bytes, pos, word) => {
        const b = Uint8Array.from(bytes);
        b[0] = 0; b[1] = 0; // checksum field at 0
        const c0 = checksum(b, 0, b.length);
        b[0] = c0 >>> 8; b[1] = c0 & 0xff;
        const off = 2 + 2 * (pos % ((b.length - 2) / 2));
        const old = (b[off]! << 8) | b[off + 1]!;
        b[off] = word >>> 8; b[off + 1] = word & 0xff;
        const inc = update16(c0, old, word);
        b[0] = inc >>> 8; b[1] = inc & 0xff;
        expect(checksum(b, 0, b.length)).toBe(0);
      },
    ), { numRuns: 20_000 });
  });

  it('incremental update equals a full recompute (32-bit fields)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.integer({ min: 0, max: 0xffffffff }), (bytes, v) => {
      const b = Uint8Array.from(bytes);
      b[0] = 0; b[1] = 0;
      const c0 = checksum(b, 0, b.length);
      const old = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
      b[4] = v >>> 24; b[5] = (v >>> 16) & 0xff; b[6] = (v >>> 8) & 0xff; b[7] = v & 0xff;
      const inc = update32(c0, old, v);
      const full = checksum(b, 0, b.length);
      // Both are valid encodings of the same one's complement value; eqn. 3 never yields -0
      // unless the full result is also 0xffff/0x0000 equivalent.
      expect(fold((inc ^ 0xffff) + 0) === fold((full ^ 0xffff) + 0) || (inc === 0xffff && full === 0) || (inc === 0 && full === 0xffff)).toBe(true);
    }), { numRuns: 20_000 });
  });
});
