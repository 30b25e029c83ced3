/**
 * kube-proxy's nftables mode rules for one node, as `nft list table ip kube-proxy` prints them.
 *
 * The objects are kube-proxy's (pkg/proxy/nftables/proxier.go, the layout of Kubernetes 1.34:
 * filter chains at -110 before DNAT and 0 after it): the fixed sets, maps and chains first,
 * then per service port, in service port name order, its affinity sets and its `service-`,
 * `external-`, `local-` and `endpoint-` chains; names are `<prefix>-<HASH8>-<ns>/<name>/<proto>/<port>`
 * (+ `__<ip>/<port>` for an endpoint), HASH8 the first 8 base32 characters of the sha256 of
 * the part after the hash (servicePortChainNameBase, hashAndTruncate).
 *
 * Printed the way nft 1.0 lists a table: tab-indented; sets and maps before chains, each in
 * the order they were added; elements sorted as nft sorts them (a plain address numerically, a
 * concatenation as one little-endian number over its 4-byte-aligned fields, so the port is
 * compared first) and wrapped as nft wraps them (two addresses a line, one concatenation a
 * line); base chain priorities by name where nft has one (`dstnat`, `dstnat - 10`, `filter`,
 * `srcnat`); marks as `0x00004000`; a set timeout as `3h`.
 *
 * Semantics that differ from iptables mode (and that ServiceProxy runs): a packet to a live
 * ClusterIP on a port it does not serve is rejected (`cluster-ips-check`), one to an address of
 * the service CIDR that no service holds is dropped, and NodePorts answer only on the node's
 * primary address (`--nodeport-addresses primary`, the nftables default).
 */
import { cidrContains, formatCidr, formatIpv4, type Cidr } from '../wire/addr.js';
import { nftChainName, nftEndpointBase, nftServiceBase, servicePortName } from './proxy-names.js';
import type { ResolvedService } from './service-proxy.js';
import { categorizeEndpoints, portPolicy } from './endpoint-conditions.js';
import { portEndpoints } from './endpoint-ports.js';

export interface NftRulesInput {
  node: string;
  clusterCIDR: Cidr;
  serviceCIDR: Cidr;
  /** The node's primary address(es): the nodeport-ips set. */
  nodeIPs: readonly number[];
  services: readonly ResolvedService[];
  /** The node's zone (trafficDistribution hints). */
  zone?: string;
}

const MASQ = '0x00004000';

interface Element { text: string; sort: Buffer }
interface SetDef { kind: 'set' | 'map'; name: string; type: string; lines: string[]; concat: boolean; elements: Element[] }
interface ChainDef { name: string; head: string[]; rules: string[] }

