/**
 * Captures of a running cluster, for the control façade: start a capture on interfaces
 * named like `node1/cbr0` (or `all`), as pcapng (one interface block per point) or pcap,
 * into one file under the captures folder or a ring of files (RingSink); list, download,
 * stop. Live captures hand pcapng chunks to a callback as packets pass (the API streams
 * them over HTTP for `curl -N ... | wireshark -k -i -`).
 *
 * A capture observes the links of the interfaces that exist when it starts; a pod
 * removed later simply stops contributing packets. File names carry the instance's start
 * time, so a later `podwire up` never overwrites them.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Capture, type CapturePoint } from '../io/capture.js';
import { CallbackSink, FileSink, type ByteSink } from '../io/sink.js';
import type { Cluster } from '../kube/cluster.js';
import { badRequest, notFound } from './errors.js';
import { ensureDir } from './out-dir.js';
import { RingSink, type RingLimits } from './ring-sink.js';

export type CaptureFormat = 'pcapng' | 'pcap';

export interface CaptureRequest {
  /** Interface names (`node1/eth0`, `pod1/eth0`), or `all` / `['all']`. */
  interfaces: string | string[];
  format?: CaptureFormat;
  snaplen?: number;
  ring?: RingLimits;
}

export interface CaptureInfo {
  id: string;
  state: 'running' | 'stopped';
  interfaces: string[];
  format: CaptureFormat;
  snaplen: number;
  startedAt: string;
  stoppedAt: string | null;
  packets: number;
  bytes: number;
  /** Files kept, oldest first (one unless it is a ring). */
  files: string[];
  ring: RingLimits | null;
  /** Ring files deleted because the ring was full. */
  filesDeleted: number;
}

export interface CaptureDownload {
  id: string;
  format: CaptureFormat;
  path: string;
  /** The file's bytes when the capture is still writing it (a consistent snapshot); else null: stream `path`. */
  snapshot: Buffer | null;
  size: number;
}

export interface LiveCapture {
  readonly interfaces: string[];
  readonly packets: number;
  stop(): void;
}

interface Running {
  id: string;
  capture: Capture;
  sink: ByteSink;
  ring: RingSink | null;
  file: string | null;
  req: { interfaces: string[]; format: CaptureFormat; snaplen: number; ring: RingLimits | null };
  startedAt: Date;
  stoppedAt: Date | null;
}

export const DEFAULT_SNAPLEN = 262144;

