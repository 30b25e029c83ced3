/**
 * `podwire rules` and `GET /nodes/:name/rules`: kube-proxy's rules on one node, in the text
 * the node's own tools print (`iptables-save -t nat|filter`, `ipvsadm -Ln`, `nft list table ip
 * kube-proxy`), so a user can
 * diff them against a real node. One function for the CLI and the API.
 */
import type { Cluster } from '../kube/cluster.js';
import { IPTABLES_TABLES, iptablesSave, onlyService, type IptablesTable } from '../kube/rules-iptables.js';
import { ipvsadmList } from '../kube/rules-ipvs.js';
import { nftList } from '../kube/rules-nft.js';
import { IPVS_DUMMY } from '../kube/services.js';
import { badRequest, notFound } from './errors.js';

export const RULE_FORMATS = ['iptables-save', 'ipvsadm', 'nft'] as const;
export type RuleFormat = (typeof RULE_FORMATS)[number];

export interface RulesQuery {
  node: string;
  /** Default: the cluster's proxy mode (iptables -> iptables-save, ipvs -> ipvsadm). */
  format?: string;
  /** iptables-save only; default nat. */
  table?: string;
  /** NAMESPACE/NAME or NAME (namespace default): only that service's rules. */
  service?: string;
}

export function nodeRules(c: Cluster, q: RulesQuery): string {
  const node = c.nodes.get(q.node);
  if (node === undefined) {
    const emulated = [...c.nodes.keys()];
    throw notFound('/node', q.node, 'node', emulated);
  }
  const mode = c.plan.cluster.proxyMode;
  const formatOf = { iptables: 'iptables-save', ipvs: 'ipvsadm', nftables: 'nft' } as const;
  const format = q.format ?? formatOf[mode];
  if (!(RULE_FORMATS as readonly string[]).includes(format)) {
    throw badRequest('/format', format, `must be one of ${RULE_FORMATS.join(', ')}`);
  }
  const modeOf = { 'iptables-save': 'iptables', ipvsadm: 'ipvs', nft: 'nftables' } as const;
  const wanted = modeOf[format as RuleFormat];
  if (wanted !== mode) {
    throw badRequest('/format', format, `shows kube-proxy's ${wanted} mode; this cluster's cluster.proxyMode is ${mode} (use ${formatOf[mode]})`);
  }
  if (q.table !== undefined && format !== 'iptables-save') throw badRequest('/table', q.table, 'applies to --format iptables-save only');
  const table = q.table ?? 'nat';
  if (!(IPTABLES_TABLES as readonly string[]).includes(table)) {
    throw badRequest('/table', table, `must be one of ${IPTABLES_TABLES.join(', ')}`);
  }
  let services = c.services.resolved();
  let only: { namespace: string; name: string } | null = null;
  if (q.service !== undefined) {
    const [a, b] = q.service.split('/', 2) as [string, string | undefined];
    only = b === undefined ? { namespace: 'default', name: a } : { namespace: a, name: b };
    const o = only;
    services = services.filter((s) => s.plan.namespace === o.namespace && s.plan.name === o.name);
    if (services.length === 0) {
      throw notFound('/service', q.service, 'service', c.services.resolved().map((s) => `${s.plan.namespace}/${s.plan.name}`));
    }
  }
  const zone = node.plan.zone !== undefined ? { zone: node.plan.zone } : {};
  if (format === 'nft') {
    return nftList({ node: q.node, clusterCIDR: c.plan.podCIDR, serviceCIDR: c.ipam.serviceCIDR, nodeIPs: [node.plan.ip], services, ...zone });
  }
  if (format === 'ipvsadm') {
    const proxy = c.services.proxies.get(q.node);
    // kube-proxy: NodePorts on every local address but loopback and kube-ipvs0's cluster IPs.
    const nodeAddrs = node.root.interfaces().filter((i) => i.name !== IPVS_DUMMY).flatMap((i) => i.addrs.map((a) => a.ip)).filter((ip) => (ip >>> 24) !== 127);
    return ipvsadmList({
      node: q.node, nodeAddrs, services, ...zone,
      ...(proxy !== undefined ? { connections: (sp: string) => proxy.load(sp) } : {}),
    });
  }
  const text = iptablesSave({ node: q.node, clusterCIDR: c.plan.podCIDR, nodeIP: node.plan.ip, services, tcpBeLiberal: c.plan.cluster.conntrack.tcpBeLiberal, ...zone }, table as IptablesTable);
  return only === null ? text : onlyService(text, only.namespace, only.name);
}
