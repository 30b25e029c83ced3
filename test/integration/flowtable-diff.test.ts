/**
 * The flowtable's guard (issue 21, docs/flowtable.md): random small clusters (one or two
 * nodes, overlay vxlan or routed, with or without a NetworkPolicy) get random UDP and TCP
 * traffic between pods and random runtime changes in between (pods added, some on a removed
 * pod's address, and deleted; labels changed, which moves service endpoints; FDB flushed;
 * bridge ports down and up; veth MTUs changed; conntrack flushed; a policy applied; traces;
 * captures; time passing), once with the flowtable on and once off. Both runs must deliver
 * the same bytes in the same order within every flow at every endpoint and leave the same
 * stats (every element's and interface's counters and drop reasons, every link's counters,
 * the engine's drops), the same conntrack tables (entries, states, flags, timeouts), the
 * same FDBs (ports and ages), the same traces and captures. The only stats left out are the
 * scheduler's link services (fewer with the flowtable, as documented) and the order of
 * `firstDrops` (frames of different flows may interleave differently within one instant).
 *
 * Runs: 120 scenarios by default (about 10 s). Each is a whole cluster, not a frame, so the
 * protocol tests' PODWIRE_FC_RUNS counts 250 cases per scenario here (CI's 100,000: 400
 * scenarios, bounded); PODWIRE_FT_RUNS sets the number exactly. The second test leaves the FDB
 * invalidation out (`debugSkip: 'fdb'`) and expects the property to find the difference;
 * the third that the on-runs did take the fast path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcpConnection } from '../../src/apps/tcp-conn.js';
import { TcpListener } from '../../src/apps/tcp-listener.js';
import { statsView } from '../../src/control/views.js';
import type { Packet } from '../../src/engine/packet.js';
import { Cluster } from '../../src/kube/cluster.js';
import { runTrace } from '../../src/kube/trace.js';
import { validateTopology } from '../../src/kube/topology.js';
import type { Topology } from '../../src/kube/types.js';
import type { FlowtableDebugSkip } from '../../src/net/flowtable.js';
import type { NetNamespace } from '../../src/net/netns.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { sendUdp } from './cluster-util.js';

const FC_RUNS = Number(process.env.PODWIRE_FC_RUNS ?? 0);
const RUNS = process.env.PODWIRE_FT_RUNS !== undefined
  ? Number(process.env.PODWIRE_FT_RUNS)
  : Math.max(120, Number.isFinite(FC_RUNS) ? Math.floor(FC_RUNS / 250) : 0);
const UDP_PORT = 7000;
const TCP_PORT = 7001;

interface Scenario {
  overlay: 'vxlan' | 'routed';
  nodes: number;
  pods: { node: number; role: number }[];
  netpol: boolean;
  ops: Op[];
}

type Op =
  | { k: 'udp'; from: number; to: number; slot: number; n: number; size: number; times: number }
  | { k: 'multi'; flows: { from: number; to: number; slot: number; n: number; size: number }[] }
  | { k: 'svc'; from: number; slot: number; n: number; size: number }
  | { k: 'tcp-open'; from: number; to: number }
  | { k: 'tcp-send'; conn: number; size: number; close: boolean }
  | { k: 'advance'; ms: number }
  | { k: 'add-pod'; node: number; role: number; reuse: boolean }
  | { k: 'remove-pod'; pod: number }
  | { k: 'flush-fdb'; node: number }
  | { k: 'port'; pod: number; up: boolean }
  | { k: 'mtu'; pod: number; end: 'a' | 'b'; mtu: number }
  | { k: 'label'; pod: number; role: number }
  | { k: 'policy'; role: number }
  | { k: 'ct-flush'; node: number }
  | { k: 'trace'; from: number; to: number; proto: 'udp' | 'tcp' }
  | { k: 'capture'; pod: number; inner: Op };

const ROLES = ['web', 'db', 'cache'];

const idx = fc.nat({ max: 15 });
// Few pods and sockets, so that flows repeat and get established (then the fast path takes them).
const few = fc.nat({ max: 3 });
const flow = fc.record({ from: few, to: few, slot: fc.nat({ max: 1 }), n: fc.integer({ min: 1, max: 40 }), size: fc.integer({ min: 1, max: 1400 }) });
const traffic: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(flow, fc.integer({ min: 1, max: 4 })).map(([f, times]) => ({ k: 'udp' as const, ...f, times })) },
  { weight: 3, arbitrary: fc.array(flow, { minLength: 2, maxLength: 4 }).map((flows) => ({ k: 'multi' as const, flows })) },
  { weight: 2, arbitrary: fc.record({ from: few, to: few }).map((o) => ({ k: 'tcp-open' as const, ...o })) },
  // To the Service's ClusterIP: DNAT at the node, and a same-node reply un-DNATed at the bridge (never cached).
  { weight: 1, arbitrary: flow.map((f) => ({ k: 'svc' as const, from: f.from, slot: f.slot, n: f.n, size: f.size })) },
  { weight: 5, arbitrary: fc.record({ conn: few, size: fc.integer({ min: 1, max: 20000 }), close: fc.boolean() }).map((o) => ({ k: 'tcp-send' as const, ...o, close: o.close && o.size % 5 === 0 })) },
);
const change: fc.Arbitrary<Op> = fc.oneof(
  fc.constantFrom(1, 100, 2_500, 31_000, 130_000, 301_000).map((ms) => ({ k: 'advance' as const, ms })),
  fc.record({ node: idx, role: fc.nat({ max: 2 }), reuse: fc.boolean() }).map((o) => ({ k: 'add-pod' as const, ...o })),
  idx.map((pod) => ({ k: 'remove-pod' as const, pod })),
  idx.map((node) => ({ k: 'flush-fdb' as const, node })),
  fc.record({ pod: idx, up: fc.boolean() }).map((o) => ({ k: 'port' as const, ...o })),
  fc.record({ pod: idx, end: fc.constantFrom('a' as const, 'b' as const), mtu: fc.constantFrom(600, 1500) }).map((o) => ({ k: 'mtu' as const, ...o })),
  fc.record({ pod: idx, role: fc.nat({ max: 2 }) }).map((o) => ({ k: 'label' as const, ...o })),
  fc.nat({ max: 2 }).map((role) => ({ k: 'policy' as const, role })),
  idx.map((node) => ({ k: 'ct-flush' as const, node })),
  fc.record({ from: idx, to: idx, proto: fc.constantFrom('udp' as const, 'tcp' as const) }).map((o) => ({ k: 'trace' as const, ...o })),
  fc.record({ pod: idx, inner: traffic }).map((o) => ({ k: 'capture' as const, ...o })),
);
const op: fc.Arbitrary<Op> = fc.oneof({ weight: 3, arbitrary: traffic }, { weight: 1, arbitrary: change });

const scenario: fc.Arbitrary<Scenario> = fc.record({
  overlay: fc.constantFrom('vxlan' as const, 'routed' as const),
  nodes: fc.integer({ min: 1, max: 2 }),
  pods: fc.array(fc.record({ node: fc.nat({ max: 1 }), role: fc.nat({ max: 2 }) }), { minLength: 2, maxLength: 5 }),
  netpol: fc.boolean(),
  ops: fc.array(op, { minLength: 4, maxLength: 24 }),
});

function policy(role: number, name: string): unknown {
  // Pods of `role` accept ingress only from pods of the same role.
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'default' },
    spec: { podSelector: { matchLabels: { role: ROLES[role] } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: ROLES[role] } } }] }] },
  };
}

function topologyOf(s: Scenario): Topology {
  const nodes = Array.from({ length: s.nodes }, (_, i) => ({ name: `node${i + 1}` }));
  const r = validateTopology({
    cluster: { name: 'ftdiff', overlay: s.overlay, dnsReplicas: 0 },
    nodes,
    pods: s.pods.map((p, i) => ({ name: `p${i}`, node: `node${(p.node % s.nodes) + 1}`, labels: { role: ROLES[p.role]! } })),
    services: [{ name: 'db', type: 'ClusterIP', selector: { role: 'db' }, ports: [{ name: 'u', port: 53, targetPort: UDP_PORT, protocol: 'UDP' }] }],
    ...(s.netpol ? { networkPolicies: [policy(1, 'db-only')] } : {}),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

/** Deterministic payload bytes (what is sent depends only on the op and a counter). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

interface Run {
  obs: string;
  hits: number;
}

/** Runs scenario `s` on a fresh cluster; what anyone could observe, as text. */
function run(s: Scenario, flowtable: boolean, debugSkip?: FlowtableDebugSkip): Run {
  const c = new Cluster(topologyOf(s), { flowtable: flowtable ? (debugSkip !== undefined ? { debugSkip } : true) : false });
  const e = c.engine;
  const got = new Map<string, string[]>();
  const record = (key: string, data: Buffer | string): void => {
    const v = got.get(key);
    const text = typeof data === 'string' ? data : data.toString('hex');
    if (v === undefined) got.set(key, [text]);
    else v.push(text);
  };
  const pods: string[] = [...c.pods.keys()];
  const removedIps: number[] = [];
  const conns: { conn: TcpConnection; key: string }[] = [];
  const udpSocks = new Map<string, number>();
  let seq = 0;
  let counter = 0;
  const serve = (name: string): void => {
    const ns = c.pod(name).ns;
    ns.bind(17, UDP_PORT, (p: Packet, info) => {
      const data = Buffer.from(p.buf.subarray(info.payload, info.payload + info.payloadLen));
      record(`${name} udp< ${formatIpv4(info.src)}:${info.sport}`, data);
      const src = info.src;
      const sport = info.sport;
      ns.free(p);
      sendUdp(ns, src, UDP_PORT, sport, data);
    });
    TcpListener.listen(ns, TCP_PORT, (conn) => {
      const key = `${name} tcp< ${formatIpv4(conn.remote)}:${conn.remotePort}`;
      conn.onData((d) => {
        record(key, Buffer.from(d));
        conn.write(Buffer.from(d));
      });
      conn.onEnd(() => conn.close());
    });
  };
  for (const name of pods) serve(name);
  const podAt = (i: number): string | null => (pods.length === 0 ? null : pods[i % pods.length]!);
  const pair = (from: number, to: number): [string, string] | null => {
    const a = podAt(from);
    const b = podAt(to + (to % pods.length === from % pods.length ? 1 : 0));
    return a === null || b === null || a === b ? null : [a, b];
  };
  const sendFlow = (f: { from: number; to: number; slot: number; n: number; size: number }, toService = false): void => {
    const pr = toService ? (podAt(f.from) === null ? null : [podAt(f.from)!, '']) : pair(f.from, f.to);
    if (pr === null) return;
    const [a, b] = pr;
    const dstIp = toService ? c.plan.services.find((x) => x.name === 'db')!.clusterIP : c.pod(b!).plan.ip;
    const dport = toService ? 53 : UDP_PORT;
    const ns = c.pod(a!).ns;
    const sockKey = `${a}/${f.slot}`;
    let sport = udpSocks.get(sockKey);
    if (sport === undefined) {
      sport = 40000 + f.slot;
      const me = sport;
      ns.bind(17, sport, (p, info) => {
        record(`${a} udp:${me}< ${formatIpv4(info.src)}:${info.sport}`, Buffer.from(p.buf.subarray(info.payload, info.payload + info.payloadLen)));
        ns.free(p);
      });
      udpSocks.set(sockKey, sport);
    }
    for (let k = 0; k < f.n; k++) sendUdp(ns, dstIp, sport, dport, bytes(f.size, counter++));
  };
  const exec = (o: Op): void => {
    switch (o.k) {
      case 'udp':
        for (let t = 0; t < o.times; t++) {
          sendFlow(o);
          e.runUntilIdle();
        }
        break;
      case 'multi': for (const f of o.flows) sendFlow(f); e.runUntilIdle(); break;
      case 'svc': sendFlow({ ...o, to: 0 }, true); e.runUntilIdle(); break;
      case 'tcp-open': {
        const pr = pair(o.from, o.to);
        if (pr === null) break;
        const conn = TcpConnection.connect(c.pod(pr[0]).ns, c.pod(pr[1]).plan.ip, TCP_PORT);
        const key = `${pr[0]} tcp#${seq++}> ${pr[1]}`;
        conn.onData((d) => record(key, Buffer.from(d)));
        conn.onClose((err) => record(`${key} closed`, String(err?.message ?? 'ok')));
        conns.push({ conn, key });
        e.runUntilIdle();
        break;
      }
      case 'tcp-send': {
        if (conns.length === 0) break;
        const { conn } = conns[o.conn % conns.length]!;
        if (conn.state !== 'established' && conn.state !== 'close-wait') break;
        conn.write(bytes(o.size, counter++));
        if (o.close) conn.close();
        e.runUntilIdle();
        break;
      }
      case 'advance': e.advance(o.ms); break;
      case 'add-pod': {
        const node = `node${(o.node % s.nodes) + 1}`;
        const name = `n${seq++}`;
        const ip = o.reuse ? removedIps.shift() : undefined;
        let added = true;
        try {
          c.addPod({ name, node, labels: { role: ROLES[o.role]! }, ...(ip !== undefined ? { ip } : {}) });
        } catch {
          added = false; // the address is on the other node's CIDR: same outcome in both runs
        }
        if (added) {
          pods.push(name);
          serve(name);
        }
        e.runUntilIdle();
        break;
      }
      case 'remove-pod': {
        const name = podAt(o.pod);
        if (name === null || pods.length <= 2) break;
        removedIps.push(c.pod(name).plan.ip);
        c.removePod(name);
        pods.splice(pods.indexOf(name), 1);
        for (const k of [...udpSocks.keys()]) if (k.startsWith(`${name}/`)) udpSocks.delete(k);
        e.runUntilIdle();
        break;
      }
      case 'flush-fdb': c.node(`node${(o.node % s.nodes) + 1}`).bridge.fdb.flushDynamic(); break;
      case 'port': {
        const name = podAt(o.pod);
        if (name === null) break;
        const pod = c.pod(name);
        c.node(pod.plan.node).bridge.setPortUp(pod.plan.veth, o.up);
        break;
      }
      case 'mtu': {
        const name = podAt(o.pod);
        if (name !== null) c.pod(name).veth.ends[o.end].mtu = o.mtu;
        break;
      }
      case 'label': {
        const name = podAt(o.pod);
        if (name !== null) c.setPodLabels(name, { role: ROLES[o.role]! });
        e.runUntilIdle();
        break;
      }
      case 'policy': c.netpol.apply([policy(o.role, `p-${o.role}`)]); break;
      case 'ct-flush': {
        const t = c.services.conntrack.get(`node${(o.node % s.nodes) + 1}`);
        t?.deleteIf(-1, e.now(), () => true);
        break;
      }
      case 'trace': {
        const pr = pair(o.from, o.to);
        if (pr === null) break;
        const j = runTrace(c, { from: pr[0], to: pr[1], proto: o.proto, port: o.proto === 'udp' ? UDP_PORT : TCP_PORT });
        record(`trace ${seq++}`, JSON.stringify(j));
        break;
      }
      case 'capture': {
        const name = podAt(o.pod);
        if (name === null) break;
        const link = c.pod(name).ns.iface('eth0')?.inPort?.link ?? null;
        if (link === null) break;
        const key = `capture ${seq++} ${name}`;
        const tap = (p: Packet): void => record(key, Buffer.from(p.buf.subarray(p.start, p.end)));
        link.addTap(tap);
        exec(o.inner);
        link.removeTap(tap);
        break;
      }
    }
  };
  for (const o of s.ops) exec(o);
  e.runUntilIdle();
  const obs = observe(c, got);
  const hits = c.flowtable?.hits ?? 0;
  if (c.flowtable !== null) { agg.misses += c.flowtable.misses; agg.passes += c.flowtable.passes; agg.learned += c.flowtable.learned; }
  c.close();
  return { obs, hits };
}

