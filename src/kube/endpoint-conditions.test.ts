import { describe, expect, it } from 'vitest';
import { CLUSTER_CIDR, NODE, SERVICES } from '../../test/fixtures/kube-proxy/overall.js';
import { Engine } from '../engine/engine.js';
import { NetNamespace } from '../net/netns.js';
import { parseCidr, parseIpv4 } from '../wire/addr.js';
import type { DnatDecision } from '../netfilter/nat-policy.js';
import { categorizeEndpoints, podConditions } from './endpoint-conditions.js';
import { iptablesSave } from './rules-iptables.js';
import { ipvsadmList } from './rules-ipvs.js';
import { nftList } from './rules-nft.js';
import { ServiceProxy, type ResolvedEndpoint, type ResolvedService } from './service-proxy.js';
import type { ServicePlan } from './types.js';

const ip = parseIpv4;
const TCP = 6;
const VIP = ip('10.96.0.2');
const POD1 = ip('10.244.1.2');
const LOCAL = ip('10.244.1.3');
const REMOTE = ip('10.244.2.2');
const NODE1 = ip('192.168.56.11');
const OUTSIDE = ip('192.168.56.1');
/** Terminating, still serving (readiness probe passes during the grace period). */
const TERMINATING = { ready: false, serving: true, terminating: true };
const UNREADY = { ready: false, serving: false, terminating: false };

function service(over: Partial<ServicePlan> = {}): ServicePlan {
  return {
    name: 'service1', namespace: 'default', type: 'NodePort', clusterIP: VIP,
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
    selector: { app: 'web' }, sessionAffinity: 'None', sessionAffinityTimeout: 10800, externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster', externalIPs: [], loadBalancerIPs: [],
    scheduler: 'rr', weights: {}, endpoints: ['local', 'remote'], system: false, ...over,
  };
}

function proxyWith(services: ResolvedService[]): ServiceProxy {
  const engine = new Engine({ seed: 3 });
  const root = new NetNamespace(engine, { node: 'node1', name: 'root', forwarding: true });
  root.addInterface('eth0', 'ether', 0x020000000001, 1500);
  root.addAddress('eth0', NODE1, 24);
  const proxy = new ServiceProxy({ engine, node: 'node1', root, podCIDR: parseCidr('10.244.0.0/16'), mode: 'iptables' });
  proxy.sync(services);
  return proxy;
}

/** Where 20 NEW connections from `src` to dst:dport go (endpoint addresses, or 'refused:<reason>'). */
function targets(proxy: ServiceProxy, src: number, dst: number, dport: number): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const out: DnatDecision = { ip: 0, port: 0, mark: 0, tag: 0, detail: {}, refuse: -1 };
    if (proxy.dnat(TCP, src, dst, 40000 + i, dport, 1, false, out)) seen.add(String(out.ip));
    else seen.add(`refused:${out.refuse}`);
  }
  return seen;
}

const ep = (pod: string, node: string, addr: number, c: Partial<ResolvedEndpoint> = {}): ResolvedEndpoint => ({ pod, node, ip: addr, ...c });

