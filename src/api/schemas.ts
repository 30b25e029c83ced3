/**
 * JSON Schemas of the API's requests. Pods and services reuse the topology file's own
 * sub-schemas (src/kube/schema.ts), so an API body and a topology entry are checked by the
 * same rules. The OpenAPI document (openapi.ts) is generated from these.
 */
import { CONTAINER_PATTERN, IPV4_PATTERN, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, NAME_PATTERN, NETNS_PATTERN, OBJECT_REF_PATTERN, PORT_TEXT_PATTERN, podSchema, serviceSchema } from '../kube/schema.js';

/**
 * A pod or service key: `name` or `name.namespace` (src/kube/names.ts): a DNS subdomain of
 * at most 253 + 1 + 63 characters (a pod name, a dot, a namespace).
 */
export const KEY_MAX = 317;
export const KEY_PATTERN = `^(?=.{1,${KEY_MAX}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`;
export const CAPTURE_ID_PATTERN = '^c[0-9]{1,9}$';
/** Interface names as capture points name them: `node1/cbr0`, `pod1/eth0`, `pod1.ns/eth0`. */
export const IFACE_LIST_PATTERN = '^[A-Za-z0-9_.:/-]+(,[A-Za-z0-9_.:/-]+)*$';

export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    field: { type: ['string', 'null'], description: 'JSON pointer of the bad value inside `in`' },
    value: {},
    in: { type: 'string', enum: ['body', 'query', 'params', 'headers'] },
  },
  required: ['error', 'field', 'value'],
} as const;

export const keyParams = {
  type: 'object', additionalProperties: false, required: ['name'],
  properties: { name: { type: 'string', pattern: KEY_PATTERN } },
} as const;

export const nodeParams = {
  type: 'object', additionalProperties: false, required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;

export const netpolParams = {
  type: 'object', additionalProperties: false, required: ['namespace', 'name'],
  properties: { namespace: { type: 'string', pattern: NAME_PATTERN }, name: { type: 'string', pattern: KEY_PATTERN } },
} as const;

export const namespaceBody = {
  type: 'object', additionalProperties: false, required: ['labels'],
  properties: { labels: podSchema.properties.labels },
} as const;

/**
 * `PATCH /pods/:name`: a JSON merge patch (RFC 7386) of the pod's `metadata.labels`, as
 * `kubectl label` sends it: a key with a string sets it (Kubernetes' label syntax), a key
 * with null removes it.
 */
export const podPatchBody = {
  type: 'object', additionalProperties: false, required: ['labels'],
  properties: {
    labels: {
      type: 'object',
      propertyNames: { pattern: LABEL_KEY_PATTERN },
      additionalProperties: { type: ['string', 'null'], pattern: LABEL_VALUE_PATTERN },
      description: 'label: value sets it, label: null removes it; labels not named stay',
    },
  },
} as const;

export const podParams = {
  type: 'object', additionalProperties: false, required: ['pod'],
  properties: { pod: { type: 'string', pattern: KEY_PATTERN } },
} as const;

export const captureParams = {
  type: 'object', additionalProperties: false, required: ['id'],
  properties: { id: { type: 'string', pattern: CAPTURE_ID_PATTERN } },
} as const;

export { podSchema, serviceSchema };

/** A port in a query string: decimal digits (not 0x50 or 1e2, which coercion read as numbers); the range is checked by conntrackFilter. */
const port = { type: 'string', pattern: PORT_TEXT_PATTERN, description: 'a port, decimal 0-65535' } as const;

export const conntrackQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    proto: { type: 'string', pattern: '^(tcp|udp|icmp|TCP|UDP|ICMP|[0-9]{1,3})$' },
    src: { type: 'string', pattern: IPV4_PATTERN },
    dst: { type: 'string', pattern: IPV4_PATTERN },
    sport: port,
    dport: port,
    node: { type: 'string', pattern: NAME_PATTERN },
    format: { type: 'string', enum: ['json', 'text'], default: 'json' },
  },
} as const;

const { format: _format, ...filterProps } = conntrackQuery.properties;
void _format;
export const conntrackDeleteQuery = { type: 'object', additionalProperties: false, properties: filterProps } as const;

