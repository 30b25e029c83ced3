/**
 * Semantic checks of the nodes: names unique, bridge names valid, addresses inside
 * cluster.nodeCIDR and not taken twice, podCIDRs inside cluster.podCIDR, large enough and
 * not overlapping, external nodes with their VTEP (and only they), the VTEP bind address
 * one `podwire up` can bind. Then the derived defaults: node addresses from .11, node
 * podCIDRs from the second /24 (IPAM's order), and an error when a range runs out.
 */
import { cidrContains, cidrOverlaps, isUnicastMac, parseMac, tryParseIpv4, tryParseIpv4Port } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { Ipam, IpamError } from './ipam.js';
import { bridgeNameProblem, VXLAN_IFNAME } from './names.js';
import type { ClusterCidrs } from './semantic-cluster.js';
import { cidrAt, edgeOf, ipAt, q, type Report, type SchemaTopology } from './semantic-common.js';

export interface NodeChecks {
  /** Node name -> its index (the first, when a name is given twice). */
  nodeIndex: Map<string, number>;
  /** Each node's podCIDR as given, null when not given or in error (deriveNodeDefaults fills it in). */
  nodeRanges: (Cidr | null)[];
}

export function checkNodes(r: Report, t: SchemaTopology, { pc, nc }: ClusterCidrs): NodeChecks {
  const c = t.cluster;
  const nodeIndex = new Map<string, number>();
  const nodeIpOwner = new Map<number, number>();
  const nodeRanges: (Cidr | null)[] = t.nodes.map(() => null);
  t.nodes.forEach((n, i) => {
    const at = `nodes[${i}]`;
    const first = nodeIndex.get(n.name);
    if (first !== undefined) r.err(`${at}.name`, n.name, `${q(n.name)} is a duplicate of nodes[${first}]`);
    else nodeIndex.set(n.name, i);
    const bridgeProblem = bridgeNameProblem(n.bridge, c.overlay === 'vxlan' ? VXLAN_IFNAME : null);
    if (bridgeProblem !== null) r.err(`${at}.bridge`, n.bridge, `${q(n.bridge)} ${bridgeProblem}`);
    if (n.ip !== undefined) {
      const ip = ipAt(r, `${at}.ip`, n.ip);
      if (ip !== null && nc !== null) {
        const edge = edgeOf(nc, ip);
        const owner = nodeIpOwner.get(ip);
        if (!cidrContains(nc, ip)) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is outside cluster.nodeCIDR ${c.nodeCIDR}`);
        else if (edge !== null) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is the ${edge} address of cluster.nodeCIDR ${c.nodeCIDR}`);
        else if (owner !== undefined) r.err(`${at}.ip`, n.ip, `${q(n.ip)} is already used by nodes[${owner}]`);
        else nodeIpOwner.set(ip, i);
      }
    }
    if (n.podCIDR !== undefined) {
      const pr = cidrAt(r, `${at}.podCIDR`, n.podCIDR);
      if (pr !== null) {
        const clash = nodeRanges.findIndex((o) => o !== null && cidrOverlaps(o, pr));
        if (pc !== null && (pr.prefix < pc.prefix || !cidrContains(pc, pr.addr))) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} is outside cluster.podCIDR ${c.podCIDR}`);
        } else if (pr.prefix > 30) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} is too small for a node (at most /30: network, bridge, a pod, broadcast)`);
        } else if (clash >= 0) {
          r.err(`${at}.podCIDR`, n.podCIDR, `${q(n.podCIDR)} overlaps nodes[${clash}].podCIDR ${t.nodes[clash]!.podCIDR ?? ''}`);
        } else {
          nodeRanges[i] = pr;
        }
      }
    }
    if (n.external) {
      for (const f of ['vtepIP', 'vtepMAC', 'podCIDR'] as const) {
        if (n[f] === undefined) r.err(at, undefined, `missing required field ${q(f)} (the node is external)`);
      }
      if (n.vtepMAC !== undefined && !isUnicastMac(parseMac(n.vtepMAC))) {
        r.err(`${at}.vtepMAC`, n.vtepMAC, `${q(n.vtepMAC)} is not a unicast MAC address`);
      }
    } else {
      for (const f of ['vtepIP', 'vtepMAC'] as const) {
        if (n[f] !== undefined) r.err(`${at}.${f}`, n[f], `${q(n[f])} is only allowed when external is true`);
      }
    }
    // The schema checks the shape "host:port"; `podwire up` binds an IPv4 address and a port 1-65535 (tryParseIpv4Port).
    if (n.vtep !== undefined && tryParseIpv4Port(n.vtep.bind) === null) {
      const b = n.vtep.bind;
      const host = b.slice(0, b.lastIndexOf(':'));
      const port = b.slice(b.lastIndexOf(':') + 1);
      const why = tryParseIpv4(host) === null ? `${q(host)} is not an IPv4 address (the VXLAN socket binds an address)` : `port ${port} is not a port (1-65535)`;
      r.err(`${at}.vtep.bind`, b, `${q(b)}: ${why}`);
    }
  });
  return { nodeIndex, nodeRanges };
}

/**
 * Derived defaults: node addresses from .11, node podCIDRs from the second /24, allocated
 * around the given ones (only when `clean`: nothing before them was in error). Fills in
 * `nodeRanges`; returns each node's address (null where none was given or allocated).
 */
export function deriveNodeDefaults(r: Report, t: SchemaTopology, { pc, sc, nc }: ClusterCidrs, nodeRanges: (Cidr | null)[], clean: boolean): (number | null)[] {
  const c = t.cluster;
  const nodeIps: (number | null)[] = t.nodes.map((n) => (n.ip === undefined ? null : tryParseIpv4(n.ip)));
  if (clean && pc !== null && sc !== null && nc !== null) {
    const ipam = new Ipam({ podCIDR: pc, serviceCIDR: sc, nodeCIDR: nc });
    t.nodes.forEach((_, i) => {
      const ip = nodeIps[i];
      const range = nodeRanges[i];
      if (ip !== null && ip !== undefined) ipam.allocateNodeIp(ip);
      if (range !== null && range !== undefined) ipam.allocateNodePodCidr(range);
    });
    let ipFull = false;
    let rangeFull = false;
    t.nodes.forEach((n, i) => {
      try {
        if (nodeIps[i] === null && !ipFull) nodeIps[i] = ipam.allocateNodeIp();
      } catch (e) {
        if (!(e instanceof IpamError)) throw e;
        ipFull = true;
        r.err('cluster.nodeCIDR', c.nodeCIDR,
          `${q(c.nodeCIDR)} has no address left for nodes[${i}] ${q(n.name)} (node addresses are given from .11 upward)`);
      }
      try {
        if (nodeRanges[i] === null && !rangeFull) nodeRanges[i] = ipam.allocateNodePodCidr();
      } catch (e) {
        if (!(e instanceof IpamError)) throw e;
        rangeFull = true;
        r.err('cluster.podCIDR', c.podCIDR,
          `${q(c.podCIDR)} has no /24 left for nodes[${i}] ${q(n.name)}: too many nodes (each node gets the next /24, from the second one on)`);
      }
    });
  }
  return nodeIps;
}
