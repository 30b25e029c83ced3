import { describe, expect, it } from 'vitest';
import { compileNetpol, evaluate, labelSelectorMatches } from './evaluate.js';
import { formatNetpolError, validateNetworkPolicy } from './validate.js';
import type { NetpolPod, NetpolProtocol, NetpolWorld, NetworkPolicy } from './types.js';

/** The upstream netpol e2e model: namespaces x, y, z with label ns=<name>; pods a, b, c with pod=<name>, serving 80 and 81 (named serve-<port>-<proto>). */
function model(policies: unknown[]): NetpolWorld {
  const pods: NetpolPod[] = [];
  ['x', 'y', 'z'].forEach((ns, i) => ['a', 'b', 'c'].forEach((name, j) => {
    pods.push({
      name, namespace: ns, labels: { pod: name }, ip: `10.244.${i + 1}.${j + 2}`, node: `node${i + 1}`,
      ports: [80, 81].flatMap((port) => (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol }))),
    });
  }));
  return {
    policies: policies.map((p) => {
      const v = validateNetworkPolicy(p);
      if (!v.ok) throw new Error(v.errors.map(formatNetpolError).join('\n'));
      return v.policy;
    }),
    namespaces: ['x', 'y', 'z'].map((n) => ({ name: n, labels: { ns: n } })),
    pods,
    nodes: [1, 2, 3].map((i) => ({ name: `node${i}`, ips: [`192.168.0.${10 + i}`, `10.244.${i}.1`] })),
  };
}

const np = (namespace: string, name: string, spec: Record<string, unknown>): NetworkPolicy =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec: spec as unknown as NetworkPolicy['spec'] });

/** The reachability matrix on one port, Cyclonus-style rows (from) of `.`/`X` per column (to). */
function matrix(w: NetpolWorld, port = 80, protocol: NetpolProtocol = 'TCP'): string {
  const m = compileNetpol(w);
  const keys = w.pods.map((p) => `${p.namespace}/${p.name}`);
  return keys.map((from) => keys.map((to) => (evaluate(m, { from: { pod: from }, to: { pod: to }, port, protocol }).allowed ? '.' : 'X')).join('')).join('\n');
}

const ALL = ['.........', '.........', '.........', '.........', '.........', '.........', '.........', '.........', '.........'].join('\n');

