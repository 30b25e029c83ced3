/**
 * Cluster DNS records: what CoreDNS's `kubernetes` plugin answers, as pure data and logic
 * (no sockets, no clock). The emulated kube-dns in `src/apps` feeds UDP payloads through
 * `answerQuery`; the builder keeps the records in step with the topology through
 * `setService`/`removeService`/`setPod`/`removePod`.
 *
 * Modelled on kubeadm's default Corefile:
 *
 *     kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa; ttl 30 }
 *     forward . /etc/resolv.conf
 *
 * Names answered (zone = the cluster domain, `cluster.local` by default):
 * - `<svc>.<ns>.svc.<zone>`: A = the cluster IP (ANY is answered like A); SRV = one record
 *   per service port, target the service name, priority 0, weight 100 split evenly
 *   (CoreDNS: floor(100 / records of that priority)), the A record in additional.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV for the named port (priority 0, weight 100,
 *   additional A); A = the cluster IP; an unknown port name or protocol is NXDOMAIN.
 * - `<a-b-c-d>.<ns>.pod.<zone>`: A per the `pods` mode (`insecure`: echo the address;
 *   `verified`: only a registered pod of that namespace with that IP; `disabled`: NXDOMAIN).
 * - `<d.c.b.a>.in-addr.arpa`: PTR to the service owning that cluster IP; else one PTR per
 *   service with an endpoint of that IP, `<endpoint hostname>.<svc>.<ns>.svc.<zone>`
 *   (CoreDNS reverse.go serviceRecordForIP).
 * - Headless services (`clusterIP: null`): A = one per ready endpoint (none ready: NXDOMAIN,
 *   CoreDNS findServices errNoItems); SRV = every ready endpoint x every port it has, at
 *   the endpoint's own port (the EndpointSlice's, i.e. the targetPort resolved on its pod:
 *   CoreDNS takes `Port` from the endpoints' ports, not the service's), target
 *   `<hostname>.<svc>.<ns>.svc.<zone>`, the endpoint's A in additional; no endpoint with
 *   the asked port: NXDOMAIN (errNoItems); `<hostname>.<svc>...`
 *   = the A records of the endpoints with that hostname. An endpoint's hostname is its
 *   `hostname`, else its dashed IP (`10-244-1-5`, CoreDNS endpointHostname).
 * - ExternalName services: a CNAME to `externalName` for every type; an in-cluster target
 *   is chased (its A records follow the CNAME, CoreDNS CNAMEOrder); names below it NXDOMAIN.
 * - `dns-version.<zone>`: TXT "1.1.0" (the schema version), TTL 28800 (CoreDNS
 *   DNSSchemaVersion, hard-coded TTL).
 * - `kubernetes.default.svc.<zone>`: registered at construction (10.96.0.1, https 443/TCP).
 * - The apex answers SOA (`ns.dns.<zone>` / `hostmaster.<zone>`, refresh 7200, retry 1800,
 *   expire 86400, minimum = TTL; the serial counts changes, as no clock is injected here).
 * - A known name asked for another type is NODATA (NOERROR, no answer); empty non-terminals
 *   (`svc.<zone>`, `<existing ns>.svc.<zone>`, ...) too; any other name in the zone is
 *   NXDOMAIN. Both carry the SOA in authority (RFC 2308).
 * - Names outside the zone, and reverse names that are no service's: a real cluster
 *   forwards them upstream (`fallthrough` + `forward`); so does the DNS server when
 *   `cluster.dns.upstream` is set (`forwards(query)` tells it which). Without one the
 *   answer is SERVFAIL, what CoreDNS's `.:53` block answers without `forward`
 *   (plugin.NextOrFailure: "no next plugin found"), or REFUSED (CoreDNS's answer when no
 *   server block serves a zone) with `outsideZone: 'refused'`.
 * Names are compared case-insensitively. TTL 5 is the plugin's default (`defaultTTL = 5`;
 * kubeadm's Corefile sets `ttl 30`): `cluster.dns.ttl` in the topology. AAAA (IPv6) records
 * are not modelled: an AAAA query for a name with A records is NODATA.
 */
import {
  DnsClass, DnsHeader, DnsOpcode, DnsRcode, DnsType, DNS_UDP_MIN, emitDnsMessage, parseDnsMessage,
} from '../wire/dns.js';
import type { DnsMessage, DnsRecord } from '../wire/dns.js';

