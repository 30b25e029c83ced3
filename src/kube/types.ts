/**
 * The topology of an emulated cluster, as read from a topology file (YAML) or an API body,
 * after validation with every default filled in (`validateTopology` in topology.ts).
 *
 * Addresses stay strings here: a `Topology` is what the user wrote (plus defaults) and
 * serialises back to the same YAML/JSON. `planCluster` (ipam.ts) turns it into a
 * `ClusterPlan` of numbers for the builder.
 */

import type { Cidr } from '../wire/addr.js';
import type { NetpolContainerPort, NetpolNamespace, NetworkPolicy } from './netpol/types.js';
import type { NetemSpec } from '../net/netem-spec.js';

export type { NetemSpec };

export type OverlayMode = 'vxlan' | 'routed';
export type ProxyMode = 'iptables' | 'ipvs' | 'nftables';
export type IpvsScheduler = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh' | 'dh' | 'sed' | 'nq';
/** `linux`: netfilter's defaults; `kube-proxy`: the values kube-proxy sets (tcp established 24h, close-wait 1h). */
export type ConntrackTimeouts = 'linux' | 'kube-proxy';
export type AppType = 'http' | 'tcp-echo' | 'udp-echo' | 'sctp' | 'dns';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type SessionAffinity = 'None' | 'ClientIP';
export type ExternalTrafficPolicy = 'Cluster' | 'Local';
export type InternalTrafficPolicy = 'Cluster' | 'Local';
export type TrafficDistribution = 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';

export interface VxlanConfig {
  /** VXLAN network identifier, 24 bits (flannel uses 1). */
  vni: number;
  /** Destination UDP port (flannel/Linux: 8472; IANA: 4789). */
  port: number;
  /** Outer UDP source ports are hashed from the inner flow into this range (inclusive). */
  sourcePortRange: [number, number];
  /** Whether the outer UDP header carries a checksum (Linux default: no). */
  udpChecksum: boolean;
}

export interface ConntrackConfig {
  /** Table capacity (nf_conntrack_max). */
  max: number;
  timeouts: ConntrackTimeouts;
  /**
   * The nodes' TCP window tracking: `6.1` (default; Linux 6.1 and later ignore a segment under
   * the window) or `5.15` (any kernel before 6.1: every out-of-window segment is INVALID).
   */
  kernel: '6.1' | '5.15';
  /**
   * net.netfilter.nf_conntrack_tcp_be_liberal (kube-proxy --conntrack-tcp-be-liberal): out-of-
   * window segments are accepted, and kube-proxy leaves out its INVALID drop rule.
   */
  tcpBeLiberal: boolean;
}

export interface ClusterConfig {
  name: string;
  podCIDR: string;
  serviceCIDR: string;
  /** Underlay network of the nodes' eth0. */
  nodeCIDR: string;
  overlay: OverlayMode;
  /** Underlay MTU; pods get `mtu - 50` under vxlan. */
  mtu: number;
  vxlan: VxlanConfig;
  proxyMode: ProxyMode;
  ipvsScheduler: IpvsScheduler;
  conntrack: ConntrackConfig;
  /** Delete UDP conntrack entries towards an endpoint that goes away (kube-proxy does). */
  flushStaleUdp: boolean;
  /**
   * Pod bridge ports in hairpin mode (kubelet `hairpinMode: hairpin-veth`), so a pod can reach
   * itself through a service; false: such packets are dropped at the bridge (`hairpin-off`).
   */
  hairpinMode: boolean;
  /**
   * The flowtable fast path for pod -> pod traffic over a node's bridge (docs/flowtable.md):
   * nothing observable changes, established flows skip the bridge's and veths' elements. Default false.
   */
  flowtable?: boolean;
  /** Number of kube-dns pods, placed on the first (emulated) nodes in turn. */
  dnsReplicas: number;
  /**
   * Cluster DNS (CoreDNS `kubernetes` plugin): `ttl` of its records, 0..3600, default 5;
   * `upstream` "IPv4:port" where names outside the zone are forwarded (CoreDNS `forward`),
   * by `podwire up` over a real UDP socket; absent: SERVFAIL.
   */
  dns?: { ttl: number; upstream?: string };
  /**
   * The node kernel's ARP table limits, shared by the node's root namespace and all its pods
   * (Linux: one arp_tbl per kernel): net.ipv4.neigh.default.gc_thresh2/3, default 512/1024.
   */
  neighbor?: { gcThresh2?: number; gcThresh3?: number };
  /** Seed of the RNG (iptables-mode random endpoint choice, jitter, loss). */
  seed: number;
}

