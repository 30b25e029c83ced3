/**
 * Cyclonus' test-case generator (mattfenwick/cyclonus pkg/generator: testcasegenerator.go and
 * the *cases.go files it flattens) re-encoded: the same policies, steps and tags, built from
 * the same base policy (netpol.go baseTestPolicy) and selectors (constants.go). The families
 * are Cyclonus' own, the default-excluded multi-peer and end-port included; the truth table
 * of each case comes from `referenceAllowed` below, a small NetworkPolicy engine written from
 * the API's rules (Cyclonus takes its own engine's table the same way), independent of
 * src/kube/netpol.
 *
 * Left out: create/delete pod and create/delete namespace actions (the model's pods are fixed
 * here), the `example` and `upstream-e2e` families (upstream-e2e.yaml holds the upstream
 * cases themselves).
 */
import type { ProbeProtocol } from '../../src/kube/probe.js';

type Sel = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type Peer = { podSelector?: Sel; namespaceSelector?: Sel; ipBlock?: { cidr: string; except?: string[] } };
type Port = { protocol?: string; port?: number | string; endPort?: number };
type Rule = { ports?: Port[]; peers?: Peer[] };
interface Netpol {
  name: string;
  namespace: string;
  podSelector: Sel;
  ingress: Rule[] | null;
  egress: Rule[] | null;
}

export interface CyclonusCase {
  description: string;
  tags: string[];
  steps: { actions: CyclonusAction[] }[];
}
export type CyclonusAction =
  | { create: Netpol } | { update: Netpol } | { delete: [string, string] }
  | { setNamespaceLabels: [string, Record<string, string>] } | { setPodLabels: [string, string, Record<string, string>] };

// constants.go
const emptySelector: Sel = {};
const podAMatchLabelsSelector: Sel = { matchLabels: { pod: 'a' } };
const podCMatchLabelsSelector: Sel = { matchLabels: { pod: 'c' } };
const podABMatchExpressionsSelector: Sel = { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] };
const podBCMatchExpressionsSelector: Sel = { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] };
const nsXMatchLabelsSelector: Sel = { matchLabels: { ns: 'x' } };
const nsXYMatchExpressionsSelector: Sel = { matchExpressions: [{ key: 'ns', operator: 'In', values: ['x', 'y'] }] };
const nsYZMatchExpressionsSelector: Sel = { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] };
const nsZMatchDefaultLabelsSelector: Sel = { matchLabels: { 'kubernetes.io/metadata.name': 'z' } };
const AllowDNSRule: Rule = { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };

function base(): Netpol {
  return {
    name: 'base', namespace: 'x', podSelector: { matchLabels: { pod: 'a' } },
    ingress: [{ ports: [{ port: 80, protocol: 'TCP' }], peers: [{ podSelector: podBCMatchExpressionsSelector, namespaceSelector: nsXYMatchExpressionsSelector }] }],
    egress: [
      { ports: [{ port: 80, protocol: 'TCP' }], peers: [{ podSelector: podABMatchExpressionsSelector, namespaceSelector: nsYZMatchExpressionsSelector }] },
      AllowDNSRule,
    ],
  };
}

type Setter = (p: Netpol) => void;
const build = (...s: Setter[]): Netpol => {
  const p = base();
  for (const f of s) f(p);
  return p;
};
const setNamespace = (ns: string): Setter => (p) => { p.namespace = ns; };
const setPodSelector = (sel: Sel): Setter => (p) => { p.podSelector = sel; };
const setRules = (ingress: boolean, rules: Rule[]): Setter => (p) => { if (ingress) p.ingress = rules; else p.egress = rules; };
const setPorts = (ingress: boolean, ports: Port[]): Setter => (p) => { (ingress ? p.ingress! : p.egress!)[0]!.ports = ports; };
const setPeers = (ingress: boolean, peers: Peer[]): Setter => (p) => { (ingress ? p.ingress! : p.egress!)[0]!.peers = peers; };

const dir = (ingress: boolean): string => (ingress ? 'ingress' : 'egress');
const single = (description: string, tags: string[], ...actions: CyclonusAction[]): CyclonusCase => ({ description, tags: [...new Set(tags)], steps: [{ actions }] });

