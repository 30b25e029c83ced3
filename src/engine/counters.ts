/**
 * Counters in typed arrays: each element declares its counter names once (a closed list),
 * then increments by index on the hot path. Drop reasons are counters too, kebab-case,
 * one closed list per element kind (STYLE.md), exposed through `toJSON()` to the API.
 */
export class Counters {
  readonly names: readonly string[];
  readonly values: Float64Array;

  constructor(names: readonly string[]) {
    this.names = names;
    this.values = new Float64Array(names.length);
  }

  add(i: number, n = 1): void {
    this.values[i]! += n;
  }

  get(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`unknown counter "${name}" (have ${this.names.join(', ')})`);
    return this.values[i]!;
  }

  reset(): void {
    this.values.fill(0);
  }

  /** Non-zero counters by name (all of them with `all`). */
  toJSON(all = false): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) {
      const v = this.values[i]!;
      if (all || v !== 0) out[this.names[i]!] = v;
    }
    return out;
  }
}

/**
 * What counts packets and drops under a name: every element, and the few owners of drop
 * reasons that are not elements (a namespace's netfilter hooks). The engine lists them all
 * (`Engine.countedOwners`), so the stats view sees every drop reason.
 */
export interface Counted {
  readonly name: string;
  readonly kind: string;
  readonly counters: Counters;
  readonly drops: Counters;
}

/** Builds the index object of a closed list of names: `indexOf(['a-b','c'])` -> `{ 'a-b': 0, c: 1 }`. */
export function indexOf<const T extends readonly string[]>(names: T): { readonly [K in T[number]]: number } {
  const out: Record<string, number> = {};
  names.forEach((n, i) => { out[n] = i; });
  return out as { readonly [K in T[number]]: number };
}