export type ServiceProtocol = 'TCP' | 'UDP' | 'SCTP';
export interface DnsServicePort { name?: string; port: number; protocol: ServiceProtocol }
/**
 * A ready address behind a service; `hostname` from the pod's spec.hostname (with
 * spec.subdomain = the service). `ports`: its EndpointSlice port for each of the service's
 * ports, in order (a named targetPort resolved on its pod; 0: it is no endpoint of that
 * port); absent: the service's port numbers.
 */
export interface DnsEndpoint { ip: number; hostname?: string; ports?: readonly number[] }
/**
 * `clusterIP` null: headless (`clusterIP: None`), answered from `endpoints`. `externalName`
 * set: an ExternalName service (CNAME only). `endpoints` of a ClusterIP service serve PTR.
 */
export interface DnsService {
  name: string; namespace: string; clusterIP: number | null; ports: readonly DnsServicePort[];
  endpoints?: readonly DnsEndpoint[];
  externalName?: string;
}
export interface DnsPod { name: string; namespace: string; ip: number }

export interface DnsAnswer { rcode: number; answers: DnsRecord[]; authority: DnsRecord[]; additional: DnsRecord[] }

export interface ClusterDnsOptions {
  /** Cluster domain (kubelet `--cluster-domain`), default `cluster.local`. */
  domain?: string;
  /** TTL of every record (0..3600), default 5 (CoreDNS `ttl`). */
  ttl?: number;
  /** CoreDNS `pods` mode, default `insecure` (kubeadm). */
  pods?: 'disabled' | 'insecure' | 'verified';
  /** Cluster IP of `kubernetes.default`, default 10.96.0.1; null registers no such service. */
  kubernetesClusterIP?: number | null;
  /** Answer for names nobody here serves, default `servfail`. */
  outsideZone?: 'refused' | 'servfail';
}

export interface SearchOptions {
  domain?: string;
  /** resolv.conf `ndots`, 5 in a pod (kubelet). */
  ndots?: number;
  /** Replaces the search list (default `<ns>.svc.<domain> svc.<domain> <domain>`). */
  search?: readonly string[];
}

/**
 * EDNS options CoreDNS copies from the query's OPT into the answer's (request.SetSizeAndDo
 * reuses the client's OPT: its UDP size, version 0, and these options): NSID, EXPIRE,
 * COOKIE, TCP keepalive, padding (request/edns0.go supportedOptions).
 */
const ECHOED_EDNS_OPTIONS: ReadonlySet<number> = new Set([3, 9, 10, 11, 12]);
/** CoreDNS DNSSchemaVersion, served at `dns-version.<zone>` with a fixed TTL. */
export const DNS_SCHEMA_VERSION = '1.1.0';
const DNS_VERSION_TTL = 28800;
const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

const lower = (s: string): string => s.toLowerCase();

function trimDot(name: string): string {
  return name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
}

/** Four decimal octets 0..255 without leading zeros, most significant first; else null. */
function parseIpv4(parts: readonly string[]): number | null {
  if (parts.length !== 4) return null;
  let ip = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    ip = ip * 256 + v;
  }
  return ip;
}

/**
 * The names a pod's stub resolver (glibc) tries for `name`, in order: a trailing dot means
 * exactly that name; with at least `ndots` dots the name as given comes first and then the
 * search list; with fewer, the search list first and the name as given last. Candidates
 * longer than 253 characters are skipped, as the resolver cannot send them.
 */
export function searchCandidates(name: string, podNamespace: string, opts: SearchOptions = {}): string[] {
  const domain = lower(trimDot(opts.domain ?? 'cluster.local'));
  const ndots = opts.ndots ?? 5;
  const search = opts.search ?? [`${podNamespace}.svc.${domain}`, `svc.${domain}`, domain];
  if (name === '' || name === '.') return [];
  if (name.endsWith('.') && !name.endsWith('\\.')) return [name.slice(0, -1)];
  const dots = name.split('.').length - 1;
  const expanded = search.map((s) => `${name}.${trimDot(s)}`);
  const all = dots >= ndots ? [name, ...expanded] : [...expanded, name];
  return all.filter((c) => c.length <= 253);
}

/** CoreDNS endpointHostname: the endpoint's hostname, else its address with dashes. */
function hostnameOf(e: DnsEndpoint): string {
  if (e.hostname !== undefined && e.hostname !== '') return e.hostname;
  return `${e.ip >>> 24}-${(e.ip >>> 16) & 0xff}-${(e.ip >>> 8) & 0xff}-${e.ip & 0xff}`;
}