export const traceBody = {
  type: 'object', additionalProperties: false, required: ['from', 'to'],
  properties: {
    from: { type: 'string', pattern: KEY_PATTERN, description: 'a pod, a node (its root namespace), or "external" (a client on the underlay)' },
    to: { type: 'string', minLength: 1, maxLength: 259, description: 'a pod, service, node or IPv4 address, optionally with :PORT' },
    proto: { type: 'string', pattern: '^([iI][cC][mM][pP]|[uU][dD][pP]|[tT][cC][pP])$', default: 'icmp', description: 'icmp, udp or tcp, in any case' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    size: { type: 'integer', minimum: 28, maximum: 65535, description: 'the probe\'s IPv4 total length, headers included (DF set)' },
    count: { type: 'integer', minimum: 1, maximum: 1000, description: 'send this many new flows; the answer adds spread and flows' },
  },
} as const;

export const captureBody = {
  type: 'object', additionalProperties: false, required: ['interfaces'],
  properties: {
    interfaces: {
      anyOf: [
        { type: 'string', pattern: IFACE_LIST_PATTERN },
        { type: 'array', minItems: 1, maxItems: 4096, items: { type: 'string', pattern: '^[A-Za-z0-9_.:/-]{1,400}$' } },
      ],
      description: 'interface names (node1/cbr0, pod1/eth0, ...), a comma-separated list, or "all"',
    },
    format: { type: 'string', enum: ['pcapng', 'pcap'], default: 'pcapng' },
    snaplen: { type: 'integer', minimum: 64, maximum: 262144, default: 262144 },
    ring: {
      type: 'object', additionalProperties: false, required: ['files'], minProperties: 2,
      properties: {
        files: { type: 'integer', minimum: 2, maximum: 10000 },
        packets: { type: 'integer', minimum: 1 },
        bytes: { type: 'integer', minimum: 4096 },
      },
    },
  },
} as const;

export const downloadQuery = {
  type: 'object', additionalProperties: false,
  properties: { file: { type: 'integer', minimum: 1 } },
} as const;

export const liveQuery = {
  type: 'object', additionalProperties: false, required: ['iface'],
  properties: {
    iface: { type: 'string', pattern: IFACE_LIST_PATTERN, description: 'interface names, comma-separated, or "all"' },
    snaplen: { type: 'integer', minimum: 64, maximum: 262144 },
    count: { type: 'integer', minimum: 1, description: 'end the stream after this many packets' },
    seconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400, description: 'end the stream after this long' },
  },
} as const;

export const attachBody = {
  type: 'object', additionalProperties: false, required: ['pod'], minProperties: 2,
  properties: {
    pod: { type: 'string', pattern: KEY_PATTERN },
    netns: { type: 'string', pattern: NETNS_PATTERN },
    pid: { type: 'integer', minimum: 1, maximum: 4194304 },
    container: { type: 'string', pattern: CONTAINER_PATTERN, description: 'a Docker or Podman container (name or id); re-joined when it restarts' },
    runtime: { type: 'string', enum: ['docker', 'podman'], description: 'the container\'s engine (default docker)' },
    mode: { type: 'string', enum: ['tap', 'second', 'veth'], description: 'tap: TAP as eth0 (default); second: TAP as eth1 beside its own network; veth: take over the host end of its eth0' },
    node: { type: 'string', pattern: NAME_PATTERN },
    namespace: { type: 'string', pattern: NAME_PATTERN },
    ip: { type: 'string', pattern: IPV4_PATTERN },
    labels: podSchema.properties.labels,
    offloads: { type: 'boolean' },
  },
} as const;

export const rulesQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    format: { type: 'string', enum: ['iptables-save', 'ipvsadm', 'nft'] },
    table: { type: 'string', enum: ['nat', 'filter'] },
    service: { type: 'string', maxLength: 317, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
  },
} as const;

export const dnsQuery = {
  type: 'object', additionalProperties: false, required: ['from', 'name'],
  properties: {
    from: { type: 'string', minLength: 1, maxLength: 317 },
    name: { type: 'string', minLength: 1, maxLength: 255 },
    type: { type: 'string', minLength: 1, maxLength: 8 },
  },
} as const;

export const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

export const inspectQuery = {
  type: 'object', additionalProperties: false,
  properties: { node: { type: 'string', pattern: NAME_PATTERN, description: 'only this node (and its pods)' } },
} as const;


export const flowsQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    pod: { type: 'string', pattern: OBJECT_REF_PATTERN, description: 'source or destination pod: name, namespace/name or name.namespace' },
    service: { type: 'string', pattern: OBJECT_REF_PATTERN, description: 'destination service: name, namespace/name or name.namespace' },
    verdict: { type: 'string', enum: ['forwarded', 'dropped'] },
    protocol: { type: 'string', pattern: '^([Tt][Cc][Pp]|[Uu][Dd][Pp]|[Ii][Cc][Mm][Pp])$', description: 'TCP, UDP or ICMP (any case)' },
    follow: { type: 'boolean', default: false, description: 'stream new events as server-sent events (text/event-stream) until the client goes away' },
    limit: { type: 'integer', minimum: 0, maximum: 4096, description: 'at most this many recent events (default: all kept; with follow: 0, only new ones)' },
  },
} as const;
