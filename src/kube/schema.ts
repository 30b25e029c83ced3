/**
 * The JSON Schema (draft-07, as Ajv 8's default class reads it) of a podwire topology file.
 *
 * One schema for every edge: the topology loader validates YAML documents with
 * `topologySchema`; the REST API validates request bodies with the sub-schemas
 * `nodeSchema`, `podSchema` and `serviceSchema` (the same objects, embedded by value, so
 * each works on its own without `$ref`). Defaults are written here as `default` and applied
 * by Ajv (`useDefaults`); the few that depend on other fields (node ip and podCIDR, app
 * port, targetPort) are filled in by topology.ts.
 *
 * `additionalProperties: false` everywhere: a typo is an error, not a silently ignored key.
 * Address formats are `pattern`s (no ajv-formats needed); `PATTERN_NAMES` gives the
 * readable noun for each so that errors read `"10.244.1.0/33" is not a CIDR`.
 */

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;

export const IPV4_PATTERN = `^${IPV4}$`;
export const CIDR_PATTERN = `^${IPV4}/(3[0-2]|[12]?[0-9])$`;
export const MAC_PATTERN = '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$';
/** RFC 1123 label, as Kubernetes names objects: lower-case alphanumerics and '-', max 63. */
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
/**
 * Pod names: a DNS-1123 subdomain, as Kubernetes validates them (ValidatePodName =
 * NameIsDNSSubdomain; k8s.io/apimachinery/pkg/util/validation IsDNS1123Subdomain:
 * dns1123SubdomainFmt, at most DNS1123SubdomainMaxLength 253): lower-case alphanumerics,
 * '-' and '.', starting and ending with an alphanumeric. The length is checked first (the
 * lookahead), so a long string costs no backtracking.
 */
export const POD_NAME_PATTERN = '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Kubernetes port names (IANA service names): like a name, at most 15 characters. */
export const PORT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$';
/**
 * A named targetPort (Kubernetes IsValidPortName, IANA_SVC_NAME): a port name with at least
 * one letter and no `--`, so `"8080"` is no name.
 */
export const TARGET_PORT_NAME_PATTERN = '^(?=[-a-z0-9]*[a-z])(?![-a-z0-9]*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$';
/** Label keys: optional DNS-subdomain prefix and '/', then a name of up to 63 characters. */
export const LABEL_KEY_PATTERN =
  '^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** Label values: empty, or up to 63 characters of alphanumerics, '-', '_' and '.'. */
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$';
/** Linux interface names: 1..15 characters, no '/', ':' or white space. */
export const IFNAME_PATTERN = '^[A-Za-z0-9_.-]{1,15}$';
/** "host:port" of a UDP socket: an IPv4 address or a host name, then a port. */
export const HOSTPORT_PATTERN = `^(${IPV4}|[A-Za-z0-9]([-A-Za-z0-9.]{0,252}[A-Za-z0-9])?):([1-9][0-9]{0,4})$`;
/** A port written in text (a query string): decimal digits only; the range 0-65535 is checked after. */
export const PORT_TEXT_PATTERN = '^[0-9]{1,5}$';
/** A pod or service named in a filter (`GET /flows`): `name`, `namespace/name` or `name.namespace`. */
export const OBJECT_REF_PATTERN = '^(?=.{1,317}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Names of network namespaces under /var/run/netns. */
export const NETNS_PATTERN = '^[A-Za-z0-9_.-]{1,255}$';
/** A container name (Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]*) or id. */
export const CONTAINER_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$';

