/**
 * `podwire rules` and `GET /nodes/:name/rules`: kube-proxy's rules on one node, in the text
 * the node's own tools print (`iptables-save -t nat|filter`, `ipvsadm -Ln`), so a user can
 * diff them against a real node. One function for the CLI and the API.
 */
import type { Cluster } from '../kube/cluster.js';
import { IPTABLES_TABLES, iptablesSave, onlyService, type IptablesTable } from '../kube/rules-iptables.js';
import { ipvsadmList } from '../kube/rules-ipvs.js';
import { badRequest, notFound } from './errors.js';

export const RULE_FORMATS = ['iptables-save', 'ipvsadm'] as const;
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
  const format = q.format ?? (mode === 'ipvs' ? 'ipvsadm' : 'iptables-save');
  if (!(RULE_FORMATS as readonly string[]).includes(format)) {
    throw badRequest('/format', format, `must be one of ${RULE_FORMATS.join(', ')}`);
  }
  if (format === 'iptables-save' && mode !== 'iptables') {
    throw badRequest('/format', format, `shows kube-proxy's iptables mode; this cluster's cluster.proxyMode is ${mode} (use ipvsadm)`);
  }
  if (format === 'ipvsadm' && mode !== 'ipvs') {
    throw badRequest('/format', format, `shows kube-proxy's ipvs mode; this cluster's cluster.proxyMode is ${mode} (use iptables-save)`);
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
  if (format === 'ipvsadm') {
    const proxy = c.services.proxies.get(q.node);
    const nodeAddrs = node.root.interfaces().flatMap((i) => i.addrs.map((a) => a.ip)).filter((ip) => (ip >>> 24) !== 127);
    return ipvsadmList({
      node: q.node, nodeAddrs, services,
      ...(proxy !== undefined ? { connections: (sp: string) => proxy.load(sp) } : {}),
    });
  }
  const text = iptablesSave({ node: q.node, clusterCIDR: c.plan.podCIDR, services }, table as IptablesTable);
  return only === null ? text : onlyService(text, only.namespace, only.name);
}
