import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAC_BROADCAST, parseMac } from './addr.js';
import { WireError } from './errors.js';
import {
  ETHERNET_HEADER_LEN, ETHERNET_VLAN_HEADER_LEN, EtherType, EthernetFrame,
  emitEthernet, ethernetHeaderLen, parseEthernet,
} from './ethernet.js';
import type { EthernetRepr } from './ethernet.js';

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 10000);

/**
 * An ARP request (who-has 10.244.1.1 tell 10.244.1.2) as a pod with MAC 02:42:0a:f4:01:02
 * sends it, padded to the 60-byte Ethernet minimum. Built by hand from RFC 826 / IEEE 802.3.
 */
const arpRequestFrame = Uint8Array.from([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
  0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, // src: 02:42:0a:f4:01:02
  0x08, 0x06, //                         EtherType: ARP
  0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype 1, ptype IPv4, hlen 6, plen 4, oper request
  0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, 0x0a, 0xf4, 0x01, 0x02, // sha, spa 10.244.1.2
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0xf4, 0x01, 0x01, // tha (unknown), tpa 10.244.1.1
  ...new Array<number>(18).fill(0), //  padding to 60 bytes
]);

/** The header of an IPv4 frame tagged VLAN 100, priority 5 (voice), DEI clear. */
const taggedHeader = Uint8Array.from([
  0x02, 0x42, 0x0a, 0xf4, 0x02, 0x02, // dst: 02:42:0a:f4:02:02
  0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, // src: 02:42:0a:f4:01:02
  0x81, 0x00, //                         TPID: 802.1Q
  0xa0, 0x64, //                         TCI: PCP 5 (101), DEI 0, VID 100 (0x064)
  0x08, 0x00, //                         inner EtherType: IPv4
]);

describe('EthernetFrame view', () => {
  const f = new EthernetFrame();

  it('reads an untagged ARP broadcast field by field', () => {
    expect(f.wrap(arpRequestFrame, 0, arpRequestFrame.length).check()).toBe(WireError.Ok);
    expect(f.dstMac()).toBe(MAC_BROADCAST);
    expect(f.srcMac()).toBe(parseMac('02:42:0a:f4:01:02'));
    expect(f.etherType()).toBe(EtherType.Arp);
    expect(f.innerEtherType()).toBe(EtherType.Arp);
    expect(f.hasVlan()).toBe(false);
    expect([f.vlanId(), f.vlanPcp(), f.vlanDei()]).toEqual([0, 0, false]);
    expect(f.headerLen()).toBe(14);
    expect(f.payloadOffset()).toBe(14);
    expect(f.payloadLen()).toBe(46); // 28 bytes of ARP + 18 of padding
  });

  it('reads an 802.1Q tag', () => {
    expect(f.wrap(taggedHeader, 0, taggedHeader.length).check()).toBe(WireError.Ok);
    expect(f.etherType()).toBe(EtherType.Vlan);
    expect(f.hasVlan()).toBe(true);
    expect(f.vlanTci()).toBe(0xa064);
    expect(f.vlanId()).toBe(100);
    expect(f.vlanPcp()).toBe(5);
    expect(f.vlanDei()).toBe(false);
    expect(f.innerEtherType()).toBe(EtherType.Ipv4);
    expect(f.headerLen()).toBe(18);
    expect(f.payloadLen()).toBe(0);
    const dei = Uint8Array.from(taggedHeader);
    dei[14] = 0x1f; dei[15] = 0xff; // PCP 0, DEI 1, VID 4095
    f.wrap(dei, 0, dei.length);
    expect([f.vlanPcp(), f.vlanDei(), f.vlanId()]).toEqual([0, true, 4095]);
  });

  it('honours the offset into a larger buffer', () => {
    const b = new Uint8Array(100).fill(0xee);
    b.set(arpRequestFrame, 20);
    f.wrap(b, 20, arpRequestFrame.length);
    expect(f.check()).toBe(WireError.Ok);
    expect(f.srcMac()).toBe(parseMac('02:42:0a:f4:01:02'));
    expect(f.payloadOffset()).toBe(34);
  });

  it('rejects every length shorter than the header', () => {
    for (let len = 0; len < ETHERNET_HEADER_LEN; len++) {
      expect(f.wrap(arpRequestFrame, 0, len).check()).toBe(WireError.Truncated);
    }
    for (let len = 0; len < ETHERNET_VLAN_HEADER_LEN; len++) {
      expect(f.wrap(taggedHeader, 0, len).check()).toBe(WireError.Truncated);
    }
    expect(f.wrap(taggedHeader, 0, 18).check()).toBe(WireError.Ok);
  });

  it('rejects a length that runs past the buffer', () => {
    expect(f.wrap(arpRequestFrame, 1, arpRequestFrame.length).check()).toBe(WireError.Truncated);
  });

  it('keeps unknown EtherTypes and 802.3 length fields as numbers', () => {
    const b = Uint8Array.from(arpRequestFrame);
    b[12] = 0x88; b[13] = 0xb5; // IEEE local experimental
    f.wrap(b, 0, b.length);
    expect(f.check()).toBe(WireError.Ok);
    expect(f.innerEtherType()).toBe(0x88b5);
    b[12] = 0x00; b[13] = 0x2e; // an 802.3 length (46)
    expect(f.check()).toBe(WireError.Ok);
    expect(f.etherType()).toBe(0x002e);
  });

  it('writes fields in place', () => {
    const b = Uint8Array.from(taggedHeader);
    f.wrap(b, 0, b.length);
    f.setDstMac(MAC_BROADCAST);
    f.setSrcMac(parseMac('0a:58:0a:f4:00:01'));
    f.setInnerEtherType(EtherType.Arp);
    f.setVlanTci(0x0005);
    expect(f.dstMac()).toBe(MAC_BROADCAST);
    expect(f.srcMac()).toBe(parseMac('0a:58:0a:f4:00:01'));
    expect(f.innerEtherType()).toBe(EtherType.Arp);
    expect(f.vlanId()).toBe(5);
    f.setEtherType(EtherType.Ipv6);
    expect(f.hasVlan()).toBe(false);
    expect(f.innerEtherType()).toBe(EtherType.Ipv6);
    f.setInnerEtherType(EtherType.Ipv4);
    expect(f.etherType()).toBe(EtherType.Ipv4);
  });
});

