/**
 * NetworkPolicy v1 (networking.k8s.io/v1) as data, with Kubernetes' field names, and the
 * world a policy is evaluated in: namespaces with labels, pods with labels, addresses and
 * named container ports, nodes with their addresses.
 *
 * Everything here is plain JSON (what a topology file, a manifest or an API body holds);
 * `validateNetworkPolicy` (validate.ts) checks one and fills in `metadata.namespace`;
 * `compileNetpol` / `evaluate` (evaluate.ts) answer "is this connection allowed, and why".
 */

export type NetpolProtocol = 'TCP' | 'UDP' | 'SCTP';
export type PolicyType = 'Ingress' | 'Egress';
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** metav1.LabelSelectorRequirement. */
export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

/** metav1.LabelSelector: both parts ANDed; `{}` selects everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** networking/v1 IPBlock: `except` entries are strict subsets of `cidr`. */
export interface IPBlock {
  cidr: string;
  except?: string[];
}

/**
 * networking/v1 NetworkPolicyPeer: either `ipBlock`, or `podSelector` and/or
 * `namespaceSelector` (ANDed when both). A nil `namespaceSelector` means the policy's own
 * namespace; an empty one (`{}`) every namespace.
 */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

/** networking/v1 NetworkPolicyPort: protocol defaults to TCP; no port = every port; `endPort` only with a numbered port. */
export interface NetworkPolicyPort {
  protocol?: NetpolProtocol;
  port?: number | string;
  endPort?: number;
}

/** Absent or empty `ports`: every port and protocol; absent or empty `from`: every source. */
export interface NetworkPolicyIngressRule {
  ports?: NetworkPolicyPort[];
  from?: NetworkPolicyPeer[];
}

export interface NetworkPolicyEgressRule {
  ports?: NetworkPolicyPort[];
  to?: NetworkPolicyPeer[];
}

export interface NetworkPolicySpec {
  /** Required by the API; `{}` selects every pod of the policy's namespace. */
  podSelector: LabelSelector;
  /** Absent: `Ingress`, plus `Egress` when `egress` has a rule (networking/v1 defaulting). */
  policyTypes?: PolicyType[];
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
}

export interface NetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec: NetworkPolicySpec;
}

/** A namespace's labels as given; `kubernetes.io/metadata.name` is added by the model (as the API server does). */
export interface NetpolNamespace {
  name: string;
  labels?: Record<string, string>;
}

/** corev1.ContainerPort, the part named ports need. */
export interface NetpolContainerPort {
  name?: string;
  containerPort: number;
  protocol?: NetpolProtocol;
}

export interface NetpolPod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Dotted quad. */
  ip: string;
  ports?: NetpolContainerPort[];
  /** The node it runs on (traffic between a pod and its node is always allowed). */
  node?: string;
}

export interface NetpolNode {
  name: string;
  /** Every address of the node (underlay, bridge, tunnel device). */
  ips: string[];
}

/** Everything an evaluation looks at. Namespaces of pods or policies that are not listed exist with only the automatic label. */
export interface NetpolWorld {
  policies: NetworkPolicy[];
  namespaces?: NetpolNamespace[];
  pods: NetpolPod[];
  nodes?: NetpolNode[];
}

/** One end of a connection: a pod (`ns/name`) or a plain address (a pod's address counts as that pod). */
export type NetpolEndpoint = { pod: string } | { ip: string };

export interface NetpolQuery {
  from: NetpolEndpoint;
  to: NetpolEndpoint;
  port: number;
  protocol: NetpolProtocol;
}

/** Which rule let the connection through: indices into the policy's `ingress`/`egress`, its `from`/`to` (-1: the rule has no peers, any peer) and its `ports` (-1: any port). */
export interface AllowedBy {
  policy: string;
  rule: number;
  peer: number;
  port: number;
}

export interface DirectionVerdict {
  /** False when the pod is not isolated in this direction (or the end is not a pod). */
  isolated: boolean;
  /** `ns/name` of every policy that isolates the pod in this direction, in policy order. */
  policies: string[];
  /** The first rule (policy order, then rule, peer, port) that allows it; absent when isolated and denied, or not isolated. */
  allowedBy?: AllowedBy;
  allowed: boolean;
}

export interface NetpolVerdict {
  allowed: boolean;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
  /** The explanation, e.g. `egress of x/a not isolated; ingress of y/b isolated by y/deny-all; allowed by x/allow-from-a rule 0 peer 1`. */
  reason: string;
}

/** A validation error with Kubernetes' field path (`spec.ingress[0].from[1].ipBlock.except[0]`). */
export interface NetpolError {
  path: string;
  value: unknown;
  /** Kubernetes' wording: `Invalid value: "10.0.0.0/8": must be a strict subset of `cidr``. */
  message: string;
}

/** The automatic namespace label (KEP-2161), set by the API server on every namespace. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
