/**
 * DNS messages: RFC 1035 (§4.1 format, §4.1.4 name compression), RFC 3596 (AAAA),
 * RFC 2782 (SRV), RFC 6891 (EDNS(0) OPT pseudo-record), RFC 4035 (AD/CD bits).
 *
 * Header, 12 octets (RFC 1035 §4.1.1):
 *
 *                                   1  1  1  1  1  1
 *     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |                      ID                       |   0
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |   2
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |                    QDCOUNT                    |   4
 *   |                    ANCOUNT                    |   6
 *   |                    NSCOUNT                    |   8
 *   |                    ARCOUNT                    |  10
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *
 * Then QDCOUNT questions (QNAME, QTYPE u16, QCLASS u16) and the answer, authority and
 * additional resource records (NAME, TYPE u16, CLASS u16, TTL u32, RDLENGTH u16, RDATA).
 * A name is labels `<len 1..63><bytes>` ended by a zero octet, or cut short by a pointer
 * `11pppppp pppppppp` (14-bit offset from the start of the message) to an earlier name.
 *
 * DNS is not the hot path: the Repr (`DnsMessage`) uses strings and arrays. Names are
 * presentation strings, ASCII lower-cased, without the trailing dot (root is `''`); bytes
 * other than printable ASCII, `.` and `\` inside a label are escaped (`\.`, `\\`, `\DDD`,
 * RFC 1035 §5.1), so every wire name has exactly one string and back.
 *
 * The parser never throws and returns a `WireError` code on bad input: `Truncated` when a
 * section runs past the end, `Malformed` for labels over 63 octets (the 01/10 label types),
 * names over 255 octets, pointers that do not point strictly backwards (which also rules
 * out loops), RDATA whose length disagrees with its type, and misplaced or repeated OPT.
 * Records of types it does not decode keep their RDATA as raw bytes, so they round-trip.
 */
import { WireError } from './errors.js';

export const DnsType = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255,
} as const;
export type DnsType = (typeof DnsType)[keyof typeof DnsType];

export const DnsClass = { IN: 1, CH: 3, ANY: 255 } as const;

export const DnsOpcode = { Query: 0, IQuery: 1, Status: 2, Notify: 4, Update: 5 } as const;

/** RCODEs. `BadVers` (16) is an extended RCODE: its upper 8 bits travel in the OPT record. */
export const DnsRcode = {
  NoError: 0, FormErr: 1, ServFail: 2, NXDomain: 3, NotImp: 4, Refused: 5, BadVers: 16,
} as const;

/** EDNS option codes seen in practice (dig sends a COOKIE, RFC 7873). */
export const EdnsOption = { Nsid: 3, ClientSubnet: 8, Cookie: 10, Padding: 12 } as const;

/** The port of DNS over UDP and TCP (RFC 1035 §4.2). */
export const DNS_PORT = 53;
export const DNS_HEADER_LEN = 12;
/** Largest UDP payload a client without EDNS accepts (RFC 1035 §4.2.1). */
export const DNS_UDP_MIN = 512;

const EMPTY = new Uint8Array(0);

