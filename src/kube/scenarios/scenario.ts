/**
 * Named Kubernetes networking failures (docs/scenarios.md): the contract each scenario file
 * of this folder fills in, and the helpers they share.
 *
 * A scenario builds its own cluster (YAML below, the seed from the caller), hands it to
 * `ctx.watch` before any traffic (the control layer taps captures there), reproduces the
 * failure in virtual time, and reports what the user sees (`symptom`), where the packets
 * died (`hop`, with the kernel-style `reason`), the counters that prove it, and whether
 * the failure showed (`failed`). With `ctx.fix` it applies the known remedy first and the
 * same trigger must come out clean.
 */
import { Cluster } from '../cluster.js';
import { parseTopology } from '../topology.js';
import type { ClusterConfig } from '../types.js';
import type { PacketHooks } from '../../net/hooks.js';
import { Verdict } from '../../net/hooks.js';
import type { Packet } from '../../engine/packet.js';
import type { NetNamespace } from '../../net/netns.js';
import type { ConntrackFilter } from '../../netfilter/conntrack.js';
import { writeIpv4Header } from '../../wire/ipv4.js';
import { UDP_PROTOCOL as UDP, writeUdpHeader } from '../../wire/udp.js';
import { ICMP_ECHO_REQUEST, ICMP_PROTOCOL as ICMP, writeIcmpEchoHeader } from '../../wire/icmp.js';

export interface ScenarioContext {
  /** Apply the known remedy before the trigger. */
  fix: boolean;
  seed: number;
  /** Called with the cluster as soon as it is built (captures are attached here). */
  watch(c: Cluster): void;
}

/** One drop counter that moved during the trigger. */
export interface ScenarioDrop {
  /** Element or owner, e.g. `node1/conntrack`, `node1/cbr0`. */
  owner: string;
  reason: string;
  count: number;
}

export interface ScenarioOutcome {
  /** The symptom as the user sees it (`dig: ...`, `curl: ...`); with the fix, the clean result. */
  symptom: string;
  /** True when the failure showed. */
  failed: boolean;
  /** Where the packets died (`node1/conntrack`), null when nothing died. */
  hop: string | null;
  /** The kernel's words for it (`nf_conntrack: table full, dropping packet`), null when nothing died. */
  reason: string | null;
  /** Counters that prove it (`insert_failed`, `conntrack -S` style names). */
  counters: Record<string, number>;
  /** A few lines of explanation, in order. */
  notes: string[];
}

export interface ScenarioResult extends ScenarioOutcome {
  name: string;
  fix: boolean;
  seed: number;
  drops: ScenarioDrop[];
  /** Virtual time the trigger took, ms. */
  virtualMs: number;
  /** One line: `FAIL: ...` / `OK: ...`. */
  verdict: string;
}

