/**
 * Pod names that read like podwire's own element names (issue 13, "Pod names that collide
 * with internal element names"): any valid Kubernetes pod name works. In-process, on the
 * demo cluster behind the control façade, for every such name at once: add, trace both
 * ways, capture its eth0, find it once in stats, delete (nothing left behind), re-create.
 * Then: adding a pod or a service that fails half-way leaves nothing behind, and the
 * reserved service names are refused by the library as by `validate`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { podElementKey } from '../../src/kube/names.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import { runTrace } from '../../src/kube/trace.js';
import { Cluster } from '../../src/kube/cluster.js';
import { validateTopology } from '../../src/kube/topology.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { consistencyProblems, demoController, type Harness } from './helpers.js';

const LONG = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`; // 253: the longest pod name

/** name, namespace, the key the API and traces use, and how hops, captures and stats show it. */
const CASES: { name: string; namespace?: string; key: string; shown: string }[] = [
  { name: 'root', key: 'root', shown: 'root.default' }, // the root namespace's element `node1/root`
  { name: 'cbr0', key: 'cbr0', shown: 'cbr0' }, // the bridge `node1/cbr0`
  { name: 'veth0', key: 'veth0', shown: 'veth0' }, // pod1's veth `node1/veth0`
  { name: 'veth5', key: 'veth5', shown: 'veth5' }, // a veth the next pods get
  { name: 'flannel', key: 'flannel', shown: 'flannel' },
  { name: 'flannel', namespace: '1', key: 'flannel.1', shown: 'flannel.1' }, // the VXLAN device `node1/flannel.1`
  { name: 'flannel.1', key: 'flannel.1.default', shown: 'flannel.1.default' },
  { name: 'eth0', key: 'eth0', shown: 'eth0' },
  { name: 'conntrack', key: 'conntrack', shown: 'conntrack' }, // `node1/conntrack`, a drop owner
  { name: 'kube-proxy', key: 'kube-proxy', shown: 'kube-proxy' },
  { name: 'underlay', key: 'underlay', shown: 'underlay.default' }, // the switch
  { name: 'node1', key: 'node1', shown: 'node1.default' }, // `node1/eth0` is the node's
  { name: 'node2', key: 'node2', shown: 'node2.default' },
  { name: '1', key: '1', shown: '1' },
  { name: 'pod', key: 'pod', shown: 'pod' },
  { name: 'web.v1', key: 'web.v1.default', shown: 'web.v1.default' },
  { name: 'web', namespace: 'v1', key: 'web.v1', shown: 'web.v1' },
  { name: 'root', namespace: 'kube-system', key: 'root.kube-system', shown: 'root.kube-system' },
  { name: '10.244.1.9', key: '10.244.1.9.default', shown: '10.244.1.9.default' },
  { name: LONG, key: `${LONG}.default`, shown: `${LONG}.default` },
];