/** Zero-copy view of the 12-byte header. `check()` once, then accessors cannot fail. */
export class DnsHeader {
  private buf: Uint8Array = EMPTY;
  private off = 0;
  private len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf; this.off = off; this.len = len;
    return this;
  }

  check(): number {
    return this.len < DNS_HEADER_LEN || this.off + DNS_HEADER_LEN > this.buf.length ? WireError.Truncated : WireError.Ok;
  }

  private u16(at: number): number { return (this.buf[this.off + at]! << 8) | this.buf[this.off + at + 1]!; }
  private setU16(at: number, v: number): void {
    this.buf[this.off + at] = (v >>> 8) & 0xff; this.buf[this.off + at + 1] = v & 0xff;
  }
  private bit(mask: number): boolean { return (this.u16(2) & mask) !== 0; }
  private setBit(mask: number, on: boolean): this { this.setU16(2, on ? this.u16(2) | mask : this.u16(2) & ~mask); return this; }

  id(): number { return this.u16(0); }
  setId(v: number): this { this.setU16(0, v); return this; }
  /** The whole second word (QR .. RCODE). */
  flags(): number { return this.u16(2); }
  setFlags(v: number): this { this.setU16(2, v); return this; }
  qr(): boolean { return this.bit(0x8000); }
  setQr(v: boolean): this { return this.setBit(0x8000, v); }
  opcode(): number { return (this.u16(2) >>> 11) & 0xf; }
  setOpcode(v: number): this { this.setU16(2, (this.u16(2) & ~0x7800) | ((v & 0xf) << 11)); return this; }
  aa(): boolean { return this.bit(0x0400); }
  setAa(v: boolean): this { return this.setBit(0x0400, v); }
  tc(): boolean { return this.bit(0x0200); }
  setTc(v: boolean): this { return this.setBit(0x0200, v); }
  rd(): boolean { return this.bit(0x0100); }
  setRd(v: boolean): this { return this.setBit(0x0100, v); }
  ra(): boolean { return this.bit(0x0080); }
  setRa(v: boolean): this { return this.setBit(0x0080, v); }
  z(): boolean { return this.bit(0x0040); }
  ad(): boolean { return this.bit(0x0020); }
  setAd(v: boolean): this { return this.setBit(0x0020, v); }
  cd(): boolean { return this.bit(0x0010); }
  setCd(v: boolean): this { return this.setBit(0x0010, v); }
  rcode(): number { return this.u16(2) & 0xf; }
  setRcode(v: number): this { this.setU16(2, (this.u16(2) & ~0xf) | (v & 0xf)); return this; }
  qdCount(): number { return this.u16(4); }
  setQdCount(v: number): this { this.setU16(4, v); return this; }
  anCount(): number { return this.u16(6); }
  setAnCount(v: number): this { this.setU16(6, v); return this; }
  nsCount(): number { return this.u16(8); }
  setNsCount(v: number): this { this.setU16(8, v); return this; }
  arCount(): number { return this.u16(10); }
  setArCount(v: number): this { this.setU16(10, v); return this; }
}

export interface DnsQuestion { name: string; type: number; class: number }

/** RDATA by shape. `name` serves NS, CNAME and PTR; `raw` keeps anything else verbatim. */
export type DnsRdata =
  | { kind: 'a'; address: number }
  | { kind: 'aaaa'; address: Uint8Array }
  | { kind: 'name'; target: string }
  | { kind: 'mx'; preference: number; exchange: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'txt'; strings: Uint8Array[] }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'raw'; bytes: Uint8Array };

export interface DnsRecord { name: string; type: number; class: number; ttl: number; data: DnsRdata }

export interface DnsEdnsOption { code: number; data: Uint8Array }

/** The OPT pseudo-record (RFC 6891 §6.1.3): CLASS is the UDP size, TTL packs the rest. */
export interface DnsEdns {
  udpSize: number;
  /** Upper 8 bits of the 12-bit RCODE. */
  extRcode: number;
  version: number;
  dnssecOk: boolean;
  options: DnsEdnsOption[];
}

export interface DnsMessage {
  id: number;
  qr: boolean; opcode: number; aa: boolean; tc: boolean; rd: boolean; ra: boolean; ad: boolean; cd: boolean;
  /** The header's 4-bit RCODE (see `DnsEdns.extRcode` for the upper bits). */
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  /** Additional records without the OPT pseudo-record, which is lifted into `edns`. */
  additional: DnsRecord[];
  edns?: DnsEdns | undefined;
}

// ---------------------------------------------------------------------------- parse

/** Cursor over one message [base, end); methods return false on error and leave `err` set. */
class Reader {
  pos: number;
  err: number = WireError.Ok;
  name = '';
  constructor(readonly buf: Uint8Array, readonly base: number, readonly end: number) { this.pos = base; }

  fail(code: number): false { this.err = code; return false; }
  need(n: number): boolean { return this.pos + n <= this.end || this.fail(WireError.Truncated); }
  u8(): number { return this.buf[this.pos++]!; }
  u16(): number { const p = this.pos; this.pos += 2; return (this.buf[p]! << 8) | this.buf[p + 1]!; }
  u32(): number { return ((this.u16() << 16) | this.u16()) >>> 0; }
  copy(n: number): Uint8Array { const p = this.pos; this.pos += n; return new Uint8Array(this.buf.subarray(p, p + n)); }

