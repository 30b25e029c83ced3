/**
 * The upstream NetworkPolicy e2e model as a topology (kubernetes test/e2e/network/netpol
 * model.go, the one Cyclonus uses too): namespaces x, y, z labelled `ns: <name>`, pods a, b, c
 * in each labelled `pod: <name>`, every pod serving ports 80 and 81 over TCP, UDP and SCTP
 * with container ports named `serve-<port>-<protocol>` (agnhost's servers there; here the
 * HTTP app, UDP echo and the SCTP app). Pods a, b, c run on node1, node2, node3, so a probe
 * crosses the bridge (same node) and the overlay (other nodes).
 *
 * `examples/netpol/model.yaml` is this document as YAML (a test keeps them equal).
 */
export const MODEL_NAMESPACES = ['x', 'y', 'z'] as const;
export const MODEL_PODS = ['a', 'b', 'c'] as const;
export const MODEL_PORTS = [80, 81] as const;
export const MODEL_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

const APP = { TCP: 'http', UDP: 'udp-echo', SCTP: 'sctp' } as const;

/** The model as a topology document (plain data: YAML-able, `parseTopology`-able after JSON). */
export function netpolModelDocument(policies: unknown[] = []): Record<string, unknown> {
  return {
    cluster: { name: 'netpol-model', dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }, { name: 'node3' }],
    namespaces: MODEL_NAMESPACES.map((ns) => ({ name: ns, labels: { ns } })),
    pods: MODEL_NAMESPACES.flatMap((ns) => MODEL_PODS.map((pod, i) => ({
      name: pod,
      namespace: ns,
      node: `node${i + 1}`,
      labels: { pod },
      apps: MODEL_PORTS.flatMap((port) => MODEL_PROTOCOLS.map((p) => ({ type: APP[p], port }))),
      ports: MODEL_PORTS.flatMap((port) => MODEL_PROTOCOLS.map((p) => ({ name: `serve-${port}-${p.toLowerCase()}`, containerPort: port, protocol: p }))),
    }))),
    ...(policies.length > 0 ? { networkPolicies: policies } : {}),
  };
}
