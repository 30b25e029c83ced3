/**
 * Semantic checks of link impairment: every netem setting (a node's, a pod's, a link's)
 * compiled as the element will compile it (tc's rules and units; its warnings kept), and
 * each link's interface naming a node or a pod, no direction of it impaired twice.
 */
import { compileNetem, NetemError } from '../net/netem-spec.js';
import { q, type Report, type SchemaTopology } from './semantic-common.js';
import type { NetemSpec } from './types.js';

/** netem settings (compiled as the element will: tc's rules and units) and the interfaces they name. */
export function checkNetem(r: Report, t: SchemaTopology): void {
  const one = (at: string, spec: NetemSpec): void => {
    const warnings: string[] = [];
    try {
      compileNetem(spec, warnings);
    } catch (e) {
      if (!(e instanceof NetemError)) throw e;
      r.err(`${at}.${e.field}`, e.value, e.message);
    }
    for (const w of warnings) r.warn(at, spec, w);
  };
  t.nodes.forEach((n, i) => { if (n.netem !== undefined) one(`nodes[${i}].netem`, n.netem); });
  t.pods.forEach((p, i) => { if (p.netem !== undefined) one(`pods[${i}].netem`, p.netem); });
  const owners = new Set<string>([...t.nodes.map((n) => n.name), ...t.pods.map((p) => p.name),
    ...t.pods.map((p) => (p.namespace === 'default' ? p.name : `${p.name}.${p.namespace}`))]);
  const seen = new Map<string, number>();
  (t.links ?? []).forEach((l, i) => {
    const at = `links[${i}]`;
    const owner = l.interface.slice(0, l.interface.indexOf('/'));
    if (!owners.has(owner)) r.err(`${at}.interface`, l.interface, `${q(l.interface)}: ${q(owner)} is not a node or a pod`);
    for (const d of l.direction === 'both' ? ['egress', 'ingress'] : [l.direction ?? 'egress']) {
      const key = `${l.interface} ${d}`;
      const first = seen.get(key);
      if (first !== undefined) r.err(`${at}.interface`, l.interface, `${q(l.interface)} ${d} is already impaired by links[${first}]`);
      else seen.set(key, i);
    }
    one(`${at}.netem`, l.netem);
  });
}
