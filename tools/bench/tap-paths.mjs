/**
 * The paths of the TAP benchmark (tools/bench/tap.mjs): each is a sender namespace `a`, a
 * receiver namespace `b` (with a UDP sink and an iperf3 server running in it) and the
 * destination address `ip` (`rttIp` for ping: null when the path cannot be pinged, i.e.
 * a ClusterIP). `Lab` records everything made (namespaces, processes, clusters, temp dir)
 * and `lab.cleanup()` removes it all: namespaces by name, processes by their own PID.
 *
 *   podwire.same-node     TAP -> node1 bridge -> TAP (default: no offloads)
 *   podwire.two-nodes     TAP -> node1 -> VXLAN -> underlay -> node2 -> TAP
 *   podwire.cluster-ip    a -> ClusterIP (DNAT on node1) -> VXLAN -> endpoint on node2
 *   podwire.offloads      same node, TAPs with IFF_VNET_HDR + TSO/CSUM (attach offloads)
 *   c-copier[.vnet]       tools/bench/tap-copier.c between two TAPs (no / with vnet hdr)
 *   vde-switch            `vde_switch -t A -t B`
 *   kernel-bridge[.no-offload]  veth -> bridge -> veth in a third namespace
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const sh = async (...a) => (await run(a[0], a.slice(1), { maxBuffer: 16 << 20 })).stdout;
export const inNs = (ns, ...a) => {
  const last = a.at(-1);
  if (typeof last === 'object' && last !== null) return shIn(last.input, 'ip', 'netns', 'exec', ns, ...a.slice(0, -1));
  return sh('ip', 'netns', 'exec', ns, ...a);
};
/** Runs a command with `input` on its stdin; resolves to its stdout. */
const shIn = (input, cmd, ...args) => new Promise((resolve, reject) => {
  const c = execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  c.stdin.end(input);
});

export const UDP_PORT = 5301;
export const TCP_PORT = 5299;

/** The flood's frames, counted and dropped at the receiving eth0's ingress hook (see Lab.servers). */
const FLOOD_DROP = `table netdev pwbench {
  counter flood {}
  chain in {
    type filter hook ingress device "eth0" priority 0;
    udp dport ${UDP_PORT} counter name "flood" drop
  }
}
`;

/** Packets the receiver's ingress rule counted (and dropped) so far. */
export async function floodCount(ns) {
  const j = JSON.parse(await inNs(ns, 'nft', '-j', 'list', 'counter', 'netdev', 'pwbench', 'flood'));
  return Number(j.nftables.find((o) => o.counter !== undefined)?.counter.packets ?? NaN);
}

/** Legacy SIOCETHTOOL set-ops (tx csum, sg, tso, gso, gro off): ethtool is not installed everywhere. */
const ETHTOOL_OFF = `
import fcntl, socket, struct, array, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for dev in sys.argv[1:]:
    for cmd in (0x1f, 0x24, 0x2c, 0x19, 0x17):
        buf = array.array('B', struct.pack('II', cmd, 0))
        ifr = struct.pack('16sP', dev.encode(), buf.buffer_info()[0])
        fcntl.ioctl(s.fileno(), 0x8946, ifr)
`;

export class Lab {
  constructor() {
    this.tag = process.pid.toString(36);
    this.namespaces = [];
    this.children = [];
    this.clusters = [];
    this.dir = mkdtempSync(join(tmpdir(), 'podwire-tapbench-'));
    this.seq = 0;
  }

