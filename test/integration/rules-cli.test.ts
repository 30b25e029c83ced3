/**
 * `podwire rules` through `main(argv, io)`: iptables-save text from a topology file, ipvsadm
 * text in ipvs mode, the rules following services and endpoints, and usage errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterFromTopology } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';

const tmp = mkdtempSync(join(tmpdir(), 'podwire-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = runCli;

const DEMO = 'examples/demo.yaml';
const demoText = readFileSync(DEMO, 'utf8');
const IPVS = join(tmp, 'ipvs.yaml');
writeFileSync(IPVS, demoText.replace(/^  proxyMode: iptables/m, '  proxyMode: ipvs'));

describe('podwire rules', () => {
  it('prints the node\'s nat table as iptables-save does, with kube-proxy\'s chain names', async () => {
    const r = await run('rules', DEMO, '--node', 'node1');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('*nat');
    expect(lines.at(-1)).toBe('COMMIT');
    expect(lines).toContain(':KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]');
    expect(lines.filter((l) => l.startsWith('-A KUBE-SERVICES ')).at(-1)).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    // service1 has two endpoints: one rule with probability 1/2, the last without.
    const svc = lines.filter((l) => /^-A KUBE-SVC-\S+ -m comment --comment "default\/service1:http -> /.test(l));
    expect(svc).toHaveLength(2);
    expect(svc[0]).toContain('--probability 0.50000000000');
    expect(svc[1]).not.toContain('--probability');
  });

  it('follows the cluster: a service whose pods go loses its nat rules and is REJECTed in filter', () => {
    const c = clusterFromTopology(demoText);
    try {
      expect(nodeRules(c, { node: 'node1', table: 'filter' })).not.toContain('has no endpoints"');
      c.addService({ name: 'empty', selector: { app: 'nothing' }, ports: [{ name: 'http', port: 80 }] });
      const filter = nodeRules(c, { node: 'node1', table: 'filter' });
      expect(filter).toMatch(/-A KUBE-SERVICES -d 10\.96\.\d+\.\d+\/32 -p tcp -m comment --comment "default\/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable/);
      expect(nodeRules(c, { node: 'node1' })).not.toContain('default/empty');
    } finally {
      c.close();
    }
  });

  it('--service keeps one service; --format ipvsadm in ipvs mode', async () => {
    const one = await run('rules', DEMO, '--node', 'node2', '--service', 'kube-system/kube-dns');
    expect(one.code, one.err).toBe(0);
    expect(one.out).toContain('KUBE-SVC-TCOU7JCQXEZGVUNU');
    expect(one.out).not.toContain('service1');
    const ipvs = await run('rules', IPVS, '--node', 'node1');
    expect(ipvs.code, ipvs.err).toBe(0);
    expect(ipvs.out.split('\n').slice(0, 3)).toEqual([
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ]);
    expect(ipvs.out).toMatch(/^UDP {2}10\.96\.0\.10:53 rr$/m);
  });

  it('bad input names the flag and the value', async () => {
    const noNode = await run('rules', DEMO);
    expect(noNode.code).toBe(2);
    expect(noNode.err).toContain('--node NODE is required');
    const wrongMode = await run('rules', DEMO, '--node', 'node1', '--format', 'ipvsadm');
    expect(wrongMode.code).toBe(1);
    expect(wrongMode.err).toContain('format: "ipvsadm" shows kube-proxy\'s ipvs mode');
    const badNode = await run('rules', DEMO, '--node', 'node7');
    expect(badNode.code).toBe(1);
    expect(badNode.err).toContain('node "node7" not found');
    const badFormat = await run('rules', DEMO, '--node', 'node1', '--format', 'pf');
    expect(badFormat.err).toContain('format: "pf" must be one of iptables-save, ipvsadm, nft');
  });
});
