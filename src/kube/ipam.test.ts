import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, formatCidr, formatIpv4, formatMac, parseCidr, parseIpv4 } from '../wire/addr.js';
import { Ipam, IpamError } from './ipam.js';
import { planCluster } from './plan.js';
import { selectorMatches } from './selector.js';
import { parseTopology, validateTopology } from './topology.js';
import type { Topology } from './types.js';

function load(file: string): Topology {
  const r = parseTopology(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}
function valid(doc: unknown): Topology {
  const r = validateTopology(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}
/** The message and code of what `f` throws. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof IpamError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'nothing thrown';
}
const ipam = (): Ipam => new Ipam({ podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12', nodeCIDR: '192.168.56.0/24' });

describe('planCluster', () => {
  it('resolves the demo cluster', () => {
    const p = planCluster(load('examples/demo.yaml'));
    expect(p.podMtu).toBe(1450);
    expect(p.nodes.map((n) => [n.name, formatIpv4(n.ip), formatMac(n.mac), formatCidr(n.podCIDR), n.bridge, formatIpv4(n.bridgeIp),
      formatMac(n.bridgeMac), formatIpv4(n.vtepIp), formatMac(n.vtepMac)])).toEqual([
      ['node1', '192.168.56.11', '02:00:c0:a8:38:0b', '10.244.1.0/24', 'cbr0', '10.244.1.1', '02:42:0a:f4:01:01', '192.168.56.11', '02:58:c0:a8:38:0b'],
      ['node2', '192.168.56.12', '02:00:c0:a8:38:0c', '10.244.2.0/24', 'cbr0', '10.244.2.1', '02:42:0a:f4:02:01', '192.168.56.12', '02:58:c0:a8:38:0c'],
    ]);
    expect(p.pods.map((x) => [x.name, x.node, formatIpv4(x.ip), formatMac(x.mac), formatIpv4(x.gateway), x.prefixLength, x.veth,
      formatMac(x.vethMac), x.mtu, x.system])).toEqual([
      ['pod1', 'node1', '10.244.1.2', '02:42:0a:f4:01:02', '10.244.1.1', 24, 'veth0', '02:ee:0a:f4:01:02', 1450, false],
      ['pod2', 'node1', '10.244.1.3', '02:42:0a:f4:01:03', '10.244.1.1', 24, 'veth1', '02:ee:0a:f4:01:03', 1450, false],
      ['pod3', 'node2', '10.244.2.2', '02:42:0a:f4:02:02', '10.244.2.1', 24, 'veth0', '02:ee:0a:f4:02:02', 1450, false],
      ['kube-dns-1', 'node1', '10.244.1.4', '02:42:0a:f4:01:04', '10.244.1.1', 24, 'veth2', '02:ee:0a:f4:01:04', 1450, true],
    ]);
    expect(p.services.map((s) => [s.namespace, s.name, formatIpv4(s.clusterIP), s.ports, s.endpoints, s.scheduler])).toEqual([
      ['default', 'service1', '10.96.0.2', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ['pod2', 'pod3'], 'rr'],
      ['kube-system', 'kube-dns', '10.96.0.10', [
        { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
      ], ['kube-dns-1'], 'rr'],
    ]);
    expect([formatIpv4(p.kubernetesServiceIp), formatIpv4(p.dnsServiceIp), p.dnsDomain]).toEqual(['10.96.0.1', '10.96.0.10', 'cluster.local']);
  });

  it('routed overlay keeps the full MTU; NodePorts are allocated around the given ones', () => {
    const p = planCluster(load('examples/three-nodes-routed.yaml'));
    expect(p.podMtu).toBe(1500);
    expect(p.nodes.map((n) => formatCidr(n.podCIDR))).toEqual(['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
    expect(p.services[0]!.ports.map((x) => x.nodePort)).toEqual([30080, 30000]);
    expect(p.services[0]).toMatchObject({ scheduler: 'wrr', weights: { web1: 2 }, endpoints: ['web1', 'web2', 'web3'] });
  });

  it('takes given addresses first, then allocates the rest in file order', () => {
    const p = planCluster(valid({
      cluster: { dnsReplicas: 0 },
      nodes: [{ name: 'n1' }],
      pods: [{ name: 'a', node: 'n1' }, { name: 'b', node: 'n1', ip: '10.244.1.2' }, { name: 'c', node: 'n1' }],
      services: Array.from({ length: 10 }, (_, i) => ({
        name: `s${i}`, type: 'NodePort', ports: [{ port: 80, ...(i === 1 ? { nodePort: 30000 } : {}) }],
        ...(i === 0 ? { clusterIP: '10.96.0.3' } : {}),
      })),
    }));
    expect(p.pods.map((x) => formatIpv4(x.ip))).toEqual(['10.244.1.3', '10.244.1.2', '10.244.1.4']);
    expect(p.services.map((s) => formatIpv4(s.clusterIP))).toEqual([
      '10.96.0.3', '10.96.0.2', '10.96.0.4', '10.96.0.5', '10.96.0.6', '10.96.0.7', '10.96.0.8', '10.96.0.9', '10.96.0.11', '10.96.0.12',
    ]);
    expect(p.services.map((s) => s.ports[0]!.nodePort)).toEqual([30001, 30000, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009]);
  });

  it('external nodes use their VTEP address and MAC', () => {
    const p = planCluster(valid({
      nodes: [{ name: 'n1' }, { name: 'real', external: true, vtepIP: '192.168.56.1', vtepMAC: '0E:00:00:00:00:01', podCIDR: '10.244.9.0/24', vtep: { bind: '127.0.0.1:8472' } }],
    }));
    expect(p.nodes[1]).toMatchObject({ external: true, vtepIp: parseIpv4('192.168.56.1'), vtepMac: 0x0e0000000001, vtepBind: '127.0.0.1:8472' });
    expect(formatIpv4(p.nodes[1]!.ip)).toBe('192.168.56.12');
  });

  it('is deterministic, and keeps allocating where it left off at run time', () => {
    const t = load('examples/demo.yaml');
    expect(JSON.stringify(planCluster(t))).toBe(JSON.stringify(planCluster(load('examples/demo.yaml'))));
    const live = ipam();
    planCluster(t, live);
    expect(formatIpv4(live.allocatePodIp('node1'))).toBe('10.244.1.5');
    expect(live.allocateVeth('node1')).toBe('veth3');
    expect(formatIpv4(live.allocateServiceIp())).toBe('10.96.0.3');
  });

  it('for any valid topology: pod addresses are unique, inside their node range and not reserved', () => {
    const arb = fc.record({
      nodes: fc.integer({ min: 1, max: 5 }),
      pods: fc.array(fc.record({ node: fc.nat(4), ip: fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }) }), { maxLength: 30 }),
      services: fc.array(fc.option(fc.integer({ min: 2, max: 40 }), { nil: undefined }), { maxLength: 15 }),
      dns: fc.integer({ min: 0, max: 3 }),
    });
    let planned = 0;
    fc.assert(fc.property(arb, (g) => {
      const doc = {
        cluster: { dnsReplicas: g.dns },
        nodes: Array.from({ length: g.nodes }, (_, i) => ({ name: `n${i}` })),
        pods: g.pods.map((p, i) => ({
          name: `p${i}`, node: `n${p.node % g.nodes}`, ...(p.ip !== undefined ? { ip: `10.244.${(p.node % g.nodes) + 1}.${p.ip}` } : {}),
        })),
        services: g.services.map((h, i) => ({ name: `s${i}`, ports: [{ port: 80 }], ...(h !== undefined ? { clusterIP: `10.96.0.${h}` } : {}) })),
      };
      const r = validateTopology(doc);
      if (!r.ok) return; // duplicate or reserved given addresses: refused, fine
      const p = planCluster(r.topology);
      planned++;
      expect(new Set(p.pods.map((x) => x.ip)).size).toBe(p.pods.length);
      expect(new Set(p.services.map((x) => x.clusterIP)).size).toBe(p.services.length);
      for (const pod of p.pods) {
        const n = p.nodes.find((x) => x.name === pod.node)!;
        expect(cidrContains(n.podCIDR, pod.ip)).toBe(true);
        expect(pod.ip - n.podCIDR.addr).toBeGreaterThanOrEqual(2);
        expect(pod.ip - n.podCIDR.addr).toBeLessThan(255);
      }
      for (const pod of r.topology.pods) {
        if (pod.ip !== undefined) expect(formatIpv4(p.pods.find((x) => x.name === pod.name)!.ip)).toBe(pod.ip);
      }
      expect(JSON.stringify(planCluster(r.topology))).toBe(JSON.stringify(p));
    }), { seed: 1, numRuns: 200 });
    expect(planned).toBeGreaterThan(50); // the property saw enough valid topologies to mean something
  });
});

describe('Ipam', () => {
  it('allocates pod IPs from .2 until the range is full, and reuses released ones', () => {
    const a = ipam();
    a.addNode('node1', parseCidr('10.244.1.0/29'));
    expect([1, 2, 3, 4, 5].map(() => formatIpv4(a.allocatePodIp('node1')))).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5', '10.244.1.6']);
    expect(a.freePodIps('node1')).toBe(0);
    expect(thrown(() => a.allocatePodIp('node1'))).toBe('full: node "node1" podCIDR 10.244.1.0/29 is full');
    a.releasePodIp('node1', parseIpv4('10.244.1.4'));
    expect(formatIpv4(a.allocatePodIp('node1'))).toBe('10.244.1.4');
  });

  it('refuses pod IPs that are taken, reserved, outside, on unknown nodes, or not allocated', () => {
    const a = ipam();
    a.addNode('node1', parseCidr('10.244.1.0/24'));
    a.allocatePodIp('node1', parseIpv4('10.244.1.2'));
    expect(thrown(() => a.allocatePodIp('node1', parseIpv4('10.244.1.2')))).toBe('taken: pod IP 10.244.1.2 is already allocated');
    expect(thrown(() => a.allocatePodIp('node1', parseIpv4('10.244.1.1'))))
      .toBe('reserved: pod IP 10.244.1.1 is reserved (the bridge address of node "node1" podCIDR 10.244.1.0/24)');
    expect(thrown(() => a.allocatePodIp('node1', parseIpv4('10.244.1.255'))))
      .toBe('reserved: pod IP 10.244.1.255 is reserved (the broadcast address of node "node1" podCIDR 10.244.1.0/24)');
    expect(thrown(() => a.allocatePodIp('node1', parseIpv4('10.244.2.2')))).toBe('outside: pod IP 10.244.2.2 is outside node "node1" podCIDR 10.244.1.0/24');
    expect(thrown(() => a.allocatePodIp('node9'))).toBe('unknown-node: node "node9" is not known');
    expect(thrown(() => a.releasePodIp('node1', parseIpv4('10.244.1.9')))).toBe('not-allocated: pod IP 10.244.1.9 is not allocated');
    expect(thrown(() => a.addNode('node1', parseCidr('10.244.3.0/24')))).toBe('duplicate-node: node "node1" already exists');
    const e = (() => { try { a.allocatePodIp('node1', parseIpv4('10.244.1.2')); } catch (x) { return x as IpamError; } })();
    expect([e?.field, e?.value]).toEqual(['pod IP', '10.244.1.2']);
  });

  it('service IPs skip .1 (kubernetes) and .10 (kube-dns) and run out', () => {
    const a = new Ipam({ podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/28', nodeCIDR: '192.168.56.0/24' });
    const got = Array.from({ length: 12 }, () => formatIpv4(a.allocateServiceIp()).split('.')[3]);
    expect(got).toEqual(['2', '3', '4', '5', '6', '7', '8', '9', '11', '12', '13', '14']);
    expect(thrown(() => a.allocateServiceIp())).toBe('full: serviceCIDR 10.96.0.0/28 is full');
    expect(thrown(() => a.allocateServiceIp(parseIpv4('10.96.0.10')))).toBe('reserved: service IP 10.96.0.10 is reserved (kube-dns of serviceCIDR 10.96.0.0/28)');
    expect(thrown(() => a.allocateServiceIp(parseIpv4('10.96.0.1')))).toBe('reserved: service IP 10.96.0.1 is reserved (the kubernetes service of serviceCIDR 10.96.0.0/28)');
    a.releaseServiceIp(parseIpv4('10.96.0.7'));
    expect(formatIpv4(a.allocateServiceIp())).toBe('10.96.0.7');
  });

  it('NodePorts run from 30000 to 32767', () => {
    const a = ipam();
    expect(a.allocateNodePort(30001)).toBe(30001);
    expect([a.allocateNodePort(), a.allocateNodePort()]).toEqual([30000, 30002]);
    expect(thrown(() => a.allocateNodePort(30001))).toBe('taken: nodePort 30001 is already allocated');
    expect(thrown(() => a.allocateNodePort(29999))).toBe('outside: nodePort 29999 is outside 30000-32767');
    for (let i = 3; i < 2768; i++) a.allocateNodePort();
    expect(thrown(() => a.allocateNodePort())).toBe('full: nodePort range 30000-32767 is full');
    a.releaseNodePort(31000);
    expect(a.allocateNodePort()).toBe(31000);
    expect(thrown(() => a.releaseNodePort(29000))).toBe('not-allocated: nodePort 29000 is not allocated');
  });

  it('node addresses from .11 and node ranges from the second /24, around given ones', () => {
    const a = new Ipam({ podCIDR: '10.244.0.0/22', serviceCIDR: '10.96.0.0/12', nodeCIDR: '192.168.56.0/24' });
    expect(formatIpv4(a.allocateNodeIp(parseIpv4('192.168.56.12')))).toBe('192.168.56.12');
    expect([a.allocateNodeIp(), a.allocateNodeIp()].map(formatIpv4)).toEqual(['192.168.56.11', '192.168.56.13']);
    expect(thrown(() => a.allocateNodeIp(parseIpv4('192.168.56.0')))).toBe('reserved: node IP 192.168.56.0 is reserved (the network address of nodeCIDR 192.168.56.0/24)');
    expect(formatCidr(a.allocateNodePodCidr(parseCidr('10.244.2.0/24')))).toBe('10.244.2.0/24');
    expect([a.allocateNodePodCidr(), a.allocateNodePodCidr()].map(formatCidr)).toEqual(['10.244.1.0/24', '10.244.3.0/24']);
    expect(thrown(() => a.allocateNodePodCidr())).toBe('full: podCIDR 10.244.0.0/22 has no free /24 left for another node');
    expect(thrown(() => a.allocateNodePodCidr(parseCidr('10.244.2.0/25')))).toBe('taken: node podCIDR 10.244.2.0/25 overlaps 10.244.2.0/24, already allocated');
    expect(thrown(() => a.allocateNodePodCidr(parseCidr('10.245.0.0/24')))).toBe('outside: node podCIDR 10.245.0.0/24 is outside podCIDR 10.244.0.0/22');
    a.releaseNodePodCidr(parseCidr('10.244.3.0/24'));
    expect(formatCidr(a.allocateNodePodCidr())).toBe('10.244.3.0/24');
  });

  it('veth names: the lowest free vethN per node', () => {
    const a = ipam();
    a.addNode('n1', parseCidr('10.244.1.0/24'));
    a.addNode('n2', parseCidr('10.244.2.0/24'));
    expect([a.allocateVeth('n1'), a.allocateVeth('n1'), a.allocateVeth('n2')]).toEqual(['veth0', 'veth1', 'veth0']);
    a.releaseVeth('n1', 'veth0');
    expect(a.allocateVeth('n1')).toBe('veth0');
    expect(thrown(() => a.releaseVeth('n1', 'veth7'))).toBe('not-allocated: veth "veth7" is not allocated on node "n1"');
  });

  it('selectors: every key must match; an empty selector selects nothing', () => {
    expect(selectorMatches({ app: 'web' }, { app: 'web', tier: 'x' })).toBe(true);
    expect(selectorMatches({ app: 'web', tier: 'y' }, { app: 'web', tier: 'x' })).toBe(false);
    expect(selectorMatches({}, { app: 'web' })).toBe(false);
    expect(selectorMatches({ toString: 'x' }, {})).toBe(false);
  });
});
