#!/usr/bin/env node
/**
 * TAP dataplane benchmark (root only): real processes in two network namespaces talk
 *   podwire.same-node   through podwire: TAP -> node1 bridge -> TAP (attached pods)
 *   podwire.two-nodes   through podwire: TAP -> node1 -> VXLAN -> underlay -> node2 -> TAP
 *   kernel-bridge       through the kernel: veth -> bridge (in a third namespace) -> veth
 *   vde-switch          through vde_switch (vde2) with two TAPs (`vde_switch -t A -t B`)
 * and prints, per path: 64-byte UDP frames/s received (iperf3 -u -l 18 -b 0: 18 bytes of
 * payload + 8 UDP + 20 IP + 14 Ethernet = 60, 64 with the FCS), TCP throughput (iperf3),
 * ping RTT (100 echoes, 10 ms apart); then podwire's ratios to the other two.
 *
 *   node tools/bench/tap.mjs [--seconds N]     (after `npm run build`; uses dist/)
 *
 * Addresses (10.250.0.1, .2 for the kernel and vde paths; the cluster's own for podwire)
 * exist only inside the namespaces made here, which are deleted at the end, as are the
 * processes started (by PID). podwire runs in this process; the tools run as children.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const secIdx = process.argv.indexOf('--seconds');
const SECONDS = secIdx > 0 ? Number(process.argv[secIdx + 1]) : 3;

if (process.getuid?.() !== 0) {
  console.log('# tap bench skipped: needs root (TAP devices, network namespaces)');
  process.exit(0);
}

const tag = process.pid.toString(36);
const nsNames = [];
const children = [];
const sh = async (...a) => (await run(a[0], a.slice(1), { maxBuffer: 16 << 20 })).stdout;
const inNs = (ns, ...a) => sh('ip', 'netns', 'exec', ns, ...a);
async function netns(name) { await sh('ip', 'netns', 'add', name); nsNames.push(name); await sh('ip', '-n', name, 'link', 'set', 'lo', 'up'); return name; }
function bg(cmd, args, opts = {}) { const c = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'], ...opts }); children.push(c); return c; }
async function stop(c) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** iperf3 UDP 64-byte frames, iperf3 TCP, ping: from namespace `a` to `ip` (iperf3 -s runs in `b`). */
async function measure(a, b, ip) {
  const server = bg('ip', ['netns', 'exec', b, 'iperf3', '-s', '-p', '5299']);
  for (let i = 0; i < 50 && !(await inNs(b, 'ss', '-Hltn').catch(() => '')).includes(':5299'); i++) await sleep(50);
  try {
    const ping = await inNs(a, 'ping', '-q', '-c', '100', '-i', '0.01', '-W', '2', ip);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping)?.[1];
    const udp = JSON.parse(await inNs(a, 'iperf3', '-c', ip, '-p', '5299', '-u', '-l', '18', '-b', '0', '-t', String(SECONDS), '-J'));
    const s = udp.end.sum;
    const tcp = JSON.parse(await inNs(a, 'iperf3', '-c', ip, '-p', '5299', '-t', String(SECONDS), '-J'));
    return {
      udpPps: (s.packets - s.lost_packets) / s.seconds, udpLost: s.lost_percent,
      tcpMbps: tcp.end.sum_received.bits_per_second / 1e6, rttMs: rtt !== undefined ? Number(rtt) : NaN,
    };
  } finally {
    await stop(server);
  }
}

