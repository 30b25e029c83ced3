#!/usr/bin/env node
/**
 * VXLAN over real sockets against the kernel's VXLAN device (issue 21, root only): the same
 * namespace layout twice, side by side in one run,
 *
 *   podwire   A: podwire's node1 (test/e2e/fixtures/run-node.mjs in namespace A, `vtep.bind`
 *                192.168.80.1:8472 on a real UDP socket), pod Q a real namespace attached
 *                through a TAP (`attach: {netns}`, no offloads)
 *   kernel    A: a Linux node1 built as flannel builds it (flannel.1 vxlan device, cbr0
 *                bridge), pod Q a namespace on a veth port of cbr0, the same addresses
 *
 * and in both, over a veth underlay (vethA 192.168.80.1 <-> vethB 192.168.80.2):
 *
 *   B: a Linux node2 (flannel.1: id 1, dstport 8472, nolearning; cbr0 10.244.2.1/24; onlink
 *      route + permanent neighbour + fdb entry towards node1), pod P at 10.244.2.2
 *
 * (test/e2e/kernel-vxlan-node.ts builds the same node2). Pod MTU 1450 on both sides; tx
 * checksum offload off on flannel.1 and the pods' eth0 of the kernel nodes, as flannel does
 * (and as the e2e node does: a userspace VTEP would see partial inner checksums otherwise).
 *
 * Per topology and round, in this order:
 *   pps           64-byte frames/s node1's pod Q -> node2's pod P: tools/bench/udp-flood.c
 *                 for PPS_SECONDS, counted (and dropped) by an nftables netdev ingress rule
 *                 on the receiver's eth0 (tap-paths.mjs Lab.servers), kpps
 *   pps.reverse   the same, P -> Q (into node1's VXLAN socket)
 *   tcp           iperf3 TCP, one stream, Q -> P, SECONDS (default 10), Gbit/s
 *   tcp.reverse   the same, P -> Q: bulk data into node1's VXLAN socket
 *   socket-drops  datagrams the kernel dropped at node1's VXLAN socket (receive buffer full)
 *                 during the tcp run; podwire: its socket's own counter (`stats().kernelDrops`,
 *                 SO_MEMINFO, cross-checked against /proc/net/udp), kernel: the `drops` column
 *                 of node1's port-8472 socket in /proc/net/udp (the vxlan device's socket;
 *                 its encap_rcv path rarely queues, so expect 0) plus flannel.1's rx_dropped.
 *                 The figure is the largest count of one run (a median would hide a miss).
 *   socket-drops.reverse  the same during the tcp.reverse run
 * The JSON keeps every round and, per TCP run (`detail.perRun` of the socket-drops figures),
 * the sender's TCP retransmissions, the /proc/net/udp count beside podwire's counter, and
 * podwire's CPU time over the run's wall time (`podwireCpu`; 1.0 = one core busy throughout);
 * the pps.reverse figure keeps node1's socket drops during each flood (`detail.perRun`: a
 * 64-byte flood into a VXLAN socket outruns it; context, no target).
 * Ratios podwire / kernel (median of the per-round ratios) for pps, pps.reverse, tcp and
 * tcp.reverse; the targets: tcp and tcp.reverse >= 0.5, podwire's socket-drops 0 in both.
 *
 *   node tools/bench/vxlan-kernel.mjs [--runs N] [--seconds S] [--pps-seconds S] [--offloads] [--json PATH]
 *
 * --offloads adds two topologies (context: ratios without targets; not in run.mjs):
 * `podwire.offloads`, pod Q attached in offload mode (IFF_VNET_HDR + TSO; node2 as before),
 * and `kernel.offloads`, both Linux nodes with their devices' default offloads (tx
 * checksum, TSO/GSO on the pods' veths and flannel.1), what a Linux node does when nothing
 * turns them off.
 *
 * (after `npm run build`: uses dist/). Prints `vxlan-kernel.<topology>.<metric>  value unit`
 * lines, the ratio lines and the target lines; JSON in bench-results/vxlan-kernel-latest.json.
 * Namespaces are named `pwb<role><n><pid>`; addresses exist only inside them; everything
 * made is removed at the end, on failure and on SIGINT/SIGTERM. `runVxlanKernelBench` is
 * the same run for run.mjs.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatLine, median } from './harness.mjs';
import { Lab, TCP_PORT, UDP_PORT, floodCount, inNs, sh, sleep } from './tap-paths.mjs';

export const VXLAN_KERNEL_NAMES = ['podwire', 'kernel'].flatMap((t) => [
  `vxlan-kernel.${t}.pps`, `vxlan-kernel.${t}.pps.reverse`, `vxlan-kernel.${t}.tcp`, `vxlan-kernel.${t}.tcp.reverse`,
  `vxlan-kernel.${t}.socket-drops`, `vxlan-kernel.${t}.socket-drops.reverse`,
]);
/** [metric, target (0: context only)] of the podwire / kernel ratios; higher is better for all. */
export const VXLAN_KERNEL_RATIOS = [['pps', 0], ['pps.reverse', 0], ['tcp', 0.5], ['tcp.reverse', 0.5]];
const UNITS = { pps: 'kpps', 'pps.reverse': 'kpps', tcp: 'Gbit/s', 'tcp.reverse': 'Gbit/s', 'socket-drops': 'datagrams', 'socket-drops.reverse': 'datagrams' };
const METRICS = Object.keys(UNITS);

