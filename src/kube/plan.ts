/**
 * The cluster plan: `planCluster` resolves a validated `Topology` into a `ClusterPlan` of
 * numbers (addresses, MACs, veth names, service IPs, NodePorts) with an `Ipam` (ipam.ts),
 * and the cluster DNS podwire adds (kube-dns pods and service, their names and labels).
 */
import { macFromIpv4, nthHost, parseCidr, parseIpv4, parseMac } from '../wire/addr.js';
import { VXLAN_OVERHEAD } from '../wire/vxlan.js';
import { DNS_SERVICE_HOST, Ipam, IpamError, KUBERNETES_SERVICE_HOST } from './ipam.js';
import { PodIndex } from './selector.js';
import type { AppSpec, ClusterPlan, NodePlan, PodPlan, PodSpec, ServicePlan, SliceEndpoint, Topology } from './types.js';
import { sliceEndpoints } from './slice-endpoints.js';
/** The cluster DNS that podwire adds when cluster.dnsReplicas > 0. */
export const DNS_NAMESPACE = 'kube-system';
export const DNS_SERVICE_NAME = 'kube-dns';
export const DNS_LABELS: Readonly<Record<string, string>> = { 'k8s-app': 'kube-dns' };
export const DNS_DOMAIN = 'cluster.local';
/** Name of the i-th (0-based) kube-dns pod: kube-dns-1, kube-dns-2, ... */
export const dnsPodName = (i: number): string => `kube-dns-${i + 1}`;
/** Port of an app that does not give one. */
export const DEFAULT_APP_PORTS: Readonly<Record<AppSpec['type'], number>> = { http: 80, 'tcp-echo': 7, 'udp-echo': 7, sctp: 80, dns: 53 };

/** The kube-dns pods of a topology: replica i goes to the i-th emulated node, round robin. */
export function dnsPods(t: {
  cluster: { dnsReplicas: number };
  nodes: readonly { name: string; external: boolean }[];
}): PodSpec[] {
  const hosts = t.nodes.filter((n) => !n.external);
  const out: PodSpec[] = [];
  for (let i = 0; i < t.cluster.dnsReplicas && hosts.length > 0; i++) {
    out.push({
      name: dnsPodName(i), namespace: DNS_NAMESPACE, node: hosts[i % hosts.length]!.name,
      labels: { ...DNS_LABELS }, apps: [{ type: 'dns', port: 53 }],
    });
  }
  return out;
}

/**
 * Resolves a validated topology: addresses, MACs, veth names, service IPs and NodePorts.
 * Given values are taken first (file order), then the rest are allocated in file order, so
 * the result depends only on the topology. Allocations are recorded in `ipam` (a fresh one by
 * default): pass your own to keep allocating at run time. Throws `IpamError` on a topology
 * that `validateTopology` would have refused.
 */
