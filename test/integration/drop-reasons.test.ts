/**
 * Every drop reason is countable in `podwire stats` (GET /stats, the CLI's text and --json):
 * a walk over the whole cluster object graph finds every drop counter (elements, and what is
 * not an element: the conntrack/NAT hooks, kube-proxy's filter), sets each reason to 1 and
 * finds it in the stats view.
 */
import { describe, expect, it } from 'vitest';
import { examplePath } from '../../src/control/load.js';
import { statsView } from '../../src/control/views.js';
import { Counters } from '../../src/engine/counters.js';
import { Cluster } from '../../src/kube/cluster.js';
import { topology } from './cluster-util.js';

interface DropOwner { path: string; drops: Counters }

/**
 * Every object reachable from `root` (own properties, Map and Set members, array items) that
 * has a `drops` property holding a Counters: what can count a dropped packet.
 */
function dropOwners(root: object): DropOwner[] {
  const seen = new Set<object>();
  const out: DropOwner[] = [];
  const stack: [unknown, string][] = [[root, 'cluster']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Counters) continue;
    const drops = (v as { drops?: unknown }).drops;
    if (drops instanceof Counters) out.push({ path, drops });
    if (v instanceof Map) {
      for (const [k, x] of v) stack.push([k, `${path}.key`], [x, `${path}.get(${String(k)})`]);
    } else if (v instanceof Set) {
      for (const x of v) stack.push([x, `${path}.item`]);
    }
    for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], `${path}.${k}`]);
  }
  return out;
}

describe('every drop reason of every element is in the stats view', () => {
  it.each(['vxlan', 'routed'] as const)('%s overlay: each declared reason, set once per owner, adds up in dropReasons', (overlay) => {
    const c = new Cluster(topology(examplePath('demo.yaml'), { overlay }));
    const owners = dropOwners(c);
    // The walk finds the kinds of drop owners the demo has (so the test is not vacuous).
    const lists = new Set(owners.map((o) => o.drops.names.join(',')));
    for (const r of ['arp-not-for-us', 'hairpin-off', 'mtu-exceeded', 'conntrack-table-full', 'no-endpoints']) {
      expect([...lists].some((l) => l.split(',').includes(r)), r).toBe(true);
    }
    if (overlay === 'vxlan') expect([...lists].some((l) => l.split(',').includes('wrong-vni'))).toBe(true);
    const want: Record<string, number> = {};
    for (const o of owners) {
      o.drops.values.fill(1);
      for (const r of o.drops.names) want[r] = (want[r] ?? 0) + 1;
    }
    const s = statsView(c) as { dropReasons: Record<string, number>; elements: { name: string; drops: Record<string, number> }[] };
    expect(s.dropReasons).toEqual(want);
    const listed = s.elements.filter((e) => Object.keys(e.drops).length > 0);
    expect(listed.length, owners.map((o) => o.path).join('\n')).toBe(owners.filter((o) => o.drops.names.length > 0).length);
    c.close();
  });
});
