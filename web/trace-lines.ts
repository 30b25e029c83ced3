/**
 * The words of a traced journey: `podwire trace`'s own text (renderTrace from
 * src/kube/trace-text.ts), line for line, each numbered step tied to the hop it tells
 * (journeySteps). No DOM: the tests compare these lines with the page's.
 */
import { journeySteps, renderTrace } from '../src/kube/trace-text.js';
import type { Journey, TraceResult } from '../src/kube/trace.js';
import type { HopLike } from './model.js';

export interface TraceAnswer {
  request: Journey;
  reply: Journey | null;
  reset?: Journey | null;
  loopAbort?: TraceResult['loopAbort'];
  replyKind?: TraceResult['replyKind'];
}

export interface TraceAsked {
  from: string;
  to: string;
  proto: 'icmp' | 'udp' | 'tcp';
  port?: number;
}

const DEFAULT_PORT = { icmp: null, udp: 7, tcp: 80 } as const;

/** The API's answer as the CLI's `trace --api` completes it (src/cli/commands.ts): the header's address is the first hop's destination. */
export function traceResultOf(asked: TraceAsked, r: TraceAnswer): TraceResult {
  const sent = r.request.hops.find((h) => h.action === 'send')?.detail['dst'];
  return {
    from: asked.from, to: asked.to, dst: typeof sent === 'string' ? sent : asked.to, proto: asked.proto,
    port: asked.proto === 'icmp' ? null : (asked.port ?? DEFAULT_PORT[asked.proto]), request: r.request, reply: r.reply, reset: r.reset ?? null,
    ...(r.replyKind !== undefined ? { replyKind: r.replyKind } : {}),
    ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}),
  } as TraceResult;
}

export interface Line { text: string; hop: HopLike | null; journey: 'request' | 'reply' | 'reset' | null }

/** The trace's text lines, each numbered step with its hop. */
export function traceLines(r: TraceResult): Line[] {
  const hops: { hop: HopLike; journey: Line['journey'] }[] = [];
  for (const k of ['request', 'reply', 'reset'] as const) {
    const j = r[k];
    if (j !== null) for (const s of journeySteps(j)) hops.push({ hop: s.hop, journey: k });
  }
  let i = 0;
  return renderTrace(r).split('\n').map((text) => {
    if (/^\s*\d+\. /.test(text) && i < hops.length) {
      const h = hops[i++]!;
      return { text, hop: h.hop, journey: h.journey };
    }
    return { text, hop: null, journey: null };
  });
}

