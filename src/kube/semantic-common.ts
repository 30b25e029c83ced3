/**
 * What the semantic checks (semantic.ts and its semantic-*.ts parts) share: the document
 * they check (`SchemaTopology`: what the schema accepted), the report that collects every
 * error and warning, readers of addresses and CIDRs that report what they cannot read, the
 * bracketed path style of errors, and the protocols each app listens on.
 */
import { cidrOf, cidrSize, formatCidr, tryParseIpv4 } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import type { AppType, ClusterConfig, LinkSpec, NodeSpec, PodSpec, ServicePortSpec, ServiceSpec, Topology, TopologyError } from './types.js';

/** A document the schema accepted: types and schema defaults in place, derived defaults not yet. */
export interface SchemaTopology {
  cluster: ClusterConfig;
  nodes: (Omit<NodeSpec, 'ip' | 'podCIDR'> & { ip?: string; podCIDR?: string })[];
  pods: (Omit<PodSpec, 'apps'> & { apps: { type: AppType; port?: number }[] })[];
  services: (Omit<ServiceSpec, 'ports'> & { ports: (Omit<ServicePortSpec, 'targetPort'> & { targetPort?: number | string })[] })[];
  namespaces?: Topology['namespaces'];
  /** Only their outline checked by the schema: validate.ts checks them here. */
  networkPolicies?: unknown[];
  links?: LinkSpec[];
}

export const q = (v: unknown): string => JSON.stringify(v);

/** `base.key`, or `base["key"]` when the key is not an identifier: the bracketed path style of errors. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** The protocols each app listens on. */
export const APP_PROTOCOLS: Readonly<Record<AppType, readonly string[]>> = {
  http: ['TCP'], 'tcp-echo': ['TCP'], 'udp-echo': ['UDP'], sctp: ['SCTP'], dns: ['UDP', 'TCP'],
};

export class Report {
  readonly errors: TopologyError[] = [];
  readonly warnings: TopologyError[] = [];
  err(path: string, value: unknown, message: string): void {
    this.errors.push({ path, value, message });
  }
  warn(path: string, value: unknown, message: string): void {
    this.warnings.push({ path, value, message });
  }
}

/** The CIDR `s`, or null (reported at `path`) when it is none or has host bits set. */
export function cidrAt(r: Report, path: string, s: string): Cidr | null {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? null : tryParseIpv4(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (ip === null || !/^[0-9]{1,2}$/.test(p) || Number(p) > 32) {
    r.err(path, s, `${q(s)} is not a CIDR`);
    return null;
  }
  const c = cidrOf(ip, Number(p));
  if (c.addr !== ip) {
    r.err(path, s, `${q(s)} has host bits set (did you mean ${formatCidr(c)}?)`);
    return null;
  }
  return c;
}

/** The IPv4 address `s`, or null (reported at `path`). */
export function ipAt(r: Report, path: string, s: string): number | null {
  const ip = tryParseIpv4(s);
  if (ip === null) r.err(path, s, `${q(s)} is not an IPv4 address`);
  return ip;
}

/** "network" / "broadcast" when `ip` is one of those of `c` (blocks up to /30), else null. */
export function edgeOf(c: Cidr, ip: number): string | null {
  if (c.prefix > 30) return null;
  const h = (ip - c.addr) >>> 0;
  return h === 0 ? 'network' : h === cidrSize(c) - 1 ? 'broadcast' : null;
}
