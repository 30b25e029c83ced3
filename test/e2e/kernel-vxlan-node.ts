/**
 * A real Linux node with the kernel's own VXLAN device, built as flannel builds it, beside a
 * podwire process hosting one node, for end-to-end tests (throwaway namespaces only):
 *
 *   hostA (podwire's node1, vtep.bind <net>.1:8472) --veth-- hostB (Linux node2: flannel.1
 *   vxlan device, cbr0 bridge) --veth-- kpod (a pod namespace, 10.244.2.2)
 *
 * hostB gets the three entries flannel writes towards node1 (onlink route, permanent
 * neighbour, fdb entry) and tx checksum offload off on flannel.1 and the pod's eth0 (as
 * flannel does; a userspace VTEP would otherwise see partial inner checksums).
 * `Podwire` runs test/e2e/fixtures/run-node.mjs in a namespace, spoken to in JSON lines.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'dist');
const RUNNER = join(import.meta.dirname, 'fixtures', 'run-node.mjs');

/**
 * `ethtool -K <dev> tx off` without ethtool (SIOCETHTOOL, ETHTOOL_STXCSUM): the kernel then
 * fills in TCP/UDP checksums in software. With checksum offload on, a veth or the vxlan
 * device leaves the inner checksum partial (the "NIC" would finish it), and a userspace
 * VTEP receives it unfinished: the same reason flannel turns tx checksumming off on
 * flannel.1 (flannel-io/flannel#1279). ICMP is always summed in software.
 */
export const TX_CSUM_OFF = [
  'import ctypes, fcntl, socket, struct, sys',
  'ev = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))',
  'ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(ev)).ljust(40, b"\\0")',
  'so = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  'fcntl.ioctl(so.fileno(), 0x8946, ifr)',
].join('\n');

export const sh = async (...args: string[]): Promise<string> => (await run(args[0]!, args.slice(1), { maxBuffer: 16 << 20 })).stdout;
export const inNs = (ns: string, ...args: string[]): Promise<string> => sh('ip', 'netns', 'exec', ns, ...args);

export type Reply = Record<string, unknown> & { ok?: boolean };

/** A runner child process in a namespace, spoken to in JSON lines. */
export class Podwire {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly ready: Promise<Reply>;
  stderr = '';

  constructor(ns: string, topo: string, host: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, RUNNER, DIST, topo, host], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((res, rej) => {
      this.child.once('exit', (code) => rej(new Error(`runner exited (${code}): ${this.stderr}`)));
      lines.on('line', (l) => {
        const msg = JSON.parse(l) as Reply;
        if ('ready' in msg) {
          if (msg['ready'] === true) res(msg);
          else rej(new Error(String(msg['error'])));
          return;
        }
        const id = msg['id'] as number;
        this.waiting.get(id)?.(msg);
        this.waiting.delete(id);
      });
    });
    this.ready.catch(() => undefined);
  }

  request(cmd: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((res) => {
      this.waiting.set(id, res);
      this.child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((res) => this.child.once('exit', () => res()));
    this.child.stdin!.end(`${JSON.stringify({ op: 'quit' })}\n`);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000); // only the child we started
    await exited;
    clearTimeout(t);
  }
}

export interface KernelVxlanNames {
  /** podwire's host namespace. */
  hostA: string;
  /** The Linux node's namespace. */
  hostB: string;
  /** The Linux node's pod namespace. */
  kpod: string;
}

export const KERNEL_VTEP_MAC = '0e:00:00:00:77:02';