const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export class CaptureManager {
  private readonly caps = new Map<string, Running>();
  private readonly lives = new Set<LiveCapture>();
  private next = 1;
  private readonly prefix: string;

  constructor(private readonly cluster: Cluster, readonly dir: string, started = new Date()) {
    this.prefix = `podwire-${stamp(started)}`;
  }

  /** Capture points by name; `all` selects every one. Unknown names are 404s naming the index. */
  resolve(names: string | readonly string[], field = '/interfaces'): CapturePoint[] {
    const points = this.cluster.capturePoints();
    const list = typeof names === 'string' ? names.split(',').map((s) => s.trim()).filter((s) => s !== '') : [...names];
    if (list.length === 0) throw badRequest(field, names, 'names no interface (give names like node1/cbr0, or all)');
    if (list.includes('all')) return points;
    const byName = new Map(points.map((p) => [p.name, p]));
    const out: CapturePoint[] = [];
    list.forEach((n, i) => {
      const p = byName.get(n);
      if (p === undefined) throw notFound(typeof names === 'string' ? field : `${field}/${i}`, n, 'interface', byName.keys());
      if (!out.includes(p)) out.push(p);
    });
    return out;
  }

  start(req: CaptureRequest): CaptureInfo {
    const points = this.resolve(req.interfaces);
    const format = req.format ?? 'pcapng';
    const snaplen = req.snaplen ?? DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > DEFAULT_SNAPLEN) throw badRequest('/snaplen', snaplen, `must be an integer from 64 to ${DEFAULT_SNAPLEN}`);
    const ring = req.ring ?? null;
    if (ring !== null && ring.packets === undefined && ring.bytes === undefined) throw badRequest('/ring', ring, 'needs packets or bytes per file');
    ensureDir(this.dir, 'captures folder');
    const id = `c${this.next++}`;
    const ext = format === 'pcapng' ? 'pcapng' : 'pcap';
    let sink: ByteSink;
    let rs: RingSink | null = null;
    let file: string | null = null;
    if (ring !== null) {
      rs = new RingSink((seq) => resolve(join(this.dir, `${this.prefix}-${id}-${String(seq).padStart(4, '0')}.${ext}`)), ring);
      sink = rs;
    } else {
      file = resolve(join(this.dir, `${this.prefix}-${id}.${ext}`));
      sink = new FileSink(file);
    }
    const capture = new Capture(() => this.cluster.engine.clock, points, sink, { format, snaplen });
    rs?.sealHeader();
    const r: Running = {
      id, capture, sink, ring: rs, file, startedAt: new Date(), stoppedAt: null,
      req: { interfaces: points.map((p) => p.name), format, snaplen, ring },
    };
    this.caps.set(id, r);
    return this.info(r);
  }

  list(): CaptureInfo[] {
    return [...this.caps.values()].map((r) => this.info(r));
  }

  get(id: string): CaptureInfo {
    return this.info(this.must(id));
  }

  /** Stops a capture (flushes and closes its file); stopping a stopped capture changes nothing. */
  stop(id: string): CaptureInfo {
    const r = this.must(id);
    if (r.stoppedAt === null) {
      r.capture.stop();
      r.stoppedAt = new Date();
    }
    return this.info(r);
  }

  /** What to send for a download: file `seq` of a ring (1 = oldest kept; default the newest). */
  download(id: string, index?: number): CaptureDownload {
    const r = this.must(id);
    const files = this.files(r);
    const i = index === undefined ? files.length - 1 : index - 1;
    const path = files[i];
    if (path === undefined) throw notFound('/file', index, `file of capture ${id}`, files.map((_, k) => String(k + 1)));
    const live = r.stoppedAt === null && (r.ring === null || r.ring.currentPath === path);
    if (live) r.capture.flush();
    const snapshot = live ? readFileSync(path) : null;
    return { id, format: r.req.format, path, snapshot, size: snapshot?.length ?? statSync(path).size };
  }

  /**
   * A live pcapng stream: `onChunk` gets the header, then one chunk per packet, until
   * `stop()` (or `close()` of the manager, then `onEnd` runs).
   */
  live(names: string | readonly string[], onChunk: (b: Buffer) => void, opts: { snaplen?: number; onEnd?: () => void; maxPackets?: number } = {}): LiveCapture {
    const points = this.resolve(names, '/iface');
    let capture: Capture | null = null;
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.lives.delete(handle);
      capture?.stop();
      opts.onEnd?.();
    };
    const sink = new CallbackSink((b) => {
      onChunk(b);
      if (opts.maxPackets !== undefined && capture !== null && capture.packets >= opts.maxPackets) queueMicrotask(stop);
    });
    const handle: LiveCapture = {
      interfaces: points.map((p) => p.name),
      get packets() { return capture?.packets ?? 0; },
      stop,
    };
    capture = new Capture(() => this.cluster.engine.clock, points, sink, { format: 'pcapng', snaplen: opts.snaplen ?? DEFAULT_SNAPLEN });
    this.lives.add(handle);
    return handle;
  }

  get liveCount(): number {
    return this.lives.size;
  }

  get runningCount(): number {
    let n = 0;
    for (const r of this.caps.values()) if (r.stoppedAt === null) n++;
    return n;
  }

  /** Stops every capture and live stream (files flushed and closed). */
  close(): void {
    for (const l of [...this.lives]) l.stop();
    for (const id of this.caps.keys()) this.stop(id);
  }

  private must(id: string): Running {
    const r = this.caps.get(id);
    if (r === undefined) throw notFound('/id', id, 'capture', this.caps.keys());
    return r;
  }

  private files(r: Running): string[] {
    return r.ring !== null ? [...r.ring.kept] : r.file !== null ? [r.file] : [];
  }

  private info(r: Running): CaptureInfo {
    return {
      id: r.id, state: r.stoppedAt === null ? 'running' : 'stopped',
      interfaces: r.req.interfaces, format: r.req.format, snaplen: r.req.snaplen,
      startedAt: r.startedAt.toISOString(), stoppedAt: r.stoppedAt?.toISOString() ?? null,
      packets: r.capture.packets, bytes: r.capture.bytes, files: this.files(r), ring: r.req.ring,
      filesDeleted: r.ring?.deleted ?? 0,
    };
  }
}