export interface VtepBind {
  /** "host:port" of the UDP socket that carries VXLAN to and from a real host. */
  bind: string;
}

export interface NodeSpec {
  name: string;
  /** Underlay address; filled in: .11, .12, ... of nodeCIDR in node order (skipping given ones). */
  ip: string;
  /** Filled in: the next free /24 of cluster.podCIDR from index 1 (node1 -> 10.244.1.0/24). */
  podCIDR: string;
  bridge: string;
  /** A real host reached through VXLAN; its pods are not emulated. */
  external: boolean;
  /** Only for external nodes: the real host's VTEP address and MAC. */
  vtepIP?: string;
  vtepMAC?: string;
  vtep?: VtepBind;
  /** The node's `topology.kubernetes.io/zone` label (trafficDistribution hints). */
  zone?: string;
  /** netem on the node's eth0 (its underlay link), egress. */
  netem?: NetemSpec;
}

export interface AppSpec {
  type: AppType;
  /** Defaults: http 80, tcp-echo 7, udp-echo 7, dns 53. */
  port: number;
}

/** A real network namespace that joins the cluster as this pod, through a TAP. */
export type AttachSpec = ({ netns: string } | { pid: number } | { container: string; runtime?: 'docker' | 'podman' }) & {
  /** IFF_VNET_HDR with checksum/TSO offloads: GSO frames pass through (docs/attach.md). */
  offloads?: boolean;
  /**
   * How the pod joins the namespace (docs/attach.md): `tap` (default) a TAP becomes its eth0
   * (a container with --network none); `second` a TAP becomes eth1 beside the namespace's own
   * network, routing only the cluster's pod and service CIDRs; `veth` podwire takes over the
   * host end of the veth behind its eth0 with a packet socket (the address stays).
   */
  mode?: AttachMode;
};

export type AttachMode = 'tap' | 'second' | 'veth';

export interface PodSpec {
  name: string;
  namespace: string;
  node: string;
  /** Optional: allocated by `planCluster` (next free from .2 upward) when absent. */
  ip?: string;
  labels: Record<string, string>;
  apps: AppSpec[];
  attach?: AttachSpec;
  /** spec.hostname / spec.subdomain: with a headless service named `subdomain`, DNS serves `<hostname>.<subdomain>.<ns>.svc.<zone>`. */
  hostname?: string;
  subdomain?: string;
  /** The pod's Ready condition (absent: true); false keeps it out of its services' ready endpoints. */
  ready?: boolean;
  /** Being deleted (metadata.deletionTimestamp; absent: false): its endpoints are terminating. */
  terminating?: boolean;
  /** Container ports as Kubernetes writes them (`name`, `containerPort`, `protocol`): what a NetworkPolicy's named ports resolve to. */
  ports?: NetpolContainerPort[];
  /** netem on the pod's eth0, egress (`tc qdisc add dev eth0 root netem ...` inside the pod). */
  netem?: NetemSpec;
}

export interface ServicePortSpec {
  /** Required when the service has more than one port. */
  name?: string;
  port: number;
  /**
   * Filled in: defaults to `port`. A string names a container port (`pods[].ports[].name`),
   * resolved on each selected pod separately, as the EndpointSlice controller does
   * (endpoint-ports.ts): pods declaring it under other numbers get their own, pods without it
   * are no endpoint of this port.
   */
  targetPort: number | string;
  protocol: Protocol;
  /** Only for type NodePort or LoadBalancer; allocated from 30000 upward when absent. */
  nodePort?: number;
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  type: ServiceType;
  /** Optional: allocated from serviceCIDR by `planCluster` when absent; `None`: headless (no virtual IP). */
  clusterIP?: string;
  /** type ExternalName: the name its DNS record is a CNAME to (no virtual IP, no proxying). */
  externalName?: string;
  selector: Record<string, string>;
  ports: ServicePortSpec[];
  sessionAffinity: SessionAffinity;
  /** Seconds (ClientIP affinity). */
  sessionAffinityTimeout: number;
  externalTrafficPolicy: ExternalTrafficPolicy;
  /** spec.internalTrafficPolicy: Local sends cluster IP traffic to this node's endpoints only. */
  internalTrafficPolicy: InternalTrafficPolicy;
  /** spec.externalIPs: addresses every node also answers the service's ports on. */
  externalIPs?: string[];
  /** status.loadBalancer.ingress[].ip of a LoadBalancer service (what the cloud assigned). */
  loadBalancerIPs?: string[];
  /** spec.loadBalancerSourceRanges: the client CIDRs a LoadBalancer IP accepts (absent: all). */
  loadBalancerSourceRanges?: string[];
  /** Per-service IPVS scheduler; absent: cluster.ipvsScheduler. */
  scheduler?: IpvsScheduler;
  /** Pod name -> weight, for wrr/wlc; pods not listed weigh 1. */
  weights?: Record<string, number>;
  /** spec.publishNotReadyAddresses: unready (and terminating) pods' endpoints are published ready. */
  publishNotReadyAddresses?: boolean;
  /** LoadBalancer with externalTrafficPolicy Local only: allocated like a NodePort when absent. */
  healthCheckNodePort?: number;
  /** spec.trafficDistribution: hints for ready endpoints (PreferClose is PreferSameZone's old name). */
  trafficDistribution?: TrafficDistribution;
}

