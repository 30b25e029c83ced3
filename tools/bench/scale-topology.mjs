/**
 * The generated topology of the scale figures (tools/bench/scale.mjs): N nodes, 10 pods
 * per node, N services of one UDP port each. Pod i runs on node (i mod N) and carries
 * `app: app<floor(i / 10)>`, so service k selects the 10 pods 10k .. 10k+9, spread over
 * 10 different nodes. No DNS pod; CIDRs sized for up to 1023 nodes (podCIDR /14).
 */
export const PODS_PER_NODE = 10;
export const PORT = 5001;

export function scaleTopology(nodes, overlay) {
  const n = [], pods = [], services = [];
  for (let i = 0; i < nodes; i++) n.push({ name: `node${i + 1}` });
  for (let i = 0; i < nodes * PODS_PER_NODE; i++) {
    pods.push({ name: `pod${i + 1}`, node: `node${(i % nodes) + 1}`, labels: { app: `app${Math.floor(i / PODS_PER_NODE) + 1}` } });
  }
  for (let k = 0; k < nodes; k++) {
    services.push({ name: `svc${k + 1}`, type: 'ClusterIP', selector: { app: `app${k + 1}` }, ports: [{ name: 'udp', port: PORT, protocol: 'UDP' }] });
  }
  return {
    cluster: {
      name: 'scale', overlay, dnsReplicas: 0,
      podCIDR: '10.128.0.0/14', serviceCIDR: '10.96.0.0/12', nodeCIDR: '172.16.0.0/20',
    },
    nodes: n, pods, services,
  };
}
