import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/kube/cluster.js';
import { probeCluster } from '../../src/kube/probe.js';
import { renderPingall, renderProbeMatrix } from '../../src/kube/probe-text.js';
import { topology } from './cluster-util.js';

const SERVERS = '[ { type: http, port: 80 }, { type: udp-echo, port: 80 }, { type: sctp, port: 80 } ]';
const TWO_NODES = `
cluster: { name: probe, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 } ]
pods:
  - { name: a, namespace: x, node: node1, labels: { app: web }, apps: ${SERVERS} }
  - { name: b, namespace: x, node: node2, labels: { app: web }, apps: ${SERVERS} }
  - { name: c, namespace: y, node: node2, apps: [ { type: http, port: 80 } ] }
services:
  - { name: web, namespace: x, selector: { app: web }, ports: [ { port: 8080, targetPort: 80 } ] }
`;

describe('podwire probe (real packets in virtual time)', () => {
  it('TCP, UDP and SCTP servers answer on 80; a pod without them refuses (RST, ICMP port unreachable, ABORT)', () => {
    const c = new Cluster(topology(TWO_NODES));
    try {
      const r = probeCluster(c, { ports: [80], protocols: ['TCP', 'UDP', 'SCTP'] });
      expect(r.from).toEqual(['x/a', 'x/b', 'y/c']);
      const get = (from: string, to: string, protocol: string) => r.probes.find((p) => p.from === from && p.to === to && p.protocol === protocol)!;
      for (const proto of ['TCP', 'UDP', 'SCTP']) {
        expect(get('x/a', 'x/b', proto).allowed).toBe(true);
        expect(get('y/c', 'x/a', proto).allowed).toBe(true);
        expect(get('x/a', 'x/a', proto).allowed).toBe(true);
      }
      expect(get('x/a', 'x/b', 'TCP').reason).toBe('SYN-ACK');
      expect(get('x/a', 'x/b', 'UDP').reason).toBe('UDP reply');
      expect(get('x/a', 'x/b', 'SCTP').reason).toBe('INIT ACK');
      expect(get('x/a', 'y/c', 'TCP')).toMatchObject({ allowed: true });
      expect(get('x/a', 'y/c', 'UDP')).toMatchObject({ allowed: false, reason: 'ICMP port unreachable from 10.244.2.3' });
      expect(get('x/a', 'y/c', 'SCTP')).toMatchObject({ allowed: false, reason: 'ABORT from 10.244.2.3:80' });
      expect(renderProbeMatrix(r)).toBe(`+---------+-------+-------+-------+
| SCTP/80 |  X/A  |  X/B  |  Y/C  |
| TCP/80  |       |       |       |
| UDP/80  |       |       |       |
+---------+-------+-------+-------+
| x/a     | . . . | . . . | X . X |
+---------+-------+-------+-------+
| x/b     | . . . | . . . | X . X |
+---------+-------+-------+-------+
| y/c     | . . . | . . . | X . X |
+---------+-------+-------+-------+
`);
    } finally {
      c.close();
    }
  });

  it('one port and protocol: the simple table; pingall with the services', () => {
    const c = new Cluster(topology(TWO_NODES));
    try {
      const r = probeCluster(c, { ports: [80], protocols: ['TCP'] });
      expect(renderProbeMatrix(r)).toBe(`+-----+-----+-----+-----+
|     | X/A | X/B | Y/C |
+-----+-----+-----+-----+
| x/a | .   | .   | .   |
| x/b | .   | .   | .   |
| y/c | .   | .   | .   |
+-----+-----+-----+-----+
`);
      const p = probeCluster(c, { protocols: ['ICMP'], services: true });
      expect(renderPingall(p)).toBe(`*** Ping: testing reachability between 3 pods
x/a -> x/b y/c
x/b -> x/a y/c
y/c -> x/a x/b
*** Results: 0% dropped (6/6 received)
*** Services: testing 1 service port from every pod
x/a -> x/web:8080/TCP
x/b -> x/web:8080/TCP
y/c -> x/web:8080/TCP
*** Results: 0% dropped (3/3 received)
`);
    } finally {
      c.close();
    }
  });

  it('SCTP through a Service: kube-proxy DNATs the INIT (port 8080 -> 80, CRC32c recomputed) and un-DNATs the INIT ACK', () => {
    const c = new Cluster(topology(TWO_NODES.replace("ports: [ { port: 8080, targetPort: 80 } ] }", "ports: [ { port: 8080, targetPort: 80 }, { name: sctp, port: 9090, targetPort: 80, protocol: SCTP } ] }").replace("ports: [ { port: 8080, targetPort: 80 },", "ports: [ { name: tcp, port: 8080, targetPort: 80 },")));
    try {
      const r = probeCluster(c, { protocols: ['SCTP'], ports: [80], services: true });
      const sctp = r.services.filter((p) => p.protocol === 'SCTP');
      expect(sctp.map((p) => [p.from, p.to, p.port, p.allowed, p.reason])).toEqual([
        ['x/a', 'x/web', 9090, true, 'INIT ACK'], ['x/b', 'x/web', 9090, true, 'INIT ACK'], ['y/c', 'x/web', 9090, true, 'INIT ACK'],
      ]);
      const t = c.services.conntrack.get('node2')!;
      const rows = t.entries(c.engine.now(), { proto: 132, dport: 9090 });
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((e) => e.proto === 'sctp' && e.reply.sport === 80 && e.flags.includes('SEEN_REPLY') && e.nat.includes('dnat'))).toBe(true);
    } finally {
      c.close();
    }
  });

  it('--to addresses are extra columns (a node answers ping; an address nobody has does not)', () => {
    const c = new Cluster(topology(TWO_NODES));
    try {
      const r = probeCluster(c, { protocols: ['ICMP'], targets: ['192.168.56.11', '10.244.1.99'], pods: ['x/a', 'y/c'] });
      expect(r.to).toEqual(['x/a', 'y/c', '192.168.56.11', '10.244.1.99']);
      expect(renderProbeMatrix(r)).toBe(`+-----+-----+-----+---------------+-------------+
|     | X/A | Y/C | 192.168.56.11 | 10.244.1.99 |
+-----+-----+-----+---------------+-------------+
| x/a | .   | .   | .             | X           |
| y/c | .   | .   | .             | X           |
+-----+-----+-----+---------------+-------------+
`);
      expect(r.probes.find((p) => p.from === 'x/a' && p.to === '10.244.1.99')!.reason).toMatch(/^(ICMP host unreachable|dropped: neighbor-unreachable|no answer)/);
    } finally {
      c.close();
    }
  });
});
