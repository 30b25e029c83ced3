/**
 * Scenario `hairpin`: a pod reaching itself through its own Service with the bridge port's
 * hairpin flag off. kube-proxy's DNAT picks the pod itself; the packet must leave the bridge
 * by the port it came in on, which Linux's bridge refuses unless that port has
 * hairpin_mode=1 (net/bridge/br_forward.c `should_deliver`: `(p->flags & BR_HAIRPIN_MODE) ||
 * skb->dev != p->dev`). Only the backing pod times out; every other pod gets through.
 * Fix: kubelet `--hairpin-mode=hairpin-veth` (podwire `hairpinMode: true`).
 */
import { httpGet } from '../../apps/http.js';
import { formatIpv4 } from '../../wire/addr.js';
import { buildCluster, settle, type Scenario } from './scenario.js';

const YAML = `
cluster: { name: hairpin, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 } ]
pods:
  - { name: web-0, node: node1, labels: { app: web }, apps: [ { type: http, port: 8080 } ] }
  - { name: client, node: node1 }
services:
  - { name: web, selector: { app: web }, ports: [ { port: 80, targetPort: 8080 } ] }
`;

const TIMEOUT_MS = 5000;

export const hairpin: Scenario = {
  name: 'hairpin',
  summary: 'a pod calling its own Service times out: the bridge refuses to send a frame back out of its ingress port (hairpin_mode 0)',
  remedy: 'kubelet --hairpin-mode=hairpin-veth (hairpin_mode=1 on every pod veth; podwire: hairpinMode: true)',
  issues: ['kubernetes/kubernetes#13375', 'kubernetes/kubernetes#20475', 'kubernetes/kubernetes#22717', 'kubernetes/website#748', 'cloudnativelabs/kube-router#189'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx, { hairpinMode: ctx.fix });
    const vip = c.plan.services.find((s) => s.name === 'web')!.clusterIP;
    const url = `http://${formatIpv4(vip)}/`;
    const other = await settle(c, httpGet(c.pod('client').ns, vip, 80, '/', { timeoutMs: TIMEOUT_MS }), 2 * TIMEOUT_MS);
    const self = await settle(c, httpGet(c.pod('web-0').ns, vip, 80, '/', { timeoutMs: TIMEOUT_MS }), 2 * TIMEOUT_MS);
    const node = c.node('node1');
    const port = node.bridge.portList().find((p) => p.name === c.pod('web-0').plan.veth);
    const notes = [
      `client -> ${url}: ${other.ok ? `200 from ${other.value.body.trim()}` : other.error.message}`,
      `web-0 -> ${url} (DNAT picks web-0 itself): ${self.ok ? `200 from ${self.value.body.trim()}` : self.error.message}`,
      `/sys/class/net/cbr0/brif/${c.pod('web-0').plan.veth}/hairpin_mode = ${port?.hairpin === true ? 1 : 0}`,
    ];
    const counters = { 'bridge hairpin-off drops': node.bridge.drops.get('hairpin-off') };
    if (!self.ok) {
      return {
        symptom: `curl ${url} from web-0: (28) Failed to connect to ${formatIpv4(vip)} port 80 after ${TIMEOUT_MS} ms: Connection timed out (other pods get 200)`,
        failed: true, hop: `node1/${node.plan.bridge} port ${c.pod('web-0').plan.veth}`,
        reason: 'br_forward: should_deliver() refuses the ingress port (hairpin_mode=0), frame dropped', counters, notes,
      };
    }
    return { symptom: `curl ${url} from web-0: 200 OK from ${self.value.body.trim()} (hairpin, source masqueraded to the bridge address)`, failed: false, hop: null, reason: null, counters, notes };
  },
};
