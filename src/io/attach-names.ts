/**
 * The names podwire gives attach TAPs: `pwa` + 8 hex digits of a hash of cluster and pod in
 * the root namespace, and the alias `podwire:<cluster>/<pod>` that survives the move into the
 * target namespace and the rename to eth0. `podwire cleanup` finds leftovers by them.
 */
import { createHash } from 'node:crypto';

/** Name prefix of podwire's attach TAPs in the root namespace (before the move). */
export const TAP_PREFIX = 'pwa';
/** Interface alias prefix; survives the move and the rename to eth0. */
export const ALIAS_PREFIX = 'podwire:';

/** The TAP name of `pod` in `cluster`: stable, 11 bytes, found again by `podwire cleanup`. */
export function tapNameFor(clusterName: string, pod: string): string {
  return TAP_PREFIX + createHash('sha256').update(`${clusterName}/${pod}`).digest('hex').slice(0, 8);
}

/** Linux keeps an interface alias of at most IFALIASZ - 1 = 255 bytes (`dev_set_alias`). */
const ALIAS_MAX = 255;

/**
 * The alias podwire gives an attach TAP: `podwire:<cluster>/<pod>`; a pod key too long for
 * it (pod names go up to 253 characters) keeps its head and ends with `~` + 8 hex digits of
 * a hash of the whole key, so the alias still names one pod.
 */
export function tapAliasFor(clusterName: string, pod: string): string {
  const full = `${ALIAS_PREFIX}${clusterName}/${pod}`;
  if (full.length <= ALIAS_MAX) return full;
  const hash = createHash('sha256').update(pod).digest('hex').slice(0, 8);
  return `${full.slice(0, ALIAS_MAX - 9)}~${hash}`;
}
