/**
 * Scenario `conntrack-table-full`: a node's conntrack table reaches nf_conntrack_max. The
 * established connections (ASSURED) keep working, but a new connection has nowhere to go:
 * early_drop finds no unassured entry to evict near its hash and the packet is dropped
 * (nf_conntrack_core.c `__nf_conntrack_alloc`: "nf_conntrack: table full, dropping packet",
 * `conntrack -S` drop). SYNs die, so new connections time out at random while old ones
 * work. The table is 256 entries here so that the run is short; at 131072 it is the same.
 * Fix: a larger table (kube-proxy --conntrack-min 131072, --conntrack-max-per-core 32768).
 */
import { TcpConnection } from '../../apps/tcp.js';
import { formatIpv4 } from '../../wire/addr.js';
import { buildCluster, type Scenario } from './scenario.js';

const MAX = 256;
const FIXED_MAX = 131072;
const NEW_CONNS = 20;
const TIMEOUT_MS = 3000;

const YAML = `
cluster: { name: ct-full, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 } ]
pods:
  - { name: worker, node: node1 }
  - { name: echo-0, node: node1, labels: { app: echo }, apps: [ { type: tcp-echo, port: 7 } ] }
  - { name: echo-1, node: node1, labels: { app: echo }, apps: [ { type: tcp-echo, port: 7 } ] }
services:
  - { name: echo, selector: { app: echo }, ports: [ { port: 7 } ] }
`;

export const conntrackFull: Scenario = {
  name: 'conntrack-table-full',
  summary: 'nf_conntrack_count reaches nf_conntrack_max: existing connections work, new ones time out (SYN dropped)',
  remedy: `raise nf_conntrack_max (${MAX} -> ${FIXED_MAX}, kube-proxy --conntrack-min / --conntrack-max-per-core)`,
  issues: ['kubernetes/kubernetes#18604', 'kubernetes/kubernetes#32435', 'kubernetes/kubernetes#71261', 'kubernetes/kubernetes#72472', 'kubernetes/kubernetes#75575', 'kubernetes/kubernetes#136228'],
  async run(ctx) {
    const c = buildCluster(YAML, ctx, { conntrack: { max: ctx.fix ? FIXED_MAX : MAX, timeouts: 'kube-proxy', kernel: '6.1', tcpBeLiberal: false } });
    const vip = c.plan.services.find((s) => s.name === 'echo')!.clusterIP;
    const ns = c.pod('worker').ns;
    const table = c.services.conntrack.get('node1')!;
    // Long-lived connections (a connection pool, websockets): established, ASSURED, idle.
    // (podwire's TCP gives up on an idle connection after timeoutMs: the pool's is long.)
    const open = (n: number, timeoutMs: number): { conns: TcpConnection[]; up: () => number; failed: () => number } => {
      let up = 0;
      let failed = 0;
      const conns: TcpConnection[] = [];
      for (let i = 0; i < n; i++) {
        const k = TcpConnection.connect(ns, vip, 7, { timeoutMs });
        let connected = false;
        k.onConnect(() => { up++; connected = true; });
        k.onClose((err) => { if (err !== null && !connected) failed++; });
        conns.push(k);
        if (i % 8 === 7) c.engine.advance(10); // a few at a time, as a pool fills
      }
      return { conns, up: () => up, failed: () => failed };
    };
    const pool = open(MAX - 6, 600_000);
    c.engine.advance(1000);
    const countFull = table.count;
    // An existing connection still echoes.
    let echoed = 0;
    pool.conns[0]!.onData((d) => { echoed += d.length; });
    pool.conns[0]!.write('ping');
    c.engine.advance(500);
    const fresh = open(NEW_CONNS, TIMEOUT_MS);
    c.engine.advance(TIMEOUT_MS + 1000);
    const s = table.stats;
    const counters = { nf_conntrack_count: countFull, nf_conntrack_max: table.capacity, drop: s.insertFailed, early_drop: s.earlyDrop };
    const notes = [
      `worker holds ${pool.up()} established connections to echo ${formatIpv4(vip)}:7 (ASSURED: early_drop may not evict them)`,
      `node1: nf_conntrack_count ${countFull}, nf_conntrack_max ${table.capacity}`,
      `an existing connection: ${echoed === 4 ? 'echoes "ping"' : 'no echo'}`,
      `${NEW_CONNS} new connections: ${fresh.up()} connected, ${fresh.failed()} timed out`,
    ];
    for (const k of [...pool.conns, ...fresh.conns]) k.abort();
    if (fresh.failed() > 0) {
      return {
        symptom: `${fresh.failed()} of ${NEW_CONNS} new connections: connect to ${formatIpv4(vip)}:7 timed out after ${TIMEOUT_MS} ms; existing connections still work`,
        failed: true, hop: 'node1/conntrack', reason: 'nf_conntrack: table full, dropping packet', counters, notes,
      };
    }
    return { symptom: `${fresh.up()} of ${NEW_CONNS} new connections connected, the existing ones still work`, failed: false, hop: null, reason: null, counters, notes };
  },
};