  /** Reads a (possibly compressed) name into `this.name`; `pos` ends after it in the stream. */
  readName(): boolean {
    const { buf, base, end } = this;
    let p = this.pos;
    let after = -1;
    let limit = p; // every pointer must land strictly before the previous segment: no loops
    let wire = 1;
    let text = '';
    for (;;) {
      if (p >= end) return this.fail(WireError.Truncated);
      const b = buf[p]!;
      if (b === 0) { if (after < 0) after = p + 1; break; }
      if ((b & 0xc0) === 0xc0) {
        if (p + 2 > end) return this.fail(WireError.Truncated);
        const target = base + (((b & 0x3f) << 8) | buf[p + 1]!);
        if (after < 0) after = p + 2;
        if (target >= limit) return this.fail(WireError.Malformed);
        limit = target; p = target;
        continue;
      }
      if (b > 63) return this.fail(WireError.Malformed);
      wire += 1 + b;
      if (wire > 255) return this.fail(WireError.Malformed);
      if (p + 1 + b > end) return this.fail(WireError.Truncated);
      if (text !== '') text += '.';
      text += labelText(buf, p + 1, b);
      p += 1 + b;
    }
    this.name = text;
    this.pos = after;
    return true;
  }
}

function labelText(buf: Uint8Array, start: number, n: number): string {
  let t = '';
  for (let i = start; i < start + n; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c === 0x2e || c === 0x5c) t += '\\' + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) t += String.fromCharCode(c);
    else t += '\\' + String(c).padStart(3, '0');
  }
  return t;
}

function bad(r: Reader): null { r.fail(WireError.Malformed); return null; }

function readRdata(r: Reader, type: number, rdEnd: number): DnsRdata | null {
  const n = rdEnd - r.pos;
  let d: DnsRdata;
  if (n === 0) return { kind: 'raw', bytes: new Uint8Array(0) }; // RFC 2136 updates: empty RDATA of any type
  switch (type) {
    case DnsType.A:
      if (n !== 4) return bad(r);
      return { kind: 'a', address: r.u32() };
    case DnsType.AAAA:
      if (n !== 16) return bad(r);
      return { kind: 'aaaa', address: r.copy(16) };
    case DnsType.NS: case DnsType.CNAME: case DnsType.PTR:
      if (!r.readName()) return null;
      d = { kind: 'name', target: r.name };
      break;
    case DnsType.MX: {
      if (n < 3) return bad(r);
      const preference = r.u16();
      if (!r.readName()) return null;
      d = { kind: 'mx', preference, exchange: r.name };
      break;
    }
    case DnsType.SRV: {
      if (n < 7) return bad(r);
      const priority = r.u16(), weight = r.u16(), port = r.u16();
      if (!r.readName()) return null;
      d = { kind: 'srv', priority, weight, port, target: r.name };
      break;
    }
    case DnsType.SOA: {
      if (!r.readName()) return null;
      const mname = r.name;
      if (!r.readName()) return null;
      if (r.pos + 20 !== rdEnd) return bad(r);
      d = { kind: 'soa', mname, rname: r.name, serial: r.u32(), refresh: r.u32(), retry: r.u32(), expire: r.u32(), minimum: r.u32() };
      break;
    }
    case DnsType.TXT: {
      const strings: Uint8Array[] = [];
      while (r.pos < rdEnd) {
        const len = r.u8();
        if (r.pos + len > rdEnd) return bad(r);
        strings.push(r.copy(len));
      }
      return { kind: 'txt', strings };
    }
    default:
      return { kind: 'raw', bytes: r.copy(n) };
  }
  // Names inside RDATA may run (through pointers) anywhere, but must end exactly at RDLENGTH.
  return r.pos === rdEnd ? d : bad(r);
}

function readEdns(r: Reader, cls: number, ttl: number, rdEnd: number): DnsEdns | null {
  const options: DnsEdnsOption[] = [];
  while (r.pos < rdEnd) {
    if (r.pos + 4 > rdEnd) return bad(r);
    const code = r.u16(), len = r.u16();
    if (r.pos + len > rdEnd) return bad(r);
    options.push({ code, data: r.copy(len) });
  }
  return { udpSize: cls, extRcode: ttl >>> 24, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0, options };
}

