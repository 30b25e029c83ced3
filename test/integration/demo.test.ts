/**
 * `podwire demo` through the control façade: the journeys of ../shared/JOURNEYS.md are
 * delivered both ways, their hops come in the article's order (veth, bridge, route, encap,
 * underlay, decap, bridge, veth, deliver), the text reads as the article, and every capture
 * file holds the packets the demo says it holds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo, type DemoResult, type DemoJourney } from '../../src/control/demo.js';
import { readCapture } from '../../src/io/capture-reader.js';
import { renderJourney } from '../../src/kube/trace-text.js';
import { actions, expectJourneyShape, isSubsequence } from './cluster-util.js';

let out: string;
let demo: DemoResult;
beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'podwire-demo-'));
  demo = await runDemo({ out });
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

const journey = (name: string): DemoJourney => {
  const j = demo.journeys.find((x) => x.name === name);
  if (j === undefined) throw new Error(`no journey "${name}" (have ${demo.journeys.map((x) => x.name).join(', ')})`);
  return j;
};

/** Asserts that every phrase occurs in `text`, in this order. */
function expectInOrder(text: string, phrases: (string | RegExp)[]): void {
  let at = 0;
  for (const p of phrases) {
    const rest = text.slice(at);
    const m = typeof p === 'string' ? rest.indexOf(p) : rest.search(p);
    expect(m, `"${String(p)}" after offset ${at} in:\n${text}`).toBeGreaterThanOrEqual(0);
    at += m + 1;
  }
}

