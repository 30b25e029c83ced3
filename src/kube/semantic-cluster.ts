/**
 * Semantic checks of the cluster section: pod, service and node CIDRs well formed and not
 * overlapping, the service CIDR large enough for .1 (kubernetes) and .10 (kube-dns), the
 * VXLAN source port range in order, the DNS upstream an IPv4 address and port.
 */
import { cidrOverlaps, tryParseIpv4Port } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { cidrAt, q, type Report } from './semantic-common.js';
import type { ClusterConfig } from './types.js';

/** The cluster's CIDRs, each null when it is not one (reported). */
export interface ClusterCidrs {
  pc: Cidr | null;
  sc: Cidr | null;
  nc: Cidr | null;
}

export function checkCluster(r: Report, c: ClusterConfig): ClusterCidrs {
  const pc = cidrAt(r, 'cluster.podCIDR', c.podCIDR);
  const sc = cidrAt(r, 'cluster.serviceCIDR', c.serviceCIDR);
  const nc = cidrAt(r, 'cluster.nodeCIDR', c.nodeCIDR);
  const pairs: [string, Cidr | null, string, Cidr | null][] = [
    ['serviceCIDR', sc, 'podCIDR', pc], ['nodeCIDR', nc, 'podCIDR', pc], ['nodeCIDR', nc, 'serviceCIDR', sc],
  ];
  for (const [an, a, bn, b] of pairs) {
    if (a !== null && b !== null && cidrOverlaps(a, b)) {
      r.err(`cluster.${an}`, c[an as 'nodeCIDR'], `${q(c[an as 'nodeCIDR'])} overlaps cluster.${bn} ${c[bn as 'podCIDR']}`);
    }
  }
  if (sc !== null && sc.prefix > 28) {
    r.err('cluster.serviceCIDR', c.serviceCIDR, `${q(c.serviceCIDR)} is too small: it must hold .1 (kubernetes) and .10 (kube-dns)`);
  }
  const [lo, hi] = c.vxlan.sourcePortRange;
  if (lo > hi) r.err('cluster.vxlan.sourcePortRange', [lo, hi], `${q([lo, hi])} must be [low, high] with low <= high`);
  return { pc, sc, nc };
}

/** cluster.dns.upstream: the DNS server forwards to an address and port, not a name. */
export function checkDnsUpstream(r: Report, c: ClusterConfig): void {
  const up = c.dns?.upstream;
  if (up !== undefined && tryParseIpv4Port(up) === null) {
    r.err('cluster.dns.upstream', up, `${q(up)} is not "IPv4:port" (port 1-65535): the DNS server forwards to an address, not a name`);
  }
}