/**
 * Link impairment (docs/netem.md): netem on one direction of an interface, named as a
 * capture point (`pod1/eth0`, `node1/veth0`, `node1/eth0`, an attached pod's `eth0`).
 * `egress` (default) is what `tc qdisc add dev X root netem` impairs: frames leaving X.
 */
export interface LinkSpec {
  interface: string;
  direction?: 'egress' | 'ingress' | 'both';
  netem: NetemSpec;
}

export interface Topology {
  cluster: ClusterConfig;
  nodes: NodeSpec[];
  pods: PodSpec[];
  services: ServiceSpec[];
  /** Namespaces with labels (for NetworkPolicy namespaceSelectors); others exist with only `kubernetes.io/metadata.name`. */
  namespaces?: NetpolNamespace[];
  /** NetworkPolicy objects (networking.k8s.io/v1), validated, `metadata.namespace` filled in (docs/networkpolicy.md). */
  networkPolicies?: NetworkPolicy[];
  /** Impaired links (netem); pods and nodes may also carry `netem:` for their eth0's egress. */
  links?: LinkSpec[];
  /** Present when the topology came from Kubernetes manifests: what they hold beyond the model. */
  kubernetes?: KubeObjects;
}

/** Kubernetes objects kept as data (src/kube/manifests): not (yet) emulated, but part of the cluster. */
export interface KubeObjects {
  networkPolicies: Record<string, unknown>[];
  endpointSlices: Record<string, unknown>[];
  /** `ns/service` -> the endpoints of its IPv4 EndpointSlices (validated): they replace the selector's. */
  sliceEndpoints: Record<string, SliceEndpoint[]>;
  /** Services podwire does not emulate yet: headless (`clusterIP: None`) and ExternalName. */
  services: Record<string, unknown>[];
  /** Node name -> `topology.kubernetes.io/zone`. */
  zones: Record<string, string>;
  /** `ns/pod` -> hostname and subdomain (spec.hostname/subdomain, StatefulSet pods). */
  hostnames: Record<string, { hostname: string; subdomain?: string }>;
  /** Kind -> how many objects of it were ignored. */
  ignored: Record<string, number>;
}

/**
 * A mistake (or, in `warnings`, a doubt) in a topology: `path` in bracketed style
 * (`pods[2].node`, empty for the document itself), the offending value, and a message that
 * quotes it. Text form (`formatTopologyError`): `pods[2].node: "node9" is not a node`.
 */
export interface TopologyError {
  path: string;
  value: unknown;
  message: string;
  /** Where it came from, when the topology came from YAML text: source name, 1-based line and column. */
  source?: string;
  line?: number;
  column?: number;
  /** The Kubernetes object it is about (`Deployment/default/web`), when it came from manifests; `path` is then its field path. */
  object?: string;
}

export type TopologyResult =
  | { ok: true; topology: Topology; warnings: TopologyError[] }
  | { ok: false; errors: TopologyError[]; warnings: TopologyError[] };

// ---------------------------------------------------------------------------------------
// The resolved plan (ipam.ts `planCluster`): every address a number, every name decided.

export interface NodePlan {
  name: string;
  /** Position in `topology.nodes`. */
  index: number;
  external: boolean;
  /** Underlay address of eth0. */
  ip: number;
  /** eth0 MAC: 02:00 + the 4 bytes of `ip`. */
  mac: number;
  podCIDR: Cidr;
  bridge: string;
  /** .1 of podCIDR: the pods' default gateway. */
  bridgeIp: number;
  /** 02:42 + the 4 bytes of `bridgeIp`. */
  bridgeMac: number;
  /** VXLAN endpoint: `ip` for an emulated node, `vtepIP` for an external one. */
  vtepIp: number;
  /** 02:58 + the 4 bytes of `ip` for an emulated node, `vtepMAC` for an external one. */
  vtepMac: number;
  /** "host:port" of a real UDP socket for this VTEP, when given. */
  vtepBind?: string;
  zone?: string;
}