export class ClusterDnsRecords {
  readonly domain: string;
  readonly ttl: number;
  private readonly podsMode: 'disabled' | 'insecure' | 'verified';
  private readonly outsideRcode: number;
  private readonly services = new Map<string, DnsService>();
  private readonly pods = new Map<string, DnsPod>();
  private serial = 1;

  constructor(opts: ClusterDnsOptions = {}) {
    this.domain = lower(trimDot(opts.domain ?? 'cluster.local'));
    this.ttl = opts.ttl ?? 5;
    this.podsMode = opts.pods ?? 'insecure';
    this.outsideRcode = opts.outsideZone === 'refused' ? DnsRcode.Refused : DnsRcode.ServFail;
    const apiIP = opts.kubernetesClusterIP === undefined ? 0x0a600001 : opts.kubernetesClusterIP;
    if (apiIP !== null) {
      this.setService({ name: 'kubernetes', namespace: 'default', clusterIP: apiIP, ports: [{ name: 'https', port: 443, protocol: 'TCP' }] });
    }
  }

  /** Adds or replaces a service (matched by name and namespace, case-insensitively). */
  setService(svc: DnsService): void {
    const s: DnsService = {
      name: lower(svc.name), namespace: lower(svc.namespace), clusterIP: svc.clusterIP === null ? null : svc.clusterIP >>> 0,
      ports: svc.ports.map((p) => ({ ...p })),
      endpoints: (svc.endpoints ?? []).map((e) => ({
        ip: e.ip >>> 0, ...(e.hostname !== undefined ? { hostname: lower(e.hostname) } : {}), ...(e.ports !== undefined ? { ports: [...e.ports] } : {}),
      })),
    };
    if (svc.externalName !== undefined) s.externalName = lower(trimDot(svc.externalName));
    this.services.set(`${s.namespace}/${s.name}`, s);
    this.serial++;
  }

  removeService(name: string, namespace: string): boolean {
    const gone = this.services.delete(`${lower(namespace)}/${lower(name)}`);
    if (gone) this.serial++;
    return gone;
  }

  setPod(pod: DnsPod): void {
    const p: DnsPod = { name: lower(pod.name), namespace: lower(pod.namespace), ip: pod.ip >>> 0 };
    this.pods.set(`${p.namespace}/${p.name}`, p);
    this.serial++;
  }

  removePod(name: string, namespace: string): boolean {
    const gone = this.pods.delete(`${lower(namespace)}/${lower(name)}`);
    if (gone) this.serial++;
    return gone;
  }

  /** `searchCandidates` with this cluster's domain. */
  searchCandidates(name: string, podNamespace: string, ndots = 5): string[] {
    return searchCandidates(name, podNamespace, { domain: this.domain, ndots });
  }

  /** True when `qname` is this zone's, or a reverse name of a cluster address: what `kubernetes` answers itself. */
  serves(qname: string): boolean {
    const name = lower(trimDot(qname));
    const zone = this.domain;
    if (name === zone || name.endsWith(`.${zone}`)) return true;
    if (!name.endsWith('.in-addr.arpa')) return false;
    const ip = parseIpv4(name.slice(0, -'.in-addr.arpa'.length).split('.').reverse());
    return ip !== null && this.namesOfIP(ip).length > 0;
  }

  /**
   * A well-formed QUERY for a name this zone does not serve: what CoreDNS's `kubernetes`
   * plugin passes on (`fallthrough`) to `forward`. Malformed queries are answered here (FORMERR).
   */
  forwards(req: Uint8Array): boolean {
    const h = new DnsHeader().wrap(req, 0, req.length);
    if (h.check() !== 0 || h.qr() || h.opcode() !== DnsOpcode.Query) return false;
    const q = parseDnsMessage(req, 0, req.length);
    if (typeof q === 'number' || q.questions.length !== 1) return false;
    if (q.edns !== undefined && q.edns.version !== 0) return false;
    return !this.serves(q.questions[0]!.name);
  }

