/**
 * Helpers for whole-cluster tests: build a cluster from YAML or an example with overrides,
 * drive it in virtual time, and talk to pods the way a client would (raw ICMP echo, a UDP
 * datagram, an HTTP GET), plus a checker for the documented trace JSON shape.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { httpGet, type HttpResponse } from '../../src/apps/http.js';
import type { Hop } from '../../src/engine/trace.js';
import { Cluster } from '../../src/kube/cluster.js';
import { parseTopology } from '../../src/kube/topology.js';
import type { Journey } from '../../src/kube/trace.js';
import type { ClusterConfig, Topology } from '../../src/kube/types.js';
import type { NetNamespace } from '../../src/net/netns.js';
import { writeU16, writeU32 } from '../../src/wire/addr.js';
import { checksum } from '../../src/wire/checksum.js';
import { IpProtocol, writeIpv4Header } from '../../src/wire/ipv4.js';
import { writeUdpHeader } from '../../src/wire/udp.js';

/** Parses YAML (or reads an example file) and applies cluster-level overrides. */
export function topology(yamlOrPath: string, cluster: Partial<ClusterConfig> = {}): Topology {
  const text = yamlOrPath.includes('\n') ? yamlOrPath : readFileSync(yamlOrPath, 'utf8');
  const r = parseTopology(text, yamlOrPath.includes('\n') ? 'inline' : yamlOrPath);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  Object.assign(r.topology.cluster, cluster);
  return r.topology;
}

/** Three nodes, two pods each, every pod serving HTTP (body = its name) and UDP echo. */
export const THREE_NODES = `
cluster: { name: t3, overlay: routed, dnsReplicas: 0 }
nodes: [ { name: node1 }, { name: node2 }, { name: node3 } ]
pods:
${[1, 2, 3].flatMap((n) => ['a', 'b'].map((x) => `  - { name: p${n}${x}, node: node${n}, apps: [ { type: http, port: 8080 }, { type: udp-echo, port: 9000 } ] }`)).join('\n')}
`;

/** Documented hop actions (docs/trace.md). */
export const HOP_ACTIONS = new Set([
  'send', 'route', 'arp-request', 'arp-reply', 'veth', 'bridge-forward', 'bridge-flood', 'bridge-local', 'forward',
  'underlay', 'vxlan-encap', 'vxlan-decap', 'conntrack', 'dnat', 'un-dnat', 'snat', 'un-snat', 'deliver',
  'icmp-error', 'tcp-rst', 'sctp-abort', 'tcp-syn', 'tcp-closed', 'tap', 'drop', 'policy',
]);

/** Asserts the documented JSON shape of a journey (after a JSON round trip). */
export function expectJourneyShape(j: unknown): asserts j is Journey {
  const o = JSON.parse(JSON.stringify(j)) as Record<string, unknown>;
  expect(Object.keys(o).sort()).toEqual(['delivered', 'dropReason', 'hops']);
  expect(typeof o['delivered']).toBe('boolean');
  expect(o['dropReason'] === null || typeof o['dropReason'] === 'string').toBe(true);
  expect(Array.isArray(o['hops'])).toBe(true);
  for (const h of o['hops'] as Hop[]) {
    // time: while a trace runs (docs/trace.md, Time and captures); captures: when it writes them.
    expect(Object.keys(h).filter((k) => k !== 'time' && k !== 'captures').sort()).toEqual(['action', 'detail', 'device', 'netns', 'node']);
    if (h.time !== undefined) expect(typeof h.time).toBe('number');
    for (const k of ['node', 'netns', 'device', 'action'] as const) expect(typeof h[k]).toBe('string');
    expect(typeof h.detail).toBe('object');
    expect(HOP_ACTIONS.has(h.action), `undocumented action ${h.action}`).toBe(true);
  }
}

/** Actions of a journey, with consecutive duplicates kept (for order checks). */
export const actions = (j: Journey): string[] => j.hops.map((h) => h.action);

/** True when `want` appears in `have` in this order (not necessarily adjacent). */
export function isSubsequence(want: readonly string[], have: readonly string[]): boolean {
  let i = 0;
  for (const a of have) if (i < want.length && a === want[i]) i++;
  return i === want.length;
}

/** Raw ICMP echo from `ns` to `dst`; runs the engine `ms` virtual ms; returns the reply TTLs. */
export function ping(c: Cluster, ns: NetNamespace, dst: number, ident = 0x5151, ms = 5000): number[] {
  const ttls: number[] = [];
  ns.bind(1, ident, (p, info) => {
    if (p.buf[info.l4] === 0 && info.src === dst) ttls.push(info.ttl);
    ns.free(p);
  });
  const p = ns.alloc()!;
  const b = p.buf;
  const s = p.start;
  const total = 84;
  b.fill(0x70, s, s + total);
  b[s] = 0x45; b[s + 1] = 0;
  writeU16(b, s + 2, total); writeU16(b, s + 4, ident); writeU16(b, s + 6, 0x4000);
  b[s + 8] = 64; b[s + 9] = 1; writeU16(b, s + 10, 0);
  writeU32(b, s + 12, ns.sourceFor(dst)); writeU32(b, s + 16, dst);
  writeU16(b, s + 10, checksum(b, s, 20));
  b[s + 20] = 8; b[s + 21] = 0; writeU16(b, s + 22, 0); writeU16(b, s + 24, ident); writeU16(b, s + 26, 1);
  writeU16(b, s + 22, checksum(b, s + 20, total - 20));
  p.end = s + total;
  ns.output(p);
  c.engine.advance(ms);
  ns.unbind(1, ident);
  return ttls;
}

/** Sends one UDP datagram of `payload` from `ns` (its own source address) to dst:dport, built with the wire writers. */
export function sendUdp(ns: NetNamespace, dst: number, sport: number, dport: number, payload: Uint8Array): void {
  const p = ns.alloc();
  if (p === null) throw new Error('pool exhausted');
  const s = p.start;
  const src = ns.sourceFor(dst);
  p.buf.set(payload, s + 28);
  writeIpv4Header(p.buf, s, src, dst, IpProtocol.Udp, 28 + payload.length, 1);
  writeUdpHeader(p.buf, s + 20, sport, dport, payload.length, src, dst);
  p.end = s + 28 + payload.length;
  ns.output(p);
}

/** One UDP datagram from `ns` to dst:port; returns the payloads echoed back within `ms`. */
export function udpRoundTrip(c: Cluster, ns: NetNamespace, dst: number, port: number, payload: string, ms = 5000): string[] {
  const got: string[] = [];
  const sport = ns.bind(17, 0, (p, info) => {
    if (info.protocol === 17 && info.src === dst && info.sport === port) got.push(p.buf.toString('utf8', info.payload, info.payload + info.payloadLen));
    ns.free(p);
  });
  sendUdp(ns, dst, sport, port, Buffer.from(payload));
  c.engine.advance(ms);
  ns.unbind(17, sport);
  return got;
}

/** HTTP GET driven in virtual time: starts the request, advances `ms`, and settles. */
export async function get(c: Cluster, ns: NetNamespace, dst: number, port: number, ms = 5000): Promise<HttpResponse> {
  const pr = httpGet(ns, dst, port, '/', { timeoutMs: 3000 });
  c.engine.advance(ms);
  return pr;
}

/** Lets every timer (TIME-WAIT, ARP, conntrack) run out, then checks that no packet leaked. */
export function expectNoLeak(c: Cluster): void {
  c.engine.advance(10 * 60_000);
  expect(c.engine.pool.available).toBe(c.engine.pool.size);
}

export function newCluster(t: Topology): Cluster {
  return new Cluster(t);
}
