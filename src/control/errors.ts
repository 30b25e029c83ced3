/**
 * Errors of the control façade, typed by what an edge should answer: 400 a bad value,
 * 404 an unknown name, 409 a conflict with the running cluster, 501 a feature this build
 * does not have (yet), 503 the instance is shutting down. The API turns them into
 * `{ error, field, value }` with that status; the CLI prints the message.
 *
 * `field` is a JSON pointer into the request (body or URL) naming the bad input, e.g.
 * `/node` or `/interfaces/1`; `value` is the value found there.
 *
 * Also here: `Mutex`, the lock that keeps asynchronous control operations (attach, which
 * waits for `ip` commands; capture stops) from interleaving with each other half-applied.
 */
import { IpamError } from '../kube/ipam.js';
import { TraceInputError } from '../kube/trace.js';

export type ControlStatus = 400 | 401 | 404 | 409 | 500 | 501 | 503;

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly status: ControlStatus,
    message: string,
    readonly field: string | null = null,
    readonly value: unknown = null,
  ) {
    super(message);
  }

  toJSON(): { error: string; field: string | null; value: unknown } {
    return { error: this.message, field: this.field, value: this.value ?? null };
  }
}

const q = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

export const badRequest = (field: string, value: unknown, why: string): ControlError =>
  new ControlError(400, `${field.slice(1) || 'request'}: ${q(value)} ${why}`, field, value);

export const notFound = (field: string, value: unknown, what: string, have?: Iterable<string>): ControlError => {
  const list = have === undefined ? '' : [...have].join(', ');
  return new ControlError(404, `${what} ${q(value)} not found${have === undefined ? '' : ` (have ${list === '' ? 'none' : list})`}`, field, value);
};

export const conflict = (field: string, value: unknown, why: string): ControlError =>
  new ControlError(409, `${field.slice(1) || 'request'}: ${q(value)} ${why}`, field, value);

export const notAvailable = (what: string, why: string): ControlError =>
  new ControlError(501, `${what} is not available: ${why}`);

/** Maps errors of the layers below to ControlErrors; anything unknown becomes a 500. */
export function toControlError(e: unknown, fields: Readonly<Record<string, string>> = {}): ControlError {
  if (e instanceof ControlError) return e;
  if (e instanceof IpamError) {
    const field = fields[e.field] ?? `/${e.field.replace(/\s+/g, '')}`;
    const status: ControlStatus = e.code === 'taken' || e.code === 'full' || e.code === 'duplicate-node' ? 409
      : e.code === 'unknown-node' ? 404 : 400;
    return new ControlError(status, e.message, field, e.value);
  }
  if (e instanceof TraceInputError) {
    const status: ControlStatus = e.notFound ? 404 : 400;
    return new ControlError(status, e.message, `/${e.field}`, e.value);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ControlError(500, msg);
}

/** A FIFO lock: `run(fn)` starts `fn` once every earlier `run` has settled. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  get pending(): number {
    return this.waiting;
  }

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    this.waiting++;
    const next = this.tail.then(fn, fn).finally(() => { this.waiting--; });
    this.tail = next.catch(() => undefined);
    return next;
  }
}
