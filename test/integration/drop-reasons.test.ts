/**
 * Every drop reason is countable in `podwire stats` (GET /stats, the CLI's text and --json):
 * a walk over the whole cluster object graph finds every drop counter (elements, and what is
 * not an element: the conntrack/NAT hooks, kube-proxy's filter), sets each reason to 1 and
 * finds it in the stats view; then the conntrack table of a node with `conntrack.max: 16`
 * filled by real flows, through the API and the `podwire` command in-process: one-shot UDP
 * flows evict each other (Linux's early_drop, counted), ASSURED streams lock new flows out
 * (`conntrack-table-full` in the drop reasons).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApi, type StartedApi } from '../../src/api/server.js';
import type { Io } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { Controller } from '../../src/control/controller.js';
import { examplePath } from '../../src/control/load.js';
import { statsView } from '../../src/control/views.js';
import { Counters } from '../../src/engine/counters.js';
import { Cluster } from '../../src/kube/cluster.js';
import type { IpHost } from '../../src/net/ip-host.js';
import { emitIpv4, IpProtocol } from '../../src/wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../../src/wire/udp.js';
import { topology } from './cluster-util.js';

interface DropOwner { path: string; drops: Counters }

/**
 * Every object reachable from `root` (own properties, Map and Set members, array items) that
 * has a `drops` property holding a Counters: what can count a dropped packet.
 */
function dropOwners(root: object): DropOwner[] {
  const seen = new Set<object>();
  const out: DropOwner[] = [];
  const stack: [unknown, string][] = [[root, 'cluster']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Counters) continue;
    const drops = (v as { drops?: unknown }).drops;
    if (drops instanceof Counters) out.push({ path, drops });
    if (v instanceof Map) {
      for (const [k, x] of v) stack.push([k, `${path}.key`], [x, `${path}.get(${String(k)})`]);
    } else if (v instanceof Set) {
      for (const x of v) stack.push([x, `${path}.item`]);
    }
    for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], `${path}.${k}`]);
  }
  return out;
}

describe('every drop reason of every element is in the stats view', () => {
  it.each(['vxlan', 'routed'] as const)('%s overlay: each declared reason, set once per owner, adds up in dropReasons', (overlay) => {
    const c = new Cluster(topology(examplePath('demo.yaml'), { overlay }));
    const owners = dropOwners(c);
    // The walk finds the kinds of drop owners the demo has (so the test is not vacuous).
    const lists = new Set(owners.map((o) => o.drops.names.join(',')));
    for (const r of ['arp-not-for-us', 'hairpin-off', 'mtu-exceeded', 'conntrack-table-full', 'no-endpoints']) {
      expect([...lists].some((l) => l.split(',').includes(r)), r).toBe(true);
    }
    if (overlay === 'vxlan') expect([...lists].some((l) => l.split(',').includes('wrong-vni'))).toBe(true);
    const want: Record<string, number> = {};
    for (const o of owners) {
      o.drops.values.fill(1);
      for (const r of o.drops.names) want[r] = (want[r] ?? 0) + 1;
    }
    const s = statsView(c) as { dropReasons: Record<string, number>; elements: { name: string; drops: Record<string, number> }[] };
    expect(s.dropReasons).toEqual(want);
    const listed = s.elements.filter((e) => Object.keys(e.drops).length > 0);
    expect(listed.length, owners.map((o) => o.path).join('\n')).toBe(owners.filter((o) => o.drops.names.length > 0).length);
    c.close();
  });
});

function memIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => { stdout.push(s); }, err: (s) => { stderr.push(s); }, isTTY: false };
}

/** One UDP datagram from `host` (source address filled in by its stack). */
function sendUdp(host: IpHost, dst: number, sport: number, dport: number): void {
  const p = host.alloc()!;
  const s = p.start;
  const src = host.sourceFor(dst);
  emitIpv4({
    src, dst, protocol: IpProtocol.Udp, ttl: 64, payloadLen: 12, ident: sport, dscp: 0, ecn: 0,
    dontFrag: false, moreFrags: false, fragOffset: 0,
  }, p.buf, s);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: 4 }, p.buf, s + 20);
  p.buf.set([0x70, 0x69, 0x6e, 0x67], s + 28);
  fillUdpChecksum(p.buf, s + 20, src, dst);
  p.end = s + 32;
  host.output(p);
}

