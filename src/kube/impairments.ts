/**
 * A cluster's impaired links: netem (src/net/netem.ts) on one direction of an interface,
 * named as its capture point (`pod1/eth0`, `node1/veth0`, `node1/eth0` (the underlay),
 * an attached pod's `eth0` (its TAP), a `vtep.bind` node's eth0 (the VXLAN socket)).
 *
 * `egress` impairs the frames leaving the interface (the point's tx link), as `tc qdisc
 * add dev X root netem` does; `ingress` the frames arriving (its rx link); `both` both,
 * with one netem each (independent queues and random streams, as two qdiscs). The netem is
 * spliced in front of the link, so captures of the interface show what leaves the qdisc.
 *
 * Changes keep the queue: `set` replaces the settings (netem_change: tc qdisc change),
 * `patch` merges (RFC 7386) into them, `clear` removes the netem (queued packets are
 * dropped, as when the qdisc is deleted). Declared impairments whose interface does not
 * exist yet (a pod attached later) are applied when it appears (`applyPending`).
 */
import type { CapturePoint, Link } from '../engine/link.js';
import { Netem, spliceNetem, unspliceNetem } from '../net/netem.js';
import { compileNetem, formatTc, mergeNetem, NetemError, type NetemSpec } from '../net/netem-spec.js';
import type { Cluster } from './cluster.js';
import type { LinkSpec } from './types.js';

export type Direction = 'egress' | 'ingress' | 'both';

interface Entry {
  point: string;
  direction: 'egress' | 'ingress';
  link: Link;
  netem: Netem;
}

export interface ImpairmentView {
  interface: string;
  direction: 'egress' | 'ingress';
  netem: NetemSpec;
  /** The equivalent tc line (device = the interface's name). */
  tc: string;
  rateBitsPerSecond: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
}

export class ImpairmentError extends Error {
  constructor(readonly field: string, readonly value: unknown, message: string, readonly status = 400) {
    super(message);
  }
}

export class Impairments {
  private readonly entries = new Map<string, Entry>();
  private pending: LinkSpec[] = [];

  constructor(private readonly cluster: Cluster) {}

  /** The topology's `links:` and pods'/nodes' `netem:`; what names no interface yet waits for it. */
  applyTopology(): void {
    const t = this.cluster.topology;
    const specs: LinkSpec[] = [];
    for (const n of t.nodes) if (n.netem !== undefined) specs.push({ interface: `${n.name}/eth0`, netem: n.netem });
    for (const p of t.pods) {
      if (p.netem === undefined) continue;
      const key = p.namespace === 'default' ? p.name : `${p.name}.${p.namespace}`;
      specs.push({ interface: `${this.cluster.podDisplayName(key)}/eth0`, netem: p.netem });
    }
    specs.push(...(t.links ?? []));
    this.pending = specs;
    this.applyPending();
  }

  /** Applies declared impairments whose interface exists now (after an attach). */
  applyPending(): void {
    if (this.pending.length === 0) return; // a cluster of 11,000 namespaces lists no capture points for nothing
    const names = new Set(this.cluster.capturePoints().map((c) => c.name));
    const left: LinkSpec[] = [];
    for (const l of this.pending) {
      if (names.has(l.interface)) this.set(l.interface, l.netem, l.direction ?? 'egress');
      else left.push(l);
    }
    this.pending = left;
  }

  private key(point: string, d: 'egress' | 'ingress'): string {
    return `${point} ${d}`;
  }

  private dirs(d: Direction): ('egress' | 'ingress')[] {
    return d === 'both' ? ['egress', 'ingress'] : [d];
  }

  private resolve(point: string, d: 'egress' | 'ingress'): { link: Link; cp: CapturePoint } {
    const cp = this.cluster.capturePoints().find((c) => c.name === point);
    if (cp === undefined) throw new ImpairmentError('interface', point, `${JSON.stringify(point)} is not an interface (see GET /interfaces)`, 404);
    const link = d === 'egress' ? cp.tx : cp.rx;
    if (link === null) throw new ImpairmentError('direction', d, `${point} has no ${d} link to impair`);
    return { link, cp };
  }

  /** Drops entries whose links went away with their interface (a pod deleted or detached). */
  private prune(): void {
    for (const [k, e] of this.entries) {
      if (e.netem.input.link === null || e.netem.ports.out('out').link === null) {
        e.netem.reset();
        this.cluster.engine.remove(e.netem);
        this.entries.delete(k);
      }
    }
  }

