import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { NetNamespace } from '../net/netns.js';
import { parseCidr, parseIpv4 } from '../wire/addr.js';
import { MARK_MASQ, type DnatDecision } from '../netfilter/nat-policy.js';
import { ServiceProxy, type ResolvedService } from './service-proxy.js';
import type { ProxyMode, ServicePlan } from './types.js';

const ip = parseIpv4;
const TCP = 6;
const UDP = 17;
const VIP = ip('10.96.0.2');
const POD1 = ip('10.244.1.2');
const POD2 = ip('10.244.1.3');
const POD3 = ip('10.244.2.2');
const NODE1 = ip('192.168.56.11');
const OUTSIDE = ip('192.168.56.1');

function service(over: Partial<ServicePlan> = {}): ServicePlan {
  return {
    name: 'service1', namespace: 'default', type: 'NodePort', clusterIP: VIP,
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
    selector: { app: 'web' }, sessionAffinity: 'None', sessionAffinityTimeout: 10800, externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster', externalIPs: [], loadBalancerIPs: [],
    scheduler: 'rr', weights: {}, endpoints: ['pod2', 'pod3'], system: false, ...over,
  };
}

const WEB = [{ pod: 'pod2', node: 'node1', ip: POD2 }, { pod: 'pod3', node: 'node2', ip: POD3 }];

function setup(mode: ProxyMode = 'iptables', services: ResolvedService[] = [{ plan: service(), endpoints: WEB }]) {
  return setupWith(mode, services);
}

function setupWith(mode: ProxyMode, services: ResolvedService[]) {
  const engine = new Engine({ seed: 3 });
  const root = new NetNamespace(engine, { node: 'node1', name: 'root', forwarding: true });
  root.addInterface('eth0', 'ether', 0x020000000001, 1500);
  root.addAddress('eth0', NODE1, 24);
  root.addInterface('cbr0', 'bridge', 0x024200000001, 1450);
  root.addAddress('cbr0', ip('10.244.1.1'), 24);
  const proxy = new ServiceProxy({
    engine, node: 'node1', root, podCIDR: parseCidr('10.244.0.0/16'), mode, serviceCIDR: parseCidr('10.96.0.0/12'), primaryIp: NODE1,
  });
  proxy.sync(services);
  return { engine, root, proxy };
}

/** The refusal of the last dnat() into `d` (-1: none), cleared as NatHooks clears it per NEW connection. */
function take(d: DnatDecision): number {
  const r = d.refuse;
  d.refuse = -1;
  return r;
}

function decision(): DnatDecision {
  return { ip: 0, port: 0, mark: 0, tag: 0, detail: {}, refuse: -1 };
}