describe('EthernetRepr', () => {
  const f = new EthernetFrame();

  it('parses the known frames', () => {
    expect(parseEthernet(f.wrap(arpRequestFrame, 0, arpRequestFrame.length))).toEqual({
      dst: MAC_BROADCAST, src: 0x0242_0af4_0102, etherType: EtherType.Arp,
    });
    expect(parseEthernet(f.wrap(taggedHeader, 0, taggedHeader.length))).toEqual({
      dst: 0x0242_0af4_0202, src: 0x0242_0af4_0102, etherType: EtherType.Ipv4, vlan: { id: 100, pcp: 5, dei: false },
    });
    expect(parseEthernet(f.wrap(taggedHeader, 0, 17))).toBe(WireError.Truncated);
  });

  it('emits the same bytes', () => {
    const b = new Uint8Array(20).fill(0xcc);
    const n = emitEthernet({ dst: MAC_BROADCAST, src: parseMac('02:42:0a:f4:01:02'), etherType: EtherType.Arp }, b, 2);
    expect(n).toBe(14);
    expect(b.subarray(2, 16)).toEqual(arpRequestFrame.subarray(0, 14));
    expect([b[0], b[1], b[16]]).toEqual([0xcc, 0xcc, 0xcc]);
    const repr: EthernetRepr = {
      dst: parseMac('02:42:0a:f4:02:02'), src: parseMac('02:42:0a:f4:01:02'), etherType: EtherType.Ipv4,
      vlan: { id: 100, pcp: 5, dei: false },
    };
    const t = new Uint8Array(ethernetHeaderLen(repr));
    expect(emitEthernet(repr, t, 0)).toBe(18);
    expect(t).toEqual(taggedHeader);
  });

  it('refuses to emit what cannot be encoded or does not fit', () => {
    const repr = { dst: 0, src: 0, etherType: EtherType.Ipv4 };
    expect(() => emitEthernet(repr, new Uint8Array(13), 0)).toThrow(RangeError);
    expect(() => emitEthernet(repr, new Uint8Array(14), 1)).toThrow(RangeError);
    expect(() => emitEthernet({ ...repr, vlan: { id: 4096, pcp: 0, dei: false } }, new Uint8Array(18), 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...repr, vlan: { id: 1, pcp: 8, dei: false } }, new Uint8Array(18), 0)).toThrow(RangeError);
  });
});

describe('Ethernet properties', () => {
  const arbMac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
  const arbVlan = fc.record({ id: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean() });
  const arbRepr: fc.Arbitrary<EthernetRepr> = fc.tuple(arbMac, arbMac, fc.integer({ min: 0, max: 0xffff }), fc.option(arbVlan))
    .map(([dst, src, etherType, vlan]) => (vlan === null ? { dst, src, etherType } : { dst, src, etherType, vlan }))
    // an untagged repr whose type is 0x8100 would be read back as tagged
    .filter((r) => r.vlan !== undefined || r.etherType !== EtherType.Vlan);

  it('check() and parse never throw on arbitrary bytes, offsets and lengths', () => {
    const f = new EthernetFrame();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64, size: 'max' }), fc.nat(70), fc.nat(70), (b, off, len) => {
      const err = f.wrap(b, off, len).check();
      const r = parseEthernet(f);
      if (err === WireError.Ok) {
        expect(typeof r).toBe('object');
        expect(f.payloadOffset() + f.payloadLen()).toBe(off + len);
      } else {
        expect(r).toBe(err);
      }
    }), { numRuns: RUNS });
  });

  it('parse(emit(repr)) equals repr', () => {
    const f = new EthernetFrame();
    fc.assert(fc.property(arbRepr, (repr) => {
      const b = new Uint8Array(ethernetHeaderLen(repr));
      expect(emitEthernet(repr, b, 0)).toBe(b.length);
      expect(parseEthernet(f.wrap(b, 0, b.length))).toEqual(repr);
    }), { numRuns: RUNS });
  });

  it('emit(parse(x)) equals the header of any valid frame', () => {
    const f = new EthernetFrame();
    fc.assert(fc.property(fc.uint8Array({ minLength: 14, maxLength: 40 }), fc.boolean(), (bytes, tag) => {
      const b = Uint8Array.from(bytes);
      if (tag && b.length >= 18) { b[12] = 0x81; b[13] = 0x00; }
      const repr = parseEthernet(f.wrap(b, 0, b.length));
      if (typeof repr === 'number') { expect(repr).toBe(WireError.Truncated); return; }
      const out = new Uint8Array(f.headerLen());
      emitEthernet(repr, out, 0);
      expect(out).toEqual(b.subarray(0, f.headerLen()));
    }), { numRuns: RUNS });
  });
});
