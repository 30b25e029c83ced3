/**
 * Entry point of a shard worker thread (run from dist/: `dist/kube/shard-worker.js`).
 * workerData is a ShardWorkerData; it builds the Shard on a wall clock whose zero is the
 * coordinator's start (so every shard's `now()` agrees to within the thread start skew),
 * answers the coordinator's requests (shard-protocol.ts) and otherwise serves its rings.
 * This is the edge of the shard: it reads the host's clock to align the shards.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { WallClock } from '../engine/clock.js';
import { Shard } from './shard.js';
import type { ShardReply, ShardRequest, ShardWorkerData } from './shard-protocol.js';

const port = parentPort;
if (port === null) throw new Error('shard-worker.js runs in a worker thread');
const data = workerData as ShardWorkerData;
const post = (m: ShardReply): void => port.postMessage(m);

let shard: Shard;
try {
  const startAt = performance.timeOrigin + performance.now() - data.epochMs;
  shard = new Shard(data.topology, data.spec, { clock: new WallClock(startAt) });
} catch (e) {
  post({ type: 'fatal', error: String((e as Error)?.message ?? e) });
  throw e;
}

async function handle(req: ShardRequest): Promise<unknown> {
  switch (req.op) {
    case 'sink': shard.sink(req.args.pod, req.args.port); return null;
    case 'sinkCount': return shard.sinkCount(req.args.pod, req.args.port);
    case 'send': return shard.send(req.args);
    case 'pump': return shard.pump(req.args.ms, req.args.gen);
    case 'settle': return shard.settle(req.args.maxMs);
    case 'ping': return shard.ping(req.args.pod, req.args.dst, req.args.timeoutMs);
    case 'udp': return shard.udp(req.args.pod, req.args.dst, req.args.port, req.args.payload, req.args.timeoutMs);
    case 'stats': return shard.stats();
    case 'stop': shard.stop(); return null;
  }
}

port.on('message', (req: ShardRequest) => {
  handle(req).then(
    (result) => post({ type: 'reply', id: req.id, ok: true, result }),
    (e: unknown) => post({ type: 'reply', id: req.id, ok: false, error: String((e as Error)?.message ?? e) }),
  );
});

shard.serve().catch((e: unknown) => post({ type: 'fatal', error: String((e as Error)?.stack ?? e) }));
post({ type: 'ready', nodes: shard.nodes });
