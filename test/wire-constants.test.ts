/**
 * One definition of each protocol constant, in src/wire (issue: "grep finds one definition of
 * each protocol constant and no hand-built IPv4 header outside src/wire"), checked on the code:
 * - every constant src/wire exports (ETH_P_*, *_PROTOCOL, *_HEADER_LEN, ICMP_ECHO_*,
 *   VXLAN_OVERHEAD, ...) is defined once in the whole of src/;
 * - no file outside src/wire defines its own copy under a local name (`const ETH_LEN = 14`,
 *   `const TCP = 6`, `const ICMP_ECHO_REQUEST = 8`, ...): it imports the one in src/wire;
 * - no file outside src/wire writes an IPv4 version/IHL byte (`] = 0x45`): IPv4 headers are
 *   written by `writeIpv4Header`.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sources } from './src-files.js';

const SRC = resolve(import.meta.dirname, '../src');

const FILES = sources(SRC).map((f) => ({ path: relative(SRC, f), text: readFileSync(f, 'utf8') }));
const inWire = (p: string): boolean => p.startsWith('wire/');

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
    const hand = FILES.filter((f) => !inWire(f.path) && /\]\s*=\s*0x45\s*;/.test(f.text)).map((f) => f.path);
    expect(hand).toEqual([]);
  });

  it('the check finds a copy when one is there (it can fail)', () => {
    expect([...'const ETH_LEN = 14;\nconst TCP = 6;'.matchAll(LOCAL_COPY)].map((m) => m[1])).toEqual(['ETH_LEN', 'TCP']);
  });
});
