/**
 * JSON Schemas of the answers of `GET /inspect` and `GET /flows` (src/control/inspect.ts,
 * src/control/flows.ts), for the OpenAPI document: the web UI and other clients build on
 * these shapes, so they are written down here and checked against real answers by
 * test/integration/observe.test.ts. docs/api.md describes the same fields in prose.
 */
const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const obj = (properties: Record<string, unknown>, optional: readonly string[] = []) => ({
  type: 'object', additionalProperties: false, properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
});
const list = (items: unknown) => ({ type: 'array', items });

const iface = obj({
  name: str, ifindex: { type: ['integer', 'null'] }, mac: str, addresses: list(str), mtu: int, up: bool,
  peer: { anyOf: [{ type: 'null' }, obj({ namespace: str, name: str })] },
  kind: { type: 'string', enum: ['veth', 'bridge', 'vxlan', 'lo', 'tap', 'ether', 'dummy'] },
  master: strOrNull,
});
const route = obj({ dst: str, via: strOrNull, dev: str, text: str });

export const inspectResponse = obj({
  cluster: str, overlay: str, node: strOrNull,
  nodes: list(obj({
    name: str, ip: str, podCIDR: str, emulated: bool,
    namespaces: list(obj({
      name: str, kind: { type: 'string', enum: ['root', 'pod'] }, pod: strOrNull, attached: bool, interfaces: list(iface), routes: list(route),
    })),
    bridges: list(obj({
      name: str,
      ports: list(obj({ name: str, hairpin: bool, local: bool, up: bool })),
      fdb: list(obj({ mac: str, port: str, static: bool, ageMs: int })),
    })),
    routes: list(route),
    vtep: { anyOf: [{ type: 'null' }, obj({ name: str, vni: int, localIp: str, mac: str, port: int, mtu: int, fdb: list(obj({ mac: str, dst: str })) })] },
  })),
  pods: list(obj({
    name: str, namespace: str, key: str, node: str, ip: str, mac: str, veth: str,
    labels: { type: 'object', additionalProperties: str }, emulated: bool, attached: bool,
  })),
  services: list(obj({
    name: str, namespace: str, type: str, clusterIP: strOrNull,
    ports: list(obj({ name: strOrNull, port: int, targetPort: { type: ['integer', 'string'] }, protocol: str, nodePort: { type: ['integer', 'null'] } })),
    endpoints: list(obj({ pod: str, ip: strOrNull, node: strOrNull, ports: list({ type: ['integer', 'null'] }) })),
  })),
});

const endpoint = { ip: str, port: int, pod: str, namespace: str };

export const flowEventSchema = obj({
  id: int,
  time: { type: 'string', format: 'date-time' },
  node: str,
  source: obj(endpoint, ['port', 'pod', 'namespace']),
  destination: obj({ ...endpoint, service: { type: 'string', description: 'namespace/name of the service the client sent to' } }, ['port', 'pod', 'namespace', 'service']),
  protocol: { type: 'string', description: 'TCP, UDP, ICMP, or the IP protocol number' },
  verdict: { type: 'string', enum: ['forwarded', 'dropped'] },
  dropReason: { type: 'string', description: 'the drop reason the dataplane counted (podwire stats)' },
  tcpFlags: { type: 'string', description: 'SYN, SYN,ACK, FIN,ACK, RST, ...' },
  isReply: bool,
  summary: str,
}, ['dropReason', 'tcpFlags']);

export const flowsResponse = obj({ events: list(flowEventSchema), count: int, total: int, capacity: int });
