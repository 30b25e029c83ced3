/**
 * The façade for link impairment (netem on interface directions; src/kube/impairments.ts):
 * what the API's `/links` routes and `podwire netem set|show|clear` call. Bodies are
 * netem specs in tc's words (`{ "delay": "20ms", "loss": "1%" }`) or a tc argument line
 * (`{ "tc": "delay 20ms loss 1%" }`); errors name the field as a JSON pointer.
 */
import type { Cluster } from '../kube/cluster.js';
import { ImpairmentError, type Direction, type ImpairmentView } from '../kube/impairments.js';
import { NetemError, parseTcArgs, type NetemSpec } from '../net/netem-spec.js';
import { ControlError } from './errors.js';

export type { Direction, ImpairmentView };

export interface ImpairmentAnswer {
  interface: string;
  impairments: ImpairmentView[];
  warnings: string[];
}

const DIRECTIONS = ['egress', 'ingress', 'both'] as const;

function direction(v: unknown, dflt: Direction): Direction {
  if (v === undefined) return dflt;
  if (typeof v === 'string' && (DIRECTIONS as readonly string[]).includes(v)) return v as Direction;
  throw new ControlError(400, `direction: ${JSON.stringify(v)} must be one of egress, ingress, both`, '/direction', v);
}

function specOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ControlError(400, 'body: a netem spec object', '', body);
  const b = body as Record<string, unknown>;
  if (b['tc'] === undefined) return b;
  const { tc, ...rest } = b;
  if (Object.keys(rest).length > 0) throw new ControlError(400, 'body: give either "tc" or netem fields, not both', '/tc', tc);
  if (typeof tc !== 'string' && !(Array.isArray(tc) && tc.every((x) => typeof x === 'string'))) {
    throw new ControlError(400, 'tc: a string of netem arguments (tc-netem(8))', '/tc', tc);
  }
  const argv = typeof tc === 'string' ? tc.trim().split(/\s+/).filter((x) => x !== '') : tc;
  return wrap(() => parseTcArgs(argv as string[])) as Record<string, unknown>;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ImpairmentError) throw new ControlError(e.status === 404 ? 404 : 400, e.message, `/${e.field.replace(/\./g, '/')}`, e.value);
    if (e instanceof NetemError) throw new ControlError(400, e.message, `/${e.field.replace(/\./g, '/')}`, e.value);
    throw e;
  }
}

export class NetemControl {
  constructor(private readonly cluster: () => Cluster, private readonly mutate: <T>(fn: () => T | Promise<T>) => Promise<T>) {}

  list(): ImpairmentView[] {
    return this.cluster().impairments.list();
  }

  get(id: string): ImpairmentAnswer {
    const imp = this.cluster().impairments;
    if (!this.cluster().capturePoints().some((c) => c.name === id)) {
      throw new ControlError(404, `${JSON.stringify(id)} is not an interface (see GET /interfaces)`, '/id', id);
    }
    return { interface: id, impairments: imp.get(id), warnings: [] };
  }

  /** The equivalent tc lines (one per impaired direction; none when the link is not impaired). */
  tc(id: string): string {
    return this.get(id).impairments.map((v) => `${v.tc}\n`).join('');
  }

  /** PUT: replaces the settings. */
  set(id: string, body: unknown, dir?: unknown): Promise<ImpairmentAnswer> {
    return this.mutate(() => {
      const d = direction(dir, 'egress');
      const spec = specOf(body) as NetemSpec;
      const warnings: string[] = [];
      const impairments = wrap(() => this.cluster().impairments.set(id, spec, d, warnings));
      return { interface: id, impairments, warnings };
    });
  }

  /** PATCH: RFC 7386 merge into the settings in force. */
  patch(id: string, body: unknown, dir?: unknown): Promise<ImpairmentAnswer> {
    return this.mutate(() => {
      const d = direction(dir, 'egress');
      const patch = specOf(body);
      const warnings: string[] = [];
      const impairments = wrap(() => this.cluster().impairments.patch(id, patch, d, warnings));
      return { interface: id, impairments, warnings };
    });
  }

  clear(id: string, dir?: unknown): Promise<{ interface: string; removed: number }> {
    return this.mutate(() => {
      this.get(id);
      return { interface: id, removed: this.cluster().impairments.clear(id, direction(dir, 'both')) };
    });
  }
}
