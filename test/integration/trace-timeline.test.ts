/**
 * Traces that line up with the captures and with Linux (issue 19, item 3):
 * - every hop has its own time (the modelled per-hop latency in virtual time), and each
 *   frame a hop names (`captures`: file, frame number) is in that file, at that number, with
 *   that timestamp, read back with podwire's own capture reader; every IPv4 frame the
 *   captures hold is named by exactly one hop;
 * - a failed ARP on a forwarding node ends in ICMP host unreachable to the sender after the
 *   3 requests (3 s), shown as "ICMP error", not "reply";
 * - targets with a port, sources that are a node or an external client (NodePort and
 *   LoadBalancer IP), --size (fragmentation needed with the next hop's MTU from the node that
 *   cannot forward over VXLAN), --count (the spread over the endpoints), and POST /trace with
 *   the same options.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { TraceCaptures } from '../../src/control/trace-captures.js';
import type { Hop } from '../../src/engine/trace.js';
import { VIRTUAL_EPOCH_MS } from '../../src/engine/clock.js';
import { readCapture } from '../../src/io/capture-reader.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace, runTraces, TraceInputError, type TraceResult } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import { externalTopology, LB_IP, NODE_PORT } from '../fixtures/trace-external.js';
import { demoApi } from './helpers.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'podwire-tracefx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function withCluster<T>(fn: (c: Cluster) => T, source = demo): T {
  const c = clusterFromTopology(source);
  try {
    return fn(c);
  } finally {
    c.close();
  }
}
const allHops = (r: TraceResult): Hop[] => [...r.request.hops, ...(r.reply?.hops ?? []), ...(r.reset?.hops ?? [])];
const us = (ms: number): number => Math.round(ms * 1000);

describe('hops carry times and the capture frames they put on the wire', () => {
  it('pod1 -> service1 (TCP): increasing distinct times; each named frame is there, with the hop\'s timestamp; every IPv4 frame is named once', () => {
    const dir = join(tmp, 'svc');
    const { r, files } = withCluster((c) => {
      const caps = new TraceCaptures(c);
      const r = runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
      return { r, files: caps.finish(dir) };
    });
    expect(r.request.delivered && r.reply?.delivered && r.reset?.delivered).toBe(true);
    const hops = allHops(r);
    const times = hops.map((h) => h.time!);
    expect(times.every((t) => typeof t === 'number' && t > VIRTUAL_EPOCH_MS)).toBe(true);
    for (let i = 1; i < times.length; i++) expect(times[i]!, `hop ${i} ${hops[i]!.action}`).toBeGreaterThan(times[i - 1]!);
    // The request reaches its pod after the modelled latency of its hops, not in the same instant.
    expect(us(r.request.hops.at(-1)!.time! - r.request.hops[0]!.time!)).toBeGreaterThan(50);

    const named = new Map<string, Hop>();
    for (const h of hops) for (const c of h.captures ?? []) {
      const key = `${c.file}#${c.frame}`;
      expect(named.has(key), key).toBe(false);
      named.set(key, h);
    }
    expect(named.size).toBeGreaterThan(10);
    let ipv4 = 0;
    for (const f of files) {
      const cap = readCapture(readFileSync(f.file));
      const name = f.file.slice(dir.length + 1);
      cap.packets.forEach((p, i) => {
        const key = `${name}#${i + 1}`;
        const isIpv4 = p.data.readUInt16BE(12) === 0x0800;
        if (!isIpv4) { expect(named.has(key), `${key} is ARP`).toBe(false); return; }
        ipv4++;
        const h = named.get(key);
        expect(h, `${key}: an IPv4 frame no hop names`).toBeDefined();
        expect(us(p.tsMs), `${key} (${h!.action} at ${h!.node}/${h!.netns})`).toBe(us(h!.time!));
        expect(h!.captures!.find((c) => `${c.file}#${c.frame}` === key)!.interface).toBe(cap.interfaces[p.interfaceId]!.name);
      });
    }
    expect(ipv4).toBe(named.size);
  });

  it('the demo names its frames too, and no two hops of its journeys share a time', async () => {
    const { runDemo } = await import('../../src/control/demo.js');
    const d = await runDemo({ out: join(tmp, 'demo') });
    const hops = d.journeys.flatMap((j) => [...j.request.hops, ...(j.reply?.hops ?? []), ...(j.reset?.hops ?? [])]);
    expect(new Set(hops.map((h) => h.time)).size).toBe(hops.length);
    const frames = hops.flatMap((h) => h.captures ?? []);
    for (const c of d.captures) {
      const mine = frames.filter((f) => f.interface === c.interface).map((f) => f.frame);
      expect(mine.every((n) => n >= 1 && n <= c.packets), c.interface).toBe(true);
    }
    expect(frames.length).toBeGreaterThan(40);
  });
});

describe('a failed ARP on a forwarding node: ICMP host unreachable to the sender', () => {
  it('pod1 -> 10.244.2.99 (nobody on node2 has it): after 3 unanswered requests (3 s) node2 sends 3/1 to pod1', () => {
    const r = withCluster((c) => runTrace(c, { from: 'pod1', to: '10.244.2.99' }));
    const hops = r.request.hops;
    const arp = hops.find((h) => h.action === 'arp-request' && h.node === 'node2')!;
    const err = hops.find((h) => h.action === 'icmp-error')!;
    expect(err).toMatchObject({ node: 'node2', netns: 'root', detail: { type: 3, code: 1, to: '10.244.1.2' } });
    expect(us(err.time! - arp.time!)).toBeGreaterThanOrEqual(3_000_000); // Linux: mcast_solicit 3 x retrans_time 1 s
    expect(us(err.time! - arp.time!)).toBeLessThan(3_001_000);
    expect(r.request.dropReason).toBe('neighbor-unreachable');
    expect(r.replyKind).toBe('icmp-error');
    expect(r.reply?.delivered).toBe(true);
    expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'pod1', action: 'deliver', detail: { src: '10.244.2.0', port: 'type 3' } });
    const text = renderTrace(r);
    expect(text).toMatch(/^ICMP error \(host unreachable, from node2\):$/m);
    expect(text).not.toMatch(/^reply:/m);
    expect(text).toMatch(/answers with ICMP type 3 code 1 \(host unreachable\) to 10\.244\.1\.2\./);
  });

  it('a real answer is still headed "reply"', () => {
    const r = withCluster((c) => runTrace(c, { from: 'pod1', to: 'pod3' }));
    expect(r.replyKind).toBe('reply');
    expect(renderTrace(r)).toMatch(/^reply:$/m);
  });
});

describe('targets with a port, sources that are not pods', () => {
  it('NAME:PORT and IP:PORT; a port with ICMP, or two different ports, are errors naming the field', () => {
    withCluster((c) => {
      const s = runTrace(c, { from: 'pod1', to: 'service1:80', proto: 'tcp' });
      expect([s.port, s.dst, s.request.delivered]).toEqual([80, '10.96.0.2', true]);
      const u = runTrace(c, { from: 'pod1', to: '10.244.2.2:9000', proto: 'udp' });
      expect([u.port, u.request.delivered, u.reply?.delivered]).toEqual([9000, true, true]);
      expect(runTrace(c, { from: 'pod1', to: 'pod2:9000', proto: 'udp', port: 9000 }).request.delivered).toBe(true);
      const err = (f: () => unknown): TraceInputError => { try { f(); } catch (e) { return e as TraceInputError; } throw new Error('no error'); };
      expect(err(() => runTrace(c, { from: 'pod1', to: 'pod2:80' }))).toMatchObject({ field: 'to', value: 'pod2:80' });
      expect(err(() => runTrace(c, { from: 'pod1', to: 'pod2', port: 80 }))).toMatchObject({ field: 'port', value: 80 });
      expect(err(() => runTrace(c, { from: 'pod1', to: 'pod2:80', proto: 'tcp', port: 81 }))).toMatchObject({ field: 'port', value: 81 });
      expect(err(() => runTrace(c, { from: 'pod1', to: 'pod2:http', proto: 'tcp' }))).toMatchObject({ field: 'to' });
      const unknown = err(() => runTrace(c, { from: 'pod1', to: 'nowhere' }));
      expect(unknown).toMatchObject({ field: 'to', notFound: true });
      expect(unknown.message).toMatch(/\(have pods pod1, pod2, pod3, .*; services service1, kube-dns\.kube-system; nodes node1, node2\); as a DNS name from pod1 it does not resolve \(/);
    });
  });

  it('from a node (its root namespace, as a hostNetwork pod sends) to a pod on the other node', () => {
    const r = withCluster((c) => runTrace(c, { from: 'node1', to: 'pod3' }));
    expect(r.request.hops[0]).toMatchObject({ node: 'node1', netns: 'root', action: 'send', detail: { src: '10.244.1.0', dst: '10.244.2.2' } });
    expect(r.request.delivered && r.reply?.delivered).toBe(true);
  });

  it('from an external client on the underlay: to a NodePort on node1 and to a LoadBalancer IP, DNATed to pod3 across the overlay', () => {
    withCluster((c) => {
      const np = runTrace(c, { from: 'external', to: `node1:${NODE_PORT}`, proto: 'tcp' });
      expect(np.request.hops[0]).toMatchObject({ node: 'external', netns: 'external', action: 'send', detail: { src: '192.168.56.254', dst: '192.168.56.11' } });
      expect(np.request.hops.find((h) => h.action === 'dnat')?.detail).toMatchObject({ nodePort: NODE_PORT, endpoint: '10.244.2.2:8080', pod: 'pod3' });
      expect(np.request.delivered && np.reply?.delivered).toBe(true);
      expect(np.reply!.hops.at(-1)).toMatchObject({ netns: 'external', action: 'deliver', detail: { src: '192.168.56.11' } });
      const lb = runTrace(c, { from: 'external', to: `${LB_IP}:80`, proto: 'tcp' });
      expect(lb.request.hops.find((h) => h.action === 'dnat')?.detail).toMatchObject({ service: 'default/lb', endpoint: '10.244.2.2:8080' });
      expect(lb.reply!.hops.at(-1)).toMatchObject({ netns: 'external', action: 'deliver', detail: { src: LB_IP } });
      expect(renderTrace(lb)).toMatch(/^ {3}1\. The external client sends a TCP packet from 192\.168\.56\.254 to 198\.51\.100\.7/m);
    }, externalTopology());
  });
});

describe('--size: fragmentation needed over VXLAN', () => {
  it('1500 bytes with DF from outside to a NodePort whose pod is on node2: node1 cannot forward it into flannel.1 (MTU 1450) and says so', () => {
    withCluster((c) => {
      const r = runTrace(c, { from: 'external', to: `node1:${NODE_PORT}`, proto: 'tcp', size: 1500 });
      expect(r.size).toBe(1500);
      expect(r.request.hops[0]!.detail).toMatchObject({ src: '192.168.56.254' });
      const err = r.request.hops.find((h) => h.action === 'icmp-error')!;
      expect(err).toMatchObject({ node: 'node1', netns: 'root', detail: { type: 3, code: 4, mtu: 1450, to: '192.168.56.254' } });
      expect(r.request.dropReason).toBe('frag-needed');
      expect(r.replyKind).toBe('icmp-error');
      expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'external', action: 'deliver', detail: { port: 'type 3' } });
      expect(renderTrace(r)).toMatch(/^ICMP error \(fragmentation needed and DF set, MTU 1450, from node1\):$/m);
      // 1450 fits the overlay: delivered.
      expect(runTrace(c, { from: 'external', to: `node1:${NODE_PORT}`, proto: 'tcp', size: 1450 }).request.delivered).toBe(true);
    }, externalTopology());
  });

  it('a pod (MTU 1450) sending more than its MTU with DF is refused by its own stack; sizes outside the probe\'s range are errors', () => {
    withCluster((c) => {
      const r = runTrace(c, { from: 'pod1', to: 'pod3', size: 1451 });
      expect(r.request.hops.at(-1)).toMatchObject({ netns: 'pod1', action: 'drop', detail: { reason: 'frag-needed' } });
      expect(runTrace(c, { from: 'pod1', to: 'pod3', size: 1450 }).request.delivered).toBe(true);
      expect(() => runTrace(c, { from: 'pod1', to: 'pod3', proto: 'tcp', size: 43 })).toThrow(/size: 43 must be an integer from 44 to 1920/);
      expect(() => runTrace(c, { from: 'pod1', to: 'pod3', size: 1921 })).toThrow(/size: 1921 must be an integer from 28 to 1920/);
    });
  });
});

describe('--count: new flows and how the proxy spread them', () => {
  it('iptables: 20 flows, each its own source port, over pod2 and pod3 at random', () => {
    const m = withCluster((c) => runTraces(c, { from: 'pod1', to: 'service1:80', proto: 'tcp' }, 20));
    expect(m.flows.length).toBe(20);
    expect(new Set(m.flows.map((f) => f.sport)).size).toBe(20);
    expect(m.spread.map((s) => s.pod).sort()).toEqual(['pod2', 'pod3']);
    expect(m.spread.reduce((a, s) => a + s.flows, 0)).toBe(20);
    expect(m.spread.every((s) => s.delivered === s.flows)).toBe(true);
    expect(m.first.request.delivered).toBe(true);
  });

  it('IPVS round robin: exactly even; session affinity: all to one pod', () => {
    const rr = withCluster((c) => runTraces(c, { from: 'pod1', to: 'service1:80', proto: 'tcp' }, 10), demo.replace(/^ {2}proxyMode: iptables/m, '  proxyMode: ipvs'));
    expect(rr.spread.map((s) => s.flows)).toEqual([5, 5]);
    const aff = withCluster((c) => runTraces(c, { from: 'pod1', to: 'service1:80', proto: 'tcp' }, 10), demo.replace('sessionAffinity: None', 'sessionAffinity: ClientIP'));
    expect(aff.spread.length).toBe(1);
    expect(aff.spread[0]!.flows).toBe(10);
  });

  it('count outside 1..1000 is an error naming count', () => {
    withCluster((c) => {
      expect(() => runTraces(c, { from: 'pod1', to: 'pod2' }, 0)).toThrow(/count: 0 must be an integer from 1 to 1000/);
    });
  });
});

describe('POST /trace takes the same options', () => {
  const api = demoApi();
  const post = async (body: unknown) => api.app.inject({ method: 'POST', url: '/api/v1/trace', payload: body as object });

  it('to with :PORT, proto in any case, count, size; bad values are 400 naming the field', async () => {
    const r = await post({ from: 'pod1', to: 'service1:80', proto: 'TCP', count: 6 });
    expect(r.statusCode, r.body).toBe(200);
    const j = r.json<{ request: { delivered: boolean }; count: number; spread: { pod: string; flows: number }[]; flows: unknown[] }>();
    expect(j.request.delivered).toBe(true);
    expect(j.count).toBe(6);
    expect(j.flows.length).toBe(6);
    expect(j.spread.reduce((a, s) => a + s.flows, 0)).toBe(6);
    const big = (await post({ from: 'pod1', to: 'pod3', size: 1451 })).json<{ request: { dropReason: string } }>();
    expect(big.request.dropReason).toBe('frag-needed');
    const node = (await post({ from: 'node2', to: 'pod1' })).json<{ request: { delivered: boolean; hops: Hop[] } }>();
    expect(node.request.hops[0]).toMatchObject({ node: 'node2', netns: 'root' });
    expect(node.request.hops[0]!.time).toEqual(expect.any(Number));
    for (const [body, field, status] of [
      [{ from: 'pod1', to: 'pod2', count: 0 }, '/count', 400],
      [{ from: 'pod1', to: 'pod2', size: 20 }, '/size', 400],
      [{ from: 'pod1', to: 'pod2:80' }, '/to', 400],
      [{ from: 'pod1', to: 'pod2', port: 80 }, '/port', 400],
      [{ from: 'pod9', to: 'pod2' }, '/from', 404],
    ] as const) {
      const e = await post(body);
      expect(e.statusCode, JSON.stringify(body)).toBe(status);
      expect(e.json<{ field: string }>().field, JSON.stringify(body)).toBe(field);
    }
  });
});
