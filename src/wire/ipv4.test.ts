import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpv4 } from './addr.js';
import { checksum } from './checksum.js';
import { WireError } from './errors.js';
import {
  IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4Packet, checkIpv4, checkIpv4Slow, emitIpv4, ipv4Dst, ipv4HeaderLen, ipv4IsFragment, ipv4IsLaterFragment,
  ipv4Src, ipv4TurnAround, isFragment, parseIpv4Header, writeIpv4Header,
} from './ipv4.js';
import type { Ipv4Repr } from './ipv4.js';

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 10000);

/**
 * The IPv4 header of `ping 10.244.2.2` from pod 10.244.1.2 (56 data bytes), built by hand;
 * the checksum 0x0578 was computed (and is re-verified below), not captured.
 */
const echoHeader = Uint8Array.from([
  0x45, //       version 4, IHL 5 (20 bytes)
  0x00, //       DSCP 0, ECN 0
  0x00, 0x54, // total length 84 = 20 + 8 (ICMP) + 56
  0x1c, 0x46, // identification 0x1c46
  0x40, 0x00, // flags DF, fragment offset 0
  0x40, //       TTL 64
  0x01, //       protocol ICMP
  0x05, 0x78, // header checksum
  0x0a, 0xf4, 0x01, 0x02, // source 10.244.1.2
  0x0a, 0xf4, 0x02, 0x02, // destination 10.244.2.2
]);

const echoRepr: Ipv4Repr = {
  src: parseIpv4('10.244.1.2'), dst: parseIpv4('10.244.2.2'), protocol: IpProtocol.Icmp, ttl: 64, payloadLen: 64,
  ident: 0x1c46, dscp: 0, ecn: 0, dontFrag: true, moreFrags: false, fragOffset: 0,
};

/** An IGMPv3 report header with the Router Alert option (RFC 2113), as hosts send it; checksum computed. */
const igmpHeader = Uint8Array.from([
  0x46, //       version 4, IHL 6 (24 bytes)
  0xc0, //       DSCP 48 (CS6), ECN 0
  0x00, 0x28, // total length 40 = 24 + 16
  0x00, 0x00, // identification 0
  0x40, 0x00, // DF
  0x01, //       TTL 1
  0x02, //       protocol IGMP
  0xf8, 0x03, // header checksum
  0x0a, 0xf4, 0x01, 0x02, // source 10.244.1.2
  0xe0, 0x00, 0x00, 0x16, // destination 224.0.0.22
  0x94, 0x04, 0x00, 0x00, // option: Router Alert (copied, class 0, number 20), length 4, value 0
]);

/** A middle fragment of a UDP datagram: MF set, offset 185 units = 1480 bytes; checksum computed. */
const fragHeader = Uint8Array.from([
  0x45, 0x00, 0x00, 0x2c, // total length 44
  0x1c, 0x47, //             identification
  0x20, 0xb9, //             flags MF, offset 0x0b9 = 185 (x 8 = 1480 bytes)
  0x40, 0x11, 0x24, 0xd6, // TTL 64, protocol UDP, checksum
  0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x02, 0x02,
]);

/** A TCP SYN header to the cluster DNS service VIP 10.96.0.10, before kube-proxy's DNAT; checksum computed. */
const synToVip = Uint8Array.from([
  0x45, 0x00, 0x00, 0x3c, 0x8a, 0x2b, 0x40, 0x00, 0x40, 0x06, 0x9a, 0x31,
  0x0a, 0xf4, 0x01, 0x02, // 10.244.1.2
  0x0a, 0x60, 0x00, 0x0a, // 10.96.0.10
]);

function withPayload(header: Uint8Array, total: number): Uint8Array {
  const b = new Uint8Array(total);
  b.set(header);
  return b;
}