const NET = '192.168.80';
const NODE1 = `${NET}.1`;
const NODE2 = `${NET}.2`;
const VXLAN_PORT = 8472;
/** podwire derives a VTEP MAC as 02:58 + the node's IPv4 bytes; the kernel node1 takes the same. */
const NODE1_MAC = `02:58:${NODE1.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;
const NODE2_MAC = '0e:00:00:00:77:02';
const MTU = 1450;
const RUNNER = fileURLToPath(new URL('../../test/e2e/fixtures/run-node.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** `ethtool -K <dev> tx off` without ethtool (SIOCETHTOOL, ETHTOOL_STXCSUM), as test/e2e/kernel-vxlan-node.ts. */
const TX_CSUM_OFF = [
  'import ctypes, fcntl, socket, struct, sys',
  'ev = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))',
  'ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(ev)).ljust(40, b"\\0")',
  'so = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  'fcntl.ioctl(so.fileno(), 0x8946, ifr)',
].join('\n');

const ip = (ns, ...a) => sh('ip', '-n', ns, ...a);

/**
 * A flannel-style Linux node in `ns` (underlay already up): flannel.1 (`mac`, local
 * `local`), cbr0 with `<podNet>.1/24`, forwarding on, and the three entries towards the
 * remote node (`remote`: {ip, mac, podNet}).
 */
async function kernelNode(ns, { local, dev, mac, podNet, remote, offloads = false }) {
  await inNs(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  await ip(ns, 'link', 'add', 'flannel.1', 'address', mac, 'type', 'vxlan', 'id', '1', 'dstport', String(VXLAN_PORT),
    'local', local, 'dev', dev, 'nolearning');
  await ip(ns, 'link', 'set', 'flannel.1', 'mtu', String(MTU), 'up');
  await ip(ns, 'addr', 'add', `${podNet}.0/32`, 'dev', 'flannel.1');
  await ip(ns, 'link', 'add', 'cbr0', 'type', 'bridge');
  await ip(ns, 'addr', 'add', `${podNet}.1/24`, 'dev', 'cbr0');
  await ip(ns, 'link', 'set', 'cbr0', 'mtu', String(MTU), 'up');
  if (!offloads) await inNs(ns, 'python3', '-c', TX_CSUM_OFF, 'flannel.1');
  await ip(ns, 'route', 'add', `${remote.podNet}.0/24`, 'via', `${remote.podNet}.0`, 'dev', 'flannel.1', 'onlink');
  await ip(ns, 'neigh', 'add', `${remote.podNet}.0`, 'lladdr', remote.mac, 'dev', 'flannel.1', 'nud', 'permanent');
  await inNs(ns, 'bridge', 'fdb', 'append', remote.mac, 'dev', 'flannel.1', 'dst', remote.ip);
}

/** Pod namespace `pod` on a veth port (`hostDev`) of `node`'s cbr0, eth0 at `addr`/24 via `<podNet>.1`. */
async function kernelPod(node, pod, hostDev, addr, podNet, offloads = false) {
  await ip(node, 'link', 'add', hostDev, 'mtu', String(MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(MTU), 'netns', pod);
  await ip(node, 'link', 'set', hostDev, 'master', 'cbr0', 'up');
  await ip(pod, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
  await ip(pod, 'link', 'set', 'eth0', 'up');
  await ip(pod, 'route', 'add', 'default', 'via', `${podNet}.1`);
  if (!offloads) await inNs(pod, 'python3', '-c', TX_CSUM_OFF, 'eth0');
}

/** Namespaces A, B, P (and Q, empty): the underlay and the Linux node2 with its pod P. */
async function common(lab, offloads = false) {
  const a = await lab.netns('A');
  const b = await lab.netns('B');
  const p = await lab.netns('P');
  const q = await lab.netns('Q');
  await ip(a, 'link', 'add', 'vethA', 'type', 'veth', 'peer', 'name', 'vethB', 'netns', b);
  await ip(a, 'addr', 'add', `${NODE1}/24`, 'dev', 'vethA');
  await ip(a, 'link', 'set', 'vethA', 'up');
  await ip(b, 'addr', 'add', `${NODE2}/24`, 'dev', 'vethB');
  await ip(b, 'link', 'set', 'vethB', 'up');
  await kernelNode(b, { local: NODE2, dev: 'vethB', mac: NODE2_MAC, podNet: '10.244.2', remote: { ip: NODE1, mac: NODE1_MAC, podNet: '10.244.1' }, offloads });
  await kernelPod(b, p, 'veth0', '10.244.2.2', '10.244.2', offloads);
  return { a, b, p, q };
}

/** podwire's node1 as a child process in namespace `ns`, spoken to in JSON lines (run-node.mjs). */
class PodwireNode {
  constructor(lab, ns, topo) {
    this.child = lab.bg('ip', ['netns', 'exec', ns, process.execPath, RUNNER, DIST, topo, 'node1']);
    this.stderr = '';
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    this.nextId = 1;
    this.waiting = new Map();
    const lines = createInterface({ input: this.child.stdout });
    this.ready = new Promise((res, rej) => {
      this.child.once('exit', (code) => rej(new Error(`podwire node exited (${code}): ${this.stderr.trim()}`)));
      lines.on('line', (l) => {
        const msg = JSON.parse(l);
        if ('ready' in msg) {
          if (msg.ready === true) res(msg);
          else rej(new Error(String(msg.error)));
          return;
        }
        this.waiting.get(msg.id)?.(msg);
        this.waiting.delete(msg.id);
      });
    });
    this.ready.catch(() => undefined);
  }

  request(cmd) {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.waiting.delete(id); rej(new Error(`podwire node: no answer to ${cmd.op}`)); }, 10_000);
      this.waiting.set(id, (m) => { clearTimeout(t); res(m); });
      this.child.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  /** Asks it to quit (it closes its cluster, TAP and socket); Lab.cleanup kills it by PID if it has not. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.write(`${JSON.stringify({ op: 'quit' })}\n`);
    await Promise.race([gone, sleep(3000)]);
  }
}

/**
 * (a) podwire's node1 in A with pod Q attached through a TAP; `offloads`: the TAP in offload
 * mode (IFF_VNET_HDR, TSO: podwire segments the pod's 64 KiB frames before VXLAN; node2
 * unchanged, its checksums must stay whole for a userspace VTEP).
 */
async function podwireTopology(lab, offloads = false) {
  const ns = await common(lab);
  const topo = join(lab.dir, `vxlan-kernel${offloads ? '-offloads' : ''}.yaml`);
  writeFileSync(topo, [
    `cluster: { name: pwvk${lab.tag}, nodeCIDR: ${NET}.0/24, dnsReplicas: 0 }`,
    'nodes:',
    `  - { name: node1, ip: ${NODE1}, vtep: { bind: "${NODE1}:${VXLAN_PORT}" } }`,
    `  - { name: node2, external: true, vtepIP: ${NODE2}, vtepMAC: "${NODE2_MAC}", podCIDR: 10.244.2.0/24 }`,
    'pods:',
    `  - { name: q, node: node1, attach: { netns: ${ns.q}${offloads ? ', offloads: true' : ''} } }`,
    '',
  ].join('\n'));
  const node = new PodwireNode(lab, ns.a, topo);
  const pid = node.child.pid;
  const ready = await node.ready;
  const qIp = ready.attached.find((x) => x.pod === 'q')?.ip;
  if (qIp === undefined) throw new Error(`podwire node: pod q not attached (${JSON.stringify(ready)})`);
  const mtu = (await inNs(ns.q, 'cat', '/sys/class/net/eth0/mtu')).trim();
  if (mtu !== String(MTU)) throw new Error(`podwire's pod MTU is ${mtu}, the kernel side's ${MTU}: not the same topology`);
  return {
    name: offloads ? 'podwire.offloads' : 'podwire', ...ns, qIp, node,
    async socketDrops() {
      const s = (await node.request({ op: 'stats' })).vxlanSocket;
      if (s === null || s === undefined) throw new Error('podwire node: no VXLAN socket stats');
      return { drops: s.kernelDrops, proc: await udpDrops(ns.a, VXLAN_PORT), rxDatagrams: s.rxDatagrams, backend: s.backend, rcvbuf: s.rcvbuf };
    },
    cpuSeconds: () => cpuSeconds(pid),
  };
}

/**
 * (b) a Linux node1 in A with pod Q on its cbr0, Q at the address podwire gave its pod;
 * `offloads`: both Linux nodes keep their devices' default offloads (context, opt-in).
 */
async function kernelTopology(lab, qIp, offloads = false) {
  const ns = await common(lab, offloads);
  await kernelNode(ns.a, { local: NODE1, dev: 'vethA', mac: NODE1_MAC, podNet: '10.244.1', remote: { ip: NODE2, mac: NODE2_MAC, podNet: '10.244.2' }, offloads });
  await kernelPod(ns.a, ns.q, 'veth0', qIp, '10.244.1', offloads);
  return {
    name: offloads ? 'kernel.offloads' : 'kernel', ...ns, qIp, node: null, cpuSeconds: () => NaN,
    async socketDrops() {
      const rxDropped = Number(await inNs(ns.a, 'cat', '/sys/class/net/flannel.1/statistics/rx_dropped'));
      const proc = await udpDrops(ns.a, VXLAN_PORT);
      return { drops: (proc ?? 0) + rxDropped, proc, rxDropped };
    },
  };
}

/** The `drops` column of /proc/net/udp summed over the sockets bound at `port` in `ns` (null: none). */
async function udpDrops(ns, port) {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const rows = (await inNs(ns, 'cat', '/proc/net/udp')).split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(hexPort));
  return rows.length === 0 ? null : rows.reduce((s, f) => s + Number(f.at(-1)), 0);
}

/**
 * A command in `ns` as a child of the lab (so cleanup kills it by PID if the run is cut
 * short, e.g. SIGINT during an iperf3 run); resolves to its stdout, rejects on a non-zero exit.
 */
function tracked(lab, ns, ...args) {
  const c = lab.bg('ip', ['netns', 'exec', ns, ...args]);
  c.stdin.end();
  let out = '';
  let err = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.on('data', (d) => { err += d; });
  return new Promise((res, rej) => {
    c.once('exit', (code, sig) => {
      lab.children.splice(lab.children.indexOf(c) >>> 0, 1);
      if (code === 0) res(out);
      else rej(new Error(`${args.join(' ')} in ${ns}: exit ${code ?? sig}: ${err.trim() || out.trim().slice(0, 200)}`));
    });
  });
}

/** User + system CPU time of process `pid` so far, seconds (/proc/<pid>/stat utime, stime; USER_HZ 100). */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

async function retrans(ns) {
  const lines = (await inNs(ns, 'cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Tcp:'));
  const keys = lines[0].trim().split(/\s+/);
  return Number(lines[1].trim().split(/\s+/)[keys.indexOf('RetransSegs')]);
}

/** kpps of 64-byte frames from `from` to `to` (namespace `rx` counts them). */
async function flood(lab, from, rx, to, seconds) {
  const f0 = await floodCount(rx);
  const t0 = process.hrtime.bigint();
  await tracked(lab, from, lab.flood, 'send', to, String(UDP_PORT), String(seconds));
  await sleep(100); // frames still in flight (podwire's queues) count
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  return (await floodCount(rx) - f0) / dt / 1e3;
}

/** iperf3 TCP `from` -> `to` for `seconds`, Gbit/s received, with node1's socket drops and the sender's retransmissions around it. */
async function tcp(lab, t, from, to, seconds) {
  const d0 = await t.socketDrops();
  const r0 = await retrans(from);
  const c0 = t.cpuSeconds();
  const t0 = process.hrtime.bigint();
  let gbps = NaN;
  let error = null;
  try {
    const j = JSON.parse(await tracked(lab, from, 'iperf3', '-c', to, '-p', String(TCP_PORT), '-t', String(seconds), '-J'));
    gbps = j.end.sum_received.bits_per_second / 1e9;
  } catch (e) {
    error = String(e?.message ?? e).split('\n')[0];
  }
  // podwire's share of one core during the run (1.0: its event loop was busy throughout).
  const cpu = (t.cpuSeconds() - c0) / (Number(process.hrtime.bigint() - t0) / 1e9);
  const d1 = await t.socketDrops();
  return {
    gbps, error, drops: d1.drops - d0.drops, procDrops: d1.proc === null ? null : d1.proc - (d0.proc ?? 0),
    retrans: (await retrans(from)) - r0, podwireCpu: Number.isFinite(cpu) ? cpu : null, socket: d1,
  };
}

async function measure(lab, t, opts) {
  const pps = await flood(lab, t.q, t.p, '10.244.2.2', opts.ppsSeconds);
  const f0 = await t.socketDrops();
  const ppsReverse = await flood(lab, t.p, t.q, t.qIp, opts.ppsSeconds);
  const floodDrops = (await t.socketDrops()).drops - f0.drops; // the flood outruns a socket: context, no target
  await sleep(200); // let queues drain before the TCP runs
  const fwd = await tcp(lab, t, t.q, '10.244.2.2', opts.seconds);
  const rev = await tcp(lab, t, t.p, t.qIp, opts.seconds);
  return {
    pps, 'pps.reverse': ppsReverse, tcp: fwd.gbps, 'tcp.reverse': rev.gbps,
    'socket-drops': fwd.drops, 'socket-drops.reverse': rev.drops, detail: { tcp: fwd, 'tcp.reverse': rev, 'pps.reverse': { socketDrops: floodDrops } },
  };
}

/**
 * The whole run. opts: { runs, seconds (TCP), ppsSeconds, offloads }; io: { out(line), figure({name, unit,
 * value, median, min, max, runs, detail}) }. Resolves to { ratios, targets, per }.
 */
export async function runVxlanKernelBench(opts = {}, io = { out: () => undefined, figure: () => undefined }) {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, veth, vxlan, TAP)');
  const runs = opts.runs ?? 3;
  const seconds = opts.seconds ?? 10;
  const ppsSeconds = opts.ppsSeconds ?? Math.min(2, seconds);
  const lab = new Lab();
  const nodes = [];
  const onSignal = () => { cleanup().finally(() => process.exit(130)); };
  const cleanup = async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await lab.cleanup();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    lab.flood = await lab.compile('udp-flood');
    const pw = await podwireTopology(lab);
    nodes.push(pw.node);
    const kn = await kernelTopology(lab, pw.qIp);
    const tops = [pw, kn];
    if (opts.offloads === true) {
      const po = await podwireTopology(lab, true);
      nodes.push(po.node);
      tops.push(po, await kernelTopology(lab, po.qIp, true));
    }
    for (const t of tops) {
      await lab.servers(t.p);
      await lab.servers(t.q);
      for (const [from, to] of [[t.q, '10.244.2.2'], [t.p, t.qIp]]) {
        const out = await inNs(from, 'ping', '-c', '3', '-i', '0.1', '-W', '2', to).catch((e) => String(e.stdout ?? e.message));
        if (!/ [1-9]\d* received/.test(out)) throw new Error(`${t.name}: no ping reply ${from} -> ${to}${t.node !== null ? `; podwire: ${t.node.stderr.trim()}` : ''}`);
      }
    }
    const per = Object.fromEntries(tops.map((t) => [t.name, []]));
    for (let r = 0; r < runs; r++) {
      for (const t of tops) {
        if (process.stderr.isTTY) process.stderr.write(`\r# vxlan-kernel round ${r + 1}/${runs} ${t.name}        `);
        per[t.name].push(await measure(lab, t, { seconds, ppsSeconds }));
      }
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    for (const t of tops) {
      const rs = per[t.name];
      for (const m of METRICS) {
        const xs = rs.map((x) => x[m]);
        const drops = m.startsWith('socket-drops');
        const value = drops ? Math.max(...xs) : median(xs);
        if (!Number.isFinite(value)) continue;
        const detail = { seconds: m.startsWith('pps') ? ppsSeconds : seconds };
        if (drops) Object.assign(detail, { of: 'max over runs', perRun: rs.map((x) => x.detail[m === 'socket-drops' ? 'tcp' : 'tcp.reverse']) });
        if (m === 'pps.reverse') detail.perRun = rs.map((x) => x.detail[m]); // node1's socket drops during the flood
        io.figure({ name: `vxlan-kernel.${t.name}.${m}`, unit: UNITS[m], value, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs, detail });
      }
    }
    const ratios = [];
    const pairs = VXLAN_KERNEL_RATIOS.map(([m, target]) => ['podwire', 'kernel', m, target]);
    if (opts.offloads === true) pairs.push(...VXLAN_KERNEL_RATIOS.map(([m]) => ['podwire.offloads', 'kernel.offloads', m, 0]));
    for (const [of, to, m, target] of pairs) {
      const ratio = median(per[of].map((x, i) => x[m] / per[to][i][m]).filter(Number.isFinite));
      if (!Number.isFinite(ratio)) continue;
      const met = target === 0 ? null : ratio >= target;
      ratios.push({ of, to, metric: m, ratio, target, higher: true, met });
      io.out(formatLine(`vxlan-kernel.${of}/${to}.${m}`, ratio, 'x')); // verdicts: the target lines
    }
    const targets = ratios.filter((r) => r.met !== null).map((r) => ({
      figure: `vxlan-kernel podwire / kernel ${r.metric}`, op: '>=', threshold: r.target, unit: 'x', value: r.ratio, met: r.met,
    }));
    for (const m of ['socket-drops', 'socket-drops.reverse']) {
      const value = Math.max(...per.podwire.map((x) => x[m]));
      if (Number.isFinite(value)) targets.push({ figure: `vxlan-kernel.podwire.${m}`, op: '<=', threshold: 0, unit: 'datagrams', value, met: value <= 0 });
    }
    return { ratios, targets, per, seconds, ppsSeconds, runs };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const arg = (k) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  if (process.getuid?.() !== 0) {
    console.log('# skipped vxlan-kernel.*: needs root (network namespaces, veth, vxlan, TAP)');
    return;
  }
  const num = (k, d) => {
    const v = arg(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${k} ${JSON.stringify(v)}: must be a positive number`);
    return n;
  };
  const opts = { runs: num('--runs', 3), seconds: num('--seconds', 10), offloads: argv.includes('--offloads') };
  opts.ppsSeconds = num('--pps-seconds', Math.min(2, opts.seconds));
  console.log(`# podwire vxlan-kernel bench, node ${process.version}, ${os.cpus()[0]?.model.trim()} x${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; `
    + `${opts.runs} rounds: pps ${opts.ppsSeconds} s, iperf3 ${opts.seconds} s (socket-drops: max over rounds)`);
  const figures = [];
  const res = await runVxlanKernelBench(opts, {
    out: (l) => console.log(l),
    figure: (f) => { figures.push(f); console.log(formatLine(f.name, f.value, f.unit)); },
  });
  const { targetLines } = await import('./targets.mjs');
  for (const l of targetLines(res.targets)) console.log(l);
  const json = arg('--json') ?? fileURLToPath(new URL('../../bench-results/vxlan-kernel-latest.json', import.meta.url));
  mkdirSync(dirname(resolve(json)), { recursive: true });
  writeFileSync(json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, loadavgEnd: os.loadavg(), figures, ...res }, null, 2)}\n`);
  console.log(`# json: ${json}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(`vxlan-kernel bench: ${e?.stack ?? e}`); process.exitCode = 1; });
}
