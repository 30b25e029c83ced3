import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTopologyError, loadTopologyFile, parseTopology, validateTopology } from './topology.js';
import type { Topology, TopologyResult } from './types.js';

/** A valid base document; each test breaks one thing. */
function base(): Record<string, any> {
  return {
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [
      { name: 'pod1', node: 'node1' },
      { name: 'pod2', node: 'node1', labels: { app: 'web' }, apps: [{ type: 'http', port: 8080 }] },
      { name: 'pod3', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'http', port: 8080 }] },
    ],
    services: [{ name: 'service1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }],
  };
}

const texts = (r: TopologyResult): string[] => (r.ok ? [] : r.errors.map((e) => formatTopologyError(e)));
const warnings = (r: TopologyResult): string[] => r.warnings.map((e) => formatTopologyError(e));
function errorsOf(edit: (d: Record<string, any>) => void): string[] {
  const d = base();
  edit(d);
  const r = validateTopology(d);
  expect(r.ok).toBe(false);
  return texts(r);
}
function ok(edit: (d: Record<string, any>) => void): Extract<TopologyResult, { ok: true }> {
  const d = base();
  edit(d);
  const r = validateTopology(d);
  expect(texts(r)).toEqual([]);
  return r as Extract<TopologyResult, { ok: true }>;
}

describe('valid topologies', () => {
  it('fills every default of a minimal document', () => {
    const r = validateTopology({ nodes: [{ name: 'n1' }], pods: [{ name: 'p', node: 'n1', apps: [{ type: 'dns' }] }] });
    const want: Topology = {
      cluster: {
        name: 'podwire', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12', nodeCIDR: '192.168.56.0/24',
        overlay: 'vxlan', mtu: 1500, vxlan: { vni: 1, port: 8472, sourcePortRange: [32768, 60999], udpChecksum: false },
        proxyMode: 'iptables', ipvsScheduler: 'rr', conntrack: { max: 262144, timeouts: 'linux', kernel: '6.1', tcpBeLiberal: false },
        flushStaleUdp: true, hairpinMode: true, flowtable: false, dnsReplicas: 1, dns: { ttl: 5 }, seed: 1,
      },
      nodes: [{ name: 'n1', ip: '192.168.56.11', podCIDR: '10.244.1.0/24', bridge: 'cbr0', external: false }],
      pods: [{ name: 'p', node: 'n1', namespace: 'default', labels: {}, apps: [{ type: 'dns', port: 53 }] }],
      services: [],
    };
    expect(r).toEqual({ ok: true, topology: want, warnings: [] });
  });

  it('fills node addresses and ranges in node order around the given ones, and targetPort', () => {
    const r = ok((d) => {
      d.nodes = [{ name: 'a' }, { name: 'b', ip: '192.168.56.11', podCIDR: '10.244.1.0/24' }, { name: 'c' }];
      d.pods = [];
      d.services = [{ name: 's', ports: [{ port: 53, protocol: 'UDP' }] }];
    });
    expect(r.topology.nodes.map((n) => [n.ip, n.podCIDR])).toEqual([
      ['192.168.56.12', '10.244.2.0/24'], ['192.168.56.11', '10.244.1.0/24'], ['192.168.56.13', '10.244.3.0/24'],
    ]);
    expect(r.topology.services[0]!.ports[0]).toEqual({ port: 53, targetPort: 53, protocol: 'UDP' });
  });

  it('does not modify its input', () => {
    const d = base();
    const before = JSON.stringify(d);
    validateTopology(d);
    expect(JSON.stringify(d)).toBe(before);
  });

  it.each(['examples/demo.yaml', 'examples/three-nodes-routed.yaml'])('%s is valid, without warnings', async (f) => {
    const r = await loadTopologyFile(f);
    expect(texts(r)).toEqual([]);
    expect(warnings(r)).toEqual([]);
  });

  it('the demo has pod1, pod2 on node1, pod3 on node2, web pods with listeners, service1 80 -> 8080', () => {
    const r = parseTopology(readFileSync('examples/demo.yaml', 'utf8'));
    if (!r.ok) throw new Error(texts(r).join('\n'));
    const t = r.topology;
    expect(t.cluster.overlay).toBe('vxlan');
    expect(t.pods.map((p) => `${p.name}@${p.node}`)).toEqual(['pod1@node1', 'pod2@node1', 'pod3@node2']);
    for (const p of t.pods.slice(1)) {
      expect(p.labels).toEqual({ app: 'web' });
      expect(p.apps).toEqual([{ type: 'http', port: 8080 }, { type: 'tcp-echo', port: 7 }, { type: 'udp-echo', port: 9000 }]);
    }
    expect(t.services).toMatchObject([{ name: 'service1', type: 'ClusterIP', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }]);
  });
});

