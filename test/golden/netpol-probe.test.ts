/**
 * `podwire probe` on the upstream x/y/z model prints the truth table of upstream e2e cases
 * byte for byte. Per case (test/golden/netpol-probe/<case>/): `topology.yaml` is the model
 * (examples/netpol/model.yaml) plus the case's policies, `probe.txt` the case's expected
 * Reachability (its upstream operations over all nine pods, test/netpol/upstream-e2e.yaml)
 * in Cyclonus' table. The test checks both directions: the golden file is that truth table,
 * and the CLI's output is the golden file. Cases whose tables leave loopback alone (upstream
 * ignores it; podwire always allows it). `PODWIRE_GOLDEN_UPDATE=1` rewrites the files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { netpolModelDocument } from '../../src/kube/netpol-model.js';
import { renderProbeMatrix } from '../../src/kube/probe-text.js';
import { runCli } from '../integration/helpers.js';
import { ALL_PODS, expectedTable, modelCluster, substitute, type ConformanceCase } from '../netpol/runner.js';

const UPDATE = process.env['PODWIRE_GOLDEN_UPDATE'];
const DIR = new URL('./netpol-probe/', import.meta.url).pathname;
const CASES = parse(readFileSync(new URL('../netpol/upstream-e2e.yaml', import.meta.url), 'utf8')) as ConformanceCase[];

const GOLDEN: { dir: string; name: string }[] = [
  { dir: 'deny-ingress-from-other-namespaces', name: 'should deny ingress from pods on other namespaces' },
  { dir: 'egress-cidr-except', name: 'should enforce except clause while egress access to server in CIDR block' },
  { dir: 'egress-namespace-notin-default-label', name: 'should enforce policy based on NamespaceSelector with MatchExpressions using default ns label' },
];

describe('podwire probe output equals upstream truth tables (golden)', () => {
  it('examples/netpol/model.yaml is the built-in model', () => {
    const file = new URL('../../examples/netpol/model.yaml', import.meta.url).pathname;
    const text = `# The upstream NetworkPolicy e2e model (src/kube/netpol-model.ts): podwire probe examples/netpol/model.yaml\n${stringify(netpolModelDocument())}`;
    if (UPDATE !== undefined) writeFileSync(file, text);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  for (const g of GOLDEN) {
    it(g.name, async () => {
      const tc = CASES.find((c) => c.name === g.name && c.suite === 'TCP')!;
      const step = tc.steps[0]!;
      const chk = step.check[0]!;
      const c = modelCluster();
      const policies = substitute(c, step.apply) as unknown[];
      c.close();
      const want = expectedTable(ALL_PODS, chk.expect!);
      const table = renderProbeMatrix({
        from: ALL_PODS, to: ALL_PODS,
        probes: ALL_PODS.flatMap((f) => ALL_PODS.map((t) => ({ from: f, to: t, port: chk.port, protocol: chk.protocol, allowed: want.get(`${f} ${t}`)!, reason: '' }))),
      });
      const dir = join(DIR, g.dir);
      const topo = `# ${g.name} (upstream e2e), on the x/y/z model\n${stringify(netpolModelDocument(policies))}`;
      if (UPDATE !== undefined) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'topology.yaml'), topo);
        writeFileSync(join(dir, 'probe.txt'), table);
      }
      expect(existsSync(join(dir, 'probe.txt'))).toBe(true);
      expect(readFileSync(join(dir, 'topology.yaml'), 'utf8')).toBe(topo);
      expect(readFileSync(join(dir, 'probe.txt'), 'utf8')).toBe(table);
      const r = await runCli('probe', join(dir, 'topology.yaml'), '--ports', String(chk.port), '--protocols', chk.protocol.toLowerCase());
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(`${r.out}\n`).toBe(table);
    });
  }
});
