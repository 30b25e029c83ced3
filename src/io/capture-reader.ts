/**
 * Reads pcap and pcapng captures (either byte order) into plain objects, for tests, golden
 * tests and the CLI. Not a dataplane path: it allocates freely and throws on bad input with
 * a message naming the byte offset and the block or record.
 *
 * pcap: magic 0xa1b2c3d4 (µs) or 0xa1b23c4d (ns), 24-byte header, 16-byte record headers.
 * pcapng: SHB (per section: byte order, interfaces reset), IDB (linktype, snaplen, if_name,
 * if_description, if_tsresol in the 10^-n and 2^-n forms, if_tsoffset), EPB, SPB (no
 * timestamp: tsNs 0n), obsolete Packet Block (2); other blocks are skipped by their length.
 */

export interface CaptureInterface {
  name: string;
  description?: string;
  linktype: number;
  snaplen: number;
  /** Timestamp units per second (1e6 for pcap µs, 1e9 for pcap ns / if_tsresol=9, ...). */
  unitsPerSec: bigint;
}

export interface CapturePacket {
  interfaceId: number;
  /** Nanoseconds since the Unix epoch (exact for µs and ns resolutions). */
  tsNs: bigint;
  /** Milliseconds since the Unix epoch (float; convenient, not exact below ~0.25 µs). */
  tsMs: number;
  data: Buffer;
  origLen: number;
  comment?: string;
  /** Which block carried it (pcapng) or 'record' (pcap). */
  block: 'record' | 'epb' | 'spb' | 'pb';
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  littleEndian: boolean;
  /** pcap only: nanosecond magic. */
  nanosecond: boolean;
  /** Link types of the interfaces, in interface order (pcap: one). */
  linktypes: number[];
  interfaces: CaptureInterface[];
  packets: CapturePacket[];
  /** pcapng: shb_userappl of the first section, if any. */
  application?: string;
}

export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
const pad4 = (n: number): number => (n + 3) & ~3;

/** Detects the format from the first 4 bytes and parses the whole capture. */
export function readCapture(bytes: Uint8Array): Capture {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 4) throw new CaptureFormatError(`capture: ${buf.length} bytes at offset 0, too short for a magic number`);
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  if (le === 0xa1b2c3d4 || le === 0xa1b23c4d) return readPcap(buf, true, le === 0xa1b23c4d);
  if (be === 0xa1b2c3d4 || be === 0xa1b23c4d) return readPcap(buf, false, be === 0xa1b23c4d);
  if (le === 0x0a0d0d0a) return readPcapng(buf);
  throw new CaptureFormatError(`capture: unknown magic ${hex(be)} at offset 0 (not pcap or pcapng)`);
}

function readPcap(buf: Buffer, le: boolean, nanosecond: boolean): Capture {
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (buf.length < 24) throw new CaptureFormatError(`pcap: global header at offset 0 needs 24 bytes, file has ${buf.length}`);
  const major = le ? buf.readUInt16LE(4) : buf.readUInt16BE(4);
  if (major !== 2) throw new CaptureFormatError(`pcap: global header at offset 4: version ${major} (expected 2)`);
  const snaplen = u32(16);
  const linktype = u32(20) & 0x0fffffff; // upper bits: FCS length flags
  const unitsPerSec = nanosecond ? 1_000_000_000n : 1_000_000n;
  const packets: CapturePacket[] = [];
  let off = 24;
  while (off < buf.length) {
    if (buf.length - off < 16) {
      throw new CaptureFormatError(`pcap: record header at offset ${off} needs 16 bytes, ${buf.length - off} left`);
    }
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    const orig = u32(off + 12);
    if (BigInt(frac) >= unitsPerSec) {
      throw new CaptureFormatError(`pcap: record at offset ${off}: fraction ${frac} >= ${unitsPerSec} per second`);
    }
    if (incl > buf.length - off - 16) {
      throw new CaptureFormatError(`pcap: record at offset ${off}: captured length ${incl} exceeds the ${buf.length - off - 16} bytes left`);
    }
    const tsNs = BigInt(sec) * 1_000_000_000n + BigInt(frac) * (1_000_000_000n / unitsPerSec);
    packets.push({
      interfaceId: 0, tsNs, tsMs: nsToMs(tsNs),
      data: Buffer.from(buf.subarray(off + 16, off + 16 + incl)), origLen: orig, block: 'record',
    });
    off += 16 + incl;
  }
  return {
    format: 'pcap', littleEndian: le, nanosecond, linktypes: [linktype],
    interfaces: [{ name: '', linktype, snaplen, unitsPerSec }], packets,
  };
}

function nsToMs(ns: bigint): number {
  const ms = ns / 1_000_000n;
  return Number(ms) + Number(ns - ms * 1_000_000n) / 1e6;
}

interface SectionIf { name: string; description?: string; linktype: number; snaplen: number; unitsPerSec: bigint; offsetSec: bigint; globalId: number }

const blockNames: Record<number, string> = {
  [0x0a0d0d0a]: 'SHB', 1: 'IDB', 2: 'PB', 3: 'SPB', 4: 'NRB', 5: 'ISB', 6: 'EPB', 10: 'DSB',
};
const blockName = (t: number): string => blockNames[t] ?? `block ${hex(t)}`;

