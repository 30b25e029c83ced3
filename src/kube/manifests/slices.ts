/**
 * EndpointSlice objects (discovery.k8s.io/v1) -> the endpoints of their Service, as
 * kube-proxy reads them (pkg/proxy/endpointslicecache.go):
 *
 * - the slice belongs to the Service named by its `kubernetes.io/service-name` label in its
 *   own namespace; without the label kube-proxy ignores it ("no kubernetes.io/service-name
 *   label set on endpoint slice");
 * - per endpoint: `addresses[0]`; conditions with nil read as `ready` true, `serving` true
 *   (kube-proxy's reading; older API text said "defer to ready"), `terminating` false;
 *   `nodeName` (locality), `zone`, `hints.forZones` / `hints.forNodes`;
 * - the slice's ports, defaulted as the API server does (discovery/v1 SetDefaults_EndpointPort:
 *   name "", protocol TCP); a port without a number is ignored ("Ignoring invalid endpoint port").
 *
 * Validation follows the API server's (pkg/apis/discovery/validation), in its words. podwire
 * emulates IPv4 only: IPv6 and FQDN slices are valid but not used (a warning says so).
 *
 * For convert.ts, `SliceList` keeps the slices of the objects and gives each one's endpoints
 * to its Service once the Services are known (a slice of a Service not among them is unused).
 */
import { tryParseIpv4 } from '../../wire/addr.js';
import type { KubeObjects, Protocol, SliceEndpoint } from '../types.js';
import type { KubeEntry } from './objects.js';
import type { Reporter } from './reporter.js';
import type { SourceObject } from './source.js';
import { isObj, q, type Obj } from './values.js';

/** discovery.LabelServiceName */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const MAX_ADDRESSES = 100;
const MAX_ENDPOINTS = 1000;
const MAX_ZONE_HINTS = 8;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

export interface SliceReport {
  err(path: string, value: unknown, message: string): void;
  warn(path: string, value: unknown, message: string): void;
}

export interface ParsedSlice {
  /** The Service's name (the label), in the slice's namespace. */
  service: string;
  endpoints: SliceEndpoint[];
}

/** core/v1 ValidateEndpointIP: addresses no endpoint may have (its messages). */
function specialIp(ip: number, text: string): string | null {
  if (ip === 0) return `may not be unspecified (${text})`;
  if (ip >>> 24 === 127) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  if (ip >>> 16 === 0xa9fe) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (ip >>> 8 === 0xe00000) return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  return null;
}