  /** Answers one question (class IN). `qname` may carry a trailing dot and any case. */
  answer(qname: string, qtype: number): DnsAnswer {
    const name = lower(trimDot(qname));
    const zone = this.domain;
    if (name === zone || name.endsWith(`.${zone}`)) {
      const rel = name === zone ? [] : name.slice(0, name.length - zone.length - 1).split('.');
      return this.answerInZone(name, rel.reverse(), qtype);
    }
    if (name.endsWith('.in-addr.arpa')) {
      const ip = parseIpv4(name.slice(0, -'.in-addr.arpa'.length).split('.').reverse());
      const targets = ip === null ? [] : this.namesOfIP(ip);
      if (targets.length > 0) {
        if (qtype !== DnsType.PTR && qtype !== DnsType.ANY) return this.result(DnsRcode.NoError, []);
        return this.result(DnsRcode.NoError, targets.map((t) => this.rec(name, DnsType.PTR, { kind: 'name', target: t })));
      }
    }
    return { rcode: this.outsideRcode, answers: [], authority: [], additional: [] };
  }

  /** `labels` run from the zone outwards: `service1.default.svc` is [svc, default, service1]. */
  private answerInZone(qname: string, labels: readonly string[], qtype: number): DnsAnswer {
    const [kind, ns, l3, l4, l5, ...more] = labels;
    if (kind === undefined) {
      if (qtype === DnsType.SOA || qtype === DnsType.ANY) return this.result(DnsRcode.NoError, [this.soa()]);
      return this.result(DnsRcode.NoError, []);
    }
    if (kind === 'dns-version' && ns === undefined) {
      if (qtype !== DnsType.TXT && qtype !== DnsType.ANY) return this.result(DnsRcode.NoError, []);
      const txt = { kind: 'txt' as const, strings: [new TextEncoder().encode(DNS_SCHEMA_VERSION)] };
      return this.result(DnsRcode.NoError, [{ name: qname, type: DnsType.TXT, class: DnsClass.IN, ttl: DNS_VERSION_TTL, data: txt }]);
    }
    if (kind === 'svc') {
      if (ns === undefined) return this.result(DnsRcode.NoError, []);
      if (l3 === undefined) return this.result(this.namespaceKnown(ns) ? DnsRcode.NoError : DnsRcode.NXDomain, []);
      const svc = this.services.get(`${ns}/${l3}`);
      if (svc === undefined || more.length > 0) return this.nx();
      if (svc.externalName !== undefined) return l4 === undefined ? this.answerExternal(qname, svc.externalName, qtype) : this.nx();
      if (svc.clusterIP === null && this.ready(svc).length === 0) return this.nx(); // CoreDNS: errNoItems
      if (l4 === undefined) return this.answerService(qname, svc, qtype, svc.ports);
      if (svc.clusterIP === null && l5 === undefined && !l4.startsWith('_')) return this.answerHostname(qname, svc, l4, qtype);
      const proto = l4.startsWith('_') ? l4.slice(1) : '';
      const withProto = svc.ports.filter((p) => lower(p.protocol) === proto);
      if (withProto.length === 0) return this.nx();
      if (l5 === undefined) return this.result(DnsRcode.NoError, []); // `_tcp.<svc>...`: empty non-terminal
      const portName = l5.startsWith('_') ? l5.slice(1) : '';
      const ports = withProto.filter((p) => p.name !== undefined && lower(p.name) === portName);
      if (ports.length === 0) return this.nx();
      return this.answerService(qname, svc, qtype, ports);
    }
    if (kind === 'pod') {
      if (ns === undefined || l3 === undefined) return this.result(DnsRcode.NoError, []);
      if (this.podsMode === 'disabled' || l4 !== undefined) return this.nx();
      const ip = parseIpv4(l3.split('-'));
      if (ip === null) return this.nx();
      if (this.podsMode === 'verified' && ![...this.pods.values()].some((p) => p.namespace === ns && p.ip === ip)) return this.nx();
      if (qtype !== DnsType.A && qtype !== DnsType.ANY) return this.result(DnsRcode.NoError, []);
      return this.result(DnsRcode.NoError, [this.rec(qname, DnsType.A, { kind: 'a', address: ip })]);
    }
    return this.nx();
  }

  private answerService(qname: string, svc: DnsService, qtype: number, ports: readonly DnsServicePort[]): DnsAnswer {
    const target = this.serviceName(svc);
    if (svc.clusterIP === null) return this.answerHeadless(qname, svc, qtype, ports);
    if (qtype === DnsType.A || qtype === DnsType.ANY) {
      return this.result(DnsRcode.NoError, [this.rec(qname, DnsType.A, { kind: 'a', address: svc.clusterIP })]);
    }
    if (qtype === DnsType.SRV && ports.length > 0) {
      const weight = Math.floor(100 / ports.length);
      const answers = ports.map((p) => this.rec(qname, DnsType.SRV, { kind: 'srv', priority: 0, weight, port: p.port, target }));
      const res = this.result(DnsRcode.NoError, answers);
      res.additional.push(this.rec(target, DnsType.A, { kind: 'a', address: svc.clusterIP }));
      return res;
    }
    return this.result(DnsRcode.NoError, []);
  }