/** The Netpol as a NetworkPolicy object (netpol.go NetworkPolicySpec: policyTypes from which sides are set). */
export function toNetworkPolicy(p: Netpol): Record<string, unknown> {
  const types: string[] = [];
  const spec: Record<string, unknown> = { podSelector: p.podSelector };
  if (p.ingress !== null) {
    types.push('Ingress');
    spec['ingress'] = p.ingress.map((r) => ({ ...(r.ports !== undefined ? { ports: r.ports } : {}), ...(r.peers !== undefined ? { from: r.peers } : {}) }));
  }
  if (p.egress !== null) {
    types.push('Egress');
    spec['egress'] = p.egress.map((r) => ({ ...(r.ports !== undefined ? { ports: r.ports } : {}), ...(r.peers !== undefined ? { to: r.peers } : {}) }));
  }
  spec['policyTypes'] = types;
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: p.namespace }, spec };
}

/** The x/a address Cyclonus takes as `podIP` for its ipBlock peers (MakeCIDRFromZeroes). */
function zeroes(ip: string, bits: number): string {
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const m = Math.floor(n / 2 ** bits) * 2 ** bits;
  return `${[24, 16, 8, 0].map((s) => Math.floor(m / 2 ** s) % 256).join('.')}/${32 - bits}`;
}