describe('schema errors', () => {
  it('unknown fields, anywhere', () => {
    expect(errorsOf((d) => { d.pods[1].nmae = 'x'; d.cluster = { overlay: 'vxlan', mtuu: 1 }; d.extra = 1; })).toEqual([
      'unknown field "extra"',
      'cluster: unknown field "mtuu"',
      'pods[1]: unknown field "nmae"',
    ]);
  });
  it('missing required fields', () => {
    expect(errorsOf((d) => { delete d.pods[0].node; delete d.services[0].ports; })).toEqual([
      'pods[0]: missing required field "node"',
      'services[0]: missing required field "ports"',
    ]);
    expect(texts(validateTopology({}))).toEqual(['missing required field "nodes"']);
  });
  it('enums', () => {
    expect(errorsOf((d) => { d.cluster = { overlay: 'geneve', ipvsScheduler: 'fifo' }; d.services[0].ports[0].protocol = 'ICMP'; })).toEqual([
      'cluster.overlay: "geneve" must be one of vxlan, routed',
      'cluster.ipvsScheduler: "fifo" must be one of rr, wrr, lc, wlc, sh, dh, sed, nq',
      'services[0].ports[0].protocol: "ICMP" must be one of TCP, UDP, SCTP',
    ]);
  });
  it('LoadBalancer IPs need type LoadBalancer; external IPs lie outside the service CIDR', () => {
    expect(errorsOf((d) => { d.services[0].loadBalancerIPs = ['198.51.100.7']; d.services[0].externalIPs = ['10.96.0.77']; })).toEqual([
      'services[0].loadBalancerIPs: ["198.51.100.7"] are only allowed when type is LoadBalancer (they are its status.loadBalancer.ingress)',
      'services[0].externalIPs[0]: "10.96.0.77" is inside cluster.serviceCIDR 10.96.0.0/12: an external IP is an address outside the cluster',
    ]);
    ok((d) => { d.services[0].type = 'LoadBalancer'; d.services[0].loadBalancerIPs = ['198.51.100.7']; d.services[0].internalTrafficPolicy = 'Local'; });
  });
  it('address formats', () => {
    expect(errorsOf((d) => {
      d.nodes[0].podCIDR = '10.244.1.0/33';
      d.nodes[1].ip = '192.168.56.256';
      d.pods[0].ip = '10.244.1';
      d.nodes[1].vtepMAC = '02:42:zz:00:00:01';
    })).toEqual([
      'nodes[0].podCIDR: "10.244.1.0/33" is not a CIDR',
      'nodes[1].ip: "192.168.56.256" is not an IPv4 address',
      'nodes[1].vtepMAC: "02:42:zz:00:00:01" is not a MAC address',
      'pods[0].ip: "10.244.1" is not an IPv4 address',
    ]);
  });
  it('names follow Kubernetes rules', () => {
    const pod = "is not a valid pod name (a DNS subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)";
    expect(errorsOf((d) => { d.pods[0].name = 'Pod_1'; d.pods[1].name = 'a'.repeat(254); d.pods[2].labels = { 'bad key': 'x' }; })).toEqual([
      `pods[0].name: "Pod_1" ${pod}`,
      `pods[1].name: "${'a'.repeat(254)}" ${pod}`,
      'pods[2].labels: key "bad key" is not a valid label key',
    ]);
    expect(errorsOf((d) => { d.nodes[0].name = 'a'.repeat(64); d.services[0].name = 'web.v1'; })).toEqual([
      `nodes[0].name: "${'a'.repeat(64)}" is not a valid name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
      `services[0].name: "web.v1" is not a valid name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
    ]);
    // Kubernetes' IsDNS1123Subdomain: labels of any length up to 253 in all, no empty label, no leading/trailing '-' or '.'.
    for (const bad of ['.a', 'a.', 'a..b', '-a', 'a-', 'a.-b', 'a_b', 'A', '']) {
      expect(errorsOf((d) => { d.pods[0].name = bad; }), bad).toEqual([`pods[0].name: ${JSON.stringify(bad)} ${pod}`]);
    }
  });
  it('cluster.hairpinMode is a boolean (default true, see the defaults test)', () => {
    expect(ok((d) => { d.cluster = { hairpinMode: false }; }).topology.cluster.hairpinMode).toBe(false);
    expect(errorsOf((d) => { d.cluster = { hairpinMode: 'yes' }; })).toEqual(['cluster.hairpinMode: "yes" must be true or false']);
  });
  it('types and ranges', () => {
    expect(errorsOf((d) => {
      d.cluster = { mtu: 'big', vxlan: { sourcePortRange: [1] } };
      d.services[0].type = 'NodePort';
      d.services[0].ports[0].nodePort = 29999;
      d.services[0].ports[0].targetPort = 70000;
      d.pods = 'none';
    })).toEqual([
      'cluster.mtu: "big" must be an integer',
      'cluster.vxlan.sourcePortRange: [1] must have exactly 2 items',
      'pods: "none" must be a list',
      'services[0].ports[0].targetPort: 70000 must be between 1 and 65535',
      'services[0].ports[0].nodePort: 29999 must be between 30000 and 32767',
    ]);
    expect(texts(validateTopology('x'))).toEqual(['"x" must be a mapping']);
    expect(errorsOf((d) => { d.nodes = []; })).toEqual(['nodes: [] must have at least 1 item']);
  });
  it('targetPort: a port number or a port name (Kubernetes IsValidPortName); anything else says which it may be', () => {
    expect(ok((d) => { d.services[0].ports[0].targetPort = 'http'; }).topology.services[0]!.ports[0]!.targetPort).toBe('http');
    const name = "is not a port number or a valid port name (1 to 15 lower-case letters, digits and '-', at least one letter, no '--', starting and ending with a letter or digit)";
    for (const bad of ['8080', 'Http', 'web--ui', '-http', 'a-very-long-port-name', '']) {
      expect(errorsOf((d) => { d.services[0].ports[0].targetPort = bad; }), bad).toEqual([`services[0].ports[0].targetPort: ${JSON.stringify(bad)} ${name}`]);
    }
    expect(errorsOf((d) => { d.services[0].ports[0].targetPort = true; })).toEqual(['services[0].ports[0].targetPort: true must be an integer or a string']);
    expect(errorsOf((d) => { d.services[0].ports[0].targetPort = 0; })).toEqual(['services[0].ports[0].targetPort: 0 must be between 1 and 65535']);
  });
  it('attach takes offloads (default false) beside netns or pid', () => {
    const r = validateTopology({ nodes: [{ name: 'node1' }], pods: [
      { name: 'a', node: 'node1', attach: { netns: 'blue', offloads: true } },
      { name: 'b', node: 'node1', attach: { pid: 42 } },
    ] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.topology.pods[0]!.attach).toEqual({ netns: 'blue', offloads: true });
    expect(r.topology.pods[1]!.attach).toEqual({ pid: 42, offloads: false });
    const bad = validateTopology({ nodes: [{ name: 'node1' }], pods: [{ name: 'a', node: 'node1', attach: { netns: 'blue', offloads: 'yes' } }] });
    expect(bad.ok).toBe(false);
  });

  it('attach takes a container by name (runtime, mode), once per container', () => {
    const r = validateTopology({ nodes: [{ name: 'node1' }], pods: [
      { name: 'a', node: 'node1', attach: { container: 'web', mode: 'second' } },
      { name: 'b', node: 'node1', attach: { container: 'db', runtime: 'podman', mode: 'veth' } },
    ] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.topology.pods[0]!.attach).toEqual({ container: 'web', mode: 'second', offloads: false });
    expect(r.topology.pods[1]!.attach).toEqual({ container: 'db', runtime: 'podman', mode: 'veth', offloads: false });
    expect(texts(validateTopology({ nodes: [{ name: 'node1' }], pods: [
      { name: 'a', node: 'node1', attach: { container: 'web' } },
      { name: 'b', node: 'node1', attach: { container: 'web' } },
      { name: 'c', node: 'node1', attach: { netns: 'blue', runtime: 'docker' } },
    ] }))).toEqual([
      'pods[1].attach.container: "web" is already attached as pods[0]',
      'pods[2].attach.runtime: "docker" needs container (it names the container\'s engine)',
    ]);
    expect(validateTopology({ nodes: [{ name: 'node1' }], pods: [{ name: 'a', node: 'node1', attach: { container: 'web', mode: 'eth9' } }] }).ok).toBe(false);
  });

  it('attach names exactly one of netns, pid', () => {
    expect(errorsOf((d) => { d.pods[0].attach = { netns: 'a', pid: 4 }; d.pods[1].attach = {}; })).toEqual([
      'pods[0].attach: {"netns":"a","pid":4} must have exactly one of netns, pid, container',
      // pods[1] of the fixture runs apps: the semantic pass reports that too
      'pods[1].apps: must be empty for an attached pod: the real namespace runs its own processes',
      'pods[1].attach: {} must have exactly one of netns, pid, container',
    ]);
  });
});

describe('semantic errors', () => {
  it('a pod on an unknown node', () => {
    expect(errorsOf((d) => { d.pods[2].node = 'node9'; })).toEqual(['pods[2].node: "node9" is not a node']);
  });
  it('duplicate names (pods and services per namespace)', () => {
    expect(errorsOf((d) => {
      d.nodes.push({ name: 'node1' });
      d.pods.push({ name: 'pod1', node: 'node2' }, { name: 'pod1', node: 'node2', namespace: 'other' });
      d.services.push({ name: 'service1', ports: [{ port: 81 }] });
    })).toEqual([
      'nodes[2].name: "node1" is a duplicate of nodes[0]',
      'pods[3].name: "pod1" is a duplicate of pods[0] (namespace "default")',
      'services[1].name: "service1" is a duplicate of services[0] (namespace "default")',
    ]);
  });
  it('CIDRs with host bits', () => {
    expect(errorsOf((d) => { d.cluster = { podCIDR: '10.244.1.0/16' }; d.nodes[0].podCIDR = '10.244.1.1/24'; })).toEqual([
      'cluster.podCIDR: "10.244.1.0/16" has host bits set (did you mean 10.244.0.0/16?)',
      'nodes[0].podCIDR: "10.244.1.1/24" has host bits set (did you mean 10.244.1.0/24?)',
    ]);
  });
  it('overlapping cluster CIDRs', () => {
    expect(errorsOf((d) => { d.cluster = { podCIDR: '10.0.0.0/8', serviceCIDR: '10.96.0.0/12', nodeCIDR: '10.1.0.0/24' }; })).toEqual([
      'cluster.serviceCIDR: "10.96.0.0/12" overlaps cluster.podCIDR 10.0.0.0/8',
      'cluster.nodeCIDR: "10.1.0.0/24" overlaps cluster.podCIDR 10.0.0.0/8',
    ]);
  });
  it('node podCIDRs overlapping each other, outside the cluster podCIDR, or too small', () => {
    expect(errorsOf((d) => {
      d.nodes = [
        { name: 'node1', podCIDR: '10.244.1.0/24' }, { name: 'node2', podCIDR: '10.244.0.0/23' },
        { name: 'node3', podCIDR: '10.245.1.0/24' }, { name: 'node4', podCIDR: '10.244.9.0/31' },
      ];
    })).toEqual([
      'nodes[1].podCIDR: "10.244.0.0/23" overlaps nodes[0].podCIDR 10.244.1.0/24',
      'nodes[2].podCIDR: "10.245.1.0/24" is outside cluster.podCIDR 10.244.0.0/16',
      'nodes[3].podCIDR: "10.244.9.0/31" is too small for a node (at most /30: network, bridge, a pod, broadcast)',
    ]);
  });
  it('node addresses outside nodeCIDR, reserved or taken twice', () => {
    expect(errorsOf((d) => {
      d.nodes = [{ name: 'a', ip: '192.168.57.1' }, { name: 'b', ip: '192.168.56.255' }, { name: 'c', ip: '192.168.56.5' }, { name: 'e', ip: '192.168.56.5' }];
      d.pods = [];
    })).toEqual([
      'nodes[0].ip: "192.168.57.1" is outside cluster.nodeCIDR 192.168.56.0/24',
      'nodes[1].ip: "192.168.56.255" is the broadcast address of cluster.nodeCIDR 192.168.56.0/24',
      'nodes[3].ip: "192.168.56.5" is already used by nodes[2]',
    ]);
  });
  it('pod IPs outside the node range, reserved, or taken twice', () => {
    expect(errorsOf((d) => {
      d.pods = [
        { name: 'a', node: 'node1', ip: '10.244.2.5' }, { name: 'b', node: 'node1', ip: '10.244.1.0' },
        { name: 'c', node: 'node1', ip: '10.244.1.1' }, { name: 'e', node: 'node1', ip: '10.244.1.255' },
        { name: 'f', node: 'node1', ip: '10.244.1.7' }, { name: 'g', node: 'node1', ip: '10.244.1.7' },
      ];
      d.services = [];
    })).toEqual([
      'pods[0].ip: "10.244.2.5" is outside node "node1" podCIDR 10.244.1.0/24',
      'pods[1].ip: "10.244.1.0" is the network address of node "node1" podCIDR 10.244.1.0/24',
      'pods[2].ip: "10.244.1.1" is the bridge address of node "node1" (cbr0)',
      'pods[3].ip: "10.244.1.255" is the broadcast address of node "node1" podCIDR 10.244.1.0/24',
      'pods[5].ip: "10.244.1.7" is already used by pods[4]',
    ]);
  });
  it('a node podCIDR too small for its pods (kube-dns counts)', () => {
    expect(errorsOf((d) => {
      d.nodes[0].podCIDR = '10.244.1.0/30';
      d.pods = [{ name: 'a', node: 'node1' }];
      d.services = [];
    })).toEqual(['nodes[0].podCIDR: "10.244.1.0/30" is too small for the 2 pods on node "node1" (room for 1)']);
    ok((d) => { d.nodes[0].podCIDR = '10.244.1.0/30'; d.pods = [{ name: 'a', node: 'node1' }]; d.services = []; d.cluster = { dnsReplicas: 0 }; });
  });
  it('too many nodes for the podCIDR split, or for nodeCIDR', () => {
    expect(errorsOf((d) => { d.cluster = { podCIDR: '10.244.0.0/23' }; })).toEqual([
      'cluster.podCIDR: "10.244.0.0/23" has no /24 left for nodes[1] "node2": too many nodes (each node gets the next /24, from the second one on)',
    ]);
    expect(errorsOf((d) => { d.cluster = { nodeCIDR: '192.168.56.0/28' }; d.nodes = ['a', 'b', 'c', 'e', 'f'].map((name) => ({ name })); d.pods = []; })).toEqual([
      'cluster.nodeCIDR: "192.168.56.0/28" has no address left for nodes[4] "f" (node addresses are given from .11 upward)',
    ]);
  });
  it('service clusterIPs outside serviceCIDR, reserved or taken twice; serviceCIDR too small', () => {
    expect(errorsOf((d) => {
      d.services = ['10.112.0.1', '10.96.0.1', '10.96.0.10', '10.96.0.20', '10.96.0.20', '10.111.255.255'].map((clusterIP, i) => ({
        name: `s${i}`, clusterIP, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }],
      }));
    })).toEqual([
      'services[0].clusterIP: "10.112.0.1" is outside cluster.serviceCIDR 10.96.0.0/12',
      'services[1].clusterIP: "10.96.0.1" is reserved for the kubernetes service',
      'services[2].clusterIP: "10.96.0.10" is reserved for kube-dns',
      'services[4].clusterIP: "10.96.0.20" is already used by services[3]',
      'services[5].clusterIP: "10.111.255.255" is the broadcast address of cluster.serviceCIDR 10.96.0.0/12',
    ]);
    expect(errorsOf((d) => { d.cluster = { serviceCIDR: '10.96.0.0/29' }; })).toEqual([
      'cluster.serviceCIDR: "10.96.0.0/29" is too small: it must hold .1 (kubernetes) and .10 (kube-dns)',
    ]);
  });
  it('a serviceCIDR with no address left', () => {
    expect(errorsOf((d) => {
      d.cluster = { serviceCIDR: '10.96.0.0/28' };
      d.services = Array.from({ length: 13 }, (_, i) => ({ name: `s${i}`, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    })).toEqual(['cluster.serviceCIDR: "10.96.0.0/28" is too small for the 13 services (room for 12)']);
    ok((d) => {
      d.cluster = { serviceCIDR: '10.96.0.0/28' };
      d.services = Array.from({ length: 12 }, (_, i) => ({ name: `s${i}`, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    });
  });
  it('nodePorts: only on NodePort services, never twice (but TCP and UDP may share one within a service)', () => {
    expect(errorsOf((d) => {
      d.services = [
        { name: 'a', type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'x', port: 80, targetPort: 8080, nodePort: 30080 }] },
        { name: 'b', type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080, nodePort: 30080 }] },
        { name: 'c', selector: { app: 'web' }, ports: [{ port: 82, targetPort: 8080, nodePort: 30082 }] },
      ];
    })).toEqual([
      'services[1].ports[0].nodePort: 30080 is already used by services[0].ports[0]',
      'services[2].ports[0].nodePort: 30082 is only allowed when type is NodePort or LoadBalancer',
    ]);
    ok((d) => {
      d.pods[1].apps.push({ type: 'dns' });
      d.services = [{ name: 'dns', type: 'NodePort', selector: { app: 'web' }, ports: [
        { name: 'u', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 't', port: 53, protocol: 'TCP', nodePort: 30053 }] }];
    });
  });
  it('service ports: duplicate names, duplicate port/protocol, unnamed ports in a multi-port service', () => {
    expect(errorsOf((d) => {
      d.services[0].ports = [
        { name: 'http', port: 80, targetPort: 8080 }, { name: 'http', port: 81, targetPort: 8080 },
        { name: 'again', port: 80, targetPort: 8080 }, { port: 82, targetPort: 8080 },
      ];
    })).toEqual([
      'services[0].ports[1].name: "http" is a duplicate of ports[0]',
      'services[0].ports[2].port: 80 is a duplicate of ports[0] (TCP)',
      'services[0].ports[3]: missing required field "name" (every port of a service with several ports needs one)',
    ]);
  });
  it('apps of a pod on the same port and protocol; apps in an attached pod', () => {
    expect(errorsOf((d) => {
      d.pods[1].apps = [{ type: 'http', port: 8080 }, { type: 'tcp-echo', port: 8080 }, { type: 'udp-echo', port: 53 }, { type: 'dns' }];
      d.pods[0].attach = { netns: 'blue' };
      d.pods[0].apps = [{ type: 'http' }];
      d.pods.push({ name: 'pod4', node: 'node2', attach: { netns: 'blue' } });
    })).toEqual([
      'pods[0].apps: must be empty for an attached pod: the real namespace runs its own processes',
      'pods[1].apps[1].port: 8080 is already used by apps[0] (TCP)',
      'pods[1].apps[3].port: 53 is already used by apps[2] (UDP)',
      'pods[3].attach.netns: "blue" is already attached as pods[0]',
    ]);
  });
  it('external nodes need vtepIP, vtepMAC and podCIDR; emulated nodes may not have them', () => {
    expect(errorsOf((d) => {
      d.nodes[1].external = true;
      d.nodes[1].vtepMAC = '01:00:5e:00:00:01';
      d.nodes[0].vtepIP = '192.168.56.1';
    })).toEqual([
      'nodes[0].vtepIP: "192.168.56.1" is only allowed when external is true',
      'nodes[1]: missing required field "vtepIP" (the node is external)',
      'nodes[1]: missing required field "podCIDR" (the node is external)',
      'nodes[1].vtepMAC: "01:00:5e:00:00:01" is not a unicast MAC address',
    ]);
    ok((d) => { Object.assign(d.nodes[1], { external: true, vtepIP: '192.168.56.1', vtepMAC: '0e:00:00:00:00:01', podCIDR: '10.244.2.0/24', vtep: { bind: '127.0.0.1:8472' } }); });
  });
  it('cluster DNS needs an emulated node, and reserves its names', () => {
    expect(errorsOf((d) => {
      d.nodes = [{ name: 'x', external: true, vtepIP: '10.0.0.1', vtepMAC: '0e:00:00:00:00:01', podCIDR: '10.244.1.0/24' }];
      d.pods = [];
      d.services = [];
    })).toEqual(['cluster.dnsReplicas: 1 needs a node that is not external']);
    expect(errorsOf((d) => {
      d.pods.push({ name: 'kube-dns-1', namespace: 'kube-system', node: 'node1' });
      d.services.push({ name: 'kube-dns', namespace: 'kube-system', ports: [{ port: 53 }] }, { name: 'kubernetes', ports: [{ port: 443 }] });
    })).toEqual([
      'pods[3].name: "kube-dns-1" is reserved in namespace "kube-system" for the cluster DNS (cluster.dnsReplicas)',
      'services[1].name: "kube-dns" is reserved in namespace "kube-system" for the cluster DNS (cluster.dnsReplicas)',
      'services[2].name: "kubernetes" is reserved in namespace "default" (the API server\'s service)',
    ]);
  });
  it('a VXLAN source port range upside down', () => {
    expect(errorsOf((d) => { d.cluster = { vxlan: { sourcePortRange: [60999, 32768] } }; })).toEqual([
      'cluster.vxlan.sourcePortRange: [60999,32768] must be [low, high] with low <= high',
    ]);
  });
  it('weights naming a pod that does not exist', () => {
    expect(errorsOf((d) => { d.cluster = { proxyMode: 'ipvs' }; d.services[0].scheduler = 'wrr'; d.services[0].weights = { pod2: 2, 'pod-9': 1 }; })).toEqual([
      'services[0].weights["pod-9"]: "pod-9" is not a pod in namespace "default"',
    ]);
  });
  it('reports every error at once, with the value', () => {
    const r = validateTopology({ ...base(), pods: [{ name: 'a', node: 'x' }, { name: 'b', node: 'y' }, { name: 'a', node: 'node1' }] });
    expect(r.ok ? [] : r.errors).toEqual([
      { path: 'pods[0].node', value: 'x', message: '"x" is not a node' },
      { path: 'pods[1].node', value: 'y', message: '"y" is not a node' },
      { path: 'pods[2].name', value: 'a', message: '"a" is a duplicate of pods[0] (namespace "default")' },
    ]);
  });
});

describe('warnings', () => {
  it('selectors that match nothing, services without a listener, settings with no effect', () => {
    const r = ok((d) => {
      d.services = [
        { name: 'a', selector: { app: 'db' }, ports: [{ port: 80 }] },
        { name: 'b', ports: [{ port: 80 }] },
        { name: 'c', selector: { app: 'web' }, scheduler: 'sh', weights: { pod1: 3 }, ports: [{ port: 80 }] },
      ];
    });
    expect(warnings(r)).toEqual([
      'services[0].selector: {"app":"db"} matches no pod in namespace "default"',
      'services[1].selector: {} selects no pods: the service has no endpoints',
      'services[2].ports[0].targetPort: 80 has no TCP app listening on "pod2", "pod3"',
      'services[2].scheduler: "sh" has no effect: cluster.proxyMode is iptables',
      'services[2].weights: have no effect: only the ipvs schedulers wrr and wlc use weights',
      'services[2].weights.pod1: "pod1" is not selected by this service',
    ]);
  });

  it('a named targetPort: resolved on each selected pod (its listener checked at its own port); warned about only when no selected pod has it', () => {
    const r = ok((d) => {
      d.pods[1].ports = [{ name: 'http', containerPort: 8080 }];
      d.pods[2].ports = [{ name: 'http', containerPort: 9090 }];
      d.pods.push({ name: 'pod4', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'http', port: 7000 }] });
      d.services = [{ name: 'web', selector: { app: 'web' }, ports: [
        { name: 'http', port: 80, targetPort: 'http' }, { name: 'grpc', port: 90, targetPort: 'grpc' }, { name: 'udp', port: 91, targetPort: 'http', protocol: 'UDP' },
      ] }];
    });
    // pod2 listens on 8080; pod3 declares 9090 but listens on 8080 only; pod4 has no "http": no endpoint, no warning.
    expect(warnings(r)).toEqual([
      'services[0].ports[0].targetPort: "http" has no TCP app listening on "pod3" (9090)',
      'services[0].ports[1].targetPort: "grpc" is not a TCP container port of any selected pod ("pod2", "pod3", "pod4"): the port has no endpoints',
      'services[0].ports[2].targetPort: "http" is not a UDP container port of any selected pod ("pod2", "pod3", "pod4"): the port has no endpoints',
    ]);
  });
});

