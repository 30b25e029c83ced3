/**
 * A service's endpoints from its EndpointSlices (taken as given: a dump's slices are the
 * EndpointSlice controller's output), in the shape the selector path produces
 * (`ResolvedEndpoint` with one port per service port), so DNAT, the rule dumps, the health
 * check, the UDP flush and DNS read them the same way.
 *
 * kube-proxy (pkg/proxy/endpointslicecache.go endpointInfoByServicePort): a slice port
 * serves the service port with the same name and protocol (ServicePortName), at the slice's
 * port number; endpoints are merged over the slices per service port and de-duplicated by
 * `ip:port` (the first one kept). An address that is no emulated pod cannot be delivered to:
 * it is left out (the manifests front door warns about it once, at load).
 */
import { tryParseIpv4 } from '../wire/addr.js';
import type { DnsEndpoint } from './dns-records.js';
import { findPort, NO_PORT } from './endpoint-ports.js';
import type { ResolvedEndpoint } from './service-proxy.js';
import type { PodPlan, ServicePortPlan, SliceEndpoint } from './types.js';

export interface SliceResolved {
  endpoints: ResolvedEndpoint[];
  /** The emulated pods the endpoints are, once each, in slice order. */
  pods: PodPlan[];
  /** CoreDNS: the ready endpoints (ready nil or true), each with its ports and hostname. */
  dns: DnsEndpoint[];
}

const hintKey = (h: readonly string[] | undefined): string => (h === undefined ? '' : h.join(','));

export function sliceEndpoints(ports: readonly ServicePortPlan[], given: readonly SliceEndpoint[], podsByIp: ReadonlyMap<number, PodPlan>): SliceResolved {
  const endpoints: ResolvedEndpoint[] = [];
  const pods: PodPlan[] = [];
  const dns: DnsEndpoint[] = [];
  const seen = new Set<string>(); // `k ip:port`: kube-proxy's per-service-port endpoint set
  const byKey = new Map<string, ResolvedEndpoint[]>();
  for (const g of given) {
    const ip = tryParseIpv4(g.ip);
    const pod = ip === null ? undefined : podsByIp.get(ip);
    if (ip === null || pod === undefined) continue;
    const mine = ports.map((sp) => g.ports.find((p) => p.name === (sp.name ?? '') && p.protocol === sp.protocol)?.port ?? NO_PORT);
    if (!pods.includes(pod)) pods.push(pod);
    if (g.ready) dns.push({ ip, ...(g.hostname !== undefined ? { hostname: g.hostname } : {}), ports: mine });
    const fresh = mine.map((n, k) => (n !== NO_PORT && !seen.has(`${k} ${ip}:${n}`) ? n : NO_PORT));
    if (fresh.every((n) => n === NO_PORT)) continue;
    fresh.forEach((n, k) => { if (n !== NO_PORT) seen.add(`${k} ${ip}:${n}`); });
    // One ResolvedEndpoint per address and conditions, its ports filled from every slice that lists it.
    const key = `${ip}|${g.ready}|${g.serving}|${g.terminating}|${g.nodeName ?? ''}|${hintKey(g.zoneHints)}|${hintKey(g.nodeHints)}`;
    const same = byKey.get(key) ?? [];
    let into = same.find((e) => fresh.every((n, k) => n === NO_PORT || e.ports![k] === NO_PORT));
    if (into === undefined) {
      into = {
        pod: pod.name, node: g.nodeName ?? '', ip, ready: g.ready, serving: g.serving, terminating: g.terminating,
        ...(g.zoneHints !== undefined ? { zoneHints: g.zoneHints } : {}), ...(g.nodeHints !== undefined ? { nodeHints: g.nodeHints } : {}),
        ports: ports.map(() => NO_PORT),
      };
      same.push(into);
      byKey.set(key, same);
      endpoints.push(into);
    }
    const filled = [...into.ports!];
    fresh.forEach((n, k) => { if (n !== NO_PORT) filled[k] = n; });
    into.ports = filled;
  }
  return { endpoints, pods, dns };
}

/** The given endpoints whose address is no emulated pod (what the front door warns about). */
export function strangers(given: readonly SliceEndpoint[], podIps: ReadonlySet<number>): SliceEndpoint[] {
  return given.filter((g) => {
    const ip = tryParseIpv4(g.ip);
    return ip === null || !podIps.has(ip);
  });
}

/**
 * An endpoint's port for each service port: its EndpointSlices' when the service has them
 * (the first slice listing the address with that port), else FindPort on the pod (views).
 */
export function endpointPortsOf(s: { ports: readonly ServicePortPlan[]; sliceEndpoints?: readonly SliceEndpoint[] }, pod: PodPlan): number[] {
  if (s.sliceEndpoints === undefined) return s.ports.map((sp) => findPort(pod, sp));
  const mine = s.sliceEndpoints.filter((g) => tryParseIpv4(g.ip) === pod.ip);
  return s.ports.map((sp) => {
    for (const g of mine) {
      const p = g.ports.find((x) => x.name === (sp.name ?? '') && x.protocol === sp.protocol);
      if (p !== undefined) return p.port;
    }
    return NO_PORT;
  });
}
