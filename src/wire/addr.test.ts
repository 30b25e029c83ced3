import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAC_BROADCAST, cidrContains, cidrOf, cidrOverlaps, cidrSize, cidrSubnet, formatCidr, formatIpv4, formatMac,
  isBroadcastMac, isLocalMac, isMulticastMac, isUnicastMac, macFromIpv4, nthHost, parseCidr, parseIpv4, parseMac,
  prefixMask, readMac, readU16, readU32, tryParseCidr, tryParseIpv4, tryParseIpv4Port, tryParseMac, tryParsePort, writeMac, writeU16, writeU32,
} from './addr.js';

const RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 10000);
const MAC_MAX = 2 ** 48 - 1;

describe('MAC addresses', () => {
  it('parses and formats the Docker-style MAC of 10.244.1.2', () => {
    expect(parseMac('02:42:0a:f4:01:02')).toBe(0x0242_0af4_0102);
    expect(formatMac(0x0242_0af4_0102)).toBe('02:42:0a:f4:01:02');
    expect(parseMac('02-42-0A-F4-01-02')).toBe(0x0242_0af4_0102);
    expect(parseMac('2:42:a:f4:1:2')).toBe(0x0242_0af4_0102);
    expect(formatMac(0)).toBe('00:00:00:00:00:00');
  });

  it('keeps the top octet above 0x7f positive (no 32-bit sign trap)', () => {
    expect(parseMac('ff:ff:ff:ff:ff:ff')).toBe(MAC_BROADCAST);
    expect(MAC_BROADCAST).toBe(2 ** 48 - 1);
    expect(parseMac('fe:ed:80:00:00:01')).toBe(0xfeed_8000_0001);
    expect(formatMac(0xfeed_8000_0001)).toBe('fe:ed:80:00:00:01');
  });

  it.each([
    '', '02:42:0a:f4:01', '02:42:0a:f4:01:02:03', '02:42:0a:f4:01:0g', '002:42:0a:f4:01:02',
    '02:42-0a:f4:01:02', '02:42:0a:f4:01:02 ', '0242.0af4.0102', ':42:0a:f4:01:02',
  ])('rejects %j, naming the value', (s) => {
    expect(tryParseMac(s)).toBeNull();
    expect(() => parseMac(s)).toThrow(JSON.stringify(s));
  });

  it('reads and writes six bytes at an offset without touching neighbours', () => {
    const b = new Uint8Array(10).fill(0xaa);
    writeMac(b, 2, 0x0242_0af4_0102);
    expect([...b]).toEqual([0xaa, 0xaa, 0x02, 0x42, 0x0a, 0xf4, 0x01, 0x02, 0xaa, 0xaa]);
    expect(readMac(b, 2)).toBe(0x0242_0af4_0102);
    writeMac(b, 2, MAC_BROADCAST);
    expect(readMac(b, 2)).toBe(MAC_BROADCAST);
    expect(b[1]).toBe(0xaa);
    expect(b[8]).toBe(0xaa);
  });

  it('classifies group, broadcast, unicast and locally administered addresses', () => {
    expect(isMulticastMac(parseMac('01:00:5e:00:00:16'))).toBe(true); // IPv4 multicast 224.0.0.22
    expect(isMulticastMac(parseMac('33:33:00:00:00:01'))).toBe(true); // IPv6 all-nodes
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(parseMac('02:42:0a:f4:01:02'))).toBe(false);
    expect(isMulticastMac(parseMac('fe:ff:ff:ff:ff:ff'))).toBe(false);
    expect(isBroadcastMac(MAC_BROADCAST)).toBe(true);
    expect(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:fe'))).toBe(false);
    expect(isUnicastMac(parseMac('02:42:0a:f4:01:02'))).toBe(true);
    expect(isUnicastMac(0)).toBe(false);
    expect(isLocalMac(parseMac('02:42:0a:f4:01:02'))).toBe(true);
    expect(isLocalMac(parseMac('00:1b:21:3a:4f:10'))).toBe(false);
  });

  it('derives 02:42:<ip> from an IPv4 address', () => {
    expect(formatMac(macFromIpv4(parseIpv4('10.244.1.2')))).toBe('02:42:0a:f4:01:02');
    expect(formatMac(macFromIpv4(parseIpv4('255.255.255.255'), 0x0a58))).toBe('0a:58:ff:ff:ff:ff');
  });

  it('round-trips every 48-bit value through text and bytes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MAC_MAX }), fc.nat(8), (mac, off) => {
      expect(parseMac(formatMac(mac))).toBe(mac);
      const b = new Uint8Array(16);
      writeMac(b, off, mac);
      expect(readMac(b, off)).toBe(mac);
      // the group bit is bit 40 of the integer
      expect(isMulticastMac(mac)).toBe(Math.floor(mac / 2 ** 40) % 2 === 1);
    }), { numRuns: RUNS });
  });

  it('tryParseMac never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => { tryParseMac(s); }), { numRuns: RUNS });
  });
});