/** Parses one section's records; OPT is accepted only in additional (`msg` then gets `edns`). */
function readRecords(r: Reader, count: number, out: DnsRecord[], msg: DnsMessage | null): boolean {
  for (let i = 0; i < count; i++) {
    if (!r.readName()) return false;
    const name = r.name;
    if (!r.need(10)) return false;
    const type = r.u16(), cls = r.u16(), ttl = r.u32(), rdlen = r.u16();
    if (!r.need(rdlen)) return false;
    const rdEnd = r.pos + rdlen;
    if (type === DnsType.OPT) {
      if (msg === null || msg.edns !== undefined || name !== '') return r.fail(WireError.Malformed);
      const edns = readEdns(r, cls, ttl, rdEnd);
      if (edns === null) return false;
      msg.edns = edns;
      continue;
    }
    const data = readRdata(r, type, rdEnd);
    if (data === null) return false;
    out.push({ name, type, class: cls, ttl, data });
  }
  return true;
}

/**
 * Parses the message in buf[off, off+len). Returns the message or a `WireError` code; never
 * throws. Bytes after the last record are ignored.
 */
export function parseDnsMessage(buf: Uint8Array, off: number, len: number): DnsMessage | number {
  const end = Math.min(off + len, buf.length);
  if (off < 0 || end - off < DNS_HEADER_LEN) return WireError.Truncated;
  const h = new DnsHeader().wrap(buf, off, end - off);
  const msg: DnsMessage = {
    id: h.id(), qr: h.qr(), opcode: h.opcode(), aa: h.aa(), tc: h.tc(), rd: h.rd(), ra: h.ra(),
    ad: h.ad(), cd: h.cd(), rcode: h.rcode(), questions: [], answers: [], authority: [], additional: [],
  };
  const r = new Reader(buf, off, end);
  r.pos = off + DNS_HEADER_LEN;
  for (let i = 0, n = h.qdCount(); i < n; i++) {
    if (!r.readName()) return r.err;
    if (!r.need(4)) return r.err;
    msg.questions.push({ name: r.name, type: r.u16(), class: r.u16() });
  }
  if (!readRecords(r, h.anCount(), msg.answers, null)) return r.err;
  if (!readRecords(r, h.nsCount(), msg.authority, null)) return r.err;
  if (!readRecords(r, h.arCount(), msg.additional, msg)) return r.err;
  return msg;
}

// ----------------------------------------------------------------------------- emit

/** Splits a presentation name into label bytes; null if it is not a valid name. */
export function nameToLabels(name: string): number[][] | null {
  const labels: number[][] = [];
  if (name === '' || name === '.') return labels;
  let cur: number[] = [];
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (cur.length === 0) return null;
      labels.push(cur); cur = [];
      continue;
    }
    if (c === 0x5c) {
      const ddd = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(ddd)) { c = Number(ddd); i += 3; } else if (i + 1 < name.length) { c = name.charCodeAt(++i); } else return null;
    }
    if (c > 0xff) return null;
    cur.push(c);
  }
  if (cur.length > 0) labels.push(cur);
  let wire = 1;
  for (const l of labels) {
    if (l.length > 63) return null;
    wire += 1 + l.length;
  }
  return wire > 255 ? null : labels;
}

/** Bounded writer; after the first overflow every write is a no-op and `ok` stays false. */
class Writer {
  ok = true;
  private readonly dict = new Map<string, number>();
  constructor(readonly buf: Uint8Array, readonly base: number, public pos: number, readonly end: number) {}

  room(n: number): boolean { if (this.pos + n > this.end) this.ok = false; return this.ok; }
  u8(v: number): void { if (this.room(1)) this.buf[this.pos++] = v & 0xff; }
  u16(v: number): void { if (this.room(2)) { this.buf[this.pos++] = (v >>> 8) & 0xff; this.buf[this.pos++] = v & 0xff; } }
  u32(v: number): void { this.u16(v >>> 16); this.u16(v & 0xffff); }
  bytes(b: Uint8Array | readonly number[]): void { if (this.room(b.length)) { this.buf.set(b, this.pos); this.pos += b.length; } }
  putU16(at: number, v: number): void { this.buf[at] = (v >>> 8) & 0xff; this.buf[at + 1] = v & 0xff; }