/** The underlay: node1 (podwire) at `${net}.1`, node2 (Linux) at `${net}.2`. */
export async function buildKernelVxlanNode(n: KernelVxlanNames, net = '192.168.77'): Promise<void> {
  const { hostA, hostB, kpod } = n;
  const node1 = `${net}.1`;
  const node2 = `${net}.2`;
  // 02:58 + node1's IP bytes, as podwire derives a VTEP MAC.
  const node1Mac = `02:58:${node1.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;
  for (const ns of [hostA, hostB, kpod]) await sh('ip', 'netns', 'add', ns);
  for (const ns of [hostA, hostB, kpod]) await sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  await sh('ip', '-n', hostA, 'link', 'add', 'vethA', 'type', 'veth', 'peer', 'name', 'vethB', 'netns', hostB);
  await sh('ip', '-n', hostA, 'addr', 'add', `${node1}/24`, 'dev', 'vethA');
  await sh('ip', '-n', hostA, 'link', 'set', 'vethA', 'up');
  await sh('ip', '-n', hostB, 'addr', 'add', `${node2}/24`, 'dev', 'vethB');
  await sh('ip', '-n', hostB, 'link', 'set', 'vethB', 'up');
  await inNs(hostB, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  await sh('ip', '-n', hostB, 'link', 'add', 'flannel.1', 'address', KERNEL_VTEP_MAC, 'type', 'vxlan', 'id', '1', 'dstport', '8472',
    'local', node2, 'dev', 'vethB', 'nolearning');
  await sh('ip', '-n', hostB, 'link', 'set', 'flannel.1', 'mtu', '1450', 'up');
  await sh('ip', '-n', hostB, 'addr', 'add', '10.244.2.0/32', 'dev', 'flannel.1');
  await sh('ip', '-n', hostB, 'link', 'add', 'cbr0', 'type', 'bridge');
  await sh('ip', '-n', hostB, 'addr', 'add', '10.244.2.1/24', 'dev', 'cbr0');
  await sh('ip', '-n', hostB, 'link', 'set', 'cbr0', 'mtu', '1450', 'up');
  await sh('ip', '-n', hostB, 'link', 'add', 'veth0', 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', kpod);
  await sh('ip', '-n', hostB, 'link', 'set', 'veth0', 'master', 'cbr0', 'up');
  await sh('ip', '-n', kpod, 'addr', 'add', '10.244.2.2/24', 'dev', 'eth0');
  await sh('ip', '-n', kpod, 'link', 'set', 'eth0', 'up');
  await sh('ip', '-n', kpod, 'route', 'add', 'default', 'via', '10.244.2.1');
  await inNs(kpod, 'python3', '-c', TX_CSUM_OFF, 'eth0');
  await inNs(hostB, 'python3', '-c', TX_CSUM_OFF, 'flannel.1');
  await sh('ip', '-n', hostB, 'route', 'add', '10.244.1.0/24', 'via', '10.244.1.0', 'dev', 'flannel.1', 'onlink');
  await sh('ip', '-n', hostB, 'neigh', 'add', '10.244.1.0', 'lladdr', node1Mac, 'dev', 'flannel.1', 'nud', 'permanent');
  await inNs(hostB, 'bridge', 'fdb', 'append', node1Mac, 'dev', 'flannel.1', 'dst', node1);
}

/** The topology podwire's side runs: node1 on a real socket, node2 the Linux node (external). */
export function kernelVxlanTopology(name: string, net = '192.168.77'): string {
  return [
    `cluster: { name: ${name}, nodeCIDR: ${net}.0/24, dnsReplicas: 0 }`,
    'nodes:',
    `  - { name: node1, ip: ${net}.1, vtep: { bind: "${net}.1:8472" } }`,
    `  - { name: node2, external: true, vtepIP: ${net}.2, vtepMAC: "${KERNEL_VTEP_MAC}", podCIDR: 10.244.2.0/24 }`,
    'pods:',
    '  - { name: pod1, node: node1 }',
    '',
  ].join('\n');
}

/**
 * The kernel's own drop count for the UDP socket bound at ip:port in namespace `ns`: the
 * `drops` column of /proc/net/udp (sk_drops, what `ss -uam` shows as `d`); null when no
 * socket is bound there.
 */
export async function procUdpDrops(ns: string, ip: string, port: number): Promise<number | null> {
  const hex = ip.split('.').reverse().map((b) => Number(b).toString(16).padStart(2, '0')).join('').toUpperCase();
  const local = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const text = await inNs(ns, 'cat', '/proc/net/udp');
  const line = text.split('\n').find((l) => l.trim().split(/\s+/)[1] === local);
  return line === undefined ? null : Number(line.trim().split(/\s+/).at(-1));
}

/** A counter of /proc/net/snmp (`Tcp` `RetransSegs`, `Udp` `RcvbufErrors`) in namespace `ns`. */
export async function snmpCounter(ns: string, proto: string, name: string): Promise<number> {
  const lines = (await inNs(ns, 'cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith(`${proto}:`));
  const keys = lines[0]!.trim().split(/\s+/);
  const vals = lines[1]!.trim().split(/\s+/);
  return Number(vals[keys.indexOf(name)]);
}