export function generateCyclonusCases(podIP: string): CyclonusCase[] {
  const cases: CyclonusCase[] = [];
  // targetcases.go
  for (const ns of ['x', 'y', 'z']) cases.push(single(`set namespace to ${ns}`, ['target-namespace'], { create: build(setNamespace(ns)) }));
  for (const sel of [emptySelector, podAMatchLabelsSelector, podABMatchExpressionsSelector]) {
    cases.push(single(`set pod selector to ${JSON.stringify(sel)}`, ['target-pod-selector'], { create: build(setPodSelector(sel)) }));
  }
  // rulescases.go
  for (const ing of [false, true]) {
    cases.push(single(`${dir(ing)}: deny all`, [dir(ing), 'deny-all'], { create: build(setRules(ing, [])) }));
    cases.push(single(`${dir(ing)}: allow all`, [dir(ing), 'allow-all'], { create: build(setRules(ing, [{}])) }));
  }
  // peerscases.go
  const peers: { d: string; p: Peer }[] = [
    { d: 'empty pods + nil ns', p: { podSelector: emptySelector } },
    { d: 'pods by label + nil ns', p: { podSelector: podCMatchLabelsSelector } },
    { d: 'nil pods + empty ns', p: { namespaceSelector: emptySelector } },
    { d: 'empty pods + empty ns', p: { podSelector: emptySelector, namespaceSelector: emptySelector } },
    { d: 'pods by label + empty ns', p: { podSelector: podCMatchLabelsSelector, namespaceSelector: emptySelector } },
    { d: 'nil pods + ns by label', p: { namespaceSelector: nsXMatchLabelsSelector } },
    { d: 'empty pods + ns by label', p: { podSelector: emptySelector, namespaceSelector: nsXMatchLabelsSelector } },
    { d: 'pods by label + ns by label', p: { podSelector: podCMatchLabelsSelector, namespaceSelector: nsXMatchLabelsSelector } },
    { d: 'simple ipblock', p: { ipBlock: { cidr: zeroes(podIP, 8) } } },
    { d: 'ipblock with except', p: { ipBlock: { cidr: zeroes(podIP, 8), except: [zeroes(podIP, 4)] } } },
  ];
  const describePeer = (p: Peer): string[] => {
    if (p.ipBlock !== undefined) return [p.ipBlock.except === undefined ? 'ip-block-no-except' : 'ip-block-with-except'];
    const empty = (s: Sel | undefined): boolean => s === undefined || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);
    return [
      p.namespaceSelector === undefined ? 'policy-namespace' : empty(p.namespaceSelector) ? 'all-namespaces' : 'namespaces-by-label',
      empty(p.podSelector) ? 'all-pods' : 'pods-by-label',
    ];
  };
  for (const ing of [true, false]) cases.push(single(`${dir(ing)}: empty peers`, [dir(ing), 'any-peer'], { create: build(setPeers(ing, [])) }));
  for (const ing of [true, false]) {
    for (const p of peers) cases.push(single(p.d, [...describePeer(p.p), dir(ing)], { create: build(setPeers(ing, [p.p])) }));
  }
  for (const ing of [true, false]) {
    peers.forEach((p1, i) => peers.forEach((p2, j) => {
      if (i < j) {
        cases.push(single(`${dir(ing)}, 2-peer: ${p1.d}, ${p2.d}`, [...describePeer(p1.p), 'multi-peer', dir(ing), ...describePeer(p2.p)],
          { create: build(setPeers(ing, [p1.p, p2.p])) }));
      }
    }));
  }
  // portprotocolcases.go
  const describePort = (p: Port): string => (p.port === undefined ? 'any-port' : typeof p.port === 'number' ? 'numbered-port' : 'named-port');
  const protoTag = (p: Port): string[] => (p.protocol === undefined ? [] : [p.protocol.toLowerCase()]);
  for (const ing of [false, true]) cases.push(single(`${dir(ing)}: empty port/protocol`, [dir(ing), 'any-port-protocol'], { create: build(setPorts(ing, [])) }));
  const npps: Port[] = [];
  for (const protocol of [undefined, 'TCP', 'UDP', 'SCTP']) {
    for (const port of [undefined, 80, 81]) npps.push({ ...(protocol !== undefined ? { protocol } : {}), ...(port !== undefined ? { port } : {}) });
  }
  npps.push(
    { protocol: 'TCP', port: 'serve-80-tcp' }, { protocol: 'TCP', port: 'serve-81-tcp' },
    { protocol: 'UDP', port: 'serve-80-udp' }, { protocol: 'UDP', port: 'serve-81-udp' },
    { protocol: 'SCTP', port: 'serve-80-sctp' }, { protocol: 'SCTP', port: 'serve-81-sctp' },
    { protocol: 'TCP', port: 53, endPort: 80 }, { protocol: 'TCP', port: 53, endPort: 84 },
    { protocol: 'UDP', port: 53, endPort: 80 }, { protocol: 'UDP', port: 53, endPort: 84 },
    { protocol: 'SCTP', port: 53, endPort: 80 }, { protocol: 'SCTP', port: 53, endPort: 84 },
  );
  for (const ing of [false, true]) {
    for (const npp of npps) {
      cases.push(single(`${dir(ing)}: port ${JSON.stringify(npp)}`, [dir(ing), describePort(npp), ...protoTag(npp), ...(npp.endPort !== undefined ? ['end-port'] : [])],
        { create: build(setPorts(ing, [npp])) }));
    }
    cases.push(
      single('open a named port that doesn\'t match its protocol', ['pathological', dir(ing), 'named-port', 'tcp'], { create: build(setPorts(ing, [{ protocol: 'TCP', port: 'serve-81-udp' }])) }),
      single('open a named port that isn\'t served', ['pathological', dir(ing), 'named-port', 'tcp'], { create: build(setPorts(ing, [{ protocol: 'TCP', port: 'serve-7981-udp' }])) }),
      single('open a numbered port that isn\'t served', ['pathological', dir(ing), 'numbered-port', 'tcp'], { create: build(setPorts(ing, [{ protocol: 'TCP', port: 7981 }])) }),
    );
  }
  const pairs: Port[][] = [
    [{}, { port: 80 }], [{}, { port: 'serve-80-tcp' }], [{}, { protocol: 'UDP' }], [{ port: 80 }, { port: 81 }],
    [{ port: 80 }, { port: 'serve-81-tcp' }], [{ port: 80 }, { protocol: 'UDP', port: 'serve-81-udp' }],
    [{ protocol: 'UDP', port: 80 }, { protocol: 'UDP', port: 'serve-81-udp' }],
  ];
  for (const ing of [false, true]) {
    for (const pp of pairs) {
      cases.push(single(`${dir(ing)}: ports ${JSON.stringify(pp)}`, ['multi-port/protocol', dir(ing), ...pp.flatMap((p) => [...protoTag(p), describePort(p)])],
        { create: build(setPorts(ing, pp)) }));
    }
  }
  // actioncases.go (create/delete pod and namespace left out: see the header)
  cases.push({ description: 'Create/delete policy', tags: ['create-policy', 'delete-policy'], steps: [{ actions: [{ create: base() }] }, { actions: [{ delete: ['x', 'base'] }] }] });
  cases.push({
    description: 'Create/update policy', tags: ['create-policy', 'update-policy'],
    steps: [{ actions: [{ create: base() }] }, { actions: [{ update: build(setPorts(true, [{ protocol: 'UDP', port: 'serve-81-udp' }])) }] }],
  });
  cases.push({
    description: 'Update namespace so that policy applies, then again so it no longer applies', tags: ['set-namespace-labels'],
    steps: [
      { actions: [{ create: build(setPeers(true, [{ namespaceSelector: { matchLabels: { 'new-ns': 'qrs' } } }])) }] },
      { actions: [{ setNamespaceLabels: ['y', { ns: 'y', 'new-ns': 'qrs' }] }] },
      { actions: [{ setNamespaceLabels: ['y', { ns: 'y' }] }] },
    ],
  });
  cases.push({
    description: 'Update pod so that policy applies, then again so it no longer applies', tags: ['set-pod-labels'],
    steps: [
      { actions: [{ create: build(setPeers(true, [{ podSelector: { matchLabels: { 'new-label': 'abc' } }, namespaceSelector: nsYZMatchExpressionsSelector }])) }] },
      { actions: [{ setPodLabels: ['y', 'b', { pod: 'b', 'new-label': 'abc' }] }] },
      { actions: [{ setPodLabels: ['y', 'b', { pod: 'b' }] }] },
    ],
  });
  // conflictcases.go (source x/pod=b, destination y/pod=c; AllowDNS on for egress)
  const src = { namespace: 'x', podSelector: { matchLabels: { pod: 'b' } } };
  const dst = { namespace: 'y', podSelector: { matchLabels: { pod: 'c' } } };
  const np = (name: string, t: typeof src, ingress: Rule[] | null, egress: Rule[] | null): Netpol => ({ name, ...t, ingress, egress });
  const allowAllByPod: Rule[] = [{ peers: [{ namespaceSelector: {} }] }];
  const allowAllByIP: Rule[] = [{ peers: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }];
  const denyAllByIP: Rule[] = [{ peers: [{ ipBlock: { cidr: '0.0.0.0/31' } }] }];
  const denyAllByPod: Rule[] = [{ peers: [{ namespaceSelector: { matchLabels: { 'this-will-never-happen': 'qrs123' } } }] }];
  const conflicts: [string, string[], Netpol[]][] = [
    ['deny all from source, allow all to dest', ['deny-all', 'allow-all', 'ingress', 'egress'], [np('deny-all-egress', src, null, []), np('allow-all-ingress', dst, [{}], null)]],
    ['allow all from source, deny all to dest', ['deny-all', 'allow-all', 'ingress', 'egress'], [np('allow-all-egress', src, null, [{}]), np('deny-all-ingress', dst, [], null)]],
    ['deny all + allow all from same source', ['deny-all', 'allow-all', 'egress'], [np('deny-all-egress', src, null, []), np('allow-all-egress', src, null, [{}])]],
    ['deny all + allow all to same dest', ['deny-all', 'allow-all', 'ingress'], [np('deny-all-ingress', dst, [], null), np('allow-all-ingress', dst, [{}], null)]],
    ['deny all + allow all by pod from same source', ['deny-all', 'all-pods', 'all-namespaces', 'egress'], [np('deny-all-egress', src, null, []), np('allow-all-egress-by-pod', src, null, allowAllByPod)]],
    ['deny all + allow all by IP from same source', ['deny-all', 'egress'], [np('deny-all-egress', src, null, []), np('allow-all-egress-by-ip', src, null, allowAllByIP)]],
    ['deny all by IP + allow all by pod from same source', ['all-pods', 'all-namespaces', 'egress'], [np('deny-all-egress-by-ip', src, null, denyAllByIP), np('allow-all-egress-by-pod', src, null, allowAllByPod)]],
    ['deny all by pod + allow all by IP from same source', ['egress'], [np('deny-all-egress-by-pod', src, null, denyAllByPod), np('allow-all-egress-by-ip', src, null, allowAllByIP)]],
    ['deny all + allow all by pod to same source', ['deny-all', 'ingress', 'all-pods', 'all-namespaces'], [np('deny-all-ingress', src, [], null), np('allow-all-ingress-by-pod', src, allowAllByPod, null)]],
    ['deny all + allow all by IP to same source', ['deny-all', 'ingress'], [np('deny-all-ingress', src, [], null), np('allow-all-ingress-by-ip', src, allowAllByIP, null)]],
    ['deny all by IP + allow all by pod to same source', ['ingress', 'all-pods', 'all-namespaces'], [np('deny-all-ingress-by-ip', src, denyAllByIP, null), np('allow-all-ingress-by-pod', src, allowAllByPod, null)]],
    ['deny all by pod + allow all by IP to same source', ['ingress'], [np('deny-all-ingress-by-pod', src, denyAllByPod, null), np('allow-all-ingress-by-ip', src, allowAllByIP, null)]],
    ['egress: deny all by IP', ['egress'], [np('deny-all-egress-by-ip', src, null, denyAllByIP)]],
    ['egress: deny all by pod', ['egress'], [np('deny-all-egress-by-ip', src, null, denyAllByPod)]],
    ['ingress: deny all by IP', ['ingress'], [np('deny-all-ingress-by-ip', src, denyAllByIP, null)]],
    ['ingress: deny all by pod', ['ingress'], [np('deny-all-ingress-by-ip', src, denyAllByPod, null)]],
  ];
  for (const [d, tags, pols] of conflicts) {
    const actions: CyclonusAction[] = pols.map((p) => ({ create: p }));
    if (pols.some((p) => p.egress !== null)) actions.push({ create: { name: 'allow-dns', ...src, ingress: null, egress: [AllowDNSRule] } });
    cases.push(single(d, [...tags, 'conflict'], ...actions));
  }
  // namespacecases.go
  for (const ing of [true, false]) {
    cases.push(single(`${dir(ing)}: select namespace by default label`, ['namespaces-by-default-label', dir(ing)], { create: build(setPeers(ing, [{ namespaceSelector: nsZMatchDefaultLabelsSelector }])) }));
  }
  return cases;
}

