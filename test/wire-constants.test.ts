/**
 * One definition of each protocol constant, in src/wire (issue: "grep finds one definition of
 * each protocol constant and no hand-built IPv4 header outside src/wire"), checked on the code:
 * - every constant src/wire exports (ETH_P_*, *_PROTOCOL, *_HEADER_LEN, ICMP_ECHO_*,
 *   VXLAN_OVERHEAD, ...) is defined once in the whole of src/;
 * - no file outside src/wire defines its own copy under a local name (`const ETH_LEN = 14`,
 *   `const TCP = 6`, `const ICMP_ECHO_REQUEST = 8`, ...): it imports the one in src/wire;
 * - no file outside src/wire writes an IPv4 version/IHL byte (`] = 0x45`, `] = 0x40 | ihl`,
 *   `] = (4 << 4) | 5`, `writeUInt8(0x45`): IPv4 headers are written by `writeIpv4Header`
 *   (or `emitIpv4`);
 * - no file outside src/wire reads or writes an IPv4 header field at a fixed offset from the
 *   header (`b[l3 + 9]`, `readU32(b, l3 + 16)`): the readers and writers of src/wire/ipv4.ts do;
 * - the packets src/kube and src/control make (trace and probe packets, scenario pings) take
 *   their L4 headers and checksums from the src/wire writers (`writeUdpHeader`,
 *   `writeTcpHeader`, `writeIcmpEchoHeader`, `fillTcpChecksum`): no file there does checksum
 *   arithmetic (imports wire/checksum.js) or writes a 16/32-bit field at an offset from a
 *   packet's start or its L4 header (`writeU16(b, s + 22, ...)`, `writeU32(b, l4 + 4, ...)`).
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sources } from './src-files.js';

const SRC = resolve(import.meta.dirname, '../src');

const FILES = sources(SRC).map((f) => ({ path: relative(SRC, f), text: readFileSync(f, 'utf8') }));
const inWire = (p: string): boolean => p.startsWith('wire/');
const aboveDataplane = (p: string): boolean => p.startsWith('kube/') || p.startsWith('control/');

/** A write of an IPv4 version/IHL byte (version 4 in the high nibble), in the forms a hand-built header takes. */
const HAND_IPV4 = /\]\s*=\s*(?:0x45|69)\b|\]\s*=\s*\(?\s*(?:0x40|4\s*<<\s*4)\s*\)?\s*\||writeUInt8\(\s*(?:0x45|69)\b/;
/** A header field written by hand: writeU16/writeU32 into a buffer at an offset from the packet's start (`s`) or its L4 header. */
const HAND_FIELD = /write(?:U16|U32)\(\s*[\w.]+\s*,\s*(?:s|l4)\s*[+,)]/;
/**
 * An IPv4 header field read or written at a fixed offset from a header's start (`b[l3 + 9]`,
 * `readU32(b, l3 + 16)`, `d.writeUInt16BE(n, l3 + 2)`): the dataplane goes through src/wire's
 * readers and writers (`ipv4Protocol`, `ipv4Dst`, `ipv4SetTotalLength`, ...).
 */
const HAND_IPV4_FIELD = /\[\s*(?:l3|il3|ol3)\s*\+\s*(?:2|3|6|8|9|10|11|12|16)\s*\]|(?:read|write)(?:U16|U32|UInt16BE|UInt32BE)\([^()]*\b(?:l3|il3|ol3)\s*\+\s*(?:2|6|10|12|16)\s*[,)]/;
const CHECKSUM_IMPORT = /from '(?:\.\.\/)+wire\/checksum\.js'/;

/** Local names the tree used for protocol constants before they had one home. */
const LOCAL_COPY = /^\s*(?:export\s+)?const\s+(ETH_LEN|ETH_HLEN|ETH_P_[A-Z0-9]+|ETHERTYPE_[A-Z0-9]+|IP_LEN|IP_HLEN|UDP_LEN|UDP_HLEN|TCP_HLEN|TCP|UDP|ICMP|SCTP|IPPROTO_[A-Z]+|ICMP_ECHO_REQUEST|ICMP_ECHO_REPLY|VXLAN_OVERHEAD|VXLAN_HLEN|DNS_HLEN|DNS_UDP_MIN|DNS_PORT)\s*=/gm;

describe('protocol constants live in src/wire, once', () => {
  it('every constant src/wire exports is defined once in src/', () => {
    const wireNames = new Set<string>();
    for (const f of FILES.filter((x) => inWire(x.path))) {
      for (const m of f.text.matchAll(/^export const ([A-Z][A-Z0-9_]+) = (?:0x[0-9a-f]+|\d+);/gmi)) wireNames.add(m[1]!);
    }
    expect(wireNames.size).toBeGreaterThan(20);
    const dupes: string[] = [];
    for (const name of wireNames) {
      const where = FILES.filter((f) => new RegExp(`^\\s*(?:export\\s+)?const ${name}\\s*=`, 'm').test(f.text)).map((f) => f.path);
      if (where.length !== 1) dupes.push(`${name}: ${where.join(', ')}`);
    }
    expect(dupes).toEqual([]);
  });

  it('no file outside src/wire keeps its own copy under a local name', () => {
    const copies = FILES.filter((f) => !inWire(f.path))
      .flatMap((f) => [...f.text.matchAll(LOCAL_COPY)].map((m) => `${f.path}: ${m[1]}`));
    expect(copies).toEqual([]);
  });

  it('no IPv4 header is built by hand outside src/wire', () => {
    const hand = FILES.filter((f) => !inWire(f.path) && HAND_IPV4.test(f.text)).map((f) => f.path);
    expect(hand).toEqual([]);
  });

  it('outside src/wire, IPv4 header fields are read and written through its readers and writers', () => {
    const hand = FILES.filter((f) => !inWire(f.path))
      .flatMap((f) => f.text.split('\n').flatMap((line, i) => (HAND_IPV4_FIELD.test(line) ? [`${f.path}:${i + 1}`] : [])));
    expect(hand).toEqual([]);
    const samples = ['if (b[l3 + 9] !== 17) return;', 'const dst = readU32(b, l3 + 16);', 'd.writeUInt16BE(n, l3 + 2);', 'writeU16(buf, il3 + 10, c);'];
    for (const line of samples) {
      expect(HAND_IPV4_FIELD.test(line), line).toBe(true);
    }
    expect(HAND_IPV4_FIELD.test('d.writeUInt16BE(tcpLen, l3 + 4); // IPv6 payload length')).toBe(false);
    expect(HAND_IPV4_FIELD.test('const dst = ipv4Dst(b, l3);')).toBe(false);
  });

  it('src/kube and src/control build no L4 header by hand (no checksum arithmetic, no field writes at packet offsets)', () => {
    const hand = FILES.filter((f) => aboveDataplane(f.path) && (CHECKSUM_IMPORT.test(f.text) || HAND_FIELD.test(f.text))).map((f) => f.path);
    expect(hand).toEqual([]);
    // The writers they use instead are there (a rename would make the check above vacuous).
    const used = (name: string): number => FILES.filter((f) => aboveDataplane(f.path) && f.text.includes(`${name}(`)).length;
    for (const w of ['writeIpv4Header', 'writeUdpHeader', 'writeTcpHeader', 'writeIcmpEchoHeader', 'fillTcpChecksum']) expect(used(w), w).toBeGreaterThan(0);
  });

  it('the header checks find a hand-built header when one is there (they can fail)', () => {
    for (const line of ['b[s] = 0x45;', 'b[ip] = 0x45; b.writeUInt16BE(20, ip + 2);', 'buf[o] = 0x40 | (hl >>> 2);', 'b[o] = (4 << 4) | 5;', 'b.writeUInt8(0x45, 14);']) {
      expect(HAND_IPV4.test(line), line).toBe(true);
    }
    expect(HAND_IPV4.test('c === 0x45 || c === 0x2d')).toBe(false);
    for (const line of ['writeU16(b, s + 22, checksum(b, s + 20, n));', 'writeU32(b, l4 + 4, e.rng.u32());', 'writeU16(p.buf, l4, port);']) {
      expect(HAND_FIELD.test(line), line).toBe(true);
    }
    expect(HAND_FIELD.test('writeU16(f, 0, q.length);')).toBe(false);
    expect(CHECKSUM_IMPORT.test("import { checksum } from '../../wire/checksum.js';")).toBe(true);
  });

  it('the check finds a copy when one is there (it can fail)', () => {
    expect([...'const ETH_LEN = 14;\nconst TCP = 6;'.matchAll(LOCAL_COPY)].map((m) => m[1])).toEqual(['ETH_LEN', 'TCP']);
  });
});
