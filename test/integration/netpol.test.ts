/**
 * NetworkPolicy in the dataplane (src/kube/netpol/filter.ts): a two-node cluster with
 * namespaces x and y, policies changed at run time. Pod-to-pod across nodes (routed), on one
 * node (bridged, br_netfilter), through a Service (the policy sees the backend), replies of
 * allowed connections, established flows when a refusing policy arrives, the `policy` trace
 * hop with its reason, and `policy-denied` counted per policy in the stats.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startApi } from '../../src/api/server.js';
import { TcpConnection, TcpListener } from '../../src/apps/tcp.js';
import { main } from '../../src/cli/main.js';
import { Controller } from '../../src/control/controller.js';
import { statsView } from '../../src/control/views.js';
import type { Cluster } from '../../src/kube/cluster.js';
import { runTrace, type Journey } from '../../src/kube/trace.js';
import type { NetNamespace } from '../../src/net/netns.js';
import { formatIpv4, writeU16, writeU32 } from '../../src/wire/addr.js';
import { checksum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { fillSctpChecksum } from '../../src/wire/sctp.js';
import { newCluster, topology } from './cluster-util.js';

const YAML = `
cluster: { name: np, overlay: vxlan, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 } ]
namespaces:
  - { name: x, labels: { ns: x } }
  - { name: y, labels: { ns: y } }
pods:
  - { name: a, namespace: x, node: node1, labels: { pod: a }, apps: [ { type: http, port: 80 }, { type: udp-echo, port: 7 } ] }
  - { name: b, namespace: y, node: node2, labels: { pod: b }, apps: [ { type: http, port: 80 }, { type: udp-echo, port: 7 } ], ports: [ { name: http, containerPort: 80 } ] }
  - { name: c, namespace: y, node: node1, labels: { pod: c }, apps: [ { type: http, port: 80 }, { type: udp-echo, port: 7 } ] }
services:
  - { name: web, namespace: y, selector: { pod: b }, ports: [ { port: 8080, targetPort: 80 } ] }
`;

const DENY_Y = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-all', namespace: 'y' }, spec: { podSelector: {} } };
const ALLOW_X = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-from-x', namespace: 'y' },
  spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'nobody' } } }, { namespaceSelector: { matchLabels: { ns: 'x' } } }], ports: [{ port: 'http' }, { port: 7, protocol: 'UDP' }] }] },
};

const policyHops = (j: Journey | null): Record<string, unknown>[] => (j?.hops ?? []).filter((h) => h.action === 'policy').map((h) => ({ node: h.node, ...h.detail }));

function applyOk(c: Cluster, ...p: unknown[]): void {
  const r = c.netpol.apply(p);
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

/** One UDP datagram from a fixed source port; the echoes that came back within 2 s. */
function udp(c: Cluster, ns: NetNamespace, dst: number, sport: number, port = 7): number {
  let got = 0;
  ns.bind(17, sport, (p) => { got++; ns.free(p); });
  const p = ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  const src = ns.sourceFor(dst);
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, 32); writeU16(b, s + 4, 1); writeU16(b, s + 6, 0x4000);
  b[s + 8] = 64; b[s + 9] = 17; writeU16(b, s + 10, 0);
  writeU32(b, s + 12, src); writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  writeU16(b, s + 20, sport); writeU16(b, s + 22, port); writeU16(b, s + 24, 12); writeU16(b, s + 26, 0);
  b.write('ping', s + 28);
  const ck = checksum(b, s + 20, 12, pseudoHeaderSum(src, dst, 17, 12));
  writeU16(b, s + 26, ck === 0 ? 0xffff : ck);
  p.end = s + 32;
  ns.output(p);
  c.engine.advance(2000);
  ns.unbind(17, sport);
  return got;
}

