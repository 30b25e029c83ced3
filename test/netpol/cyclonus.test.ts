/**
 * Cyclonus' generated cases (cyclonus-cases.ts), every tag family including the default-
 * excluded multi-peer and end-port, on the x/y/z model through the real dataplane: all 81
 * pairs x ports 80, 81 x TCP, UDP, SCTP per step (Cyclonus' ProbeAllAvailable), compared with
 * the reference engine's truth table. Prints pass counts per tag, grouped by family.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/kube/cluster.js';
import { probeCluster, type ProbeProtocol } from '../../src/kube/probe.js';
import { generateCyclonusCases, referenceAllowed, TAG_FAMILIES, toNetworkPolicy, type CyclonusAction, type RefPod } from './cyclonus-cases.js';
import { ALL_PODS, modelCluster, podIp, replacePodLabels, resetModel } from './runner.js';

describe('Cyclonus generator families, real packets against a reference engine', () => {
  let c: Cluster;
  beforeAll(() => { c = modelCluster(); });
  afterAll(() => c.close());

  it('every generated case passes (per-tag counts printed)', () => {
    const cases = generateCyclonusCases(podIp(c, 'x/a'));
    const perTag = new Map<string, { pass: number; total: number }>();
    const failures: string[] = [];
    let probes = 0;
    for (const tc of cases) {
      resetModel(c);
      const policies = new Map<string, Record<string, any>>();
      const nsLabels: Record<string, Record<string, string>> = { x: { ns: 'x' }, y: { ns: 'y' }, z: { ns: 'z' } };
      let bad: string | null = null;
      for (const [si, step] of tc.steps.entries()) {
        for (const a of step.actions) act(c, a, policies, nsLabels);
        const r = probeCluster(c, { ports: [80, 81], protocols: ['TCP', 'UDP', 'SCTP'], reasons: false });
        probes += r.probes.length;
        const pods = new Map<string, RefPod>(c.plan.pods.filter((p) => !p.system).map((p) => [`${p.namespace}/${p.name}`, {
          ns: p.namespace, name: p.name, labels: p.labels, ip: podIp(c, `${p.namespace}/${p.name}`),
          ports: (p.ports ?? []).map((cp) => ({ name: cp.name ?? '', port: cp.containerPort, protocol: cp.protocol ?? 'TCP' })),
        }]));
        for (const p of r.probes) {
          if (p.from === p.to) continue; // loopback: always allowed here (docs/networkpolicy.md), ignored as Cyclonus' --ignore-loopback
          const want = referenceAllowed([...policies.values()], nsLabels, pods.get(p.from)!, pods.get(p.to)!, p.port, p.protocol as ProbeProtocol);
          if (want !== p.allowed && bad === null) bad = `step ${si}: ${p.protocol}/${p.port} ${p.from} -> ${p.to} expected ${want ? '.' : 'X'} got ${p.allowed ? '.' : 'X'} (${p.reason})`;
        }
      }
      if (bad !== null) failures.push(`${tc.description} [${tc.tags.join(', ')}]: ${bad}`);
      for (const t of tc.tags) {
        const s = perTag.get(t) ?? { pass: 0, total: 0 };
        s.total++;
        if (bad === null) s.pass++;
        perTag.set(t, s);
      }
    }
    const lines = Object.entries(TAG_FAMILIES).map(([fam, tags]) => `${fam}: ${tags.map((t) => {
      const s = perTag.get(t);
      return `${t} ${s?.pass ?? 0}/${s?.total ?? 0}`;
    }).join(', ')}`);
    console.log(`cyclonus: ${cases.length} cases, ${probes} probes\n  ${lines.join('\n  ')}`);
    expect(failures).toEqual([]);
    for (const tags of Object.values(TAG_FAMILIES)) for (const t of tags) expect(perTag.get(t)?.total ?? 0, t).toBeGreaterThan(0);
    expect(ALL_PODS.length).toBe(9);
  }, 240_000);
});

function act(c: Cluster, a: CyclonusAction, policies: Map<string, Record<string, any>>, nsLabels: Record<string, Record<string, string>>): void {
  if ('create' in a || 'update' in a) {
    const np = toNetworkPolicy('create' in a ? a.create : a.update) as Record<string, any>;
    const r = c.netpol.apply([np]);
    if (!r.ok) throw new Error(`refused ${JSON.stringify(np)}: ${JSON.stringify(r.errors)}`);
    policies.set(`${np['metadata'].namespace}/${np['metadata'].name}`, np);
  } else if ('delete' in a) {
    c.netpol.remove(a.delete[0], a.delete[1]);
    policies.delete(`${a.delete[0]}/${a.delete[1]}`);
  } else if ('setNamespaceLabels' in a) {
    const [ns, l] = a.setNamespaceLabels;
    c.netpol.setNamespace(ns, l);
    nsLabels[ns] = { ...l };
  } else {
    const [ns, name, l] = a.setPodLabels;
    replacePodLabels(c, `${ns}/${name}`, l);
  }
}
