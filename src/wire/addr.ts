/**
 * Addresses as numbers: MAC (IEEE 802) as a 48-bit integer, IPv4 (RFC 791) as a uint32,
 * and IPv4 CIDR blocks (RFC 4632).
 *
 * The hot path only ever sees numbers: `readMac`/`writeMac`/`readU32`/`writeU32` move them
 * between bytes and numbers without allocating. Strings exist only in the parse/format
 * functions, used at the edges (topology file, API, CLI, logs).
 *
 *      MAC (48 bits, network order):  o0:o1:o2:o3:o4:o5
 *        value = (o0 << 8 | o1) * 2^32 + (o2 << 24 | o3 << 16 | o4 << 8 | o5) >>> 0
 *        o0 bit 0 = I/G (group/multicast), o0 bit 1 = U/L (locally administered)
 *
 * JavaScript bit operators work on 32 bits, so a MAC is never passed through `|`, `&`,
 * `<<` or `>>>` as a whole: it is split into a high 16-bit and a low 32-bit half with
 * `Math.floor(mac / 2^32)` and `mac >>> 0` (ToUint32 is exact modulo 2^32 for integers
 * below 2^53). An IPv4 address is normalised to unsigned with `>>> 0` after bit operations.
 *
 * Throwing parsers (`parseMac`, `parseIpv4`, `parseCidr`) are for configuration: their
 * `Error` names the bad value. Each has a non-throwing `try*` twin returning `null`.
 */

const TWO_32 = 0x1_0000_0000;
const TWO_40 = 0x100_0000_0000;

/** ff:ff:ff:ff:ff:ff */
export const MAC_BROADCAST = 0xffff_ffff_ffff;
/** 00:00:00:00:00:00 */
export const MAC_ZERO = 0;

// ---------------------------------------------------------------------------------------
// Integers in bytes (big-endian, network order)

/** Reads a big-endian uint16 at `off`. */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

/** Writes the low 16 bits of `v` big-endian at `off`. */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Reads a big-endian uint32 at `off` (an IPv4 address). */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Writes `v` (taken modulo 2^32) big-endian at `off`. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

// ---------------------------------------------------------------------------------------
// MAC

/** Reads the 6 bytes at `off` as a 48-bit integer. */
export function readMac(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 8) | buf[off + 1]!) * TWO_32 + readU32(buf, off + 2);
}

/** Writes a 48-bit MAC as 6 bytes at `off`. */
export function writeMac(buf: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / TWO_32);
  buf[off] = (hi >>> 8) & 0xff;
  buf[off + 1] = hi & 0xff;
  writeU32(buf, off + 2, mac >>> 0);
}

/** True for group addresses (I/G bit, the low bit of the first octet): multicast and broadcast. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / TWO_40) & 1) === 1;
}

export function isBroadcastMac(mac: number): boolean {
  return mac === MAC_BROADCAST;
}

/** True for unicast, not-all-zero addresses: what a host may use as its own. */
export function isUnicastMac(mac: number): boolean {
  return mac !== 0 && !isMulticastMac(mac);
}

/** True when the U/L bit (bit 1 of the first octet) is set: a locally administered address. */
export function isLocalMac(mac: number): boolean {
  return (Math.floor(mac / TWO_40) & 2) === 2;
}

/**
 * A MAC derived from an IPv4 address, the way Docker does it: `prefix` (16 bits, default
 * 0x0242: locally administered, unicast) followed by the 4 address bytes, so 10.244.1.2
 * gives 02:42:0a:f4:01:02.
 */
export function macFromIpv4(ip: number, prefix = 0x0242): number {
  return (prefix & 0xffff) * TWO_32 + (ip >>> 0);
}

const HEX = '0123456789abcdef';

/** Lower-case, colon-separated: "02:42:0a:f4:01:02". */
export function formatMac(mac: number): string {
  let s = '';
  const hi = Math.floor(mac / TWO_32) & 0xffff;
  const lo = mac >>> 0;
  const bytes = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  for (let i = 0; i < 6; i++) {
    const b = bytes[i]!;
    if (i > 0) s += ':';
    s += HEX[b >>> 4]! + HEX[b & 0xf]!;
  }
  return s;
}

const MAC_RE = /^([0-9a-f]{1,2})([:-])([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})$/i;

/** Parses "02:42:0a:f4:01:02" (also upper case, '-' separators, one-digit octets); null if invalid. */
export function tryParseMac(s: string): number | null {
  const m = MAC_RE.exec(s);
  if (m === null) return null;
  let hi = 0;
  let lo = 0;
  const groups = [m[1], m[3], m[4], m[5], m[6], m[7]];
  for (let i = 0; i < 6; i++) {
    const b = parseInt(groups[i]!, 16);
    if (i < 2) hi = hi * 256 + b;
    else lo = lo * 256 + b;
  }
  return hi * TWO_32 + lo;
}

/** Like `tryParseMac`, but throws an Error naming the value. */
export function parseMac(s: string): number {
  const v = tryParseMac(s);
  if (v === null) throw new Error(`invalid MAC address ${JSON.stringify(s)}: expected six hex octets like "02:42:0a:f4:01:02"`);
  return v;
}

// ---------------------------------------------------------------------------------------
// IPv4

/** Dotted quad: "10.244.1.2". */
export function formatIpv4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

/**
 * Parses a strict dotted quad: four decimal octets 0..255, no leading zeros (inet_aton
 * would read "010" as octal 8; we refuse the ambiguity), no shorthand ("10.1"). null if invalid.
 */
