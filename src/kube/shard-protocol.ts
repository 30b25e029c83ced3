/**
 * What the coordinator (ShardedCluster, main thread) and a shard worker say to each other
 * (docs/sharding.md). Control only: frames never travel as messages, they cross in
 * SharedRings. Every request carries an id; the worker answers `{ id, ok, result | error }`.
 */
import type { RingStats } from '../engine/shared-ring.js';
import type { Topology } from './types.js';
import type { PingResult } from './shard-probes.js';

/** One peer of a shard: the ring it writes to the peer, the ring it reads from it, the peer's doorbell. */
export interface PeerSpec {
  shard: number;
  tx: SharedArrayBuffer;
  rx: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
}

export interface ShardSpec {
  index: number;
  /** Node hosted per shard, by shard index; null: every node (a single shard, no rings). */
  placement: readonly (string | null)[];
  peers: readonly PeerSpec[];
  /** Rung by peers when this shard sleeps. */
  doorbell: SharedArrayBuffer;
}

/** workerData of a shard worker. */
export interface ShardWorkerData {
  topology: Topology;
  spec: ShardSpec;
  /** performance.timeOrigin + performance.now() of the coordinator at start: the shared zero of every shard's wall clock. */
  epochMs: number;
}

/** UDP traffic a shard generates while pumping (64-byte frames by default). */
export interface GeneratorSpec {
  pod: string;
  dst: number;
  dport: number;
  sport?: number;
  frameSize?: number;
  /** Datagrams per burst; default 256. */
  burst?: number;
}

export interface PumpResult {
  /** Datagrams the generator sent during this pump (0 without one). */
  sent: number;
  /** Bursts skipped because an outbound ring was too full (pacing). */
  paced: number;
  /** Frames that arrived from other shards during this pump. */
  received: number;
}

export interface ElementStats {
  kind: string;
  counters: Record<string, number>;
  drops: Record<string, number>;
}

export interface ShardStats {
  shard: number;
  nodes: string[];
  pool: { size: number; available: number; exhausted: number };
  linkDrops: number;
  unconnectedDrops: number;
  /** Per peer: the ring written to it and the ring read from it. */
  rings: { peer: number; tx: RingStats; rx: RingStats }[];
  /** Elements (and drop owners that are not elements: Engine.countedOwners) with a non-zero counter or drop, by registry key. */
  elements: Record<string, ElementStats>;
  /** UDP sinks (`pod:port`) -> datagrams counted. */
  sinks: Record<string, number>;
  /** Doorbell wake-ups of peers by this shard. */
  wakeups: number;
}

export interface ShardOps {
  sink: { req: { pod: string; port: number }; res: null };
  sinkCount: { req: { pod: string; port: number }; res: number };
  send: { req: GeneratorSpec & { count: number }; res: number };
  pump: { req: { ms: number; gen: GeneratorSpec | null }; res: PumpResult };
  settle: { req: { maxMs?: number }; res: number };
  ping: { req: { pod: string; dst: number; timeoutMs: number }; res: PingResult | null };
  udp: { req: { pod: string; dst: number; port: number; payload: string; timeoutMs: number }; res: string | null };
  stats: { req: Record<string, never>; res: ShardStats };
  stop: { req: Record<string, never>; res: null };
}

export type ShardOp = keyof ShardOps;

export type ShardRequest = { [K in ShardOp]: { id: number; op: K; args: ShardOps[K]['req'] } }[ShardOp];

export type ShardReply =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'ready'; nodes: string[] }
  | { type: 'fatal'; error: string };