/** Everything the two runs must agree on, one line per item. */
function observe(c: Cluster, got: Map<string, string[]>): string {
  const lines: string[] = [];
  for (const k of [...got.keys()].sort()) lines.push(`deliver ${k}: ${got.get(k)!.join(' ')}`);
  const stats = statsView(c) as Record<string, unknown> & { engine: Record<string, unknown> };
  const { linkServices: _ls, firstDrops, ...engine } = stats.engine;
  stats.engine = { ...engine, firstDrops: (firstDrops as { element: string; reason: string }[]).map((d) => `${d.element}:${d.reason}`).sort() };
  for (const [k, v] of Object.entries(stats)) {
    if (k === 'elements') for (const el of v as unknown[]) lines.push(`element ${JSON.stringify(el)}`);
    else lines.push(`${k} ${JSON.stringify(v)}`);
  }
  for (const el of c.engine.elements.values()) {
    for (const port of el.ports.outputs.values()) {
      const l = port.link;
      if (l !== null) lines.push(`link ${l.name} ${l.txPackets} ${l.txBytes} ${l.drops} ${l.size}`);
    }
  }
  const now = c.engine.now();
  for (const [node, t] of c.services.conntrack) {
    const entries = t.entries(now).map(({ id: _id, ...rest }) => JSON.stringify(rest)).sort();
    for (const x of entries) lines.push(`conntrack ${node} ${x}`);
  }
  for (const n of c.nodes.values()) {
    for (const f of n.bridge.fdb.entries(now)) lines.push(`fdb ${n.plan.name} ${f.mac} ${n.bridge.portName(f.port)} ${f.ageMs} ${f.isStatic}`);
  }
  lines.push(`pool ${c.engine.pool.available}`);
  return lines.join('\n');
}

