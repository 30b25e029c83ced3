/**
 * Label selection as the endpoints controller does it, without scanning every pod per
 * service: `PodIndex` groups pods by namespace and by `key=value` label pair once, and
 * `select` filters only the pods that carry one of the selector's pairs (the rarest),
 * so selecting the endpoints of S services among P pods costs about S x (pods per
 * service), not S x P. Results keep the pods' order, exactly as
 * `pods.filter((p) => p.namespace === ns && selectorMatches(selector, p.labels))`.
 */

/** Kubernetes selector semantics: every key equal; an empty selector selects nothing (no endpoints). */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => Object.hasOwn(labels, k) && labels[k] === selector[k]);
}

export interface Labelled {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

const NONE: readonly never[] = Object.freeze([]);

export class PodIndex<P extends Labelled> {
  private readonly byNs = new Map<string, P[]>();
  /** `namespace \0 key \0 value` -> pods in that namespace with that label, in pod order. */
  private readonly byPair = new Map<string, P[]>();

  constructor(pods: Iterable<P>) {
    for (const p of pods) {
      push(this.byNs, p.namespace, p);
      for (const k of Object.keys(p.labels)) push(this.byPair, pairKey(p.namespace, k, p.labels[k]!), p);
    }
  }

  /** The pods of a namespace, in pod order. */
  inNamespace(namespace: string): readonly P[] {
    return this.byNs.get(namespace) ?? NONE;
  }

  /** The pods of `namespace` that `selector` selects, in pod order. */
  select(namespace: string, selector: Readonly<Record<string, string>>): P[] {
    const keys = Object.keys(selector);
    if (keys.length === 0) return [];
    let best: readonly P[] | undefined;
    for (const k of keys) {
      const list = this.byPair.get(pairKey(namespace, k, selector[k]!));
      if (list === undefined) return [];
      if (best === undefined || list.length < best.length) best = list;
    }
    return keys.length === 1 ? best!.slice() : best!.filter((p) => selectorMatches(selector, p.labels));
  }
}

function pairKey(namespace: string, key: string, value: string): string {
  return `${namespace}\0${key}\0${value}`;
}

function push<P>(m: Map<string, P[]>, k: string, p: P): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [p]);
  else l.push(p);
}
