/**
 * Kubernetes objects -> a podwire topology document (one model, two front doors). The
 * document then goes through podwire's own validation (topology.ts) like a topology file;
 * its errors are mapped back onto the objects (`origins`) so they name file, line, object and
 * Kubernetes field path:
 *
 *     deploy.yaml:14: Deployment/default/web: spec.replicas: -1 must be >= 0
 *
 * Kinds: Namespace, Node, Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Service are
 * modelled; NetworkPolicy is enforced (and also kept as data); an EndpointSlice gives its
 * Service's endpoints (slices.ts; also kept as data, `KubeObjects`); anything else is listed
 * once as ignored. Workloads become pods with the names Kubernetes gives (names.ts), placed
 * as the default scheduler would in the simple case: fewest pods first, ties by node order,
 * taints honoured.
 *
 * This file composes the steps, one module per kind of object: objects.ts (podwire's own
 * document, names, duplicates, owners), namespaces.ts, nodes.ts, pods.ts and workloads.ts,
 * placement.ts, services.ts, slices.ts, network-policies.ts, cidrs.ts (the cluster section).
 */
import type { KubeObjects, TopologyError } from '../types.js';
import { clusterSection } from './cidrs.js';
import { namespaceDocs, namespacesOf, warnUnknownNamespaces } from './namespaces.js';
import { policyDocs } from './network-policies.js';
import { emulatedNodeNames, nodeDocs, readNodes } from './nodes.js';
import { indexObjects } from './objects.js';
import { placePods } from './placement.js';
import { convertPod, podDocs, PodList } from './pods.js';
import { Reporter, type Origin } from './reporter.js';
import { ServiceList } from './services.js';
import { SliceList } from './slices.js';
import type { SourceObject } from './source.js';
import { isInt, type Obj } from './values.js';
import { expandWorkload, WORKLOADS } from './workloads.js';

export type { KubeObjects } from '../types.js';
export type { Origin } from './reporter.js';

export interface Converted {
  document: Record<string, unknown>;
  /** `pods[3]` / `services[0]` / `nodes[1]` / `cluster` -> where it came from. */
  origins: Map<string, Origin>;
  errors: TopologyError[];
  warnings: TopologyError[];
  objects: KubeObjects;
  /** `EndpointSlice/ns/name` -> where it is (for the warnings about its addresses, index.ts). */
  slices: Map<string, SourceObject>;
}

/** Kinds modelled or kept by a step other than the Service one: not counted as ignored. */
const HANDLED = new Set(['Namespace', 'Node', 'Pod', 'NetworkPolicy', 'EndpointSlice', ...WORKLOADS]);

export function convert(all: SourceObject[]): Converted {
  const r = new Reporter();
  const origins = new Map<string, Origin>();
  const objects: KubeObjects = { networkPolicies: [], endpointSlices: [], sliceEndpoints: {}, services: [], zones: {}, hostnames: {}, ignored: {} };

  // --- podwire's own document (cluster, and nodes when there are no Node objects); the objects
  const { clusterDoc, clusterAt, podwireNodes, kube, owners } = indexObjects(all, r);
  const dnsReplicas = isInt(clusterDoc['dnsReplicas']) ? clusterDoc['dnsReplicas'] : 1;
  const seed = isInt(clusterDoc['seed']) ? clusterDoc['seed'] : 1;

  // --- namespaces and nodes ---------------------------------------------------------------
  const namespaces = namespacesOf(kube);
  const { nodes, origins: nodeOrigins } = readNodes(kube, objects);

  // --- pods: bare pods and workloads, in object order, then placed ---------------------------
  const pods = new PodList(r, dnsReplicas);
  for (const k of kube) {
    if (k.kind === 'Pod') convertPod(k, r, pods, objects, seed);
    else if (WORKLOADS.has(k.kind)) expandWorkload(k, { r, list: pods, objects, seed, owners, nodes, podwireNodes });
  }
  placePods(pods.pods, nodes, emulatedNodeNames(nodes, podwireNodes), dnsReplicas, r);
  warnUnknownNamespaces(kube, namespaces, r);

  // --- services and their EndpointSlices; the kinds podwire does not model ----------------------
  const services = new ServiceList(r, dnsReplicas);
  const slices = new SliceList(r, objects);
  for (const k of kube) {
    if (k.kind === 'EndpointSlice') slices.add(k);
    else if (k.kind === 'Service') services.add(k);
    else if (!HANDLED.has(k.kind)) objects.ignored[k.kind] = (objects.ignored[k.kind] ?? 0) + 1;
  }
  slices.assign(services.keys(), dnsReplicas);
  const ignored = Object.entries(objects.ignored);
  if (ignored.length > 0) {
    r.warn(undefined, '', '', objects.ignored, `ignored (podwire models the network only): ${ignored.map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
  }

  // --- the document -----------------------------------------------------------------------
  const cluster = clusterSection(clusterDoc, nodes, services.docs);
  if (clusterAt !== undefined) origins.set('cluster', { at: clusterAt, object: '', fields: {} });
  const docNodes = nodeDocs(nodes, nodeOrigins, podwireNodes, clusterAt, objects, origins);
  const docPods = podDocs(pods.pods, origins);
  services.origins.forEach((o, i) => origins.set(`services[${i}]`, o));
  const docPolicies = policyDocs(kube, objects, origins);
  const docNamespaces = namespaceDocs(kube);
  const document: Obj = { cluster, nodes: docNodes, pods: docPods, services: services.docs };
  if (docNamespaces.length > 0) document['namespaces'] = docNamespaces;
  if (docPolicies.length > 0) document['networkPolicies'] = docPolicies;
  return { document, origins, errors: r.errors, warnings: r.warnings, objects, slices: slices.used };
}
