/**
 * NetworkPolicy validation as the API server does it (k8s.io/kubernetes
 * pkg/apis/networking/validation `ValidateNetworkPolicy`, metav1 `ValidateLabelSelector`),
 * with its field paths and wording:
 *
 *     spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`
 *
 * Every error of an object is reported, not only the first. podwire is IPv4-only: an IPv6
 * CIDR is refused. A CIDR with host bits set is refused as the API server's strict IP/CIDR
 * validation does (KEP-4858). A valid object comes back as a deep copy with
 * `metadata.namespace` defaulted to `default`.
 */
import { formatIpv4, prefixMask, tryParseIpv4 } from '../../wire/addr.js';
import type { NetpolError, NetworkPolicy } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const q = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v)));

export type NetpolValidation = { ok: true; policy: NetworkPolicy } | { ok: false; errors: NetpolError[] };

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** IANA_SVC_NAME (validation.IsValidPortName): 1-15 lowercase alphanumerics or '-', a letter, no '--', no '-' at either end. */
const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

class Errors {
  readonly list: NetpolError[] = [];
  add(path: string, value: unknown, message: string): void {
    this.list.push({ path, value, message });
  }
  required(path: string, detail = ''): void {
    this.add(path, undefined, detail === '' ? 'Required value' : `Required value: ${detail}`);
  }
  invalid(path: string, value: unknown, detail: string): void {
    this.add(path, value, `Invalid value: ${q(value)}: ${detail}`);
  }
  unsupported(path: string, value: unknown, supported: string[]): void {
    this.add(path, value, `Unsupported value: ${q(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`);
  }
  forbidden(path: string, detail: string): void {
    this.add(path, undefined, `Forbidden: ${detail}`);
  }
  type(path: string, value: unknown, want: string): void {
    this.add(path, value, `Invalid value: ${q(value)}: must be ${want}`);
  }
}

/** Validates one NetworkPolicy object (from YAML/JSON); all or nothing. */
export function validateNetworkPolicy(input: unknown): NetpolValidation {
  const e = new Errors();
  if (!isObj(input)) {
    e.type('', input, 'an object');
    return { ok: false, errors: e.list };
  }
  if (input['apiVersion'] !== undefined && input['apiVersion'] !== 'networking.k8s.io/v1') {
    e.unsupported('apiVersion', input['apiVersion'], ['networking.k8s.io/v1']);
  }
  if (input['kind'] !== undefined && input['kind'] !== 'NetworkPolicy') e.unsupported('kind', input['kind'], ['NetworkPolicy']);
  const meta = input['metadata'];
  if (!isObj(meta)) e.required('metadata');
  else {
    const name = meta['name'];
    if (name === undefined || name === '') e.required('metadata.name', 'name or generateName is required');
    else if (typeof name !== 'string' || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
      e.invalid('metadata.name', name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
    }
    const ns = meta['namespace'];
    if (ns !== undefined && (typeof ns !== 'string' || ns.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))) {
      e.invalid('metadata.namespace', ns, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
    }
    if (meta['labels'] !== undefined) labelMap(e, 'metadata.labels', meta['labels']);
  }
  const spec = input['spec'];
  if (!isObj(spec)) {
    if (spec === undefined) e.required('spec');
    else e.type('spec', spec, 'an object');
  } else validateSpec(e, spec);
  if (e.list.length > 0) return { ok: false, errors: e.list };
  const policy = structuredClone(input) as unknown as NetworkPolicy;
  if (policy.metadata.namespace === undefined) policy.metadata.namespace = 'default';
  if ((policy.spec as unknown as Obj)['podSelector'] === undefined) policy.spec.podSelector = {}; // a non-pointer struct: absent is empty
  return { ok: true, policy };
}

function validateSpec(e: Errors, spec: Obj): void {
  if (spec['podSelector'] !== undefined) selector(e, 'spec.podSelector', spec['podSelector']);
  const rules = (key: 'ingress' | 'egress', peersKey: 'from' | 'to'): void => {
    const list = spec[key];
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) return e.type(`spec.${key}`, list, 'a list');
    list.forEach((r, i) => {
      const at = `spec.${key}[${i}]`;
      if (!isObj(r)) return e.type(at, r, 'an object');
      const ports = r['ports'];
      if (ports !== undefined && ports !== null) {
        if (!Array.isArray(ports)) e.type(`${at}.ports`, ports, 'a list');
        else ports.forEach((p, j) => port(e, `${at}.ports[${j}]`, p));
      }
      const peers = r[peersKey];
      if (peers !== undefined && peers !== null) {
        if (!Array.isArray(peers)) e.type(`${at}.${peersKey}`, peers, 'a list');
        else peers.forEach((p, j) => peer(e, `${at}.${peersKey}[${j}]`, p));
      }
      for (const k of Object.keys(r)) if (k !== 'ports' && k !== peersKey) e.add(`${at}.${k}`, r[k], `unknown field ${q(k)}`);
    });
  };
  rules('ingress', 'from');
  rules('egress', 'to');
  const types = spec['policyTypes'];
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types)) e.type('spec.policyTypes', types, 'a list');
    else {
      const seen = new Set<unknown>();
      types.forEach((t, i) => {
        if (t !== 'Ingress' && t !== 'Egress') e.unsupported(`spec.policyTypes[${i}]`, t, ['Egress', 'Ingress']);
        else if (seen.has(t)) e.add(`spec.policyTypes[${i}]`, t, `Duplicate value: ${q(t)}`);
        seen.add(t);
      });
      if (types.length > 2) e.invalid('spec.policyTypes', types, 'may not specify more than two policyTypes');
    }
  }
  for (const k of Object.keys(spec)) if (!['podSelector', 'ingress', 'egress', 'policyTypes'].includes(k)) e.add(`spec.${k}`, spec[k], `unknown field ${q(k)}`);
}

