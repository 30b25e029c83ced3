/**
 * Inputs of the control façade that need translating: conntrack filters (as a query
 * string or CLI flags give them), attach targets, and the attach layer's errors.
 */
import { AttachError } from '../io/attach.js';
import type { AttachMode, AttachSpec } from '../kube/types.js';
import type { ConntrackFilter } from '../netfilter/conntrack.js';
import { tryParseIpv4, tryParsePort } from '../wire/addr.js';
import { badRequest, conflict, ControlError, notAvailable, notFound, toControlError } from './errors.js';
import type { ConntrackQuery } from './conntrack.js';

const PROTO_NUMBERS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17 };

/** Query values -> a ConntrackFilter over the original tuple; bad values are 400s naming the key. */
export function conntrackFilter(q: ConntrackQuery): ConntrackFilter {
  const filter: ConntrackFilter = {};
  if (q.proto !== undefined) {
    const s = String(q.proto).toLowerCase();
    const n = PROTO_NUMBERS[s] ?? (/^[0-9]{1,3}$/.test(s) && Number(s) <= 255 ? Number(s) : undefined);
    if (n === undefined) throw badRequest('/proto', q.proto, 'is not a protocol (tcp, udp, icmp or a number 0-255)');
    filter.proto = n;
  }
  for (const f of ['src', 'dst'] as const) {
    const v = q[f];
    if (v === undefined) continue;
    const ip = tryParseIpv4(v);
    if (ip === null) throw badRequest(`/${f}`, v, 'is not an IPv4 address');
    filter[f] = ip;
  }
  for (const f of ['sport', 'dport'] as const) {
    const v = q[f];
    if (v === undefined) continue;
    // Decimal digits only: Number() read "0x50" as 80 (tryParsePort, shared with the CLI and topology).
    const n = typeof v === 'number' ? (Number.isInteger(v) && v >= 0 && v <= 65535 ? v : null) : tryParsePort(v);
    if (n === null) throw badRequest(`/${f}`, v, 'is not a port (decimal 0-65535)');
    filter[f] = n;
  }
  return filter;
}

export function attachTarget(a: { netns?: string; pid?: number; container?: string; runtime?: 'docker' | 'podman'; mode?: AttachMode }, base: string): AttachSpec {
  const given = (['netns', 'pid', 'container'] as const).filter((f) => a[f] !== undefined);
  if (given.length > 1) throw badRequest(`${base}/${given[1]}`, a[given[1]!], `cannot be given together with ${given[0]} (one target: netns, pid or container)`);
  if (a.runtime !== undefined && a.container === undefined) throw badRequest(`${base}/runtime`, a.runtime, 'needs container');
  const mode = a.mode !== undefined ? { mode: a.mode } : {};
  if (a.netns !== undefined) return { netns: a.netns, ...mode };
  if (a.pid !== undefined) return { pid: a.pid, ...mode };
  if (a.container !== undefined) return { container: a.container, ...(a.runtime !== undefined ? { runtime: a.runtime } : {}), ...mode };
  throw badRequest(base === '' ? '/netns' : base, null, 'needs a target: netns (a name under /run/netns), pid (a process) or container (a Docker or Podman container)');
}

/** AttachError (src/io/attach.ts) and the TAP addon's errors, as ControlErrors. */
export function attachError(e: unknown, fields: Readonly<Record<string, string>>): ControlError {
  if (e instanceof ControlError) return e;
  if (!(e instanceof AttachError)) return toControlError(e, fields);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ERR_PODWIRE_TAP_ADDON') return notAvailable('attach', cause.message ?? e.message);
  if (cause !== undefined && (cause.code === 'EPERM' || cause.code === 'EACCES')) return new ControlError(500, `${e.message} (attach needs root or CAP_NET_ADMIN)`);
  if (e.field === 'attach.netns') return notFound('/netns', e.value, 'network namespace');
  if (e.field === 'attach.pid') return notFound('/pid', e.value, 'process');
  if (e.field === 'attach.container') {
    const kind = (cause as { kind?: string } | undefined)?.kind;
    // The engine's own message says what to do; only the status differs.
    const status = kind === 'not-found' ? 404 : kind === 'not-running' ? 409 : kind === 'permission' ? 500 : 503;
    return new ControlError(status, e.message, '/container', e.value);
  }
  if (e.field === 'attach.mode' || e.field === 'attach.runtime') return new ControlError(409, e.message, `/${e.field.slice(7)}`, e.value);
  if (e.field === 'pod') return /already attached|is emulated/.test(e.message) ? conflict('/pod', e.value, e.message) : new ControlError(404, e.message, '/pod', e.value);
  if (e.field === 'target') return new ControlError(400, e.message, '/netns', null);
  if (cause !== undefined) {
    const mapped = toControlError(cause, fields);
    if (mapped.status !== 500) return mapped;
  }
  return new ControlError(500, e.message);
}