/** What each pattern stands for, for error messages ("... is not a CIDR"). */
export const PATTERN_NAMES: Readonly<Record<string, string>> = {
  [IPV4_PATTERN]: 'an IPv4 address',
  [CIDR_PATTERN]: 'a CIDR',
  [MAC_PATTERN]: 'a MAC address',
  [NAME_PATTERN]:
    "a valid name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
  [POD_NAME_PATTERN]:
    "a valid pod name (a DNS subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
  [PORT_NAME_PATTERN]:
    "a valid port name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 15 characters)",
  [TARGET_PORT_NAME_PATTERN]:
    "a port number or a valid port name (1 to 15 lower-case letters, digits and '-', at least one letter, no '--', starting and ending with a letter or digit)",
  [LABEL_KEY_PATTERN]: 'a valid label key',
  [OBJECT_REF_PATTERN]: "a pod or service name (name, namespace/name or name.namespace; lower-case letters, digits, '-' and '.')",
  [LABEL_VALUE_PATTERN]: "a valid label value (at most 63 letters, digits, '-', '_' or '.')",
  [IFNAME_PATTERN]: "a valid interface name (1 to 15 letters, digits, '-', '_' or '.')",
  [HOSTPORT_PATTERN]: 'a "host:port" address',
  [NETNS_PATTERN]: 'a valid network namespace name',
  [PORT_TEXT_PATTERN]: 'a port (decimal digits, 0-65535)',
};

const ipv4 = { type: 'string', pattern: IPV4_PATTERN } as const;
const cidr = { type: 'string', pattern: CIDR_PATTERN } as const;
const name = { type: 'string', pattern: NAME_PATTERN } as const;
const podName = { type: 'string', pattern: POD_NAME_PATTERN } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const labels = {
  type: 'object',
  propertyNames: { pattern: LABEL_KEY_PATTERN },
  additionalProperties: { type: 'string', pattern: LABEL_VALUE_PATTERN },
  default: {},
} as const;
const ipvsScheduler = { type: 'string', enum: ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq'] } as const;

export const clusterSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    name: { ...name, default: 'podwire' },
    podCIDR: { ...cidr, default: '10.244.0.0/16' },
    serviceCIDR: { ...cidr, default: '10.96.0.0/12' },
    nodeCIDR: { ...cidr, default: '192.168.56.0/24' },
    overlay: { type: 'string', enum: ['vxlan', 'routed'], default: 'vxlan' },
    mtu: { type: 'integer', minimum: 576, maximum: 9216, default: 1500 },
    vxlan: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        vni: { type: 'integer', minimum: 0, maximum: 16777215, default: 1 },
        port: { ...port, default: 8472 },
        sourcePortRange: { type: 'array', items: port, minItems: 2, maxItems: 2, default: [32768, 60999] },
        udpChecksum: { type: 'boolean', default: false },
      },
    },
    proxyMode: { type: 'string', enum: ['iptables', 'ipvs', 'nftables'], default: 'iptables' },
    ipvsScheduler: { ...ipvsScheduler, default: 'rr' },
    conntrack: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max: { type: 'integer', minimum: 16, maximum: 16777216, default: 262144 },
        timeouts: { type: 'string', enum: ['linux', 'kube-proxy'], default: 'linux' },
        kernel: { type: 'string', enum: ['6.1', '5.15'], default: '6.1' },
        tcpBeLiberal: { type: 'boolean', default: false },
      },
    },
    flushStaleUdp: { type: 'boolean', default: true },
    hairpinMode: { type: 'boolean', default: true },
    flowtable: { type: 'boolean', default: false },
    dnsReplicas: { type: 'integer', minimum: 0, maximum: 16, default: 1 },
    dns: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ttl: { type: 'integer', minimum: 0, maximum: 3600, default: 5 },
        upstream: { type: 'string', maxLength: 21, pattern: '^[0-9.]+:[0-9]+$' },
      },
    },
    neighbor: {
      type: 'object',
      additionalProperties: false,
      properties: {
        gcThresh2: { type: 'integer', minimum: 1, maximum: 16777216 },
        gcThresh3: { type: 'integer', minimum: 1, maximum: 16777216 },
      },
    },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 1 },
  },
} as const;

const tcText = { type: 'string', minLength: 1, maxLength: 32 } as const;