export interface PodPlan {
  name: string;
  namespace: string;
  node: string;
  nodeIndex: number;
  ip: number;
  /** 02:42 + the 4 bytes of `ip` (Docker's convention). */
  mac: number;
  /** The node bridge's address. */
  gateway: number;
  /** Prefix length of the node's podCIDR (the pod's on-link route). */
  prefixLength: number;
  /** cluster.mtu - 50 under vxlan, cluster.mtu when routed. */
  mtu: number;
  /** Host-side veth name in the node's root namespace (`veth0`, `veth1`, ... per node). */
  veth: string;
  /** Host-side veth MAC: 02:ee + the 4 bytes of `ip`. */
  vethMac: number;
  labels: Record<string, string>;
  apps: AppSpec[];
  attach?: AttachSpec;
  hostname?: string;
  subdomain?: string;
  /** Added by podwire (kube-dns), not in the topology file. */
  system: boolean;
  /** As in PodSpec; absent: ready, not terminating. */
  ready?: boolean;
  terminating?: boolean;
  /** As in PodSpec: named container ports. */
  ports?: NetpolContainerPort[];
}

export interface ServicePortPlan {
  name?: string;
  port: number;
  /** A number, or a container port name resolved per pod (endpoint-ports.ts `findPort`). */
  targetPort: number | string;
  protocol: Protocol;
  nodePort?: number;
}

export interface ServicePlan {
  name: string;
  namespace: string;
  type: ServiceType;
  /** 0 when headless or ExternalName (no virtual IP: kube-proxy has no rules for it). */
  clusterIP: number;
  /** clusterIP: None. DNS answers with the endpoints' addresses. */
  headless?: boolean;
  /** type ExternalName: DNS answers a CNAME to it. */
  externalName?: string;
  ports: ServicePortPlan[];
  selector: Record<string, string>;
  sessionAffinity: SessionAffinity;
  sessionAffinityTimeout: number;
  externalTrafficPolicy: ExternalTrafficPolicy;
  internalTrafficPolicy: InternalTrafficPolicy;
  externalIPs: number[];
  loadBalancerIPs: number[];
  /** loadBalancerSourceRanges, parsed (absent or empty: any source). */
  loadBalancerSourceRanges?: Cidr[];
  /** The service's scheduler, or cluster.ipvsScheduler. */
  scheduler: IpvsScheduler;
  weights: Record<string, number>;
  /** Names of the pods (same namespace) the selector matches, in plan order. */
  endpoints: string[];
  system: boolean;
  publishNotReadyAddresses?: boolean;
  /** Each node answers HTTP on it: 200 with local ready endpoints, else 503 (kube-proxy's healthcheck server). */
  healthCheckNodePort?: number;
  trafficDistribution?: TrafficDistribution;
  /**
   * The endpoints of the service's EndpointSlices (manifests: `kubernetes.io/service-name`,
   * addressType IPv4), taken as given instead of the selector's (docs/manifests.md).
   */
  sliceEndpoints?: SliceEndpoint[];
}

/**
 * One endpoint of an EndpointSlice, as kube-proxy's EndpointSliceCache reads it: the first
 * address, the conditions with nil read as ready true, serving true, terminating false, the
 * node name and zone, the hints, and its slice's ports (name '' when unnamed, API defaults).
 */
export interface SliceEndpoint {
  /** `EndpointSlice/ns/name`, for messages. */
  slice: string;
  /** Its address's field path in the slice (`endpoints[2].addresses[0]`), for messages. */
  path: string;
  /** addresses[0], dotted. */
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  /** spec hostname (headless DNS names). */
  hostname?: string;
  zoneHints?: string[];
  nodeHints?: string[];
  /** The slice's ports with a port number (kube-proxy ignores the others). */
  ports: { name: string; port: number; protocol: Protocol }[];
}

export interface ClusterPlan {
  cluster: ClusterConfig;
  podCIDR: Cidr;
  serviceCIDR: Cidr;
  nodeCIDR: Cidr;
  podMtu: number;
  /** .1 of serviceCIDR (reserved; podwire does not emulate the API server). */
  kubernetesServiceIp: number;
  /** .10 of serviceCIDR: the kube-dns service (when cluster.dnsReplicas > 0). */
  dnsServiceIp: number;
  dnsDomain: string;
  nodes: NodePlan[];
  pods: PodPlan[];
  services: ServicePlan[];
}
