/**
 * Traces for the control façade: one packet traced from `from` to `to` (or `count` flows
 * and how they spread), with the journeys of the request, its reply and the reset
 * (src/kube/trace.ts); bad inputs as ControlErrors. Runs under the Controller's lock: a
 * trace sends packets through the running cluster.
 */
import type { Cluster } from '../kube/cluster.js';
import { runTrace, runTraces, type Journey, type LoopAbort, type TraceFlow, type TraceOptions, type TraceProto, type TraceSpread } from '../kube/trace.js';
import { toControlError } from './errors.js';

export interface TraceBody {
  from: string;
  to: string;
  /** icmp, udp or tcp in any case. */
  proto?: TraceProto | (string & {});
  port?: number;
  size?: number;
  count?: number;
}

export interface TraceAnswer {
  request: Journey;
  reply: Journey | null;
  reset: Journey | null;
  replyKind?: 'reply' | 'icmp-error';
  loopAbort?: LoopAbort;
  /** With `count`: */
  count?: number;
  spread?: TraceSpread[];
  flows?: TraceFlow[];
}

/** POST /trace. */
export function trace(c: Cluster, body: TraceBody): TraceAnswer {
  try {
    const opts: TraceOptions = {
      from: body.from, to: body.to, ...(body.proto !== undefined ? { proto: body.proto.toLowerCase() as TraceProto } : {}),
      ...(body.port !== undefined ? { port: body.port } : {}), ...(body.size !== undefined ? { size: body.size } : {}),
    };
    if (body.count !== undefined) {
      const m = runTraces(c, opts, body.count);
      const f = m.first;
      return { request: f.request, reply: f.reply, reset: f.reset, count: m.flows.length, spread: m.spread, flows: m.flows };
    }
    const r = runTrace(c, opts);
    return {
      ...(r.resolve !== undefined ? { resolve: r.resolve } : {}),
      request: r.request, reply: r.reply, reset: r.reset, ...(r.replyKind !== undefined ? { replyKind: r.replyKind } : {}),
      ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}),
    };
  } catch (e) {
    throw toControlError(e);
  }
}
