/**
 * Semantic checks of the pods: names unique per namespace and not those of podwire's
 * cluster DNS pods, nodes that exist, addresses inside their node's podCIDR and not its
 * network, broadcast or bridge address nor taken twice, no two apps on one port and
 * protocol, attach targets (exactly one, runtime only with container, none attached
 * twice, no apps beside them); then every node's podCIDR large enough for its pods.
 */
import { cidrContains, cidrSize, formatCidr } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { DEFAULT_APP_PORTS, DNS_NAMESPACE, dnsPods } from './plan.js';
import { APP_PROTOCOLS, edgeOf, ipAt, q, type Report, type SchemaTopology } from './semantic-common.js';

/** `nodeIndex` and `nodeRanges` as the node checks left them (semantic-nodes.ts). */
export function checkPods(r: Report, t: SchemaTopology, nodeIndex: Map<string, number>, nodeRanges: (Cidr | null)[]): void {
  const c = t.cluster;
  const dns = c.dnsReplicas > 0 ? dnsPods(t) : [];
  if (c.dnsReplicas > 0 && dns.length === 0) {
    r.err('cluster.dnsReplicas', c.dnsReplicas, `${c.dnsReplicas} needs a node that is not external`);
  }
  const podIndex = new Map<string, number>();
  const podIpOwner = new Map<number, number>();
  const attachOwner = new Map<string, number>();
  const perNode = t.nodes.map(() => 0);
  for (const p of dns) perNode[nodeIndex.get(p.node) ?? 0]! += 1;
  t.pods.forEach((p, i) => {
    const at = `pods[${i}]`;
    const key = `${p.namespace}/${p.name}`;
    const first = podIndex.get(key);
    if (first !== undefined) r.err(`${at}.name`, p.name, `${q(p.name)} is a duplicate of pods[${first}] (namespace ${q(p.namespace)})`);
    else podIndex.set(key, i);
    if (dns.some((d) => d.namespace === p.namespace && d.name === p.name)) {
      r.err(`${at}.name`, p.name, `${q(p.name)} is reserved in namespace ${q(DNS_NAMESPACE)} for the cluster DNS (cluster.dnsReplicas)`);
    }
    const ni = nodeIndex.get(p.node);
    if (ni === undefined) r.err(`${at}.node`, p.node, `${q(p.node)} is not a node`);
    else perNode[ni]! += 1;
    const range = ni === undefined ? null : nodeRanges[ni];
    if (p.ip !== undefined) {
      const ip = ipAt(r, `${at}.ip`, p.ip);
      if (ip !== null && range !== null && range !== undefined && ni !== undefined) {
        const where = `node ${q(p.node)} podCIDR ${formatCidr(range)}`;
        const edge = edgeOf(range, ip);
        const owner = podIpOwner.get(ip);
        if (!cidrContains(range, ip)) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is outside ${where}`);
        else if (edge !== null) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is the ${edge} address of ${where}`);
        else if (ip - range.addr === 1) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is the bridge address of node ${q(p.node)} (${t.nodes[ni]!.bridge})`);
        else if (owner !== undefined) r.err(`${at}.ip`, p.ip, `${q(p.ip)} is already used by pods[${owner}]`);
        else podIpOwner.set(ip, i);
      }
    }
    const listeners = new Map<string, number>();
    p.apps.forEach((a, k) => {
      const port = a.port ?? DEFAULT_APP_PORTS[a.type];
      for (const proto of APP_PROTOCOLS[a.type]) {
        const other = listeners.get(`${proto}/${port}`);
        if (other !== undefined) r.err(`${at}.apps[${k}].port`, port, `${port} is already used by apps[${other}] (${proto})`);
        else listeners.set(`${proto}/${port}`, k);
      }
    });
    if (p.attach !== undefined) {
      if (p.apps.length > 0) {
        r.err(`${at}.apps`, p.apps, `must be empty for an attached pod: the real namespace runs its own processes`);
      }
      const given = (['netns', 'pid', 'container'] as const).filter((f) => f in p.attach!);
      if (given.length !== 1) {
        const { offloads: _default, ...written } = p.attach as Record<string, unknown>;
        r.err(`${at}.attach`, p.attach, `${q(written)} must have exactly one of netns, pid, container`);
        return;
      }
      if ('runtime' in p.attach && !('container' in p.attach)) {
        const rt = (p.attach as { runtime: string }).runtime;
        r.err(`${at}.attach.runtime`, rt, `${q(rt)} needs container (it names the container's engine)`);
      }
      const field = given[0]!;
      const value = (p.attach as unknown as Record<string, string | number>)[field]!;
      const owner = attachOwner.get(`${field}:${value}`);
      if (owner !== undefined) r.err(`${at}.attach.${field}`, value, `${q(value)} is already attached as pods[${owner}]`);
      else attachOwner.set(`${field}:${value}`, i);
    }
  });
  t.nodes.forEach((n, i) => {
    const range = nodeRanges[i];
    if (range === null || range === undefined) return;
    const room = range.prefix <= 30 ? cidrSize(range) - 3 : 0;
    if (perNode[i]! > room) {
      const s = formatCidr(range);
      r.err(`nodes[${i}].podCIDR`, s, `${q(s)} is too small for the ${perNode[i]} pods on node ${q(n.name)} (room for ${room})`);
    }
  });
}
