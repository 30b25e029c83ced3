/**
 * Captures: observers on the links of named capture points (an interface's receive and
 * transmit links), writing every frame to a pcapng file (one Interface Description Block
 * per point, named like `node1/cbr0`) or a classic pcap file (points merged).
 *
 * A capture sees a frame when it is transmitted on a link, stamped with the engine
 * clock's epoch time; a point's rx and tx links are both observed, so a frame appears
 * once per interface it crosses. Stopping removes the observers and closes the file.
 */
import type { Clock } from '../engine/clock.js';
import type { CapturePoint, Link, LinkTap } from '../engine/link.js';
import type { Packet } from '../engine/packet.js';
import { PcapWriter } from './pcap.js';
import { PcapngWriter } from './pcapng.js';
import type { ByteSink } from './sink.js';

export type { CapturePoint } from '../engine/link.js';

export interface CaptureOptions {
  format?: 'pcapng' | 'pcap';
  snaplen?: number;
  /** Per-packet comment (pcapng only), e.g. the direction; null for none. */
  comment?: ((p: Packet, point: CapturePoint, dir: 'rx' | 'tx') => string | null) | null;
  /** Called after a traced packet (`p.trace` set) was written: the point's index and the frame's number in the file (1-based). */
  onTraced?: ((p: Packet, point: number, frame: number) => void) | null;
}

export class Capture {
  packets = 0;
  bytes = 0;
  readonly perPoint: number[];
  private readonly hooks: { link: Link; fn: LinkTap }[] = [];
  private readonly ng: PcapngWriter | null;
  private readonly pcap: PcapWriter | null;
  private stopped = false;

  constructor(private readonly clock: () => Clock, readonly points: readonly CapturePoint[], sink: ByteSink, opts: CaptureOptions = {}) {
    const snaplen = opts.snaplen ?? 262144;
    this.perPoint = new Array<number>(points.length).fill(0);
    if ((opts.format ?? 'pcapng') === 'pcapng') {
      const ng = new PcapngWriter(sink);
      this.ng = ng;
      this.pcap = null;
      const comment = opts.comment ?? null;
      const traced = opts.onTraced ?? null;
      points.forEach((pt, i) => {
        const id = ng.addInterface(pt.name, { snaplen, ...(pt.description !== undefined ? { description: pt.description } : {}) });
        for (const [link, dir] of [[pt.rx, 'rx'], [pt.tx, 'tx']] as const) {
          if (link === null) continue;
          const fn: LinkTap = (p) => {
            this.count(i, p);
            const c = comment === null ? null : comment(p, pt, dir);
            if (c === null) ng.writePacket(id, p.buf, p.start, p.end - p.start, this.clock().epochMs());
            else ng.writePacket(id, p.buf, p.start, p.end - p.start, this.clock().epochMs(), c);
            if (traced !== null && p.trace !== 0) traced(p, i, this.packets);
          };
          link.addTap(fn);
          this.hooks.push({ link, fn });
        }
      });
    } else {
      const w = new PcapWriter(sink, { nanosecond: true, snaplen });
      this.pcap = w;
      this.ng = null;
      const traced = opts.onTraced ?? null;
      points.forEach((pt, i) => {
        for (const link of [pt.rx, pt.tx]) {
          if (link === null) continue;
          const fn: LinkTap = (p) => {
            this.count(i, p);
            w.writePacket(p.buf, p.start, p.end - p.start, this.clock().epochMs());
            if (traced !== null && p.trace !== 0) traced(p, i, this.packets);
          };
          link.addTap(fn);
          this.hooks.push({ link, fn });
        }
      });
    }
  }

  private count(i: number, p: Packet): void {
    this.packets++;
    this.bytes += p.end - p.start;
    this.perPoint[i]!++;
  }

  flush(): void {
    this.ng?.flush();
    this.pcap?.flush();
  }

  /** Removes the observers and closes the file (idempotent). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const h of this.hooks) h.link.removeTap(h.fn);
    this.ng?.close();
    this.pcap?.close();
  }
}
