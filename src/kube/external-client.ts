/**
 * The external client of `podwire trace --from external`: a host on the underlay network
 * outside the cluster (a laptop on the nodes' LAN), to reach a NodePort on a node's address
 * or a LoadBalancer / external IP. Built on first use and kept for the cluster's life (its
 * ARP entries on the nodes stay valid), registered as `~external` (no node's or pod's key
 * can read so).
 *
 * Its `eth0` sits on the underlay switch (port `external`) with the highest free address of
 * the nodeCIDR (192.168.56.254 in the demo) and the underlay's MTU; the nodeCIDR is
 * directly connected, everything else goes via the first node, as a router (or MetalLB in
 * L2 mode, which answers ARP for a LoadBalancer IP from one node) sends it there.
 */
import { connect } from '../engine/element.js';
import { macFromIpv4 } from '../wire/addr.js';
import { NetNamespace } from '../net/netns.js';
import type { CapturePoint } from '../engine/link.js';
import type { Cluster } from './cluster.js';

export const EXTERNAL = 'external';
const KEY = '~external';

export function externalClient(cluster: Cluster): NetNamespace {
  const e = cluster.engine;
  const have = e.elements.get(KEY);
  if (have instanceof NetNamespace) return have;
  const nodes = [...cluster.nodes.values()];
  const first = nodes[0];
  if (first === undefined) throw new Error('the cluster has no emulated node for an external client to reach');
  if (cluster.nodes.has(EXTERNAL)) throw new Error(`a node is named ${JSON.stringify(EXTERNAL)}: the external client's underlay port would take its name`);
  const cidr = cluster.plan.nodeCIDR;
  const size = 2 ** (32 - cidr.prefix);
  const taken = new Set(cluster.plan.nodes.map((n) => n.ip));
  let ip = 0;
  for (let i = size - 2; i >= 1; i--) {
    const c = (cidr.addr + i) >>> 0;
    if (!taken.has(c)) { ip = c; break; }
  }
  if (ip === 0) throw new Error('the nodeCIDR has no free address for an external client');
  const ns = new NetNamespace(e, { node: EXTERNAL, name: EXTERNAL });
  ns.addInterface('eth0', 'ether', macFromIpv4(ip, 0x02ee), cluster.plan.cluster.mtu);
  ns.addAddress('eth0', ip, cidr.prefix);
  ns.addRoute({ dst: 0, prefix: 0, via: first.plan.ip, dev: 'eth0' });
  e.add(ns, KEY);
  cluster.underlay.addPort(EXTERNAL);
  connect(e, ns.ports.out('if:eth0'), cluster.underlay.ports.in(EXTERNAL));
  connect(e, cluster.underlay.ports.out(EXTERNAL), ns.ports.in('if:eth0'));
  return ns;
}

/** `external/eth0` as a capture point, once the external client exists (else null). */
export function externalCapturePoint(cluster: Cluster): CapturePoint | null {
  const ns = cluster.engine.elements.get(KEY);
  if (!(ns instanceof NetNamespace)) return null;
  const nif = ns.iface('eth0')!;
  return { name: `${EXTERNAL}/eth0`, description: 'eth0 of the external client on the underlay', rx: nif.inPort?.link ?? null, tx: nif.outPort?.link ?? null };
}