/** The first lines where two observations differ ('' when equal). */
function difference(a: string, b: string): string {
  if (a === b) return '';
  const la = a.split('\n');
  const lb = b.split('\n');
  const out: string[] = [];
  for (let k = 0; k < Math.max(la.length, lb.length) && out.length < 6; k++) {
    if (la[k] !== lb[k]) out.push(`on:  ${(la[k] ?? '-').slice(0, 400)}\noff: ${(lb[k] ?? '-').slice(0, 400)}`);
  }
  return out.join('\n');
}

const agg = { misses: 0, passes: 0, learned: 0 };
let hitsSeen = 0;
let runsSeen = 0;

describe('flowtable differential test (on vs off)', () => {
  it('random clusters, traffic and runtime changes: the same deliveries, counters, drops, conntrack, FDB, traces, captures', () => {
    fc.assert(fc.property(scenario, (s) => {
      const on = run(s, true);
      const off = run(s, false);
      hitsSeen += on.hits;
      runsSeen++;
      const d = difference(on.obs, off.obs);
      if (d !== '') throw new Error(`flowtable on and off differ:\n${d}`);
    }), { numRuns: RUNS });
    expect(runsSeen).toBeGreaterThan(0);
  }, Math.max(120_000, RUNS * 300));

  it('the fast path was taken in those runs (the comparison is not vacuous)', () => {
    console.log(`flowtable hits ${hitsSeen} in ${runsSeen} runs`, agg);
    expect(hitsSeen).toBeGreaterThan(0);
  });

  it('finds a difference when the FDB invalidation is left out (debugSkip: fdb)', () => {
    // The same scenarios with an FDB flush after every third op, so that the broken invalidation has something to miss.
    const flushing = scenario.map((sc) => ({ ...sc, ops: sc.ops.flatMap((o, i) => (i % 3 === 2 ? [o, { k: 'flush-fdb' as const, node: i }] : [o])) }));
    const r = fc.check(fc.property(flushing, (s) => {
      const on = run(s, true, 'fdb');
      const off = run(s, false);
      return difference(on.obs, off.obs) === '';
    }), { numRuns: 200, endOnFailure: true });
    expect(r.failed).toBe(true);
    // A difference (the predicate returned false), not an exception.
    expect(String(r.errorInstance ?? '')).toMatch(/returning false|false/);
  }, 120_000);
});
