/**
 * kube-proxy's iptables rules for one node, as `iptables-save` prints them there.
 *
 * The rules are derived from the same services and endpoints the ServiceProxy runs on, in
 * the order kube-proxy's syncProxyRules writes them (pkg/proxy/iptables/proxier.go), and
 * printed in the form `iptables-save` (v1.8, nf_tables backend) gives back after kube-proxy's
 * `iptables-restore`: `-s`/`-d` with their prefix length, `-p` before the matches, the
 * `--probability` as the kernel stores it (`%.11f` of lround(p * 2^31) / 2^31), `recent`
 * with its defaults (`--mask 255.255.255.255 --rsource`), MARK as `--set-xmark`, REJECT with
 * `--reject-with icmp-port-unreachable`; user chains in alphabetical order.
 *
 * What kube-proxy leaves to chance is fixed here: it writes services in Go map order; this
 * writes them sorted by service port name, as kube-proxy's own tests compare them
 * (`sortIPTablesRules`). Endpoints are sorted by "ip:port" (kube-proxy's EndpointSliceCache).
 *
 * Semantics, per service port (P = "ns/name:port", the comment on every rule):
 *   - endpoints: nat KUBE-SERVICES matches the cluster IP and jumps to KUBE-SVC-<h>, which
 *     marks traffic from outside the cluster CIDR for masquerade and spreads connections over
 *     KUBE-SEP-<h> chains with `statistic --probability 1/(n-i)`; with ClientIP affinity a
 *     `recent --rcheck --seconds T --reap` rule per endpoint comes first.
 *   - which endpoints: CategorizeEndpoints (endpoint-conditions.ts): ready ones, else serving
 *     terminating ones, for Cluster and Local policy apart; unready ones get no rules.
 *   - no endpoints: no nat rules; filter KUBE-SERVICES REJECTs the cluster IP ("has no endpoints").
 *   - NodePort, externalIPs, LoadBalancer ingress IPs: nat KUBE-NODEPORTS / KUBE-SERVICES
 *     ("external IP", "loadbalancer IP") jump to KUBE-EXT-<h>. externalTrafficPolicy Cluster
 *     masquerades there; Local sends pod and node-local traffic to KUBE-SVC (masquerading the
 *     node's own), the rest to KUBE-SVL-<h> (this node's endpoints only), and without a local
 *     endpoint filter KUBE-EXTERNAL-SERVICES DROPs it ("has no local endpoints").
 *   - healthCheckNodePort (LoadBalancer, externalTrafficPolicy Local): filter KUBE-NODEPORTS
 *     ACCEPTs tcp to it ("health check node port"), whether or not the node has local endpoints.
 *   - internalTrafficPolicy Local: the cluster IP jumps to KUBE-SVL-<h>; without a local
 *     endpoint filter KUBE-SERVICES DROPs it ("has no local endpoints").
 */
import { cidrContains, formatCidr, formatIpv4, type Cidr } from '../wire/addr.js';
import { endpointChainName, serviceChainName, servicePortName } from './proxy-names.js';
import type { ResolvedService } from './service-proxy.js';
import { categorizeEndpoints, portPolicy } from './endpoint-conditions.js';
import { portEndpoints } from './endpoint-ports.js';

export type IptablesTable = 'nat' | 'filter';
export const IPTABLES_TABLES: readonly IptablesTable[] = ['nat', 'filter'];

export interface IptablesRulesInput {
  /** The node whose rules these are (decides which endpoints are local). */
  node: string;
  /** kube-proxy's --cluster-cidr: detect-local-mode ClusterCIDR (`-s` / `! -s`). */
  clusterCIDR: Cidr;
  /** The node's IP (loadBalancerSourceRanges' allowFromNode); absent: never. */
  nodeIP?: number;
  services: readonly ResolvedService[];
  /** The node's zone (trafficDistribution hints). */
  zone?: string;
  /**
   * nf_conntrack_tcp_be_liberal is set (kube-proxy --conntrack-tcp-be-liberal): kube-proxy then
   * leaves out KUBE-FORWARD's `--ctstate INVALID -j DROP` (PR #120412).
   */
  tcpBeLiberal?: boolean;
}

