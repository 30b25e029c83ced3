/**
 * Classic libpcap capture writer (https://www.tcpdump.org/manpages/pcap-savefile.5.html,
 * draft-ietf-opsawg-pcap). Little-endian, as written by libpcap on x86.
 *
 * Global header (24 bytes):
 *   0  magic      0xa1b2c3d4 (µs timestamps) | 0xa1b23c4d (ns timestamps)
 *   4  version    2.4 (u16 major, u16 minor)
 *   8  thiszone   0 (i32)     12  sigfigs 0 (u32)
 *   16 snaplen    u32 (default 262144)
 *   20 linktype   u32 (1 = Ethernet)
 * Record header (16 bytes), then `incl_len` bytes of packet:
 *   0  ts_sec  u32   4  ts_usec | ts_nsec u32   8  incl_len u32   12 orig_len u32
 *
 * Per packet: the record header goes into a reusable 16-byte scratch buffer, then the
 * header and the (possibly truncated) packet range are handed to the sink: no allocation.
 */
import type { ByteSink } from './sink.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const DEFAULT_SNAPLEN = 262144;

/**
 * Splits a wall-clock time in milliseconds since the Unix epoch (a float, as
 * `performance.timeOrigin + performance.now()` gives) into whole seconds and a fraction in
 * `unitsPerSec` units (1e6 for µs, 1e9 for ns). Seconds come from `Math.floor` (so times
 * before 1970 still get a fraction in [0, unitsPerSec)); the fraction is rounded to the
 * nearest unit so `1700000000123.456` gives 123456 µs, not 123455 after a binary-float
 * `.99999` (a float near 1.7e12 ms carries ~0.25 µs of precision, so ns values from a
 * float are approximate; use `writePacketAt` for exact ns). Result in `out[0]`, `out[1]`.
 */
export function splitTimestampMs(tsMs: number, unitsPerSec: number, out: Float64Array): void {
  let sec = Math.floor(tsMs / 1000);
  let remMs = tsMs - sec * 1000;
  if (remMs < 0) { sec -= 1; remMs += 1000; } else if (remMs >= 1000) { sec += 1; remMs -= 1000; }
  let frac = Math.round(remMs * (unitsPerSec / 1000));
  if (frac >= unitsPerSec) { sec += 1; frac -= unitsPerSec; }
  out[0] = sec;
  out[1] = frac;
}

export interface PcapWriterOptions {
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds (0xa1b2c3d4). */
  nanosecond?: boolean;
  /** Bytes kept per packet; longer packets are truncated and keep their original length. */
  snaplen?: number;
  /** LINKTYPE_* value of the global header (default 1, Ethernet). */
  linktype?: number;
}

export class PcapWriter {
  readonly nanosecond: boolean;
  readonly snaplen: number;
  readonly linktype: number;
  packets = 0;
  /** Packets cut to `snaplen`. */
  truncated = 0;
  private readonly sink: ByteSink;
  private readonly unitsPerSec: number;
  private readonly scratch = Buffer.alloc(24);
  private readonly view: DataView;
  private readonly ts = new Float64Array(2);
  private closed = false;

  constructor(sink: ByteSink, opts: PcapWriterOptions = {}) {
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    const linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`pcap snaplen: ${snaplen} (need an integer in 1..2147483647)`);
    }
    if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff) {
      throw new RangeError(`pcap linktype: ${linktype} (need an integer in 0..65535)`);
    }
    this.sink = sink;
    this.nanosecond = opts.nanosecond === true;
    this.unitsPerSec = this.nanosecond ? 1e9 : 1e6;
    this.snaplen = snaplen;
    this.linktype = linktype;
    const v = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
    this.view = v;
    v.setUint32(0, this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true);
    v.setUint32(12, 0, true);
    v.setUint32(16, snaplen, true);
    v.setUint32(20, linktype, true);
    sink.write(this.scratch, 0, 24);
    sink.endRecord?.();
  }

  /** Writes `data[off, off + len)` captured at `tsMs` (ms since the Unix epoch, float). */
  writePacket(data: Uint8Array, off: number, len: number, tsMs: number): void {
    splitTimestampMs(tsMs, this.unitsPerSec, this.ts);
    this.writePacketAt(data, off, len, this.ts[0] ?? 0, this.ts[1] ?? 0);
  }

  /**
   * Same with the timestamp already split: `sec` since the epoch and `frac` in the file's
   * unit (µs, or ns with `nanosecond`). Exact; no float rounding.
   */
  writePacketAt(data: Uint8Array, off: number, len: number, sec: number, frac: number): void {
    if (this.closed) throw new Error('pcap writer: writePacket after close');
    if (off < 0 || len < 0 || off + len > data.length) {
      throw new RangeError(`pcap writePacket: range [${off}, ${off + len}) outside a ${data.length}-byte buffer`);
    }
    const caplen = len > this.snaplen ? this.snaplen : len;
    if (caplen < len) this.truncated++;
    const v = this.view;
    v.setUint32(0, sec >>> 0, true);
    v.setUint32(4, frac >>> 0, true);
    v.setUint32(8, caplen, true);
    v.setUint32(12, len, true);
    this.sink.write(this.scratch, 0, 16);
    this.sink.write(data, off, caplen);
    this.sink.endRecord?.();
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
}