function readPcapng(buf: Buffer): Capture {
  let le = true;
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const interfaces: CaptureInterface[] = [];
  const packets: CapturePacket[] = [];
  let section: SectionIf[] = [];
  let application: string | undefined;
  let firstLe: boolean | undefined;
  let off = 0;

  /** Walks an options list in [start, end); calls `each` per option; stops at end-of-options. */
  const options = (start: number, end: number, what: string, each: (code: number, vOff: number, vLen: number) => void): void => {
    let p = start;
    while (p + 4 <= end) {
      const code = u16(p);
      const len = u16(p + 2);
      if (code === 0) return;
      if (p + 4 + len > end) {
        throw new CaptureFormatError(`pcapng: ${what}: option ${code} at offset ${p} has length ${len}, past the block end at ${end}`);
      }
      each(code, p + 4, len);
      p += 4 + pad4(len);
    }
  };

  while (off < buf.length) {
    if (buf.length - off < 12) {
      throw new CaptureFormatError(`pcapng: block at offset ${off} needs at least 12 bytes, ${buf.length - off} left`);
    }
    const typeLe = buf.readUInt32LE(off);
    if (typeLe === 0x0a0d0d0a) {
      if (buf.length - off < 28) throw new CaptureFormatError(`pcapng: SHB at offset ${off} needs 28 bytes, ${buf.length - off} left`);
      const bom = buf.readUInt32LE(off + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new CaptureFormatError(`pcapng: SHB at offset ${off}: bad byte-order magic ${hex(bom)}`);
      firstLe ??= le;
      const major = u16(off + 12);
      if (major !== 1) throw new CaptureFormatError(`pcapng: SHB at offset ${off}: version ${major}.${u16(off + 14)} (expected 1.x)`);
      section = [];
    } else if (firstLe === undefined) {
      throw new CaptureFormatError(`pcapng: ${blockName(typeLe)} at offset ${off} before any Section Header Block`);
    }
    const type = u32(off);
    const name = blockName(type);
    const total = u32(off + 4);
    if (total < 12 || total % 4 !== 0 || total > buf.length - off) {
      throw new CaptureFormatError(`pcapng: ${name} at offset ${off}: block length ${total} invalid (${buf.length - off} bytes left, need >= 12 and a multiple of 4)`);
    }
    const trailer = u32(off + total - 4);
    if (trailer !== total) {
      throw new CaptureFormatError(`pcapng: ${name} at offset ${off}: trailing length ${trailer} != leading length ${total}`);
    }
    const end = off + total - 4;
    const where = `${name} at offset ${off}`;
    const need = (n: number): void => {
      if (off + 8 + n > end) throw new CaptureFormatError(`pcapng: ${where}: body needs ${n} bytes, block has ${end - off - 8}`);
    };

    if (type === 0x0a0d0d0a) {
      options(off + 24, end, where, (code, v, n) => {
        if (code === 4 && application === undefined) application = buf.toString('utf8', v, v + n);
      });
    } else if (type === 1) {
      need(8);
      const itf: SectionIf = { name: '', linktype: u16(off + 8), snaplen: u32(off + 12), unitsPerSec: 1_000_000n, offsetSec: 0n, globalId: interfaces.length };
      options(off + 16, end, where, (code, v, n) => {
        if (code === 2) itf.name = buf.toString('utf8', v, v + n);
        else if (code === 3) itf.description = buf.toString('utf8', v, v + n);
        else if (code === 9 && n >= 1) {
          const r = buf[v] ?? 0;
          itf.unitsPerSec = (r & 0x80) !== 0 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
        } else if (code === 14 && n >= 8) {
          itf.offsetSec = le ? buf.readBigInt64LE(v) : buf.readBigInt64BE(v);
        }
      });
      section.push(itf);
      const pub: CaptureInterface = { name: itf.name, linktype: itf.linktype, snaplen: itf.snaplen, unitsPerSec: itf.unitsPerSec };
      if (itf.description !== undefined) pub.description = itf.description;
      interfaces.push(pub);
    } else if (type === 6 || type === 2) {
      need(20);
      const localId = type === 6 ? u32(off + 8) : u16(off + 8);
      const itf = section[localId];
      if (itf === undefined) throw new CaptureFormatError(`pcapng: ${where}: interface id ${localId} not described (section has ${section.length})`);
      const ts = (BigInt(u32(off + 12)) << 32n) | BigInt(u32(off + 16));
      const cap = u32(off + 20);
      const orig = u32(off + 24);
      if (cap > end - off - 28) {
        throw new CaptureFormatError(`pcapng: ${where}: captured length ${cap} exceeds the ${end - off - 28} bytes of the block`);
      }
      const tsNs = itf.offsetSec * 1_000_000_000n + (ts * 1_000_000_000n) / itf.unitsPerSec;
      const pkt: CapturePacket = {
        interfaceId: itf.globalId, tsNs, tsMs: nsToMs(tsNs),
        data: Buffer.from(buf.subarray(off + 28, off + 28 + cap)), origLen: orig, block: type === 6 ? 'epb' : 'pb',
      };
      const comments: string[] = [];
      options(off + 28 + pad4(cap), end, where, (code, v, n) => {
        if (code === 1) comments.push(buf.toString('utf8', v, v + n));
      });
      if (comments.length > 0) pkt.comment = comments.join('\n');
      packets.push(pkt);
    } else if (type === 3) {
      need(4);
      const itf = section[0];
      if (itf === undefined) throw new CaptureFormatError(`pcapng: ${where}: simple packet without an interface`);
      const orig = u32(off + 8);
      const cap = Math.min(orig, itf.snaplen > 0 ? itf.snaplen : orig, end - off - 12);
      packets.push({
        interfaceId: itf.globalId, tsNs: 0n, tsMs: 0,
        data: Buffer.from(buf.subarray(off + 12, off + 12 + cap)), origLen: orig, block: 'spb',
      });
    }
    off += total;
  }
  const out: Capture = {
    format: 'pcapng', littleEndian: firstLe ?? true, nanosecond: false,
    linktypes: interfaces.map((i) => i.linktype), interfaces, packets,
  };
  if (application !== undefined) out.application = application;
  return out;
}
