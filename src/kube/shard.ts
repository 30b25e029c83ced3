/**
 * Shard: the part of a sharded emulation one thread runs (docs/sharding.md). It builds the
 * cluster from the whole topology with the same builder, hosting one node (`hostNode`; or
 * every node when it is the only shard), and plugs a ShardLink where the remote nodes'
 * ports of the underlay switch would be (hosting one node, the switch reduces to a cable
 * between the node's eth0 and the ShardLink). Frames to a remote node's MAC cross a
 * SharedRing as Ethernet frames, so both overlays (routed, vxlan) work unchanged.
 *
 * Two ways to run:
 *   - `serve()`: event driven (a worker's normal state). Drains the inbound rings while they
 *     have frames (yielding to the event loop every few batches, so control messages and
 *     host timers get their turn), spins briefly when they run dry, then sleeps on the
 *     Doorbell (Atomics.waitAsync): a peer's publish wakes it, one notify per sleep.
 *   - `pump(ms, gen)`: a busy loop for `ms` of the shard's clock, optionally generating UDP
 *     bursts from a pod, paced by the outbound rings' free space (as a NIC's full TX queue
 *     holds a sender back) so that the rings do not drop.
 * `step()` is one round of either (tests drive shards in one thread with it).
 */
import { connect } from '../engine/element.js';
import type { Clock } from '../engine/clock.js';
import { ShardLink } from '../net/shard-link.js';
import { Doorbell, SharedRing } from '../engine/shared-ring.js';
import { UdpGenerator, UdpSink } from '../apps/traffic.js';
import { Cluster } from './cluster.js';
import { ping, udpRequest, type PingResult } from './shard-probes.js';
import type { ElementStats, GeneratorSpec, PumpResult, ShardSpec, ShardStats } from './shard-protocol.js';
import type { Topology } from './types.js';

/** Ring bytes a datagram may need beyond its frame size: record header, padding, VXLAN's 50 bytes, margin. */
const RING_OVERHEAD_PER_FRAME = 80;
/** Batches drained in a row before serve() yields to the event loop. */
const BATCHES_PER_YIELD = 32;
/** Idle time serve() spins before it sleeps, ms. */
const SPIN_MS = 0.2;
/** How long pump() sleeps when the outbound ring lacks room for a burst, ms. */
const PACE_MS = 0.05;

export interface ShardOptions {
  /** The engine clock (a WallClock aligned across shards in workers); default virtual time. */
  clock?: Clock;
}

export class Shard {
  readonly cluster: Cluster;
  readonly link: ShardLink | null;
  readonly doorbell: Doorbell;
  readonly index: number;
  private readonly peerBells: Doorbell[] = [];
  private readonly sinks = new Map<string, UdpSink>();
  private readonly gens = new Map<string, UdpGenerator>();
  private stopped = false;
  private nextIdent = 0x5300;
  private readonly pause = new Int32Array(new SharedArrayBuffer(4));

  constructor(topology: Topology, readonly spec: ShardSpec, opts: ShardOptions = {}) {
    this.index = spec.index;
    const host = spec.placement[spec.index];
    if (host === undefined) throw new Error(`shard ${spec.index}: no placement entry`);
    if (host === null && spec.placement.length !== 1) throw new Error(`shard ${spec.index}: hosting every node needs a single shard`);
    this.cluster = new Cluster(topology, {
      ...(host !== null ? { hostNode: host } : {}),
      ...(opts.clock !== undefined ? { engine: { clock: opts.clock } } : {}),
    });
    const e = this.cluster.engine;
    if (opts.clock?.kind === 'wall') e.scheduler.startRealtime();
    this.doorbell = new Doorbell(spec.doorbell);
    if (spec.peers.length === 0) {
      this.link = null;
      return;
    }
    const tx: SharedRing[] = [];
    const rx: SharedRing[] = [];
    const routes = new Map<number, number>();
    spec.peers.forEach((peer, i) => {
      const ring = SharedRing.over(peer.tx);
      const bell = new Doorbell(peer.doorbell);
      ring.doorbell = bell;
      this.peerBells.push(bell);
      tx.push(ring);
      rx.push(SharedRing.over(peer.rx));
      const node = this.cluster.plan.nodes.find((n) => n.name === spec.placement[peer.shard]);
      if (node !== undefined) routes.set(node.mac, i);
    });
    const link = e.add(new ShardLink(e, 'underlay/shards', { tx, rx, routes }));
    this.link = link;
    if (host !== null) this.cable(host, link);
    else {
      const u = this.cluster.underlay;
      u.addPort('shards');
      connect(e, u.ports.out('shards'), link.ports.in('uplink'));
      connect(e, link.ports.out('uplink'), u.ports.in('shards'));
    }
  }

  /**
   * A shard hosting one node: its underlay switch would have two ports (the node's eth0 and
   * the uplink), and a two-port learning switch is a cable. The node's eth0 is joined to the
   * uplink directly, which saves a switch pass on each side of the ring.
   */
  private cable(node: string, link: ShardLink): void {
    const e = this.cluster.engine;
    const root = this.cluster.node(node).root;
    this.cluster.underlay.removePort(node); // disconnects both links of the node's eth0
    connect(e, root.ports.out('if:eth0'), link.ports.in('uplink'));
    connect(e, link.ports.out('uplink'), root.ports.in('if:eth0'));
  }

  get engine(): Cluster['engine'] {
    return this.cluster.engine;
  }

  /** Nodes this shard emulates. */
  get nodes(): string[] {
    return [...this.cluster.nodes.keys()];
  }

  /** One round: inbound frames in, the engine run until idle (due timers fired); returns frames taken in. */
  step(): number {
    const n = this.link === null ? 0 : this.link.poll();
    this.cluster.engine.scheduler.runDue();
    return n;
  }

