/**
 * The web UI without a browser: the diagram model of the demo (every node, pod and device
 * the article names; every hop of the three journeys lands on a box), the ELK layout at 2
 * and 50 nodes (no two boxes of different nodes overlap; every device inside its node), and
 * the server side (`/` and its files served, without the token when one is set, while the
 * API still needs it; not listed in openapi.json).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { runDemo } from '../../src/control/demo.js';
import { layoutDiagram, type Box } from '../../web/layout.js';
import { diagramOf, elemOfHop, type TopologyJson } from '../../web/model.js';
import { demoController, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => { h = await demoController(); });
afterAll(async () => { await h.done(); });

describe('the diagram model', () => {
  it('has the article\'s devices for every node and pod of the demo', () => {
    const t = h.ctl.topology() as unknown as TopologyJson;
    const d = diagramOf(t);
    const labels = (id: string): string | undefined => d.byId.get(id)?.label;
    for (const n of ['node1', 'node2']) {
      expect(labels(`node:${n}`)).toBe(n);
      expect(labels(`${n}/cbr0`)).toBe('cbr0');
      expect(labels(`${n}/eth0`)).toBe('eth0');
      expect(labels(`${n}/flannel.1`)).toBe('flannel.1');
      expect(labels(`${n}/proxy`)).toBe('iptables');
      expect(labels(`${n}/root`)).toBe('root namespace');
    }
    for (const p of t.pods) {
      expect(labels(p.key)).toBe(p.key);
      expect(labels(`${p.key}/eth0`)).toBe('eth0');
      expect(d.wires.some((w) => w.kind === 'veth' && w.from === `${p.key}/eth0` && w.to === `${p.node}/${p.veth}`)).toBe(true);
    }
    expect(t.pods.map((p) => p.key).sort()).toEqual(['kube-dns-1.kube-system', 'pod1', 'pod2', 'pod3']);
    expect(d.byId.get('underlay')?.sub).toBe('192.168.56.0/24');
    // Interfaces carry the names captures and stats use.
    const stats = h.ctl.stats() as { interfaces: Record<string, unknown> };
    for (const e of d.elems) if (e.iface !== null && e.kind !== 'veth') expect(Object.keys(stats.interfaces)).toContain(e.iface);
  });

  it('places every hop of the demo\'s three journeys on a box of the diagram', async () => {
    const r = await runDemo({ write: false });
    const d = diagramOf(h.ctl.topology() as unknown as TopologyJson);
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const j of r.journeys) {
      for (const journey of [j.request, j.reply, j.reset]) {
        for (const hop of journey?.hops ?? []) {
          const id = elemOfHop(d, hop);
          if (id === null) missing.push(`${hop.node}/${hop.netns}/${hop.device} ${hop.action}`);
          else seen.add(id);
        }
      }
    }
    expect(missing).toEqual([]);
    for (const id of ['pod1', 'pod1/eth0', 'node1/veth0', 'node1/cbr0', 'node1/proxy', 'node1/flannel.1', 'node1/eth0', 'underlay', 'node2/eth0', 'node2/flannel.1', 'node2/cbr0', 'node2/veth0', 'pod3/eth0', 'pod2/eth0']) {
      expect(seen).toContain(id);
    }
  });
});

/** A topology of `n` nodes with `pods` pods each, in the API's shape. */
function bigTopology(n: number, pods: number): TopologyJson {
  const nodes = Array.from({ length: n }, (_, i) => ({
    name: `node${i + 1}`, ip: `192.168.56.${11 + i}`, podCIDR: `10.244.${i + 1}.0/24`, bridge: 'cbr0', bridgeIp: `10.244.${i + 1}.1`, external: false, emulated: true,
  }));
  const ps = nodes.flatMap((nd, i) => Array.from({ length: pods }, (_, k) => ({
    name: `web-${i + 1}-${k}`, namespace: 'default', key: `web-${i + 1}-${k}`, node: nd.name, ip: `10.244.${i + 1}.${k + 2}`, veth: `veth${k}`,
  })));
  return { cluster: { name: 'big', overlay: 'vxlan', proxyMode: 'iptables' }, nodeCIDR: '192.168.56.0/24', nodes, pods: ps, services: [], supportsServices: true };
}

const inside = (a: Box, b: Box): boolean => a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h;
const overlap = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('the layout (elkjs)', () => {
  it('puts the demo\'s two nodes side by side, pods above the bridge above eth0', async () => {
    const d = diagramOf(h.ctl.topology() as unknown as TopologyJson);
    const p = await layoutDiagram(d);
    const n1 = p.boxes.get('node:node1')!;
    const n2 = p.boxes.get('node:node2')!;
    expect(n1.y).toBe(n2.y);
    expect(n2.x).toBeGreaterThan(n1.x + n1.w);
    const y = (id: string): number => p.boxes.get(id)!.y;
    expect(y('pod1/eth0')).toBeLessThan(y('node1/veth0'));
    expect(y('node1/veth0')).toBeLessThan(y('node1/cbr0'));
    expect(y('node1/cbr0')).toBeLessThan(y('node1/flannel.1'));
    expect(y('node1/flannel.1')).toBeLessThan(y('node1/eth0'));
    for (const e of d.elems) expect(p.boxes.has(e.id), e.id).toBe(true);
  });

  it('keeps 50 nodes apart in a grid, each device inside its node', async () => {
    const d = diagramOf(bigTopology(50, 3));
    const p = await layoutDiagram(d);
    const groups = d.nodes.map((n) => p.boxes.get(`node:${n}`)!);
    for (let i = 0; i < groups.length; i++) for (let k = i + 1; k < groups.length; k++) expect(overlap(groups[i]!, groups[k]!), `${d.nodes[i]} / ${d.nodes[k]}`).toBe(false);
    for (const e of d.elems) {
      if (e.kind === 'node' || e.kind === 'underlay') continue;
      expect(inside(p.boxes.get(e.id)!, p.boxes.get(`node:${e.node}`)!), e.id).toBe(true);
    }
    // A grid, not one row 50 nodes wide: roughly as wide as a screen is to its height.
    expect(new Set(groups.map((g) => g.y)).size).toBeGreaterThan(3);
    expect(p.width / p.height).toBeLessThan(3);
  });
});

describe('serving the page', () => {
  it('serves / and its files without the token, and the API only with it', async () => {
    const app = buildApi(h.ctl, { token: 'secret-token-1' });
    try {
      const page = await app.inject({ url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<script src="app.js"></script>');
      const js = await app.inject({ url: '/app.js' });
      expect(js.statusCode).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect((await app.inject({ url: '/style.css' })).statusCode).toBe(200);
      expect((await app.inject({ url: '/api/v1/topology' })).statusCode).toBe(401);
      expect((await app.inject({ url: '/api/v1/topology', headers: { authorization: 'Bearer secret-token-1' } })).statusCode).toBe(200);
      // Only the page's own files: anything else still needs the token.
      expect((await app.inject({ url: '/index.html' })).statusCode).toBe(401);
      const doc = (await app.inject({ url: '/api/v1/openapi.json', headers: { authorization: 'Bearer secret-token-1' } })).json<{ paths: Record<string, unknown> }>();
      expect(Object.keys(doc.paths).every((p) => p.startsWith('/api/v1/'))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
