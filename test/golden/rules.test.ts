/**
 * Golden `podwire rules` outputs: the services of kube-proxy's TestOverall*Rules fixtures
 * (every Service shape podwire models: ClusterIP, NodePort with both traffic policies,
 * LoadBalancer with ingress and external IPs, no endpoints, affinity) rendered per proxy mode,
 * compared byte for byte with test/golden/rules/. `PODWIRE_GOLDEN_UPDATE=1` rewrites them;
 * a diff of those files is what a change to the rules looks like on a real node. The files'
 * faithfulness to the real tools is checked by test/e2e/iptables-rules.test.ts and
 * nft-rules.test.ts (real iptables-restore/-save and nft).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { iptablesSave } from '../../src/kube/rules-iptables.js';
import { ipvsadmList } from '../../src/kube/rules-ipvs.js';
import { nftList } from '../../src/kube/rules-nft.js';
import { parseCidr, parseIpv4 } from '../../src/wire/addr.js';
import { CLUSTER_CIDR, NODE, SERVICES } from '../fixtures/kube-proxy/overall.js';

const DIR = join(import.meta.dirname, 'rules');
const UPDATE = process.env['PODWIRE_GOLDEN_UPDATE'];

const withAffinity = (() => {
  const s = structuredClone(SERVICES);
  s[3]!.plan.sessionAffinity = 'ClientIP';
  return s;
})();
const NODE_IP = parseIpv4('192.168.0.2');
const outputs: Record<string, string> = {
  'iptables-save-nat.txt': iptablesSave({ node: NODE, clusterCIDR: CLUSTER_CIDR, services: withAffinity }, 'nat'),
  'iptables-save-filter.txt': iptablesSave({ node: NODE, clusterCIDR: CLUSTER_CIDR, services: withAffinity }, 'filter'),
  'nft.txt': nftList({ node: NODE, clusterCIDR: CLUSTER_CIDR, serviceCIDR: parseCidr('172.30.0.0/16'), nodeIPs: [NODE_IP], services: withAffinity }),
  'ipvsadm.txt': ipvsadmList({ node: NODE, nodeAddrs: [NODE_IP], services: withAffinity }),
};

describe('golden podwire rules per proxy mode', () => {
  for (const [file, text] of Object.entries(outputs)) {
    it(file, () => {
      const path = join(DIR, file);
      if (UPDATE !== undefined || !existsSync(path)) writeFileSync(path, text);
      expect(text).toBe(readFileSync(path, 'utf8'));
    });
  }
});
