/**
 * A trace leaves the cluster as it found it (issue 13, "Traces disturb real connections").
 * A traced TCP SYN is a probe without a socket behind it, like a SYN scan: the source
 * answers the SYN-ACK with a RST, as a kernel answers a segment for a connection it did not
 * open (RFC 9293 3.10.7.1), so the listener drops its half-open connection and conntrack
 * moves the entry to CLOSE (Linux nf_conntrack_proto_tcp: `tcp_timeouts[TCP_CONNTRACK_CLOSE]`
 * 10 s). Probes take an echo id / local port no ping or connection in flight uses.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { httpGet, type HttpServer } from '../../src/apps/http.js';
import { TcpConnection } from '../../src/apps/tcp-conn.js';
import type { TcpListener } from '../../src/apps/tcp-listener.js';
import { examplePath } from '../../src/control/load.js';
import { Cluster } from '../../src/kube/cluster.js';
import { loadTopologyFile } from '../../src/kube/topology.js';
import { runTrace, type TraceResult } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import type { Topology } from '../../src/kube/types.js';
import type { ConntrackEntryView } from '../../src/netfilter/conntrack.js';
import { expectJourneyShape, ping } from './cluster-util.js';

let demo: Topology;
beforeAll(async () => {
  const r = await loadTopologyFile(examplePath('demo.yaml'));
  if (!r.ok) throw new Error('demo.yaml does not validate');
  demo = r.topology;
});

const newDemo = (): Cluster => new Cluster(structuredClone(demo));
const ipOf = (c: Cluster, pod: string): number => c.pods.get(pod)!.plan.ip;
const TCP = 6;
const EPHEMERAL_LOW = 32768;

function httpListener(c: Cluster, pod: string): TcpListener {
  const r = c.pods.get(pod)!.apps.running.find((a) => a.spec.type === 'http')!;
  return (r.app as HttpServer).listener;
}

/** Connections the HTTP servers of pod2 and pod3 hold in SYN-RECEIVED. */
function halfOpen(c: Cluster): string[] {
  return ['pod2', 'pod3'].flatMap((pod) => [...httpListener(c, pod).connections.values()]
    .filter((k) => k.state === 'syn-received').map((k) => `${pod} ${k.peerName()}`));
}

/** pod1's TCP entries in a node's conntrack table. */
function entries(c: Cluster, node: string): ConntrackEntryView[] {
  return c.services.conntrack.get(node)!.entries(c.engine.now(), { proto: TCP, src: ipOf(c, 'pod1') });
}

