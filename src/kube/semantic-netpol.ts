/**
 * Semantic checks of the namespaces (each named once) and the NetworkPolicies, validated as
 * the API server validates them (netpol/validate.ts) with errors at
 * `networkPolicies[i].<Kubernetes field path>`, one policy per namespace and name.
 */
import { validateNetworkPolicy } from './netpol/validate.js';
import type { NetworkPolicy } from './netpol/types.js';
import { q, type Report, type SchemaTopology } from './semantic-common.js';

/** The valid policies, in order. */
export function checkNetworkPolicies(r: Report, t: SchemaTopology): NetworkPolicy[] {
  const seenNs = new Map<string, number>();
  (t.namespaces ?? []).forEach((n, i) => {
    const first = seenNs.get(n.name);
    if (first !== undefined) r.err(`namespaces[${i}].name`, n.name, `${q(n.name)} is already defined by namespaces[${first}]`);
    else seenNs.set(n.name, i);
  });
  const out: NetworkPolicy[] = [];
  const seen = new Map<string, number>();
  (t.networkPolicies ?? []).forEach((p, i) => {
    const v = validateNetworkPolicy(p);
    if (!v.ok) {
      for (const e of v.errors) r.err(e.path === '' ? `networkPolicies[${i}]` : `networkPolicies[${i}].${e.path}`, e.value, e.message);
      return;
    }
    const key = `${v.policy.metadata.namespace}/${v.policy.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) r.err(`networkPolicies[${i}].metadata.name`, v.policy.metadata.name, `${q(key)} is already defined by networkPolicies[${first}]`);
    else seen.set(key, i);
    out.push(v.policy);
  });
  return out;
}