  /** Replaces the settings (creating the netem when there is none); throws ImpairmentError. */
  set(point: string, spec: NetemSpec, direction: Direction = 'egress', warnings?: string[]): ImpairmentView[] {
    this.prune();
    check(spec, warnings);
    const views: ImpairmentView[] = [];
    for (const d of this.dirs(direction)) {
      const k = this.key(point, d);
      let e = this.entries.get(k);
      if (e === undefined) {
        const { link } = this.resolve(point, d);
        const engine = this.cluster.engine;
        const [owner, dev] = point.split('/') as [string, string];
        const netem = new Netem(engine, `netem:${point}:${d}`, { node: owner, netns: owner, device: dev }, spec);
        engine.add(netem);
        spliceNetem(engine, link, netem);
        e = { point, direction: d, link, netem };
        this.entries.set(k, e);
      } else {
        e.netem.configure(spec);
      }
      views.push(this.view(e));
    }
    return views;
  }

  /** Merges `patch` into the settings in force (RFC 7386; none in force: into {}). */
  patch(point: string, patch: Record<string, unknown>, direction: Direction = 'egress', warnings?: string[]): ImpairmentView[] {
    this.prune();
    const views: ImpairmentView[] = [];
    for (const d of this.dirs(direction)) {
      const base = this.entries.get(this.key(point, d))?.netem.config ?? {};
      views.push(...this.set(point, mergeNetem(base, patch), d, warnings));
    }
    return views;
  }

  /** Removes the netem of `point` (both directions unless given); returns how many were removed. */
  clear(point: string, direction: Direction = 'both'): number {
    this.prune();
    let n = 0;
    for (const d of this.dirs(direction)) {
      const k = this.key(point, d);
      const e = this.entries.get(k);
      if (e === undefined) continue;
      unspliceNetem(e.netem);
      this.cluster.engine.remove(e.netem);
      this.entries.delete(k);
      n++;
    }
    return n;
  }

  get(point: string): ImpairmentView[] {
    this.prune();
    return (['egress', 'ingress'] as const).flatMap((d) => {
      const e = this.entries.get(this.key(point, d));
      return e === undefined ? [] : [this.view(e)];
    });
  }

  list(): ImpairmentView[] {
    this.prune();
    return [...this.entries.values()].map((e) => this.view(e));
  }

  /** The netem element of a direction (tests, stats). */
  element(point: string, d: 'egress' | 'ingress' = 'egress'): Netem | null {
    return this.entries.get(this.key(point, d))?.netem ?? null;
  }

  /**
   * Capture points as captures must see them: an impaired direction's link is the one after
   * the netem (the interface's own link object, which `capturePoints` would otherwise now
   * resolve to the ring into the netem).
   */
  adjust(points: CapturePoint[]): CapturePoint[] {
    if (this.entries.size === 0) return points;
    return points.map((cp) => {
      const tx = this.entries.get(this.key(cp.name, 'egress'));
      const rx = this.entries.get(this.key(cp.name, 'ingress'));
      if (tx === undefined && rx === undefined) return cp;
      return { ...cp, tx: tx?.link ?? (cp.tx === rx?.netem.input.link ? rx.link : cp.tx), rx: rx?.link ?? (cp.rx === tx?.netem.input.link ? tx.link : cp.rx) };
    });
  }

  private view(e: Entry): ImpairmentView {
    const p = e.netem.params;
    const dev = e.point.slice(e.point.indexOf('/') + 1);
    return {
      interface: e.point, direction: e.direction, netem: e.netem.config,
      // Linux impairs ingress through an IFB device the ingress traffic is redirected to.
      tc: e.direction === 'egress' ? formatTc(dev, p) : `${formatTc('ifb0', p)}  # ingress of ${e.point}, redirected to ifb0`,
      rateBitsPerSecond: p.rate * 8,
      counters: e.netem.counters.toJSON(true), drops: e.netem.drops.toJSON(true),
    };
  }
}

function check(spec: NetemSpec, warnings?: string[]): void {
  try {
    compileNetem(spec, warnings);
  } catch (e) {
    if (e instanceof NetemError) throw new ImpairmentError(`netem.${e.field}`, e.value, e.message);
    throw e;
  }
}