describe('NetworkPolicy in the dataplane', () => {
  it('default-deny at run time drops new connections (routed, bridged, through a Service); an allow policy opens them again', () => {
    const c = newCluster(topology(YAML));
    try {
      const tcp = (to: string): ReturnType<typeof runTrace> => runTrace(c, { from: 'a.x', to, proto: 'tcp', port: to === 'web.y' ? 8080 : 80 });
      // No policy: everything passes, and no policy hop is recorded.
      const open = tcp('b.y');
      expect(open.request.delivered).toBe(true);
      expect(policyHops(open.request)).toEqual([]);

      applyOk(c, DENY_Y);
      for (const to of ['b.y', 'c.y', 'web.y']) {
        const t = tcp(to);
        expect(t.request.delivered, to).toBe(false);
        expect(t.request.dropReason, to).toBe('policy-denied');
      }
      const routed = tcp('b.y');
      // node1 checks x/a's egress, node2 y/b's ingress and drops.
      expect(policyHops(routed.request)).toEqual([
        { node: 'node1', verdict: 'allowed', reason: 'egress of x/a not isolated' },
        { node: 'node2', verdict: 'denied', reason: 'ingress of y/b isolated by y/deny-all; denied: no rule allows TCP/80 from x/a', ingress: { isolated: true, policies: ['y/deny-all'], allowed: false } },
      ]);
      // Same node: the bridge's br_netfilter path, one check for both sides.
      expect(policyHops(tcp('c.y').request).map((h) => h['reason'])).toEqual([
        'egress of x/a not isolated; ingress of y/c isolated by y/deny-all; denied: no rule allows TCP/80 from x/a',
      ]);
      // Through the Service: after DNAT the policy sees the backend y/b and its port 80.
      expect(policyHops(tcp('web.y').request).at(-1)?.['reason']).toBe('ingress of y/b isolated by y/deny-all; denied: no rule allows TCP/80 from x/a');

      const s = statsView(c) as { dropReasons: Record<string, number>; networkPolicies: { policies: number; deniedBy: Record<string, number> } };
      expect(s.dropReasons['policy-denied']).toBe(6);
      expect(s.networkPolicies).toEqual({ policies: 1, deniedBy: { 'y/deny-all': 6 } });

      applyOk(c, ALLOW_X);
      for (const to of ['b.y', 'web.y']) expect(tcp(to).request.delivered, to).toBe(true);
      expect(policyHops(tcp('b.y').request).at(-1)).toMatchObject({
        node: 'node2', verdict: 'allowed',
        reason: 'ingress of y/b isolated by y/deny-all, y/allow-from-x; allowed by y/allow-from-x rule 0 peer 1',
      });
      // The named port `http` is y/b's container port 80; y/c has no port of that name: still denied on TCP 80.
      expect(tcp('c.y').request.dropReason).toBe('policy-denied');
      expect(udp(c, c.pod('a.x').ns, c.pod('c.y').plan.ip, 40000)).toBe(1);
    } finally {
      c.close();
    }
  });

  it('stateful: replies of allowed connections pass; a flow that started before a refusing policy keeps going, a new one is refused', () => {
    const c = newCluster(topology(YAML));
    try {
      const a = c.pod('a.x').ns;
      const b = c.pod('b.y').plan.ip;
      // y's pods may not start connections (egress deny-all), but answer x/a's.
      applyOk(c, { metadata: { name: 'no-egress', namespace: 'y' }, spec: { podSelector: {}, policyTypes: ['Egress'] } });
      const t = runTrace(c, { from: 'a.x', to: 'b.y', proto: 'tcp', port: 80 });
      expect(t.request.delivered).toBe(true);
      expect(t.reply?.delivered).toBe(true);
      expect(policyHops(t.reply)).toEqual([]); // a reply is not checked
      const back = runTrace(c, { from: 'b.y', to: 'a.x', proto: 'tcp', port: 80 });
      expect(back.request.dropReason).toBe('policy-denied');
      expect(policyHops(back.request)[0]?.['reason']).toBe('egress of y/b isolated by y/no-egress; denied: no rule allows TCP/80 to x/a');

      expect(udp(c, a, b, 41000)).toBe(1); // the flow is established (conntrack entry confirmed)
      applyOk(c, DENY_Y);
      expect(udp(c, a, b, 41000)).toBe(1); // same flow: conntrack ESTABLISHED, not checked again
      expect(udp(c, a, b, 41001)).toBe(0); // a new flow: denied
      // Once the established flow's conntrack entry is gone, its next packet is a NEW connection.
      for (const t of c.services.conntrack.values()) t.deleteWhere({ proto: 17 }, c.engine.now());
      expect(udp(c, a, b, 41000)).toBe(0);
      // Deleting the policies opens everything again, without a restart.
      expect(c.netpol.remove('y', 'deny-all')).toBe(true);
      expect(c.netpol.remove('y', 'no-egress')).toBe(true);
      expect(c.netpol.remove('y', 'no-egress')).toBe(false);
      expect(udp(c, a, b, 41002)).toBe(1);
      expect((statsView(c) as { networkPolicies: unknown }).networkPolicies).toEqual({ policies: 0, deniedBy: { 'y/deny-all': 2, 'y/no-egress': 1 } });
    } finally {
      c.close();
    }
  });

  it('relabelling a pod: a TCP connection it already has keeps going, a new one is refused at once; relabelled back, new ones pass; the Service follows its selector', () => {
    // Calico's and Cilium's behaviour, which podwire takes (docs/networkpolicy.md, "policy changes
    // and existing connections"): a label change recompiles the verdicts for NEW connections only;
    // a connection conntrack already tracks passes the ESTABLISHED rule until its entry is gone.
    const c = newCluster(topology(YAML));
    try {
      // y/b admits TCP only from pods labelled role=client in namespace x (both selectors in one peer: ANDed).
      applyOk(c, {
        metadata: { name: 'clients-only', namespace: 'y' },
        spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { role: 'client' } } }] }] },
      });
      const b = c.pod('b.y');
      const server = TcpListener.listen(b.ns, 5000, (conn) => {
        conn.onData((d) => conn.write(d));
        conn.onEnd(() => conn.close());
      }, { timeoutMs: 0 });
      const newConn = (port = 5000): string | null => runTrace(c, { from: 'a.x', to: 'b.y', proto: 'tcp', port }).request.dropReason;
      expect(newConn()).toBe('policy-denied');
      expect(c.setPodLabels('a.x', { role: 'client' })).toEqual({ pod: 'a', role: 'client' });
      expect(newConn()).toBe(null);

      const conn = TcpConnection.connect(c.pod('a.x').ns, b.plan.ip, 5000, { localPort: 45000, timeoutMs: 0 }); // no app-level idle timeout: only TCP's own limits
      let got = '';
      conn.onData((d) => { got += d.toString('latin1'); });
      /** Sends `text` on the open connection; true once it is echoed back (within 3 s of virtual time). */
      const echo = (text: string): boolean => {
        const want = got + text;
        conn.write(text);
        for (let i = 0; i < 300 && got !== want; i++) c.engine.advance(10);
        return got === want;
      };
      for (let i = 0; i < 100 && conn.state === 'syn-sent'; i++) c.engine.advance(10);
      expect([conn.state, String(conn.error)]).toEqual(['established', 'null']);
      expect(echo('before')).toBe(true);
      expect(conn.state).toBe('established');

      // role removed (merge patch: null): x/a no longer matches the peer.
      expect(c.setPodLabels('a.x', { role: null })).toEqual({ pod: 'a' });
      expect(newConn()).toBe('policy-denied'); // NEW: refused at once
      expect(echo(' during')).toBe(true); // ESTABLISHED: keeps going
      expect(conn.state).toBe('established');
      const denied = (c.services.hooks.get('node2')!.netpol!).drops.get('policy-denied');

      // Relabelled back: new connections pass again, the old one never noticed.
      c.setPodLabels('a.x', { role: 'client' });
      expect(newConn()).toBe(null);
      expect(echo(' after')).toBe(true);
      expect(got).toBe('before during after');

      // Refused again, and the connection's conntrack entries flushed: its next segment is no
      // longer ESTABLISHED. podwire makes entries only from SYNs (Linux's tcp_loose=1 would pick
      // the connection up, then the policy refuses it), so the segment is INVALID, and kube-proxy's
      // KUBE-FORWARD `--ctstate INVALID -j DROP` drops it before the policy is asked.
      c.setPodLabels('a.x', { role: null });
      for (const t of c.services.conntrack.values()) t.deleteWhere({ proto: 6, dport: 5000 }, c.engine.now());
      const invalidDrops = (): number => [...c.services.hooks.values()].reduce((n, h) => n + h.drops.get('ctstate-invalid'), 0);
      const before = invalidDrops();
      expect(echo(' flushed')).toBe(false);
      expect(invalidDrops()).toBeGreaterThan(before);
      expect(c.services.hooks.get('node2')!.netpol!.drops.get('policy-denied')).toBe(denied);
      conn.abort();
      server.close();

      // The same change moves Service endpoints: web selects pod=b.
      const web = (): string[] => c.plan.services.find((s) => s.name === 'web')!.endpoints;
      expect(web()).toEqual(['b']);
      c.setPodLabels('b.y', { pod: 'b-old' });
      expect(web()).toEqual([]);
      expect(runTrace(c, { from: 'c.y', to: 'web.y', proto: 'tcp', port: 8080 }).request.delivered).toBe(false);
      // ...and the policy's target: y/b is no longer selected by clients-only, so x/a's role does not matter.
      expect(newConn(80)).toBe(null);
      c.setPodLabels('b.y', { pod: 'b' });
      expect(web()).toEqual(['b']);
      expect(runTrace(c, { from: 'c.y', to: 'web.y', proto: 'tcp', port: 8080 }).request.delivered).toBe(false); // selected again: c.y is in y, not x
      c.setPodLabels('c.y', { ns: 'x', role: 'client' }); // a pod label ns=x does not make a namespace match
      expect(runTrace(c, { from: 'c.y', to: 'b.y', proto: 'tcp', port: 80 }).request.dropReason).toBe('policy-denied');
      expect(() => c.setPodLabels('nope.y', { a: 'b' })).toThrow('no pod "nope.y"');
    } finally {
      c.close();
    }
  });

  it('egress through a Service: the policy sees the backend pod after DNAT, not the cluster IP', () => {
    const c = newCluster(topology(YAML));
    try {
      const b = formatIpv4(c.pod('b.y').plan.ip);
      applyOk(c, { metadata: { name: 'only-b', namespace: 'x' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${b}/32` } }], ports: [{ port: 80 }] }] } });
      const svc = runTrace(c, { from: 'a.x', to: 'web.y', proto: 'tcp', port: 8080 });
      expect(svc.request.delivered).toBe(true);
      expect(policyHops(svc.request)[0]).toMatchObject({ node: 'node1', verdict: 'allowed', reason: 'egress of x/a isolated by x/only-b; allowed by x/only-b rule 0 peer 0' });
      const direct = runTrace(c, { from: 'a.x', to: 'c.y', proto: 'tcp', port: 80 });
      expect(direct.request.dropReason).toBe('policy-denied');
      expect(policyHops(direct.request)[0]?.['reason']).toBe('egress of x/a isolated by x/only-b; denied: no rule allows TCP/80 to y/c; ingress of y/c not isolated');
    } finally {
      c.close();
    }
  });

  it('SCTP (tracked by conntrack with its ports): the first packet is checked, the rest of the association and its replies pass', () => {
    const c = newCluster(topology(YAML));
    try {
      applyOk(c, { metadata: { name: 'sctp-in', namespace: 'y' }, spec: { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] } });
      const node2 = c.services.hooks.get('node2')!.netpol!;
      const sctp = (from: NetNamespace, dst: number, sport: number, dport: number): void => {
        const p = from.alloc()!;
        const b = p.buf;
        const o = p.start;
        const src = from.sourceFor(dst);
        b.fill(0, o, o + 32);
        b[o] = 0x45; writeU16(b, o + 2, 32); writeU16(b, o + 6, 0x4000); b[o + 8] = 64; b[o + 9] = 132;
        writeU32(b, o + 12, src); writeU32(b, o + 16, dst);
        writeU16(b, o + 10, checksum(b, o, 20));
        writeU16(b, o + 20, sport); writeU16(b, o + 22, dport); // SCTP common header: ports, verification tag 0, then CRC32c
        fillSctpChecksum(b, o + 20, 12);
        p.end = o + 32;
        from.output(p);
        c.engine.advance(2000);
      };
      const a = c.pod('a.x');
      const b = c.pod('b.y');
      const denied = (): number => node2.drops.get('policy-denied');
      // x/a -> y/b SCTP 80 (a bare common header): allowed by the ingress rule, checked once.
      sctp(a.ns, b.plan.ip, 5000, 80);
      expect([node2.counters.get('allowed'), denied()]).toEqual([1, 0]);
      // A reply: y/b's egress allows nothing, but conntrack knows the association.
      sctp(b.ns, a.plan.ip, 80, 5000);
      expect([node2.counters.get('allowed'), denied()]).toEqual([1, 0]);
      sctp(b.ns, a.plan.ip, 5000, 80); // y/b starting an association: refused
      expect(denied()).toBe(1);
      sctp(a.ns, b.plan.ip, 5000, 81); // another port: refused
      expect(denied()).toBe(2);
    } finally {
      c.close();
    }
  });

  it('a refused change leaves the running policies as they were; pods added at run time are selected', () => {
    const c = newCluster(topology(YAML));
    try {
      applyOk(c, DENY_Y);
      const bad = c.netpol.apply([ALLOW_X, { metadata: { name: 'bad', namespace: 'y' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] } }]);
      expect(bad).toEqual({ ok: false, errors: [{ index: 1, path: 'spec.ingress[0].from[1].ipBlock.except[0]', value: '10.1.0.0/24', message: 'Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`' }] });
      expect(c.netpol.list().map((p) => p.metadata.name)).toEqual(['deny-all']);
      expect(runTrace(c, { from: 'a.x', to: 'b.y', proto: 'tcp', port: 80 }).request.dropReason).toBe('policy-denied');
      const d = c.addPod({ name: 'd', namespace: 'y', node: 'node1', apps: [{ type: 'http', port: 80 }] });
      expect(runTrace(c, { from: 'a.x', to: 'd.y', proto: 'tcp', port: 80 }).request.dropReason).toBe('policy-denied');
      c.removePod('d.y');
      expect(d.plan.name).toBe('d');
    } finally {
      c.close();
    }
  });

  it('examples/netpol/xyz.yaml (docs/networkpolicy.md): a.x reaches b.y on TCP 80 only; podwire stats prints the denials per policy', async () => {
    const c = newCluster(topology('examples/netpol/xyz.yaml'));
    const dir = mkdtempSync(join(tmpdir(), 'podwire-netpol-'));
    const ctl = new Controller(c, { capturesDir: dir });
    const api = await startApi(ctl, { host: '127.0.0.1', port: 0 });
    try {
      const tr = (from: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): string | null => runTrace(c, { from, to: 'b.y', proto, port }).request.dropReason;
      expect(tr('a.x', 80)).toBe(null);
      expect(tr('a.x', 81)).toBe('policy-denied'); // the named port serve-80-tcp is 80
      expect(tr('a.x', 80, 'udp')).toBe('policy-denied');
      expect(tr('b.x', 80)).toBe('policy-denied');
      expect(tr('a.z', 80)).toBe('policy-denied');
      expect(runTrace(c, { from: 'a.y', to: 'a.x', proto: 'tcp', port: 80 }).request.dropReason).toBe(null); // x is not isolated
      const out: string[] = [];
      expect(await main(['stats', '--api', api.url], { out: (t) => { out.push(t); }, err: () => undefined, isTTY: false })).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(/^ {2}policy-denied 4$/m);
      expect(text).toContain('network policies: 2; connections denied per policy:\n  y/allow-from-xa 4\n  y/deny-all 4');
    } finally {
      await api.close();
      await ctl.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the evaluator agrees with the dataplane', () => {
  it('every pair of the x/y/z example on TCP 80 and 81: trace verdict = evaluate(world) verdict', async () => {
    const { evaluate } = await import('../../src/kube/netpol/evaluate.js');
    const c = newCluster(topology('examples/netpol/xyz.yaml'));
    try {
      const world = c.netpol.world();
      const keys = world.pods.map((p) => `${p.namespace}/${p.name}`);
      let denied = 0;
      for (const from of keys) for (const to of keys) for (const port of [80, 81]) {
        if (from === to) continue;
        const want = evaluate(world, { from: { pod: from }, to: { pod: to }, port, protocol: 'TCP' }).allowed;
        const [fn, fns] = from.split('/').reverse();
        const [tn, tns] = to.split('/').reverse();
        const got = runTrace(c, { from: `${fn!}.${fns!}`, to: `${tn!}.${tns!}`, proto: 'tcp', port }).request.delivered;
        expect(got, `${from} -> ${to}:${port}`).toBe(want);
        if (!want) denied++;
      }
      expect(denied).toBe(3 * 8 * 2 - 1); // y's 3 pods from the 8 other pods on 2 ports, but x/a -> y/b:80
    } finally {
      c.close();
    }
  });
});
