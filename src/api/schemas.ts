/**
 * JSON Schemas of the API's requests. Pods and services reuse the topology file's own
 * sub-schemas (src/kube/schema.ts), so an API body and a topology entry are checked by the
 * same rules. The OpenAPI document (openapi.ts) is generated from these.
 */
import { IPV4_PATTERN, NAME_PATTERN, NETNS_PATTERN, PORT_TEXT_PATTERN, podSchema, serviceSchema } from '../kube/schema.js';

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
    from: { type: 'string', pattern: KEY_PATTERN },
    to: { type: 'string', minLength: 1, maxLength: 253 },
    proto: { type: 'string', enum: ['icmp', 'udp', 'tcp'], default: 'icmp' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
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

export const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
