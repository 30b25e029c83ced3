/**
 * The echo/chargen loop through the product path (issue 13, "one spoofed datagram freezes the
 * process"): `podwire up` with an attached namespace (pod1, through a TAP); from inside it,
 * an AF_PACKET socket sends one UDP datagram 10.244.1.3:9000 -> 10.244.2.2:9000 (pod2's
 * address as source, to pod3's udp-echo). pod3 answers pod2, pod2 answers pod3, forever, as
 * two real echo servers would. Asserted while the loop runs: podwire stays up, /healthz
 * answers within 1 s, ping between pods works; the pool is back where it was once the loop
 * is broken (pod2 deleted); with a second loop running (pod4 <-> pod3), SIGINT stops podwire
 * within 2 s. The namespace, the TAP and the process are removed in afterAll (by PID).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { until } from '../integration/helpers.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, killAndWait, removeTestLeftovers, startPodwireUp } from './attach-util.js';

/** Sends one UDP datagram SRC:PORT -> DST:PORT as a raw Ethernet frame out of IFNAME (AF_PACKET). */
const INJECT_PY = `
import socket, struct, sys
ifname, dst_mac, src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
payload = b'echo loop\\n'
udp_len = 8 + len(payload)
saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
pseudo = saddr + daddr + struct.pack('!BBH', 0, 17, udp_len)
udp = struct.pack('!HHHH', port, port, udp_len, 0) + payload
c = csum(pseudo + udp) or 0xffff
udp = udp[:6] + struct.pack('!H', c) + udp[8:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 1, 0x4000, 64, 17, 0, saddr, daddr)
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4]
frame = bytes.fromhex(dst_mac.replace(':', '')) + src_mac + b'\\x08\\x00' + ip + udp
s.send(frame)
print(len(frame))
`;

interface Stats {
  pool: { size: number; available: number };
  engine: Record<string, number>;
  interfaces: Record<string, { rxPackets: number }>;
}

describeE2E('an echo loop injected from an attached namespace (podwire up)', ['root', 'tun', 'netns', 'ping', 'python3'], () => {
  const cluster = uniq('pwsched');
  const nsA = uniq('pwschedA');
  const dir = mkdtempSync(join(tmpdir(), 'podwire-echo-loop-'));
  const topo = join(dir, 'topology.yaml');
  let child: ChildProcess | null = null;
  let exited: Promise<number | null> = Promise.resolve(null);

  beforeAll(async () => {
    buildDist();
    await ipx.netnsAdd(nsA);
    writeFileSync(topo, `cluster: { name: ${cluster}, dnsReplicas: 0 }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: pod1, node: node1, ip: 10.244.1.2, attach: { netns: ${nsA} } }
  - { name: pod2, node: node1, ip: 10.244.1.3, apps: [{ type: udp-echo, port: 9000 }] }
  - { name: pod3, node: node2, ip: 10.244.2.2, apps: [{ type: udp-echo, port: 9000 }] }
  - { name: pod4, node: node2, ip: 10.244.2.3, apps: [{ type: udp-echo, port: 9000 }] }
`);
  }, 120_000);

  afterAll(async () => {
    try {
      await killAndWait(child); // the podwire this test started
    } finally {
      expect(await removeTestLeftovers(cluster, dir, [nsA])).toEqual([]);
    }
  }, 30_000);

  it('stays up and responsive while two echo servers answer each other; ping works; the pool comes back; SIGINT stops it within 2 s', async () => {
    const up = startPodwireUp(topo);
    const pw = up.child;
    child = pw;
    exited = up.exited;
    const api = await up.api;
    const alive = (): boolean => pw.exitCode === null && pw.signalCode === null;
    const get = async <T>(path: string): Promise<T> => (await fetch(`${api}${path}`, { signal: AbortSignal.timeout(1000) })).json() as Promise<T>;
    const rx = async (pod: string): Promise<number> => (await get<Stats>('/stats')).interfaces[`${pod}/eth0`]!.rxPackets;
    const inject = async (src: string, dst: string): Promise<void> => {
      expect(await inNs(nsA, 'python3', '-c', INJECT_PY, 'eth0', gwMac, src, dst, '9000')).toMatch(/^\d+/);
    };
    const looping = async (pod: string): Promise<void> => {
      const n = await rx(pod);
      await until(`an echo loop through ${pod}`, async () => (await rx(pod)) > n + 1000);
    };

    // Warm up: pod1 reaches pod3 and learns its gateway's MAC (the frame's destination).
    expect(await inNs(nsA, 'ping', '-c', '1', '-W', '2', '10.244.2.2')).toMatch(/1 received/);
    const neigh = JSON.parse(await inNs(nsA, 'ip', '-j', 'neigh', 'show', '10.244.1.1')) as { lladdr?: string }[];
    const gwMac = neigh[0]?.lladdr ?? '';
    expect(gwMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const base = await get<Stats>('/stats');
    const baseline = base.pool.available; // the TAP port keeps one batch of pool packets to read into

    // Loop 1: pod2's address to pod3's udp-echo.
    await inject('10.244.1.3', '10.244.2.2');
    await looping('pod3');
    await looping('pod2');
    expect(alive()).toBe(true);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      expect((await get<{ status: string }>('/healthz')).status).toBe('ok');
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    expect(await inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.244.2.2')).toMatch(/3 received/);
    const s1 = await get<Stats>('/stats');
    expect(s1.engine['yields']).toBeGreaterThan(0); // turns given back to the event loop
    expect(s1.engine['loopAborts']).toBe(0);
    await looping('pod3'); // still going

    // Break the loop: without pod2 its datagram has nowhere to go; every packet comes back.
    const del = await fetch(`${api}/pods/pod2`, { method: 'DELETE', signal: AbortSignal.timeout(1000) });
    expect(del.status).toBe(200);
    await until('the pool to be back at its baseline', async () => (await get<Stats>('/stats')).pool.available === baseline);
    const still = await rx('pod3');
    expect(await inNs(nsA, 'ping', '-c', '1', '-W', '2', '10.244.2.2')).toMatch(/1 received/);
    expect(await rx('pod3')).toBeLessThan(still + 10); // the ping, not a loop
    expect((await get<Stats>('/stats')).pool.available).toBe(baseline);

    // Loop 2 (pod4's address to pod3), then Ctrl-C while it runs.
    await inject('10.244.2.3', '10.244.2.2');
    await looping('pod4');
    expect(alive()).toBe(true);
    const t0 = performance.now();
    pw.kill('SIGINT');
    const code = await exited;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(code).toBe(0);
  }, 90_000);
});
