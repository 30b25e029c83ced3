import { describe, expect, it } from 'vitest';
import { NODE, SERVICES } from '../../test/fixtures/kube-proxy/overall.js';
import { parseIpv4 } from '../wire/addr.js';
import { ipvsadmList } from './rules-ipvs.js';

const NODE_IP = parseIpv4('192.168.56.11');

describe('kube-proxy IPVS virtual servers as ipvsadm -Ln prints them', () => {
  const text = ipvsadmList({ node: NODE, nodeAddrs: [NODE_IP, parseIpv4('10.244.1.1')], services: SERVICES });
  const lines = text.trimEnd().split('\n');

  it('prints ipvsadm\'s header and one real server line per endpoint, in its column widths', () => {
    expect(lines.slice(0, 3)).toEqual([
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ]);
    const i = lines.indexOf('TCP  172.30.0.44:80 rr');
    expect(i).toBeGreaterThan(0);
    // printf("  -> %-28s %-7s %-6d %-10u %-10u\n")
    expect(lines[i + 1]).toBe(`  -> ${'10.180.0.4:80'.padEnd(28)} Masq    1      0          0         `);
    expect(lines[i + 2]).toBe(`  -> ${'10.180.0.5:80'.padEnd(28)} Masq    1      0          0         `);
  });

  it('a service without endpoints is a virtual server without real servers', () => {
    const i = lines.indexOf('TCP  172.30.0.46:80 rr');
    expect(lines[i + 1]?.startsWith('  ->')).toBe(false);
  });

  it('NodePorts on every node address; externalTrafficPolicy Local keeps only local endpoints', () => {
    const at = (vs: string): string[] => {
      const i = lines.indexOf(vs);
      expect(i, vs).toBeGreaterThan(0);
      const out: string[] = [];
      for (let k = i + 1; k < lines.length && lines[k]!.startsWith('  ->'); k++) out.push(lines[k]!.trim().split(/\s+/)[1]!);
      return out;
    };
    expect(at('TCP  192.168.56.11:3003 rr')).toEqual(['10.180.0.3:80']);
    expect(at('TCP  10.244.1.1:3003 rr')).toEqual(['10.180.0.3:80']);
    expect(at('TCP  192.168.56.11:3001 rr')).toEqual([]); // svc2: Local, its endpoint is elsewhere
    expect(at('TCP  172.30.0.42:80 rr')).toEqual(['10.180.0.2:80']);
  });

  it('sorts as libipvs does: protocol, then the address difference as a signed int (192.168/16 before 10/8)', () => {
    // ipvs_cmp_services: `int r = ntohl(a) - ntohl(b)`. Over addresses less than 2^31 apart
    // that is an order, and it puts 192.168.56.11 (0xc0a8380b) before 10.x (0xc0a8... - 0x0a...
    // wraps negative). Over a set where it is not an order (10.x, 172.30.x, 192.168.x) ipvsadm's
    // own output depends on the kernel's hash order, and so podwire's cannot be pinned.
    const s = structuredClone(SERVICES[2]!);
    s.plan.clusterIP = parseIpv4('10.96.0.20');
    const udp = structuredClone(s);
    udp.plan.ports[0]!.protocol = 'UDP';
    const vs = ipvsadmList({ node: NODE, nodeAddrs: [parseIpv4('10.244.1.1'), NODE_IP], services: [udp, s] })
      .split('\n').filter((l) => /^(TCP|UDP) /.test(l));
    expect(vs).toEqual([
      'TCP  192.168.56.11:3003 rr', 'TCP  10.96.0.20:80 rr', 'TCP  10.244.1.1:3003 rr',
      'UDP  192.168.56.11:3003 rr', 'UDP  10.96.0.20:80 rr', 'UDP  10.244.1.1:3003 rr',
    ]);
  });

  it('ClientIP affinity is `persistent <timeout>`; weights and connection counts show', () => {
    const s = structuredClone(SERVICES[3]!);
    s.plan.sessionAffinity = 'ClientIP';
    s.plan.sessionAffinityTimeout = 600;
    s.plan.scheduler = 'wrr';
    s.plan.weights = { [s.endpoints[1]!.pod]: 3 };
    const out = ipvsadmList({ node: NODE, nodeAddrs: [], services: [s], connections: () => ({ [s.endpoints[0]!.pod]: 2 }) }).split('\n');
    expect(out[3]).toBe('TCP  172.30.0.44:80 wrr persistent 600');
    expect(out[4]).toBe(`  -> ${'10.180.0.4:80'.padEnd(28)} Masq    1      2          0         `);
    expect(out[5]).toBe(`  -> ${'10.180.0.5:80'.padEnd(28)} Masq    3      0          0         `);
  });
});
