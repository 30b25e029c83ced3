/**
 * Mode veth of attach: finding the host end of the veth behind a container's own eth0 (in
 * podwire's namespace or a named one) and setting sysctls on it. Control plane only.
 */
import { parseIpv4 } from '../wire/addr.js';
import * as ipx from './netlink-ip.js';

/** The veth behind `ifname` in `ns` (mode veth): its address, MAC, MTU and its host end. */
export interface VethProbe {
  ip: number;
  prefix: number;
  mac: string;
  mtu: number;
  gateway: number | null;
  hostIf: string;
  /** Namespace of the host end: undefined = podwire's own (Docker's case), or a named one. */
  hostNs: string | undefined;
  master: string | null;
}

interface IpLink { ifindex: number; ifname: string; link_index?: number; address?: string; mtu?: number; master?: string; linkinfo?: { info_kind?: string }; addr_info?: { family: string; local: string; prefixlen: number }[] }

export async function probeVeth(ns: ipx.NetnsRef, ifname: string, where: string): Promise<VethProbe> {
  const links = JSON.parse(await ipx.ip(['-j', '-d', 'addr', 'show', 'dev', ifname], ns)) as IpLink[];
  const l = links[0];
  if (l === undefined || l.linkinfo?.info_kind !== 'veth' || l.link_index === undefined) {
    throw new Error(`${where} has no veth ${ifname} (mode veth takes over the host end of the veth behind the namespace's own ${ifname}; a container with --network none has none: use mode tap)`);
  }
  const a = (l.addr_info ?? []).find((x) => x.family === 'inet');
  if (a === undefined) throw new Error(`${ifname} in ${where} has no IPv4 address (mode veth keeps the container's address; give it one, or use mode tap)`);
  const routes = JSON.parse(await ipx.ip(['-j', 'route', 'show', 'default'], ns)) as { gateway?: string }[];
  const gw = routes.find((r) => r.gateway !== undefined)?.gateway;
  // The host end: a veth whose ifindex is our peer's and whose peer is us, in podwire's namespace or a named one.
  for (const hostNs of [undefined, ...await ipx.netnsList()]) {
    let cands: IpLink[];
    try { cands = JSON.parse(await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'veth'], hostNs)) as IpLink[]; } catch { continue; }
    const h = cands.find((c) => c.ifindex === l.link_index && c.link_index === l.ifindex);
    if (h !== undefined) {
      return {
        ip: parseIpv4(a.local), prefix: a.prefixlen, mac: l.address ?? '', mtu: l.mtu ?? 1500,
        gateway: gw !== undefined ? parseIpv4(gw) : null, hostIf: h.ifname, hostNs, master: h.master ?? null,
      };
    }
  }
  throw new Error(`the host end of ${ifname} in ${where} (ifindex ${l.link_index}) is in no namespace podwire can see (its own or one of ip netns list)`);
}

/** Runs `sysctl -w` in the host end's namespace; resolves with the old value. */
export async function setSysctl(key: string, value: string, ns: string | undefined): Promise<string> {
  const argv = ns === undefined ? ['sysctl', '-n', key] : ['ip', 'netns', 'exec', ns, 'sysctl', '-n', key];
  const old = (await ipx.run(argv[0]!, argv.slice(1))).trim();
  const set = ns === undefined ? ['sysctl', '-q', '-w', `${key}=${value}`] : ['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`];
  await ipx.run(set[0]!, set.slice(1));
  return old;
}

export function nsPathOf(ns: string | undefined): string {
  return ns === undefined ? '' : `/run/netns/${ns}`;
}