describe('IPv4 addresses', () => {
  it('parses and formats dotted quads as uint32', () => {
    expect(parseIpv4('10.244.1.2')).toBe(0x0af4_0102);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffff_ffff); // positive, not -1
    expect(parseIpv4('192.168.100.200')).toBe(0xc0a8_64c8);
    expect(formatIpv4(0xc0a8_64c8)).toBe('192.168.100.200');
    expect(formatIpv4(0xffff_ffff)).toBe('255.255.255.255');
    expect(formatIpv4(-1)).toBe('255.255.255.255'); // a signed result of a bit operation
  });

  it.each([
    '', '256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.00', ' 1.2.3.4', '1.2.3.4 ', '1..3.4',
    'a.b.c.d', '1.2.3.-4', '1.2.3.4/24', '1.2.3.', '.1.2.3', '1000.1.1.1', '0x0a.0.0.1', '١.٢.٣.٤',
  ])('rejects %j, naming the value', (s) => {
    expect(tryParseIpv4(s)).toBeNull();
    expect(() => parseIpv4(s)).toThrow(JSON.stringify(s));
  });

  it('reads and writes big-endian integers', () => {
    const b = new Uint8Array(6);
    writeU32(b, 1, 0xc0a8_64c8);
    expect([...b]).toEqual([0, 0xc0, 0xa8, 0x64, 0xc8, 0]);
    expect(readU32(b, 1)).toBe(0xc0a8_64c8);
    writeU16(b, 4, 0xbeef);
    expect(readU16(b, 4)).toBe(0xbeef);
  });

  it('round-trips every uint32 through text and bytes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (ip) => {
      expect(parseIpv4(formatIpv4(ip))).toBe(ip);
      const b = new Uint8Array(4);
      writeU32(b, 0, ip);
      expect(readU32(b, 0)).toBe(ip);
    }), { numRuns: RUNS });
  });

  it('tryParseIpv4 never throws and accepts only what formatIpv4 produces', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9.]{1,16}$/)), (s) => {
      const v = tryParseIpv4(s);
      if (v !== null) expect(formatIpv4(v)).toBe(s);
    }), { numRuns: RUNS });
  });
});

