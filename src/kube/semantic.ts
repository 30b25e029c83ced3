/**
 * The second validation pass: what a JSON Schema cannot say. Runs on a document the schema
 * accepted (so every field has its type and its schema default) and reports every mistake it
 * finds, not the first: unknown nodes, duplicate names, CIDRs with host bits or overlapping,
 * addresses outside their range, reserved or taken twice, ranges too small, duplicate ports,
 * and (as warnings) services that select nothing. Then fills in the defaults that depend on
 * other fields: node ip and podCIDR, app ports, targetPort.
 *
 * Messages quote the bad value as JSON and name the thing it clashes with by its path:
 * `pods[1].ip: "10.244.1.5" is already used by pods[0]`.
 *
 * This file runs the checks in order, one module per part of the document:
 * semantic-cluster.ts, semantic-nodes.ts (and the derived node defaults), semantic-pods.ts,
 * semantic-services.ts, semantic-netpol.ts (namespaces, NetworkPolicies),
 * semantic-netem.ts (netem and links); what they share is in semantic-common.ts.
 */

import { formatCidr, formatIpv4 } from '../wire/addr.js';
import type { Cidr } from '../wire/addr.js';
import { IpamError } from './ipam.js';
import { DEFAULT_APP_PORTS, planCluster } from './plan.js';
import { checkCluster, checkDnsUpstream } from './semantic-cluster.js';
import { Report, type SchemaTopology } from './semantic-common.js';
import { checkNetem } from './semantic-netem.js';
import { checkNetworkPolicies } from './semantic-netpol.js';
import { checkNodes, deriveNodeDefaults } from './semantic-nodes.js';
import { checkPods } from './semantic-pods.js';
import { checkServices } from './semantic-services.js';
import type { AppSpec, NodeSpec, PodSpec, ServicePortSpec, ServiceSpec, Topology, TopologyError } from './types.js';

export { joinPath } from './semantic-common.js';
export type { SchemaTopology } from './semantic-common.js';

export interface CheckResult {
  errors: TopologyError[];
  warnings: TopologyError[];
  /** Present when there are no errors. */
  topology?: Topology;
}

export function checkTopology(t: SchemaTopology): CheckResult {
  const r = new Report();
  const cidrs = checkCluster(r, t.cluster);
  const errorsBeforeNodes = r.errors.length;
  const { nodeIndex, nodeRanges } = checkNodes(r, t, cidrs);
  checkDnsUpstream(r, t.cluster);
  // Derived defaults: node addresses from .11, node podCIDRs from the second /24.
  const nodeIps = deriveNodeDefaults(r, t, cidrs, nodeRanges, r.errors.length === errorsBeforeNodes);
  checkPods(r, t, nodeIndex, nodeRanges);
  checkServices(r, t, cidrs.sc);
  const policies = checkNetworkPolicies(r, t);
  checkNetem(r, t);

  if (r.errors.length > 0) return { errors: r.errors, warnings: r.warnings };
  const topology = fill(t, nodeIps, nodeRanges);
  if (t.namespaces !== undefined) topology.namespaces = t.namespaces;
  if (policies.length > 0 || t.networkPolicies !== undefined) topology.networkPolicies = policies;
  try {
    planCluster(topology); // safety net: pools too small for what is left to allocate (service IPs, NodePorts)
  } catch (e) {
    if (!(e instanceof IpamError)) throw e;
    const path = e.field === 'service IP' ? 'cluster.serviceCIDR' : e.field === 'nodePort' ? 'services' : '';
    r.err(path, e.value, e.message);
    return { errors: r.errors, warnings: r.warnings };
  }
  return { errors: r.errors, warnings: r.warnings, topology };
}

/** The topology with derived defaults filled in (call only when there are no errors). */
function fill(t: SchemaTopology, ips: (number | null)[], ranges: (Cidr | null)[]): Topology {
  return {
    cluster: t.cluster,
    nodes: t.nodes.map((n, i): NodeSpec => ({ ...n, ip: formatIpv4(ips[i]!), podCIDR: formatCidr(ranges[i]!) })),
    pods: t.pods.map((p): PodSpec => ({
      ...p, apps: p.apps.map((a): AppSpec => ({ type: a.type, port: a.port ?? DEFAULT_APP_PORTS[a.type] })),
    })),
    services: t.services.map((s): ServiceSpec => ({
      ...s, ports: (s.ports ?? []).map((p): ServicePortSpec => ({ ...p, targetPort: p.targetPort ?? p.port })),
    })),
    ...(t.links !== undefined ? { links: t.links } : {}),
  };
}
