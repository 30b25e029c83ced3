#!/usr/bin/env node
/**
 * The Linux kernel forwarding the topologies of the fwd.* figures (root only), so each
 * in-process figure can be read as a ratio to the kernel measured in the same run:
 *
 *   kernel.same-node              pod1 -> pod2: two namespaces on a bridge (br0) in a
 *                                 "node" namespace, joined by veth pairs
 *   kernel.cross-node.vxlan       pod1 -> pod3: two node namespaces, each with br0 and a
 *                                 flannel-style VXLAN device (id 1, dstport 8472,
 *                                 nolearning, onlink route + permanent neighbour + fdb
 *                                 entry per remote node), joined by a veth underlay
 *   kernel.clusterip.cross-node   the same, pod1 -> a ClusterIP: an iptables DNAT rule in
 *                                 node1's PREROUTING (conntrack + NAT, as kube-proxy)
 *
 * Traffic: tools/bench/udp-flood.c (compiled with cc -O2 into a temporary directory)
 * sends 18-byte UDP payloads (64-byte frames) with sendmmsg from the sender pod for
 * SECONDS; a sink in the receiver pod drains them with recvmmsg. The figure is the growth
 * of Udp InDatagrams (/proc/net/snmp of the receiver's namespace) per second: datagrams
 * delivered to the socket, as the in-process figures count them at a UdpSink. Sender and
 * sink are pinned to one CPU (`taskset -c CPU`), so the kernel gets one core as the
 * in-process figures do (the forwarding runs in softirq context on the sender's CPU).
 *
 *   node tools/bench/kernel.mjs [--runs N] [--seconds S] [--cpu N]
 *
 * Namespaces are named `pwk<role><pid>`; addresses exist only inside them; everything
 * made is removed at the end, on failure and on SIGINT/SIGTERM. Not root: skipped with a
 * message. `runKernelBench` is the same run for run.mjs.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const KERNEL_NAMES = ['kernel.same-node', 'kernel.cross-node.vxlan', 'kernel.clusterip.cross-node'];
/** In-process figure -> the kernel figure it is a ratio to. */
export const KERNEL_RATIOS = [
  ['fwd.same-node', 'kernel.same-node'],
  ['fwd.cross-node.vxlan', 'kernel.cross-node.vxlan'],
  ['fwd.clusterip.cross-node.vxlan', 'kernel.clusterip.cross-node'],
];
const PORT = 5001;
const VIP = '10.96.0.10';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function sh(cmd, ...args) {
  const { stdout } = await run(cmd, args, { maxBuffer: 1 << 20 });
  return stdout;
}

class KernelLab {
  constructor(cpu) {
    this.tag = process.pid.toString(36);
    this.cpu = String(cpu);
    this.namespaces = [];
    this.children = [];
    this.dir = mkdtempSync(join(tmpdir(), 'podwire-kernelbench-'));
  }