export function tryParseIpv4(s: string): number | null {
  const n = s.length;
  if (n < 7 || n > 15) return null;
  let ip = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e; // virtual '.' at the end closes the last octet
    if (c === 0x2e) {
      if (digits === 0) return null;
      ip = ip * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return null; // leading zero
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return null;
      digits++;
    } else {
      return null;
    }
  }
  return dots === 4 ? ip : null;
}

/** Like `tryParseIpv4`, but throws an Error naming the value. */
export function parseIpv4(s: string): number {
  const v = tryParseIpv4(s);
  if (v === null) throw new Error(`invalid IPv4 address ${JSON.stringify(s)}: expected a dotted quad like "10.244.1.2"`);
  return v;
}

// ---------------------------------------------------------------------------------------
// CIDR

/** An IPv4 block: `addr` has no bits set past `prefix` (parseCidr and cidrOf guarantee it). */
export interface Cidr {
  readonly addr: number;
  readonly prefix: number;
}

/** The netmask of a prefix length 0..32 as a uint32 (24 -> 0xffffff00). */
export function prefixMask(prefix: number): number {
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xffff_ffff : (0xffff_ffff << (32 - prefix)) >>> 0;
}

/** The block of `prefix` bits that contains `ip` (host bits cleared): cidrOf(10.244.1.5, 24) is 10.244.1.0/24. */
export function cidrOf(ip: number, prefix: number): Cidr {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new Error(`invalid prefix length ${prefix}: expected an integer 0..32`);
  }
  return { addr: (ip & prefixMask(prefix)) >>> 0, prefix };
}

/** "10.244.0.0/16". */
export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.addr)}/${c.prefix}`;
}

/** The block, or an error message naming `s`. */
function parseCidrParts(s: string): Cidr | string {
  const bad = `invalid CIDR ${JSON.stringify(s)}`;
  const slash = s.indexOf('/');
  const addr = slash < 0 ? null : tryParseIpv4(s.slice(0, slash));
  if (addr === null) return `${bad}: expected address/prefix like "10.244.0.0/16"`;
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(p) || Number(p) > 32) return `${bad}: prefix length must be 0..32`;
  const prefix = Number(p);
  const mask = prefixMask(prefix);
  if (((addr & ~mask) >>> 0) !== 0) {
    return `CIDR ${JSON.stringify(s)} has host bits set (did you mean ${formatIpv4((addr & mask) >>> 0)}/${prefix}?)`;
  }
  return { addr, prefix };
}

/** Parses "10.244.0.0/16"; null if malformed or if host bits are set ("10.244.1.5/24"). */
export function tryParseCidr(s: string): Cidr | null {
  const r = parseCidrParts(s);
  return typeof r === 'string' ? null : r;
}

/** Like `tryParseCidr`, but throws an Error naming the value and what is wrong with it. */
export function parseCidr(s: string): Cidr {
  const r = parseCidrParts(s);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

/** True when `ip` lies in `c`. */
export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & prefixMask(c.prefix)) >>> 0) === c.addr;
}

/** True when the blocks share at least one address (one then contains the other). */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const mask = prefixMask(a.prefix < b.prefix ? a.prefix : b.prefix);
  return ((a.addr & mask) >>> 0) === ((b.addr & mask) >>> 0);
}

/** Number of addresses in the block, network and broadcast included (2^(32-prefix)). */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The `n`-th address of the block (n = 0 is the network address); throws past the end. */
export function nthHost(c: Cidr, n: number): number {
  const size = cidrSize(c);
  if (!Number.isInteger(n) || n < 0 || n >= size) {
    throw new Error(`address index ${n} is outside ${formatCidr(c)} (${size} addresses)`);
  }
  return (c.addr + n) >>> 0;
}

/**
 * Sub-block number `index` of length `newPrefix` inside `c`: cidrSubnet(10.244.0.0/16, 24, 3)
 * is 10.244.3.0/24. Throws when newPrefix is shorter than c's or index is past the end.
 */
export function cidrSubnet(c: Cidr, newPrefix: number, index: number): Cidr {
  if (!Number.isInteger(newPrefix) || newPrefix < c.prefix || newPrefix > 32) {
    throw new Error(`cannot split ${formatCidr(c)} into /${newPrefix} blocks: prefix must be ${c.prefix}..32`);
  }
  const count = 2 ** (newPrefix - c.prefix);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Error(`subnet index ${index} is outside ${formatCidr(c)} (${count} blocks of /${newPrefix})`);
  }
  return { addr: (c.addr + index * 2 ** (32 - newPrefix)) >>> 0, prefix: newPrefix };
}

// ---------------------------------------------------------------------------------------
// Ports

/**
 * A TCP/UDP port as the edges write it (CLI flags, query strings, "host:port" in a topology):
 * decimal digits only, 0..65535. "0x50", "1e3", "+80", " 80" and "" are not ports (Number()
 * would read the first three as 80, 1000 and 80). null if invalid.
 */
export function tryParsePort(s: string): number | null {
  if (!/^[0-9]{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

/** "IPv4:port" (a socket address: strict dotted quad, port 1..65535), or null. */
export function tryParseIpv4Port(s: string): { ip: number; host: string; port: number } | null {
  const i = s.lastIndexOf(':');
  if (i <= 0) return null;
  const host = s.slice(0, i);
  const ip = tryParseIpv4(host);
  const port = tryParsePort(s.slice(i + 1));
  return ip === null || port === null || port === 0 ? null : { ip, host, port };
}
