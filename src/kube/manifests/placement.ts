/**
 * Placing the pods without a node as the default scheduler would in the simple case: on the
 * node with the fewest pods (podwire's kube-dns pods counted), ties by node order, skipping
 * unschedulable nodes and those with a taint the pod does not tolerate. A pod no node takes
 * is an error, in the scheduler's words.
 */
import { tolerates, type NodeDraft } from './nodes.js';
import type { PodDraft } from './pods.js';
import type { Reporter } from './reporter.js';
import { q } from './values.js';

/** Sets `node` on every pod without one; `nodeNames` in node order (nodes.ts emulatedNodeNames). */
export function placePods(pods: PodDraft[], nodes: NodeDraft[], nodeNames: string[], dnsReplicas: number, r: Reporter): void {
  const load = new Map(nodeNames.map((n) => [n, 0]));
  for (let i = 0; i < dnsReplicas && nodeNames.length > 0; i++) {
    const n = nodeNames[i % nodeNames.length]!; // podwire's kube-dns pods (ipam.ts dnsPods)
    load.set(n, (load.get(n) ?? 0) + 1);
  }
  for (const p of pods) if (p.node !== undefined && load.has(p.node)) load.set(p.node, load.get(p.node)! + 1);
  for (const p of pods) {
    if (p.node !== undefined) continue;
    let best: string | undefined;
    nodeNames.forEach((n, i) => {
      const d = nodes[i];
      if (d !== undefined && (d.unschedulable || d.taints.some((t) => !tolerates(p.tolerations, t)))) return;
      if (best === undefined || load.get(n)! < load.get(best)!) best = n;
    });
    if (best === undefined) {
      r.err(p.origin.at, p.origin.object, 'spec', undefined, `0/${nodeNames.length} nodes are available for pod ${q(p.name)} (untolerated taints or unschedulable)`);
      continue;
    }
    p.node = best;
    load.set(best, load.get(best)! + 1);
  }
}