  async netns(role) {
    const name = `pwk${role}${this.tag}`;
    await sh('ip', 'netns', 'add', name);
    this.namespaces.push(name);
    await sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  ip(ns, ...args) {
    return sh('ip', '-n', ns, ...args);
  }

  exec(ns, ...args) {
    return sh('ip', 'netns', 'exec', ns, ...args);
  }

  async compile() {
    this.udp = join(this.dir, 'udp-flood');
    await sh('cc', '-O2', '-o', this.udp, new URL('./udp-flood.c', import.meta.url).pathname);
  }

  /** A node namespace with forwarding on and a bridge br0 holding `gw`/24. */
  async node(role, gw) {
    const ns = await this.netns(role);
    await this.exec(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    await this.ip(ns, 'link', 'add', 'br0', 'type', 'bridge');
    await this.ip(ns, 'addr', 'add', `${gw}/24`, 'dev', 'br0');
    await this.ip(ns, 'link', 'set', 'br0', 'up');
    return ns;
  }

  /** A pod namespace: eth0 (`addr`/24, default via `gw`) whose veth peer `host` is a port of br0 in `node`. */
  async pod(role, node, host, addr, gw) {
    const ns = await this.netns(role);
    await this.ip(node, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await this.ip(node, 'link', 'set', host, 'master', 'br0', 'up');
    await this.ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await this.ip(ns, 'link', 'set', 'eth0', 'up');
    await this.ip(ns, 'route', 'add', 'default', 'via', gw);
    return ns;
  }

  /** The sink in `ns`, pinned to the lab's CPU; resolves once it listens. */
  async sink(ns) {
    const c = spawn('ip', ['netns', 'exec', ns, 'taskset', '-c', this.cpu, this.udp, 'sink', String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(c);
    c.on('error', () => undefined);
    await new Promise((resolveReady, reject) => {
      const t = setTimeout(() => reject(new Error(`sink in ${ns}: not ready within 5 s`)), 5000);
      c.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(t); resolveReady(); } });
      c.once('exit', (code) => { clearTimeout(t); reject(new Error(`sink in ${ns} exited (${code})`)); });
    });
  }

  async inDatagrams(ns) {
    const snmp = await this.exec(ns, 'cat', '/proc/net/snmp');
    const lines = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
    const head = lines[0].trim().split(/\s+/);
    const vals = lines[1].trim().split(/\s+/);
    return Number(vals[head.indexOf('InDatagrams')]);
  }

  /** { delivered, sent }: datagrams/s delivered in `rx` and accepted by the sender's socket while `tx` sends to `dst` for `seconds`. */
  async rate(tx, rx, dst, seconds) {
    const before = await this.inDatagrams(rx);
    const t0 = process.hrtime.bigint();
    const sent = Number(await this.exec(tx, 'taskset', '-c', this.cpu, this.udp, 'send', dst, String(PORT), String(seconds)));
    await sleep(50); // let the sink read what is still queued
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    return { delivered: ((await this.inDatagrams(rx)) - before) / dt, sent: sent / dt };
  }

  async cleanup() {
    for (const c of this.children.splice(0)) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL'); // our own child (ip netns exec ... exec()s the sink), by its PID
      await Promise.race([gone, sleep(2000)]);
    }
    while (this.namespaces.length > 0) await sh('ip', 'netns', 'delete', this.namespaces.pop()).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** pod1 and pod2 on one node's bridge. */
async function sameNode(lab) {
  const node = await lab.node('n1', '10.99.1.1');
  const a = await lab.pod('a', node, 'veth0', '10.99.1.2', '10.99.1.1');
  const b = await lab.pod('b', node, 'veth1', '10.99.1.3', '10.99.1.1');
  return { tx: a, rx: b, dst: '10.99.1.3' };
}

/** Two nodes with flannel's vxlan backend programming (src/kube/overlay-vxlan.ts) and a veth underlay. */
async function crossNode(lab, clusterIp) {
  const n1 = await lab.node('x1', '10.99.1.1');
  const n2 = await lab.node('x2', '10.99.2.1');
  await lab.ip(n1, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n2);
  const nodes = [[n1, '192.168.99.1', '10.99.1.0', '02:99:00:00:00:01'], [n2, '192.168.99.2', '10.99.2.0', '02:99:00:00:00:02']];
  for (const [ns, underlay, net, mac] of nodes) {
    await lab.ip(ns, 'addr', 'add', `${underlay}/24`, 'dev', 'eth0');
    await lab.ip(ns, 'link', 'set', 'eth0', 'up');
    await lab.ip(ns, 'link', 'add', 'flannel.1', 'address', mac, 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', underlay, 'dev', 'eth0', 'nolearning');
    await lab.ip(ns, 'addr', 'add', `${net}/32`, 'dev', 'flannel.1');
    await lab.ip(ns, 'link', 'set', 'flannel.1', 'up');
  }
  for (const [ns, , , ] of nodes) {
    for (const [other, underlay, net, mac] of nodes) {
      if (other === ns) continue;
      await lab.ip(ns, 'route', 'add', `${net}/24`, 'via', net, 'dev', 'flannel.1', 'onlink');
      await lab.ip(ns, 'neigh', 'add', net, 'lladdr', mac, 'dev', 'flannel.1', 'nud', 'permanent');
      await sh('bridge', '-n', ns, 'fdb', 'append', mac, 'dev', 'flannel.1', 'dst', underlay);
    }
  }
  const a = await lab.pod('a', n1, 'veth0', '10.99.1.2', '10.99.1.1');
  const c = await lab.pod('c', n2, 'veth0', '10.99.2.2', '10.99.2.1');
  if (clusterIp) {
    await lab.exec(n1, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', `${VIP}/32`, '-p', 'udp', '--dport', String(PORT),
      '-j', 'DNAT', '--to-destination', `10.99.2.2:${PORT}`);
  }
  return { tx: a, rx: c, dst: clusterIp ? VIP : '10.99.2.2' };
}

const TOPOLOGIES = [
  ['kernel.same-node', (lab) => sameNode(lab)],
  ['kernel.cross-node.vxlan', (lab) => crossNode(lab, false)],
  ['kernel.clusterip.cross-node', (lab) => crossNode(lab, true)],
];

/**
 * Measures the figures whose name `match`es: per topology, a fresh lab, a 0.5 s warm-up
 * (ARP), then `runs` runs of `seconds`. Resolves to [{ name, unit, value, median, min, max,
 * runs, detail }]; `io.out(line)` gets progress notes. Throws (after cleaning up) when not root.
 */
export async function runKernelBench(opts = {}, io = { out: () => undefined }) {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, veth, bridge, vxlan, iptables)');
  const runs = opts.runs ?? 5;
  const seconds = opts.seconds ?? 1;
  const match = opts.match ?? (() => true);
  const cpu = opts.cpu ?? 0;
  const figures = [];
  for (const [name, build] of TOPOLOGIES) {
    if (!match(name)) continue;
    const lab = new KernelLab(cpu);
    const stop = () => { lab.cleanup().finally(() => process.exit(130)); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await lab.compile();
      const t = await build(lab);
      await lab.sink(t.rx);
      await lab.rate(t.tx, t.rx, t.dst, 0.5);
      const rates = [];
      const offered = [];
      for (let r = 0; r < runs; r++) {
        io.out(`${name}: run ${r + 1}/${runs}`);
        const x = await lab.rate(t.tx, t.rx, t.dst, seconds);
        rates.push(x.delivered / 1e6);
        offered.push(x.sent / 1e6);
      }
      if (rates.every((x) => x === 0)) throw new Error(`${name}: nothing was delivered (topology broken?)`);
      figures.push({
        name, unit: 'Mpps', value: median(rates), median: median(rates), min: Math.min(...rates), max: Math.max(...rates), runs: rates,
        detail: {
          seconds, cpu, sender: 'udp-flood.c sendmmsg x64', counted: 'Udp InDatagrams of the receiver namespace',
          offeredMpps: median(offered),
        },
      });
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      await lab.cleanup();
    }
  }
  return figures;
}

async function main() {
  const argv = process.argv.slice(2);
  const opt = (flag, dflt) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : dflt;
  };
  if (process.getuid?.() !== 0) {
    process.stdout.write('# skipped kernel.*: needs root (network namespaces, veth, bridge, vxlan, iptables)\n');
    return 0;
  }
  const figs = await runKernelBench({ runs: opt('--runs', 5), seconds: opt('--seconds', 1), cpu: opt('--cpu', 0) }, {
    out: (l) => process.stderr.write(`${l}\n`),
  });
  for (const f of figs) {
    process.stdout.write(`${f.name.padEnd(34)} ${f.value.toPrecision(3).padStart(9)} ${f.unit}  (sender's socket accepted ${f.detail.offeredMpps.toPrecision(3)} Mpps)\n`);
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`kernel bench: ${e?.stack ?? e}\n`);
    process.exitCode = 1;
  });
}
