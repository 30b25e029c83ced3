/**
 * Leftover attach TAPs: listing podwire's TAP devices in a namespace and deleting the
 * persistent ones that outlived their process (`podwire cleanup`). Control plane only.
 */
import { ALIAS_PREFIX, TAP_PREFIX } from './attach-names.js';
import * as ipx from './netlink-ip.js';

export interface TapInfo { name: string; alias: string; persist: boolean }

export async function listTaps(ns?: ipx.NetnsRef): Promise<TapInfo[]> {
  const out = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun'], ns);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as { ifname: string; ifalias?: string; linkinfo?: { info_data?: { persist?: boolean } } }[])
    .map((l) => ({ name: l.ifname, alias: l.ifalias ?? '', persist: l.linkinfo?.info_data?.persist ?? false }));
}

export interface CleanupOptions {
  /** Root-namespace name prefix of podwire TAPs. Default `pwa`. */
  prefix?: string;
  /** Only devices of this cluster (by alias); default: every podwire device. */
  cluster?: string;
}

export interface CleanupResult {
  /** Devices deleted: namespace ('' for the root one) and name. */
  removed: { netns: string; name: string }[];
  /** Non-persistent podwire TAPs: an fd of a running process holds them; not touched. */
  inUse: { netns: string; name: string }[];
  /** Devices that could not be deleted, with the reason. */
  failed: { netns: string; name: string; error: string }[];
}

/**
 * Deletes podwire's leftover TAP devices in the root namespace and in every named namespace
 * (`ip netns list`), found by alias (`podwire:<cluster>/...`) and, in the root namespace, by
 * name prefix. Only persistent ones are leftovers: a non-persistent TAP exists only while a
 * process holds its fd (a running podwire), so it is reported in `inUse`, never deleted.
 * Namespaces of other processes (containers) are not searched: their TAP goes when the
 * podwire that held it exits.
 */
export async function cleanupLeftovers(opts: CleanupOptions = {}): Promise<CleanupResult> {
  const prefix = opts.prefix ?? TAP_PREFIX;
  const alias = opts.cluster !== undefined ? `${ALIAS_PREFIX}${opts.cluster}/` : ALIAS_PREFIX;
  const res: CleanupResult = { removed: [], inUse: [], failed: [] };
  const spaces: (string | undefined)[] = [undefined, ...await ipx.netnsList()];
  for (const ns of spaces) {
    let taps: TapInfo[];
    try { taps = await listTaps(ns); } catch { continue; } // a namespace deleted meanwhile
    for (const t of taps) {
      const mine = t.alias.startsWith(alias) || (ns === undefined && opts.cluster === undefined && t.name.startsWith(prefix));
      if (!mine) continue;
      if (!t.persist) {
        res.inUse.push({ netns: ns ?? '', name: t.name });
        continue;
      }
      try {
        await ipx.deleteLink(t.name, ns);
        res.removed.push({ netns: ns ?? '', name: t.name });
      } catch (err) {
        res.failed.push({ netns: ns ?? '', name: t.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return res;
}