async function podwirePath(twoNodes) {
  const { Cluster } = await load('kube/cluster.js');
  const { validateTopology } = await load('kube/topology.js');
  const { attachTopologyPods } = await load('io/attach.js');
  const { formatIpv4 } = await load('wire/addr.js');
  const a = await netns(`pwbA${tag}`);
  const b = await netns(`pwbB${tag}`);
  const r = validateTopology({
    cluster: { name: `pwbench${tag}`, dnsReplicas: 0 },
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    pods: [{ name: 'a', node: 'node1', attach: { netns: a } }, { name: 'b', node: twoNodes ? 'node2' : 'node1', attach: { netns: b } }],
    services: [],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const cluster = new Cluster(r.topology);
  try {
    const [, pb] = await attachTopologyPods(cluster);
    const res = await measure(a, b, formatIpv4(pb.plan.ip));
    const drops = {};
    for (const p of cluster.attached.values()) Object.assign(drops, ...Object.entries(p.port.drops.toJSON()).map(([k, v]) => ({ [`${p.plan.name}.${k}`]: v })));
    return { ...res, drops, linkDrops: cluster.engine.linkDrops };
  } finally {
    cluster.close();
    await cleanupNs();
  }
}

async function kernelBridge() {
  const a = await netns(`pwbA${tag}`);
  const b = await netns(`pwbB${tag}`);
  const k = await netns(`pwbK${tag}`);
  try {
    await sh('ip', '-n', k, 'link', 'add', 'br0', 'type', 'bridge');
    await sh('ip', '-n', k, 'link', 'set', 'br0', 'up');
    for (const [ns, peer, addr] of [[a, 'vA', '10.250.0.1/24'], [b, 'vB', '10.250.0.2/24']]) {
      await sh('ip', '-n', k, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await sh('ip', '-n', k, 'link', 'set', peer, 'master', 'br0', 'up');
      await sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
      await sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
    }
    return await measure(a, b, '10.250.0.2');
  } finally {
    await cleanupNs();
  }
}

async function vdeSwitch() {
  const a = await netns(`pwbA${tag}`);
  const b = await netns(`pwbB${tag}`);
  const dir = mkdtempSync(join(tmpdir(), 'podwire-vde-'));
  const tapA = `pwbva${tag}`.slice(0, 15);
  const tapB = `pwbvb${tag}`.slice(0, 15);
  // vde_switch exits on EOF of its console (stdin): the pipe stays open until we kill it.
  const sw = bg('vde_switch', ['-s', join(dir, 'sock'), '-t', tapA, '-t', tapB]);
  try {
    for (let i = 0; i < 50; i++) {
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
    return await measure(a, b, '10.250.0.2');
  } finally {
    await stop(sw);
    rmSync(dir, { recursive: true, force: true });
    await cleanupNs();
  }
}

async function cleanupNs() {
  while (nsNames.length > 0) await sh('ip', 'netns', 'delete', nsNames.pop()).catch(() => undefined);
}

const fmt = (r) => `${(r.udpPps / 1e3).toFixed(1).padStart(8)} kpps (64 B UDP, ${r.udpLost.toFixed(1)}% lost)  `
  + `${r.tcpMbps.toFixed(0).padStart(6)} Mbit/s TCP  ${r.rttMs.toFixed(3)} ms RTT`;

const results = {};
try {
  for (const [name, fn] of [['podwire.same-node', () => podwirePath(false)], ['podwire.two-nodes', () => podwirePath(true)],
    ['kernel-bridge', kernelBridge], ['vde-switch', vdeSwitch]]) {
    try {
      results[name] = await fn();
      console.log(`${name.padEnd(18)} ${fmt(results[name])}`);
      if (results[name].drops !== undefined && Object.keys(results[name].drops).length > 0) console.log(`#   drops: ${JSON.stringify(results[name].drops)}`);
    } catch (e) {
      console.log(`# ${name} skipped: ${String(e?.message ?? e).split('\n')[0]}`);
    }
  }
  for (const p of ['podwire.same-node', 'podwire.two-nodes']) {
    for (const ref of ['kernel-bridge', 'vde-switch']) {
      const x = results[p]; const y = results[ref];
      if (x === undefined || y === undefined) continue;
      console.log(`ratio ${p} / ${ref}: UDP pps ${(x.udpPps / y.udpPps).toFixed(2)}  TCP ${(x.tcpMbps / y.tcpMbps).toFixed(2)}  RTT ${(x.rttMs / y.rttMs).toFixed(2)}`);
    }
  }
} finally {
  for (const c of children) await stop(c);
  await cleanupNs();
}