describe('YAML input', () => {
  it('syntax errors carry line and column', () => {
    const r = parseTopology('nodes:\n  - name: a\n    bad: [1, 2\n', 'x.yaml');
    expect(r.ok).toBe(false);
    const e = r.ok ? undefined : r.errors[0]!;
    expect(e).toMatchObject({ path: '', source: 'x.yaml', line: 4, column: 1 });
    expect(formatTopologyError(e!, { location: true })).toMatch(/^x\.yaml:4:1: YAML syntax error at line 4, column 1: /);
  });
  it('duplicate keys are errors', () => {
    const r = parseTopology('nodes:\n  - name: a\n    name: b\n');
    expect(texts(r)).toEqual(['YAML syntax error at line 3, column 5: Map keys must be unique']);
  });
  it('an empty document', () => {
    expect(texts(parseTopology('# nothing\n'))).toEqual(['the document is empty']);
  });
  it('schema and semantic errors point at the line of the bad value', () => {
    const text = 'nodes:\n  - name: node1\npods:\n  - name: pod1\n    node: node9\n  - name: pod2\n    nmae: x\n    node: node1\n';
    const r1 = parseTopology(text, 'demo.yaml');
    expect(r1.ok ? [] : r1.errors.map((e) => formatTopologyError(e, { location: true }))).toEqual([
      'demo.yaml:7:11: pods[1]: unknown field "nmae"',
    ]);
    const r2 = parseTopology(text.replace('    nmae: x\n', ''), 'demo.yaml');
    expect(r2.ok ? [] : r2.errors.map((e) => formatTopologyError(e, { location: true }))).toEqual([
      'demo.yaml:5:11: pods[0].node: "node9" is not a node',
    ]);
  });
  it('loadTopologyFile reports a file it cannot read', async () => {
    const r = await loadTopologyFile('/nonexistent/podwire.yaml');
    expect(texts(r)).toEqual(['cannot read "/nonexistent/podwire.yaml": ENOENT']);
  });
  it('loadTopologyFile reads a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podwire-'));
    writeFileSync(join(dir, 't.yaml'), 'nodes: [ { name: n1 } ]\n');
    const r = await loadTopologyFile(join(dir, 't.yaml'));
    expect(r.ok && r.topology.nodes[0]!.ip).toBe('192.168.56.11');
  });
});

