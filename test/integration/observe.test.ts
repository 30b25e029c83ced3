/**
 * Seeing the cluster: `podwire inspect` (a topology file and a running API, text and JSON,
 * --node, usage errors), the inspect document's shape (what the web UI draws from), and the
 * flow log: `GET /flows` with its filters, the server-sent event stream (`?follow=true`),
 * `podwire observe` (text, --json, --follow, usage errors naming flag and value), a dropped
 * flow with its reason, and `podwire demo --observe`.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type StartedApi } from '../../src/api/server.js';
import type { FlowEvent } from '../../src/control/flows.js';
import type { InspectView } from '../../src/control/inspect.js';
import { demoController, runCli, until, type Harness } from './helpers.js';

const DEMO = 'examples/demo.yaml';

describe('podwire inspect TOPOLOGY', () => {
  it('--json: every node with its namespaces, interfaces and peers, bridge, routes, VTEP; pods; services with endpoints', async () => {
    const r = await runCli('inspect', DEMO, '--json');
    expect(r.code, r.err).toBe(0);
    const v = JSON.parse(r.out) as InspectView;
    expect(v.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    const n1 = v.nodes[0]!;
    expect(n1.namespaces.map((ns) => ns.name)).toEqual(['root', 'pod1', 'pod2', 'kube-dns-1.kube-system']);
    const root = n1.namespaces[0]!;
    const byName = (ns: typeof root, name: string) => ns.interfaces.find((i) => i.name === name)!;
    expect(byName(root, 'cbr0')).toMatchObject({ kind: 'bridge', addresses: ['10.244.1.1/24'], mtu: 1450, peer: null, mac: '02:42:0a:f4:01:01' });
    expect(byName(root, 'flannel.1')).toMatchObject({ kind: 'vxlan', addresses: ['10.244.1.0/32'] });
    expect(byName(root, 'eth0')).toMatchObject({ kind: 'ether', addresses: ['192.168.56.11/24'], mtu: 1500 });
    expect(byName(root, 'lo')).toMatchObject({ kind: 'lo', ifindex: 1, addresses: ['127.0.0.1/8'] });
    expect(byName(root, 'veth0')).toMatchObject({ kind: 'veth', ifindex: null, peer: { namespace: 'pod1', name: 'eth0' }, master: 'cbr0' });
    const pod1 = n1.namespaces[1]!;
    expect(pod1).toMatchObject({ kind: 'pod', pod: 'pod1', attached: false });
    expect(byName(pod1, 'eth0')).toMatchObject({ kind: 'veth', addresses: ['10.244.1.2/24'], peer: { namespace: 'root', name: 'veth0' } });
    expect(pod1.routes.map((x) => x.text)).toEqual(['default via 10.244.1.1 dev eth0', '10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2']);
    expect(pod1.routes[0]).toEqual({ dst: 'default', via: '10.244.1.1', dev: 'eth0', text: 'default via 10.244.1.1 dev eth0' });
    expect(n1.routes).toContainEqual({ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', text: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink' });
    expect(n1.bridges).toEqual([{
      name: 'cbr0', fdb: [],
      ports: [
        { name: 'cbr0', hairpin: false, local: true, up: true }, { name: 'veth0', hairpin: true, local: false, up: true },
        { name: 'veth1', hairpin: true, local: false, up: true }, { name: 'veth2', hairpin: true, local: false, up: true },
      ],
    }]);
    expect(n1.vtep).toEqual({ name: 'flannel.1', vni: 1, localIp: '192.168.56.11', mac: '02:58:c0:a8:38:0b', port: 8472, mtu: 1450, fdb: [{ mac: '02:58:c0:a8:38:0c', dst: '192.168.56.12' }] });
    expect(v.pods.find((p) => p.name === 'pod3')).toEqual({
      name: 'pod3', namespace: 'default', key: 'pod3', node: 'node2', ip: '10.244.2.2', mac: '02:42:0a:f4:02:02', veth: 'veth0', labels: { app: 'web' }, emulated: true, attached: false,
    });
    expect(v.services.find((s) => s.name === 'service1')).toEqual({
      name: 'service1', namespace: 'default', type: 'ClusterIP', clusterIP: '10.96.0.2',
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: null }],
      // ports: each endpoint's own port per service port (a named targetPort resolves per pod).
      endpoints: [{ pod: 'pod2', ip: '10.244.1.3', node: 'node1', ports: [8080] }, { pod: 'pod3', ip: '10.244.2.2', node: 'node2', ports: [8080] }],
    });
  });

  it('an attached pod (a real namespace, TAP) and an external node are listed as such', async () => {
    const { clusterFromTopology } = await import('../../src/control/load.js');
    const { inspectView } = await import('../../src/control/inspect.js');
    const c = clusterFromTopology(`
nodes: [{ name: node1 }, { name: node2, external: true, vtepIP: 192.168.56.200, vtepMAC: "02:58:00:00:00:c8", podCIDR: 10.244.2.0/24 }]
pods: [{ name: real, node: node1, attach: { netns: pw-inspect-x } }, { name: far, node: node2 }]
`);
    try {
      const plan = c.plan.pods.find((p) => p.name === 'real')!;
      // What attachPod (src/io/attach.ts) leaves behind, without root: the pod's runtime entry.
      c.attached.set('real', { plan, port: c.underlay, close: () => undefined });
      const v = inspectView(c);
      const [n1, n2] = v.nodes;
      expect(n2).toMatchObject({ name: 'node2', emulated: false, namespaces: [], bridges: [], vtep: null });
      expect(n1!.namespaces.map((ns) => [ns.name, ns.attached])).toEqual([['root', false], ['real', true], ['kube-dns-1.kube-system', false]]);
      expect(n1!.namespaces[1]!.interfaces).toEqual([{
        name: 'eth0', ifindex: null, mac: expect.any(String), addresses: ['10.244.1.2/24'], mtu: 1450, up: true, peer: { namespace: 'root', name: 'veth0' }, kind: 'tap', master: null,
      }]);
      expect(n1!.namespaces[0]!.interfaces.find((i) => i.name === 'veth0')).toMatchObject({ kind: 'tap', peer: { namespace: 'real', name: 'eth0' }, master: 'cbr0' });
      expect(n1!.vtep!.fdb).toEqual([{ mac: '02:58:00:00:00:c8', dst: '192.168.56.200' }]);
      expect(v.pods.map((p) => [p.name, p.emulated, p.attached])).toEqual([['real', false, true], ['far', false, false], ['kube-dns-1', true, false]]);
    } finally {
      c.attached.clear();
      c.close();
    }
  });

  it('prints ip -br addr, ip route and bridge fdb shaped blocks per namespace, then pods and services', async () => {
    const r = await runCli('inspect', DEMO);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines).toContain('node node1 (192.168.56.11, podCIDR 10.244.1.0/24)');
    expect(lines).toContain('eth0@veth0 UP 10.244.1.2/24 02:42:0a:f4:01:02 mtu 1450');
    expect(lines).toContain('veth0@pod1 UP - 02:ee:0a:f4:01:02 mtu 1450 master cbr0');
    expect(lines).toContain('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
    expect(lines).toContain('02:58:c0:a8:38:0c dev flannel.1 dst 192.168.56.12 self permanent');
    expect(lines).toContain('service1 default ClusterIP 10.96.0.2 80/TCP pod2(10.244.1.3:8080),pod3(10.244.2.2:8080)');
  });

  it('--node lists one node and its pods; an unknown node is an error naming it and the nodes there are', async () => {
    const v = JSON.parse((await runCli('inspect', DEMO, '--node', 'node2', '--json')).out) as InspectView;
    expect(v.node).toBe('node2');
    expect(v.nodes.map((n) => n.name)).toEqual(['node2']);
    expect(v.pods.map((p) => p.name)).toEqual(['pod3']);
    const bad = await runCli('inspect', DEMO, '--node', 'node9');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/node "node9" not found \(have node1, node2\)/);
  });

  it('usage errors name the flag and value (exit 2)', async () => {
    const saved = process.env['PODWIRE_API'];
    delete process.env['PODWIRE_API'];
    try {
      const cases: [string[], RegExp][] = [
        [['inspect'], /missing TOPOLOGY or --api URL/],
        [['inspect', DEMO, '--api', 'http://127.0.0.1:1'], /give TOPOLOGY or --api URL, not both/],
        [['inspect', DEMO, '--node', 'node1', '--node', 'node2'], /--node is given more than once \("node1" and "node2"\)/],
        [['inspect', DEMO, '--token', 'secret-token'], /--token goes with --api URL/],
        [['inspect', DEMO, 'extra'], /unexpected argument "extra"/],
        [['observe', '--verdict', 'maybe'], /--verdict "maybe" must be forwarded or dropped/],
        [['observe', '--protocol', 'sctp'], /--protocol "sctp" must be TCP, UDP or ICMP/],
        [['observe', '--last', 'ten'], /--last "ten" must be an integer from 0 to 4096/],
        [['observe', '--count', '3'], /--count N goes with --follow/],
        [['observe', '--follow', '--count', '0'], /--count "0" must be an integer from 1/],
        [['observe', '--pod', 'pod1', '--pod', 'pod2'], /--pod is given more than once \("pod1" and "pod2"\)/],
        [['observe', 'pod1'], /unexpected argument "pod1"/],
      ];
      for (const [argv, msg] of cases) {
        const r = await runCli(...argv);
        expect(r.code, argv.join(' ')).toBe(2);
        expect(r.err, argv.join(' ')).toMatch(msg);
      }
    } finally {
      if (saved !== undefined) process.env['PODWIRE_API'] = saved;
    }
  });

  it('validate says valid and points at inspect', async () => {
    const r = await runCli('validate', DEMO);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/: valid \(.*\); list what it allocates: podwire inspect examples\/demo\.yaml$/);
  });
});

describe('the flow tap', () => {
  it('is off in an in-process cluster, on while a Controller (podwire up) holds one, off again after close', async () => {
    const h = await demoController();
    const { loadCluster, examplePath } = await import('../../src/control/load.js');
    const plain = await loadCluster(examplePath('demo.yaml'));
    try {
      expect(plain.engine.flowTap).toBeNull();
      expect(h.cluster.engine.flowTap).toBe(h.ctl.flows);
    } finally {
      plain.close();
      await h.done();
    }
    expect(h.cluster.engine.flowTap).toBeNull();
  });
});

describe('the flow ring', () => {
  it('keeps the last `capacity` events with their ids; non-IP drops (ARP) are not flows', async () => {
    const { loadCluster, examplePath } = await import('../../src/control/load.js');
    const { FlowLog } = await import('../../src/control/flows.js');
    const c = await loadCluster(examplePath('demo.yaml'));
    try {
      const f = new FlowLog(c, 3);
      const p = c.engine.pool.alloc()!;
      const b = p.buf;
      const s = p.start;
      p.end = s + 54;
      b.fill(0, s, p.end);
      b.writeUInt16BE(0x0800, s + 12);
      b[s + 14] = 0x45;
      b[s + 23] = 17; // UDP
      b.writeUInt32BE(0x0af40102, s + 26); // pod1
      b.writeUInt32BE(0x0af40202, s + 30); // pod3
      b.writeUInt16BE(53, s + 36);
      for (let i = 0; i < 5; i++) {
        b.writeUInt16BE(1000 + i, s + 34);
        f.dropped(p, { node: 'node1', netns: 'root', device: 'eth0' }, 'ttl-exceeded');
      }
      b.writeUInt16BE(0x0806, s + 12); // ARP
      f.dropped(p, { node: 'node1', netns: 'root', device: 'eth0' }, 'arp-not-for-us');
      c.engine.pool.free(p);
      expect(f.total).toBe(5);
      expect(f.recent().map((e) => [e.id, e.source.port, e.source.pod, e.destination.pod, e.dropReason])).toEqual([
        [3, 1002, 'pod1', 'pod3', 'ttl-exceeded'], [4, 1003, 'pod1', 'pod3', 'ttl-exceeded'], [5, 1004, 'pod1', 'pod3', 'ttl-exceeded'],
      ]);
      expect(f.recent({}, 1).map((e) => e.id)).toEqual([5]);
    } finally {
      c.close();
    }
  });
});

describe('podwire demo --observe', () => {
  it('prints each journey\'s flows; with --json a flows list per journey', async () => {
    const r = await runCli('demo', '--observe', '--json', '--out', (await import('node:os')).tmpdir() + '/podwire-inspect-demo');
    expect(r.code, r.err).toBe(0);
    const d = JSON.parse(r.out) as { journeys: { name: string; flows: FlowEvent[] }[] };
    const j1 = d.journeys[0]!.flows;
    expect(j1.map((f) => [f.node, f.source.pod, f.destination.pod, f.protocol, f.verdict, f.summary, f.isReply])).toEqual([
      ['node1', 'pod1', 'pod2', 'ICMP', 'forwarded', 'ICMPv4 EchoRequest', false],
      ['node1', 'pod2', 'pod1', 'ICMP', 'forwarded', 'ICMPv4 EchoReply', true],
    ]);
    const svc = d.journeys[2]!.flows;
    expect(svc[0]).toMatchObject({
      node: 'node1', protocol: 'TCP', tcpFlags: 'SYN', verdict: 'forwarded',
      source: { pod: 'pod1', namespace: 'default', ip: '10.244.1.2' }, destination: { pod: 'pod3', ip: '10.244.2.2', port: 8080, service: 'default/service1' },
    });
    expect(svc.map((f) => f.tcpFlags)).toEqual(['SYN', 'SYN', 'SYN,ACK', 'SYN,ACK', 'RST', 'RST']);
    // The overlay's own VXLAN datagrams are not flows.
    expect(svc.every((f) => f.destination.port !== 8472)).toBe(true);
    const text = await runCli('demo', '--observe', '--out', (await import('node:os')).tmpdir() + '/podwire-inspect-demo');
    expect(text.out).toMatch(/\[node1\]: default\/pod1:\d+ \(10\.244\.1\.2\) -> default\/pod3:8080 \(10\.244\.2\.2\) service default\/service1 FORWARDED \(TCP Flags: SYN\)/);
  });
});

describe('a running podwire: GET /inspect, GET /flows, SSE, podwire observe', () => {
  let h: Harness;
  let api: StartedApi;
  const get = async (path: string): Promise<Response> => fetch(`${api.url}${path}`);
  const post = async (path: string, body: unknown): Promise<Response> => fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    h = await demoController();
    api = await startApi(h.ctl, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await h.done();
    await api.close();
  });

  it('GET /inspect answers the inspect document; ?node= filters; bad values are 400/404 naming the field', async () => {
    const v = await (await get('/inspect')).json() as InspectView;
    expect(v.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    expect((await (await get('/inspect?node=node1')).json() as InspectView).nodes.map((n) => n.name)).toEqual(['node1']);
    const nf = await get('/inspect?node=node9');
    expect(nf.status).toBe(404);
    expect(await nf.json()).toMatchObject({ field: '/node', value: 'node9', in: 'query' });
    const bad = await get('/inspect?nodes=node1');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: '/nodes', in: 'query' });
    const cli = await runCli('inspect', '--api', api.url, '--node', 'node2');
    expect(cli.code, cli.err).toBe(0);
    expect(cli.out).toMatch(/^node node2 \(192\.168\.56\.12, podCIDR 10\.244\.2\.0\/24\)$/m);
    // A running cluster's bridge has learned the MACs its traffic came from.
    expect((await post('/trace', { from: 'pod1', to: 'pod2' })).status).toBe(200);
    const after = await (await get('/inspect?node=node1')).json() as InspectView;
    expect(after.nodes[0]!.bridges[0]!.fdb.map((e) => e.port)).toEqual(expect.arrayContaining(['veth0', 'veth1']));
  });

  it('streams flow events as server-sent events; a dropped flow carries its reason', async () => {
    const ac = new AbortController();
    const res = await fetch(`${api.url}/flows?follow=true`, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: FlowEvent[] = [];
    const raw: string[] = [];
    const reading = (async () => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          raw.push(block);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data !== undefined) events.push(JSON.parse(data.slice(6)) as FlowEvent);
        }
      }
    })();
    try {
      await until('the SSE stream to subscribe', () => h.ctl.flows.watchers === 1);
      expect((await post('/trace', { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 })).status).toBe(200);
      await until('a SYN to service1', () => events.some((e) => e.tcpFlags === 'SYN' && e.destination.service === 'default/service1'));
      const syn = events.find((e) => e.tcpFlags === 'SYN')!;
      expect(syn).toMatchObject({ node: 'node1', protocol: 'TCP', verdict: 'forwarded', source: { pod: 'pod1' } });
      expect(new Date(syn.time).toISOString()).toBe(syn.time);
      expect(raw.find((b) => b.includes('"tcpFlags":"SYN"'))).toMatch(/^id: \d+\ndata: \{/);
      // A service without endpoints: kube-proxy REJECTs, the flow is dropped as no-endpoints.
      expect((await post('/services', { name: 'empty', selector: { app: 'nobody' }, ports: [{ port: 80, targetPort: 8080 }] })).status).toBe(201);
      expect((await post('/trace', { from: 'pod1', to: 'empty', proto: 'tcp', port: 80 })).status).toBe(200);
      await until('the dropped flow', () => events.some((e) => e.verdict === 'dropped'));
      expect(events.find((e) => e.verdict === 'dropped')).toMatchObject({
        node: 'node1', protocol: 'TCP', tcpFlags: 'SYN', dropReason: 'no-endpoints',
        source: { pod: 'pod1' }, destination: { ip: '10.96.0.3', port: 80, service: 'default/empty' },
        summary: 'TCP dropped: no-endpoints (TCP Flags: SYN)',
      });
      // Refused before conntrack confirmed anything: the flow is only a drop, never "forwarded".
      expect(events.filter((e) => e.destination.service === 'default/empty').map((e) => e.verdict)).toEqual(['dropped']);
    } finally {
      ac.abort();
      await reading;
    }
    await until('the stream to unsubscribe', () => h.ctl.flows.watchers === 0);
  });

  it('GET /flows filters by verdict, pod, service and protocol; bad values are 400 naming the field', async () => {
    const q = async (qs: string) => (await (await get(`/flows${qs}`)).json() as { events: FlowEvent[] }).events;
    const dropped = await q('?verdict=dropped');
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((e) => e.verdict === 'dropped' && e.dropReason !== undefined)).toBe(true);
    expect((await q('?service=service1')).every((e) => e.destination.service === 'default/service1')).toBe(true);
    expect((await q('?service=default/empty')).length).toBeGreaterThan(0);
    expect((await q('?pod=pod2')).every((e) => e.source.pod === 'pod2' || e.destination.pod === 'pod2')).toBe(true);
    expect((await q('?protocol=icmp')).every((e) => e.protocol === 'ICMP')).toBe(true);
    expect((await q('?protocol=ICMP')).length).toBe((await q('?protocol=icmp')).length);
    expect((await q('?limit=1')).length).toBe(1);
    // The answers match the schemas the OpenAPI document gives for them (what the web UI builds on).
    const doc = await (await get('/openapi.json')).json() as { paths: Record<string, { get: { responses: { 200: { content: Record<string, { schema: object }> } } } }> };
    const schemaOf = (path: string) => doc.paths[`/api/v1${path}`]!.get.responses[200].content['application/json']!.schema;
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    for (const [path, url] of [['/inspect', '/inspect'], ['/flows', '/flows']] as const) {
      const check = ajv.compile(schemaOf(path));
      const body: unknown = await (await get(url)).json();
      expect(check(body), `${path}: ${JSON.stringify(check.errors)}`).toBe(true);
    }
    const bad = await get('/flows?verdict=maybe');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: '/verdict', value: 'maybe', in: 'query' });
    const badPod = await get('/flows?pod=Pod1');
    expect(badPod.status).toBe(400);
    expect(await badPod.json()).toMatchObject({ field: '/pod', value: 'Pod1', in: 'query', error: expect.stringMatching(/"Pod1" is not a pod or service name/) });
    expect((await q('?pod=default/pod1')).length).toBe((await q('?pod=pod1')).length);
  });

  it('podwire observe prints the flows, filters, --json lines, --follow until --count', async () => {
    const r = await runCli('observe', '--api', api.url, '--verdict', 'dropped');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[node1\]: default\/pod1:\d+ \(10\.244\.1\.2\) -> 10\.96\.0\.3:80 service default\/empty DROPPED \(no-endpoints\) \(TCP Flags: SYN\)$/m);
    const j = await runCli('observe', '--api', api.url, '--service', 'empty', '--json');
    const lines = j.out.split('\n').map((l) => JSON.parse(l) as FlowEvent);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((e) => e.destination.service === 'default/empty')).toBe(true);
    // --follow: the last kept event first, then it waits for a new one.
    const out: string[] = [];
    const { main } = await import('../../src/cli/main.js');
    const following = main(['observe', '--api', api.url, '--follow', '--last', '1', '--count', '2', '--protocol', 'icmp', '--json'], { out: (s) => out.push(s), err: () => undefined, isTTY: false });
    await until('observe --follow to subscribe', () => h.ctl.flows.watchers === 1);
    expect((await post('/trace', { from: 'pod2', to: 'pod3' })).status).toBe(200);
    expect(await following).toBe(0);
    const got = out.map((l) => JSON.parse(l) as FlowEvent);
    expect(got.length).toBe(2);
    expect(got[1]).toMatchObject({ protocol: 'ICMP', source: { pod: 'pod2' }, destination: { pod: 'pod3' }, summary: 'ICMPv4 EchoRequest' });
    expect(got[0]!.id).toBeLessThan(got[1]!.id);
  });
});
