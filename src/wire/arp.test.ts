import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpv4, parseMac } from './addr.js';
import { ARP_LEN, ArpOperation, ArpPacket, arpLen, emitArp, parseArp } from './arp.js';
import type { ArpRepr } from './arp.js';
import { EthernetFrame, EtherType } from './ethernet.js';
import { WireError } from './errors.js';

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 10000);

/** who-has 10.244.1.1 tell 10.244.1.2, from a pod with MAC 02:42:0a:f4:01:02 (built from RFC 826). */
const request = Uint8Array.from([
  0x00, 0x01, //                         htype: Ethernet
  0x08, 0x00, //                         ptype: IPv4
  0x06, //                               hlen
  0x04, //                               plen
  0x00, 0x01, //                         oper: request
  0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, // sha: 02:42:0a:f4:01:02
  0x0a, 0xf4, 0x01, 0x02, //             spa: 10.244.1.2
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha: unknown
  0x0a, 0xf4, 0x01, 0x01, //             tpa: 10.244.1.1
]);

/** 10.244.1.1 is-at 0a:58:0a:f4:01:01 (the node bridge), back to the pod. */
const reply = Uint8Array.from([
  0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
  0x00, 0x02, //                         oper: reply
  0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01, // sha: 0a:58:0a:f4:01:01
  0x0a, 0xf4, 0x01, 0x01, //             spa: 10.244.1.1
  0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, // tha: 02:42:0a:f4:01:02
  0x0a, 0xf4, 0x01, 0x02, //             tpa: 10.244.1.2
]);

const requestRepr: ArpRepr = {
  operation: ArpOperation.Request,
  senderMac: parseMac('02:42:0a:f4:01:02'), senderIp: parseIpv4('10.244.1.2'),
  targetMac: 0, targetIp: parseIpv4('10.244.1.1'),
};

describe('ArpPacket view', () => {
  const p = new ArpPacket();

  it('reads a request field by field', () => {
    expect(p.wrap(request, 0, request.length).check()).toBe(WireError.Ok);
    expect(p.htype()).toBe(1);
    expect(p.ptype()).toBe(EtherType.Ipv4);
    expect(p.hlen()).toBe(6);
    expect(p.plen()).toBe(4);
    expect(p.oper()).toBe(ArpOperation.Request);
    expect(p.sha()).toBe(parseMac('02:42:0a:f4:01:02'));
    expect(p.spa()).toBe(parseIpv4('10.244.1.2'));
    expect(p.tha()).toBe(0);
    expect(p.tpa()).toBe(parseIpv4('10.244.1.1'));
  });

  it('reads the ARP inside a padded Ethernet frame', () => {
    const frame = new Uint8Array(60);
    frame.fill(0xff, 0, 6);
    frame.set([0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, 0x08, 0x06], 6);
    frame.set(request, 14);
    const eth = new EthernetFrame().wrap(frame, 0, frame.length);
    expect(eth.check()).toBe(WireError.Ok);
    expect(eth.innerEtherType()).toBe(EtherType.Arp);
    expect(p.wrap(frame, eth.payloadOffset(), eth.payloadLen()).check()).toBe(WireError.Ok); // 46 bytes, padding ignored
    expect(parseArp(p)).toEqual(requestRepr);
  });

  it('rejects every truncation length', () => {
    for (let len = 0; len < ARP_LEN; len++) {
      expect(p.wrap(request, 0, len).check()).toBe(WireError.Truncated);
      expect(parseArp(p)).toBe(WireError.Truncated);
    }
    expect(p.wrap(request, 1, ARP_LEN).check()).toBe(WireError.Truncated); // past the buffer
  });

  it.each([
    ['htype IEEE 802 (6)', 1, 0x06],
    ['ptype IPv6', 2, 0x86],
    ['hlen 8', 4, 0x08],
    ['plen 16', 5, 0x10],
  ])('rejects a non-Ethernet/IPv4 pair as unsupported: %s', (_name, at, v) => {
    const b = Uint8Array.from(request);
    b[at] = v;
    expect(p.wrap(b, 0, b.length).check()).toBe(WireError.Unsupported);
    expect(parseArp(p)).toBe(WireError.Unsupported);
  });

  it('turns a request into its reply in place, as a responder does', () => {
    const b = Uint8Array.from(request);
    p.wrap(b, 0, b.length);
    const bridgeMac = parseMac('0a:58:0a:f4:01:01');
    const asker = p.sha();
    const askerIp = p.spa();
    const wanted = p.tpa();
    p.setOper(ArpOperation.Reply);
    p.setTha(asker);
    p.setTpa(askerIp);
    p.setSha(bridgeMac);
    p.setSpa(wanted);
    expect(b).toEqual(reply);
  });

  it('setEthernetIpv4 writes the fixed fields', () => {
    const b = new Uint8Array(ARP_LEN);
    p.wrap(b, 0, b.length).setEthernetIpv4();
    expect([...b.subarray(0, 6)]).toEqual([0x00, 0x01, 0x08, 0x00, 0x06, 0x04]);
    expect(p.check()).toBe(WireError.Ok);
  });
});