  /** Writes a name; reuses (compress) and offers (remember) suffixes through the dictionary. */
  name(name: string, compress: boolean, remember: boolean): void {
    const labels = nameToLabels(name);
    if (labels === null) { this.ok = false; return; }
    const keys: string[] = new Array<string>(labels.length);
    let key = '';
    for (let i = labels.length - 1; i >= 0; i--) {
      const lower = labels[i]!.map((c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c));
      key = String.fromCharCode(lower.length, ...lower) + key; // length-prefixed: unambiguous
      keys[i] = key;
    }
    for (let i = 0; i < labels.length; i++) {
      const at = compress ? this.dict.get(keys[i]!) : undefined;
      if (at !== undefined) { this.u16(0xc000 | at); return; }
      const rel = this.pos - this.base;
      if (remember && rel < 0x4000 && !this.dict.has(keys[i]!)) this.dict.set(keys[i]!, rel);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
}

function writeRdata(w: Writer, d: DnsRdata): void {
  switch (d.kind) {
    case 'a': w.u32(d.address); break;
    case 'aaaa': if (d.address.length !== 16) w.ok = false; else w.bytes(d.address); break;
    case 'name': w.name(d.target, true, true); break;
    case 'mx': w.u16(d.preference); w.name(d.exchange, true, true); break;
    // RFC 2782: "name compression is not to be used for this field".
    case 'srv': w.u16(d.priority); w.u16(d.weight); w.u16(d.port); w.name(d.target, false, false); break;
    case 'soa':
      w.name(d.mname, true, true); w.name(d.rname, true, true);
      w.u32(d.serial); w.u32(d.refresh); w.u32(d.retry); w.u32(d.expire); w.u32(d.minimum);
      break;
    case 'txt':
      for (const s of d.strings) { if (s.length > 255) w.ok = false; w.u8(s.length); w.bytes(s); }
      break;
    case 'raw': w.bytes(d.bytes); break;
  }
}

function writeRecord(w: Writer, rec: DnsRecord): void {
  w.name(rec.name, true, true);
  w.u16(rec.type); w.u16(rec.class); w.u32(rec.ttl);
  const lenAt = w.pos;
  w.u16(0);
  writeRdata(w, rec.data);
  if (w.ok) w.putU16(lenAt, w.pos - lenAt - 2);
  if (w.pos - lenAt - 2 > 0xffff) w.ok = false;
}

/**
 * Writes `msg` at buf[off..], compressing repeated names and suffixes. Returns the number of
 * bytes written, or -1 if it does not fit (in `buf`, or before `limit` when given) or cannot
 * be encoded (a label over 63 octets, a name over 255, a count over 65535, TXT string > 255).
 */
export function emitDnsMessage(msg: DnsMessage, buf: Uint8Array, off: number, limit = buf.length - off): number {
  const arCount = msg.additional.length + (msg.edns !== undefined ? 1 : 0);
  if (off < 0 || msg.questions.length > 0xffff || msg.answers.length > 0xffff || msg.authority.length > 0xffff || arCount > 0xffff) return -1;
  const w = new Writer(buf, off, off, Math.min(buf.length, off + Math.max(0, limit)));
  if (!w.room(DNS_HEADER_LEN)) return -1;
  w.u16(msg.id);
  w.u16((msg.qr ? 0x8000 : 0) | ((msg.opcode & 0xf) << 11) | (msg.aa ? 0x0400 : 0) | (msg.tc ? 0x0200 : 0)
    | (msg.rd ? 0x0100 : 0) | (msg.ra ? 0x0080 : 0) | (msg.ad ? 0x0020 : 0) | (msg.cd ? 0x0010 : 0) | (msg.rcode & 0xf));
  w.u16(msg.questions.length); w.u16(msg.answers.length); w.u16(msg.authority.length); w.u16(arCount);
  for (const q of msg.questions) { w.name(q.name, true, true); w.u16(q.type); w.u16(q.class); }
  for (const rec of msg.answers) writeRecord(w, rec);
  for (const rec of msg.authority) writeRecord(w, rec);
  for (const rec of msg.additional) writeRecord(w, rec);
  const e = msg.edns;
  if (e !== undefined) {
    w.u8(0); w.u16(DnsType.OPT); w.u16(e.udpSize);
    w.u32(((e.extRcode & 0xff) << 24 | (e.version & 0xff) << 16 | (e.dnssecOk ? 0x8000 : 0)) >>> 0);
    let rdlen = 0;
    for (const o of e.options) rdlen += 4 + o.data.length;
    if (rdlen > 0xffff) return -1;
    w.u16(rdlen);
    for (const o of e.options) { w.u16(o.code); w.u16(o.data.length); w.bytes(o.data); }
  }
  return w.ok ? w.pos - off : -1;
}