interface Rule {
  chain: string;
  src?: string;
  srcNeg?: boolean;
  dst?: string;
  proto?: string;
  /** Matches, already in saved form, in kube-proxy's order. */
  m: string[];
  /** Target and its options ('' for none). */
  j: string;
}

const MASQ_MARK = '0x4000';
const NODEPORTS_LAST = 'kubernetes service nodeports; NOTE: this must be the last rule in this chain';

/** How `iptables-save` quotes a comment (xtables_save_string: always in double quotes). */
const comment = (c: string): string => `-m comment --comment "${c.replace(/(["\\])/g, '\\$1')}"`;

/**
 * xt_statistic: iptables stores the probability as lround(p * 2^31) and prints it with %.11f
 * (extensions/libxt_statistic.c); kube-proxy writes it as %0.10f of 1/n (proxier.probability).
 */
export function savedProbability(n: number): string {
  const written = Number((1 / n).toFixed(10));
  return (Math.round(written * 0x80000000) / 0x80000000).toFixed(11);
}

function render(r: Rule): string {
  let s = `-A ${r.chain}`;
  if (r.src !== undefined) s += `${r.srcNeg === true ? ' !' : ''} -s ${r.src}`;
  if (r.dst !== undefined) s += ` -d ${r.dst}`;
  if (r.proto !== undefined) s += ` -p ${r.proto}`;
  for (const m of r.m) s += ` ${m}`;
  return r.j === '' ? s : `${s} -j ${r.j}`; // a rule with no target only counts (KUBE-FW's last)
}

interface PortRules {
  nat: Rule[];
  natChains: string[];
  filter: Rule[];
}

/** One table of one node, `iptables-save -t TABLE` text. */
export function iptablesSave(input: IptablesRulesInput, table: IptablesTable): string {
  const per = servicePorts(input);
  return table === 'nat' ? natTable(input, per) : filterTable(per, input.tcpBeLiberal === true);
}