/** netem's settings in tc's words (src/net/netem-spec.ts; values are checked semantically). */
export const netemSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 0, maximum: 4294967295 },
    delay: tcText,
    jitter: tcText,
    delayCorrelation: tcText,
    distribution: { type: 'string', enum: ['uniform', 'normal', 'pareto', 'paretonormal'] },
    loss: tcText,
    lossCorrelation: tcText,
    lossState: {
      type: 'object', additionalProperties: false, required: ['p13'],
      properties: { p13: tcText, p31: tcText, p32: tcText, p23: tcText, p14: tcText },
    },
    lossGemodel: {
      type: 'object', additionalProperties: false, required: ['p'],
      properties: { p: tcText, r: tcText, '1-h': tcText, '1-k': tcText },
    },
    ecn: { type: 'boolean' },
    duplicate: tcText,
    duplicateCorrelation: tcText,
    corrupt: tcText,
    corruptCorrelation: tcText,
    reorder: tcText,
    reorderCorrelation: tcText,
    gap: { type: 'integer', minimum: 0, maximum: 4294967295 },
    rate: tcText,
    packetOverhead: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
    cellSize: { type: 'integer', minimum: 0, maximum: 4294967295 },
    cellOverhead: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
    slot: {
      type: 'object', additionalProperties: false, required: ['min'],
      properties: { min: tcText, max: tcText, packets: { type: 'integer', minimum: 0 }, bytes: { type: 'integer', minimum: 0 } },
    },
    /** An integer; as a decimal string for seeds above 2^53. */
    seed: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]{1,20}$' }] },
  },
} as const;

export const linkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['interface', 'netem'],
  properties: {
    interface: { type: 'string', pattern: '^[^/\\s]+/[^/\\s]+$' },
    direction: { type: 'string', enum: ['egress', 'ingress', 'both'], default: 'egress' },
    netem: netemSchema,
  },
} as const;

export const nodeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    ip: ipv4,
    podCIDR: cidr,
    bridge: { type: 'string', pattern: IFNAME_PATTERN, default: 'cbr0' },
    external: { type: 'boolean', default: false },
    zone: { type: 'string', minLength: 1, maxLength: 63 },
    vtepIP: ipv4,
    vtepMAC: { type: 'string', pattern: MAC_PATTERN },
    vtep: {
      type: 'object',
      additionalProperties: false,
      required: ['bind'],
      properties: { bind: { type: 'string', pattern: HOSTPORT_PATTERN } },
    },
    netem: netemSchema,
  },
} as const;

export const appSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', enum: ['http', 'tcp-echo', 'udp-echo', 'sctp', 'dns'] },
    port,
  },
} as const;

export const containerPortSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['containerPort'],
  properties: {
    name: { type: 'string', pattern: PORT_NAME_PATTERN },
    containerPort: port,
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'], default: 'TCP' },
  },
} as const;

/** A namespace and its labels (NetworkPolicy namespaceSelectors); `kubernetes.io/metadata.name` is automatic. */
export const namespaceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name, labels },
} as const;

/**
 * A NetworkPolicy object (networking.k8s.io/v1) as kubectl writes it: only its outline here;
 * its fields are checked as the API server does, with Kubernetes' field paths and messages
 * (src/kube/netpol/validate.ts), in the semantic pass.
 */
export const networkPolicySchema = {
  type: 'object',
  required: ['metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, namespace: { type: 'string' } } },
    spec: { type: 'object' },
  },
} as const;

