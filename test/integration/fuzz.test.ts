/**
 * Dataplane fuzz (issue 13): at least 100,000 frames per run (PODWIRE_FC_RUNS raises it),
 * garbage and mutations of the real frames of the demo's journeys (test/integration/
 * fuzz-frames.ts), injected into every link of every interface of the demo cluster (both
 * directions of every pod's eth0, every veth host end, each node's cbr0, eth0 and flannel.1),
 * in lockstep with a twin whose free pool bytes differ (twin.ts). After every frame: nothing
 * threw and the twins did the same (no read of bytes past a packet); at the end, with every
 * timer run out, the pool is full again and a traced journey is still delivered.
 *
 * Reproduce a failure with the seed it prints: PODWIRE_FUZZ_SEED=<seed>.
 */
import { describe, expect, it } from 'vitest';
import { examplePath } from '../../src/control/load.js';
import { statsView } from '../../src/control/views.js';
import { DEMO_JOURNEYS, SERVICE_JOURNEY } from '../../src/control/demo.js';
import { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { topology } from './cluster-util.js';
import { FrameGen, clusterAddrs, corpus, ethernet, hex, ipv4, udp } from './fuzz-frames.js';
import { Twin } from './twin.js';

const FC_RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 0);
/** Frames per run: 100k, or twice PODWIRE_FC_RUNS when that is more (CI's 100000: 200k frames). */
const FRAMES = Math.max(100_000, Number.isFinite(FC_RUNS) ? 2 * FC_RUNS : 0);
const SEED = Number(process.env.PODWIRE_FUZZ_SEED ?? (Math.random() * 0x1_0000_0000) >>> 0);
/** Virtual time between bursts of frames: ARP retries, TCP retransmissions and conntrack timeouts fire on the way. */
const BURST = 500;

/** Link services after which a run is a loop (the scheduler aborts it, counted). */
const LOOP_STEP_LIMIT = 20_000;

describe('dataplane fuzz', () => {
  it(`${FRAMES} garbage and mutated frames into every interface of the demo cluster, in lockstep with a twin`, async () => {
    const topo = topology(examplePath('demo.yaml'));
    const cc = new Cluster(structuredClone(topo));
    const seeds = await corpus(cc);
    cc.close();
    const twin = new Twin(topo);
    try {
      // A running cluster: ARP caches, FDBs and conntrack entries of the demo's journeys in place.
      expect(twin.both((c) => DEMO_JOURNEYS.map((j) => runTrace(c, j.trace)))[2]).toBeNull();
      expect(twin.both((c) => runTrace(c, SERVICE_JOURNEY.trace))[2]).toBeNull();
      const addrs = clusterAddrs(twin.a);
      // Spoofed frames can start echo loops (two udp-echo servers answering each other): the
      // scheduler ends each with a counted abort. One frame's journey needs a few hundred link
      // services, so a low limit keeps a loop frame as cheap as the others.
      for (const c of [twin.a, twin.b]) c.engine.scheduler.stepLimit = LOOP_STEP_LIMIT;
      // One echo loop for sure, first, while caches are intact (random frames rarely spoof a
      // udp-echo pair): pod2's address and port 9000 as the source, to pod3's udp-echo, sent
      // out of pod1. Both twins abort it.
      const pod = (name: string) => addrs.pods.find((p) => p.name === name)!;
      const gw = addrs.nodes.find((n) => n.name === pod('pod1').node)!;
      const loop = ethernet(gw.bridgeMac, pod('pod1').mac, 0x0800,
        ipv4({ src: pod('pod2').ip, dst: pod('pod3').ip, proto: 17 }, udp(9000, 9000, new TextEncoder().encode('echo loop\n'))));
      const at = twin.points.findIndex((p) => p.name === 'pod1/eth0 tx');
      expect(at).toBeGreaterThanOrEqual(0);
      expect(twin.inject(at, loop)).toBeNull();
      expect(twin.a.engine.scheduler.loopAborts).toBe(1);
      expect(twin.b.engine.scheduler.loopAborts).toBe(1);
      const gen = new FrameGen(SEED, seeds, twin.points.map((p) => p.name), addrs);
      const max = twin.a.engine.pool.maxFrame;
      console.log(`dataplane fuzz: seed ${SEED} (PODWIRE_FUZZ_SEED=${SEED} reproduces), ${FRAMES} frames, ${seeds.length} corpus frames, ${twin.points.length} injection points`);
      const fail = (i: number, point: number, frame: Uint8Array, why: string): never => {
        throw new Error(`dataplane fuzz seed ${SEED}, frame #${i} into ${twin.points[point]!.name}:\n${hex(frame)}\n${why}`);
      };
      const kinds = { seed: 0, mutated: 0, garbage: 0 };
      const t0 = performance.now();
      let i = 0;
      while (i < FRAMES) {
        const g = gen.next();
        const frame = g.frame.length > max ? g.frame.subarray(0, max) : g.frame;
        kinds[g.kind]++;
        let d: string | null;
        try {
          d = twin.inject(g.point, frame);
        } catch (e) {
          return fail(i, g.point, frame, `threw: ${(e as Error).stack ?? String(e)}`);
        }
        if (d !== null) fail(i, g.point, frame, d);
        i++;
        if (i % BURST === 0) {
          const a = twin.advance(1 + gen.r.int(3000));
          if (a !== null) fail(i - 1, g.point, frame, `after the burst ending with this frame, timers: ${a}`);
          if (i % (BURST * 20) === 0) {
            const s = twin.statsDiff();
            if (s !== '') fail(i - 1, g.point, frame, `stats differ after the burst ending with this frame:\n${s}`);
          }
        }
      }
      const ms = performance.now() - t0;
      const loops = twin.a.engine.scheduler.loopAborts - 1;
      console.log(`dataplane fuzz: ${FRAMES} frames in ${(ms / 1000).toFixed(1)} s (${Math.round(FRAMES / (ms / 1000))} frames/s into both twins): ${JSON.stringify(kinds)}, ${loops} loops aborted`);
      expect(twin.b.engine.scheduler.loopAborts).toBe(loops + 1);
      const reached = (statsView(twin.a) as { dropReasons: Record<string, number> }).dropReasons;
      console.log(`dataplane fuzz: drop reasons reached: ${JSON.stringify(reached)}`);
      expect(twin.advance(10 * 60_000)).toBeNull();
      expect(twin.statsDiff()).toBe('');
      for (const c of [twin.a, twin.b]) {
        expect(c.engine.pool.available, 'pool not leaking').toBe(c.engine.pool.size);
        expect(c.engine.pool.exhausted).toBe(0);
      }
      const [ra, rb, d] = twin.both((c) => [
        runTrace(c, { from: 'pod1', to: 'pod3', proto: 'icmp' }),
        runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 }),
      ]);
      expect(d).toBeNull();
      for (const r of ra) {
        expect(r.request.delivered, JSON.stringify(r.request)).toBe(true);
        expect(r.reply?.delivered).toBe(true);
      }
      expect(JSON.stringify(rb)).toBe(JSON.stringify(ra));
    } finally {
      twin.close();
    }
  }, 600_000);
});