  /** Event-driven loop until `stop()`; see the file comment. */
  async serve(): Promise<void> {
    const e = this.cluster.engine;
    const bell = this.doorbell;
    let batches = 0;
    let idleSince = -1;
    while (!this.stopped) {
      if (this.step() > 0) {
        idleSince = -1;
        if (++batches >= BATCHES_PER_YIELD) {
          batches = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
        continue;
      }
      const now = e.now();
      if (idleSince < 0) idleSince = now;
      if (now - idleSince < SPIN_MS) continue;
      e.scheduler.kick(); // re-arm the host timer for the engine's next deadline
      const token = bell.prepare();
      if (this.stopped || (this.link !== null && this.link.pending())) {
        bell.cancel();
        continue;
      }
      batches = 0;
      idleSince = -1;
      await bell.wait(token);
    }
  }

  /** Busy loop for `ms`, generating bursts when `gen` is given; see the file comment. */
  pump(ms: number, gen: GeneratorSpec | null): PumpResult {
    const e = this.cluster.engine;
    const g = gen === null ? null : this.generator(gen);
    const burst = gen?.burst ?? 256;
    const need = burst * ((gen?.frameSize ?? 64) + RING_OVERHEAD_PER_FRAME);
    const sent0 = g?.sent ?? 0;
    let paced = 0;
    let received = 0;
    const end = e.now() + ms;
    do {
      if (g !== null) {
        if (this.link === null || this.link.txFree() >= need) {
          e.clock.hold(); // one clock reading for the burst's sends, as inside the scheduler
          try {
            g.burst(burst);
          } finally {
            e.clock.release();
          }
        }
        else {
          // The ring holds milliseconds of work: give the core away briefly (a peer sharing it drains the ring).
          paced++;
          Atomics.wait(this.pause, 0, 0, PACE_MS);
        }
      }
      received += this.step();
    } while (e.now() < end);
    return { sent: (g?.sent ?? 0) - sent0, paced, received };
  }

  /** Drains inbound frames until none arrive for a short while (or `maxMs`); returns frames taken in. */
  settle(maxMs = 1000): number {
    const e = this.cluster.engine;
    const end = e.now() + maxMs;
    let n = 0;
    let quietSince = e.now();
    while (e.now() < end && e.now() - quietSince < 1) {
      const k = this.step();
      if (k > 0) quietSince = e.now();
      n += k;
    }
    return n;
  }

  /** Sends `count` datagrams at once (in bursts of `burst`), then runs the engine; returns how many went out. */
  send(spec: GeneratorSpec & { count: number }): number {
    const g = this.generator(spec);
    let sent = 0;
    for (let left = spec.count; left > 0; left -= spec.burst ?? 256) {
      sent += g.burst(Math.min(left, spec.burst ?? 256));
      this.step();
    }
    return sent;
  }

  private generator(spec: GeneratorSpec): UdpGenerator {
    const key = `${spec.pod}>${spec.dst}:${spec.dport}/${spec.sport ?? 40000}/${spec.frameSize ?? 64}`;
    let g = this.gens.get(key);
    if (g === undefined) {
      g = new UdpGenerator(this.cluster.pod(spec.pod).ns, { dst: spec.dst, dport: spec.dport, sport: spec.sport ?? 40000, frameSize: spec.frameSize ?? 64 });
      this.gens.set(key, g);
    }
    return g;
  }

  /** Starts a UDP sink on pod:port (idempotent). */
  sink(pod: string, port: number): void {
    const key = `${pod}:${port}`;
    if (!this.sinks.has(key)) this.sinks.set(key, UdpSink.start(this.cluster.pod(pod).ns, port));
  }

  sinkCount(pod: string, port: number): number {
    const s = this.sinks.get(`${pod}:${port}`);
    if (s === undefined) throw new Error(`shard ${this.index}: no sink on ${pod}:${port}`);
    return s.packets;
  }

  ping(pod: string, dst: number, timeoutMs: number): Promise<PingResult | null> {
    const r = ping(this.cluster.pod(pod).ns, dst, this.nextIdent++ & 0xffff, timeoutMs);
    this.cluster.engine.scheduler.kick();
    return r;
  }

  udp(pod: string, dst: number, port: number, payload: string, timeoutMs: number): Promise<string | null> {
    const r = udpRequest(this.cluster.pod(pod).ns, dst, port, payload, timeoutMs);
    this.cluster.engine.scheduler.kick();
    return r;
  }

  stats(): ShardStats {
    const e = this.cluster.engine;
    const elements: Record<string, ElementStats> = {};
    for (const [key, el] of e.countedOwners()) {
      const counters = el.counters.toJSON();
      const drops = el.drops.toJSON();
      if (Object.keys(counters).length + Object.keys(drops).length > 0) elements[key] = { kind: el.kind, counters, drops };
    }
    const sinks: Record<string, number> = {};
    for (const [k, s] of this.sinks) sinks[k] = s.packets;
    const link = this.link;
    return {
      shard: this.index, nodes: this.nodes,
      pool: { size: e.pool.size, available: e.pool.available, exhausted: e.pool.exhausted },
      linkDrops: e.linkDrops, unconnectedDrops: e.unconnectedDrops,
      rings: link === null ? [] : this.spec.peers.map((p, i) => ({ peer: p.shard, tx: link.tx[i]!.stats(), rx: link.rx[i]!.stats() })),
      elements, sinks,
      wakeups: this.peerBells.reduce((n, b) => n + b.rings, 0),
    };
  }

  /** Ends `serve()`, closes sinks and the cluster. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.doorbell.wake();
    for (const s of this.sinks.values()) s.close();
    this.sinks.clear();
    this.cluster.close();
  }
}
