/**
 * The control façade's side for commands that build a cluster of their own (a topology file
 * or manifests, no running `podwire up`): a trace on a fresh cluster, and the text forms the
 * CLI prints for traces, journeys and topology errors. The CLI reaches the layers below only
 * through here and the Controller (test/layers.test.ts checks it).
 */
import { loadCluster } from './load.js';
import { runTrace, runTraces, type TraceCountResult, type TraceOptions, type TraceResult } from '../kube/trace.js';
import { DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE } from '../engine/packet.js';
import { TraceCaptures, type CaptureFile } from './trace-captures.js';
import type { Cluster } from '../kube/cluster.js';
import { EXTERNAL, externalClient } from '../kube/external-client.js';
import { inspectChecked, type InspectView } from './inspect.js';

export type { CaptureFile } from './trace-captures.js';
export type { InspectView } from './inspect.js';
export { renderInspect } from './inspect-text.js';

export { formatTopologyError } from '../kube/topology.js';
export {
  defaultPort, MAX_TRACE_COUNT, minSize as minTraceSize, type TraceFlow, type TraceOptions, type TraceProto, type TraceResult, type TraceSpread,
} from '../kube/trace.js';
export { renderJourney, renderSpread, renderTrace, resetHeading } from '../kube/trace-text.js';
/** The largest probe (IPv4 total length) a packet of the default pool holds. */
export const MAX_TRACE_SIZE = DEFAULT_SLOT_SIZE - DEFAULT_HEADROOM;
/** How long a wall-clock scheduler turn may run before it gives the event loop back. */
export { TURN_MS } from '../engine/scheduler.js';
/** The one port parser (decimal digits, 0-65535) the CLI's flags share with the API and topology. */
export { tryParsePort } from '../wire/addr.js';

/** Builds the cluster of `file` (nothing sent yet: FDBs empty), returns its inspect document, closes it. */
export async function inspectTopology(file: string, node: string | null): Promise<InspectView> {
  const cluster = await loadCluster(file);
  try {
    return inspectChecked(cluster, node);
  } finally {
    cluster.close();
  }
}

export interface LocalTraceOptions {
  /** Write a pcapng file per interface into this folder; the hops name their frames (Hop.captures). */
  pcap?: string;
}

/** Builds the cluster of `file` for one trace (virtual time, fresh tables), traces, closes it. */
export async function traceTopology(file: string, opts: TraceOptions, local: LocalTraceOptions = {}): Promise<TraceResult & { captures?: CaptureFile[] }> {
  return onTopology(file, opts, local, (c) => runTrace(c, opts));
}

/** The same for `count` new flows (`podwire trace --count N`): the first trace and how the proxy spread them. */
export async function traceTopologyCount(file: string, opts: TraceOptions, count: number, local: LocalTraceOptions = {}): Promise<TraceCountResult & { captures?: CaptureFile[] }> {
  return onTopology(file, opts, local, (c) => runTraces(c, opts, count));
}

async function onTopology<T extends object>(file: string, opts: TraceOptions, local: LocalTraceOptions, fn: (c: Cluster) => T): Promise<T & { captures?: CaptureFile[] }> {
  const cluster = await loadCluster(file);
  try {
    if (local.pcap === undefined) return fn(cluster);
    // The external client joins the captures when it is the source (built before they start).
    if (opts.from === EXTERNAL && !cluster.pods.has(opts.from) && !cluster.nodes.has(opts.from)) externalClient(cluster);
    const caps = new TraceCaptures(cluster);
    let r: T;
    try {
      r = fn(cluster);
    } catch (e) {
      caps.finish(local.pcap, false);
      throw e;
    }
    return { ...r, captures: caps.finish(local.pcap, true, 'capture folder (--pcap)') };
  } finally {
    cluster.close();
  }
}
