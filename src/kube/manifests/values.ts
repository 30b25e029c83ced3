/**
 * Reading untyped Kubernetes objects: the small value tests every converter of convert.ts
 * shares (a mapping, a string, an integer, a value quoted for a message, metadata.labels).
 */

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const q = (v: unknown): string => JSON.stringify(v);
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** `metadata.labels` with every value as a string; {} when there are none. */
export function labelsOf(meta: unknown): Record<string, string> {
  const l = isObj(meta) ? meta['labels'] : undefined;
  const out: Record<string, string> = {};
  if (isObj(l)) for (const [k, v] of Object.entries(l)) out[k] = String(v);
  return out;
}