describe('ServiceProxy', () => {
  it('DNATs VIP:port to an endpoint podIP:targetPort, no masquerade from a pod', () => {
    const { proxy } = setup();
    const out = decision();
    expect(proxy.dnat(TCP, POD1, VIP, 40000, 80, 2, true, out)).toBe(true);
    expect([POD2, POD3]).toContain(out.ip);
    expect(out.port).toBe(8080);
    expect(out.mark).toBe(0);
    expect(out.tag).toBeGreaterThan(0);
    expect(out.detail).toMatchObject({ service: 'default/service1', mode: 'iptables', vip: '10.96.0.2', port: 80, scheduler: 'random' });
    expect(String(out.detail['rule'])).toMatch(/^KUBE-SVC-[A-Z2-7]{16} -> KUBE-SEP-[A-Z2-7]{16}$/);
  });

  it('leaves other traffic alone: other ports, other protocols, ICMP, non-service addresses', () => {
    const { proxy } = setup();
    const out = decision();
    expect(proxy.dnat(TCP, POD1, VIP, 40000, 81, 2, false, out)).toBe(false);
    expect(proxy.dnat(UDP, POD1, VIP, 40000, 80, 2, false, out)).toBe(false);
    expect(proxy.dnat(1, POD1, VIP, 1, 8 << 8, 2, false, out)).toBe(false);
    expect(proxy.dnat(TCP, POD1, POD3, 40000, 80, 2, false, out)).toBe(false);
    // A NodePort on an address that is not this node's:
    expect(proxy.dnat(TCP, POD1, ip('192.168.56.12'), 40000, 30080, 2, false, out)).toBe(false);
    expect(take(out)).toBe(-1);
  });

  it('marks for masquerade: from outside the pod CIDR, and hairpin (an endpoint reaching itself)', () => {
    const { proxy } = setup('ipvs');
    const out = decision();
    proxy.dnat(TCP, OUTSIDE, VIP, 40000, 80, 1, false, out);
    expect(out.mark & MARK_MASQ).toBe(MARK_MASQ);
    // rr from pod2: first pick is pod2 itself -> hairpin
    const { proxy: p2 } = setup('ipvs');
    p2.dnat(TCP, POD2, VIP, 40000, 80, 2, true, out);
    expect(out.ip).toBe(POD2);
    expect(out.mark).toBe(MARK_MASQ);
    expect(out.detail['hairpin']).toBe(true);
  });

  it('SNATs marked connections to the egress interface address (MASQUERADE)', () => {
    const { proxy, root } = setup();
    const eth0 = root.iface('eth0')!.ifindex;
    const cbr0 = root.iface('cbr0')!.ifindex;
    expect(proxy.snat(TCP, POD2, VIP, POD2, 8080, cbr0, MARK_MASQ)).toBe(ip('10.244.1.1'));
    expect(proxy.snat(TCP, OUTSIDE, VIP, POD3, 8080, eth0, MARK_MASQ)).toBe(NODE1);
    expect(proxy.snat(TCP, POD1, VIP, POD3, 8080, eth0, 0)).toBe(0);
  });

  it('NodePort on this node\'s addresses; policy Cluster masquerades', () => {
    const { proxy } = setup();
    const out = decision();
    expect(proxy.dnat(TCP, OUTSIDE, NODE1, 40000, 30080, 1, true, out)).toBe(true);
    expect(out.port).toBe(8080);
    expect(out.mark).toBe(MARK_MASQ);
    expect(out.detail['nodePort']).toBe(30080);
    expect(proxy.dnat(TCP, POD1, ip('10.244.1.1'), 40001, 30080, 2, false, out)).toBe(true); // any local address
    expect(out.mark).toBe(MARK_MASQ);
  });

  it('externalTrafficPolicy Local: only this node\'s endpoints, client address kept; none -> refused', () => {
    const { proxy } = setup('iptables', [{ plan: service({ externalTrafficPolicy: 'Local' }), endpoints: WEB }]);
    const out = decision();
    for (let k = 0; k < 20; k++) {
      expect(proxy.dnat(TCP, OUTSIDE, NODE1, 40000 + k, 30080, 1, false, out)).toBe(true);
      expect([out.ip, out.mark]).toEqual([POD2, 0]);
    }
    const remoteOnly = setup('iptables', [{ plan: service({ externalTrafficPolicy: 'Local' }), endpoints: [WEB[1]!] }]).proxy;
    expect(remoteOnly.dnat(TCP, OUTSIDE, NODE1, 40000, 30080, 1, true, out)).toBe(false);
    expect(take(out)).toBe(1);
    expect(out.detail['reason']).toBe('no-local-endpoints');
    // From a pod, Local does not apply (kube-proxy short-circuits pod traffic to every endpoint).
    expect(remoteOnly.dnat(TCP, POD1, NODE1, 40000, 30080, 2, false, out)).toBe(true);
    expect(out.ip).toBe(POD3);
    // ... and unmasqueraded: "pod traffic for ... external destinations" jumps to KUBE-SVC, whose
    // masquerade rule matches only the cluster IP from outside the cluster CIDR.
    expect(out.mark).toBe(0);
    // From the node itself (src-type LOCAL) neither: kube-proxy's KUBE-EXT chain masquerades
    // it ("masquerade LOCAL traffic") and routes it to every endpoint ("route LOCAL traffic").
    expect(remoteOnly.dnat(TCP, NODE1, NODE1, 40001, 30080, 0, false, out)).toBe(true);
    expect([out.ip, out.mark]).toEqual([POD3, MARK_MASQ]);
  });

  it('a service without endpoints: no DNAT, a reject verdict with reason no-endpoints', () => {
    const { proxy } = setup('iptables', [{ plan: service({ endpoints: [] }), endpoints: [] }]);
    const out = decision();
    expect(proxy.dnat(TCP, POD1, VIP, 40000, 80, 2, true, out)).toBe(false);
    expect(take(out)).toBe(0);
    expect(take(out)).toBe(-1); // taken once
    expect(out.detail).toMatchObject({ reason: 'no-endpoints', vip: '10.96.0.2', port: 80 });
    expect(proxy.refused).toEqual([1, 0, 0, 0, 0]);
    expect(proxy.rules().some((r) => r.includes('no endpoints'))).toBe(true);
  });

  it('a named targetPort: each endpoint at its own pod\'s port; a pod without the name is an endpoint of the other port only', () => {
    // EndpointSlice controller: FindPort per pod (endpoint-ports.ts). pod2 declares http as
    // 8080, pod3 as 9090, pod4 not at all; the admin port (numeric 7000) has all three.
    const POD4 = ip('10.244.2.3');
    const plan = service({
      type: 'ClusterIP',
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }, { name: 'admin', port: 81, targetPort: 7000, protocol: 'TCP' }, { name: 'grpc', port: 82, targetPort: 'grpc', protocol: 'TCP' }],
      endpoints: ['pod2', 'pod3', 'pod4'],
    });
    const { proxy } = setup('ipvs', [{ plan: { ...plan, scheduler: 'rr' }, endpoints: [
      { ...WEB[0]!, ports: [8080, 7000, 0] }, { ...WEB[1]!, ports: [9090, 7000, 0] }, { pod: 'pod4', node: 'node2', ip: POD4, ports: [0, 7000, 0] },
    ] }]);
    const out = decision();
    const seen = new Map<string, number>();
    for (let i = 0; i < 4; i++) {
      expect(proxy.dnat(TCP, POD1, VIP, 40000 + i, 80, 2, true, out)).toBe(true);
      seen.set(String(out.detail['pod']), out.port);
      expect(out.detail['endpoint']).toBe(`${out.ip === POD2 ? '10.244.1.3' : '10.244.2.2'}:${out.port}`);
    }
    expect(Object.fromEntries(seen)).toEqual({ pod2: 8080, pod3: 9090 });
    const admin = new Set<string>();
    for (let i = 0; i < 3; i++) {
      expect(proxy.dnat(TCP, POD1, VIP, 41000 + i, 81, 2, false, out)).toBe(true);
      expect(out.port).toBe(7000);
      admin.add(String(out.ip));
    }
    expect(admin).toEqual(new Set([String(POD2), String(POD3), String(POD4)]));
    // No pod declares grpc: that port has no endpoints, REJECT (no-endpoints).
    expect(proxy.dnat(TCP, POD1, VIP, 42000, 82, 2, true, out)).toBe(false);
    expect(take(out)).toBe(0);
    expect(out.detail).toMatchObject({ reason: 'no-endpoints', port: 82 });
    expect(proxy.rules().filter((r) => r.startsWith('10.96.0.2:80/TCP')).map((r) => r.split(' -> ').at(-1))).toEqual(['10.244.1.3:8080', '10.244.2.2:9090']);
  });

  it('ipvs lc follows load through released(tag); load survives a resync', () => {
    const { proxy } = setup('ipvs', [{ plan: service({ scheduler: 'lc' }), endpoints: WEB }]);
    const out = decision();
    const tags: number[] = [];
    for (let k = 0; k < 4; k++) {
      proxy.dnat(TCP, POD1, VIP, 40000 + k, 80, 2, false, out);
      tags.push(out.tag);
    }
    expect(proxy.load('default/service1:http/TCP')).toEqual({ pod2: 2, pod3: 2 });
    proxy.released(tags[0]!);
    proxy.released(tags[2]!);
    expect(proxy.load('default/service1:http/TCP')).toEqual({ pod2: 0, pod3: 2 });
    proxy.sync([{ plan: service({ scheduler: 'lc' }), endpoints: WEB }]);
    expect(proxy.load('default/service1:http/TCP')).toEqual({ pod2: 0, pod3: 2 });
    proxy.dnat(TCP, POD1, VIP, 41000, 80, 2, true, out);
    expect(out.ip).toBe(POD2);
    expect(out.detail['rule']).toBe('TCP 10.96.0.2:80 lc -> 10.244.1.3:8080');
    proxy.released(9999); // unknown tags are ignored
  });

  it('ClientIP affinity: the same client keeps its endpoint until the timeout, in engine time', () => {
    const { proxy, engine } = setup('ipvs', [{ plan: service({ sessionAffinity: 'ClientIP', sessionAffinityTimeout: 60 }), endpoints: WEB }]);
    const out = decision();
    proxy.dnat(TCP, POD1, VIP, 40000, 80, 2, false, out);
    const first = out.ip;
    for (let k = 1; k < 10; k++) {
      engine.advance(30_000);
      proxy.dnat(TCP, POD1, VIP, 40000 + k, 80, 2, true, out);
      expect(out.ip).toBe(first);
      expect(out.detail['scheduler']).toBe('affinity');
    }
    engine.advance(61_000);
    proxy.dnat(TCP, POD1, VIP, 50000, 80, 2, true, out);
    expect(out.detail['scheduler']).toBe('rr');
    // rr continues where it left off: the other endpoint.
    expect(out.ip).not.toBe(first);
  });

  it('endpoints follow sync: a removed endpoint is never chosen again, even by affinity', () => {
    const { proxy } = setup('ipvs', [{ plan: service({ sessionAffinity: 'ClientIP' }), endpoints: WEB }]);
    const out = decision();
    proxy.dnat(TCP, POD1, VIP, 40000, 80, 2, false, out);
    expect(out.ip).toBe(POD2);
    proxy.sync([{ plan: service({ sessionAffinity: 'ClientIP' }), endpoints: [WEB[1]!] }]);
    for (let k = 0; k < 5; k++) {
      proxy.dnat(TCP, POD1, VIP, 40001 + k, 80, 2, false, out);
      expect(out.ip).toBe(POD3);
    }
  });

  describe('nftables mode (cluster-ips-check, --nodeport-addresses primary)', () => {
    it('rejects a live cluster IP on a port it does not serve, for any protocol; iptables mode lets it through', () => {
      const { proxy } = setup('nftables');
      const out = decision();
      expect(proxy.dnat(TCP, POD1, VIP, 40000, 443, 2, true, out)).toBe(false);
      expect(take(out)).toBe(2);
      expect(out.detail).toMatchObject({ reason: 'invalid-cluster-ip-port', rule: 'cluster-ips-check: ip daddr @cluster-ips reject' });
      expect(proxy.dnat(UDP, POD1, VIP, 40000, 80, 2, false, out)).toBe(false); // TCP-only port
      expect(take(out)).toBe(2);
      expect(proxy.dnat(1, POD1, VIP, 7, 8 << 8, 2, false, out)).toBe(false); // ping
      expect(take(out)).toBe(2);
      const ipt = setup('iptables').proxy;
      expect(ipt.dnat(TCP, POD1, VIP, 40000, 443, 2, false, out)).toBe(false);
      expect(take(out)).toBe(-1);
    });

    it('drops an unallocated address of the service CIDR; leaves other addresses alone', () => {
      const { proxy } = setup('nftables');
      const out = decision();
      expect(proxy.dnat(TCP, POD1, ip('10.96.0.99'), 40000, 80, 2, true, out)).toBe(false);
      expect(take(out)).toBe(3);
      expect(out.detail['reason']).toBe('unallocated-cluster-ip');
      expect(proxy.dnat(TCP, POD1, POD3, 40000, 80, 2, false, out)).toBe(false);
      expect(take(out)).toBe(-1);
      expect(proxy.refused).toEqual([0, 0, 0, 1, 0]);
    });

    it('serves NodePorts on the primary address only (iptables mode: every local address)', () => {
      const { proxy } = setup('nftables');
      const out = decision();
      expect(proxy.dnat(TCP, OUTSIDE, NODE1, 40000, 30080, 1, true, out)).toBe(true);
      expect(String(out.detail['rule'])).toMatch(/^service-nodeports -> external-[A-Z2-7]{8}-default\/service1\/tcp\/http -> service-[A-Z2-7]{8}-default\/service1\/tcp\/http -> endpoint-[A-Z2-7]{8}-default\/service1\/tcp\/http__10\.244\.\d\.\d\/8080$/);
      expect(proxy.dnat(TCP, POD1, ip('10.244.1.1'), 40001, 30080, 2, false, out)).toBe(false);
      expect(setup('iptables').proxy.dnat(TCP, POD1, ip('10.244.1.1'), 40001, 30080, 2, false, out)).toBe(true);
    });
  });

  it('loadBalancerSourceRanges: a LoadBalancer IP takes only sources in its ranges; NodePorts bypass them', () => {
    const LB = ip('198.51.100.7');
    const plan = service({ type: 'LoadBalancer', loadBalancerIPs: [LB], loadBalancerSourceRanges: [parseCidr('203.0.113.0/25')] });
    const { proxy } = setup('iptables', [{ plan, endpoints: WEB }]);
    const out = decision();
    expect(proxy.dnat(TCP, ip('203.0.113.9'), LB, 40000, 80, 1, false, out)).toBe(true);
    expect(take(out)).toBe(-1);
    expect(proxy.dnat(TCP, OUTSIDE, LB, 40001, 80, 1, true, out)).toBe(false);
    expect(take(out)).toBe(4);
    expect(out.detail).toMatchObject({ reason: 'lb-source-not-allowed' });
    expect(proxy.dnat(TCP, POD1, LB, 40002, 80, 2, false, out)).toBe(false); // pods too (kube-proxy: "pod to LB blocked")
    expect(take(out)).toBe(4);
    expect(proxy.dnat(TCP, OUTSIDE, NODE1, 40003, 30080, 1, false, out)).toBe(true); // the NodePort bypasses the ranges
    expect(take(out)).toBe(-1);
  });
});