  /** Headless: the ready endpoints' addresses; SRV endpoints x ports, targets per endpoint hostname. */
  private answerHeadless(qname: string, svc: DnsService, qtype: number, ports: readonly DnsServicePort[]): DnsAnswer {
    const eps = this.ready(svc);
    if (qtype === DnsType.A || qtype === DnsType.ANY) {
      return this.result(DnsRcode.NoError, eps.map((e) => this.rec(qname, DnsType.A, { kind: 'a', address: e.ip })));
    }
    if (qtype === DnsType.SRV && ports.length > 0) {
      const base = this.serviceName(svc);
      // CoreDNS findServices: one record per endpoint address and endpoint port that matches.
      const recs: { e: DnsEndpoint; port: number }[] = [];
      for (const p of ports) {
        const k = svc.ports.indexOf(p);
        for (const e of eps) {
          const port = e.ports === undefined ? p.port : e.ports[k] ?? 0;
          if (port !== 0) recs.push({ e, port });
        }
      }
      if (recs.length === 0) return this.nx();
      const weight = Math.max(1, Math.floor(100 / recs.length)); // CoreDNS backend_lookup SRV()
      const answers = recs.map(({ e, port }) => this.rec(qname, DnsType.SRV, { kind: 'srv', priority: 0, weight, port, target: `${hostnameOf(e)}.${base}` }));
      const res = this.result(DnsRcode.NoError, answers);
      for (const e of new Set(recs.map((r) => r.e))) res.additional.push(this.rec(`${hostnameOf(e)}.${base}`, DnsType.A, { kind: 'a', address: e.ip }));
      return res;
    }
    return this.result(DnsRcode.NoError, []);
  }

  /** `<hostname>.<svc>.<ns>.svc.<zone>`: every endpoint of that hostname (NXDOMAIN for none). */
  private answerHostname(qname: string, svc: DnsService, host: string, qtype: number): DnsAnswer {
    const eps = this.ready(svc).filter((e) => hostnameOf(e) === host);
    if (eps.length === 0) return this.nx();
    if (qtype !== DnsType.A && qtype !== DnsType.ANY) return this.result(DnsRcode.NoError, []);
    return this.result(DnsRcode.NoError, eps.map((e) => this.rec(qname, DnsType.A, { kind: 'a', address: e.ip })));
  }

  /** ExternalName: the CNAME, then (A/ANY, target in this zone) the target's own answer. */
  private answerExternal(qname: string, target: string, qtype: number): DnsAnswer {
    const cname = this.rec(qname, DnsType.CNAME, { kind: 'name', target });
    const res = this.result(DnsRcode.NoError, [cname]);
    const zone = this.domain;
    if ((qtype === DnsType.A || qtype === DnsType.ANY) && (target === zone || target.endsWith(`.${zone}`)) && target !== qname) {
      const labels = target === zone ? [] : target.slice(0, target.length - zone.length - 1).split('.').reverse();
      const [kind, , , l4] = labels;
      // One level of chasing: an ExternalName pointing at another ExternalName stops at its CNAME.
      const chased = kind === 'svc' && l4 === undefined ? this.answerInZone(target, labels, qtype) : null;
      if (chased !== null && chased.rcode === DnsRcode.NoError) {
        res.answers.push(...chased.answers.filter((r) => r.type !== DnsType.CNAME));
        res.additional.push(...chased.additional);
      }
    }
    return res;
  }

  private ready(svc: DnsService): readonly DnsEndpoint[] {
    return svc.endpoints ?? [];
  }

