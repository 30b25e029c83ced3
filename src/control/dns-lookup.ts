/**
 * `podwire dns`: a name looked up the way a pod's stub resolver (glibc) does it, against the
 * cluster DNS records: the pod's resolv.conf (`search <ns>.svc.<zone> svc.<zone> <zone>`,
 * `options ndots:5`, kubelet's ClusterFirst), every query the resolver would send in order
 * until one has an answer, and the answers in dig's answer-section format.
 */
import type { Cluster } from '../kube/cluster.js';
import { searchCandidates } from '../kube/dns-records.js';
import { DnsRcode, DnsType, type DnsRecord } from '../wire/dns.js';
import { formatIpv4 } from '../wire/addr.js';
import { badRequest, notFound } from './errors.js';

const TYPES: Readonly<Record<string, number>> = { A: DnsType.A, AAAA: DnsType.AAAA, SRV: DnsType.SRV, PTR: DnsType.PTR, CNAME: DnsType.CNAME, TXT: DnsType.TXT, SOA: DnsType.SOA, ANY: DnsType.ANY };
const RCODES: Readonly<Record<number, string>> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };
const typeName = (t: number): string => Object.entries(TYPES).find(([, v]) => v === t)?.[0] ?? `TYPE${t}`;

/** One record as dig prints it in the answer section: `name.<TAB>ttl<TAB>IN<TAB>TYPE<TAB>data`. */
export function digLine(r: DnsRecord): string {
  const d = r.data;
  let data: string;
  switch (d.kind) {
    case 'a': data = formatIpv4(d.address); break;
    case 'name': data = `${d.target}.`; break;
    case 'srv': data = `${d.priority} ${d.weight} ${d.port} ${d.target}.`; break;
    case 'txt': data = d.strings.map((s) => `"${new TextDecoder().decode(s)}"`).join(' '); break;
    case 'soa': data = `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`; break;
    default: data = '\\# (not printed)';
  }
  return `${r.name}.\t${r.ttl}\tIN\t${typeName(r.type)}\t${data}`;
}

/** The lookup from pod `from` (NAME or NS/NAME), as text lines. */
export function dnsLookup(c: Cluster, q: { from: string; name: string; type?: string }): string {
  const [ns, podName] = q.from.includes('/') ? q.from.split('/', 2) as [string, string] : [undefined, q.from];
  const pod = c.plan.pods.find((p) => p.name === podName && (ns === undefined || p.namespace === ns));
  if (pod === undefined) throw notFound('/from', q.from, 'pod', c.plan.pods.map((p) => p.name));
  const tname = (q.type ?? 'A').toUpperCase();
  const type = TYPES[tname];
  if (type === undefined) throw badRequest('/type', q.type, `is not one of ${Object.keys(TYPES).join(', ')}`);
  const records = c.services.records;
  const zone = records.domain;
  const lines = [
    `;; ${pod.namespace}/${pod.name} resolv.conf: nameserver ${formatIpv4(c.plan.dnsServiceIp)}; search ${pod.namespace}.svc.${zone} svc.${zone} ${zone}; options ndots:5`,
  ];
  const candidates = searchCandidates(q.name, pod.namespace, { domain: zone, ndots: 5 });
  let answered: DnsRecord[] | null = null;
  for (const [i, name] of candidates.entries()) {
    const a = records.answer(name, type);
    lines.push(`;; query ${i + 1}: ${name}. IN ${tname} -> ${RCODES[a.rcode] ?? a.rcode}${a.rcode === DnsRcode.NoError && a.answers.length === 0 ? ' (no data)' : ''}`);
    if (a.rcode === DnsRcode.NoError && a.answers.length > 0) { answered = a.answers; break; }
  }
  if (candidates.length > 1 && !q.name.endsWith('.')) {
    const dots = q.name.split('.').length - 1;
    if (dots < 5) lines.push(`;; ${q.name} has ${dots} dot${dots === 1 ? '' : 's'} (< ndots:5): the search list comes first, the name as given last`);
  }
  if (answered === null) lines.push(';; no answer');
  else for (const r of answered) lines.push(digLine(r));
  return lines.join('\n');
}