describe('a traced TCP SYN is reset', () => {
  // pod1 -> pod2 is bridged on node1 without NAT: no conntrack entry to look at.
  for (const [to, port] of [['pod3', 8080], ['service1', 80], ['pod2', 8080]] as const) {
    it(`pod1 -> ${to}:${port}: the reset leg closes the half-open connection; conntrack CLOSE, then gone`, () => {
      const c = newDemo();
      try {
        const r = runTrace(c, { from: 'pod1', to, proto: 'tcp', port });
        expect(r.request.delivered).toBe(true);
        expect(r.reply?.delivered).toBe(true);
        expect(r.request.hops.at(-1)).toMatchObject({ action: 'tcp-syn', detail: { state: 'syn-received' } });
        const endpoint = r.request.hops.at(-1)!.netns;
        expectJourneyShape(r.reset);
        expect(r.reset.delivered).toBe(true);
        expect(r.reset.hops[0]).toMatchObject({ netns: 'pod1', action: 'send' });
        expect(r.reset.hops.at(-1)).toMatchObject({ netns: endpoint, action: 'tcp-closed', detail: { port: 8080, was: 'syn-received' } });
        expect(JSON.parse(JSON.stringify(r)).reset).toEqual(r.reset);
        expect(halfOpen(c)).toEqual([]);
        // Every conntrack table the probe crossed holds the entry in CLOSE, with Linux's 10 s.
        const nodes = endpoint === 'pod3' ? ['node1', 'node2'] : to === 'service1' ? ['node1'] : [];
        for (const node of nodes) {
          const es = entries(c, node);
          expect(es.map((e) => e.state), node).toEqual(['CLOSE']);
          expect(es[0]!.timeout).toBeLessThanOrEqual(10);
        }
        expect(r.reset.hops.filter((h) => h.action === 'conntrack' && h.detail['proto'] === 'tcp').map((h) => h.detail['tcp'])).toEqual(nodes.map(() => 'CLOSE'));
        c.engine.advance(10_001);
        for (const node of nodes) expect(entries(c, node), node).toEqual([]);
        const text = renderTrace(r);
        expect(text).toMatch(/^reset \(pod1 answers the SYN-ACK with a RST/m);
        expect(text).toContain(`takes the RST: its half-open connection from`);
      } finally {
        c.close();
      }
    });
  }

  it('no SYN-ACK, no reset: a closed port answers RST itself; ICMP and UDP traces have reset null', () => {
    const c = newDemo();
    try {
      const closed = runTrace(c, { from: 'pod1', to: 'pod3', proto: 'tcp', port: 9999 });
      expect(closed.reply?.hops.some((h) => h.action === 'deliver')).toBe(true);
      expect(closed.reset).toBeNull();
      expect(runTrace(c, { from: 'pod1', to: 'pod3' }).reset).toBeNull();
      expect(runTrace(c, { from: 'pod1', to: 'pod3', proto: 'udp', port: 9000 }).reset).toBeNull();
      expect(renderTrace(closed)).not.toContain('reset (');
    } finally {
      c.close();
    }
  });

  it('a real connection from the port a trace just used succeeds', async () => {
    const c = newDemo();
    try {
      runTrace(c, { from: 'pod1', to: 'pod3', proto: 'tcp', port: 8080 });
      const [e] = entries(c, 'node1');
      const sport = e!.orig.sport!;
      const conn = TcpConnection.connect(c.pods.get('pod1')!.ns, ipOf(c, 'pod3'), 8080, { localPort: sport, timeoutMs: 3000 });
      expect(conn.localPort).toBe(sport);
      const ok = conn.connected.then(() => 'connected', (err: Error) => err.message);
      c.engine.advance(5000);
      expect(await ok).toBe('connected');
      conn.abort();
    } finally {
      c.close();
    }
  });

  it('real HTTP connections through the same pods, a trace between each, all succeed', async () => {
    const c = newDemo();
    try {
      const pod1 = c.pods.get('pod1')!.ns;
      const targets = [['pod3', ipOf(c, 'pod3'), 8080], ['service1', c.plan.services[0]!.clusterIP, 80], ['pod2', ipOf(c, 'pod2'), 8080]] as const;
      const results: Promise<string>[] = [];
      for (let i = 0; i < 1200; i++) {
        const [name, ip, port] = targets[i % 3]!;
        runTrace(c, { from: 'pod1', to: name, proto: 'tcp', port, waitMs: 20 });
        results.push(httpGet(pod1, ip, port, '/', { timeoutMs: 3000 }).then(() => 'ok', (err: Error) => `${name}: ${err.message}`));
        c.engine.advance(20);
      }
      c.engine.advance(5000);
      const failed = (await Promise.all(results)).filter((s) => s !== 'ok');
      expect(failed.length, failed.slice(0, 3).join('; ')).toBe(0);
      expect(halfOpen(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('probes take an id or port nobody else uses', () => {
  it('an ICMP trace skips the echo id of a ping socket in flight', () => {
    const c = newDemo();
    try {
      const pod1 = c.pods.get('pod1')!.ns;
      const id = 0x4242;
      const stolen: number[] = [];
      pod1.bind(1, id, (p) => { stolen.push(1); pod1.free(p); });
      vi.spyOn(c.engine.rng, 'u32').mockReturnValueOnce(id);
      const r = runTrace(c, { from: 'pod1', to: 'pod3' });
      expect(r.reply?.delivered).toBe(true);
      expect(stolen).toEqual([]);
      expect(pod1.l4.bound(1)).toEqual([id]);
    } finally {
      vi.restoreAllMocks();
      c.close();
    }
  });

  it('an ICMP trace skips an echo id conntrack still tracks towards the target', () => {
    const c = newDemo();
    try {
      const pod1 = c.pods.get('pod1')!.ns;
      const id = 0x4343;
      expect(ping(c, pod1, ipOf(c, 'pod3'), id, 100)).toHaveLength(1); // its conntrack entry lives 30 s
      vi.spyOn(c.engine.rng, 'u32').mockReturnValueOnce(id);
      const r: TraceResult = runTrace(c, { from: 'pod1', to: 'pod3' });
      const ct = r.request.hops.find((h) => h.action === 'conntrack' && h.node === 'node1');
      expect(ct?.detail['state']).toBe('new');
      expect(String(ct?.detail['orig'])).not.toContain(`id=${id}`);
    } finally {
      vi.restoreAllMocks();
      c.close();
    }
  });

  it('a TCP trace skips a local port conntrack still tracks towards the target (TIME_WAIT)', async () => {
    const c = newDemo();
    try {
      const pod1 = c.pods.get('pod1')!.ns;
      const sport = 40000;
      const conn = TcpConnection.connect(pod1, ipOf(c, 'pod3'), 8080, { localPort: sport, timeWaitMs: 1000 });
      conn.onConnect(() => conn.close());
      c.engine.advance(5000); // closed on both sides, the port is free again; conntrack TIME_WAIT (120 s)
      await conn.done;
      expect(pod1.l4.bound(TCP)).not.toContain(sport);
      expect(entries(c, 'node1').map((e) => [e.orig.sport, e.state])).toEqual([[sport, 'TIME_WAIT']]);
      vi.spyOn(c.engine.rng, 'u32').mockReturnValueOnce(sport - EPHEMERAL_LOW);
      const r = runTrace(c, { from: 'pod1', to: 'pod3', proto: 'tcp', port: 8080 });
      expect(r.reset?.delivered).toBe(true);
      const es = entries(c, 'node1');
      expect(es.find((e) => e.orig.sport === sport)?.state).toBe('TIME_WAIT');
      expect(es.filter((e) => e.orig.sport !== sport).map((e) => e.state)).toEqual(['CLOSE']);
    } finally {
      vi.restoreAllMocks();
      c.close();
    }
  });
});