  async netns(role) {
    const name = `pwb${role}${this.seq++}${this.tag}`;
    await sh('ip', 'netns', 'add', name);
    this.namespaces.push(name);
    await sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  /** A child process (stdin kept open: vde_switch exits on its console's EOF). */
  bg(cmd, args) {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdout.setEncoding('utf8');
    c.on('error', () => undefined);
    this.children.push(c);
    return c;
  }

  /** Waits for `text` on a child's stdout. */
  async ready(c, text, ms = 5000) {
    let seen = '';
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${c.spawnargs.join(' ')}: no "${text}" within ${ms} ms`)), ms);
      c.stdout.on('data', (d) => { seen += d; if (seen.includes(text)) { clearTimeout(t); resolve(); } });
      c.once('exit', (code) => { clearTimeout(t); reject(new Error(`${c.spawnargs.join(' ')} exited (${code})`)); });
    });
  }

  async compile(name) {
    const out = join(this.dir, name);
    await sh('cc', '-O2', '-o', out, new URL(`./${name}.c`, import.meta.url).pathname);
    return out;
  }

  /**
   * The receiver side of a path, in namespace `ns`: the iperf3 server, and for the 64-byte
   * flood no socket at all. The flood's frames are counted where the receiver costs least,
   * on the receiving eth0 (rx_packets, tap.mjs), and dropped right there by an nftables
   * netdev ingress rule (`udp dport UDP_PORT counter drop`, the hook of
   * __netif_receive_skb_core before the IP layer): no IP/UDP receive, no socket queue, no
   * process woken per datagram. (A UDP sink woken per datagram saturated first and made
   * every forwarder converge on its rate; issue 21.) The rule's own counter is a cross-check.
   */
  async servers(ns) {
    await inNs(ns, 'nft', '-f', '-', { input: FLOOD_DROP });
    this.bg('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-p', String(TCP_PORT)]);
    for (let i = 0; i < 100 && !(await inNs(ns, 'ss', '-Hltn').catch(() => '')).includes(`:${TCP_PORT}`); i++) await sleep(50);
  }

  async cleanup() {
    for (const c of this.clusters.splice(0)) { try { c.close(); } catch { /* already closed */ } }
    for (const c of this.children.splice(0)) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL'); // our own child, by its PID
      await Promise.race([gone, sleep(2000)]);
    }
    while (this.namespaces.length > 0) await sh('ip', 'netns', 'delete', this.namespaces.pop()).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Two TAPs made by a program (vde_switch, the copier), moved into fresh namespaces as eth0. */
async function tapPair(lab, name, start) {
  const a = await lab.netns('A');
  const b = await lab.netns('B');
  const tapA = `pwbt${lab.seq}a${lab.tag}`.slice(0, 15);
  const tapB = `pwbt${lab.seq}b${lab.tag}`.slice(0, 15);
  await start(tapA, tapB);
  for (let i = 0; i < 100; i++) {
    const links = await sh('ip', '-o', 'link', 'show', 'type', 'tun');
    if (links.includes(tapA) && links.includes(tapB)) break;
    await sleep(50);
  }
  for (const [tap, ns, addr] of [[tapA, a, '10.250.0.1/24'], [tapB, b, '10.250.0.2/24']]) {
    await sh('ip', 'link', 'set', 'dev', tap, 'netns', ns);
    await sh('ip', '-n', ns, 'link', 'set', 'dev', tap, 'name', 'eth0');
    await sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
    await sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
  }
  await lab.servers(b);
  return { name, a, b, ip: '10.250.0.2', rttIp: '10.250.0.2' };
}

export async function copierPath(lab, vnet) {
  const bin = await lab.compile('tap-copier');
  return tapPair(lab, vnet ? 'c-copier.vnet' : 'c-copier', async (ta, tb) => {
    const c = lab.bg(bin, [ta, tb, ...(vnet ? ['--vnet-hdr'] : [])]);
    await lab.ready(c, 'ready');
  });
}

export async function vdePath(lab) {
  return tapPair(lab, 'vde-switch', async (ta, tb) => {
    lab.bg('vde_switch', ['-s', join(lab.dir, 'vde.sock'), '-t', ta, '-t', tb]);
  });
}

export async function kernelBridgePath(lab, offloads) {
  const a = await lab.netns('A');
  const b = await lab.netns('B');
  const k = await lab.netns('K');
  await sh('ip', '-n', k, 'link', 'add', 'br0', 'type', 'bridge');
  await sh('ip', '-n', k, 'link', 'set', 'br0', 'up');
  for (const [ns, peer, addr] of [[a, 'vA', '10.250.0.1/24'], [b, 'vB', '10.250.0.2/24']]) {
    await sh('ip', '-n', k, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await sh('ip', '-n', k, 'link', 'set', peer, 'master', 'br0', 'up');
    await sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
    await sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
    if (!offloads) {
      await inNs(ns, 'python3', '-c', ETHTOOL_OFF, 'eth0');
      await inNs(k, 'python3', '-c', ETHTOOL_OFF, peer);
    }
  }
  await lab.servers(b);
  return { name: offloads ? 'kernel-bridge' : 'kernel-bridge.no-offload', a, b, ip: '10.250.0.2', rttIp: '10.250.0.2' };
}

/**
 * podwire: one cluster (node1, node2; pods a, b on node1, c on node2; a ClusterIP service
 * selecting c) -> same-node, two-nodes and cluster-ip paths sharing the client `a`; with
 * `offloads`, a second cluster whose two same-node pods attach with IFF_VNET_HDR offloads.
 */
export async function podwirePaths(lab, offloads) {
  const { Cluster } = await load('kube/cluster.js');
  const { validateTopology } = await load('kube/topology.js');
  const { attachTopologyPods } = await load('io/attach.js');
  const { formatIpv4 } = await load('wire/addr.js');
  const a = await lab.netns('A');
  const b = await lab.netns('B');
  const c = offloads ? null : await lab.netns('C');
  const pods = [{ name: 'a', node: 'node1', attach: { netns: a } }, { name: 'b', node: 'node1', attach: { netns: b } }];
  if (c !== null) pods.push({ name: 'c', node: 'node2', labels: { app: 'sink' }, attach: { netns: c } });
  const services = c === null ? [] : [{
    name: 'sink', selector: { app: 'sink' },
    ports: [{ name: 'tcp', port: TCP_PORT }, { name: 'udp', port: UDP_PORT, protocol: 'UDP' }],
  }];
  const r = validateTopology({
    cluster: { name: `pwb${offloads ? 'o' : 'd'}${lab.tag}`, dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }], pods, services,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const cluster = new Cluster(r.topology);
  lab.clusters.push(cluster);
  const attached = await attachTopologyPods(cluster, offloads ? { offloads: true } : {});
  const ipOf = (name) => formatIpv4(attached.find((p) => p.plan.name === name).plan.ip);
  await lab.servers(b);
  if (offloads) return [{ name: 'podwire.offloads', a, b, ip: ipOf('b'), rttIp: ipOf('b'), cluster }];
  await lab.servers(c);
  const vip = formatIpv4(cluster.plan.services.find((s) => s.name === 'sink').clusterIP);
  return [
    { name: 'podwire.same-node', a, b, ip: ipOf('b'), rttIp: ipOf('b'), cluster },
    { name: 'podwire.two-nodes', a, b: c, ip: ipOf('c'), rttIp: ipOf('c'), cluster },
    { name: 'podwire.cluster-ip', a, b: c, ip: vip, rttIp: null, cluster },
  ];
}
