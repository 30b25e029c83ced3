/**
 * `podwire demo`: the built-in two-node cluster (examples/demo.yaml) and the journeys of
 * the article, traced hop by hop, with a pcapng capture of every interface the packets
 * crossed written to `captures/` (or `out`); with `html`, also one self-contained web page
 * with the diagram of the cluster and the journeys animated on it (src/control/web-page.ts).
 */
import { writeFileSync } from 'node:fs';
import type { Cluster } from '../kube/cluster.js';
import { runTrace, type TraceOptions, type TraceResult } from '../kube/trace.js';
import { loadCluster, examplePath } from './load.js';
import { topologyView } from './views.js';
import { staticPage } from './web-page.js';
import { FlowLog, type FlowEvent } from './flows.js';
import { TraceCaptures } from './trace-captures.js';

export interface DemoJourneySpec {
  name: string;
  trace: TraceOptions;
}

export interface DemoJourney {
  name: string;
  request: TraceResult['request'];
  reply: TraceResult['reply'];
  reset: TraceResult['reset'];
  result: TraceResult;
  /** With `observe`: the flow events of this journey (src/control/flows.ts), in order. */
  flows?: FlowEvent[];
}

export interface DemoCaptureFile {
  interface: string;
  file: string;
  packets: number;
}

export interface DemoResult {
  topology: string;
  journeys: DemoJourney[];
  captures: DemoCaptureFile[];
  /** The page written for `html`, else null. */
  html: string | null;
}

export const DEMO_JOURNEYS: DemoJourneySpec[] = [
  { name: 'pod to pod on one node', trace: { from: 'pod1', to: 'pod2', proto: 'icmp' } },
  { name: 'pod to pod across nodes', trace: { from: 'pod1', to: 'pod3', proto: 'icmp' } },
];

/** The service journey joins when the topology has `service1`. */
export const SERVICE_JOURNEY: DemoJourneySpec = { name: 'pod to service', trace: { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 } };

export interface DemoOptions {
  out?: string;
  topology?: string;
  /** Write capture files (default true). */
  write?: boolean;
  /** Also write the journeys as one self-contained web page to this file. */
  html?: string;
  /** Record each journey's flow events (`podwire demo --observe`). */
  observe?: boolean;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const topology = opts.topology ?? examplePath('demo.yaml');
  const cluster = await loadCluster(topology);
  try {
    return runJourneys(cluster, topology, opts);
  } finally {
    cluster.close(); // also when a journey throws (a topology without pod1/pod2/pod3)
  }
}

function runJourneys(cluster: Cluster, topology: string, opts: DemoOptions): DemoResult {
  // Each hop names the frames it put on the wire (Hop.captures), in the files written below.
  const caps = new TraceCaptures(cluster);
  const specs = [...DEMO_JOURNEYS];
  if (cluster.plan.services.some((s) => s.name === 'service1') && cluster.supportsServices) specs.push(SERVICE_JOURNEY);
  const journeys: DemoJourney[] = [];
  const flows = opts.observe === true ? new FlowLog(cluster).attach() : null;
  for (const j of specs) {
    const before = flows?.total ?? 0;
    const result = runTrace(cluster, j.trace);
    const seen = flows === null ? {} : { flows: flows.recent().filter((e) => e.id > before) };
    journeys.push({ name: j.name, request: result.request, reply: result.reply, reset: result.reset, result, ...seen });
  }
  flows?.close();
  const captures: DemoCaptureFile[] = caps.finish(opts.out ?? 'captures', opts.write !== false, 'output folder (--out)');
  let html: string | null = null;
  if (opts.html !== undefined) {
    const page = staticPage({
      topology: topologyView(cluster, () => null),
      journeys: journeys.map((j) => ({ name: j.name, ...j.result })),
    });
    writeFileSync(opts.html, page);
    html = opts.html;
  }
  return { topology, journeys, captures, html };
}