/** What a pod or service leaves in the books: registry keys, bridge ports, plan, runtime pods, services. */
function books(c: Cluster): Record<string, unknown> {
  return {
    elements: [...c.engine.elements.keys()].sort(),
    counted: [...c.engine.counted.keys()].sort(),
    bridgePorts: [...c.nodes.values()].map((n) => n.bridge.portList().map((p) => p.name)),
    planPods: c.plan.pods.map((p) => `${p.namespace}/${p.name} ${p.ip} ${p.veth}`),
    pods: [...c.pods.keys()].sort(),
    services: c.plan.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIP} [${s.endpoints.join(',')}]`),
    owners: c.engine.countedOwners().length,
  };
}

let h: Harness;
beforeEach(async () => { h = await demoController(); });
afterEach(async () => { await h.done(); });

describe('pods named like podwire\'s own elements', () => {
  it('every one can be added, traced both ways, captured, counted, deleted and re-created', async () => {
    const c = h.cluster;
    const before = books(c);
    const added = async (): Promise<Map<string, string>> => {
      const ips = new Map<string, string>();
      for (const k of CASES) {
        const node = k.name.endsWith('2') ? 'node2' : 'node1';
        const v = await h.ctl.addPod({ name: k.name, node, ...(k.namespace !== undefined ? { namespace: k.namespace } : {}) });
        expect(v.key, k.name).toBe(k.key);
        ips.set(k.key, v.ip);
      }
      expect(consistencyProblems(c)).toEqual([]);
      return ips;
    };
    const first = await added();

    const stats = h.ctl.stats() as { elements: { name: string }[]; interfaces: Record<string, unknown> };
    const names = stats.elements.map((e) => e.name);
    expect(new Set(names).size, 'element names in stats are unique').toBe(names.length);
    const points = c.capturePoints().map((p) => p.name);
    expect(new Set(points).size, 'capture point names are unique').toBe(points.length);

    for (const k of CASES) {
      const rt = c.pod(k.key);
      expect(rt.ns.name, k.key).toBe(k.shown);
      expect(c.pod(k.shown)).toBe(rt); // the display name finds it too
      expect(c.engine.elements.get(podElementKey(rt.plan.node, k.key))).toBe(rt.ns);
      expect(names).toContain(podElementKey(rt.plan.node, k.key));
      expect(stats.interfaces[`${k.shown}/eth0`], k.key).toBeDefined();

      // Capture the pod's eth0 while it is traced from pod1 and traces to pod3.
      const cap = h.ctl.captures.start({ interfaces: [`${k.shown}/eth0`] });
      const to = await h.ctl.trace({ from: 'pod1', to: k.key, proto: 'icmp' });
      expect(to.request.delivered, `pod1 -> ${k.key}: ${to.request.dropReason}`).toBe(true);
      expect(to.reply?.delivered, `${k.key} -> pod1 (reply)`).toBe(true);
      const deliver = to.request.hops.filter((x) => x.action === 'deliver').at(-1)!; // (node2 first delivers the VXLAN datagram)
      expect(deliver.netns).toBe(k.shown);
      // The text names the pod, never "the root namespace" for a pod called root.
      const text = renderTrace(runTrace(c, { from: 'pod1', to: k.shown }));
      expect(text).toContain(`arrives on ${k.shown}'s eth0`);
      const from = await h.ctl.trace({ from: k.shown, to: 'pod3', proto: 'udp', port: 9000 });
      expect(from.request.delivered, `${k.key} -> pod3`).toBe(true);
      expect(from.reply?.delivered, `pod3 -> ${k.key} (echo)`).toBe(true);
      const info = h.ctl.captures.stop(cap.id);
      expect(info.interfaces).toEqual([`${k.shown}/eth0`]);
      expect(info.packets, `${k.shown}/eth0 captured`).toBeGreaterThanOrEqual(8); // 2x echo + reply, echo + reply, ARP
    }

    for (const k of CASES) expect(await h.ctl.removePod(k.key)).toEqual({ removed: k.key, detached: false });
    expect(books(c)).toEqual(before);
    expect(consistencyProblems(c)).toEqual([]);

    const again = await added();
    expect(again).toEqual(first); // addresses and veths were released and are given again in the same order
    for (const k of CASES) {
      const r = await h.ctl.trace({ from: k.key, to: 'pod2', proto: 'tcp', port: 8080 });
      expect(r.request.delivered && r.reply?.delivered, k.key).toBe(true);
    }
    // Deleting by the display name works as well.
    expect(await h.ctl.removePod('root.default')).toEqual({ removed: 'root', detached: false });
  });
});

describe('a topology file with such pods', () => {
  it('validates, builds and traces (it used to validate, then fail to build)', () => {
    const r = validateTopology({
      cluster: { dnsReplicas: 1 },
      nodes: [{ name: 'node1' }, { name: 'node2', bridge: 'br-pods' }],
      pods: [
        { name: 'root', node: 'node1', apps: [{ type: 'udp-echo', port: 7 }] }, { name: 'cbr0', node: 'node1' }, { name: 'veth0', node: 'node1' },
        { name: 'flannel', namespace: '1', node: 'node1' }, { name: 'node1', node: 'node2' }, { name: 'br-pods', node: 'node2' },
        { name: 'web.v1', node: 'node2', labels: { app: 'web' }, apps: [{ type: 'http', port: 80 }] },
      ],
      services: [{ name: 'web', selector: { app: 'web' }, ports: [{ port: 80 }] }],
    });
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (!r.ok) return;
    const c = new Cluster(r.topology);
    try {
      expect([...c.pods.keys()].sort()).toEqual(['br-pods', 'cbr0', 'flannel.1', 'kube-dns-1.kube-system', 'node1', 'root', 'veth0', 'web.v1.default']);
      for (const [from, to] of [['root', 'cbr0'], ['veth0', 'node1'], ['flannel.1', 'br-pods'], ['node1.default', 'root.default'], ['cbr0', 'web.v1.default']]) {
        const t = runTrace(c, { from: from!, to: to! });
        expect(t.request.delivered && t.reply?.delivered, `${from} -> ${to}`).toBe(true);
      }
      const svc = runTrace(c, { from: 'root', to: 'web', proto: 'tcp', port: 80 });
      expect(svc.request.delivered, 'root -> service web -> web.v1').toBe(true);
      expect(c.plan.services.find((s) => s.name === 'web')!.endpoints).toEqual(['web.v1']);
      const udp = runTrace(c, { from: 'node1', to: 'root', proto: 'udp', port: 7 });
      expect(udp.reply?.delivered, 'udp-echo in the pod called root answers').toBe(true);
    } finally {
      c.close();
    }
  });
});

