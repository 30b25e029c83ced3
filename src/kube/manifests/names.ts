/**
 * The names Kubernetes gives to the pods of a workload, reproduced from a seed.
 *
 *   - Deployment:  ReplicaSet `<deploy>-<pod-template-hash>`, pods `<rs>-<5 chars>`
 *   - ReplicaSet, DaemonSet, a Pod with `generateName`:  `<base>-<5 chars>`
 *   - StatefulSet: `<name>-0` .. `<name>-(n-1)`
 *
 * The 5 characters: apiserver `names.SimpleNameGenerator` = `utilrand.String(5)` over
 * apimachinery's alphabet without vowels (`bcdfghjklmnpqrstvwxz2456789`); here they come from
 * podwire's seeded RNG instead of Go's `math/rand`, so the same seed gives the same names.
 *
 * pod-template-hash: Kubernetes' `controller.ComputeHash` is fnv32a over the `spew` dump of the
 * Go `PodTemplateSpec` after API defaulting, plus the collision count (8 bytes, little endian),
 * printed in decimal and encoded with `rand.SafeEncodeString`. podwire cannot reproduce the Go
 * dump, so it hashes the template's canonical JSON (keys sorted) the same way: the hash has
 * Kubernetes' shape and changes when the template changes, but it is not the value a real
 * cluster would print for the same manifest.
 */
import { Rng } from '../../engine/rng.js';

/** apimachinery `pkg/util/rand`: alphanums, vowels removed to avoid bad words. */
export const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** apiserver `names`: randomLength = 5; maxGeneratedNameLength = 63 - 5. */
const RANDOM_LENGTH = 5;
const MAX_BASE_LENGTH = 63 - RANDOM_LENGTH;

/** FNV-1a, 32 bits (Go `hash/fnv` New32a). */
export function fnv32a(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** apimachinery `rand.SafeEncodeString`: each character c becomes alphanums[c % 27]. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += NAME_ALPHABET[s.charCodeAt(i) % NAME_ALPHABET.length]!;
  return out;
}

/** JSON with object keys sorted, so equal templates hash equal whatever the key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** controller.ComputeHash's shape over the template's canonical JSON (see the file comment). */
export function podTemplateHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonicalJson(template)));
  if (collisionCount !== undefined) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(b, h);
  }
  return safeEncodeString(String(h));
}

/** A seeded stream of generated names for one workload (seed: cluster seed and the workload's key). */
export class NameGenerator {
  private readonly rng: Rng;
  constructor(seed: number, key: string) {
    this.rng = new Rng(fnv32a(new TextEncoder().encode(key), seed >>> 0 ^ 0x811c9dc5));
  }

  /** apiserver SimpleNameGenerator.GenerateName: base (cut to 58) + 5 random characters. */
  generate(base: string): string {
    let s = base.length > MAX_BASE_LENGTH ? base.slice(0, MAX_BASE_LENGTH) : base;
    for (let i = 0; i < RANDOM_LENGTH; i++) s += NAME_ALPHABET[this.rng.u32() % NAME_ALPHABET.length]!;
    return s;
  }
}