describe('Ipv4Packet view', () => {
  const p = new Ipv4Packet();

  it('reads the echo header field by field', () => {
    const b = withPayload(echoHeader, 84);
    expect(checksum(echoHeader, 0, 20)).toBe(0); // the hard-coded checksum is right
    expect(p.wrap(b, 0, b.length).check()).toBe(WireError.Ok);
    expect(p.version()).toBe(4);
    expect(p.ihl()).toBe(5);
    expect(p.headerLen()).toBe(20);
    expect(p.dscp()).toBe(0);
    expect(p.ecn()).toBe(0);
    expect(p.totalLen()).toBe(84);
    expect(p.ident()).toBe(0x1c46);
    expect(p.dontFrag()).toBe(true);
    expect(p.moreFrags()).toBe(false);
    expect(p.fragOffsetUnits()).toBe(0);
    expect(p.ttl()).toBe(64);
    expect(p.protocol()).toBe(IpProtocol.Icmp);
    expect(p.checksum()).toBe(0x0578);
    expect(p.srcAddr()).toBe(0x0af4_0102);
    expect(p.dstAddr()).toBe(0x0af4_0202);
    expect(p.optionsLen()).toBe(0);
    expect(p.payloadOffset()).toBe(20);
    expect(p.payloadLen()).toBe(64);
    expect(p.verifyChecksum()).toBe(true);
    expect(isFragment(p)).toBe(false);
  });

  it('reads options, DSCP and a TTL of 1', () => {
    const b = withPayload(igmpHeader, 40);
    expect(checksum(igmpHeader, 0, 24)).toBe(0);
    p.wrap(b, 0, b.length);
    expect(p.check()).toBe(WireError.Ok);
    expect([p.ihl(), p.headerLen(), p.dscp(), p.ecn(), p.ttl(), p.protocol()]).toEqual([6, 24, 48, 0, 1, IpProtocol.Igmp]);
    expect(p.optionsOffset()).toBe(20);
    expect(p.optionsLen()).toBe(4);
    expect([...b.subarray(p.optionsOffset(), p.optionsOffset() + p.optionsLen())]).toEqual([0x94, 0x04, 0x00, 0x00]);
    expect(p.payloadOffset()).toBe(24);
    expect(p.payloadLen()).toBe(16);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('reads fragment fields in units and bytes', () => {
    const b = withPayload(fragHeader, 44);
    expect(checksum(fragHeader, 0, 20)).toBe(0);
    p.wrap(b, 0, b.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.dontFrag()).toBe(false);
    expect(p.moreFrags()).toBe(true);
    expect(p.fragOffsetUnits()).toBe(185);
    expect(p.fragOffsetBytes()).toBe(1480);
    expect(isFragment(p)).toBe(true);
    p.setMoreFrags(false); // the last fragment: offset alone makes it one
    expect(isFragment(p)).toBe(true);
    p.setFragOffsetBytes(0);
    expect(isFragment(p)).toBe(false);
  });

  it('uses total length, not the buffer, when Ethernet padding follows', () => {
    // a 28-byte ICMP-less packet in a 46-byte Ethernet payload
    const b = withPayload(echoHeader, 46);
    b[3] = 28;
    p.wrap(b, 0, b.length);
    expect(p.check()).toBe(WireError.Ok);
    expect(p.payloadLen()).toBe(8);
  });

  it('rejects every truncation length', () => {
    const b = withPayload(echoHeader, 84);
    for (let len = 0; len < IPV4_MIN_HEADER_LEN; len++) {
      expect(p.wrap(b, 0, len).check()).toBe(WireError.Truncated);
    }
    for (let len = 20; len < 84; len++) {
      expect(p.wrap(b, 0, len).check()).toBe(WireError.BadLength); // total length 84 > available
    }
    expect(p.wrap(b, 1, 84).check()).toBe(WireError.Truncated); // past the buffer
    const o = withPayload(igmpHeader, 40);
    for (let len = 20; len < 24; len++) {
      expect(p.wrap(o, 0, len).check()).toBe(WireError.BadHeaderLength); // options past the bytes
    }
  });

  it('rejects a wrong version, IHL below 5, total length below the header', () => {
    const b = withPayload(echoHeader, 84);
    p.wrap(b, 0, b.length);
    b[0] = 0x65;
    expect(p.check()).toBe(WireError.BadVersion);
    for (let ihl = 0; ihl < 5; ihl++) {
      b[0] = 0x40 | ihl;
      expect(p.check()).toBe(WireError.BadHeaderLength);
    }
    b[0] = 0x4f; // 60 bytes of header: fits in 84
    expect(p.check()).toBe(WireError.Ok);
    b[2] = 0; b[3] = 59;
    expect(p.check()).toBe(WireError.BadLength);
    b[0] = 0x45; b[3] = 19;
    expect(p.check()).toBe(WireError.BadLength);
    b[3] = 20;
    expect(p.check()).toBe(WireError.Ok);
    expect(p.payloadLen()).toBe(0);
  });

  it('fillChecksum writes what was hard-coded; verifyChecksum catches a flipped bit', () => {
    const b = withPayload(echoHeader, 84);
    p.wrap(b, 0, b.length);
    b[10] = 0xde; b[11] = 0xad;
    expect(p.verifyChecksum()).toBe(false);
    p.fillChecksum();
    expect(p.checksum()).toBe(0x0578);
    b[15] = b[15]! ^ 0x01;
    expect(p.verifyChecksum()).toBe(false);
  });

  it('setters write the fields they name and nothing else', () => {
    const b = withPayload(echoHeader, 84);
    p.wrap(b, 0, b.length);
    p.setDscp(46); // EF
    p.setEcn(3);
    expect([p.dscp(), p.ecn()]).toEqual([46, 3]);
    p.setDontFrag(false);
    p.setMoreFrags(true);
    p.setFragOffsetBytes(65528);
    expect([p.dontFrag(), p.moreFrags(), p.fragOffsetUnits()]).toEqual([false, true, 8191]);
    p.setIdent(0xbeef);
    p.setTotalLen(40);
    p.setTtl(7);
    p.setProtocol(IpProtocol.Udp);
    p.setSrcAddr(parseIpv4('192.168.0.1'));
    p.setDstAddr(parseIpv4('255.255.255.255'));
    p.setHeaderLen(24);
    expect([p.ident(), p.totalLen(), p.ttl(), p.protocol(), p.headerLen(), p.version()]).toEqual([0xbeef, 40, 7, 17, 24, 4]);
    expect([p.srcAddr(), p.dstAddr()]).toEqual([0xc0a8_0001, 0xffff_ffff]);
    expect(p.checksum()).toBe(0x0578); // setters without FixChecksum leave it alone
  });
});

describe('IPv4 incremental checksum', () => {
  const p = new Ipv4Packet();
  function fullChecksum(b: Uint8Array): number {
    const c = Uint8Array.from(b);
    new Ipv4Packet().wrap(c, 0, c.length).fillChecksum();
    return (c[10]! << 8) | c[11]!;
  }

  it('DNAT to a pod rewrites 0x9a31 to 0x97a2, as a full recompute does', () => {
    const b = Uint8Array.from(synToVip);
    expect(checksum(b, 0, 20)).toBe(0);
    p.wrap(b, 0, 20);
    p.setDstAddrFixChecksum(parseIpv4('10.244.2.5'));
    expect(p.dstAddr()).toBe(parseIpv4('10.244.2.5'));
    expect(p.checksum()).toBe(0x97a2);
    expect(p.verifyChecksum()).toBe(true);
    p.setDstAddrFixChecksum(parseIpv4('10.96.0.10')); // un-DNAT of the reply direction
    expect(b).toEqual(synToVip);
  });

  it('SNAT (masquerade) keeps the checksum equal to a full recompute', () => {
    const b = Uint8Array.from(synToVip);
    p.wrap(b, 0, 20);
    for (const ip of ['192.168.49.2', '0.0.0.0', '255.255.255.255', '10.244.1.2']) {
      p.setSrcAddrFixChecksum(parseIpv4(ip));
      expect(p.checksum()).toBe(fullChecksum(b));
    }
  });

  it('decrements TTL 64 -> 63, 255 -> 254, 1 -> 0, and refuses 0', () => {
    const b = withPayload(echoHeader, 84);
    p.wrap(b, 0, b.length);
    expect(p.decTtlFixChecksum()).toBe(63);
    expect(p.checksum()).toBe(fullChecksum(b.subarray(0, 20)));
    expect(p.checksum()).toBe(0x0678); // the header sum lost 0x0100, so its complement gained 0x0100
    p.setTtl(255);
    p.fillChecksum();
    expect(p.decTtlFixChecksum()).toBe(254);
    expect(p.checksum()).toBe(fullChecksum(b.subarray(0, 20)));
    p.setTtl(1);
    p.fillChecksum();
    expect(p.decTtlFixChecksum()).toBe(0);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.checksum()).toBe(fullChecksum(b.subarray(0, 20)));
    const before = Uint8Array.from(b);
    expect(p.decTtlFixChecksum()).toBe(-1);
    expect(b).toEqual(before);
  });

  it('decTtl across the checksum wrap (0xffff / 0x0000 neighbourhood) still verifies', () => {
    // find an ident that puts the checksum at each edge value before decrementing
    for (const target of [0x0000, 0x0001, 0x00ff, 0x0100, 0xfeff, 0xfffe]) {
      const b = withPayload(echoHeader, 84);
      p.wrap(b, 0, b.length);
      for (let ident = 0; ident <= 0xffff; ident++) {
        p.setIdent(ident);
        p.fillChecksum();
        if (p.checksum() === target) break;
      }
      expect(p.checksum()).toBe(target);
      p.decTtlFixChecksum();
      expect(p.verifyChecksum()).toBe(true);
      expect(p.checksum()).toBe(fullChecksum(b.subarray(0, 20)));
    }
  });

  it('setTtlFixChecksum matches a full recompute', () => {
    const b = withPayload(igmpHeader, 40);
    p.wrap(b, 0, b.length);
    p.setTtlFixChecksum(255);
    expect(p.ttl()).toBe(255);
    expect(p.checksum()).toBe(fullChecksum(b.subarray(0, 24)));
  });
});

describe('Ipv4Repr', () => {
  const p = new Ipv4Packet();

  it('parses the known headers', () => {
    expect(parseIpv4Header(p.wrap(withPayload(echoHeader, 84), 0, 84))).toEqual(echoRepr);
    const igmp = parseIpv4Header(p.wrap(withPayload(igmpHeader, 40), 0, 40));
    expect(igmp).toEqual({
      src: parseIpv4('10.244.1.2'), dst: parseIpv4('224.0.0.22'), protocol: IpProtocol.Igmp, ttl: 1, payloadLen: 16,
      ident: 0, dscp: 48, ecn: 0, dontFrag: true, moreFrags: false, fragOffset: 0, options: Uint8Array.from([0x94, 4, 0, 0]),
    });
    expect(parseIpv4Header(p.wrap(withPayload(fragHeader, 44), 0, 44))).toMatchObject({ moreFrags: true, fragOffset: 1480 });
  });

  it('returns BadChecksum unless told to ignore it (offloaded captures carry 0)', () => {
    const b = withPayload(echoHeader, 84);
    b[10] = 0; b[11] = 0;
    p.wrap(b, 0, b.length);
    expect(parseIpv4Header(p)).toBe(WireError.BadChecksum);
    expect(parseIpv4Header(p, { ignoreChecksum: true })).toEqual(echoRepr);
    expect(parseIpv4Header(p.wrap(b, 0, 19), { ignoreChecksum: true })).toBe(WireError.Truncated);
  });

  it('emits the same bytes', () => {
    const b = new Uint8Array(24).fill(0xcc);
    expect(ipv4HeaderLen(echoRepr)).toBe(20);
    expect(emitIpv4(echoRepr, b, 2)).toBe(20);
    expect(b.subarray(2, 22)).toEqual(echoHeader);
    expect([b[0], b[1], b[22], b[23]]).toEqual([0xcc, 0xcc, 0xcc, 0xcc]);
    const igmp = parseIpv4Header(p.wrap(withPayload(igmpHeader, 40), 0, 40));
    if (typeof igmp === 'number') throw new Error('igmp header rejected');
    const o = new Uint8Array(ipv4HeaderLen(igmp));
    expect(emitIpv4(igmp, o, 0)).toBe(24);
    expect(o).toEqual(igmpHeader);
  });

  it('refuses to emit what cannot be encoded or does not fit', () => {
    const b = new Uint8Array(64);
    expect(() => emitIpv4({ ...echoRepr, options: new Uint8Array(3) }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...echoRepr, options: new Uint8Array(44) }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...echoRepr, fragOffset: 4 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...echoRepr, fragOffset: 65536 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...echoRepr, payloadLen: 65516 }, b, 0)).toThrow(RangeError);
    expect(() => emitIpv4(echoRepr, new Uint8Array(19), 0)).toThrow(RangeError);
    expect(emitIpv4({ ...echoRepr, payloadLen: 65475, options: new Uint8Array(40) }, b, 0)).toBe(60);
    expect(() => emitIpv4({ ...echoRepr, payloadLen: 65476, options: new Uint8Array(40) }, b, 0)).toThrow(RangeError);
  });
});