describe('CIDR', () => {
  const podNet = parseCidr('10.244.0.0/16');

  it('parses and formats blocks', () => {
    expect(podNet).toEqual({ addr: 0x0af4_0000, prefix: 16 });
    expect(formatCidr(podNet)).toBe('10.244.0.0/16');
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, prefix: 0 });
    expect(parseCidr('10.244.1.5/32')).toEqual({ addr: 0x0af4_0105, prefix: 32 });
    expect(parseCidr('255.255.255.254/31')).toEqual({ addr: 0xffff_fffe, prefix: 31 });
  });

  it('rejects host bits, naming the value and the block meant', () => {
    expect(tryParseCidr('10.244.1.5/24')).toBeNull();
    expect(() => parseCidr('10.244.1.5/24')).toThrow('"10.244.1.5/24" has host bits set (did you mean 10.244.1.0/24?)');
  });

  it.each(['', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0/8', '10.0.0.0/8/8', '/8', '10.0.0.0/ 8'])(
    'rejects %j, naming the value', (s) => {
      expect(tryParseCidr(s)).toBeNull();
      expect(() => parseCidr(s)).toThrow(JSON.stringify(s));
    });

  it('computes masks for every prefix length', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x8000_0000);
    expect(prefixMask(8)).toBe(0xff00_0000);
    expect(prefixMask(24)).toBe(0xffff_ff00);
    expect(prefixMask(31)).toBe(0xffff_fffe);
    expect(prefixMask(32)).toBe(0xffff_ffff);
    for (let p = 0; p <= 32; p++) expect(prefixMask(p)).toBe(2 ** 32 - 2 ** (32 - p));
  });

  it('cidrOf clears host bits', () => {
    expect(cidrOf(parseIpv4('10.244.1.5'), 24)).toEqual({ addr: 0x0af4_0100, prefix: 24 });
    expect(cidrOf(0xffff_ffff, 0)).toEqual({ addr: 0, prefix: 0 });
    expect(() => cidrOf(0, 33)).toThrow('33');
  });

  it('tests containment and overlap', () => {
    expect(cidrContains(podNet, parseIpv4('10.244.255.255'))).toBe(true);
    expect(cidrContains(podNet, parseIpv4('10.245.0.0'))).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0'), 0xffff_ffff)).toBe(true);
    expect(cidrContains(parseCidr('255.255.255.255/32'), 0xffff_ffff)).toBe(true);
    const svc = parseCidr('10.96.0.0/12');
    expect(cidrOverlaps(podNet, svc)).toBe(false);
    expect(cidrOverlaps(podNet, parseCidr('10.244.3.0/24'))).toBe(true);
    expect(cidrOverlaps(parseCidr('10.244.3.0/24'), podNet)).toBe(true);
    expect(cidrOverlaps(parseCidr('10.0.0.0/8'), svc)).toBe(true);
    expect(cidrOverlaps(parseCidr('0.0.0.0/0'), svc)).toBe(true);
    expect(cidrOverlaps(parseCidr('10.244.3.0/24'), parseCidr('10.244.4.0/24'))).toBe(false);
  });

  it('counts and indexes addresses', () => {
    expect(cidrSize(parseCidr('10.244.1.0/24'))).toBe(256);
    expect(cidrSize(parseCidr('0.0.0.0/0'))).toBe(2 ** 32);
    expect(cidrSize(parseCidr('10.0.0.1/32'))).toBe(1);
    const c = parseCidr('10.244.1.0/24');
    expect(formatIpv4(nthHost(c, 0))).toBe('10.244.1.0');
    expect(formatIpv4(nthHost(c, 1))).toBe('10.244.1.1');
    expect(formatIpv4(nthHost(c, 255))).toBe('10.244.1.255');
    expect(() => nthHost(c, 256)).toThrow('address index 256 is outside 10.244.1.0/24 (256 addresses)');
    expect(() => nthHost(c, -1)).toThrow('-1');
    expect(() => nthHost(c, 1.5)).toThrow('1.5');
    expect(nthHost(parseCidr('0.0.0.0/0'), 2 ** 32 - 1)).toBe(0xffff_ffff);
  });

  it('splits a block into sub-blocks', () => {
    expect(formatCidr(cidrSubnet(podNet, 24, 0))).toBe('10.244.0.0/24');
    expect(formatCidr(cidrSubnet(podNet, 24, 3))).toBe('10.244.3.0/24');
    expect(formatCidr(cidrSubnet(podNet, 24, 255))).toBe('10.244.255.0/24');
    expect(formatCidr(cidrSubnet(podNet, 16, 0))).toBe('10.244.0.0/16');
    expect(formatCidr(cidrSubnet(parseCidr('0.0.0.0/0'), 1, 1))).toBe('128.0.0.0/1');
    expect(formatCidr(cidrSubnet(podNet, 32, 65535))).toBe('10.244.255.255/32');
    expect(() => cidrSubnet(podNet, 24, 256)).toThrow('subnet index 256 is outside 10.244.0.0/16 (256 blocks of /24)');
    expect(() => cidrSubnet(podNet, 15, 0)).toThrow('10.244.0.0/16');
    expect(() => cidrSubnet(podNet, 33, 0)).toThrow('/33');
  });

  it('properties: text round trip, containment of hosts and sub-blocks', () => {
    const arbCidr = fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 32 }))
      .map(([ip, p]) => cidrOf(ip, p));
    fc.assert(fc.property(arbCidr, fc.integer({ min: 0, max: 32 }), fc.nat(), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (c, extra, idx, frac) => {
        expect(parseCidr(formatCidr(c))).toEqual(c);
        const host = nthHost(c, Math.floor(frac * cidrSize(c)));
        expect(cidrContains(c, host)).toBe(true);
        const np = Math.min(32, c.prefix + (extra % (33 - c.prefix)));
        const sub = cidrSubnet(c, np, idx % 2 ** (np - c.prefix));
        expect(cidrContains(c, sub.addr)).toBe(true);
        expect(cidrOverlaps(c, sub)).toBe(true);
        expect(cidrOverlaps(sub, c)).toBe(true);
        expect(tryParseCidr(formatCidr(sub))).toEqual(sub);
      }), { numRuns: RUNS });
  });

  it('tryParseCidr never throws', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9./]{1,20}$/)), (s) => { tryParseCidr(s); }), { numRuns: RUNS });
  });
});

describe('ports', () => {
  it('reads decimal digits 0..65535 only', () => {
    for (const [s, v] of [['0', 0], ['80', 80], ['065535', null], ['65535', 65535], ['08', 8]] as const) expect(tryParsePort(s), s).toBe(v === null ? null : v);
    for (const s of ['0x50', '1e3', '+80', '-1', ' 80', '80 ', '', '65536', '99999', '8.0', '٨٠']) expect(tryParsePort(s), s).toBeNull();
  });

  it('reads "IPv4:port" with a port 1..65535', () => {
    expect(tryParseIpv4Port('127.0.0.1:8472')).toEqual({ ip: 0x7f000001, host: '127.0.0.1', port: 8472 });
    for (const s of ['127.0.0.1:99999', '127.0.0.1:0', '127.0.0.1:0x50', 'myhost:8472', ':8472', '127.0.0.1', '127.0.0.1:']) expect(tryParseIpv4Port(s), s).toBeNull();
  });

  it('agrees with String(n) for every port', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), (n) => tryParsePort(String(n)) === n), { numRuns: RUNS });
  });
});
