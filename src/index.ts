/**
 * podwire as a library: what `import('podwire')` gives. Build a cluster from a topology
 * (YAML text, an object or a file), trace a packet hop by hop, capture interfaces to
 * pcapng, send traffic, read stats, run the control façade the CLI and API use, or spread
 * the nodes over worker threads (ShardedCluster).
 *
 *   import { clusterFromTopology, runTrace, renderTrace } from 'podwire';
 *   const cluster = clusterFromTopology(yamlText);
 *   console.log(renderTrace(runTrace(cluster, { from: 'pod1', to: 'pod3' })));
 *
 * Everything here is a stable name; deeper paths (`podwire/dist/...`) are internal.
 */
export { Cluster, podKey, type ClusterOptions, type NodeRuntime, type PodRuntime } from './kube/cluster.js';
export { parseTopology, validateTopology, loadTopologyFile, formatTopologyError } from './kube/topology.js';
export type { Topology, TopologyError, TopologyResult, KubeObjects } from './kube/types.js';
export { parseManifests, loadManifests, type ManifestResult } from './kube/manifests/index.js';
export { clusterFromTopology, loadCluster, loadTopology, loadTopologySource, examplePath, TopologyInvalidError } from './control/load.js';

export {
  runTrace, runTraces, resolveTarget, resolveSource, TraceInputError, type TraceOptions, type TraceResult, type Journey, type TraceProto,
  type TraceCountResult, type TraceFlow, type TraceSpread,
} from './kube/trace.js';
export { HOP_LATENCY_US, type HopCapture } from './engine/trace.js';
export { renderTrace, renderJourney, describeHop } from './kube/trace-text.js';
export type { Hop } from './engine/trace.js';

export { Capture, type CapturePoint, type CaptureOptions } from './io/capture.js';
export { FileSink, MemorySink, CallbackSink, type ByteSink } from './io/sink.js';
export { PcapngWriter } from './io/pcapng.js';
export { PcapWriter } from './io/pcap.js';

export { UdpGenerator, UdpSink, type UdpGeneratorOptions } from './apps/traffic.js';

export { statsView } from './control/views.js';
export { Controller, type PodBody, type ServiceBody, type TraceBody, type AttachBody, type ConntrackQuery } from './control/controller.js';
export { ControlError } from './control/errors.js';
export { runDemo, type DemoOptions, type DemoResult } from './control/demo.js';

export { ShardedCluster, type ShardedClusterOptions } from './kube/sharded-cluster.js';