describe('IPv4 properties', () => {
  const arbIp = fc.integer({ min: 0, max: 0xffff_ffff });
  const arbRepr: fc.Arbitrary<Ipv4Repr> = fc.record({
    src: arbIp, dst: arbIp, protocol: fc.integer({ min: 0, max: 255 }), ttl: fc.integer({ min: 0, max: 255 }),
    payloadLen: fc.integer({ min: 0, max: 200 }), ident: fc.integer({ min: 0, max: 0xffff }),
    dscp: fc.integer({ min: 0, max: 63 }), ecn: fc.integer({ min: 0, max: 3 }), dontFrag: fc.boolean(), moreFrags: fc.boolean(),
    fragOffset: fc.integer({ min: 0, max: 8191 }).map((u) => u * 8),
    optWords: fc.integer({ min: 0, max: 10 }), optSeed: fc.uint8Array({ minLength: 40, maxLength: 40 }),
  }).map(({ optWords, optSeed, ...r }) => (optWords === 0 ? r : { ...r, options: optSeed.slice(0, optWords * 4) }));

  it('check(), verifyChecksum() and parse never throw on arbitrary bytes', () => {
    const p = new Ipv4Packet();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat(90), fc.nat(90), fc.boolean(), (bytes, off, len, plausible) => {
      const b = Uint8Array.from(bytes);
      if (plausible && b.length > off) b[off] = 0x45 + (b[off]! % 11); // version 4, IHL 5..15
      const err = p.wrap(b, off, len).check();
      const r = parseIpv4Header(p, { ignoreChecksum: true });
      expect(typeof r === 'number' ? r : WireError.Ok).toBe(err);
      const strict = parseIpv4Header(p);
      if (err === WireError.Ok) {
        expect(strict === WireError.BadChecksum).toBe(!p.verifyChecksum());
        expect(p.payloadOffset() + p.payloadLen()).toBeLessThanOrEqual(off + len);
      }
    }), { numRuns: RUNS });
  });

  it('parse(emit(repr)) equals repr, and re-emitting gives the same bytes', () => {
    const p = new Ipv4Packet();
    fc.assert(fc.property(arbRepr, (repr) => {
      const hl = ipv4HeaderLen(repr);
      const b = new Uint8Array(hl + repr.payloadLen);
      expect(emitIpv4(repr, b, 0)).toBe(hl);
      const back = parseIpv4Header(p.wrap(b, 0, b.length));
      expect(back).toEqual(repr);
      if (typeof back === 'number') return;
      const again = new Uint8Array(hl);
      emitIpv4(back, again, 0);
      expect(again).toEqual(b.subarray(0, hl));
    }), { numRuns: RUNS });
  });

  it('incremental rewrites (DNAT, SNAT, TTL) equal a full recompute', () => {
    const p = new Ipv4Packet();
    const q = new Ipv4Packet();
    const arbOp = fc.oneof(
      fc.tuple(fc.constant('src' as const), arbIp),
      fc.tuple(fc.constant('dst' as const), arbIp),
      fc.tuple(fc.constant('ttl' as const), fc.integer({ min: 0, max: 255 })),
      fc.tuple(fc.constant('dec' as const), fc.constant(0)),
    );
    fc.assert(fc.property(arbRepr, fc.array(arbOp, { minLength: 1, maxLength: 8 }), (repr, ops) => {
      const hl = ipv4HeaderLen(repr);
      const b = new Uint8Array(hl);
      emitIpv4({ ...repr, payloadLen: 0 }, b, 0);
      p.wrap(b, 0, hl);
      for (const [op, v] of ops) {
        if (op === 'src') p.setSrcAddrFixChecksum(v);
        else if (op === 'dst') p.setDstAddrFixChecksum(v);
        else if (op === 'ttl') p.setTtlFixChecksum(v);
        else p.decTtlFixChecksum();
        const full = Uint8Array.from(b);
        q.wrap(full, 0, hl).fillChecksum();
        expect(p.checksum()).toBe(q.checksum());
        expect(p.verifyChecksum()).toBe(true);
      }
    }), { numRuns: RUNS });
  });
});

