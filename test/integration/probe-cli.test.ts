/**
 * `podwire probe` and `podwire netpol diff` through `main(argv, io)` and `POST /probe`: the
 * shapes (pingall without policies, Cyclonus' matrix with), JSON, the diff of a policy
 * change, and usage errors that name the flag and the value.
 */
import { describe, expect, it } from 'vitest';
import { demoApi, runCli } from './helpers.js';

const MODEL = 'examples/netpol/model.yaml';
const DENY_OTHER_NS = 'test/golden/netpol-probe/deny-ingress-from-other-namespaces/topology.yaml';
const DEMO = 'examples/demo.yaml';

describe('podwire probe (CLI)', () => {
  it('a cluster without policies gets the pingall shape: every pod, then every service port', async () => {
    const r = await runCli('probe', DEMO);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe([
      '*** Ping: testing reachability between 3 pods',
      'default/pod1 -> default/pod2 default/pod3',
      'default/pod2 -> default/pod1 default/pod3',
      'default/pod3 -> default/pod1 default/pod2',
      '*** Results: 0% dropped (6/6 received)',
      '*** Services: testing 1 service port from every pod',
      'default/pod1 -> default/service1:80/TCP',
      'default/pod2 -> default/service1:80/TCP',
      'default/pod3 -> default/service1:80/TCP',
      '*** Results: 0% dropped (3/3 received)',
    ].join('\n'));
  });

  it('--json on the x/y/z model: 81 pairs x 2 ports x 3 protocols, each with a reason', async () => {
    const r = await runCli('probe', MODEL, '--matrix', '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { probes: { from: string; to: string; port: number; protocol: string; allowed: boolean; reason: string }[] };
    expect(j.probes).toHaveLength(486);
    expect(j.probes[0]).toEqual({ from: 'x/a', to: 'x/a', port: 80, protocol: 'TCP', allowed: true, reason: 'SYN-ACK' });
    expect(j.probes.every((p) => p.allowed)).toBe(true);
    expect(new Set(j.probes.map((p) => p.reason))).toEqual(new Set(['SYN-ACK', 'UDP reply', 'INIT ACK']));
  });

  it('with a policy: the matrix, and a denied probe names the policy', async () => {
    const r = await runCli('probe', DENY_OTHER_NS, '--ports', '81', '--protocols', 'sctp', '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { probes: { from: string; to: string; allowed: boolean; reason: string }[] };
    const p = j.probes.find((q) => q.from === 'y/a' && q.to === 'x/b')!;
    expect(p.allowed).toBe(false);
    expect(p.reason).toContain('policy-denied');
    expect(p.reason).toContain('x/deny-empty-policy');
    const text = await runCli('probe', DENY_OTHER_NS, '--ports', '80,81', '--protocols', 'tcp,udp,sctp');
    expect(text.out.split('\n').slice(0, 8)).toEqual([
      '+---------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+',
      '| SCTP/80 |     X/A     |     X/B     |     X/C     |     Y/A     |     Y/B     |     Y/C     |     Z/A     |     Z/B     |     Z/C     |',
      '| SCTP/81 |             |             |             |             |             |             |             |             |             |',
      '| TCP/80  |             |             |             |             |             |             |             |             |             |',
      '| TCP/81  |             |             |             |             |             |             |             |             |             |',
      '| UDP/80  |             |             |             |             |             |             |             |             |             |',
      '| UDP/81  |             |             |             |             |             |             |             |             |             |',
      '+---------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+-------------+',
    ]);
    expect(text.out).toContain('| y/a     | X X X X X X | X X X X X X | X X X X X X | . . . . . . |');
  });

  it('usage errors name the flag and the value', async () => {
    const cases: [string[], RegExp][] = [
      [['probe', MODEL, '--ports', '80,x'], /--ports "80,x": "x" is not a port/],
      [['probe', MODEL, '--ports', '0'], /--ports "0": "0" is not a port/],
      [['probe', MODEL, '--ports', '70000'], /--ports "70000": "70000" is not a port/],
      [['probe', MODEL, '--ports', '80,'], /--ports "80," has an empty item/],
      [['probe', MODEL, '--protocols', 'tcp,quic'], /--protocols "tcp,quic": unknown protocol "quic"/],
      [['probe', MODEL, '--to', '10.0.0'], /--to "10.0.0": "10.0.0" is not an IPv4 address/],
      [['probe', MODEL, '--pingall', '--matrix'], /--pingall or --matrix, not both/],
      [['probe'], /missing TOPOLOGY or --api URL/],
      [['probe', MODEL, '--api', 'http://127.0.0.1:1'], /not both/],
      [['netpol'], /missing subcommand/],
      [['netpol', 'explain'], /unknown subcommand "explain"/],
      [['netpol', 'diff', MODEL], /missing BEFORE or AFTER/],
      [['netpol', 'diff', MODEL, MODEL, '--protocols', 'icmpv6'], /netpol diff: --protocols "icmpv6": unknown protocol "icmpv6"/],
      [['netpol', 'diff', MODEL, MODEL, '--ports', 'http'], /netpol diff: --ports "http": "http" is not a port/],
    ];
    for (const [argv, re] of cases) {
      const r = await runCli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(re);
    }
  });
});

describe('podwire netpol diff', () => {
  it('lists the connections a policy change closes (and nothing opened), exit 1', async () => {
    const r = await runCli('netpol', 'diff', MODEL, DENY_OTHER_NS, '--ports', '80', '--protocols', 'tcp');
    expect(r.code, r.err).toBe(1);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('closed (18):');
    expect(lines[1]).toMatch(/^- y\/a -> x\/a TCP\/80 {2}\(dropped: policy-denied at node1\/root\/netpol; .*ingress of x\/a isolated by x\/deny-empty-policy/);
    expect(lines.at(-1)).toBe('0 opened, 18 closed, 63 unchanged of 81 connections');
    const back = await runCli('netpol', 'diff', DENY_OTHER_NS, MODEL, '--ports', '80', '--protocols', 'tcp', '--json');
    const j = JSON.parse(back.out) as { opened: unknown[]; closed: unknown[]; compared: number };
    expect([j.opened.length, j.closed.length, j.compared]).toEqual([18, 0, 81]);
    expect((await runCli('netpol', 'diff', MODEL, MODEL, '--ports', '80', '--protocols', 'tcp')).code).toBe(0);
  });
});

describe('POST /probe', () => {
  const api = demoApi();
  it('probes the running cluster: pingall shape with the services', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/probe', payload: { shape: 'auto' } });
    expect(res.statusCode, res.body).toBe(200);
    const j = res.json() as { shape: string; probes: { protocol: string; allowed: boolean }[]; services: { to: string; allowed: boolean }[] };
    expect(j.shape).toBe('pingall');
    expect(j.probes).toHaveLength(9);
    expect(j.probes.every((p) => p.protocol === 'ICMP' && p.allowed)).toBe(true);
    expect(j.services.map((s) => [s.to, s.allowed])).toEqual([['default/service1', true], ['default/service1', true], ['default/service1', true]]);
  });
  it('refuses a bad body naming the field', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/api/v1/probe', payload: { ports: [0] } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: '/ports/0', value: 0 });
    const r2 = await api.app.inject({ method: 'POST', url: '/api/v1/probe', payload: { protocols: ['quic'] } });
    expect(r2.statusCode).toBe(400);
    expect(r2.json()).toMatchObject({ field: '/protocols/0', value: 'quic' });
  });
});

describe('probe in wall time (a running podwire up)', () => {
  it('each round drains and waits for answers, then collects', async () => {
    const { demoController } = await import('./helpers.js');
    const { probeBodyOn } = await import('../../src/control/probe.js');
    const h = await demoController({ wallClock: true });
    try {
      const r = await h.ctl.mutate(() => probeBodyOn(h.cluster, { ports: [8080], protocols: ['tcp'] }));
      const pod2 = r.probes.filter((p) => p.to === 'default/pod2');
      expect(pod2.map((p) => [p.from, p.allowed])).toEqual([['default/pod1', true], ['default/pod2', true], ['default/pod3', true]]);
      expect(r.probes.find((p) => p.from === 'default/pod3' && p.to === 'default/pod1')).toMatchObject({ allowed: false, reason: 'RST from 10.244.1.2:8080' });
    } finally {
      await h.done();
    }
  });
});