export const podSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'node'],
  properties: {
    name: podName,
    node: name,
    namespace: { ...name, default: 'default' },
    ip: ipv4,
    labels,
    apps: { type: 'array', items: appSchema, default: [] },
    hostname: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
    subdomain: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
    attach: {
      type: 'object',
      additionalProperties: false,
      properties: {
        netns: { type: 'string', pattern: NETNS_PATTERN },
        pid: { type: 'integer', minimum: 1, maximum: 4194304 },
        /** A Docker or Podman container by name or id; its PID is asked of the engine, again after a restart. */
        container: { type: 'string', pattern: CONTAINER_PATTERN },
        runtime: { type: 'string', enum: ['docker', 'podman'] },
        /** tap: a TAP as eth0 (default); second: a TAP as eth1 beside the container's network; veth: take over the host end of its eth0's veth. */
        mode: { type: 'string', enum: ['tap', 'second', 'veth'] },
        /** Open the TAP with IFF_VNET_HDR and pass GSO/TSO frames through (docs/attach.md). */
        offloads: { type: 'boolean', default: false },
      },
    },
    /** The pod's Ready condition (absent: true) and whether it is being deleted (absent: false). */
    ready: { type: 'boolean' },
    terminating: { type: 'boolean' },
    /** Container ports, as Kubernetes writes them: NetworkPolicy's named ports resolve to them. */
    ports: { type: 'array', items: containerPortSchema },
    netem: netemSchema,
  },
} as const;

export const servicePortSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['port'],
  properties: {
    name: { type: 'string', pattern: PORT_NAME_PATTERN },
    port,
    // A number, or the name of a container port (pods[].ports[].name), resolved on each pod.
    targetPort: { anyOf: [port, { type: 'string', pattern: TARGET_PORT_NAME_PATTERN }] },
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'], default: 'TCP' },
    nodePort: { type: 'integer', minimum: 30000, maximum: 32767 },
  },
} as const;

export const serviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  // ExternalName needs externalName and may have no ports; every other type needs a port.
  if: { properties: { type: { const: 'ExternalName' } }, required: ['type'] },
  then: { required: ['externalName'], properties: { externalName: { type: 'string' } } },
  else: { required: ['ports'], properties: { ports: { type: 'array', minItems: 1 } } },
  properties: {
    name,
    namespace: { ...name, default: 'default' },
    type: { type: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], default: 'ClusterIP' },
    clusterIP: { type: 'string', pattern: `^(?:${IPV4}|None)$` }, // None: headless
    externalName: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\\.?$' },
    selector: labels,
    ports: { type: 'array', items: servicePortSchema },
    sessionAffinity: { type: 'string', enum: ['None', 'ClientIP'], default: 'None' },
    sessionAffinityTimeout: { type: 'integer', minimum: 1, maximum: 86400, default: 10800 },
    externalTrafficPolicy: { type: 'string', enum: ['Cluster', 'Local'], default: 'Cluster' },
    internalTrafficPolicy: { type: 'string', enum: ['Cluster', 'Local'], default: 'Cluster' },
    externalIPs: { type: 'array', items: ipv4, maxItems: 16, uniqueItems: true },
    loadBalancerIPs: { type: 'array', items: ipv4, maxItems: 16, uniqueItems: true },
    loadBalancerSourceRanges: { type: 'array', items: cidr, maxItems: 64, uniqueItems: true },
    scheduler: ipvsScheduler,
    weights: {
      type: 'object',
      propertyNames: { pattern: POD_NAME_PATTERN },
      additionalProperties: { type: 'integer', minimum: 0, maximum: 65535 },
    },
    publishNotReadyAddresses: { type: 'boolean' },
    healthCheckNodePort: { type: 'integer', minimum: 30000, maximum: 32767 },
    trafficDistribution: { type: 'string', enum: ['PreferClose', 'PreferSameZone', 'PreferSameNode'] },
  },
} as const;

export const topologySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://podwire.dev/schemas/topology.json',
  title: 'podwire topology',
  type: 'object',
  additionalProperties: false,
  required: ['nodes'],
  properties: {
    cluster: clusterSchema,
    nodes: { type: 'array', items: nodeSchema, minItems: 1 },
    pods: { type: 'array', items: podSchema, default: [] },
    services: { type: 'array', items: serviceSchema, default: [] },
    namespaces: { type: 'array', items: namespaceSchema },
    networkPolicies: { type: 'array', items: networkPolicySchema },
    links: { type: 'array', items: linkSchema },
  },
} as const;
