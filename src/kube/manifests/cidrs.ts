/**
 * podwire's cluster section completed from the objects: when the document does not set
 * nodeCIDR, podCIDR or serviceCIDR and the objects' addresses (node InternalIPs, node
 * podCIDRs, Service clusterIPs) are not all inside podwire's defaults, the smallest CIDR
 * holding them all (at most a /24, /16, /12).
 */
import { cidrContains, cidrOf, formatCidr, tryParseIpv4 } from '../../wire/addr.js';
import type { NodeDraft } from './nodes.js';
import { str, type Obj } from './values.js';

/** The smallest CIDR with a prefix of at most `maxPrefix` holding every address. */
function cover(ips: number[], maxPrefix: number): string | undefined {
  if (ips.length === 0) return undefined;
  for (let p = maxPrefix; p >= 0; p--) {
    const c = cidrOf(ips[0]!, p);
    if (ips.every((ip) => cidrContains(c, ip))) return formatCidr(c);
  }
  return undefined;
}

/** The document's `cluster:`: podwire's own, with the CIDRs it leaves out inferred. */
export function clusterSection(clusterDoc: Obj, nodes: NodeDraft[], services: Obj[]): Obj {
  const cluster: Obj = { ...clusterDoc };
  const ipsOf = (xs: (string | undefined)[]): number[] => xs.map((x) => (x === undefined ? null : tryParseIpv4(x))).filter((x): x is number => x !== null);
  const nodeIps = ipsOf(nodes.map((n) => n.ip));
  if (cluster['nodeCIDR'] === undefined && nodeIps.length > 0 && !nodeIps.every((ip) => cidrContains(cidrOf(tryParseIpv4('192.168.56.0')!, 24), ip))) {
    const c = cover(nodeIps, 24);
    if (c !== undefined) cluster['nodeCIDR'] = c;
  }
  const rangeStarts = ipsOf(nodes.map((n) => n.podCIDR?.split('/')[0]));
  if (cluster['podCIDR'] === undefined && rangeStarts.length > 0 && !rangeStarts.every((ip) => cidrContains(cidrOf(tryParseIpv4('10.244.0.0')!, 16), ip))) {
    const c = cover(rangeStarts, 16);
    if (c !== undefined) cluster['podCIDR'] = c;
  }
  const vips = ipsOf(services.map((s) => str(s['clusterIP'])));
  if (cluster['serviceCIDR'] === undefined && vips.length > 0 && !vips.every((ip) => cidrContains(cidrOf(tryParseIpv4('10.96.0.0')!, 12), ip))) {
    const c = cover(vips, 12);
    if (c !== undefined) cluster['serviceCIDR'] = c;
  }
  return cluster;
}