export function planCluster(t: Topology, ipam = new Ipam(t.cluster)): ClusterPlan {
  const c = t.cluster;
  const podMtu = c.overlay === 'vxlan' ? c.mtu - VXLAN_OVERHEAD : c.mtu;

  const nodes: NodePlan[] = t.nodes.map((n, index) => {
    const ip = ipam.allocateNodeIp(parseIpv4(n.ip));
    const podCIDR = ipam.allocateNodePodCidr(parseCidr(n.podCIDR));
    ipam.addNode(n.name, podCIDR);
    const bridgeIp = nthHost(podCIDR, 1);
    const plan: NodePlan = {
      name: n.name, index, external: n.external, ip, mac: macFromIpv4(ip, 0x0200), podCIDR, bridge: n.bridge,
      bridgeIp, bridgeMac: macFromIpv4(bridgeIp), vtepIp: n.vtepIP !== undefined ? parseIpv4(n.vtepIP) : ip,
      vtepMac: n.vtepMAC !== undefined ? parseMac(n.vtepMAC) : macFromIpv4(ip, 0x0258),
    };
    if (n.vtep !== undefined) plan.vtepBind = n.vtep.bind;
    if (n.zone !== undefined) plan.zone = n.zone;
    return plan;
  });
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));

  const specs = [...t.pods.map((p) => ({ p, system: false })), ...dnsPods(t).map((p) => ({ p, system: true }))];
  const ips = specs.map(({ p }) => (p.ip !== undefined ? ipam.allocatePodIp(p.node, parseIpv4(p.ip)) : -1));
  const pods: PodPlan[] = specs.map(({ p, system }, i) => {
    const node = nodeByName.get(p.node);
    if (node === undefined) throw new IpamError('unknown-node', 'node', p.node, `node ${JSON.stringify(p.node)} is not known`);
    const ip = ips[i]! >= 0 ? ips[i]! : ipam.allocatePodIp(p.node);
    return podPlan(p, node, ip, ipam.allocateVeth(p.node), podMtu, system);
  });

  const dnsServiceIp = nthHost(ipam.serviceCIDR, DNS_SERVICE_HOST);
  const noVip = (s: { type: string; clusterIP?: string }): boolean => s.type === 'ExternalName' || s.clusterIP === 'None';
  const vips = t.services.map((s) => (noVip(s) ? 0 : s.clusterIP !== undefined ? ipam.allocateServiceIp(parseIpv4(s.clusterIP)) : -1));
  // NodePorts: given ones first. One number may serve both TCP and UDP within a service.
  for (const s of t.services) {
    const mine = new Set<number>();
    for (const p of s.ports) {
      if (p.nodePort !== undefined && !mine.has(p.nodePort)) mine.add(ipam.allocateNodePort(p.nodePort));
    }
    if (s.healthCheckNodePort !== undefined && needsHealthCheck(s)) ipam.allocateNodePort(s.healthCheckNodePort);
  }
  const given = (s: { name: string; namespace: string }): SliceEndpoint[] | undefined => t.kubernetes?.sliceEndpoints?.[`${s.namespace}/${s.name}`];
  const services: ServicePlan[] = t.services.map((s, i) => ({
    name: s.name, namespace: s.namespace, type: s.type,
    clusterIP: vips[i]! >= 0 ? vips[i]! : ipam.allocateServiceIp(),
    ...(s.type === 'ExternalName' ? { externalName: s.externalName ?? '' } : s.clusterIP === 'None' ? { headless: true } : {}),
    ports: s.ports.map((p) => {
      const out: ServicePlan['ports'][number] = { port: p.port, targetPort: p.targetPort, protocol: p.protocol };
      if (p.name !== undefined) out.name = p.name;
      if (p.nodePort !== undefined) out.nodePort = p.nodePort;
      else if (s.type === 'NodePort' || s.type === 'LoadBalancer') out.nodePort = ipam.allocateNodePort();
      return out;
    }),
    selector: { ...s.selector }, sessionAffinity: s.sessionAffinity, sessionAffinityTimeout: s.sessionAffinityTimeout,
    externalTrafficPolicy: s.externalTrafficPolicy, internalTrafficPolicy: s.internalTrafficPolicy ?? 'Cluster',
    externalIPs: (s.externalIPs ?? []).map(parseIpv4), loadBalancerIPs: (s.loadBalancerIPs ?? []).map(parseIpv4),
    loadBalancerSourceRanges: (s.loadBalancerSourceRanges ?? []).map((r) => parseCidr(r.trim())),
    scheduler: s.scheduler ?? c.ipvsScheduler, weights: { ...s.weights }, endpoints: [], system: false,
    ...(s.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true } : {}),
    ...(s.trafficDistribution !== undefined ? { trafficDistribution: s.trafficDistribution } : {}),
    ...(given(s) !== undefined ? { sliceEndpoints: given(s)! } : {}),
  }));
  // healthCheckNodePort: after the service's NodePorts, as the API server allocates it (after its ports).
  t.services.forEach((s, i) => {
    if (needsHealthCheck(s)) services[i]!.healthCheckNodePort = s.healthCheckNodePort ?? ipam.allocateNodePort();
  });
  if (c.dnsReplicas > 0) {
    services.push({
      name: DNS_SERVICE_NAME, namespace: DNS_NAMESPACE, type: 'ClusterIP', clusterIP: dnsServiceIp,
      ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' }],
      selector: { ...DNS_LABELS }, sessionAffinity: 'None', sessionAffinityTimeout: 10800, externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster', externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [], scheduler: c.ipvsScheduler, weights: {}, endpoints: [], system: true,
    });
  }
  const index = new PodIndex(pods);
  const podsByIp = new Map(pods.map((p) => [p.ip, p]));
  for (const s of services) {
    s.endpoints = s.sliceEndpoints !== undefined
      ? sliceEndpoints(s.ports, s.sliceEndpoints, podsByIp).pods.map((p) => p.name)
      : index.select(s.namespace, s.selector).map((p) => p.name);
  }

  return {
    cluster: c, podCIDR: ipam.podCIDR, serviceCIDR: ipam.serviceCIDR, nodeCIDR: ipam.nodeCIDR, podMtu,
    kubernetesServiceIp: nthHost(ipam.serviceCIDR, KUBERNETES_SERVICE_HOST), dnsServiceIp, dnsDomain: DNS_DOMAIN,
    nodes, pods, services,
  };
}

/**
 * The plan of one pod on `node` at `ip` with host-side veth `veth` (planCluster, and
 * Cluster.addPod for a pod added at run time): its addresses, MACs and a copy of its spec.
 */
export function podPlan(
  p: Pick<PodSpec, 'name' | 'namespace' | 'node' | 'labels' | 'apps' | 'attach' | 'hostname' | 'subdomain' | 'ports' | 'ready' | 'terminating'>,
  node: NodePlan, ip: number, veth: string, mtu: number, system: boolean,
): PodPlan {
  const plan: PodPlan = {
    name: p.name, namespace: p.namespace, node: p.node, nodeIndex: node.index, ip, mac: macFromIpv4(ip),
    gateway: node.bridgeIp, prefixLength: node.podCIDR.prefix, mtu, veth,
    vethMac: macFromIpv4(ip, 0x02ee), labels: { ...p.labels }, apps: p.apps.map((a) => ({ ...a })), system,
  };
  if (p.attach !== undefined) plan.attach = { ...p.attach };
  if (p.hostname !== undefined) plan.hostname = p.hostname;
  if (p.subdomain !== undefined) plan.subdomain = p.subdomain;
  if (p.ports !== undefined) plan.ports = p.ports.map((c) => ({ ...c }));
  if (p.ready === false) plan.ready = false;
  if (p.terminating === true) plan.terminating = true;
  return plan;
}

/** core/v1 NeedsHealthCheck: a LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort. */
export function needsHealthCheck(s: { type: string; externalTrafficPolicy?: string }): boolean {
  return s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
}
