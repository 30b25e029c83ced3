/**
 * RingSink: a ByteSink that spreads one capture over a ring of files, as `tcpdump -C/-W`
 * does: when the current file holds `packets` packet records (or `bytes` bytes), the next
 * packet starts a new file, and only the newest `files` files are kept (older ones are
 * deleted). Every file is complete on its own: it begins with the header records the
 * writer emitted before the first packet (pcapng: section header + one interface
 * description per capture point; pcap: the global header), replayed from memory.
 *
 * The owner calls `sealHeader()` once the writer has written its header, so the sink
 * knows which records to replay. Rotation happens between records, never inside one.
 */
import { rmSync } from 'node:fs';
import { FileSink, type ByteSink } from '../io/sink.js';

export interface RingLimits {
  /** Files kept (2 or more). */
  files: number;
  /** Packets per file; a file is full when either limit is reached. */
  packets?: number;
  bytes?: number;
}

export class RingSink implements ByteSink {
  /** Paths of the files kept, oldest first. */
  readonly kept: string[] = [];
  /** Every file ever started (the ring's sequence number is its index + 1). */
  started = 0;
  deleted = 0;
  /** Header records while they are being written; null once sealed. */
  private header: Buffer[] | null = [];
  private savedHeader: Buffer[] = [];
  private headerBytes = 0;
  private current: FileSink | null = null;
  private curPackets = 0;
  private curBytes = 0;
  private rotateNext = false;
  private closed = false;

  constructor(private readonly pathOf: (seq: number) => string, private readonly limits: RingLimits) {
    if (!Number.isInteger(limits.files) || limits.files < 2) throw new RangeError(`ring files: ${limits.files} (need an integer >= 2)`);
    if (limits.packets === undefined && limits.bytes === undefined) throw new RangeError('ring: give packets or bytes per file');
    this.open();
  }

  /** Everything written so far is the header every file starts with. */
  sealHeader(): void {
    if (this.header === null) return;
    this.savedHeader = this.header;
    this.header = null;
  }

  write(bytes: Uint8Array, off = 0, len?: number): void {
    if (this.closed) throw new Error('RingSink: write after close');
    const n = len ?? bytes.length - off;
    if (this.header !== null) {
      this.header.push(Buffer.from(bytes.subarray(off, off + n)));
      this.headerBytes += n;
    } else if (this.rotateNext) {
      this.rotateNext = false;
      this.rotate();
    }
    this.current!.write(bytes, off, n);
    this.curBytes += n;
  }

  endRecord(): void {
    if (this.header !== null) return;
    this.curPackets++;
    const l = this.limits;
    if ((l.packets !== undefined && this.curPackets >= l.packets) || (l.bytes !== undefined && this.curBytes >= l.bytes)) this.rotateNext = true;
  }

  flush(): void {
    this.current?.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current?.close();
    this.current = null;
  }

  /** The file being written now. */
  get currentPath(): string | null {
    return this.closed ? null : (this.kept[this.kept.length - 1] ?? null);
  }

  private open(): void {
    const path = this.pathOf(++this.started);
    this.current = new FileSink(path);
    this.kept.push(path);
    this.curPackets = 0;
    this.curBytes = 0;
  }

  private rotate(): void {
    this.current?.close();
    this.open();
    for (const b of this.savedHeader) this.current!.write(b, 0, b.length);
    this.curBytes = this.headerBytes;
    while (this.kept.length > this.limits.files) {
      rmSync(this.kept.shift()!, { force: true });
      this.deleted++;
    }
  }
}