/** Cyclonus' tag families (tags.go AllTags), for the per-family report. */
export const TAG_FAMILIES: Readonly<Record<string, readonly string[]>> = {
  action: ['create-policy', 'delete-policy', 'update-policy', 'set-pod-labels', 'set-namespace-labels'],
  target: ['target-namespace', 'target-pod-selector'],
  direction: ['ingress', 'egress'],
  rule: ['deny-all', 'allow-all', 'any-peer', 'any-port-protocol', 'multi-peer', 'multi-port/protocol'],
  'peer-pods': ['all-pods', 'pods-by-label', 'all-namespaces', 'namespaces-by-label', 'policy-namespace', 'namespaces-by-default-label'],
  'peer-ipblock': ['ip-block-no-except', 'ip-block-with-except'],
  port: ['any-port', 'numbered-port', 'named-port', 'end-port'],
  protocol: ['tcp', 'udp', 'sctp'],
  miscellaneous: ['pathological', 'conflict'],
};

// ---- the reference engine (written from the networking/v1 API docs, not from src/kube/netpol) ----

export interface RefPod {
  ns: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  ports: { name: string; port: number; protocol: string }[];
}

function selects(s: Sel, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = e.key in labels;
    const v = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(v!))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(v!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function inCidr(ip: string, cidr: string): boolean {
  const [a, l] = cidr.split('/') as [string, string];
  const n = (x: string): number => x.split('.').reduce((s, o) => s * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(l));
  return Math.floor(n(ip) / size) === Math.floor(n(a) / size);
}

/** Is (src -> dst, port, protocol) allowed by `policies` (NetworkPolicy objects) given namespace labels? */
export function referenceAllowed(policies: Record<string, any>[], nsLabels: Record<string, Record<string, string>>, src: RefPod, dst: RefPod, port: number, protocol: ProbeProtocol): boolean {
  const nsOf = (ns: string): Record<string, string> => ({ ...(nsLabels[ns] ?? {}), 'kubernetes.io/metadata.name': ns });
  const types = (p: Record<string, any>): string[] => p['spec'].policyTypes ?? ['Ingress', ...((p['spec'].egress ?? []).length > 0 ? ['Egress'] : [])];
  const peerMatches = (peer: Peer, policyNs: string, other: RefPod): boolean => {
    if (peer.ipBlock !== undefined) return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e) => inCidr(other.ip, e));
    const nsOk = peer.namespaceSelector === undefined ? other.ns === policyNs : selects(peer.namespaceSelector, nsOf(other.ns));
    const podOk = peer.podSelector === undefined || selects(peer.podSelector, other.labels);
    return nsOk && podOk;
  };
  const portMatches = (ports: Port[] | undefined): boolean => {
    if (ports === undefined || ports.length === 0) return true;
    return ports.some((p) => {
      if ((p.protocol ?? 'TCP') !== protocol) return false;
      if (p.port === undefined) return true;
      if (typeof p.port === 'number') return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
      return dst.ports.some((cp) => cp.name === p.port && cp.protocol === protocol && cp.port === port);
    });
  };
  const side = (pod: RefPod, kind: 'Ingress' | 'Egress', other: RefPod): boolean => {
    const sel = policies.filter((p) => p['metadata'].namespace === pod.ns && types(p).includes(kind) && selects(p['spec'].podSelector, pod.labels));
    if (sel.length === 0) return true;
    return sel.some((p) => ((kind === 'Ingress' ? p['spec'].ingress : p['spec'].egress) ?? []).some((r: Record<string, any>) => {
      const peers: Peer[] | undefined = kind === 'Ingress' ? r['from'] : r['to'];
      return portMatches(r['ports']) && (peers === undefined || peers.length === 0 || peers.some((pe) => peerMatches(pe, p['metadata'].namespace, other)));
    }));
  };
  return side(src, 'Egress', dst) && side(dst, 'Ingress', src);
}