function port(e: Errors, at: string, p: unknown): void {
  if (!isObj(p)) return e.type(at, p, 'an object');
  const proto = p['protocol'];
  if (proto !== undefined && proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') e.unsupported(`${at}.protocol`, proto, ['SCTP', 'TCP', 'UDP']);
  const n = p['port'];
  const end = p['endPort'];
  if (end !== undefined && (typeof end !== 'number' || !Number.isInteger(end))) e.type(`${at}.endPort`, end, 'an integer');
  if (n === undefined) {
    if (end !== undefined) e.invalid(`${at}.endPort`, end, 'may not be specified when `port` is not specified');
  } else if (typeof n === 'number') {
    if (!Number.isInteger(n) || n < 1 || n > 65535) e.invalid(`${at}.port`, n, 'must be between 1 and 65535, inclusive');
    if (typeof end === 'number' && Number.isInteger(end)) {
      if (end < n) e.invalid(`${at}.endPort`, end, 'must be greater than or equal to `port`');
      if (end < 1 || end > 65535) e.invalid(`${at}.endPort`, end, 'must be between 1 and 65535, inclusive');
    }
  } else if (typeof n === 'string') {
    if (end !== undefined) e.invalid(`${at}.endPort`, end, 'may not be specified when `port` is non-numeric');
    if (!PORT_NAME.test(n) || n.includes('--') || !/[a-z]/.test(n)) {
      e.invalid(`${at}.port`, n, 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15 characters, at least one letter, and no two adjacent hyphens or hyphens at either end');
    }
  } else e.type(`${at}.port`, n, 'an integer or a port name');
  for (const k of Object.keys(p)) if (!['protocol', 'port', 'endPort'].includes(k)) e.add(`${at}.${k}`, p[k], `unknown field ${q(k)}`);
}

function peer(e: Errors, at: string, p: unknown): void {
  if (!isObj(p)) return e.type(at, p, 'an object');
  let n = 0;
  if (p['podSelector'] !== undefined && p['podSelector'] !== null) {
    n++;
    selector(e, `${at}.podSelector`, p['podSelector']);
  }
  if (p['namespaceSelector'] !== undefined && p['namespaceSelector'] !== null) {
    n++;
    selector(e, `${at}.namespaceSelector`, p['namespaceSelector']);
  }
  const ipb = p['ipBlock'];
  if (ipb !== undefined && ipb !== null) {
    n++;
    ipBlock(e, `${at}.ipBlock`, ipb);
  }
  if (n === 0) e.required(at, 'must specify a peer');
  else if (n > 1 && ipb !== undefined && ipb !== null) e.forbidden(at, 'may not specify both ipBlock and another peer');
  for (const k of Object.keys(p)) if (!['podSelector', 'namespaceSelector', 'ipBlock'].includes(k)) e.add(`${at}.${k}`, p[k], `unknown field ${q(k)}`);
}

/** An IPv4 CIDR, or the error message. */
export function parseStrictCidr(s: unknown): { addr: number; prefix: number } | string {
  const bad = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
  if (typeof s !== 'string') return bad;
  const slash = s.indexOf('/');
  if (slash < 0) return bad;
  const head = s.slice(0, slash);
  const tail = s.slice(slash + 1);
  if (head.includes(':')) return 'IPv6 is not supported by podwire';
  const addr = tryParseIpv4(head);
  if (addr === null || !/^(0|[1-9][0-9]?)$/.test(tail) || Number(tail) > 32) return bad;
  const prefix = Number(tail);
  const net = (addr & prefixMask(prefix)) >>> 0;
  if (net !== addr) return `must be in canonical form ("${formatIpv4(net)}/${prefix}")`;
  return { addr, prefix };
}

function ipBlock(e: Errors, at: string, b: unknown): void {
  if (!isObj(b)) return e.type(at, b, 'an object');
  const cidr = b['cidr'];
  if (cidr === undefined || cidr === '') {
    e.required(`${at}.cidr`);
    return;
  }
  const c = parseStrictCidr(cidr);
  if (typeof c === 'string') e.invalid(`${at}.cidr`, cidr, c);
  const ex = b['except'];
  if (ex !== undefined && ex !== null) {
    if (!Array.isArray(ex)) e.type(`${at}.except`, ex, 'a list');
    else ex.forEach((x, i) => {
      const xc = parseStrictCidr(x);
      if (typeof xc === 'string') return e.invalid(`${at}.except[${i}]`, x, xc);
      if (typeof c === 'string') return;
      // ValidateIPBlock: cidr must contain the except's address and have a shorter prefix.
      if (((xc.addr & prefixMask(c.prefix)) >>> 0) !== c.addr || c.prefix >= xc.prefix) {
        e.invalid(`${at}.except[${i}]`, x, 'must be a strict subset of `cidr`');
      }
    });
  }
  for (const k of Object.keys(b)) if (k !== 'cidr' && k !== 'except') e.add(`${at}.${k}`, b[k], `unknown field ${q(k)}`);
}

function labelMap(e: Errors, at: string, m: unknown): void {
  if (!isObj(m)) return e.type(at, m, 'a map of strings');
  for (const [k, v] of Object.entries(m)) {
    labelKey(e, at, k);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      e.invalid(`${at}`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
    }
  }
}

function labelKey(e: Errors, at: string, k: string): void {
  const slash = k.lastIndexOf('/');
  const prefix = slash < 0 ? '' : k.slice(0, slash);
  const name = slash < 0 ? k : k.slice(slash + 1);
  const okPrefix = slash < 0 || (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix));
  if (!okPrefix || name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    e.invalid(at, k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
}

function selector(e: Errors, at: string, s: unknown): void {
  if (!isObj(s)) return e.type(at, s, 'a label selector');
  if (s['matchLabels'] !== undefined && s['matchLabels'] !== null) labelMap(e, `${at}.matchLabels`, s['matchLabels']);
  const ex = s['matchExpressions'];
  if (ex !== undefined && ex !== null) {
    if (!Array.isArray(ex)) e.type(`${at}.matchExpressions`, ex, 'a list');
    else ex.forEach((r, i) => {
      const ra = `${at}.matchExpressions[${i}]`;
      if (!isObj(r)) return e.type(ra, r, 'an object');
      const key = r['key'];
      if (typeof key !== 'string' || key === '') e.required(`${ra}.key`);
      else labelKey(e, `${ra}.key`, key);
      const op = r['operator'];
      const values = r['values'];
      const n = Array.isArray(values) ? values.length : 0;
      if (values !== undefined && values !== null && (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))) {
        e.type(`${ra}.values`, values, 'a list of strings');
      }
      if (op === 'In' || op === 'NotIn') {
        if (n === 0) e.required(`${ra}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
      } else if (op === 'Exists' || op === 'DoesNotExist') {
        if (n > 0) e.forbidden(`${ra}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      } else e.invalid(`${ra}.operator`, op, 'not a valid selector operator');
    });
  }
  for (const k of Object.keys(s)) if (k !== 'matchLabels' && k !== 'matchExpressions') e.add(`${at}.${k}`, s[k], `unknown field ${q(k)}`);
}

/** `path: message`, as kubectl prints a field error. */
export function formatNetpolError(err: NetpolError): string {
  return err.path === '' ? err.message : `${err.path}: ${err.message}`;
}