describe('the hot path\'s fast answers equal the full ones', () => {
  it('checkIpv4 (common header first) answers as checkIpv4Slow (every check in order); the fragment readers as the flags word', () => {
    const arb = [fc.uint8Array({ maxLength: 80, size: 'max' }), fc.nat(30), fc.nat(90), fc.boolean(), fc.integer({ min: -3, max: 3 }), fc.boolean()] as const;
    fc.assert(fc.property(...arb, (bytes, off, len, plausible, d, near20) => {
      const b = Uint8Array.from(bytes);
      if (plausible && b.length > off) b[off] = 0x45;
      // Total Length next to the bytes there are (and to the 20-byte minimum): the edges of the fast answer.
      if (plausible && b.length > off + 3) { const tl = Math.max(0, (near20 ? 20 : len) + d); b[off + 2] = tl >>> 8; b[off + 3] = tl & 0xff; }
      expect(checkIpv4(b, off, len)).toBe(checkIpv4Slow(b, off, len));
      if (b.length >= off + 20) {
        const w = ((b[off + 6]! << 8) | b[off + 7]!);
        expect(ipv4IsFragment(b, off)).toBe((w & 0x3fff) !== 0);
        expect(ipv4IsLaterFragment(b, off)).toBe((w & 0x1fff) !== 0);
        const u32 = (i: number): number => ((b[i]! * 0x1000000) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!);
        expect([ipv4Src(b, off), ipv4Dst(b, off)]).toEqual([u32(off + 12), u32(off + 16)]);
      }
    }), { numRuns: RUNS });
  });
});

