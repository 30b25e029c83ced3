/**
 * The NetworkPolicy engine: `compileNetpol` turns policies, namespaces, pods and nodes into
 * a per-pod verdict table (`NetpolModel`), whose `check` answers for one connection without
 * allocating (the dataplane asks it once per NEW connection) and whose `explain` answers the
 * same with the reason (traces, `podwire probe`). `evaluate` does both for one query.
 *
 * Semantics (kubernetes.io "Network Policies", networking/v1 API):
 * - A pod is isolated for ingress (egress) when a policy selects it whose effective
 *   `policyTypes` hold Ingress (Egress); `policyTypes` absent: Ingress, plus Egress when the
 *   policy has egress rules. Not isolated: everything is allowed in that direction.
 * - Policies are additive: an isolated direction allows what any rule of any policy that
 *   selects the pod allows. A connection needs the source's egress and the destination's
 *   ingress.
 * - A rule: absent/empty `from`/`to` is every peer; absent/empty `ports` every port and
 *   protocol. Peers are ORed; `podSelector` and `namespaceSelector` in one peer are ANDed; a
 *   nil `namespaceSelector` is the policy's namespace, `{}` is every namespace; an empty
 *   `podSelector` is every pod. Protocol defaults to TCP; a named port is resolved on the
 *   destination pod (its container ports); `endPort` makes a range.
 * - A pod can always reach itself; traffic between a pod and its own node is always allowed.
 * - podwire's choices where the API leaves it to the implementation (docs/networkpolicy.md):
 *   `ipBlock` matches any address, pods' addresses included (as Calico does, and as the
 *   upstream e2e cases expect); the addresses are the ones on the wire at the pod's veth:
 *   after a Service's DNAT (the backend), before masquerade.
 */
import { cidrContains, formatIpv4, tryParseIpv4, type Cidr } from '../../wire/addr.js';
import { parseStrictCidr } from './validate.js';
import {
  NAMESPACE_NAME_LABEL,
  type AllowedBy, type DirectionVerdict, type LabelSelector, type NetpolEndpoint, type NetpolProtocol, type NetpolQuery,
  type NetpolVerdict, type NetpolWorld, type NetworkPolicy, type NetworkPolicyPeer, type NetworkPolicyPort,
} from './types.js';

