/**
 * Which endpoints of a service port kube-proxy uses on one node, from the EndpointSlice
 * conditions (KEP-1669, kube-proxy pkg/proxy/topology.go CategorizeEndpoints):
 *
 *   - Cluster endpoints: the ready ones; when none is ready anywhere, the serving and
 *     terminating ones (a best effort not to drop connections).
 *   - Local endpoints: this node's ready ones; when none, this node's serving and terminating ones.
 *   - hasAny: some endpoint anywhere is ready, or serving and terminating (else kube-proxy REJECTs).
 *
 * The conditions as the EndpointSlice controller writes them (endpointslice utils.go
 * podToEndpoint): serving = the pod's Ready condition, terminating = deletionTimestamp set,
 * ready = publishNotReadyAddresses || (serving && !terminating). Absent conditions read as
 * kube-proxy reads a nil (EndpointSliceCache): ready true, serving true, terminating false.
 */
import type { ResolvedEndpoint } from './service-proxy.js';
import type { ServicePlan, ServicePortPlan } from './types.js';

export const isReady = (e: ResolvedEndpoint): boolean => e.ready !== false;
const servingTerminating = (e: ResolvedEndpoint): boolean => e.serving !== false && e.terminating === true;

export interface Categorized<E> {
  cluster: E[];
  local: E[];
  /** cluster ∪ local, in the order given: every endpoint this node may send to. */
  reachable: E[];
  hasAny: boolean;
}

/**
 * kube-proxy topologyModeFromHints: PreferSameNode when every ready endpoint has a node hint and
 * one names this node; else PreferSameZone when every ready endpoint has a zone hint and one
 * names this node's zone; else '' (cluster-wide).
 */
function topologyMode(endpoints: readonly ResolvedEndpoint[], node: string, zone: string): '' | 'node' | 'zone' {
  let allNode = true; let forNode = false; let allZone = true; let forZone = false;
  let any = false;
  for (const e of endpoints) {
    if (!isReady(e)) continue;
    any = true;
    if ((e.nodeHints?.length ?? 0) === 0) allNode = false;
    else if (e.nodeHints!.includes(node)) forNode = true;
    if ((e.zoneHints?.length ?? 0) === 0) allZone = false;
    else if (e.zoneHints!.includes(zone)) forZone = true;
  }
  if (!any) return '';
  if (allNode && forNode) return 'node';
  if (allZone && forZone) return 'zone';
  return '';
}

export function categorizeEndpoints<E extends ResolvedEndpoint>(endpoints: readonly E[], node: string, zone = ''): Categorized<E> {
  const mode = topologyMode(endpoints, node, zone);
  const usable = (e: E): boolean => mode === '' || (mode === 'node' ? e.nodeHints!.includes(node) : (e.zoneHints?.includes(zone) ?? false));
  let cluster = endpoints.filter((e) => isReady(e) && usable(e));
  // The fallback to terminating endpoints ignores topology (kube-proxy: "best effort").
  if (cluster.length === 0) cluster = endpoints.filter(servingTerminating);
  const mine = endpoints.filter((e) => e.node === node);
  let local = mine.filter(isReady);
  if (local.length === 0) local = mine.filter(servingTerminating);
  const hasAny = cluster.length > 0;
  const reachable = local.every((e) => cluster.includes(e)) ? cluster : endpoints.filter((e) => cluster.includes(e) || local.includes(e));
  return { cluster, local, reachable, hasAny };
}

/**
 * What kube-proxy's syncProxyRules derives per service port from the policies and the
 * categorized endpoints (ServicePort's ExternallyAccessible, InternalPolicyLocal,
 * ExternalPolicyLocal, UsesClusterEndpoints: Cluster endpoints are needed for Local's
 * short-circuits too; UsesLocalEndpoints; hasInternalEndpoints, hasExternalEndpoints). The
 * three rule renderers read it, so they agree on which chains exist.
 */
export interface PortPolicy {
  /** A NodePort, an external IP or a LoadBalancer IP. */
  external: boolean;
  internalLocal: boolean;
  externalLocal: boolean;
  usesCluster: boolean;
  usesLocal: boolean;
  hasInternal: boolean;
  hasExternal: boolean;
}

export function portPolicy(plan: ServicePlan, port: ServicePortPlan, cat: Categorized<unknown>): PortPolicy {
  const external = port.nodePort !== undefined || plan.externalIPs.length > 0 || (plan.type === 'LoadBalancer' && plan.loadBalancerIPs.length > 0);
  const internalLocal = plan.internalTrafficPolicy === 'Local';
  const externalLocal = external && plan.externalTrafficPolicy === 'Local';
  const hasLocal = cat.local.length > 0;
  return {
    external, internalLocal, externalLocal,
    usesCluster: cat.cluster.length > 0 && (!internalLocal || external),
    usesLocal: hasLocal && (internalLocal || externalLocal),
    hasInternal: cat.hasAny && (!internalLocal || hasLocal),
    hasExternal: cat.hasAny && (!externalLocal || hasLocal),
  };
}

/**
 * The hints the EndpointSlice controller sets for trafficDistribution (trafficdist): ready
 * endpoints only; PreferSameZone (and its old name PreferClose) `forZones: [its zone]` when the
 * node has one; PreferSameNode also `forNodes: [its node]`.
 */
export function topologyHints(td: string | undefined, node: string, zone: string | undefined, ready: boolean): { zoneHints?: string[]; nodeHints?: string[] } {
  if (td === undefined || !ready) return {};
  const out: { zoneHints?: string[]; nodeHints?: string[] } = {};
  if (zone !== undefined && zone !== '') out.zoneHints = [zone];
  if (td === 'PreferSameNode') out.nodeHints = [node];
  return out;
}

/** The conditions the EndpointSlice controller publishes for a pod (podToEndpoint). */
export function podConditions(pod: { ready?: boolean; terminating?: boolean }, publishNotReadyAddresses: boolean): { ready: boolean; serving: boolean; terminating: boolean } {
  const serving = pod.ready !== false;
  const terminating = pod.terminating === true;
  return { ready: publishNotReadyAddresses || (serving && !terminating), serving, terminating };
}