describe('names: any valid Kubernetes pod name, podwire\'s own names kept apart', () => {
  // Names podwire uses for its own elements, or that read like one: every one a valid pod name.
  const colliding = ['root', 'cbr0', 'veth0', 'veth1', 'flannel', 'flannel.1', 'eth0', 'lo', 'conntrack', 'kube-proxy', 'underlay', 'node1', '1', 'web.v1', 'pod', 'all'];
  it('accepts pods named like internal elements, dotted names, 253 characters, and namespace "1"', () => {
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(long.length).toBe(253);
    const r = ok((d) => {
      d.pods = [...colliding.map((name) => ({ name, node: 'node1' })), { name: long, node: 'node2' }, { name: 'flannel', namespace: '1', node: 'node2' }, { name: 'a'.repeat(200), node: 'node2' }];
      d.services = [];
      d.cluster = { proxyMode: 'ipvs' };
    });
    expect(r.topology.pods.map((p) => p.name)).toEqual([...colliding, long, 'flannel', 'a'.repeat(200)]);
  });
  it('service weights may name a dotted pod', () => {
    ok((d) => {
      d.cluster = { proxyMode: 'ipvs' };
      d.pods[1].name = 'web.v1';
      d.services[0].scheduler = 'wrr';
      d.services[0].weights = { 'web.v1': 3 };
    });
  });
  it('refuses a node bridge named like an interface the root namespace has, a veth, or a node element', () => {
    const errs = errorsOf((d) => {
      d.nodes = ['eth0', 'lo', 'flannel.1', 'veth0', 'veth12', 'root', 'conntrack', 'kube-proxy', '..'].map((bridge, i) => ({ name: `n${i}`, bridge }));
      d.pods = [];
      d.services = [];
    });
    expect(errs).toEqual([
      'nodes[0].bridge: "eth0" is an interface every node\'s root namespace already has (lo, eth0, flannel.1)',
      'nodes[1].bridge: "lo" is an interface every node\'s root namespace already has (lo, eth0, flannel.1)',
      'nodes[2].bridge: "flannel.1" is an interface every node\'s root namespace already has (lo, eth0, flannel.1)',
      'nodes[3].bridge: "veth0" is the name of a pod\'s veth host end (veth0, veth1, ... are allocated by podwire)',
      'nodes[4].bridge: "veth12" is the name of a pod\'s veth host end (veth0, veth1, ... are allocated by podwire)',
      'nodes[5].bridge: "root" is reserved for podwire\'s own elements of a node (root, conntrack, kube-proxy)',
      'nodes[6].bridge: "conntrack" is reserved for podwire\'s own elements of a node (root, conntrack, kube-proxy)',
      'nodes[7].bridge: "kube-proxy" is reserved for podwire\'s own elements of a node (root, conntrack, kube-proxy)',
      'nodes[8].bridge: ".." is not a valid interface name (Linux: dev_valid_name)',
    ]);
  });
  it('allows flannel.1 as a bridge when routed (no VXLAN device), and any other interface name', () => {
    ok((d) => { d.cluster = { overlay: 'routed' }; d.nodes[0].bridge = 'flannel.1'; d.nodes[1].bridge = 'br-pods.7'; });
    ok((d) => { d.nodes[0].bridge = 'veth'; d.nodes[1].bridge = 'veth01'; });
  });
  it('reserves kubernetes (default) and kube-dns (kube-system, with cluster DNS) only there', () => {
    expect(errorsOf((d) => { d.services.push({ name: 'kubernetes', ports: [{ port: 443 }] }); })).toEqual([
      'services[1].name: "kubernetes" is reserved in namespace "default" (the API server\'s service)',
    ]);
    ok((d) => { d.services.push({ name: 'kubernetes', namespace: 'other', ports: [{ port: 443 }] }, { name: 'kube-dns', ports: [{ port: 53 }] }); });
    ok((d) => { d.cluster = { dnsReplicas: 0 }; d.services.push({ name: 'kube-dns', namespace: 'kube-system', ports: [{ port: 53 }] }); });
  });
});