describe('EndpointSlice conditions (kube-proxy CategorizeEndpoints, KEP-1669)', () => {
  it('the EndpointSlice controller: ready = publishNotReadyAddresses || (serving && !terminating)', () => {
    expect(podConditions({}, false)).toEqual({ ready: true, serving: true, terminating: false });
    expect(podConditions({ ready: false }, false)).toEqual({ ready: false, serving: false, terminating: false });
    expect(podConditions({ terminating: true }, false)).toEqual({ ready: false, serving: true, terminating: true });
    expect(podConditions({ ready: false, terminating: true }, true)).toEqual({ ready: true, serving: false, terminating: true });
  });

  it('an unready endpoint gets no traffic while a ready one exists', () => {
    const proxy = proxyWith([{ plan: service(), endpoints: [ep('local', 'node1', LOCAL, UNREADY), ep('remote', 'node2', REMOTE)] }]);
    expect(targets(proxy, POD1, VIP, 80)).toEqual(new Set([String(REMOTE)]));
    expect(targets(proxy, OUTSIDE, NODE1, 30080)).toEqual(new Set([String(REMOTE)]));
  });

  it('only unready endpoints: none usable, REJECT (no-endpoints)', () => {
    const proxy = proxyWith([{ plan: service(), endpoints: [ep('local', 'node1', LOCAL, UNREADY)] }]);
    expect(targets(proxy, POD1, VIP, 80)).toEqual(new Set(['refused:0']));
  });

  it('Cluster policy: no ready endpoint anywhere -> the serving terminating ones (not the unready ones)', () => {
    const proxy = proxyWith([{ plan: service(), endpoints: [ep('local', 'node1', LOCAL, UNREADY), ep('remote', 'node2', REMOTE, TERMINATING)] }]);
    expect(targets(proxy, POD1, VIP, 80)).toEqual(new Set([String(REMOTE)]));
    // A terminating endpoint is not used while a ready one exists.
    const mixed = proxyWith([{ plan: service(), endpoints: [ep('local', 'node1', LOCAL), ep('remote', 'node2', REMOTE, TERMINATING)] }]);
    expect(targets(mixed, POD1, VIP, 80)).toEqual(new Set([String(LOCAL)]));
  });

  it('Local policy falls back on its own: this node\'s serving terminating endpoint, while Cluster traffic keeps the ready remote one', () => {
    const plan = service({ externalTrafficPolicy: 'Local' });
    const proxy = proxyWith([{ plan, endpoints: [ep('local', 'node1', LOCAL, TERMINATING), ep('remote', 'node2', REMOTE)] }]);
    expect(targets(proxy, OUTSIDE, NODE1, 30080)).toEqual(new Set([String(LOCAL)]));
    expect(targets(proxy, POD1, VIP, 80)).toEqual(new Set([String(REMOTE)]));
    // internalTrafficPolicy Local too: the cluster IP goes to the local terminating endpoint.
    const itp = proxyWith([{ plan: service({ internalTrafficPolicy: 'Local' }), endpoints: [ep('local', 'node1', LOCAL, TERMINATING), ep('remote', 'node2', REMOTE)] }]);
    expect(targets(itp, POD1, VIP, 80)).toEqual(new Set([String(LOCAL)]));
    // A local endpoint that is terminating and not serving: dropped (no-local-endpoints), not rejected.
    const gone = proxyWith([{ plan, endpoints: [ep('local', 'node1', LOCAL, { ...TERMINATING, serving: false }), ep('remote', 'node2', REMOTE)] }]);
    expect(targets(gone, OUTSIDE, NODE1, 30080)).toEqual(new Set(['refused:1']));
  });

  it('Local policy with no usable endpoint anywhere: REJECT (no-endpoints), as kube-proxy\'s "has no endpoints" rule', () => {
    const proxy = proxyWith([{ plan: service({ externalTrafficPolicy: 'Local' }), endpoints: [ep('remote', 'node2', REMOTE, UNREADY)] }]);
    expect(targets(proxy, OUTSIDE, NODE1, 30080)).toEqual(new Set(['refused:0']));
    const itp = proxyWith([{ plan: service({ internalTrafficPolicy: 'Local' }), endpoints: [] }]);
    expect(targets(itp, POD1, VIP, 80)).toEqual(new Set(['refused:0']));
  });

  it('categorizeEndpoints: reachable is the union of Cluster and Local endpoints', () => {
    const eps = [ep('a', 'node1', LOCAL, TERMINATING), ep('b', 'node2', REMOTE)];
    const c = categorizeEndpoints(eps, 'node1');
    expect(c.cluster.map((e) => e.pod)).toEqual(['b']);
    expect(c.local.map((e) => e.pod)).toEqual(['a']);
    expect(c.reachable.map((e) => e.pod)).toEqual(['a', 'b']);
    expect(c.hasAny).toBe(true);
  });
});

