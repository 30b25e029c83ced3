/**
 * netem in a cluster: declared in the topology (links:, pods[].netem), checked like every
 * other field, changed at run time; captures of an impaired interface show what leaves the
 * qdisc; and the same seed and traffic give byte-identical captures twice.
 */
import { describe, expect, it } from 'vitest';
import { Capture } from '../../src/io/capture.js';
import { MemorySink } from '../../src/io/sink.js';
import { validateTopology } from '../../src/kube/topology.js';
import { newCluster, ping, topology, udpRoundTrip } from './cluster-util.js';

const YAML = (links: string): string => `
cluster: { name: nt, overlay: vxlan, dnsReplicas: 0, seed: 5 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: a, node: node1, apps: [ { type: udp-echo } ] }
  - { name: b, node: node2, apps: [ { type: udp-echo } ] }
${links}
`;

describe('netem in a cluster', () => {
  it('links: 20 ms on a/eth0 egress and on b/eth0 egress: a ping needs 40 ms, not 39', () => {
    const t = topology(YAML(`links:
  - { interface: a/eth0, netem: { delay: 20ms } }
  - { interface: b/eth0, netem: { delay: 20ms } }`));
    const c = newCluster(t);
    const a = c.pods.get('a')!.ns;
    const b = c.plan.pods.find((p) => p.name === "b")!.ip;
    ping(c, a, b, 0x100, 100); // ARP on the way
    expect(ping(c, a, b, 0x101, 39.9)).toEqual([]);
    c.engine.advance(1000);
    expect(ping(c, a, b, 0x102, 40.1).length).toBe(1);
    expect(c.impairments.element('a/eth0')!.counters.get('sent')).toBeGreaterThan(0);
    c.close();
  });

  it('pods[].netem and nodes[].netem impair eth0 egress; the underlay too', () => {
    const t = topology(YAML('').replace("apps: [ { type: udp-echo } ] }\n  - { name: b", "apps: [ { type: udp-echo } ], netem: { loss: '100%' } }\n  - { name: b"));
    const c = newCluster(t);
    const a = c.pods.get('a')!.ns;
    const b = c.plan.pods.find((p) => p.name === "b")!.ip;
    expect(udpRoundTrip(c, a, b, 7, 'x', 100)).toEqual([]);
    expect(c.impairments.element('a/eth0')!.drops.get('loss')).toBeGreaterThan(0);
    c.impairments.patch('a/eth0', { loss: null });
    expect(udpRoundTrip(c, a, b, 7, 'x', 3000)).toEqual(['x']); // ARP retries after its first request was lost
    c.impairments.set('node1/eth0', { loss: '100%' });
    expect(udpRoundTrip(c, a, b, 7, 'x', 100)).toEqual([]);
    expect(c.impairments.clear('node1/eth0')).toBe(1);
    expect(udpRoundTrip(c, a, b, 7, 'x', 100)).toEqual(['x']);
    c.close();
  });

  it('bad netem settings are topology errors naming the field and the value', () => {
    const bad = (links: string): string[] => {
      const r = validateTopology(JSON.parse(JSON.stringify({ nodes: [{ name: 'node1' }], pods: [{ name: 'a', node: 'node1' }], links: JSON.parse(links) })));
      return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    expect(bad('[{"interface": "a/eth0", "netem": {"rate": "10Mbps"}}]')[0]).toMatch(/^links\[0\]\.netem\.rate: rate: ambiguous unit "Mbps"/);
    expect(bad('[{"interface": "a/eth0", "netem": {"delay": "20"}}]')[0]).toMatch(/^links\[0\]\.netem\.delay: .*ambiguous time/);
    expect(bad('[{"interface": "zz/eth0", "netem": {"delay": "1ms"}}]')[0]).toMatch(/links\[0\]\.interface: "zz\/eth0": "zz" is not a node or a pod/);
    expect(bad('[{"interface": "a/eth0", "netem": {"delay": "1ms"}}, {"interface": "a/eth0", "direction": "both", "netem": {}}]')[0]).toMatch(/links\[1\]\.interface: "a\/eth0" egress is already impaired by links\[0\]/);
    expect(bad('[{"interface": "a/eth0", "netem": {"dealy": "1ms"}}]').length).toBe(1);
  });

  it('same seed, same traffic: byte-identical pcapng captures of the impaired interfaces, twice', () => {
    const run = (): Buffer => {
      const t = topology(YAML(`links:
  - { interface: a/eth0, direction: both, netem: { delay: 5ms, jitter: 4ms, loss: '10%', duplicate: '5%', corrupt: '5%', reorder: '20%', seed: 11 } }
  - { interface: node2/eth0, netem: { rate: 20mbit, loss: '2%' } }`));
      const c = newCluster(t);
      const sink = new MemorySink();
      const points = c.capturePoints().filter((p) => ['a/eth0', 'node1/eth0', 'node2/eth0', 'b/eth0'].includes(p.name));
      const cap = new Capture(() => c.engine.clock, points, sink);
      const a = c.pods.get('a')!.ns;
      const b = c.plan.pods.find((p) => p.name === "b")!.ip;
      for (let i = 0; i < 5; i++) udpRoundTrip(c, a, b, 7, 'warm', 1000); // ARP through the loss
      for (let i = 0; i < 300; i++) udpRoundTrip(c, a, b, 7, `m${i}`, 3);
      c.engine.advance(1000);
      cap.stop();
      c.close();
      return sink.bytes();
    };
    const x = run();
    const y = run();
    expect(x.length).toBeGreaterThan(10_000);
    expect(y.equals(x)).toBe(true);
  });
});

describe('podwire netem set|show|clear against a running API', () => {
  it('sets with tc arguments, shows the tc line and counters, merges, refuses ambiguous units, clears', async () => {
    const { demoController, runCli } = await import('./helpers.js');
    const { startApi } = await import('../../src/api/server.js');
    const h = await demoController();
    const api = await startApi(h.ctl, { host: '127.0.0.1', port: 0 }, { token: '' });
    try {
      const at = ['--api', api.url, '--token', ''];
      let r = await runCli('netem', 'set', 'pod1/eth0', 'delay', '20ms', '5ms', 'distribution', 'normal', 'rate', '1mbit', '-4', ...at);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('pod1/eth0 egress: tc qdisc add dev eth0 root netem limit 1000 delay 20ms 5ms distribution normal rate 1mbit -4');
      expect(r.out).toContain('rate 1000000 bit/s');
      r = await runCli('netem', 'set', 'pod1/eth0', '--merge', 'loss', '1%', ...at);
      expect(r.out).toContain('delay 20ms 5ms distribution normal loss random 1% rate 1mbit -4');
      r = await runCli('netem', 'set', 'pod1/eth0', 'rate', '100kbps', ...at);
      expect(r.err).toMatch(/warning: rate: "100kbps" is kBYTES per second in tc \(= 800000 bit\/s\)/);
      r = await runCli('netem', 'set', 'pod1/eth0', 'rate', '10Mbps', ...at);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/ambiguous unit "Mbps"/);
      r = await runCli('netem', 'show', ...at);
      expect(r.out).toMatch(/^pod1\/eth0 egress: tc qdisc add dev eth0 root netem limit 1000 rate 800kbit\n  rate 800000 bit\/s\n  sent 0 pkt/);
      r = await runCli('netem', 'clear', 'pod1/eth0', ...at);
      expect(r.out).toBe('pod1/eth0: removed 1');
      r = await runCli('netem', 'show', 'pod1/eth0', ...at);
      expect(r.out).toBe('(no impairment)');
    } finally {
      await api.close();
      await h.done();
    }
  });
});
