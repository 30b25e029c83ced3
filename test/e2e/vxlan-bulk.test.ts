/**
 * Bulk TCP from a kernel VXLAN node into podwire (issue 13, "The VXLAN socket loses
 * datagrams under load"): the Linux node's pod sends 1 MiB over the kernel's flannel.1
 * device to a pod on podwire's node1; every datagram on the wire must reach podwire.
 * Asserted from the socket's own drop counter (`vxlanSocket.kernelDrops`, SO_MEMINFO) and
 * from the kernel's view of the same socket (/proc/net/udp `drops`), and the bytes must
 * arrive whole (length and SHA-256 answered by the receiving pod).
 *
 * Two receivers: an attached pod (a real namespace behind a TAP, with the kernel's TCP and
 * its window scaling, so the sender bursts hundreds of segments: the case that overflowed
 * the old socket's 208 KiB buffer) and an emulated pod (podwire's TCP, 64 KiB window).
 *
 * PODWIRE_VXLAN_BULK_MIB=n sends n MiB (default 1), for measuring; the result is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeE2E, uniq } from './prereq.js';
import { Podwire, buildKernelVxlanNode, inNs, kernelVxlanTopology, procUdpDrops, sh, snmpCounter, type Reply } from './kernel-vxlan-node.js';

const MIB = Number(process.env['PODWIRE_VXLAN_BULK_MIB'] ?? '1');
const NET = '192.168.79';

const CLIENT = [
  'import hashlib, random, socket, sys',
  'data = random.Random(13).randbytes(int(sys.argv[3]) << 20)',
  's = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)',
  's.sendall(data)',
  's.shutdown(socket.SHUT_WR)',
  'r = b""',
  'while True:',
  '    c = s.recv(4096)',
  '    if not c: break',
  '    r += c',
  'print(r.decode().strip())',
  'print(len(data), hashlib.sha256(data).hexdigest())',
].join('\n');

/** The attached pod's server: reads to EOF, answers "<bytes> <sha256>" as run-node's `sink` does. */
const SINK = [
  'import hashlib, socket, sys',
  'l = socket.socket()',
  'l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  'l.bind(("0.0.0.0", int(sys.argv[1])))',
  'l.listen(4)',
  'print("listening", flush=True)',
  'while True:',
  '    c, _ = l.accept()',
  '    h, n = hashlib.sha256(), 0',
  '    while True:',
  '        d = c.recv(65536)',
  '        if not d: break',
  '        n += len(d)',
  '        h.update(d)',
  '    c.sendall(f"{n} {h.hexdigest()}\\n".encode())',
  '    c.close()',
].join('\n');

interface SocketStats { kernelDrops: number; rcvbuf: number; backend: string; rxDatagrams: number }

describeE2E('VXLAN socket under bulk load from a kernel VXLAN node', ['root', 'netns', 'vxlan', 'tun', 'python3'], () => {
  const names = { hostA: uniq('pwvsA'), hostB: uniq('pwvsB'), kpod: uniq('pwvsP') };
  const apod = uniq('pwvsT');
  const namespaces = [...Object.values(names), apod];
  const dir = mkdtempSync(join(tmpdir(), 'podwire-vxlan-bulk-'));
  let pw: Podwire | null = null;
  let sink: ChildProcess | null = null;
  let attachedIp = '';

  beforeAll(async () => {
    await buildKernelVxlanNode(names, NET);
    await sh('ip', 'netns', 'add', apod);
    const topo = join(dir, 'bulk.yaml');
    writeFileSync(topo, `${kernelVxlanTopology('bulk', NET)}  - { name: apod, node: node1, attach: { netns: ${apod} } }\n`);
    pw = new Podwire(names.hostA, topo, 'node1');
    const ready = await pw.ready;
    attachedIp = (ready['attached'] as { pod: string; ip: string }[])[0]!.ip;
    sink = spawn('ip', ['netns', 'exec', apod, 'python3', '-c', SINK, '5002'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      sink!.once('exit', (code) => rej(new Error(`sink exited (${code})`)));
      sink!.stdout!.once('data', () => res());
    });
    expect(await pw.request({ op: 'sink', pod: 'pod1', port: 5001 })).toMatchObject({ ok: true });
  }, 120_000);

  afterAll(async () => {
    if (sink !== null && sink.exitCode === null && sink.signalCode === null) sink.kill('SIGKILL'); // only ours
    await pw?.stop().catch(() => undefined);
    for (const ns of namespaces) await sh('ip', 'netns', 'del', ns).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    const left = (await sh('ip', 'netns', 'list')).split('\n').filter((l) => namespaces.some((n) => l.startsWith(n)));
    expect(left).toEqual([]);
  });

  /** Sends MIB MiB from the kernel pod to ip:port; returns the drop counts seen around it. */
  async function transfer(what: string, ip: string, port: number): Promise<{ answer: string; expected: string; procDrops: number; sock: SocketStats }> {
    const drops0 = (await procUdpDrops(names.hostA, `${NET}.1`, 8472)) ?? 0;
    const retrans0 = await snmpCounter(names.kpod, 'Tcp', 'RetransSegs');
    const out = await inNs(names.kpod, 'python3', '-c', CLIENT, ip, String(port), String(MIB)).catch((e: Error) => {
      throw new Error(`${e.message}\npodwire (alive: ${pw!.child.exitCode === null}): ${pw!.stderr}`);
    });
    const [answer, expected] = out.trim().split('\n');
    const retrans = (await snmpCounter(names.kpod, 'Tcp', 'RetransSegs')) - retrans0;
    const procDrops = ((await procUdpDrops(names.hostA, `${NET}.1`, 8472)) ?? 0) - drops0;
    const stats: Reply = await pw!.request({ op: 'stats' });
    const sock = stats['vxlanSocket'] as SocketStats;
    process.stderr.write(`[vxlan-bulk] ${what}, ${MIB} MiB: kernel drops at podwire's socket ${procDrops} (/proc/net/udp), `
      + `${(procDrops / MIB).toFixed(1)} per MiB; ${retrans} TCP retransmissions (${(retrans / MIB).toFixed(1)} per MiB); `
      + `socket counter ${sock?.kernelDrops ?? 'n/a'}, backend ${sock?.backend ?? 'n/a'}, rcvbuf ${sock?.rcvbuf ?? 'n/a'}\n`);
    return { answer: answer!, expected: expected!, procDrops, sock };
  }

  it(`carries ${MIB} MiB of kernel TCP into an attached pod without a datagram lost at podwire's socket`, async () => {
    const r = await transfer('to an attached pod', attachedIp, 5002);
    expect(r.answer).toBe(r.expected); // "<bytes> <sha256>" as the receiving pod counted them
    expect(r.procDrops).toBe(0); // the kernel's own count for podwire's socket
    expect(r.sock).toBeTruthy();
    expect(r.sock.kernelDrops).toBe((await procUdpDrops(names.hostA, `${NET}.1`, 8472)) ?? -1); // the counter is that count
    expect(r.sock.kernelDrops).toBe(0);
    expect(r.sock.rxDatagrams).toBeGreaterThanOrEqual((MIB << 20) / 1450);
  }, 180_000);

  it(`carries ${MIB} MiB of kernel TCP into an emulated pod without a datagram lost at podwire's socket`, async () => {
    const r = await transfer('to an emulated pod', '10.244.1.2', 5001);
    expect(r.answer).toBe(r.expected);
    expect(r.procDrops).toBe(0);
    expect(r.sock).toBeTruthy();
    expect(r.sock.kernelDrops).toBe(0);
  }, 180_000);
});
