/**
 * Named targetPorts resolved per pod, as Kubernetes does: the EndpointSlice controller's
 * getEndpointPorts calls FindPort (pkg/api/v1/pod/util.go; k8s.io/endpointslice utils.go) on
 * every pod for every service port, and leaves the port out of a pod's endpoint when the pod
 * has no container port of that name and protocol. kube-proxy sees, per service port, only
 * the endpoints that carry it, each at its own port.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER_CIDR, NODE, SERVICES } from '../../test/fixtures/kube-proxy/overall.js';
import { parseCidr, parseIpv4 } from '../wire/addr.js';
import { endpointPorts, findPort, NO_PORT, portEndpoints } from './endpoint-ports.js';
import { localReadyEndpoints } from './health-check.js';
import { ipvsadmList } from './rules-ipvs.js';
import { nftList } from './rules-nft.js';
import type { ResolvedService } from './service-proxy.js';

const POD = {
  ports: [
    { name: 'http', containerPort: 8080, protocol: 'TCP' as const },
    { name: 'dns', containerPort: 5353, protocol: 'UDP' as const },
    { name: 'http', containerPort: 8081, protocol: 'TCP' as const }, // a second container declaring the name again: FindPort takes the first
    { name: 'metrics', containerPort: 9100 }, // no protocol: TCP (core/v1 default)
  ],
};

describe('findPort (podutil.FindPort)', () => {
  it('a number is taken as it is, whatever the pod declares', () => {
    expect(findPort(POD, { targetPort: 7000, protocol: 'TCP' })).toBe(7000);
    expect(findPort({}, { targetPort: 7000, protocol: 'UDP' })).toBe(7000);
  });

  it('a name: the first container port with that name and the service port\'s protocol', () => {
    expect(findPort(POD, { targetPort: 'http', protocol: 'TCP' })).toBe(8080);
    expect(findPort(POD, { targetPort: 'dns', protocol: 'UDP' })).toBe(5353);
    expect(findPort(POD, { targetPort: 'metrics', protocol: 'TCP' })).toBe(9100);
  });

  it('a name the pod does not declare for that protocol: no port (the pod is no endpoint of it)', () => {
    expect(findPort(POD, { targetPort: 'dns', protocol: 'TCP' })).toBe(NO_PORT);
    expect(findPort(POD, { targetPort: 'http', protocol: 'UDP' })).toBe(NO_PORT);
    expect(findPort(POD, { targetPort: 'grpc', protocol: 'TCP' })).toBe(NO_PORT);
    expect(findPort({}, { targetPort: 'http', protocol: 'TCP' })).toBe(NO_PORT);
  });

  it('endpointPorts: one answer per service port, in order', () => {
    expect(endpointPorts(POD, [
      { targetPort: 'http', protocol: 'TCP' }, { targetPort: 'dns', protocol: 'TCP' }, { targetPort: 53, protocol: 'UDP' },
    ])).toEqual([8080, NO_PORT, 53]);
  });
});

/** svc4 of kube-proxy's overall test with a named port (8080 / 9090 / none) and a numeric one (all at 7000). */
function named(): ResolvedService {
  const s = structuredClone(SERVICES[3]!);
  s.plan.type = 'ClusterIP';
  s.plan.externalIPs = [];
  s.plan.ports = [
    { name: 'p80', port: 80, targetPort: 'http', protocol: 'TCP' },
    { name: 'p81', port: 81, targetPort: 7000, protocol: 'TCP' },
  ];
  const [a, b] = s.endpoints as [ResolvedService['endpoints'][number], ResolvedService['endpoints'][number]];
  s.endpoints = [
    { ...a, ports: [8080, 7000] },
    { ...b, ports: [9090, 7000] },
    { pod: 'svc4-plain', node: NODE, ip: parseIpv4('10.180.0.6'), ports: [NO_PORT, 7000] },
  ];
  return s;
}

describe('portEndpoints: a service port\'s endpoints at their own ports', () => {
  it('keeps the endpoints that have the port, each with its port', () => {
    const s = named();
    expect(portEndpoints(s.endpoints, s.plan.ports[0]!, 0).map((e) => [e.pod, e.targetPort])).toEqual([['svc4-0', 8080], ['svc4-1', 9090]]);
    expect(portEndpoints(s.endpoints, s.plan.ports[1]!, 1).map((e) => [e.pod, e.targetPort])).toEqual([['svc4-0', 7000], ['svc4-1', 7000], ['svc4-plain', 7000]]);
  });

  it('endpoints without resolved ports (built by hand) take a numeric targetPort and have no named one', () => {
    const s = structuredClone(SERVICES[3]!);
    expect(portEndpoints(s.endpoints, { targetPort: 80, protocol: 'TCP' }, 0).map((e) => e.targetPort)).toEqual([80, 80]);
    expect(portEndpoints(s.endpoints, { targetPort: 'http', protocol: 'TCP' }, 0)).toEqual([]);
  });
});

describe('the rule dumps and the health check read the per-endpoint ports', () => {
  it('nft: one endpoint chain per pod at its own port (dnat to ip:port); the pod without the name only under the numeric port', () => {
    const text = nftList({ node: NODE, clusterCIDR: CLUSTER_CIDR, serviceCIDR: parseCidr('172.30.0.0/16'), nodeIPs: [parseIpv4('192.168.56.11')], services: [named()] });
    expect(text).toMatch(/chain endpoint-[A-Z0-9]{8}-ns4\/svc4\/tcp\/p80__10\.180\.0\.4\/8080 \{/);
    expect(text).toMatch(/chain endpoint-[A-Z0-9]{8}-ns4\/svc4\/tcp\/p80__10\.180\.0\.5\/9090 \{/);
    expect(text).toContain('meta l4proto tcp dnat to 10.180.0.4:8080');
    expect(text).toContain('meta l4proto tcp dnat to 10.180.0.5:9090');
    expect(text).not.toContain('p80__10.180.0.6');
    expect(text).toMatch(/chain endpoint-[A-Z0-9]{8}-ns4\/svc4\/tcp\/p81__10\.180\.0\.6\/7000 \{/);
    expect(text).toMatch(/p80 \{[^}]*numgen random mod 2 vmap/);
    expect(text).toMatch(/p81 \{[^}]*numgen random mod 3 vmap/);
  });

  it('ipvsadm: the named port\'s real servers are the pods that declare it, at their ports', () => {
    const lines = ipvsadmList({ node: NODE, nodeAddrs: [], services: [named()] }).split('\n');
    const reals = (vs: string): string[] => {
      const out: string[] = [];
      for (let k = lines.indexOf(vs) + 1; k > 0 && k < lines.length && lines[k]!.startsWith('  ->'); k++) out.push(lines[k]!.trim().split(/\s+/)[1]!);
      return out;
    };
    expect(reals('TCP  172.30.0.44:80 rr')).toEqual(['10.180.0.4:8080', '10.180.0.5:9090']);
    expect(reals('TCP  172.30.0.44:81 rr')).toEqual(['10.180.0.4:7000', '10.180.0.5:7000', '10.180.0.6:7000']);
  });

  it('health check: a local pod counts when it is an endpoint of some port, not when it has none of them', () => {
    const s = named();
    expect(localReadyEndpoints(s, NODE)).toBe(2); // 10.180.0.5 (both ports) and 10.180.0.6 (p81 only)
    s.plan.ports = [s.plan.ports[0]!];
    s.endpoints = s.endpoints.map((e) => ({ ...e, ports: e.ports!.slice(0, 1) }));
    expect(localReadyEndpoints(s, NODE)).toBe(1); // 10.180.0.6 has no "http": no endpoint at all
  });
});
