import { describe, expect, it } from 'vitest';
import { Cluster } from '../kube/cluster.js';
import { validateTopology } from '../kube/topology.js';
import { effectiveOffloads, resolvConfLines, tapAliasFor, tapNameFor } from './attach.js';

function cluster(): Cluster {
  const r = validateTopology({
    cluster: { name: 'demo' },
    nodes: [{ name: 'node1' }],
    pods: [
      { name: 'real', node: 'node1', labels: { app: 'web' }, attach: { netns: 'realns' } },
      { name: 'emu', node: 'node1' },
    ],
    services: [{ name: 'web', selector: { app: 'web' }, ports: [{ port: 80 }] }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new Cluster(r.topology);
}

describe('attach (no root)', () => {
  it('offload mode: the caller\'s explicit option wins over the topology\'s attach.offloads', () => {
    expect(effectiveOffloads({ offloads: true }, { netns: 'a', offloads: false })).toBe(true);
    expect(effectiveOffloads({ offloads: false }, { netns: 'a', offloads: true })).toBe(false);
    expect(effectiveOffloads({}, { netns: 'a', offloads: true })).toBe(true);
    expect(effectiveOffloads({}, { pid: 7 })).toBeUndefined();
  });

  it('names the TAP pwa + 8 hex digits of the cluster and pod, stable and within IFNAMSIZ', () => {
    expect(tapNameFor('demo', 'pod1')).toMatch(/^pwa[0-9a-f]{8}$/);
    expect(tapNameFor('demo', 'pod1')).toBe(tapNameFor('demo', 'pod1'));
    expect(tapNameFor('demo', 'pod1')).not.toBe(tapNameFor('demo', 'pod2'));
    expect(tapNameFor('other', 'pod1')).not.toBe(tapNameFor('demo', 'pod1'));
    expect(tapAliasFor('demo', 'web.shop')).toBe('podwire:demo/web.shop');
  });

  it('keeps the alias of a pod with a long name within IFALIASZ, and one per pod', () => {
    const cl = 'c'.repeat(63);
    const a = tapAliasFor(cl, `${'a'.repeat(253)}.default`);
    const b = tapAliasFor(cl, `${'a'.repeat(252)}b.default`);
    expect(a.length).toBe(255);
    expect(a.startsWith(`podwire:${cl}/aaaa`)).toBe(true);
    expect(a).toMatch(/~[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
    expect(tapAliasFor(cl, 'root')).toBe(`podwire:${cl}/root`);
  });

  it('the builder plans an attach: pod (address, endpoints) but does not emulate it', () => {
    const c = cluster();
    expect([...c.pods.keys()].sort()).toEqual(['emu', 'kube-dns-1.kube-system']);
    expect(c.plan.pods.find((p) => p.name === 'real')).toMatchObject({ attach: { netns: 'realns' }, veth: 'veth0' });
    expect(c.plan.services.find((s) => s.name === 'web')!.endpoints).toEqual(['real']);
    expect(c.capturePoints().map((p) => p.name)).not.toContain('real/eth0');
    expect(c.attached.size).toBe(0);
    c.close();
  });

  it('gives kubelet\'s resolv.conf lines for the pod\'s namespace', () => {
    const c = cluster();
    expect(resolvConfLines(c, 'shop')).toEqual([
      'nameserver 10.96.0.10', 'search shop.svc.cluster.local svc.cluster.local cluster.local', 'options ndots:5',
    ]);
    c.close();
  });
});