describe('NetworkPolicy evaluator', () => {
  it('no policies: everything allowed, both sides not isolated', () => {
    const w = model([]);
    expect(matrix(w)).toBe(ALL);
    const v = evaluate(w, { from: { pod: 'x/a' }, to: { pod: 'y/b' }, port: 80, protocol: 'TCP' });
    expect(v).toEqual({
      allowed: true,
      egress: { isolated: false, policies: [], allowed: true },
      ingress: { isolated: false, policies: [], allowed: true },
      reason: 'egress of x/a not isolated; ingress of y/b not isolated',
    });
  });

  it("'default-deny-ingress' in y: only y's pods are unreachable, except from themselves", () => {
    const w = model([np('y', 'deny-all', { podSelector: {} })]);
    // rows x/a..z/c, columns x/a..z/c; the diagonal (a pod to itself) is always allowed.
    expect(matrix(w)).toBe([
      '...XXX...', '...XXX...', '...XXX...',
      '....XX...', '...X.X...', '...XX....',
      '...XXX...', '...XXX...', '...XXX...',
    ].join('\n'));
    const v = evaluate(w, { from: { pod: 'x/a' }, to: { pod: 'y/b' }, port: 80, protocol: 'TCP' });
    expect(v.allowed).toBe(false);
    expect(v.ingress).toEqual({ isolated: true, policies: ['y/deny-all'], allowed: false });
    expect(v.reason).toBe('egress of x/a not isolated; ingress of y/b isolated by y/deny-all; denied: no rule allows TCP/80 from x/a');
  });

  it('additive policies: the allowing rule is named with its rule and peer index', () => {
    const w = model([
      np('y', 'deny-all', { podSelector: {} }),
      np('y', 'allow-from-a', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }, { namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] }),
    ]);
    const v = evaluate(w, { from: { pod: 'x/a' }, to: { pod: 'y/b' }, port: 80, protocol: 'TCP' });
    expect(v.allowed).toBe(true);
    expect(v.ingress).toEqual({ isolated: true, policies: ['y/deny-all', 'y/allow-from-a'], allowed: true, allowedBy: { policy: 'y/allow-from-a', rule: 0, peer: 1, port: -1 } });
    expect(v.reason).toBe('egress of x/a not isolated; ingress of y/b isolated by y/deny-all, y/allow-from-a; allowed by y/allow-from-a rule 0 peer 1');
    // peer 0 (podSelector only) is y's own namespace: y/c, not x/c.
    expect(evaluate(w, { from: { pod: 'y/c' }, to: { pod: 'y/b' }, port: 80, protocol: 'TCP' }).ingress.allowedBy?.peer).toBe(0);
    expect(evaluate(w, { from: { pod: 'x/c' }, to: { pod: 'y/b' }, port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(evaluate(w, { from: { pod: 'x/a' }, to: { pod: 'y/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });

  it('namespaceSelector and podSelector in one peer are ANDed, in two peers ORed', () => {
    const and = model([np('x', 'and', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    const or = model([np('x', 'or', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    const col = (w: NetpolWorld): string => w.pods.map((p) => (evaluate(w, { from: { pod: `${p.namespace}/${p.name}` }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed ? '.' : 'X')).join('');
    // sources x/a x/b x/c y/a y/b y/c z/a z/b z/c
    expect(col(and)).toBe('.XXX.XXXX');
    expect(col(or)).toBe('..X...XXX');
  });

  it('an empty namespaceSelector is every namespace; the automatic kubernetes.io/metadata.name label selects by name', () => {
    const all = model([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }] })]);
    const byName = model([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }] })]);
    const col = (w: NetpolWorld): string => w.pods.map((p) => (evaluate(w, { from: { pod: `${p.namespace}/${p.name}` }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed ? '.' : 'X')).join('');
    expect(col(all)).toBe('.X.XX.XX.');
    expect(col(byName)).toBe('.XXXXX...');
  });

  it('matchExpressions: In, NotIn, Exists, DoesNotExist', () => {
    const l = { pod: 'a', tier: 'web' };
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] }, l)).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['b'] }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'none', operator: 'NotIn', values: ['b'] }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, l)).toBe(false);
    expect(labelSelectorMatches({ matchLabels: { pod: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, l)).toBe(false);
    expect(labelSelectorMatches({}, l)).toBe(true);
    const w = model([np('x', 'p', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y'] }] } }] }] })]);
    expect(evaluate(w, { from: { pod: 'z/a' }, to: { pod: 'x/b' }, port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(evaluate(w, { from: { pod: 'y/a' }, to: { pod: 'x/b' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(evaluate(w, { from: { pod: 'z/a' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(true); // x/a not selected
  });

  it('ipBlock with except matches any address, pod addresses included; plain IPs are peers too', () => {
    const w = model([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }] }] })]);
    const from = (ip: string): boolean => evaluate(w, { from: { ip }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed;
    expect(from('10.244.3.4')).toBe(true); // z/c by its address
    expect(from('10.244.2.3')).toBe(false); // y/b, in except
    expect(from('10.245.0.1')).toBe(false);
    expect(evaluate(w, { from: { pod: 'z/b' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
    const v = evaluate(w, { from: { ip: '8.8.8.8' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' });
    expect(v.reason).toBe('egress from 8.8.8.8: not a pod; ingress of x/a isolated by x/p; denied: no rule allows TCP/80 from 8.8.8.8');
  });

  it('ports: numbered, named (resolved on the destination pod), endPort ranges, protocols', () => {
    const w = model([np('x', 'p', {
      podSelector: {},
      ingress: [{ ports: [{ port: 'serve-81-udp', protocol: 'UDP' }, { port: 8000, endPort: 8080 }, { protocol: 'SCTP' }] }],
    })]);
    const ok = (port: number, protocol: NetpolProtocol): boolean => evaluate(w, { from: { pod: 'y/a' }, to: { pod: 'x/b' }, port, protocol }).allowed;
    expect(ok(81, 'UDP')).toBe(true);
    expect(ok(80, 'UDP')).toBe(false);
    expect(ok(81, 'TCP')).toBe(false); // the named port is UDP's
    expect(ok(8000, 'TCP')).toBe(true);
    expect(ok(8080, 'TCP')).toBe(true);
    expect(ok(8081, 'TCP')).toBe(false);
    expect(ok(8050, 'UDP')).toBe(false); // protocol defaults to TCP
    expect(ok(80, 'SCTP')).toBe(true);
    expect(ok(12345, 'SCTP')).toBe(true);
    expect(evaluate(w, { from: { pod: 'y/a' }, to: { pod: 'x/b' }, port: 8080, protocol: 'TCP' }).ingress.allowedBy).toEqual({ policy: 'x/p', rule: 0, peer: -1, port: 1 });
    expect(evaluate(w, { from: { pod: 'y/a' }, to: { pod: 'x/b' }, port: 8080, protocol: 'TCP' }).reason).toContain('allowed by x/p rule 0 (any peer)');
    // Egress to a named port: resolved on the destination pod; never matches a plain address.
    const e = model([np('x', 'e', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })]);
    expect(evaluate(e, { from: { pod: 'x/a' }, to: { pod: 'z/c' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(evaluate(e, { from: { pod: 'x/a' }, to: { pod: 'z/c' }, port: 81, protocol: 'TCP' }).allowed).toBe(false);
    expect(evaluate(e, { from: { pod: 'x/a' }, to: { ip: '1.1.1.1' }, port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });

  it('policyTypes defaulting: egress rules make a policy isolate egress; explicit [Egress] leaves ingress open', () => {
    const withEgress = model([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    const v = evaluate(withEgress, { from: { pod: 'x/a' }, to: { pod: 'x/c' }, port: 80, protocol: 'TCP' });
    expect(v.allowed).toBe(false);
    expect(v.egress.isolated).toBe(true);
    expect(evaluate(withEgress, { from: { pod: 'x/a' }, to: { pod: 'x/b' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(evaluate(withEgress, { from: { pod: 'x/b' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).ingress.isolated).toBe(true); // Ingress always
    const egressOnly = model([np('x', 'p', { podSelector: {}, policyTypes: ['Egress'] })]);
    expect(evaluate(egressOnly, { from: { pod: 'y/a' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(evaluate(egressOnly, { from: { pod: 'x/a' }, to: { pod: 'y/a' }, port: 80, protocol: 'TCP' }).reason)
      .toBe('egress of x/a isolated by x/p; denied: no rule allows TCP/80 to y/a; ingress of y/a not isolated');
    // An empty egress list without policyTypes: ingress only.
    const empty = model([np('x', 'p', { podSelector: {}, egress: [] })]);
    expect(evaluate(empty, { from: { pod: 'x/a' }, to: { pod: 'y/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(true);
  });

  it('a pod and its own node always talk; another node is a plain address', () => {
    const w = model([np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
    const own = evaluate(w, { from: { ip: '192.168.0.11' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' });
    expect(own.allowed).toBe(true);
    expect(own.reason).toBe('between x/a and its node node1: always allowed');
    expect(evaluate(w, { from: { pod: 'x/a' }, to: { ip: '10.244.1.1' }, port: 53, protocol: 'UDP' }).allowed).toBe(true);
    expect(evaluate(w, { from: { ip: '192.168.0.12' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(evaluate(w, { from: { pod: 'x/a' }, to: { pod: 'x/a' }, port: 80, protocol: 'TCP' }).reason).toBe('x/a to itself: always allowed');
  });

  it('check() agrees with explain() on every pair, port and protocol, and names the denying side', () => {
    const w = model([
      np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
      np('x', 'allow', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }], egress: [{ to: [{ ipBlock: { cidr: '10.244.3.0/24' } }] }] }),
    ]);
    const m = compileNetpol(w);
    let allowed = 0;
    for (const s of m.pods) for (const d of m.pods) for (const proto of [6, 17, 132]) for (const port of [80, 81]) {
      const ok = m.check(s.ip, d.ip, proto, port);
      expect(ok).toBe(m.explain(s.ip, d.ip, proto, port).allowed);
      if (ok) allowed++;
      else expect(m.lastDenied!.policies.map((i) => m.policyNames[i])).toEqual(['x/deny-all', ...(m.lastDeniedDir === 0 ? (s.key === 'x/a' ? ['x/allow'] : []) : (d.key === 'x/a' ? ['x/allow'] : []))]);
    }
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThan(81 * 6);
  });

  it('ICMP (not a NetworkPolicy protocol): a rule without ports allows it, a rule with ports never does', () => {
    const ip = (k: string): number => m.pods[m.podNamed(k)]!.ip;
    const m = compileNetpol(model([
      np('x', 'any', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
      np('x', 'tcp', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80 }] }] }),
    ]));
    expect(m.check(ip('y/a'), ip('x/a'), 1, 0)).toBe(true);
    expect(m.check(ip('y/a'), ip('x/b'), 1, 0)).toBe(false);
    expect(m.check(ip('y/a'), ip('x/c'), 1, 0)).toBe(true); // not isolated
  });
});

describe('NetworkPolicy validation', () => {
  const paths = (p: unknown): string[] => {
    const v = validateNetworkPolicy(p);
    return v.ok ? [] : v.errors.map(formatNetpolError);
  };

  it('a valid policy: namespace defaults to default; absent podSelector is empty', () => {
    const v = validateNetworkPolicy({ metadata: { name: 'p' }, spec: { ingress: [{}] } });
    expect(v.ok && v.policy.metadata.namespace).toBe('default');
    expect(v.ok && v.policy.spec.podSelector).toEqual({});
  });

  it('bad operator, endPort < port, CIDR with host bits, except outside ipBlock: Kubernetes field paths', () => {
    expect(paths(np('x', 'p', {
      podSelector: { matchExpressions: [{ key: 'pod', operator: 'Equals', values: ['a'] }] },
      ingress: [{
        ports: [{ port: 81, endPort: 80 }],
        from: [{ podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16', '10.0.0.0/8'] } }],
      }],
      egress: [{ to: [{ ipBlock: { cidr: '10.1.2.3/16' } }] }],
    }))).toEqual([
      'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator',
      'spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`',
      'spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
      'spec.ingress[0].from[1].ipBlock.except[1]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
      'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.1.2.3/16": must be in canonical form ("10.1.0.0/16")',
    ]);
  });

  it('peers, ports, selectors and policyTypes as the API server checks them', () => {
    expect(paths(np('x', 'p', {
      podSelector: {},
      policyTypes: ['Ingress', 'Sideways'],
      ingress: [{ from: [{}, { ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }], ports: [{ protocol: 'ICMP' }, { endPort: 90 }, { port: 'http', endPort: 90 }, { port: 0 }] }],
      egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }, { key: 'b', operator: 'Exists', values: ['x'] }] } }] }],
    }))).toEqual([
      'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      'spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is not specified',
      'spec.ingress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is non-numeric',
      'spec.ingress[0].ports[3].port: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.ingress[0].from[0]: Required value: must specify a peer',
      'spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer',
      "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      "spec.egress[0].to[0].namespaceSelector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Egress", "Ingress"',
    ]);
    expect(paths({ metadata: {}, spec: {} })).toEqual(['metadata.name: Required value: name or generateName is required']);
    expect(paths({ metadata: { name: 'p' } })).toEqual(['spec: Required value']);
  });
});

describe('NetworkPolicy in a topology file', () => {
  it('namespaces and networkPolicies are loaded; a bad policy is refused with networkPolicies[i].<Kubernetes field path>', async () => {
    const { parseTopology, formatTopologyError } = await import('../topology.js');
    const base = `nodes: [ { name: node1 } ]
namespaces: [ { name: x, labels: { team: a } } ]
pods: [ { name: a, namespace: x, node: node1, ports: [ { name: web, containerPort: 80 } ] } ]
networkPolicies:
  - metadata: { name: p, namespace: x }
    spec:
      podSelector: {}
      ingress: [ { ports: [ { port: web } ] } ]
`;
    const r = parseTopology(base, 't.yaml');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.topology.namespaces).toEqual([{ name: 'x', labels: { team: 'a' } }]);
      expect(r.topology.networkPolicies?.[0]?.metadata).toEqual({ name: 'p', namespace: 'x' });
      expect(r.topology.pods[0]!.ports).toEqual([{ name: 'web', containerPort: 80, protocol: 'TCP' }]);
    }
    const bad = parseTopology(`${base}  - metadata: { name: q }
    spec:
      podSelector: { matchExpressions: [ { key: app, operator: Is, values: [ a ] } ] }
  - metadata: { name: p, namespace: x }
    spec: { podSelector: {} }
`, 't.yaml');
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors.map((e) => formatTopologyError(e, { location: true }))).toEqual([
        't.yaml:11:64: networkPolicies[1].spec.podSelector.matchExpressions[0].operator: Invalid value: "Is": not a valid selector operator',
        't.yaml:12:23: networkPolicies[2].metadata.name: "x/p" is already defined by networkPolicies[0]',
      ]);
    }
  });
});