  /**
   * Answers the DNS query in `req` into out[outOff..]. Returns the bytes written, 0 when
   * there is nothing to send (shorter than a header, or a response rather than a query),
   * or -1 when `out` cannot hold even the header and question. Over UDP the response is
   * cut to the client's size (512, or its EDNS size): TC=1 and as many answers as fit.
   */
  answerQuery(req: Uint8Array, out: Uint8Array, outOff = 0, opts: { tcp?: boolean } = {}): number {
    const h = new DnsHeader().wrap(req, 0, req.length);
    if (h.check() !== 0 || h.qr()) return 0;
    const res: DnsMessage = {
      id: h.id(), qr: true, opcode: h.opcode(), aa: false, tc: false, rd: h.rd(), ra: false, ad: false, cd: h.cd(),
      rcode: DnsRcode.NoError, questions: [], answers: [], authority: [], additional: [],
    };
    const room = out.length - outOff;
    if (h.opcode() !== DnsOpcode.Query) return emitDnsMessage({ ...res, rcode: DnsRcode.NotImp }, out, outOff, room);
    const q = parseDnsMessage(req, 0, req.length);
    if (typeof q === 'number' || q.questions.length !== 1) return emitDnsMessage({ ...res, rcode: DnsRcode.FormErr }, out, outOff, room);
    const question = q.questions[0]!;
    res.questions.push(question);
    if (q.edns !== undefined) {
      const options = q.edns.options.filter((o) => ECHOED_EDNS_OPTIONS.has(o.code));
      res.edns = { udpSize: q.edns.udpSize, extRcode: 0, version: 0, dnssecOk: q.edns.dnssecOk, options };
      if (q.edns.version !== 0) { // RFC 6891 §6.1.3: BADVERS (16) = extRcode 1, header RCODE 0
        res.edns.extRcode = DnsRcode.BadVers >>> 4;
        return emitDnsMessage(res, out, outOff, room);
      }
    }
    const a = question.class === DnsClass.IN || question.class === DnsClass.ANY
      ? this.answer(question.name, question.type)
      : { rcode: DnsRcode.Refused, answers: [], authority: [], additional: [] };
    res.rcode = a.rcode;
    res.aa = a.rcode === DnsRcode.NoError || a.rcode === DnsRcode.NXDomain;
    res.answers = a.answers; res.authority = a.authority; res.additional = a.additional;
    const max = opts.tcp === true ? 0xffff : q.edns !== undefined ? Math.max(DNS_UDP_MIN, q.edns.udpSize) : DNS_UDP_MIN;
    const limit = Math.min(room, max);
    const n = emitDnsMessage(res, out, outOff, limit);
    if (n >= 0) return n;
    // miekg/dns Msg.Truncate (CoreDNS request.Scrub): as many answer records as fit, TC set.
    const cut = (k: number): DnsMessage => ({ ...res, tc: true, answers: res.answers.slice(0, k), authority: [], additional: [] });
    let lo = 0;
    let hi = res.answers.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (emitDnsMessage(cut(mid), out, outOff, limit) >= 0) lo = mid; else hi = mid - 1;
    }
    return emitDnsMessage(cut(lo), out, outOff, limit);
  }

  private serviceName(svc: DnsService): string {
    return `${svc.name}.${svc.namespace}.svc.${this.domain}`;
  }

  /** PTR targets of `ip`: the service with that cluster IP, else every service endpoint with it. */
  private namesOfIP(ip: number): string[] {
    for (const s of this.services.values()) if (s.clusterIP === ip) return [this.serviceName(s)];
    const out: string[] = [];
    for (const s of this.services.values()) {
      if (s.externalName !== undefined) continue;
      for (const e of this.ready(s)) if (e.ip === ip) out.push(`${hostnameOf(e)}.${this.serviceName(s)}`);
    }
    return out;
  }

  private namespaceKnown(ns: string): boolean {
    if (BUILTIN_NAMESPACES.includes(ns)) return true;
    for (const s of this.services.values()) if (s.namespace === ns) return true;
    for (const p of this.pods.values()) if (p.namespace === ns) return true;
    return false;
  }

  private rec(name: string, type: number, data: DnsRecord['data']): DnsRecord {
    return { name, type, class: DnsClass.IN, ttl: this.ttl, data };
  }

  private soa(): DnsRecord {
    return this.rec(this.domain, DnsType.SOA, {
      kind: 'soa', mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`,
      serial: this.serial >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl,
    });
  }

  /** NOERROR with answers, or NODATA (no answers) with the SOA in authority. */
  private result(rcode: number, answers: DnsRecord[]): DnsAnswer {
    return { rcode, answers, authority: answers.length === 0 ? [this.soa()] : [], additional: [] };
  }

  private nx(): DnsAnswer { return this.result(DnsRcode.NXDomain, []); }
}