/** One EndpointSlice: its Service and endpoints, or null (an error, or a slice kube-proxy or podwire does not use). */
export function parseEndpointSlice(o: Obj, label: string, r: SliceReport): ParsedSlice | null {
  const errors = { n: 0 };
  const err = (path: string, value: unknown, message: string): void => {
    errors.n++;
    r.err(path, value, message);
  };
  const invalid = (path: string, value: unknown, detail: string): void => err(path, value, `Invalid value: ${q(value)}: ${detail}`);

  const addressType = o['addressType'];
  if (addressType === undefined || addressType === '') err('addressType', addressType, 'Required value');
  else if (typeof addressType !== 'string' || !ADDRESS_TYPES.includes(addressType)) {
    err('addressType', addressType, `Unsupported value: ${q(addressType)}: supported values: ${ADDRESS_TYPES.map(q).join(', ')}`);
  }

  const rawEndpoints = o['endpoints'] ?? [];
  const endpoints: SliceEndpoint[] = [];
  if (!Array.isArray(rawEndpoints)) invalid('endpoints', rawEndpoints, 'must be a list');
  else if (rawEndpoints.length > MAX_ENDPOINTS) err('endpoints', rawEndpoints.length, `Too many: ${rawEndpoints.length}: must have at most ${MAX_ENDPOINTS} items`);
  else {
    rawEndpoints.forEach((e, i) => {
      const at = `endpoints[${i}]`;
      if (!isObj(e)) {
        invalid(at, e, 'must be an object');
        return;
      }
      const addrs = e['addresses'];
      if (!Array.isArray(addrs) || addrs.length === 0) {
        err(`${at}.addresses`, addrs, 'Required value: must contain at least 1 address');
        return;
      }
      if (addrs.length > MAX_ADDRESSES) err(`${at}.addresses`, addrs.length, `Too many: ${addrs.length}: must have at most ${MAX_ADDRESSES} items`);
      if (addressType === 'IPv4') {
        addrs.forEach((a, j) => {
          const ip = typeof a === 'string' ? tryParseIpv4(a) : null;
          if (ip === null) return invalid(`${at}.addresses[${j}]`, a, 'must be a valid IPv4 address');
          const special = specialIp(ip, String(a));
          if (special !== null) invalid(`${at}.addresses[${j}]`, a, special);
        });
      }
      const conds = e['conditions'] ?? {};
      const cond = (k: 'ready' | 'serving' | 'terminating'): boolean | undefined => {
        const v = isObj(conds) ? conds[k] : undefined;
        if (v === undefined || v === null || typeof v === 'boolean') return v ?? undefined;
        invalid(`${at}.conditions.${k}`, v, 'must be a boolean');
        return undefined;
      };
      if (!isObj(conds)) invalid(`${at}.conditions`, conds, 'must be an object');
      const ready = cond('ready');
      const serving = cond('serving');
      const terminating = cond('terminating');
      const nodeName = e['nodeName'];
      if (nodeName !== undefined && nodeName !== null && (typeof nodeName !== 'string' || nodeName.length > 253 || !DNS1123_SUBDOMAIN.test(nodeName))) {
        invalid(`${at}.nodeName`, nodeName, SUBDOMAIN_MSG);
      }
      const hostname = e['hostname'];
      if (hostname !== undefined && hostname !== null && (typeof hostname !== 'string' || hostname.length > 63 || !DNS1123_LABEL.test(hostname))) {
        invalid(`${at}.hostname`, hostname, LABEL_MSG);
      }
      const zone = e['zone'];
      if (zone !== undefined && zone !== null && typeof zone !== 'string') invalid(`${at}.zone`, zone, 'must be a string');
      const hints = e['hints'];
      const hintNames = (key: 'forZones' | 'forNodes'): string[] | undefined => {
        const list = isObj(hints) ? hints[key] : undefined;
        if (list === undefined || list === null) return undefined;
        if (!Array.isArray(list)) {
          invalid(`${at}.hints.${key}`, list, 'must be a list');
          return undefined;
        }
        if (key === 'forZones' && list.length > MAX_ZONE_HINTS) {
          err(`${at}.hints.forZones`, list.length, `Too many: ${list.length}: must have at most ${MAX_ZONE_HINTS} items`);
          return undefined;
        }
        const names: string[] = [];
        list.forEach((h, j) => {
          const name = isObj(h) ? h['name'] : undefined;
          const p = `${at}.hints.${key}[${j}].name`;
          if (typeof name !== 'string' || name === '') return err(p, name, 'Required value');
          if (names.includes(name)) return err(p, name, `Duplicate value: ${q(name)}`);
          names.push(name);
        });
        return names;
      };
      if (hints !== undefined && hints !== null && !isObj(hints)) invalid(`${at}.hints`, hints, 'must be an object');
      const zoneHints = hintNames('forZones');
      const nodeHints = hintNames('forNodes');
      const out: SliceEndpoint = {
        slice: label, path: `${at}.addresses[0]`, ip: String(addrs[0]),
        ready: ready ?? true, serving: serving ?? true, terminating: terminating ?? false, ports: [],
      };
      if (typeof nodeName === 'string') out.nodeName = nodeName;
      if (typeof zone === 'string') out.zone = zone;
      if (typeof hostname === 'string') out.hostname = hostname;
      if (zoneHints !== undefined && zoneHints.length > 0) out.zoneHints = zoneHints;
      if (nodeHints !== undefined && nodeHints.length > 0) out.nodeHints = nodeHints;
      endpoints.push(out);
    });
  }

  const rawPorts = o['ports'] ?? [];
  const ports: SliceEndpoint['ports'] = [];
  if (!Array.isArray(rawPorts)) invalid('ports', rawPorts, 'must be a list');
  else {
    const names = new Set<string>();
    rawPorts.forEach((p, i) => {
      const at = `ports[${i}]`;
      if (!isObj(p)) return invalid(at, p, 'must be an object');
      const name = p['name'] ?? ''; // SetDefaults_EndpointPort
      const protocol = p['protocol'] ?? 'TCP';
      if (typeof name !== 'string' || (name !== '' && (name.length > 63 || !DNS1123_LABEL.test(name)))) invalid(`${at}.name`, name, LABEL_MSG);
      else if (names.has(name)) err(`${at}.name`, name, `Duplicate value: ${q(name)}`);
      else names.add(name);
      if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) {
        err(`${at}.protocol`, protocol, `Unsupported value: ${q(protocol)}: supported values: ${PROTOCOLS.map(q).join(', ')}`);
      }
      const port = p['port'];
      if (port === undefined || port === null || port === 0) {
        r.warn(`${at}.port`, port, 'no port number: kube-proxy ignores this port ("Ignoring invalid endpoint port")');
        return;
      }
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        return invalid(`${at}.port`, port, 'must be between 1 and 65535, inclusive');
      }
      if (typeof name === 'string' && typeof protocol === 'string') ports.push({ name, port, protocol: protocol as Protocol });
    });
  }
  if (errors.n > 0) return null;

  const meta = isObj(o['metadata']) ? o['metadata'] : {};
  const labels = isObj(meta['labels']) ? meta['labels'] : {};
  const service = labels[SERVICE_NAME_LABEL];
  if (typeof service !== 'string' || service === '') {
    r.warn('metadata.labels', labels, `no ${q(SERVICE_NAME_LABEL)} label: kube-proxy ignores the slice`);
    return null;
  }
  if (addressType !== 'IPv4') {
    r.warn('addressType', addressType, `${q(addressType)}: podwire emulates IPv4 only, the slice is not used`);
    return null;
  }
  for (const e of endpoints) e.ports = ports;
  return { service, endpoints };
}

