/**
 * The control façade's side for commands that build a cluster of their own (a topology file
 * or manifests, no running `podwire up`): a trace on a fresh cluster, and the text forms the
 * CLI prints for traces, journeys and topology errors. The CLI reaches the layers below only
 * through here and the Controller (test/layers.test.ts checks it).
 */
import { loadCluster } from './load.js';
import { runTrace, type TraceOptions, type TraceResult } from '../kube/trace.js';
import { inspectChecked, type InspectView } from './inspect.js';

export type { InspectView } from './inspect.js';
export { renderInspect } from './inspect-text.js';

export { formatTopologyError } from '../kube/topology.js';
export { defaultPort, type TraceProto, type TraceResult } from '../kube/trace.js';
export { renderJourney, renderTrace, resetHeading } from '../kube/trace-text.js';
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

/** Builds the cluster of `file` for one trace (virtual time, fresh tables), traces, closes it. */
export async function traceTopology(file: string, opts: TraceOptions): Promise<TraceResult> {
  const cluster = await loadCluster(file);
  try {
    return runTrace(cluster, opts);
  } finally {
    cluster.close();
  }
}