function servicePorts(input: IptablesRulesInput): PortRules[] {
  const ports: { name: string; proto: string; s: ResolvedService; k: number; port: ResolvedService['plan']['ports'][number] }[] = [];
  for (const s of input.services) {
    for (const [k, port] of s.plan.ports.entries()) {
      ports.push({ name: servicePortName(s.plan.namespace, s.plan.name, port.name), proto: port.protocol.toLowerCase(), s, k, port });
    }
  }
  ports.sort((a, b) => cmp(a.name, b.name) || cmp(a.proto, b.proto));
  return ports.map(({ name, proto, s, k, port }) => servicePortRules(input, name, proto, s, k, port));
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function servicePortRules(
  input: IptablesRulesInput, P: string, proto: string, s: ResolvedService, k: number, port: ResolvedService['plan']['ports'][number],
): PortRules {
  const plan = s.plan;
  const cidr = formatCidr(input.clusterCIDR);
  const vip = `${formatIpv4(plan.clusterIP)}/32`;
  // This port's endpoints, each at its own target port (a named targetPort resolves per pod).
  const endpoints = portEndpoints(s.endpoints, port, k)
    .map((e) => ({ ...e, hostPort: `${formatIpv4(e.ip)}:${e.targetPort}` }))
    .sort((a, b) => cmp(a.hostPort, b.hostPort))
    .map((e) => ({ ...e, chain: endpointChainName(P, proto, e.hostPort) }));
  // kube-proxy: CategorizeEndpoints (ready, else serving and terminating; Cluster and Local apart).
  const cat = categorizeEndpoints(endpoints, input.node, input.zone);
  const { cluster, local, hasAny } = cat;
  const hash = serviceChainName(P, proto).slice('KUBE-SVC-'.length);
  const svc = `KUBE-SVC-${hash}`;
  const svl = `KUBE-SVL-${hash}`;
  const ext = `KUBE-EXT-${hash}`;
  const nodePort = port.nodePort;
  const externalIPs = plan.externalIPs;
  const lbIPs = plan.type === 'LoadBalancer' ? plan.loadBalancerIPs : [];
  const {
    external, internalLocal, externalLocal, usesCluster, usesLocal, hasInternal: hasInternalEndpoints, hasExternal: hasExternalEndpoints,
  } = portPolicy(plan, port, cat);
  const hasEndpoints = hasAny;
  const internalChain = internalLocal ? svl : svc;
  const out: PortRules = { nat: [], natChains: [], filter: [] };
  const dport = `-m ${proto} --dport ${port.port}`;
  const REJECT = 'REJECT --reject-with icmp-port-unreachable';
  const internalFilter = hasEndpoints ? { c: `${P} has no local endpoints`, j: 'DROP' } : { c: `${P} has no endpoints`, j: REJECT };
  const externalFilter = internalFilter;

  if (hasInternalEndpoints) {
    out.nat.push({ chain: 'KUBE-SERVICES', dst: vip, proto, m: [comment(`${P} cluster IP`), dport], j: internalChain });
  } else {
    out.filter.push({ chain: 'KUBE-SERVICES', dst: vip, proto, m: [comment(internalFilter.c), dport], j: internalFilter.j });
  }
  const ranges = plan.type === 'LoadBalancer' ? plan.loadBalancerSourceRanges ?? [] : [];
  const fw = `KUBE-FW-${hash}`;
  const usesFW = hasEndpoints && lbIPs.length > 0 && ranges.length > 0;
  for (const [ips, what] of [[externalIPs, 'external IP'], [lbIPs, 'loadbalancer IP']] as const) {
    for (const ip of ips) {
      const dst = `${formatIpv4(ip)}/32`;
      const lbFW = usesFW && what === 'loadbalancer IP';
      if (hasEndpoints) out.nat.push({ chain: 'KUBE-SERVICES', dst, proto, m: [comment(`${P} ${what}`), dport], j: lbFW ? fw : ext });
      // What KUBE-FW did not DNAT (a source outside the ranges) is dropped here.
      if (lbFW) out.filter.push({ chain: 'KUBE-PROXY-FIREWALL', dst, proto, m: [comment(`${P} traffic not accepted by ${fw}`), dport], j: 'DROP' });
      if (!hasExternalEndpoints) out.filter.push({ chain: 'KUBE-EXTERNAL-SERVICES', dst, proto, m: [comment(externalFilter.c), dport], j: externalFilter.j });
    }
  }
  if (nodePort !== undefined) {
    if (hasEndpoints) out.nat.push({ chain: 'KUBE-NODEPORTS', proto, m: [comment(P), `-m ${proto} --dport ${nodePort}`], j: ext });
    if (!hasExternalEndpoints) {
      out.filter.push({
        chain: 'KUBE-EXTERNAL-SERVICES', proto, m: [comment(externalFilter.c), '-m addrtype --dst-type LOCAL', `-m ${proto} --dport ${nodePort}`], j: externalFilter.j,
      });
    }
  }
  // kube-proxy: "no matter if node has local endpoints", the health check port is ACCEPTed (always tcp).
  if (plan.healthCheckNodePort !== undefined) {
    out.filter.push({ chain: 'KUBE-NODEPORTS', proto: 'tcp', m: [comment(`${P} health check node port`), `-m tcp --dport ${plan.healthCheckNodePort}`], j: 'ACCEPT' });
  }
  if (!hasEndpoints) return out;

  if (hasInternalEndpoints) {
    out.nat.push({ chain: internalChain, src: cidr, srcNeg: true, dst: vip, proto, m: [comment(`${P} cluster IP`), dport], j: 'KUBE-MARK-MASQ' });
  }
  if (external) {
    out.natChains.push(ext);
    if (!externalLocal) {
      out.nat.push({ chain: ext, m: [comment(`masquerade traffic for ${P} external destinations`)], j: 'KUBE-MARK-MASQ' });
    } else {
      out.nat.push({ chain: ext, src: cidr, m: [comment(`pod traffic for ${P} external destinations`)], j: svc });
      out.nat.push({ chain: ext, m: [comment(`masquerade LOCAL traffic for ${P} external destinations`), '-m addrtype --src-type LOCAL'], j: 'KUBE-MARK-MASQ' });
      out.nat.push({ chain: ext, m: [comment(`route LOCAL traffic for ${P} external destinations`), '-m addrtype --src-type LOCAL'], j: svc });
    }
    if (hasExternalEndpoints) out.nat.push({ chain: ext, m: [], j: externalLocal ? svl : svc });
  }
  if (usesFW) {
    out.natChains.push(fw);
    for (const r of ranges) out.nat.push({ chain: fw, src: formatCidr(r), m: [comment(`${P} loadbalancer IP`)], j: ext });
    if (input.nodeIP !== undefined && ranges.some((r) => cidrContains(r, input.nodeIP!))) {
      for (const ip of lbIPs) out.nat.push({ chain: fw, src: `${formatIpv4(ip)}/32`, m: [comment(`${P} loadbalancer IP`)], j: ext });
    }
    out.nat.push({ chain: fw, m: [comment(`other traffic to ${P} will be dropped by KUBE-PROXY-FIREWALL`)], j: '' });
  }
  const affinity = plan.sessionAffinity === 'ClientIP' ? plan.sessionAffinityTimeout : 0;
  const spread = (chain: string, eps: typeof endpoints): void => {
    if (affinity > 0) {
      for (const e of eps) {
        out.nat.push({ chain, m: [comment(`${P} -> ${e.hostPort}`), `-m recent --rcheck --seconds ${affinity} --reap --name ${e.chain} --mask 255.255.255.255 --rsource`], j: e.chain });
      }
    }
    eps.forEach((e, i) => {
      const m = [comment(`${P} -> ${e.hostPort}`)];
      if (i < eps.length - 1) m.push(`-m statistic --mode random --probability ${savedProbability(eps.length - i)}`);
      out.nat.push({ chain, m, j: e.chain });
    });
  };
  if (usesCluster) {
    out.natChains.push(svc);
    spread(svc, cluster);
  }
  if (usesLocal) {
    out.natChains.push(svl);
    spread(svl, local);
  }
  // allLocallyReachableEndpoints: each gets its KUBE-SEP chain once.
  for (const e of endpoints.filter((x) => (usesCluster && cluster.includes(x)) || (usesLocal && local.includes(x)))) {
    out.natChains.push(e.chain);
    out.nat.push({ chain: e.chain, src: `${formatIpv4(e.ip)}/32`, m: [comment(P)], j: 'KUBE-MARK-MASQ' });
    const m = [comment(P)];
    if (affinity > 0) m.push(`-m recent --set --name ${e.chain} --mask 255.255.255.255 --rsource`);
    m.push(`-m ${proto}`);
    out.nat.push({ chain: e.chain, proto, m, j: `DNAT --to-destination ${e.hostPort}` });
  }
  return out;
}

/** Prints a table the way iptables-save does: built-in chains, user chains sorted, rules by chain. */
function save(table: string, builtin: readonly string[], chains: Iterable<string>, rules: readonly Rule[]): string {
  const user = [...new Set(chains)].sort(cmp);
  const byChain = new Map<string, Rule[]>();
  for (const r of rules) {
    const list = byChain.get(r.chain);
    if (list === undefined) byChain.set(r.chain, [r]);
    else list.push(r);
  }
  const lines = [`*${table}`];
  for (const b of builtin) lines.push(`:${b} ACCEPT [0:0]`);
  for (const c of user) lines.push(`:${c} - [0:0]`);
  for (const c of [...builtin, ...user]) for (const r of byChain.get(c) ?? []) lines.push(render(r));
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

function natTable(input: IptablesRulesInput, per: readonly PortRules[]): string {
  void input;
  const rules: Rule[] = [
    // kube-proxy's jumps from the built-in chains (iptablesJumpChains, iptablesKubeletJumpChains).
    { chain: 'PREROUTING', m: [comment('kubernetes service portals')], j: 'KUBE-SERVICES' },
    { chain: 'OUTPUT', m: [comment('kubernetes service portals')], j: 'KUBE-SERVICES' },
    { chain: 'POSTROUTING', m: [comment('kubernetes postrouting rules')], j: 'KUBE-POSTROUTING' },
    { chain: 'KUBE-MARK-MASQ', m: [], j: `MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}` },
    { chain: 'KUBE-POSTROUTING', m: [`-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK}`], j: 'RETURN' },
    { chain: 'KUBE-POSTROUTING', m: [], j: `MARK --set-xmark ${MASQ_MARK}/0x0` },
    { chain: 'KUBE-POSTROUTING', m: [comment('kubernetes service traffic requiring SNAT')], j: 'MASQUERADE --random-fully' },
  ];
  const chains = ['KUBE-MARK-MASQ', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-PROXY-CANARY', 'KUBE-SERVICES'];
  for (const p of per) {
    rules.push(...p.nat);
    chains.push(...p.natChains);
  }
  rules.push({ chain: 'KUBE-SERVICES', m: [comment(NODEPORTS_LAST), '-m addrtype --dst-type LOCAL'], j: 'KUBE-NODEPORTS' });
  return save('nat', ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'], chains, rules);
}

function filterTable(per: readonly PortRules[], beLiberal: boolean): string {
  const NEW = '-m conntrack --ctstate NEW';
  // kube-proxy prepends its jumps (`-I`) in the order of iptablesJumpChains: each built-in
  // chain holds them last-listed first.
  const rules: Rule[] = [
    { chain: 'INPUT', m: [NEW, comment('kubernetes load balancer firewall')], j: 'KUBE-PROXY-FIREWALL' },
    { chain: 'INPUT', m: [comment('kubernetes health check service ports')], j: 'KUBE-NODEPORTS' },
    { chain: 'INPUT', m: [NEW, comment('kubernetes externally-visible service portals')], j: 'KUBE-EXTERNAL-SERVICES' },
    { chain: 'FORWARD', m: [NEW, comment('kubernetes load balancer firewall')], j: 'KUBE-PROXY-FIREWALL' },
    { chain: 'FORWARD', m: [comment('kubernetes forwarding rules')], j: 'KUBE-FORWARD' },
    { chain: 'FORWARD', m: [NEW, comment('kubernetes service portals')], j: 'KUBE-SERVICES' },
    { chain: 'FORWARD', m: [NEW, comment('kubernetes externally-visible service portals')], j: 'KUBE-EXTERNAL-SERVICES' },
    { chain: 'OUTPUT', m: [NEW, comment('kubernetes load balancer firewall')], j: 'KUBE-PROXY-FIREWALL' },
    { chain: 'OUTPUT', m: [NEW, comment('kubernetes service portals')], j: 'KUBE-SERVICES' },
    {
      chain: 'KUBE-FIREWALL', src: '127.0.0.0/8', srcNeg: true, dst: '127.0.0.0/8',
      m: [comment('block incoming localnet connections'), '-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT'], j: 'DROP',
    },
    ...(beLiberal ? [] : [{ chain: 'KUBE-FORWARD', m: ['-m conntrack --ctstate INVALID'], j: 'DROP' }]),
    { chain: 'KUBE-FORWARD', m: [comment('kubernetes forwarding rules'), `-m mark --mark ${MASQ_MARK}/${MASQ_MARK}`], j: 'ACCEPT' },
    { chain: 'KUBE-FORWARD', m: [comment('kubernetes forwarding conntrack rule'), '-m conntrack --ctstate RELATED,ESTABLISHED'], j: 'ACCEPT' },
  ];
  for (const p of per) rules.push(...p.filter);
  const chains = ['KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-CANARY', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES'];
  return save('filter', ['INPUT', 'FORWARD', 'OUTPUT'], chains, rules);
}

/**
 * Keeps what belongs to one service: its chains (declared and filled) and the rules that
 * jump to them or name it in their comment.
 */
export function onlyService(text: string, namespace: string, name: string): string {
  const prefix = `${namespace}/${name}`;
  const names = (c: string): boolean => c === prefix || c.startsWith(`${prefix}:`) || c.startsWith(`${prefix} `)
    || new RegExp(`for ${escapeRe(prefix)}(:| )`).test(c);
  const own = new Set<string>();
  const lines = text.split('\n');
  for (const l of lines) {
    const c = /--comment "((?:[^"\\]|\\.)*)"/.exec(l)?.[1];
    const chain = /^-A (\S+)/.exec(l)?.[1];
    if (c !== undefined && chain !== undefined && names(c) && /^KUBE-(SVC|SVL|EXT|SEP|FW)-/.test(chain)) own.add(chain);
  }
  return `${lines.filter((l) => {
    if (l.startsWith(':')) {
      const chain = l.slice(1).split(' ')[0]!;
      return !/^KUBE-(SVC|SVL|EXT|SEP|FW)-/.test(chain) || own.has(chain);
    }
    if (!l.startsWith('-A ')) return true;
    const chain = l.split(' ')[1]!;
    if (own.has(chain)) return true;
    const c = /--comment "((?:[^"\\]|\\.)*)"/.exec(l)?.[1];
    return c !== undefined && names(c);
  }).join('\n')}`;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