/** The EndpointSlices among the objects: kept as data (`objects.endpointSlices`), parsed, then matched to their Services. */
export class SliceList {
  private readonly parsed: { k: KubeEntry; parsed: ParsedSlice }[] = [];
  /** `EndpointSlice/ns/name` -> where it is, for each slice whose endpoints are used. */
  readonly used = new Map<string, SourceObject>();

  constructor(private readonly r: Reporter, private readonly objects: KubeObjects) {}

  add(k: KubeEntry): void {
    const o = k.at.obj;
    this.objects.endpointSlices.push(o);
    const parsed = parseEndpointSlice(o, k.label, {
      err: (path, value, message) => this.r.err(k.at, k.label, path, value, message),
      warn: (path, value, message) => this.r.warn(k.at, k.label, path, value, message),
    });
    if (parsed !== null) this.parsed.push({ k, parsed });
  }

  /** Their endpoints replace the selector's (`objects.sliceEndpoints`; services.ts uses them) for the Services in `modelled` (`ns/name`). */
  assign(modelled: Set<string>, dnsReplicas: number): void {
    for (const { k, parsed } of this.parsed) {
      const key = `${k.namespace}/${parsed.service}`;
      if (!modelled.has(key)) {
        // The API server's own and podwire's kube-dns (its pods are podwire's) are not the objects' to set.
        const own = key === 'default/kubernetes' || (dnsReplicas > 0 && key === 'kube-system/kube-dns');
        if (!own) this.r.warn(k.at, k.label, 'metadata.labels', parsed.service, `Service ${q(key)} is not among the objects: the slice is not used`);
        continue;
      }
      (this.objects.sliceEndpoints[key] ??= []).push(...parsed.endpoints);
      this.used.set(k.label, k.at);
    }
  }
}