describe('podwire demo', () => {
  it('runs the journeys of the article, the service one when services are supported', () => {
    const names = demo.journeys.map((j) => j.name);
    expect(names.slice(0, 2)).toEqual(['pod to pod on one node', 'pod to pod across nodes']);
    expect(names.length).toBeGreaterThanOrEqual(2);
    for (const j of demo.journeys) {
      expect(j.request.delivered, `${j.name}: ${j.request.dropReason}`).toBe(true);
      expect(j.reply?.delivered, `${j.name} reply`).toBe(true);
      expectJourneyShape(j.request);
      expectJourneyShape(j.reply);
    }
  });

  it('journey 1, pod1 -> pod2 on one node: veth, bridge, veth, deliver; no routing on the node', () => {
    const j = journey('pod to pod on one node');
    expect(j.result).toMatchObject({ from: 'pod1', to: 'pod2' });
    expect(isSubsequence(['send', 'veth', 'bridge-forward', 'veth', 'deliver'], actions(j.request)), actions(j.request).join(' ')).toBe(true);
    expect(j.request.hops.filter((h) => h.netns === 'root' && h.action === 'route')).toEqual([]);
    expect(j.request.hops.some((h) => h.node !== 'node1')).toBe(false);
    expectInOrder(renderJourney(j.request), [
      'pod1 sends an ICMP packet', 'crosses the veth pair (pod1/eth0 -> root/veth0) into the root namespace of node1',
      'It reaches the bridge cbr0 on node1', 'out of veth1', 'crosses the veth pair (root/veth1 -> pod2/eth0) into pod2',
      "It arrives on pod2's eth0", '=> delivered',
    ]);
  });

  it('journey 2, pod1 -> pod3 across nodes: veth, bridge, default route, encap, underlay, decap, bridge, veth', () => {
    const j = journey('pod to pod across nodes');
    const vxlan = j.request.hops.some((h) => h.action === 'vxlan-encap');
    const want = ['send', 'route', 'veth', 'bridge-local', 'route', 'forward', ...(vxlan ? ['vxlan-encap'] : []), 'underlay',
      ...(vxlan ? ['vxlan-decap'] : []), 'route', 'forward', 'bridge-forward', 'veth', 'deliver'];
    expect(isSubsequence(want, actions(j.request)), actions(j.request).join(' ')).toBe(true);
    expect(j.request.hops.find((h) => h.action === 'route')?.detail['route']).toMatch(/^default via/);
    expectInOrder(renderJourney(j.request), [
      'pod1 sends an ICMP packet', 'only the default route matches', 'crosses the veth pair (pod1/eth0 -> root/veth0)',
      'It reaches the bridge cbr0 on node1', 'forwards the packet',
      ...(vxlan ? ['wraps the frame in VXLAN (VNI 1)'] : []),
      'crosses the cluster network (the underlay switch) and enters node2 on eth0',
      ...(vxlan ? ['unwraps it'] : []),
      'It reaches the bridge cbr0 on node2', 'crosses the veth pair (root/veth0 -> pod3/eth0) into pod3',
      "It arrives on pod3's eth0", "pod3's kernel answers the echo request", '=> delivered',
    ]);
    expectInOrder(renderJourney(j.reply!), ['pod3 sends an ICMP packet', 'enters node1 on eth0', "It arrives on pod1's eth0", 'echo reply']);
  });

  it('journey 3, pod1 -> service1: DNAT on node1 to a pod, reversed on the way back', ({ skip }) => {
    const j = demo.journeys.find((x) => x.name === 'pod to service');
    if (j === undefined) return skip('the cluster does not support services yet');
    const a = actions(j.request);
    expect(isSubsequence(['send', 'veth', 'bridge-local', 'dnat', 'route', 'forward', 'bridge-forward', 'veth', 'deliver'], a), a.join(' ')).toBe(true);
    const dnat = j.request.hops.find((h) => h.action === 'dnat')!;
    expect(dnat.node).toBe('node1');
    const endpoint = String(dnat.detail['pod']);
    expect(['pod2', 'pod3']).toContain(endpoint);
    expect(j.request.hops.at(-1)?.netns === endpoint || j.request.hops.some((h) => h.action === 'deliver' && h.netns === endpoint)).toBe(true);
    const back = j.reply!.hops;
    expect(back.some((h) => h.action === 'un-dnat' && h.node === 'node1')).toBe(true);
    const last = back.filter((h) => h.action === 'deliver').at(-1)!;
    expect(last).toMatchObject({ netns: 'pod1', detail: { src: j.result.dst } }); // the reply comes from the VIP
    expectInOrder(renderJourney(j.request), ['pod1 sends a TCP packet', 'It reaches the bridge cbr0 on node1', 'kube-proxy', 'DNAT to', `It arrives on ${endpoint}'s eth0`]);
    expectInOrder(renderJourney(j.reply!), ['reverses the DNAT', `becomes ${j.result.dst}`, "It arrives on pod1's eth0"]);
  });

  it('writes one pcapng per interface the packets crossed, each holding the packets it reports', () => {
    expect(demo.captures.length).toBeGreaterThan(0);
    const names = demo.captures.map((c) => c.interface);
    for (const want of ['pod1/eth0', 'node1/veth0', 'node1/cbr0', 'node1/eth0', 'node2/eth0', 'pod2/eth0', 'pod3/eth0']) expect(names).toContain(want);
    for (const f of demo.captures) {
      expect(f.file.startsWith(out)).toBe(true);
      const cap = readCapture(readFileSync(f.file));
      expect(cap.format).toBe('pcapng');
      expect(cap.interfaces.map((i) => i.name)).toEqual([f.interface]);
      expect(cap.packets.length, f.interface).toBe(f.packets);
      expect(f.packets).toBeGreaterThan(0);
    }
  });

  it('captures, per pod interface, every traced IP packet that crossed its veth pair', () => {
    for (const pod of ['pod1', 'pod2', 'pod3']) {
      const crossings = demo.journeys.flatMap((j) => [j.request, j.reply ?? { hops: [] }, j.reset ?? { hops: [] }])
        .flatMap((jj) => jj.hops).filter((h) => h.action === 'veth' && (h.detail['from'] === `${pod}/eth0` || h.detail['to'] === `${pod}/eth0`)).length;
      const f = demo.captures.find((c) => c.interface === `${pod}/eth0`);
      const ipFrames = f === undefined ? 0 : readCapture(readFileSync(f.file)).packets.filter((p) => p.data.readUInt16BE(12) === 0x0800).length;
      expect(ipFrames, `${pod}/eth0`).toBe(crossings);
    }
  });

  it('uses the virtual clock: capture timestamps start at the virtual epoch (2026-01-01)', () => {
    const f = demo.captures.find((c) => c.interface === 'pod1/eth0')!;
    const first = readCapture(readFileSync(f.file)).packets[0]!;
    expect(new Date(first.tsMs).toISOString().slice(0, 10)).toBe('2026-01-01');
  });
});
