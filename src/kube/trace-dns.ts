/**
 * The name resolution in front of a trace to a DNS name (`podwire trace --from pod1 --to
 * service1.default.svc.cluster.local`): the source pod's stub resolver (src/apps/resolver.ts)
 * walks the search list of the resolv.conf kubelet gives it (`search <ns>.svc.<zone>
 * svc.<zone> <zone>`, `options ndots:5`), sending real A and AAAA queries to the cluster DNS
 * through the emulated network, so they also appear in captures. The trace then goes to the
 * address found. In virtual time the resolver's timeouts run on the virtual clock; in wall
 * time only answers that come while the trace drains count (an upstream's later answer does not).
 */
import { StubResolver, type ResolverQuery, type ResolverResult } from '../apps/resolver.js';
import { formatIpv4 } from '../wire/addr.js';
import type { NetNamespace } from '../net/netns.js';
import type { Cluster } from './cluster.js';
import { searchCandidates } from './dns-records.js';

export const RESOLVE_NDOTS = 5;
const WALL_STEPS = 100_000;
/** Virtual time allowed for a lookup: four names, two tries of 5 s each, and a margin. */
const VIRTUAL_LIMIT_MS = 60_000;

export interface TraceResolve {
  /** The name as given. */
  name: string;
  /** resolv.conf as the pod has it. */
  nameserver: string;
  search: string[];
  ndots: number;
  queries: (Omit<ResolverQuery, 'addresses'> & { addresses: string[] })[];
  outcome: ResolverResult['outcome'];
  /** The name that answered, and its first address (where the trace goes). */
  answeredName: string | null;
  address: string | null;
  /** Virtual (or wall) milliseconds from the first query to the end. */
  ms: number;
  /** How many names were asked before the one that answered (the cost of ndots). */
  before: number;
}

/** True when `name` can be a DNS name (letters, digits, '-', '.', '_'). */
export function looksLikeDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 254 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(name);
}

/** Resolves `name` from pod `ns` (Kubernetes namespace `podNamespace`); null when the cluster has no DNS. */
export function resolveFromPod(cluster: Cluster, ns: NetNamespace, podNamespace: string, name: string): TraceResolve | null {
  if (cluster.plan.cluster.dnsReplicas === 0) return null;
  const domain = cluster.plan.dnsDomain;
  const search = [`${podNamespace}.svc.${domain}`, `svc.${domain}`, domain];
  const names = searchCandidates(name, podNamespace, { domain, ndots: RESOLVE_NDOTS, search });
  const nameserver = cluster.plan.dnsServiceIp;
  const e = cluster.engine;
  const resolver = new StubResolver(ns, `${ns.name}/resolver`);
  let got: ResolverResult | null = null;
  resolver.lookup(names, { nameserver }, (r) => { got = r; });
  if (e.clock.kind === 'virtual') {
    const start = e.now();
    e.runUntilIdle();
    while (got === null && e.now() - start < VIRTUAL_LIMIT_MS) e.advance(50);
  } else {
    e.scheduler.drain(WALL_STEPS);
  }
  const r = got as ResolverResult | null;
  if (r === null) {
    return {
      name, nameserver: formatIpv4(nameserver), search, ndots: RESOLVE_NDOTS, queries: [], outcome: 'timeout',
      answeredName: null, address: null, ms: 0, before: 0,
    };
  }
  const answered = r.name;
  const distinct = [...new Set(r.queries.map((q) => q.name))];
  return {
    name, nameserver: formatIpv4(nameserver), search, ndots: RESOLVE_NDOTS,
    queries: r.queries.map((q) => ({ ...q, sentMs: q.sentMs - r.startMs, ...(q.answeredMs !== undefined ? { answeredMs: q.answeredMs - r.startMs } : {}), addresses: q.addresses.map(formatIpv4) })),
    outcome: r.outcome, answeredName: answered, address: r.addresses.length > 0 ? formatIpv4(r.addresses[0]!) : null,
    ms: r.endMs - r.startMs, before: answered === null ? distinct.length : distinct.indexOf(answered),
  };
}
