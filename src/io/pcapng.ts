/**
 * pcapng capture writer (RFC draft-ietf-opsawg-pcapng). Little-endian.
 *
 * Every block:  u32 block type | u32 total length | body | options | u32 total length
 * Option:       u16 code | u16 length | value, zero-padded to 32 bits; list ends with code 0.
 *
 * Section Header Block (0x0A0D0D0A): byte-order magic 0x1A2B3C4D, version 1.0,
 *   section length -1 (unknown, i64), option shb_userappl (4) = "podwire".
 * Interface Description Block (1): u16 linktype, u16 reserved, u32 snaplen, options
 *   if_name (2), if_description (3), if_tsresol (9) = 9 (10^-9 s: nanoseconds).
 *   Interface ids count IDBs in order; an IDB may follow packets of other interfaces.
 * Enhanced Packet Block (6):
 *    0 type=6 | 4 total length | 8 interface id | 12 timestamp high u32 | 16 timestamp low u32
 *   20 captured length | 24 original length | 28 packet data, padded to 32 bits
 *   [opt_comment (1), opt_endofopt] | total length
 *
 * Per packet (no comment): a 28-byte header from a scratch buffer, the packet range, up to
 * 3 zero bytes of padding and the 4-byte trailer go to the sink; no allocation. A comment
 * costs one UTF-8 encoding.
 */
import { DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, splitTimestampMs } from './pcap.js';
import type { ByteSink } from './sink.js';

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
export const BLOCK_SPB = 0x00000003;
export const BLOCK_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const OPT_SHB_USERAPPL = 4;
export const OPT_IF_NAME = 2;
export const OPT_IF_DESCRIPTION = 3;
export const OPT_IF_TSRESOL = 9;

export interface PcapngInterfaceOptions {
  description?: string;
  /** Bytes kept per packet on this interface (default 262144). */
  snaplen?: number;
  /** LINKTYPE_* (default 1, Ethernet). */
  linktype?: number;
}

export interface PcapngWriterOptions {
  /** shb_userappl (default "podwire"). */
  application?: string;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** Encodes an options list (with end-of-options) for the non-hot blocks. */
function encodeOptions(opts: ReadonlyArray<readonly [code: number, value: Uint8Array]>): Buffer {
  let size = 4;
  for (const [, value] of opts) size += 4 + pad4(value.length);
  const out = Buffer.alloc(size);
  let p = 0;
  for (const [code, value] of opts) {
    if (value.length > 0xffff) throw new RangeError(`pcapng option ${code}: value of ${value.length} bytes (max 65535)`);
    out.writeUInt16LE(code, p);
    out.writeUInt16LE(value.length, p + 2);
    out.set(value, p + 4);
    p += 4 + pad4(value.length);
  }
  return out; // last 4 bytes stay zero: opt_endofopt
}

function encodeBlock(type: number, body: Buffer, options: Buffer): Buffer {
  const total = 12 + body.length + options.length;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  options.copy(out, 8 + body.length);
  out.writeUInt32LE(total, total - 4);
  return out;
}

export class PcapngWriter {
  packets = 0;
  truncated = 0;
  private readonly sink: ByteSink;
  private readonly snaplens: number[] = [];
  private readonly names: string[] = [];
  private readonly scratch = Buffer.alloc(28);
  private readonly view: DataView;
  private readonly zeros = Buffer.alloc(8);
  private readonly ts = new Float64Array(2);
  private closed = false;

  constructor(sink: ByteSink, opts: PcapngWriterOptions = {}) {
    this.sink = sink;
    this.view = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
    const body = Buffer.alloc(16);
    body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
    body.writeUInt16LE(1, 4);
    body.writeUInt16LE(0, 6);
    body.writeBigInt64LE(-1n, 8);
    const options = encodeOptions([[OPT_SHB_USERAPPL, Buffer.from(opts.application ?? 'podwire', 'utf8')]]);
    this.writeBlock(encodeBlock(BLOCK_SHB, body, options));
  }

  /** Number of interfaces added so far. */
  get interfaceCount(): number {
    return this.names.length;
  }

  /** Name given to `addInterface` for `id`, if any. */
  interfaceName(id: number): string | undefined {
    return this.names[id];
  }

