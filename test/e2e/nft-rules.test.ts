/**
 * `podwire rules --format nft` against the real nft: what podwire prints loads with `nft -f`
 * and lists back unchanged, and kube-proxy's own transaction for the same services
 * (TestOverallNFTablesRules), loaded into a real kernel, lists the same objects.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { nodeRules } from '../../src/control/rules.js';
import { nftList } from '../../src/kube/rules-nft.js';
import { parseCidr, parseIpv4 } from '../../src/wire/addr.js';
import { CLUSTER_CIDR, NODE, SERVICES } from '../fixtures/kube-proxy/overall.js';
import { UPSTREAM_NFT } from '../fixtures/kube-proxy/overall-nft.js';
import { describeE2E, uniq } from './prereq.js';

const ns = uniq('pw-nft');
const nft = (args: string[], input?: string): string =>
  execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
const load = (text: string): string => {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'kube-proxy'], { stdio: 'ignore' });
  } catch { /* none yet */ }
  nft(['-f', '-'], text);
  return nft(['list', 'table', 'ip', 'kube-proxy']);
};
/** The listing's objects (sets, maps, chains) in name order: kube-proxy adds them in Go map order. */
const objects = (listing: string): string[] =>
  listing.trimEnd().replace(/\n\}$/, '').split('\n\n').map((b) => b.trim()).sort();

describeE2E('podwire rules --format nft vs the kernel\'s nftables', ['root', 'netns', 'nft'], () => {
  beforeAll(() => { execFileSync('ip', ['netns', 'add', ns]); });
  afterAll(() => { try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ } });

  it('the demo cluster in nftables mode: nft -f of podwire\'s listing lists back the same text', () => {
    const yaml = readFileSync(examplePath('demo.yaml'), 'utf8').replace(/^ {2}proxyMode: iptables/m, '  proxyMode: nftables');
    const c = clusterFromTopology(yaml);
    try {
      for (const node of c.nodes.keys()) {
        const text = nodeRules(c, { node });
        expect(text.startsWith('table ip kube-proxy {')).toBe(true);
        expect(load(text), node).toBe(text);
      }
    } finally {
      c.close();
    }
  });

  it('kube-proxy\'s transaction for its TestOverallNFTablesRules services lists as podwire prints them', () => {
    const ours = nftList({
      node: NODE, clusterCIDR: CLUSTER_CIDR, serviceCIDR: parseCidr('172.30.0.0/16'), nodeIPs: [parseIpv4('192.168.0.2')], services: SERVICES,
    });
    expect(load(ours)).toBe(ours);
    expect(objects(load(UPSTREAM_NFT))).toEqual(objects(ours));
  });

  it('affinity sets, many elements and a local NodePort list back unchanged', () => {
    const s = structuredClone(SERVICES);
    s[3]!.plan.sessionAffinity = 'ClientIP';
    s[3]!.plan.sessionAffinityTimeout = 5430;
    s[3]!.plan.ports[0]!.nodePort = 30044;
    s[3]!.plan.externalTrafficPolicy = 'Local';
    s[0]!.endpoints = [...s[0]!.endpoints, { pod: 'b', node: NODE, ip: parseIpv4('10.180.0.99') }, { pod: 'c', node: 'x', ip: parseIpv4('10.180.0.100') }];
    s[1]!.plan.internalTrafficPolicy = 'Local'; // externally accessible: KUBE-SVC stays for the short-circuits
    s[2]!.plan.internalTrafficPolicy = 'Local';
    s[4]!.plan.externalIPs = [parseIpv4('192.168.99.1')];
    const more = Array.from({ length: 9 }, (_, i) => {
      const x = structuredClone(SERVICES[4]!);
      x.plan.name = `extra${i}`;
      x.plan.clusterIP = parseIpv4(`172.30.${i}.${200 - i}`);
      x.plan.ports[0]!.port = 1000 + 37 * i;
      x.plan.ports[0]!.nodePort = 31000 + 300 * i;
      return x;
    });
    const ours = nftList({
      node: NODE, clusterCIDR: CLUSTER_CIDR, serviceCIDR: parseCidr('172.30.0.0/16'), nodeIPs: [parseIpv4('192.168.0.2')], services: [...s, ...more],
    });
    expect(ours).toContain('timeout 1h30m30s');
    expect(load(ours)).toBe(ours);
  });
});