describe('ipv4TurnAround (the in-place reply of echo, ICMP, SCTP and UDP echo)', () => {
  it('swaps the addresses, writes TTL and Total Length, keeps options, and the checksum verifies', () => {
    const p = new Ipv4Packet();
    fc.assert(fc.property(
      fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 10 }), fc.nat({ max: 255 }),
      fc.integer({ min: 60, max: 0xffff }), fc.uint8Array({ minLength: 40, maxLength: 40 }),
      (src, dst, optWords, ttl, total, opt) => {
        const repr: Ipv4Repr = {
          src, dst, protocol: IpProtocol.Udp, ttl: 7, payloadLen: 0, ident: 0x1234, dscp: 0, ecn: 0,
          dontFrag: true, moreFrags: false, fragOffset: 0, ...(optWords === 0 ? {} : { options: opt.slice(0, optWords * 4) }),
        };
        const hl = ipv4HeaderLen(repr);
        const b = new Uint8Array(hl);
        emitIpv4(repr, b, 0);
        const before = Uint8Array.from(b);
        ipv4TurnAround(b, 0, ttl, total);
        p.wrap(b, 0, hl);
        expect([p.srcAddr(), p.dstAddr(), p.ttl(), p.totalLen()]).toEqual([dst >>> 0, src >>> 0, ttl, total]);
        expect(p.verifyChecksum()).toBe(true);
        expect(b.subarray(20)).toEqual(before.subarray(20)); // options untouched
        expect([...b.subarray(4, 8), b[9]]).toEqual([...before.subarray(4, 8), before[9]]);
      },
    ), { numRuns: Math.min(RUNS, 2000) });
  });
});

describe('writeIpv4Header', () => {
  it('writes the same 20 bytes as emitIpv4 for a header without options, DF set or not', () => {
    fc.assert(fc.property(
      fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 255 }), fc.integer({ min: 20, max: 0xffff }),
      fc.nat({ max: 0xffff }), fc.integer({ min: 1, max: 255 }), fc.boolean(), fc.nat({ max: 255 }),
      (src, dst, protocol, total, ident, ttl, df, tos) => {
        const a = new Uint8Array(20);
        const b = new Uint8Array(20);
        writeIpv4Header(a, 0, src, dst, protocol, total, ident, ttl, df, tos);
        emitIpv4({ src, dst, protocol, ttl, ident, payloadLen: total - 20, dscp: tos >>> 2, ecn: tos & 3, dontFrag: df, moreFrags: false, fragOffset: 0 }, b, 0);
        expect(a).toEqual(b);
        expect(checksum(a, 0, 20)).toBe(0);
      },
    ), { numRuns: Math.min(RUNS, 2000) });
  });
});
