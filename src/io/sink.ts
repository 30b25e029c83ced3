/**
 * Byte sinks for capture writers (pcap, pcapng) and live capture streams.
 *
 * A writer emits each record as a few `write()` calls (header, payload, padding, trailer)
 * followed by one `endRecord()`; the sink decides when bytes leave the process:
 *
 * - `FileSink`: copies into a preallocated 64 KiB buffer and calls `fs.writeSync` when it is
 *   full, on `flush()` and on `close()`. A write larger than the buffer goes straight to the
 *   file after the buffered bytes. No allocation per write.
 * - `MemorySink`: keeps copies of every chunk; `bytes()` concatenates them. For tests and
 *   small captures returned in one piece.
 * - `CallbackSink`: for live streaming (an HTTP response, a WebSocket). Bytes are copied into
 *   a preallocated buffer; a chunk is handed to the callback every `flushEvery` records
 *   (default 1: one chunk per packet, lowest latency), whenever the buffer would overflow,
 *   and on `flush()` / `close()`. The chunk is a fresh `Buffer` the callback owns (it may
 *   keep it, e.g. queue it on a socket): one allocation per chunk, not per write. A batching
 *   stream sets `flushEvery` higher and calls `flush()` from a timer so a quiet interface
 *   still delivers its last packets.
 *
 * `write(bytes, off, len)` takes an optional range so writers never `subarray()` a packet.
 * Writing to a closed sink throws: that is a programming error at the edge, not packet data.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface ByteSink {
  /** Appends `bytes[off, off + len)` (default: all of `bytes`). */
  write(bytes: Uint8Array, off?: number, len?: number): void;
  /** Pushes buffered bytes out, then releases the sink. Idempotent. */
  close(): void;
  /** Pushes buffered bytes out now (optional: a sink without a buffer has nothing to do). */
  flush?(): void;
  /** Marks the end of one record (a packet or a block); lets a sink batch by record count. */
  endRecord?(): void;
}

export const DEFAULT_SINK_BUFFER = 64 * 1024;

const bufferCopy = Buffer.prototype.copy;

/** Copies without creating a view (`subarray`) per call; works for any Uint8Array source. */
function copyBytes(src: Uint8Array, srcOff: number, n: number, dst: Buffer, dstOff: number): void {
  bufferCopy.call(src, dst, dstOff, srcOff, srcOff + n);
}

function rangeLen(bytes: Uint8Array, off: number, len: number | undefined): number {
  const n = len ?? bytes.length - off;
  if (off < 0 || n < 0 || off + n > bytes.length) {
    throw new RangeError(`sink write: range [${off}, ${off + n}) outside a ${bytes.length}-byte buffer`);
  }
  return n;
}

/** Buffered file writer: one `writeSync` per 64 KiB (or per `flush()`). */
export class FileSink implements ByteSink {
  readonly path: string;
  private fd: number;
  private readonly buf: Buffer;
  private used = 0;
  private closed = false;
  /** Bytes accepted so far (buffered or written). */
  bytesWritten = 0;
  /** Number of `writeSync` calls that emptied the buffer or wrote a large chunk. */
  syscalls = 0;

  constructor(path: string, opts: { bufferSize?: number; append?: boolean } = {}) {
    const size = opts.bufferSize ?? DEFAULT_SINK_BUFFER;
    if (!Number.isInteger(size) || size < 64) throw new RangeError(`FileSink bufferSize: ${size} (need an integer >= 64)`);
    this.path = path;
    this.fd = openSync(path, opts.append === true ? 'a' : 'w');
    this.buf = Buffer.allocUnsafe(size);
  }

  write(bytes: Uint8Array, off = 0, len?: number): void {
    if (this.closed) throw new Error(`FileSink ${this.path}: write after close`);
    const n = rangeLen(bytes, off, len);
    this.bytesWritten += n;
    if (n > this.buf.length - this.used) {
      this.flush();
      if (n >= this.buf.length) {
        this.writeAll(bytes, off, n);
        return;
      }
    }
    copyBytes(bytes, off, n, this.buf, this.used);
    this.used += n;
  }

  flush(): void {
    if (this.used === 0 || this.closed) return;
    this.writeAll(this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  private writeAll(bytes: Uint8Array, off: number, len: number): void {
    let done = 0;
    while (done < len) done += writeSync(this.fd, bytes, off + done, len - done);
    this.syscalls++;
  }
}

/** Collects copies of every write; `bytes()` returns them as one Buffer. */
export class MemorySink implements ByteSink {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  closed = false;
  records = 0;

  write(bytes: Uint8Array, off = 0, len?: number): void {
    if (this.closed) throw new Error('MemorySink: write after close');
    const n = rangeLen(bytes, off, len);
    if (n === 0) return;
    this.chunks.push(Buffer.from(bytes.subarray(off, off + n)));
    this.length += n;
  }

  endRecord(): void {
    this.records++;
  }

  close(): void {
    this.closed = true;
  }

  /** Everything written so far, as one Buffer (a copy). */
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }

  get size(): number {
    return this.length;
  }
}

export interface CallbackSinkOptions {
  /** Hand a chunk over every this many records (default 1). */
  flushEvery?: number;
  /** Staging buffer size; a chunk is handed over before it would overflow (default 64 KiB). */
  bufferSize?: number;
  /** Called once, after the final chunk, when the sink is closed. */
  onClose?: () => void;
}

/** Hands buffered bytes to `onChunk` per record (or per N records); see the module doc. */
export class CallbackSink implements ByteSink {
  private readonly onChunk: (chunk: Buffer) => void;
  private readonly onClose: (() => void) | undefined;
  private readonly flushEvery: number;
  private readonly buf: Buffer;
  private used = 0;
  private pending = 0;
  private closed = false;
  chunks = 0;

  constructor(onChunk: (chunk: Buffer) => void, opts: CallbackSinkOptions = {}) {
    const every = opts.flushEvery ?? 1;
    const size = opts.bufferSize ?? DEFAULT_SINK_BUFFER;
    if (!Number.isInteger(every) || every < 1) throw new RangeError(`CallbackSink flushEvery: ${every} (need an integer >= 1)`);
    if (!Number.isInteger(size) || size < 64) throw new RangeError(`CallbackSink bufferSize: ${size} (need an integer >= 64)`);
    this.onChunk = onChunk;
    this.onClose = opts.onClose;
    this.flushEvery = every;
    this.buf = Buffer.allocUnsafe(size);
  }

  write(bytes: Uint8Array, off = 0, len?: number): void {
    if (this.closed) throw new Error('CallbackSink: write after close');
    const n = rangeLen(bytes, off, len);
    if (n > this.buf.length - this.used) {
      this.flush();
      if (n >= this.buf.length) {
        this.chunks++;
        this.onChunk(Buffer.from(bytes.subarray(off, off + n)));
        return;
      }
    }
    copyBytes(bytes, off, n, this.buf, this.used);
    this.used += n;
  }

  endRecord(): void {
    if (++this.pending >= this.flushEvery) this.flush();
  }

  flush(): void {
    this.pending = 0;
    if (this.used === 0) return;
    const chunk = Buffer.allocUnsafe(this.used);
    this.buf.copy(chunk, 0, 0, this.used);
    this.used = 0;
    this.chunks++;
    this.onChunk(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.onClose?.();
  }
}