function ipBytes(ip: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ip >>> 0);
  return b;
}
/** A concatenation's key as nft stores it: each field in network order, padded to 4 bytes. */
function concatKey(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.concat([p, Buffer.alloc((4 - (p.length % 4)) % 4)])));
}
const protoByte = (proto: string): Buffer => Buffer.from([proto === 'udp' ? 17 : 6]);
function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}
/** nft sorts a concatenation as one little-endian number (the last byte most significant). */
function cmpLe(a: Buffer, b: Buffer): number {
  for (let i = Math.max(a.length, b.length) - 1; i >= 0; i--) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** nft's time format: 3h, 10m, 1m30s, 1d2h. */
export function nftTime(seconds: number): string {
  let s = seconds;
  let out = '';
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${unit}`;
      s %= n;
    }
  }
  if (s > 0 || out === '') out += `${s}s`;
  return out;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function nftList(input: NftRulesInput): string {
  const cidr = formatCidr(input.clusterCIDR);
  const sets: SetDef[] = [];
  const set = (kind: SetDef['kind'], name: string, type: string, comment: string, concat: boolean): SetDef => {
    const s: SetDef = { kind, name, type, lines: [`comment "${comment}"`], concat, elements: [] };
    sets.push(s);
    return s;
  };
  const clusterIps = set('set', 'cluster-ips', 'ipv4_addr', 'Active ClusterIPs', false);
  const nodeportIps = set('set', 'nodeport-ips', 'ipv4_addr', 'IPs that accept NodePort traffic', false);
  const firewallIps = set('map', 'firewall-ips', 'ipv4_addr . inet_proto . inet_service : verdict', 'destinations that are subject to LoadBalancerSourceRanges', true);
  const noEpNodeports = set('map', 'no-endpoint-nodeports', 'inet_proto . inet_service : verdict', 'vmap to drop or reject packets to service nodeports with no endpoints', true);
  const noEpServices = set('map', 'no-endpoint-services', 'ipv4_addr . inet_proto . inet_service : verdict', 'vmap to drop or reject packets to services with no endpoints', true);
  const serviceIps = set('map', 'service-ips', 'ipv4_addr . inet_proto . inet_service : verdict', 'ClusterIP, ExternalIP and LoadBalancer IP traffic', true);
  const serviceNodeports = set('map', 'service-nodeports', 'inet_proto . inet_service : verdict', 'NodePort traffic', true);
  for (const ip of input.nodeIPs) nodeportIps.elements.push({ text: formatIpv4(ip), sort: ipBytes(ip) });

  const chains: ChainDef[] = [];
  const chain = (name: string, rules: string[], head: string[] = []): void => { chains.push({ name, head, rules }); };
  const base = (hook: string, type: string, prio: number): string => `type ${type} hook ${hook} priority ${priorityName(hook, prio)}; policy accept;`;
  chain('cluster-ips-check', [
    'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
    `ip daddr ${formatCidr(input.serviceCIDR)} drop comment "Drop traffic to unallocated ClusterIPs"`,
  ]);
  chain('filter-prerouting-pre-dnat', ['ct state new jump firewall-check'], [base('prerouting', 'filter', -110)]);
  chain('filter-output-pre-dnat', ['ct state new jump firewall-check'], [base('output', 'filter', -110)]);
  chain('filter-forward', ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check'], [base('forward', 'filter', 0)]);
  chain('filter-input', ['ct state new jump nodeport-endpoints-check', 'ct state new jump service-endpoints-check'], [base('input', 'filter', 0)]);
  chain('filter-output', ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check'], [base('output', 'filter', 0)]);
  chain('firewall-check', ['ip daddr . meta l4proto . th dport vmap @firewall-ips']);
  chain('mark-for-masquerade', [`meta mark set meta mark | ${MASQ}`]);
  chain('masquerading', [`meta mark & ${MASQ} == 0x00000000 return`, `meta mark set meta mark ^ ${MASQ}`, 'masquerade fully-random']);
  chain('nat-output', ['jump services'], [base('output', 'nat', -100)]);
  chain('nat-postrouting', ['jump masquerading'], [base('postrouting', 'nat', 100)]);
  chain('nat-prerouting', ['jump services'], [base('prerouting', 'nat', -100)]);
  chain('nodeport-endpoints-check', ['ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports']);
  chain('reject-chain', ['reject'], ['comment "helper for @no-endpoint-services / @no-endpoint-nodeports"']);
  chain('services', ['ip daddr . meta l4proto . th dport vmap @service-ips', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports']);
  chain('service-endpoints-check', ['ip daddr . meta l4proto . th dport vmap @no-endpoint-services']);

  const ports = input.services.flatMap((s) => s.plan.ports.map((port, k) => ({ s, k, port, proto: port.protocol.toLowerCase(), P: servicePortName(s.plan.namespace, s.plan.name, port.name) })));
  ports.sort((a, b) => cmp(a.P, b.P) || cmp(a.proto, b.proto));
  const clusterIpSeen = new Set<number>();
  for (const { s, k, port, proto, P } of ports) {
    const plan = s.plan;
    const svcBase = nftServiceBase(plan.namespace, plan.name, proto, port.name ?? '');
    const svcChain = nftChainName('service', svcBase);
    const extChain = nftChainName('external', svcBase);
    const localChain = nftChainName('local', svcBase);
    const vip = formatIpv4(plan.clusterIP);
    // This port's endpoints, each at its own target port (a named targetPort resolves per pod).
    const endpoints = portEndpoints(s.endpoints, port, k)
      .map((e) => ({ ...e, hostPort: `${formatIpv4(e.ip)}:${e.targetPort}` }))
      .sort((a, b) => cmp(a.hostPort, b.hostPort))
      .map((e) => {
        const b = nftEndpointBase(svcBase, formatIpv4(e.ip), e.targetPort);
        return { ...e, chain: nftChainName('endpoint', b), affinity: nftChainName('affinity', b) };
      });
    // kube-proxy: CategorizeEndpoints (ready, else serving and terminating; Cluster and Local apart).
    const cat = categorizeEndpoints(endpoints, input.node, input.zone);
    const { cluster, local, hasAny } = cat;
    const externalAddrs = [...plan.externalIPs, ...(plan.type === 'LoadBalancer' ? plan.loadBalancerIPs : [])];
    const nodePort = port.nodePort;
    const { external, internalLocal, externalLocal, usesCluster, usesLocal, hasInternal, hasExternal } = portPolicy(plan, port, cat);
    const hasEndpoints = hasAny;
    const internalChain = internalLocal ? localChain : svcChain;
    const refusal = hasEndpoints ? 'drop' : 'goto reject-chain';
    const affinity = plan.sessionAffinity === 'ClientIP' ? plan.sessionAffinityTimeout : 0;
    const addrKey = (ip: number, p: number): Buffer => concatKey([ipBytes(ip), protoByte(proto), portBytes(p)]);
    const npKey = (p: number): Buffer => concatKey([protoByte(proto), portBytes(p)]);
    if (!clusterIpSeen.has(plan.clusterIP)) {
      clusterIpSeen.add(plan.clusterIP);
      clusterIps.elements.push({ text: vip, sort: ipBytes(plan.clusterIP) });
    }
    if (hasInternal) serviceIps.elements.push({ text: `${vip} . ${proto} . ${port.port} : goto ${internalChain}`, sort: addrKey(plan.clusterIP, port.port) });
    else noEpServices.elements.push({ text: `${vip} . ${proto} . ${port.port} comment "${P}" : ${refusal}`, sort: addrKey(plan.clusterIP, port.port) });
    for (const ip of externalAddrs) {
      const a = formatIpv4(ip);
      if (hasEndpoints) serviceIps.elements.push({ text: `${a} . ${proto} . ${port.port} : goto ${extChain}`, sort: addrKey(ip, port.port) });
      if (!hasExternal) noEpServices.elements.push({ text: `${a} . ${proto} . ${port.port} comment "${P}" : ${refusal}`, sort: addrKey(ip, port.port) });
    }
    if (nodePort !== undefined) {
      if (hasEndpoints) serviceNodeports.elements.push({ text: `${proto} . ${nodePort} : goto ${extChain}`, sort: npKey(nodePort) });
      if (!hasExternal) noEpNodeports.elements.push({ text: `${proto} . ${nodePort} comment "${P}" : ${refusal}`, sort: npKey(nodePort) });
    }
    if (!hasEndpoints) continue;
    const reachable = endpoints.filter((x) => (usesCluster && cluster.includes(x)) || (usesLocal && local.includes(x)));
    if (affinity > 0) {
      for (const e of reachable) {
        sets.push({ kind: 'set', name: e.affinity, type: 'ipv4_addr', lines: ['size 65535', 'flags dynamic,timeout', `timeout ${nftTime(affinity)}`], concat: false, elements: [] });
      }
    }
    const masq = `ip daddr ${vip} ip saddr != ${cidr} jump mark-for-masquerade`;
    const spread = (eps: typeof endpoints, withMasq: boolean): string[] => [
      ...(withMasq ? [masq] : []),
      ...(affinity > 0 ? eps.map((e) => `ip saddr @${e.affinity} goto ${e.chain}`) : []),
      `numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${e.chain}`).join(', ')} }`,
    ];
    if (usesCluster) chain(svcChain, spread(cluster, hasInternal && !internalLocal));
    if (external) {
      if (!externalLocal) {
        chain(extChain, ['jump mark-for-masquerade', `goto ${svcChain}`]);
      } else {
        chain(extChain, [
          `ip saddr ${cidr} goto ${svcChain} comment "short-circuit pod traffic"`,
          `fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`,
          `fib saddr type local goto ${svcChain} comment "short-circuit local traffic"`,
          ...(hasExternal ? [`goto ${localChain}`] : []),
        ]);
      }
    }
    if (usesLocal) chain(localChain, spread(local, hasInternal && internalLocal));
    // loadBalancerSourceRanges: firewall-ips sends the LB IPs to firewall-<h>, which drops other
    // sources (and with a range holding the node's IP, lets the LB IPs themselves in: allowFromNode).
    const ranges = plan.type === 'LoadBalancer' ? plan.loadBalancerSourceRanges ?? [] : [];
    const lbIPs = plan.type === 'LoadBalancer' ? plan.loadBalancerIPs : [];
    if (ranges.length > 0 && lbIPs.length > 0) {
      const fwChain = nftChainName('firewall', svcBase);
      const fromNode = input.nodeIPs.some((n) => ranges.some((r) => cidrContains(r, n)));
      const sources = [...ranges.map(formatCidr), ...(fromNode ? lbIPs.map(formatIpv4) : [])];
      chain(fwChain, [`ip saddr != ${sources.length === 1 ? sources[0] : `{ ${sources.join(', ')} }`} drop`]);
      for (const ip of lbIPs) firewallIps.elements.push({ text: `${formatIpv4(ip)} . ${proto} . ${port.port} : goto ${fwChain}`, sort: addrKey(ip, port.port) });
    }
    for (const e of reachable) {
      chain(e.chain, [
        `ip saddr ${formatIpv4(e.ip)} jump mark-for-masquerade`,
        ...(affinity > 0 ? [`update @${e.affinity} { ip saddr }`] : []),
        `meta l4proto ${proto} dnat to ${e.hostPort}`,
      ]);
    }
  }

  const out = ['table ip kube-proxy {', '\tcomment "rules for kube-proxy"'];
  const blocks: string[][] = [];
  for (const s of sets) {
    const b = [`\t${s.kind} ${s.name} {`, `\t\ttype ${s.type}`, ...s.lines.map((l) => `\t\t${l}`)];
    if (s.elements.length > 0) b.push(`\t\telements = { ${elementsText(s)} }`);
    b.push('\t}');
    blocks.push(b);
  }
  for (const c of chains) blocks.push([`\tchain ${c.name} {`, ...c.head.map((h) => `\t\t${h}`), ...c.rules.map((r) => `\t\t${r}`), '\t}']);
  blocks.forEach((b, i) => {
    out.push(...b);
    if (i < blocks.length - 1) out.push('');
  });
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** nft's set_expr_print / calculate_delim: addresses two a line, concatenations one. */
function elementsText(s: SetDef): string {
  const els = [...s.elements].sort((a, b) => (s.concat ? cmpLe(a.sort, b.sort) : Buffer.compare(a.sort, b.sort)));
  const perLine = s.concat ? 1 : 2;
  let text = '';
  els.forEach((e, i) => {
    if (i > 0) text += i % perLine === 0 ? ',\n\t\t\t     ' : ', ';
    text += e.text;
  });
  return text;
}

/** nft prints a base chain's priority by its standard name where it has one for that hook. */
function priorityName(hook: string, prio: number): string {
  if (prio === 0) return 'filter';
  if (hook === 'prerouting' && prio === -100) return 'dstnat';
  if (hook === 'prerouting' && prio === -110) return 'dstnat - 10';
  if (hook === 'postrouting' && prio === 100) return 'srcnat';
  return String(prio);
}
