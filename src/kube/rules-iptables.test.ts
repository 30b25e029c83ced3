import { describe, expect, it } from 'vitest';
import { CLUSTER_CIDR, NODE, SERVICES, UPSTREAM_CHAINS } from '../../test/fixtures/kube-proxy/overall.js';
import { iptablesSave, onlyService, savedProbability } from './rules-iptables.js';
import type { ResolvedService } from './service-proxy.js';
import { endpointChainName, serviceChainName } from './proxy-names.js';
import { parseIpv4 } from '../wire/addr.js';

const input = (services: ResolvedService[] = SERVICES) => ({ node: NODE, clusterCIDR: CLUSTER_CIDR, services });
const rulesOf = (text: string, chain: string): string[] => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `));

describe('kube-proxy iptables rules as iptables-save prints them', () => {
  it('names every chain as kube-proxy does (the names of its own TestOverallIPTablesRules)', () => {
    const nat = iptablesSave(input(), 'nat');
    for (const [name, c] of Object.entries(UPSTREAM_CHAINS)) {
      expect(nat, name).toContain(`:${c.svc} - [0:0]`);
      for (const sep of c.sep) expect(nat, name).toContain(`:${sep} - [0:0]`);
    }
    expect(nat).toContain(':KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]');
    expect(nat).toContain(':KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]');
  });

  it('KUBE-FORWARD drops INVALID packets unless nf_conntrack_tcp_be_liberal is set (kubernetes PR #120412)', () => {
    const rule = '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP';
    expect(iptablesSave(input(), 'filter').split('\n')).toContain(rule);
    const liberal = iptablesSave({ ...input(), tcpBeLiberal: true }, 'filter').split('\n');
    expect(liberal).not.toContain(rule);
    expect(liberal.filter((l) => l.startsWith('-A KUBE-FORWARD')).length).toBe(2); // the two ACCEPTs stay
  });

  it('prints the probability as the kernel stores it (lround(p * 2^31), %.11f)', () => {
    // Real iptables 1.8.9 gives back 0.33333333349 for kube-proxy's 0.3333333333.
    expect(savedProbability(2)).toBe('0.50000000000');
    expect(savedProbability(3)).toBe('0.33333333349');
    expect(savedProbability(4)).toBe('0.25000000000');
    expect(savedProbability(7)).toBe((Math.round(0.1428571429 * 2 ** 31) / 2 ** 31).toFixed(11));
  });

  it('a service without endpoints has no nat rules and is REJECTed in filter', () => {
    const nat = iptablesSave(input(), 'nat');
    const filter = iptablesSave(input(), 'filter');
    expect(nat).not.toContain('ns6/svc6');
    expect(rulesOf(filter, 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it('externalTrafficPolicy Local without a local endpoint: short-circuits pods and the node, DROPs the rest', () => {
    const nat = iptablesSave(input(), 'nat');
    expect(rulesOf(nat, 'KUBE-EXT-GNZBNJ2PO5MGZ6GT')).toEqual([
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -s 10.0.0.0/8 -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
    ]);
    expect(nat).not.toContain('KUBE-SVL-GNZBNJ2PO5MGZ6GT');
    expect(rulesOf(iptablesSave(input(), 'filter'), 'KUBE-EXTERNAL-SERVICES')).toEqual([
      '-A KUBE-EXTERNAL-SERVICES -d 192.168.99.22/32 -p tcp -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp --dport 80 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -d 1.2.3.4/32 -p tcp -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp --dport 80 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 3001 -j DROP',
    ]);
  });

  it('externalTrafficPolicy Local with a local endpoint: KUBE-SVL lists only this node\'s endpoints', () => {
    const s = structuredClone(SERVICES[3]!);
    s.plan.ports[0]!.nodePort = 30044;
    s.plan.externalTrafficPolicy = 'Local';
    const nat = iptablesSave(input([s]), 'nat');
    expect(rulesOf(nat, 'KUBE-EXT-4SW47YFZTEDKD3PK').at(-1)).toBe('-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVL-4SW47YFZTEDKD3PK');
    expect(rulesOf(nat, 'KUBE-SVL-4SW47YFZTEDKD3PK')).toEqual([
      '-A KUBE-SVL-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    ]);
    expect(iptablesSave(input([s]), 'filter')).not.toContain('KUBE-EXTERNAL-SERVICES -p');
  });

  it('ClientIP affinity: a recent check per endpoint before the random rules, recent --set before DNAT', () => {
    const s = structuredClone(SERVICES[3]!);
    s.plan.sessionAffinity = 'ClientIP';
    s.plan.sessionAffinityTimeout = 600;
    const nat = iptablesSave(input([s]), 'nat');
    expect(rulesOf(nat, 'KUBE-SVC-4SW47YFZTEDKD3PK').slice(1)).toEqual([
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m recent --rcheck --seconds 600 --reap --name KUBE-SEP-UKSFD7AGPMPPLUHC --mask 255.255.255.255 --rsource -j KUBE-SEP-UKSFD7AGPMPPLUHC',
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -m recent --rcheck --seconds 600 --reap --name KUBE-SEP-C6EBXVWJJZMIWKLZ --mask 255.255.255.255 --rsource -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    ]);
    expect(rulesOf(nat, 'KUBE-SEP-UKSFD7AGPMPPLUHC')[1]).toBe(
      '-A KUBE-SEP-UKSFD7AGPMPPLUHC -p tcp -m comment --comment "ns4/svc4:p80" -m recent --set --name KUBE-SEP-UKSFD7AGPMPPLUHC --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.4:80',
    );
  });

  it('endpoints go in kube-proxy\'s order ("ip:port" as strings), whatever order the pods came in', () => {
    const s = structuredClone(SERVICES[3]!);
    s.endpoints = [...s.endpoints].reverse();
    expect(iptablesSave(input([s]), 'nat')).toBe(iptablesSave(input([SERVICES[3]!]), 'nat'));
  });

  it('--service keeps that service\'s chains and rules and the fixed ones', () => {
    const nat = onlyService(iptablesSave(input(), 'nat'), 'ns3', 'svc3');
    expect(nat).toContain(':KUBE-SVC-X27LE4BHSL4DOUIK');
    expect(nat).toContain('-A KUBE-NODEPORTS -p tcp -m comment --comment "ns3/svc3:p80" -m tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK');
    expect(nat).not.toContain('svc1');
    expect(nat).not.toContain('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(nat).toContain(':KUBE-MARK-MASQ - [0:0]');
    expect(nat.trimEnd().endsWith('COMMIT')).toBe(true);
  });

  it('externalIPs and LoadBalancer IPs: KUBE-SERVICES sends them to KUBE-EXT (after the cluster IP rule)', () => {
    const nat = iptablesSave(input(), 'nat');
    expect(rulesOf(nat, 'KUBE-SERVICES').filter((l) => l.includes('ns2/svc2') || l.includes('ns4/svc4'))).toEqual([
      '-A KUBE-SERVICES -d 172.30.0.42/32 -p tcp -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-SERVICES -d 192.168.99.22/32 -p tcp -m comment --comment "ns2/svc2:p80 external IP" -m tcp --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-SERVICES -d 1.2.3.4/32 -p tcp -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK',
      '-A KUBE-SERVICES -d 192.168.99.33/32 -p tcp -m comment --comment "ns4/svc4:p80 external IP" -m tcp --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK',
    ]);
  });

  it('internalTrafficPolicy Local: the cluster IP goes to KUBE-SVL (this node\'s endpoints); none here -> filter DROP', () => {
    const s = structuredClone(SERVICES[3]!);
    s.plan.internalTrafficPolicy = 'Local';
    s.plan.externalIPs = [];
    s.plan.type = 'ClusterIP';
    const nat = iptablesSave(input([s]), 'nat');
    expect(rulesOf(nat, 'KUBE-SERVICES')[0]).toBe('-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVL-4SW47YFZTEDKD3PK');
    expect(rulesOf(nat, 'KUBE-SVL-4SW47YFZTEDKD3PK')).toEqual([
      '-A KUBE-SVL-4SW47YFZTEDKD3PK ! -s 10.0.0.0/8 -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
      '-A KUBE-SVL-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    ]);
    expect(nat).not.toContain(':KUBE-SVC-4SW47YFZTEDKD3PK');
    expect(nat).not.toContain(':KUBE-SEP-UKSFD7AGPMPPLUHC'); // the other node's endpoint: no chain
    const none = structuredClone(s);
    none.endpoints = none.endpoints.filter((e) => e.node !== NODE);
    expect(rulesOf(iptablesSave(input([none]), 'filter'), 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p80 has no local endpoints" -m tcp --dport 80 -j DROP',
    ]);
  });
});

describe('named targetPorts: each endpoint at the port its pod declares', () => {
  // EndpointSlice controller (k8s.io/endpointslice utils.go getEndpointPorts -> FindPort): the
  // name is resolved on each pod; a pod without it is left out of that service port only.
  // kube-proxy then names and fills one KUBE-SEP per endpoint "ip:port" of the port.
  const named = (): ResolvedService => {
    const s = structuredClone(SERVICES[3]!);
    s.plan.type = 'ClusterIP';
    s.plan.externalIPs = [];
    s.plan.ports = [
      { name: 'p80', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'p81', port: 81, targetPort: 7000, protocol: 'TCP' },
      { name: 'p82', port: 82, targetPort: 'grpc', protocol: 'TCP' },
    ];
    const [a, b] = s.endpoints as [ResolvedService['endpoints'][number], ResolvedService['endpoints'][number]];
    s.endpoints = [
      { ...a, ports: [8080, 7000, 0] },
      { ...b, ports: [9090, 7000, 0] },
      { pod: 'svc4-plain', node: 'other', ip: parseIpv4('10.180.0.6'), ports: [0, 7000, 0] },
    ];
    return s;
  };

  it('KUBE-SEP DNATs to each pod\'s own port; the pod without the name is an endpoint of the numeric port only; a name no pod has REJECTs', () => {
    const nat = iptablesSave(input([named()]), 'nat');
    const sepA = endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.4:8080');
    const sepB = endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.5:9090');
    const svc80 = serviceChainName('ns4/svc4:p80', 'tcp');
    expect(rulesOf(nat, svc80).filter((l) => l.includes('KUBE-SEP-'))).toEqual([
      `-A ${svc80} -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:8080" -m statistic --mode random --probability 0.50000000000 -j ${sepA}`,
      `-A ${svc80} -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:9090" -j ${sepB}`,
    ]);
    expect(rulesOf(nat, sepA).at(-1)).toBe(`-A ${sepA} -p tcp -m comment --comment "ns4/svc4:p80" -m tcp -j DNAT --to-destination 10.180.0.4:8080`);
    expect(rulesOf(nat, sepB).at(-1)).toBe(`-A ${sepB} -p tcp -m comment --comment "ns4/svc4:p80" -m tcp -j DNAT --to-destination 10.180.0.5:9090`);
    expect(nat).not.toMatch(/ns4\/svc4:p80 -> 10\.180\.0\.6/);
    // The numeric port: all three pods, at 7000.
    const svc81 = serviceChainName('ns4/svc4:p81', 'tcp');
    expect(rulesOf(nat, svc81).filter((l) => l.includes('KUBE-SEP-')).map((l) => /-> ([0-9.:]+)"/.exec(l)![1])).toEqual(['10.180.0.4:7000', '10.180.0.5:7000', '10.180.0.6:7000']);
    // The name no pod declares: no endpoints, so no nat rules and a REJECT in filter.
    expect(nat).not.toContain('ns4/svc4:p82');
    expect(rulesOf(iptablesSave(input([named()]), 'filter'), 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment "ns4/svc4:p82 has no endpoints" -m tcp --dport 82 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });
});