describe('conntrack.max 16 on node1: pod1 -> pod2 udp-echo through the bridge (br_netfilter)', () => {
  let api: StartedApi | null = null;
  let ctl: Controller | null = null;
  let dir = '';
  afterEach(async () => {
    await api?.close();
    await ctl?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    api = null;
    ctl = null;
    dir = '';
  });

  /** The demo with conntrack.max 16, a Controller and the API on 127.0.0.1; pod1's echoes counted by source port. */
  async function setup(): Promise<{ c: Cluster; url: string; flow: (sport: number) => void; echoed: Set<number> }> {
    const t = topology(examplePath('demo.yaml'), { dnsReplicas: 0 });
    t.cluster.conntrack.max = 16;
    const c = new Cluster(t);
    dir = mkdtempSync(join(tmpdir(), 'podwire-ct-'));
    ctl = new Controller(c, { capturesDir: dir });
    api = await startApi(ctl, { host: '127.0.0.1', port: 0 });
    const pod1 = c.pod('pod1').ns;
    const pod2 = c.pod('pod2').plan.ip;
    const echoed = new Set<number>();
    for (let sport = 20000; sport < 20100; sport++) {
      pod1.bind(IpProtocol.Udp, sport, (p, info) => {
        if (info.src === pod2) echoed.add(info.dport);
        pod1.free(p);
      });
    }
    return { c, url: api.url, flow: (sport) => { sendUdp(pod1, pod2, sport, 9000); c.engine.advance(10); }, echoed };
  }

  async function cliStats(url: string): Promise<{ text: string; json: { dropReasons: Record<string, number> } }> {
    const io = memIo();
    expect(await main(['stats', '--api', url], io)).toBe(0);
    const j = memIo();
    expect(await main(['stats', '--json', '--api', url], j)).toBe(0);
    return { text: io.stdout.join('\n'), json: JSON.parse(j.stdout.join('\n')) as { dropReasons: Record<string, number> } };
  }

  it('16 ASSURED streams, then 21 new flows: conntrack-table-full 21 in /stats, podwire stats and --json', async () => {
    const { c, url, flow, echoed } = await setup();
    for (let k = 0; k < 16; k++) flow(20000 + k);
    c.engine.advance(3000);
    for (let k = 0; k < 16; k++) flow(20000 + k); // traffic 2 s after the first packet, with a reply seen: ASSURED
    expect(echoed.size).toBe(16);
    const list = ctl!.conntrackText({ node: 'node1' });
    expect(list.count).toBe(16);
    expect(list.text.split('\n').filter((l) => /^udp .* \[ASSURED\] /.test(l))).toHaveLength(16);
    for (let k = 16; k < 37; k++) flow(20000 + k);
    expect(echoed.size).toBe(16); // the 21 new flows were dropped at node1's conntrack

    const r = await fetch(`${url}/stats`);
    const s = await r.json() as { dropReasons: Record<string, number>; conntrackStats: Record<string, Record<string, number>> };
    expect(s.dropReasons['conntrack-table-full']).toBe(21);
    expect(s.conntrackStats['node1']).toMatchObject({ entries: 16, max: 16, earlyDrop: 0, insertFailed: 21 });
    const cli = await cliStats(url);
    expect(cli.text).toMatch(/^ {2}conntrack-table-full 21$/m);
    expect(cli.text).toMatch(/^conntrack entries: node1 16 of 16 \(early drops 0\)/m);
    expect(cli.json.dropReasons['conntrack-table-full']).toBe(21);
  });

  it('37 one-shot flows: each new one evicts one that is not ASSURED (early_drop 21), none is dropped', async () => {
    const { c, url, flow, echoed } = await setup();
    for (let k = 0; k < 37; k++) flow(20000 + k);
    expect(echoed.size).toBe(37);
    expect(c.services.conntrack.get('node1')!.count).toBe(16);
    const s = await (await fetch(`${url}/stats`)).json() as { dropReasons: Record<string, number>; conntrackStats: Record<string, Record<string, number>> };
    expect(s.dropReasons['conntrack-table-full']).toBeUndefined();
    expect(s.conntrackStats['node1']).toMatchObject({ entries: 16, max: 16, earlyDrop: 21, insertFailed: 0 });
    const cli = await cliStats(url);
    expect(cli.text).toMatch(/^conntrack entries: node1 16 of 16 \(early drops 21\)/m);
    expect(cli.text).not.toContain('conntrack-table-full');
  });
});
