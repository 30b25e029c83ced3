/**
 * The LAND attack from a real namespace (issue 13, "Self-addressed packets recurse without
 * bound"): `podwire up` with one attached pod (a throwaway namespace, through a TAP) and an
 * emulated pod running tcp-echo and udp-echo. From inside the namespace, a raw AF_PACKET
 * socket (python3) sends the emulated pod a TCP SYN 10.244.1.3:7 -> 10.244.1.3:7 and a UDP
 * datagram 10.244.1.3:9000 -> 10.244.1.3:9000: its own address as source. That used to kill
 * podwire with `RangeError: Maximum call stack size exceeded`. Now both are dropped as Linux
 * drops them (`martian-source`, counted in GET /stats), podwire stays up, /healthz answers
 * within 1 s, ping between the pods still works, the packet pool is full again (all but the
 * TAP's read batch, as before the frames), and SIGINT
 * stops it within 2 s. Every namespace and process made here is removed in afterAll (by PID).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, killAndWait, removeTestLeftovers, startPodwireUp, waitFor } from './attach-util.js';

/** argv: destination MAC, the victim's address. Sends the two self-addressed frames out of eth0. */
const LAND = `
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
dst_mac = bytes.fromhex(sys.argv[1].replace(':', ''))
ip = socket.inet_aton(sys.argv[2])
src_mac = bytes.fromhex(open('/sys/class/net/eth0/address').read().strip().replace(':', ''))
def ipv4(proto, l4):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, ip, ip)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + l4
def pseudo(proto, l4):
    return ip + ip + struct.pack('!BBH', 0, proto, len(l4))
tcp = struct.pack('!HHIIBBHHH', 7, 7, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
tcp = tcp[:16] + struct.pack('!H', csum(pseudo(6, tcp) + tcp)) + tcp[18:]
udp = struct.pack('!HHHH', 9000, 9000, 12, 0) + b'land'
udp = udp[:6] + struct.pack('!H', csum(pseudo(17, udp) + udp) or 0xffff) + udp[8:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
for proto, l4 in ((6, tcp), (17, udp)):
    s.send(dst_mac + src_mac + b'\\x08\\x00' + ipv4(proto, l4))
print(2)
`;

interface Stats { pool: { size: number; available: number }; dropReasons: Record<string, number> }

describeE2E('LAND: self-addressed frames from an attached namespace', ['root', 'tun', 'netns', 'ping', 'python3'], () => {
  const cluster = uniq('pwmart');
  const nsA = uniq('pwmartA');
  const dir = mkdtempSync(join(tmpdir(), 'podwire-land-e2e-'));
  const topo = join(dir, 'topology.yaml');
  const script = join(dir, 'land.py');
  let pw: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    buildDist();
    await ipx.netnsAdd(nsA);
    writeFileSync(script, LAND);
    writeFileSync(topo, `cluster: { name: ${cluster}, dnsReplicas: 0 }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: apod, node: node1, attach: { netns: ${nsA} } }
  - { name: victim, node: node1, apps: [{ type: tcp-echo, port: 7 }, { type: udp-echo, port: 9000 }] }
  - { name: far, node: node2 }
`);
  }, 120_000);

  afterAll(async () => {
    try {
      await killAndWait(pw); // only the podwire this test started
    } finally {
      expect(await removeTestLeftovers(cluster, dir, [nsA])).toEqual([]);
    }
  }, 30_000);

  it('drops them as martian-source; podwire stays up and answers, ping works, the pool is full, SIGINT stops it', async () => {
    const up = startPodwireUp(topo);
    const child = up.child;
    pw = child;
    exited = up.exited.then(() => undefined);
    const api = await up.api; // ends in /api/v1
    const get = async <T>(path: string, ms = 5000): Promise<T> => {
      try {
        return await (await fetch(`${api}${path}`, { signal: AbortSignal.timeout(ms) })).json() as T;
      } catch (e) {
        throw new Error(`GET ${path}: ${(e as Error).message}; podwire up said:\n${up.output()}`);
      }
    };

    // apod 10.244.1.2 (attached), victim 10.244.1.3 (tcp-echo 7, udp-echo 9000), far 10.244.2.2.
    expect(await inNs(nsA, 'ping', '-c', '1', '-W', '2', '10.244.1.3')).toMatch(/1 received/);
    const neigh = JSON.parse(await inNs(nsA, 'ip', '-j', 'neigh', 'show', '10.244.1.3')) as { lladdr?: string }[];
    const mac = neigh[0]?.lladdr;
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const before = await get<Stats>('/stats');
    expect(before.dropReasons['martian-source'] ?? 0).toBe(0);

    expect((await inNs(nsA, 'python3', script, mac!, '10.244.1.3')).trim()).toBe('2');
    expect(await waitFor(async () => ((await get<Stats>('/stats')).dropReasons['martian-source'] ?? 0) >= 2, 5000), up.output()).toBe(true);
    expect(child.exitCode, up.output()).toBeNull();
    const t0 = performance.now();
    const health = await get<{ status: string }>('/healthz', 1000);
    const healthMs = performance.now() - t0;
    expect(health.status).toBe('ok');
    expect(healthMs).toBeLessThan(1000);

    expect(await inNs(nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.1.3')).toMatch(/2 received/);
    expect(await inNs(nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.2.2')).toMatch(/2 received/);
    // Full again: as before the frames, when only the TAP's read batch (64 packets) was out.
    expect(before.pool.size - before.pool.available).toBe(64);
    let s = await get<Stats>('/stats');
    expect(await waitFor(async () => { s = await get<Stats>('/stats'); return s.pool.available === before.pool.available; }, 3000), JSON.stringify(s.pool)).toBe(true);
    expect(s.dropReasons['martian-source']).toBe(2);

    const t1 = performance.now();
    child.kill('SIGINT');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
    const stopMs = performance.now() - t1;
    expect(stopped, up.output()).toBe(true);
    expect(child.exitCode, up.output()).toBe(0);
    console.log(`land e2e: /healthz ${healthMs.toFixed(1)} ms after the LAND frames, SIGINT to exit ${stopMs.toFixed(0)} ms, pool ${s.pool.available}/${s.pool.size}`);
  }, 60_000);
});