describe('rules: only the endpoints kube-proxy chooses get rules, in every mode', () => {
  // ns4/svc4 (NodePort + externalIP): 10.180.0.4 on another node, 10.180.0.5 on this one.
  const svc4 = (c4: Partial<ResolvedEndpoint>, c5: Partial<ResolvedEndpoint>, over: Partial<ServicePlan> = {}): ResolvedService => {
    const s = structuredClone(SERVICES[3]!);
    Object.assign(s.plan, over);
    s.endpoints = [{ ...s.endpoints[0]!, ...c4 }, { ...s.endpoints[1]!, ...c5 }];
    return s;
  };
  const nat = (s: ResolvedService): string => iptablesSave({ node: NODE, clusterCIDR: CLUSTER_CIDR, services: [s] }, 'nat');
  const filter = (s: ResolvedService): string => iptablesSave({ node: NODE, clusterCIDR: CLUSTER_CIDR, services: [s] }, 'filter');
  const rulesOf = (text: string, chain: string): string[] => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
  const SEP4 = 'KUBE-SEP-UKSFD7AGPMPPLUHC';
  const SEP5 = 'KUBE-SEP-C6EBXVWJJZMIWKLZ';
  const nft = (s: ResolvedService): string => nftList({
    node: NODE, clusterCIDR: CLUSTER_CIDR, serviceCIDR: parseCidr('172.30.0.0/16'), nodeIPs: [NODE1], services: [s],
  });
  const ipvs = (s: ResolvedService): string => ipvsadmList({ node: NODE, nodeAddrs: [NODE1], services: [s] });

  it('iptables: an unready endpoint has no KUBE-SEP chain and no rule in KUBE-SVC', () => {
    const text = nat(svc4(UNREADY, {}));
    expect(text).not.toContain(SEP4);
    expect(rulesOf(text, 'KUBE-SVC-4SW47YFZTEDKD3PK').filter((l) => l.includes('KUBE-SEP-'))).toEqual([
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    ]);
  });

  it('iptables: all unready -> no nat rules, filter REJECT "has no endpoints"', () => {
    const s = svc4(UNREADY, UNREADY);
    expect(nat(s)).not.toContain('ns4/svc4');
    expect(filter(s)).toContain('-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable');
  });

  it('iptables: Cluster falls back to the serving terminating endpoint', () => {
    const text = nat(svc4(TERMINATING, UNREADY));
    expect(text).toContain(`:${SEP4} - [0:0]`);
    expect(text).not.toContain(SEP5);
  });

  it('iptables: Local falls back to this node\'s terminating endpoint in KUBE-SVL; KUBE-SVC keeps the ready remote one', () => {
    const text = nat(svc4({}, TERMINATING, { externalTrafficPolicy: 'Local' }));
    expect(rulesOf(text, 'KUBE-SVL-4SW47YFZTEDKD3PK')).toEqual([
      `-A KUBE-SVL-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j ${SEP5}`,
    ]);
    expect(rulesOf(text, 'KUBE-SVC-4SW47YFZTEDKD3PK').filter((l) => l.includes('KUBE-SEP-'))).toEqual([
      `-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -j ${SEP4}`,
    ]);
    // Both endpoints are reachable from this node: both have their chain.
    expect(text).toContain(`:${SEP4} - [0:0]`);
    expect(text).toContain(`:${SEP5} - [0:0]`);
  });

  it('nftables: an unready endpoint has no endpoint chain; the terminating fallback has one', () => {
    const unready = nft(svc4(UNREADY, {}));
    expect(unready).not.toContain('__10.180.0.4/80');
    expect(unready).toContain('__10.180.0.5/80');
    const fallback = nft(svc4(TERMINATING, UNREADY));
    expect(fallback).toContain('__10.180.0.4/80');
    expect(fallback).not.toContain('__10.180.0.5/80');
    expect(fallback).toMatch(/numgen random mod 1 vmap \{ 0 : goto endpoint-[A-Z0-9]{8}-ns4\/svc4\/tcp\/p80__10\.180\.0\.4\/80 \}/);
  });

  it('ipvs: unready endpoints are no real servers; terminating ones only as the fallback', () => {
    const reals = (text: string, vs: string): string[] => {
      const lines = text.split('\n');
      const out: string[] = [];
      for (let k = lines.indexOf(vs) + 1; k > 0 && k < lines.length && lines[k]!.startsWith('  ->'); k++) out.push(lines[k]!.trim().split(/\s+/)[1]!);
      return out;
    };
    expect(reals(ipvs(svc4(UNREADY, {})), 'TCP  172.30.0.44:80 rr')).toEqual(['10.180.0.5:80']);
    expect(reals(ipvs(svc4(TERMINATING, UNREADY)), 'TCP  172.30.0.44:80 rr')).toEqual(['10.180.0.4:80']);
    expect(reals(ipvs(svc4({}, TERMINATING)), 'TCP  172.30.0.44:80 rr')).toEqual(['10.180.0.4:80']);
  });
});