export interface Scenario {
  name: string;
  summary: string;
  /** The remedy `--fix` applies, in the words an operator uses. */
  remedy: string;
  /** Upstream issues it reproduces (`kubernetes/kubernetes#56903`). */
  issues: readonly string[];
  /** Which capture points go into the pcapng (default: every interface of the cluster). */
  capture?: (point: string) => boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** Builds the cluster of `yaml` with `cluster` overrides and the caller's seed, and lets the caller watch it. */
export function buildCluster(yaml: string, ctx: ScenarioContext, cluster: Partial<ClusterConfig> = {}): Cluster {
  const r = parseTopology(yaml, 'scenario');
  if (!r.ok) throw new Error(`scenario topology: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  Object.assign(r.topology.cluster, cluster, { seed: ctx.seed });
  const c = new Cluster(r.topology);
  ctx.watch(c);
  return c;
}

/** Every drop counter of the cluster, `owner\treason` -> count (for `dropsSince`). */
export function dropSnapshot(c: Cluster): Map<string, number> {
  const m = new Map<string, number>();
  for (const [name, o] of c.engine.countedOwners()) {
    const d = o.drops;
    d.names.forEach((reason, i) => { const v = d.values[i]!; if (v !== 0) m.set(`${name}\t${reason}`, v); });
  }
  return m;
}

/**
 * The drop counters that moved since `before`, largest first, at most `max`. Leaves out
 * `arp-not-for-us`: every pod on a bridge drops every flooded ARP request for another address.
 */
export function dropsSince(c: Cluster, before: Map<string, number>, max = 12): ScenarioDrop[] {
  const out: ScenarioDrop[] = [];
  for (const [k, v] of dropSnapshot(c)) {
    const n = v - (before.get(k) ?? 0);
    if (n <= 0) continue;
    const [owner, reason] = k.split('\t') as [string, string];
    if (reason === 'arp-not-for-us') continue;
    out.push({ owner, reason, count: n });
  }
  return out.sort((a, b) => b.count - a.count || a.owner.localeCompare(b.owner)).slice(0, max);
}

/** What a `frontRule` returns to let the packet go on to the hooks that were there. */
export const CONTINUE = -1;

/**
 * A rule in front of a namespace's hooks at `chain` (an iptables rule inserted first): it
 * returns a verdict, or CONTINUE for the hooks that were there (none: Accept).
 */
export function frontRule(ns: { hooks: PacketHooks | null }, chain: 'OUTPUT' | 'INPUT', rule: (p: Packet, l3: number) => number): void {
  const inner = ns.hooks;
  const at = (p: Packet, l3: number, next: () => number): number => {
    const v = rule(p, l3);
    return v === CONTINUE ? next() : v;
  };
  ns.hooks = {
    prerouting: (p, l3, inIf) => inner?.prerouting(p, l3, inIf) ?? Verdict.Accept,
    input: (p, l3, inIf) => chain === 'INPUT' ? at(p, l3, () => inner?.input(p, l3, inIf) ?? Verdict.Accept) : inner?.input(p, l3, inIf) ?? Verdict.Accept,
    output: (p, l3) => chain === 'OUTPUT' ? at(p, l3, () => inner?.output(p, l3) ?? Verdict.Accept) : inner?.output(p, l3) ?? Verdict.Accept,
    postrouting: (p, l3, outIf) => inner?.postrouting(p, l3, outIf) ?? Verdict.Accept,
  };
}

/**
 * One iptables rule in front of a namespace's hooks: `-A <chain> <match> -j DROP`. Matching
 * packets get Verdict.Drop (the namespace counts `netfilter-drop`); the rest go on to the
 * hooks that were there. Returns the rule's hit counter.
 */
export function addDropRule(
  ns: { hooks: PacketHooks | null }, chain: 'OUTPUT' | 'INPUT',
  match: (p: Packet, l3: number) => boolean,
): { hits: number } {
  const rule = { hits: 0 };
  frontRule(ns, chain, (p, l3) => {
    if (!match(p, l3)) return CONTINUE;
    rule.hits++;
    return Verdict.Drop;
  });
  return rule;
}

/** Runs `fn`'s promise to its end while advancing virtual time in `stepMs` steps (at most `maxMs`). */
export async function settle<T>(c: Cluster, pr: Promise<T>, maxMs: number, stepMs = 100): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number }> {
  let done: { ok: true; value: T } | { ok: false; error: Error } | null = null;
  pr.then((value) => { done = { ok: true, value }; }, (error: unknown) => { done = { ok: false, error: error instanceof Error ? error : new Error(String(error)) }; });
  const t0 = c.engine.now();
  for (let t = 0; t < maxMs && done === null; t += stepMs) {
    c.engine.advance(stepMs);
    await Promise.resolve();
    await Promise.resolve();
  }
  if (done === null) return { ok: false, error: new Error(`no answer within ${maxMs} ms`), ms: c.engine.now() - t0 };
  const d = done as { ok: true; value: T } | { ok: false; error: Error };
  return { ...d, ms: c.engine.now() - t0 };
}

/**
 * A connected UDP socket of a pod (one local port for its whole life, as a long-running
 * client's): `send` writes one datagram with DF set, `replies` counts what came back from
 * `dst:dport`, `inbox` keeps the payloads (the caller empties it).
 */
export class UdpClient {
  replies = 0;
  sent = 0;
  readonly inbox: Buffer[] = [];
  readonly port: number;

  constructor(private readonly ns: NetNamespace, readonly dst: number, readonly dport: number, port = 0) {
    this.port = ns.bind(UDP, port, (p, info) => {
      if (info.src === this.dst && info.sport === this.dport) {
        this.replies++;
        this.inbox.push(Buffer.from(p.buf.subarray(info.payload, info.payload + info.payloadLen)));
      }
      ns.free(p);
    });
  }

  send(payload: Uint8Array): boolean {
    const ns = this.ns;
    const p = ns.alloc();
    if (p === null) return false;
    const b = p.buf;
    const s = p.start;
    const l4len = 8 + payload.length;
    const src = ns.sourceFor(this.dst);
    writeIpv4Header(b, s, src, this.dst, UDP, 20 + l4len, (this.sent + 1) & 0xffff);
    b.set(payload, s + 28);
    writeUdpHeader(b, s + 20, this.port, this.dport, payload.length, src, this.dst);
    p.end = s + 20 + l4len;
    this.sent++;
    ns.output(p);
    return true;
  }

  close(): void {
    this.ns.unbind(UDP, this.port);
  }
}

/** The conntrack entries of node `node` matching `filter`, as `conntrack -L` prints them. */
export function conntrackList(c: Cluster, node: string, filter: ConntrackFilter): string[] {
  const t = c.services.conntrack.get(node);
  if (t === undefined) return [];
  return t.dump(c.engine.now(), filter).split('\n').filter((l) => l !== '');
}

/** Sends one ICMP echo request (DF, 64 bytes) from `ns` to `dst`; the returned counter counts its replies until `close`. */
export function ping(ns: NetNamespace, dst: number, ident: number): { replies: number; close(): void } {
  const r = { replies: 0, close: () => ns.unbind(ICMP, ident) };
  ns.bind(ICMP, ident, (p, info) => {
    if (p.buf[info.l4] === 0 && info.src === dst) r.replies++;
    ns.free(p);
  });
  const p = ns.alloc();
  if (p === null) return r;
  const b = p.buf;
  const s = p.start;
  const total = 84;
  b.fill(0, s + 20, s + total);
  writeIpv4Header(b, s, ns.sourceFor(dst), dst, ICMP, total, ident);
  writeIcmpEchoHeader(b, s + 20, ICMP_ECHO_REQUEST, ident, 1, total - 20);
  p.end = s + total;
  ns.output(p);
  return r;
}
