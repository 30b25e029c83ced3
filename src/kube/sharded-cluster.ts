/**
 * ShardedCluster: one topology emulated by several worker threads, one node per worker,
 * joined by SharedRings (docs/sharding.md). The coordinating thread holds no dataplane: it
 * creates the rings and doorbells, starts the workers (dist/kube/shard-worker.js), and
 * talks to them by messages (shard-protocol.ts) to run probes and workloads and collect
 * counters. Frames never travel as messages.
 *
 *   const sc = await ShardedCluster.start(topology);          // a worker per emulated node
 *   await sc.ping('pod1', 'pod3');                              // { ttl, rttMs } or null
 *   await sc.close();                                           // stops and terminates workers
 *
 * `placement` puts node names on workers (default: every emulated node on its own);
 * `[null]` is one worker hosting every node, without rings (the single-thread baseline
 * of the benchmark). Every shard's engine runs on the wall clock, zeroed at start.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { DEFAULT_RING_BYTES, Doorbell, SharedRing, type RingStats } from '../engine/shared-ring.js';
import { planCluster } from './plan.js';
import { podKey } from './cluster.js';
import { canonicalPodKey } from './names.js';
import type { PingResult } from './shard-probes.js';
import type { GeneratorSpec, PumpResult, ShardOp, ShardOps, ShardReply, ShardStats, ShardWorkerData } from './shard-protocol.js';
import type { ClusterPlan, Topology } from './types.js';

export interface ShardedClusterOptions {
  placement?: (string | null)[];
  /** Data bytes per ring (default 1 MiB). */
  ringBytes?: number;
  /** The worker script; default dist/kube/shard-worker.js (also when this module runs from src/ under a test runner). */
  workerUrl?: URL;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** dist/kube/shard-worker.js, whether this module was loaded from dist/ or from src/ (vitest). */
export function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../dist/kube/shard-worker.js', here);
  return new URL('./shard-worker.js', here);
}

class ShardHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  nodes: string[] = [];
  readonly ready: Promise<void>;

  constructor(readonly index: number, readonly worker: Worker) {
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (m: ShardReply) => {
        if (m.type === 'ready') {
          this.nodes = m.nodes;
          resolve();
        } else if (m.type === 'fatal') this.fail(new Error(`shard ${index}: ${m.error}`), reject);
        else {
          const p = this.pending.get(m.id);
          if (p === undefined) return;
          this.pending.delete(m.id);
          if (m.ok) p.resolve(m.result);
          else p.reject(new Error(`shard ${index}: ${m.error}`));
        }
      });
      worker.on('error', (e) => this.fail(new Error(`shard ${index}: ${e.message}`), reject));
      worker.on('exit', (code) => this.fail(new Error(`shard ${index}: worker exited (code ${code})`), reject));
    });
  }

  private fail(e: Error, rejectReady: (e: Error) => void): void {
    if (this.failure === null) this.failure = e;
    rejectReady(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  call<K extends ShardOp>(op: K, args: ShardOps[K]['req']): Promise<ShardOps[K]['res']> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args });
    });
  }
}

export class ShardedCluster {
  readonly plan: ClusterPlan;
  private closed = false;

  private constructor(
    readonly topology: Topology,
    readonly placement: readonly (string | null)[],
    readonly shards: readonly ShardHandle[],
    /** rings[i][j]: the ring shard i writes to shard j (null on the diagonal). */
    private readonly rings: readonly (readonly (SharedRing | null)[])[],
  ) {
    this.plan = planCluster(structuredClone(topology));
  }

  static async start(topology: Topology, opts: ShardedClusterOptions = {}): Promise<ShardedCluster> {
    const plan = planCluster(structuredClone(topology));
    const placement = opts.placement ?? plan.nodes.filter((n) => !n.external).map((n) => n.name);
    if (placement.length === 0) throw new Error('placement: no emulated node to host');
    if (placement.includes(null) && placement.length !== 1) throw new Error('placement: null (every node) needs a single shard');
    for (const [i, name] of placement.entries()) {
      if (name !== null && !plan.nodes.some((n) => n.name === name && !n.external)) {
        throw new Error(`placement[${i}]: ${JSON.stringify(name)} is not an emulated node (have ${plan.nodes.filter((n) => !n.external).map((n) => n.name).join(', ')})`);
      }
      if (name !== null && placement.indexOf(name) !== i) throw new Error(`placement[${i}]: node ${JSON.stringify(name)} is placed twice`);
    }
    const k = placement.length;
    const bells = placement.map(() => new Doorbell());
    const rings = placement.map((_, i) => placement.map((__, j) => (i === j ? null : SharedRing.create(opts.ringBytes ?? DEFAULT_RING_BYTES))));
    const epochMs = performance.timeOrigin + performance.now();
    const url = opts.workerUrl ?? defaultWorkerUrl();
    const handles: ShardHandle[] = [];
    for (let i = 0; i < k; i++) {
      const peers = [];
      for (let j = 0; j < k; j++) {
        if (j !== i) peers.push({ shard: j, tx: rings[i]![j]!.sab, rx: rings[j]![i]!.sab, doorbell: bells[j]!.sab });
      }
      const data: ShardWorkerData = { topology, spec: { index: i, placement, peers, doorbell: bells[i]!.sab }, epochMs };
      handles.push(new ShardHandle(i, new Worker(url, { workerData: data })));
    }
    const sc = new ShardedCluster(topology, placement, handles, rings);
    try {
      await Promise.all(handles.map((h) => h.ready));
    } catch (e) {
      await sc.close();
      throw e;
    }
    return sc;
  }