export const PROTO_NUMBER: Readonly<Record<NetpolProtocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 };
const PROTO_NAME: Readonly<Record<number, NetpolProtocol>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** metav1.LabelSelector semantics: matchLabels and every expression; `{}` matches everything. */
export function labelSelectorMatches(s: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const ml = s.matchLabels;
  if (ml !== undefined && ml !== null) {
    for (const k of Object.keys(ml)) if (!Object.hasOwn(labels, k) || labels[k] !== ml[k]) return false;
  }
  for (const r of s.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const values = r.values ?? [];
    switch (r.operator) {
      case 'In': if (!has || !values.includes(labels[r.key]!)) return false; break;
      case 'NotIn': if (has && values.includes(labels[r.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false; // validation refuses other operators
    }
  }
  return true;
}

/** The effective policyTypes (networking/v1 defaulting). */
export function effectivePolicyTypes(p: NetworkPolicy): { ingress: boolean; egress: boolean } {
  const t = p.spec.policyTypes;
  if (t !== undefined && t !== null && t.length > 0) return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
  return { ingress: true, egress: (p.spec.egress?.length ?? 0) > 0 };
}

export interface CompiledPod {
  /** `ns/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip: number;
  readonly node: string | undefined;
  /** Named container ports per protocol number: name -> port. */
  readonly named: ReadonlyMap<number, ReadonlyMap<string, number>>;
}

interface CompiledPeer {
  readonly index: number;
  /** Pod indices the selectors pick, or null for an ipBlock. */
  readonly pods: ReadonlySet<number> | null;
  readonly cidr: Cidr | null;
  readonly except: readonly Cidr[];
}

interface CompiledPort {
  readonly index: number;
  readonly proto: number;
  /** 0: every port of the protocol. */
  readonly port: number;
  readonly end: number;
  readonly name: string | null;
}

export interface CompiledRule {
  readonly policy: number;
  readonly rule: number;
  /** null: every peer. */
  readonly peers: readonly CompiledPeer[] | null;
  /** null: every port and protocol. */
  readonly ports: readonly CompiledPort[] | null;
}

/** One pod's isolation in one direction: the policies that isolate it and their rules, in policy order. */
export interface CompiledDirection {
  readonly policies: readonly number[];
  readonly rules: readonly CompiledRule[];
}

export const Direction = { Egress: 0, Ingress: 1 } as const;

export class NetpolModel {
  readonly pods: CompiledPod[] = [];
  /** `ns/name` of each policy, by index. */
  readonly policyNames: string[] = [];
  /** Per pod index: null when not isolated. */
  readonly ingress: (CompiledDirection | null)[] = [];
  readonly egress: (CompiledDirection | null)[] = [];
  /** Namespace name -> its labels (the automatic one included). */
  readonly namespaces = new Map<string, Record<string, string>>();
  private readonly byIp = new Map<number, number>();
  private readonly byKey = new Map<string, number>();
  private readonly nodeByIp = new Map<number, string>();
  /** The direction that denied the last `check` (for per-policy counters), null when it allowed. */
  lastDenied: CompiledDirection | null = null;
  /** 0 egress, 1 ingress: which side `lastDenied` is. */
  lastDeniedDir = 0;

  constructor(readonly policies: readonly NetworkPolicy[], world: Omit<NetpolWorld, 'policies'>) {
    const nsLabels = (name: string): Record<string, string> => {
      let l = this.namespaces.get(name);
      if (l === undefined) {
        l = { [NAMESPACE_NAME_LABEL]: name };
        this.namespaces.set(name, l);
      }
      return l;
    };
    for (const n of world.namespaces ?? []) Object.assign(nsLabels(n.name), n.labels ?? {}, { [NAMESPACE_NAME_LABEL]: n.name });
    for (const n of world.nodes ?? []) for (const s of n.ips) {
      const ip = tryParseIpv4(s);
      if (ip !== null) this.nodeByIp.set(ip, n.name);
    }
    for (const p of world.pods) {
      const ip = tryParseIpv4(p.ip);
      if (ip === null) throw new Error(`pod ${p.namespace}/${p.name}: bad IP ${JSON.stringify(p.ip)}`);
      const named = new Map<number, Map<string, number>>();
      for (const c of p.ports ?? []) {
        if (c.name === undefined || c.name === '') continue;
        const proto = PROTO_NUMBER[c.protocol ?? 'TCP'];
        let m = named.get(proto);
        if (m === undefined) named.set(proto, (m = new Map()));
        if (!m.has(c.name)) m.set(c.name, c.containerPort);
      }
      const key = `${p.namespace}/${p.name}`;
      nsLabels(p.namespace);
      this.byKey.set(key, this.pods.length);
      if (!this.byIp.has(ip)) this.byIp.set(ip, this.pods.length);
      this.pods.push({ key, namespace: p.namespace, labels: p.labels, ip, node: p.node, named });
    }
    const ing: CompiledDirection[][] = this.pods.map(() => []);
    const egr: CompiledDirection[][] = this.pods.map(() => []);
    policies.forEach((pol, pi) => {
      const ns = pol.metadata.namespace ?? 'default';
      nsLabels(ns);
      this.policyNames.push(`${ns}/${pol.metadata.name}`);
      const types = effectivePolicyTypes(pol);
      const selected: number[] = [];
      this.pods.forEach((p, i) => {
        if (p.namespace === ns && labelSelectorMatches(pol.spec.podSelector ?? {}, p.labels)) selected.push(i);
      });
      if (selected.length === 0) return;
      if (types.ingress) {
        const d: CompiledDirection = { policies: [pi], rules: (pol.spec.ingress ?? []).map((r, ri) => this.rule(pi, ri, ns, r.from, r.ports)) };
        for (const i of selected) ing[i]!.push(d);
      }
      if (types.egress) {
        const d: CompiledDirection = { policies: [pi], rules: (pol.spec.egress ?? []).map((r, ri) => this.rule(pi, ri, ns, r.to, r.ports)) };
        for (const i of selected) egr[i]!.push(d);
      }
    });
    const merge = (ds: CompiledDirection[]): CompiledDirection | null => ds.length === 0 ? null : ds.length === 1 ? ds[0]!
      : { policies: ds.flatMap((d) => d.policies), rules: ds.flatMap((d) => d.rules) };
    for (let i = 0; i < this.pods.length; i++) {
      this.ingress.push(merge(ing[i]!));
      this.egress.push(merge(egr[i]!));
    }
  }

  private rule(policy: number, rule: number, ns: string, peers: NetworkPolicyPeer[] | undefined, ports: NetworkPolicyPort[] | undefined): CompiledRule {
    return {
      policy, rule,
      peers: peers === undefined || peers === null || peers.length === 0 ? null : peers.map((p, i) => this.peer(i, ns, p)),
      ports: ports === undefined || ports === null || ports.length === 0 ? null : ports.map((p, i) => {
        const proto = PROTO_NUMBER[p.protocol ?? 'TCP'];
        if (typeof p.port === 'string') return { index: i, proto, port: 0, end: 0, name: p.port };
        const port = p.port ?? 0;
        return { index: i, proto, port, end: p.endPort ?? port, name: null };
      }),
    };
  }

  private peer(index: number, ns: string, p: NetworkPolicyPeer): CompiledPeer {
    if (p.ipBlock !== undefined && p.ipBlock !== null) {
      const c = parseStrictCidr(p.ipBlock.cidr);
      if (typeof c === 'string') throw new Error(`ipBlock.cidr ${JSON.stringify(p.ipBlock.cidr)}: ${c} (validate first)`);
      const except = (p.ipBlock.except ?? []).map((x) => {
        const xc = parseStrictCidr(x);
        if (typeof xc === 'string') throw new Error(`ipBlock.except ${JSON.stringify(x)}: ${xc} (validate first)`);
        return xc;
      });
      return { index, pods: null, cidr: c, except };
    }
    const pods = new Set<number>();
    const nsSel = p.namespaceSelector;
    const podSel = p.podSelector;
    this.pods.forEach((pod, i) => {
      const nsOk = nsSel === undefined || nsSel === null ? pod.namespace === ns : labelSelectorMatches(nsSel, this.namespaces.get(pod.namespace)!);
      if (nsOk && (podSel === undefined || podSel === null || labelSelectorMatches(podSel, pod.labels))) pods.add(i);
    });
    return { index, pods, cidr: null, except: [] };
  }

  /** The pod index of an address, or -1. */
  podAt(ip: number): number {
    return this.byIp.get(ip) ?? -1;
  }

  /** The pod index of `ns/name`, or -1. */
  podNamed(key: string): number {
    return this.byKey.get(key) ?? -1;
  }

  /** The node an address belongs to, if any. */
  nodeAt(ip: number): string | undefined {
    return this.nodeByIp.get(ip);
  }

  /** The always-allowed cases: a pod to itself, a pod and its own node. */
  private exempt(src: number, sp: number, dst: number, dp: number): boolean {
    if (sp >= 0 && sp === dp) return true;
    if (dp >= 0 && sp < 0) {
      const n = this.nodeByIp.get(src);
      if (n !== undefined && n === this.pods[dp]!.node) return true;
    }
    if (sp >= 0 && dp < 0) {
      const n = this.nodeByIp.get(dst);
      if (n !== undefined && n === this.pods[sp]!.node) return true;
    }
    return false;
  }

  /**
   * Whether a connection from `src` to `dst` (protocol number, destination port) is allowed.
   * No allocation: the dataplane calls it for every NEW connection. With `node`, only the
   * sides whose pod runs there are checked (a node's filter checks its own pods' egress and
   * ingress, as a CNI's agent does). When denied, `lastDenied`/`lastDeniedDir` say by which side.
   */
  check(src: number, dst: number, proto: number, port: number, node?: string): boolean {
    this.lastDenied = null;
    const sp = this.byIp.get(src) ?? -1;
    const dp = this.byIp.get(dst) ?? -1;
    if (this.exempt(src, sp, dst, dp)) return true;
    if (sp >= 0 && (node === undefined || this.pods[sp]!.node === node)) {
      const d = this.egress[sp]!;
      if (d !== null && this.match(d, dst, dp, dp, proto, port) === null) {
        this.lastDenied = d;
        this.lastDeniedDir = Direction.Egress;
        return false;
      }
    }
    if (dp >= 0 && (node === undefined || this.pods[dp]!.node === node)) {
      const d = this.ingress[dp]!;
      if (d !== null && this.match(d, src, sp, dp, proto, port) === null) {
        this.lastDenied = d;
        this.lastDeniedDir = Direction.Ingress;
        return false;
      }
    }
    return true;
  }

  /** True when `node`'s filter has a side to check for this pair (a pod of that node at either end). */
  involves(src: number, dst: number, node: string): boolean {
    const sp = this.byIp.get(src) ?? -1;
    const dp = this.byIp.get(dst) ?? -1;
    return (sp >= 0 && this.pods[sp]!.node === node) || (dp >= 0 && this.pods[dp]!.node === node);
  }

  /** The first rule of `d` that lets `peerIp` (pod `peerPod` or -1) through to port `port` of the destination pod `dstPod` (or -1); null when none. Sets `matchedPeer`/`matchedPort`. */
  private match(d: CompiledDirection, peerIp: number, peerPod: number, dstPod: number, proto: number, port: number): CompiledRule | null {
    for (const r of d.rules) {
      let peerIdx = -1;
      if (r.peers !== null) {
        peerIdx = -2;
        for (const pe of r.peers) {
          if (pe.pods !== null ? peerPod >= 0 && pe.pods.has(peerPod) : inBlock(pe, peerIp)) {
            peerIdx = pe.index;
            break;
          }
        }
        if (peerIdx === -2) continue;
      }
      let portIdx = -1;
      if (r.ports !== null) {
        portIdx = -2;
        for (const pt of r.ports) {
          if (pt.proto !== proto) continue;
          const ok = pt.name !== null
            ? dstPod >= 0 && this.pods[dstPod]!.named.get(proto)?.get(pt.name) === port
            : pt.port === 0 || (port >= pt.port && port <= pt.end);
          if (ok) {
            portIdx = pt.index;
            break;
          }
        }
        if (portIdx === -2) continue;
      }
      this.matchedPeer = peerIdx;
      this.matchedPort = portIdx;
      return r;
    }
    return null;
  }

  private matchedPeer = -1;
  private matchedPort = -1;

  /** `check` with the reason: which policies isolate each side and which rule allowed it. */
  explain(src: number, dst: number, proto: number, port: number, node?: string): NetpolVerdict {
    const sp = this.byIp.get(src) ?? -1;
    const dp = this.byIp.get(dst) ?? -1;
    const open: DirectionVerdict = { isolated: false, policies: [], allowed: true };
    const name = (pod: number, ip: number): string => (pod >= 0 ? this.pods[pod]!.key : formatIpv4(ip));
    if (sp >= 0 && sp === dp) {
      return { allowed: true, egress: { ...open }, ingress: { ...open }, reason: `${name(sp, src)} to itself: always allowed` };
    }
    if (this.exempt(src, sp, dst, dp)) {
      const pod = sp >= 0 ? sp : dp;
      return { allowed: true, egress: { ...open }, ingress: { ...open }, reason: `between ${this.pods[pod]!.key} and its node ${this.pods[pod]!.node ?? ''}: always allowed` };
    }
    const side = (dir: 'egress' | 'ingress', pod: number, ip: number, d: CompiledDirection | null, peerIp: number, peerPod: number): [DirectionVerdict, string] => {
      if (pod < 0) return [{ ...open }, `${dir} ${dir === 'egress' ? 'from' : 'to'} ${formatIpv4(ip)}: not a pod`];
      if (d === null) return [{ ...open }, `${dir} of ${name(pod, ip)} not isolated`];
      const policies = d.policies.map((i) => this.policyNames[i]!);
      const head = `${dir} of ${name(pod, ip)} isolated by ${policies.join(', ')}`;
      const r = this.match(d, peerIp, peerPod, dp, proto, port);
      if (r === null) return [{ isolated: true, policies, allowed: false }, `${head}; denied: no rule allows ${PROTO_NAME[proto] ?? proto}/${port} ${dir === 'egress' ? 'to' : 'from'} ${name(peerPod, peerIp)}`];
      const by: AllowedBy = { policy: this.policyNames[r.policy]!, rule: r.rule, peer: this.matchedPeer, port: this.matchedPort };
      const peerText = by.peer < 0 ? ' (any peer)' : ` peer ${by.peer}`;
      return [{ isolated: true, policies, allowedBy: by, allowed: true }, `${head}; allowed by ${by.policy} rule ${by.rule}${peerText}`];
    };
    const here = (pod: number): boolean => node === undefined || (pod >= 0 && this.pods[pod]!.node === node);
    const [egress, et] = here(sp) ? side('egress', sp, src, sp >= 0 ? this.egress[sp]! : null, dst, dp) : [{ ...open }, ''];
    const [ingress, it] = here(dp) ? side('ingress', dp, dst, dp >= 0 ? this.ingress[dp]! : null, src, sp) : [{ ...open }, ''];
    return { allowed: egress.allowed && ingress.allowed, egress, ingress, reason: [et, it].filter((t) => t !== '').join('; ') };
  }
}

function inBlock(pe: CompiledPeer, ip: number): boolean {
  if (!cidrContains(pe.cidr!, ip)) return false;
  for (const x of pe.except) if (cidrContains(x, ip)) return false;
  return true;
}

/** Compiles validated policies (validate.ts) with the world they act in. */
export function compileNetpol(world: NetpolWorld): NetpolModel {
  return new NetpolModel(world.policies, world);
}

/** The address of an endpoint in a compiled model (a pod by `ns/name`, or a dotted quad). */
export function endpointIp(m: NetpolModel, e: NetpolEndpoint): number {
  if ('pod' in e) {
    const i = m.podNamed(e.pod);
    if (i < 0) throw new Error(`no pod ${JSON.stringify(e.pod)}`);
    return m.pods[i]!.ip;
  }
  const ip = tryParseIpv4(e.ip);
  if (ip === null) throw new Error(`bad IP ${JSON.stringify(e.ip)}`);
  return ip;
}

/** One query against a model (or a world, compiled for it). */
export function evaluate(world: NetpolWorld | NetpolModel, q: NetpolQuery): NetpolVerdict {
  const m = world instanceof NetpolModel ? world : compileNetpol(world);
  return m.explain(endpointIp(m, q.from), endpointIp(m, q.to), PROTO_NUMBER[q.protocol], q.port);
}