describe('other names a topology gives', () => {
  it('a node called underlay: its pods are not "the cluster network" in the trace text', () => {
    const r = validateTopology({ nodes: [{ name: 'underlay' }, { name: 'node2' }], pods: [{ name: 'a', node: 'underlay' }, { name: 'underlay', node: 'node2' }] });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const c = new Cluster(r.topology);
    try {
      const t = runTrace(c, { from: 'a', to: 'underlay' });
      expect(t.request.delivered && t.reply?.delivered).toBe(true);
      const text = renderTrace(t);
      expect(text).toContain('a sends an ICMP packet');
      expect(text).toContain("arrives on underlay.default's eth0");
      expect(text.match(/cluster network/g)?.length).toBe(2); // the underlay switch, there and back
    } finally {
      c.close();
    }
  });
});

describe('all or nothing', () => {
  it('a pod whose apps fail to start leaves nothing behind, and the name can be used right after', () => {
    const c = h.cluster;
    const before = books(c);
    // Two apps on TCP port 80: the second bind fails after the namespace, veth and first app exist.
    expect(() => c.addPod({ name: 'half', node: 'node1', apps: [{ type: 'http', port: 80 }, { type: 'tcp-echo', port: 80 }] }))
      .toThrow(/port 80 is in use/);
    expect(books(c)).toEqual(before);
    expect(consistencyProblems(c)).toEqual([]);
    const rt = c.addPod({ name: 'half', node: 'node1', apps: [{ type: 'http', port: 80 }] });
    expect(rt.plan.veth).toBe('veth3'); // (pod1, pod2, kube-dns-1 have 0-2) the failed attempt's veth and address were released
    expect(runTrace(c, { from: 'pod1', to: 'half', proto: 'tcp', port: 80 }).request.delivered).toBe(true);
  });

  it('a pod whose endpoint sync fails after it was wired is unwired again', () => {
    const c = h.cluster;
    const before = books(c);
    const proxy = c.services.proxies.get('node1')!;
    const sync = proxy.sync.bind(proxy);
    let fail = true;
    proxy.sync = (s) => { if (fail) { fail = false; throw new Error('injected sync failure'); } sync(s); };
    expect(() => c.addPod({ name: 'late', node: 'node1', labels: { app: 'web' } })).toThrow('injected sync failure');
    expect(books(c)).toEqual(before);
    expect(consistencyProblems(c)).toEqual([]);
    expect(c.addPod({ name: 'late', node: 'node1', labels: { app: 'web' } }).plan.veth).toBe('veth3');
    expect(c.plan.services.find((s) => s.name === 'service1')!.endpoints).toContain('late');
  });

  it('a service whose sync fails after it was planned is forgotten: no plan, no DNS name, IP free again', () => {
    const c = h.cluster;
    const before = books(c);
    const proxy = c.services.proxies.get('node2')!;
    const sync = proxy.sync.bind(proxy);
    let fail = true;
    proxy.sync = (s) => { if (fail) { fail = false; throw new Error('injected sync failure'); } sync(s); };
    expect(() => c.addService({ name: 'svc9', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] })).toThrow('injected sync failure');
    expect(books(c)).toEqual(before);
    expect(c.services.records.answer('svc9.default.svc.cluster.local', 1).rcode).toBe(3); // NXDOMAIN
    const s = c.addService({ name: 'svc9', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    expect(formatIpv4(s.clusterIP)).toBe('10.96.0.3'); // the next free one after service1's .2: the failed attempt's was released
    expect(c.services.records.answer('svc9.default.svc.cluster.local', 1).answers.length).toBe(1);
  });

  it('refuses the reserved service names as validate does, and the kubernetes DNS name stays', () => {
    const c = h.cluster;
    const api = c.services.records.answer('kubernetes.default.svc.cluster.local', 1);
    expect(() => c.addService({ name: 'kubernetes', ports: [{ port: 443 }] })).toThrow('"kubernetes" is reserved in namespace "default"');
    expect(() => c.addService({ name: 'kube-dns', namespace: 'kube-system', ports: [{ port: 53 }] })).toThrow('is reserved in namespace "kube-system"');
    expect(c.services.records.answer('kubernetes.default.svc.cluster.local', 1)).toEqual(api);
    expect(c.addService({ name: 'kubernetes', namespace: 'other', ports: [{ port: 443 }] }).namespace).toBe('other');
  });
});
