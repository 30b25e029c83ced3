/**
 * Captures beside traces (`podwire trace TOPOLOGY --pcap DIR`, `podwire demo`): one pcapng
 * file per capture point (`node1/cbr0` -> `node1_cbr0.pcapng`), and every traced frame
 * written is named on the hop that put it on the wire (`Hop.captures`: file, interface,
 * frame number as tshark counts it), so a journey and the captures read side by side: the
 * frame's timestamp is the hop's `time` (src/engine/trace.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Capture } from '../io/capture.js';
import { MemorySink } from '../io/sink.js';
import type { Cluster } from '../kube/cluster.js';
import { externalCapturePoint } from '../kube/external-client.js';
import { ensureDir } from './out-dir.js';

export interface CaptureFile {
  interface: string;
  file: string;
  packets: number;
}

/** The file a capture point's frames go to: its name with `/` as `_`. */
export function captureFileName(point: string): string {
  return `${point.replace(/[/]/g, '_')}.pcapng`;
}

export class TraceCaptures {
  private readonly points;
  private readonly sinks: MemorySink[];
  private readonly caps: Capture[];

  /** Starts capturing every capture point of `cluster` (the points it has now). */
  constructor(cluster: Cluster) {
    const ext = externalCapturePoint(cluster);
    const points = ext !== null ? [...cluster.capturePoints(), ext] : cluster.capturePoints();
    this.points = points;
    this.sinks = points.map(() => new MemorySink());
    const trace = cluster.engine.trace;
    this.caps = points.map((pt, i) => new Capture(() => cluster.engine.clock, [pt], this.sinks[i]!, {
      onTraced: (p, _point, frame) => trace.seen(p.trace, { interface: pt.name, file: captureFileName(pt.name), frame }),
    }));
  }

  /** Stops every capture and writes the non-empty ones into `dir` (`write` false: only lists them). */
  finish(dir: string, write = true, what = 'output folder'): CaptureFile[] {
    if (write) ensureDir(dir, what);
    const out: CaptureFile[] = [];
    this.caps.forEach((c, i) => {
      c.stop();
      if (c.packets === 0) return;
      const name = this.points[i]!.name;
      const file = join(dir, captureFileName(name));
      if (write) writeFileSync(file, this.sinks[i]!.bytes());
      out.push({ interface: name, file, packets: c.packets });
    });
    return out;
  }
}
