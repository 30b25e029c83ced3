/**
 * kube-proxy's nftables mode through the emulated cluster: the same journeys as iptables
 * mode, plus its observable differences (cluster-ips-check), and its rules in `nft` names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterFromTopology, examplePath } from '../../src/control/load.js';
import { runTrace } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';

const demo = readFileSync(examplePath('demo.yaml'), 'utf8');
const inMode = (mode: string) => clusterFromTopology(demo.replace(/^ {2}proxyMode: iptables/m, `  proxyMode: ${mode}`));

describe('proxyMode: nftables', () => {
  it('a service answers as in iptables mode; the trace names nft chains', () => {
    const c = inMode('nftables');
    try {
      const t = runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
      expect(t.request.delivered).toBe(true);
      expect(t.reply?.delivered).toBe(true);
      const dnat = t.request.hops.find((h) => h.action === 'dnat')!;
      expect(String(dnat.detail['rule'])).toMatch(/^service-ips -> service-[A-Z2-7]{8}-default\/service1\/tcp\/http -> endpoint-/);
    } finally {
      c.close();
    }
  });

  it('a live cluster IP on a port it does not serve: rejected at once (ICMP port unreachable), TCP and ping', () => {
    const c = inMode('nftables');
    try {
      for (const opts of [{ proto: 'tcp', port: 81 }, { proto: 'icmp' }] as const) {
        const t = runTrace(c, { from: 'pod1', to: '10.96.0.2', ...opts });
        expect(t.request.delivered, renderTrace(t)).toBe(false);
        expect(t.request.dropReason).toBe('invalid-cluster-ip-port');
        expect(t.reply?.delivered, renderTrace(t)).toBe(true);
        expect(renderTrace(t)).toContain('cluster-ips-check');
      }
    } finally {
      c.close();
    }
  });

  it('an unallocated address of the service CIDR: dropped, no answer', () => {
    const c = inMode('nftables');
    try {
      const t = runTrace(c, { from: 'pod1', to: '10.96.0.99', proto: 'tcp', port: 80 });
      expect(t.request.delivered).toBe(false);
      expect(t.request.dropReason).toBe('unallocated-cluster-ip');
      expect(t.reply).toBeNull();
    } finally {
      c.close();
    }
  });

  it('iptables mode has no such check: the same packets are not refused by kube-proxy', () => {
    const c = inMode('iptables');
    try {
      for (const to of ['10.96.0.2', '10.96.0.99']) {
        const t = runTrace(c, { from: 'pod1', to, proto: 'tcp', port: 81 });
        expect(t.request.dropReason ?? '').not.toMatch(/cluster-ip/);
      }
    } finally {
      c.close();
    }
  });
});