  /** The shard that hosts `node`. */
  shardOfNode(node: string): number {
    const i = this.placement.indexOf(node);
    if (i >= 0) return i;
    if (this.placement[0] === null && this.plan.nodes.some((n) => n.name === node && !n.external)) return 0;
    throw new Error(`node ${JSON.stringify(node)} is not hosted by any shard (placement ${JSON.stringify(this.placement)})`);
  }

  private pod(name: string): ClusterPlan['pods'][number] {
    const key = canonicalPodKey(name);
    const p = this.plan.pods.find((q) => podKey(q) === key);
    if (p === undefined) throw new Error(`no pod ${JSON.stringify(name)} (have ${this.plan.pods.map(podKey).join(', ')})`);
    return p;
  }

  shardOfPod(pod: string): number {
    return this.shardOfNode(this.pod(pod).node);
  }

  /** A pod name's IPv4 address, or the number given. */
  address(to: string | number): number {
    return typeof to === 'number' ? to : this.pod(to).ip;
  }

  call<K extends ShardOp>(shard: number, op: K, args: ShardOps[K]['req']): Promise<ShardOps[K]['res']> {
    const h = this.shards[shard];
    if (h === undefined) throw new Error(`no shard ${shard} (have ${this.shards.length})`);
    return h.call(op, args);
  }

  ping(from: string, to: string | number, timeoutMs = 1000): Promise<PingResult | null> {
    return this.call(this.shardOfPod(from), 'ping', { pod: from, dst: this.address(to), timeoutMs });
  }

  /** One UDP datagram from a pod; resolves with the first answer (a UDP echo's), or null. */
  udp(from: string, to: string | number, port: number, payload: string, timeoutMs = 1000): Promise<string | null> {
    return this.call(this.shardOfPod(from), 'udp', { pod: from, dst: this.address(to), port, payload, timeoutMs });
  }

  async startSink(pod: string, port: number): Promise<void> {
    await this.call(this.shardOfPod(pod), 'sink', { pod, port });
  }

  sinkCount(pod: string, port: number): Promise<number> {
    return this.call(this.shardOfPod(pod), 'sinkCount', { pod, port });
  }

  /** `count` datagrams from `pod` to `to`:dport at once; resolves with how many went out. */
  send(pod: string, to: string | number, dport: number, count: number): Promise<number> {
    return this.call(this.shardOfPod(pod), 'send', { pod, dst: this.address(to), dport, count });
  }

  /** The generator's shard pumps (busy, generating) for `ms`; the others serve their rings meanwhile. */
  pump(ms: number, gen: Omit<GeneratorSpec, 'dst'> & { to: string | number }): Promise<PumpResult> {
    const { to, ...rest } = gen;
    return this.call(this.shardOfPod(gen.pod), 'pump', { ms, gen: { ...rest, dst: this.address(to) } });
  }

  /** Every shard drains its inbound rings until quiet; resolves with the frames each took in. */
  settle(maxMs = 1000): Promise<number[]> {
    return Promise.all(this.shards.map((h) => h.call('settle', { maxMs })));
  }

  stats(): Promise<ShardStats[]> {
    return Promise.all(this.shards.map((h) => h.call('stats', {})));
  }

  /** Ring counters read straight from shared memory (no message): rings[i][j] is shard i -> j. */
  ringStats(): (RingStats | null)[][] {
    return this.rings.map((row) => row.map((r) => (r === null ? null : r.stats())));
  }

  /** Stops every shard (apps, sockets, timers) and terminates the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.shards.map(async (h) => {
      await Promise.race([h.call('stop', {}).catch(() => null), new Promise((r) => setTimeout(r, 2000).unref())]);
      await h.worker.terminate();
    }));
  }
}