describe('ArpRepr', () => {
  const p = new ArpPacket();

  it('parses request and reply', () => {
    expect(parseArp(p.wrap(request, 0, request.length))).toEqual(requestRepr);
    expect(parseArp(p.wrap(reply, 0, reply.length))).toEqual({
      operation: ArpOperation.Reply,
      senderMac: parseMac('0a:58:0a:f4:01:01'), senderIp: parseIpv4('10.244.1.1'),
      targetMac: parseMac('02:42:0a:f4:01:02'), targetIp: parseIpv4('10.244.1.2'),
    });
  });

  it('emits the same bytes at an offset', () => {
    const b = new Uint8Array(ARP_LEN + 4).fill(0xcc);
    expect(arpLen(requestRepr)).toBe(28);
    expect(emitArp(requestRepr, b, 2)).toBe(28);
    expect(b.subarray(2, 30)).toEqual(request);
    expect([b[0], b[1], b[30], b[31]]).toEqual([0xcc, 0xcc, 0xcc, 0xcc]);
  });

  it('keeps unknown operations (RARP, InARP) as numbers', () => {
    const b = new Uint8Array(ARP_LEN);
    emitArp({ ...requestRepr, operation: 8 }, b, 0);
    expect(parseArp(p.wrap(b, 0, b.length))).toEqual({ ...requestRepr, operation: 8 });
  });

  it('refuses to emit into a buffer that is too small', () => {
    expect(() => emitArp(requestRepr, new Uint8Array(27), 0)).toThrow(RangeError);
    expect(() => emitArp(requestRepr, new Uint8Array(28), 1)).toThrow(RangeError);
  });
});

describe('ARP properties', () => {
  const arbMac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
  const arbIp = fc.integer({ min: 0, max: 0xffff_ffff });
  const arbRepr: fc.Arbitrary<ArpRepr> = fc.record({
    operation: fc.integer({ min: 0, max: 0xffff }), senderMac: arbMac, senderIp: arbIp, targetMac: arbMac, targetIp: arbIp,
  });

  it('check() and parse never throw on arbitrary bytes', () => {
    const p = new ArpPacket();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40, size: 'max' }), fc.nat(40), fc.nat(40), fc.boolean(), (bytes, off, len, fix) => {
      const b = Uint8Array.from(bytes);
      if (fix && b.length >= off + 6) b.set([0x00, 0x01, 0x08, 0x00, 0x06, 0x04], off);
      const err = p.wrap(b, off, len).check();
      const r = parseArp(p);
      expect(typeof r === 'number' ? r : WireError.Ok).toBe(err);
    }), { numRuns: RUNS });
  });

  it('parse(emit(repr)) equals repr', () => {
    const p = new ArpPacket();
    fc.assert(fc.property(arbRepr, (repr) => {
      const b = new Uint8Array(ARP_LEN);
      emitArp(repr, b, 0);
      expect(parseArp(p.wrap(b, 0, b.length))).toEqual(repr);
    }), { numRuns: RUNS });
  });

  it('emit(parse(x)) equals any valid packet', () => {
    const p = new ArpPacket();
    fc.assert(fc.property(fc.uint8Array({ minLength: ARP_LEN, maxLength: ARP_LEN }), (bytes) => {
      const b = Uint8Array.from(bytes);
      b.set([0x00, 0x01, 0x08, 0x00, 0x06, 0x04], 0);
      const repr = parseArp(p.wrap(b, 0, b.length));
      if (typeof repr === 'number') throw new Error(`valid packet rejected: ${repr}`);
      const out = new Uint8Array(ARP_LEN);
      emitArp(repr, out, 0);
      expect(out).toEqual(b);
    }), { numRuns: RUNS });
  });
});
