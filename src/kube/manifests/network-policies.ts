/**
 * NetworkPolicy objects: kept as data (`objects.networkPolicies`) and put into the document's
 * `networkPolicies:` as written (apiVersion, kind, name, namespace, labels, spec), where
 * podwire's validation checks them as the API server does and src/kube/netpol enforces them.
 */
import type { KubeObjects } from '../types.js';
import type { KubeEntry } from './objects.js';
import type { Origin } from './reporter.js';
import { isObj, type Obj } from './values.js';

/** The document's `networkPolicies:`; their origins go into `origins` (`networkPolicies[i]`). */
export function policyDocs(kube: KubeEntry[], objects: KubeObjects, origins: Map<string, Origin>): Obj[] {
  const docs: Obj[] = [];
  for (const k of kube) {
    if (k.kind !== 'NetworkPolicy') continue;
    const o = k.at.obj;
    objects.networkPolicies.push(o);
    const meta = isObj(o['metadata']) ? o['metadata'] : {};
    origins.set(`networkPolicies[${docs.length}]`, { at: k.at, object: k.label, fields: {} });
    docs.push({ apiVersion: o['apiVersion'], kind: o['kind'], metadata: { name: k.name, namespace: k.namespace, ...(isObj(meta['labels']) ? { labels: meta['labels'] } : {}) }, spec: o['spec'] });
  }
  return docs;
}