  /** Writes an IDB now and returns its interface id (0, 1, ...). */
  addInterface(name: string, opts: PcapngInterfaceOptions = {}): number {
    if (this.closed) throw new Error('pcapng writer: addInterface after close');
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    const linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`pcapng interface ${JSON.stringify(name)} snaplen: ${snaplen} (need an integer in 1..2147483647)`);
    }
    if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff) {
      throw new RangeError(`pcapng interface ${JSON.stringify(name)} linktype: ${linktype} (need an integer in 0..65535)`);
    }
    const body = Buffer.alloc(8);
    body.writeUInt16LE(linktype, 0);
    body.writeUInt32LE(snaplen, 4);
    const list: Array<readonly [number, Uint8Array]> = [[OPT_IF_NAME, Buffer.from(name, 'utf8')]];
    if (opts.description !== undefined) list.push([OPT_IF_DESCRIPTION, Buffer.from(opts.description, 'utf8')]);
    list.push([OPT_IF_TSRESOL, Uint8Array.of(9)]);
    this.writeBlock(encodeBlock(BLOCK_IDB, body, encodeOptions(list)));
    this.snaplens.push(snaplen);
    this.names.push(name);
    return this.names.length - 1;
  }

  /** Writes `data[off, off + len)` seen on `interfaceId` at `tsMs` (ms since the epoch, float). */
  writePacket(interfaceId: number, data: Uint8Array, off: number, len: number, tsMs: number, comment?: string): void {
    splitTimestampMs(tsMs, 1e9, this.ts);
    this.writePacketAt(interfaceId, data, off, len, this.ts[0] ?? 0, this.ts[1] ?? 0, comment);
  }

  /** Same with an exact timestamp: `sec` since the epoch (integer >= 0) and `nsec` in 0..999999999. */
  writePacketAt(
    interfaceId: number, data: Uint8Array, off: number, len: number,
    sec: number, nsec: number, comment?: string,
  ): void {
    if (this.closed) throw new Error('pcapng writer: writePacket after close');
    const snaplen = this.snaplens[interfaceId];
    if (snaplen === undefined) {
      throw new RangeError(`pcapng writePacket: interface ${interfaceId} not added (have ${this.snaplens.length})`);
    }
    if (off < 0 || len < 0 || off + len > data.length) {
      throw new RangeError(`pcapng writePacket: range [${off}, ${off + len}) outside a ${data.length}-byte buffer`);
    }
    const caplen = len > snaplen ? snaplen : len;
    if (caplen < len) this.truncated++;
    const padded = pad4(caplen);
    let commentBytes: Buffer | undefined;
    let optLen = 0;
    if (comment !== undefined) {
      commentBytes = Buffer.from(comment, 'utf8');
      if (commentBytes.length > 0xffff) throw new RangeError(`pcapng comment: ${commentBytes.length} bytes (max 65535)`);
      optLen = 4 + pad4(commentBytes.length) + 4;
    }
    const total = 32 + padded + optLen;

    // 64-bit count of ns, computed exactly in doubles: sec = a*2^16 + b,
    // total = (a*1e9)*2^16 + (b*1e9 + nsec); with a*1e9 = xh*2^16 + xl:
    // total = xh*2^32 + (xl*2^16 + b*1e9 + nsec). Every term stays below 2^53.
    const a = Math.floor(sec / 65536);
    const b = sec - a * 65536;
    const x = a * 1e9;
    const xh = Math.floor(x / 65536);
    const low = (x - xh * 65536) * 65536 + b * 1e9 + nsec;
    const carry = Math.floor(low / 4294967296);

    const v = this.view;
    v.setUint32(0, BLOCK_EPB, true);
    v.setUint32(4, total, true);
    v.setUint32(8, interfaceId, true);
    v.setUint32(12, (xh + carry) >>> 0, true);
    v.setUint32(16, (low - carry * 4294967296) >>> 0, true);
    v.setUint32(20, caplen, true);
    v.setUint32(24, len, true);
    const sink = this.sink;
    sink.write(this.scratch, 0, 28);
    sink.write(data, off, caplen);
    if (padded > caplen) sink.write(this.zeros, 0, padded - caplen);
    if (commentBytes !== undefined) {
      v.setUint16(0, OPT_COMMENT, true);
      v.setUint16(2, commentBytes.length, true);
      sink.write(this.scratch, 0, 4);
      sink.write(commentBytes, 0, commentBytes.length);
      const cpad = pad4(commentBytes.length) - commentBytes.length;
      sink.write(this.zeros, 0, cpad + 4); // padding, then opt_endofopt (code 0, length 0)
    }
    v.setUint32(0, total, true);
    sink.write(this.scratch, 0, 4);
    sink.endRecord?.();
    this.packets++;
  }

  /** Pushes buffered bytes to their destination without closing. */
  flush(): void {
    this.sink.flush?.();
  }

  /** Flushes and closes the sink. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.close();
  }

  private writeBlock(block: Buffer): void {
    this.sink.write(block, 0, block.length);
    this.sink.endRecord?.();
  }
}
