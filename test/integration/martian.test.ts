/**
 * Self-addressed packets (issue 13, "Self-addressed packets recurse without bound"), in the
 * demo cluster in virtual time. A spoofed frame whose source is the receiving pod's own
 * address (the LAND attack: TCP SYN 10.244.1.3:7 -> 10.244.1.3:7 to pod2's tcp-echo; UDP
 * 9000 -> 9000 to its udp-echo) used to recurse through TcpListener.input / UdpEcho.echo and
 * L4Delivery.deliver until RangeError, leaking pool packets. Linux drops it as a martian
 * source (fib_validate_source): so does podwire, counted in the stats. A pod's packets to
 * itself go through its `lo` in later scheduler steps: a trace says so, `pod1/lo` can be
 * captured, and an echo server answering itself loops at the scheduler's pace instead of
 * recursing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { statsView } from '../../src/control/views.js';
import { examplePath } from '../../src/control/load.js';
import { Capture } from '../../src/io/capture.js';
import { readCapture } from '../../src/io/capture-reader.js';
import { MemorySink } from '../../src/io/sink.js';
import type { Cluster, PodRuntime } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import { tcpFrame, udpFrame } from '../../src/net/testing/frames.js';
import { TcpFlag } from '../../src/wire/tcp.js';
import { expectNoLeak, get, newCluster, ping, topology } from './cluster-util.js';

let open: Cluster[] = [];
afterEach(() => {
  for (const c of open) c.close();
  open = [];
});
function demo(): Cluster {
  const c = newCluster(topology(examplePath('demo.yaml')));
  open.push(c);
  return c;
}

/** pod1 sends `frame` out of its eth0 as a raw (AF_PACKET) socket would: no stack, no checks. */
function spoofFrom(c: Cluster, attacker: PodRuntime, frame: Buffer): void {
  const p = c.engine.pool.alloc()!;
  frame.copy(p.buf, p.start);
  p.end = p.start + frame.length;
  attacker.ns.transmit(p, attacker.ns.iface('eth0')!);
}

const martians = (c: Cluster): number => (statsView(c) as { dropReasons: Record<string, number> }).dropReasons['martian-source'] ?? 0;

describe('a spoofed frame with the receiving pod\'s own address as source (LAND)', () => {
  const cases = [
    ['TCP SYN 10.244.1.3:7 -> 10.244.1.3:7 to the tcp-echo', (ip: number, mac: number, from: number) =>
      tcpFrame(mac, from, { src: ip, dst: ip }, { srcPort: 7, dstPort: 7, seq: 1000, ack: 0, flags: TcpFlag.SYN })],
    ['UDP 10.244.1.3:9000 -> 10.244.1.3:9000 to the udp-echo', (ip: number, mac: number, from: number) =>
      udpFrame(mac, from, { src: ip, dst: ip }, 9000, 9000, Buffer.from('land'))],
  ] as const;
  for (const [what, build] of cases) {
    it(`${what}: dropped as martian-source, no throw, pool full, pod2 still answers`, async () => {
      const c = demo();
      const pod1 = c.pod('pod1');
      const pod2 = c.pod('pod2');
      expect(martians(c)).toBe(0);
      spoofFrom(c, pod1, build(pod2.plan.ip, pod2.plan.mac, pod1.plan.mac));
      expect(() => c.engine.runUntilIdle()).not.toThrow();
      expect(pod2.ns.drops.get('martian-source')).toBe(1);
      expect(martians(c)).toBe(1);
      expect(c.engine.scheduler.loopAborts).toBe(0);
      expect(ping(c, pod1.ns, pod2.plan.ip)).toHaveLength(1);
      expect((await get(c, pod1.ns, pod2.plan.ip, 8080)).body.toString()).toContain('pod2');
      expectNoLeak(c);
    });
  }
});

describe('a pod\'s packets to itself go through its lo', () => {
  it('trace pod1 -> pod1: routed `local ... dev lo`, delivered on pod1\'s lo, never on eth0; lo is captured once per packet', () => {
    const c = demo();
    const point = c.capturePoints().find((p) => p.name === 'pod1/lo');
    expect(point).toBeDefined();
    const sink = new MemorySink();
    const cap = new Capture(() => c.engine.clock, [point!], sink);
    const r = runTrace(c, { from: 'pod1', to: 'pod1' });
    cap.stop();
    expect(r.request.delivered).toBe(true);
    expect(r.reply?.delivered).toBe(true);
    for (const j of [r.request, r.reply!]) {
      expect(j.hops.map((h) => `${h.action}@${h.netns}/${h.device}`)).toEqual(['send@pod1/', 'route@pod1/lo', 'deliver@pod1/lo']);
      expect(j.hops[1]!.detail).toMatchObject({ route: 'local 10.244.1.2 dev lo src 10.244.1.2', dev: 'lo' });
    }
    const text = renderTrace(r);
    expect(text).toContain("It arrives on pod1's lo");
    expect(text).not.toContain('eth0');
    const frames = readCapture(sink.bytes()).packets;
    expect(frames).toHaveLength(2); // the echo request and its reply, each once
    expect(frames.map((f) => f.data.readUIntBE(0, 6))).toEqual([0, 0]); // lo's Ethernet header: MAC 0
    const eth0 = c.pod('pod1').ns.iface('eth0')!;
    expect(eth0.txPackets + eth0.rxPackets).toBe(0);
    expectNoLeak(c);
  });

  it('an HTTP GET from pod2 to its own address is served through lo', async () => {
    const c = demo();
    const pod2 = c.pod('pod2');
    expect((await get(c, pod2.ns, pod2.plan.ip, 8080)).body.toString()).toContain('pod2');
    expect(pod2.ns.lo.rxPackets).toBeGreaterThan(3);
    expect(pod2.ns.iface('eth0')!.rxPackets).toBe(0);
    expectNoLeak(c);
  });

  it('UDP 9000 -> 9000 sent by pod2 itself: the echo answers itself one scheduler step at a time, without recursion', () => {
    const c = demo();
    const pod2 = c.pod('pod2');
    const ns = pod2.ns;
    const frame = udpFrame(0, 0, { src: pod2.plan.ip, dst: pod2.plan.ip }, 9000, 9000, Buffer.from('self'));
    const p = ns.alloc()!;
    frame.copy(p.buf, p.start, 14);
    p.end = p.start + frame.length - 14;
    expect(() => ns.output(p)).not.toThrow(); // queued on lo, not delivered inside output()
    const before = ns.counters.get('delivered');
    // As on Linux, an echo server answering itself never stops; each answer is one step.
    expect(c.engine.scheduler.runUntilIdle(1000)).toBe(1000);
    expect(ns.counters.get('delivered') - before).toBe(1000);
    expect(c.engine.scheduler.loopAborts).toBe(1);
    pod2.apps.stop(); // the datagram in flight finds no socket: ICMP port unreachable to itself, dropped
    c.engine.runUntilIdle();
    expectNoLeak(c);
  });
});
