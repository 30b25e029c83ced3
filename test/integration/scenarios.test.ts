/**
 * Every scenario of `podwire scenario` (docs/scenarios.md): its symptom shows without the fix,
 * at the hop and with the counters it names, and --fix removes it.
 */
import { describe, expect, it } from 'vitest';
import { listScenarios, runScenario, type ScenarioRunResult } from '../../src/control/scenarios.js';
import { downloadWithInvalidSegment } from '../../src/kube/scenarios/conntrack-invalid-reset.js';
import type { ScenarioContext } from '../../src/kube/scenarios/scenario.js';

const run = (name: string, fix: boolean): Promise<ScenarioRunResult> => runScenario(name, { fix, write: false });

describe('scenarios', () => {
  it('vxlan-mtu-blackhole: small requests pass, full-size DF segments die at flannel.1 and their ICMP is filtered; MTU 1450 fixes it', async () => {
    const bad = await run('vxlan-mtu-blackhole', false);
    expect(bad.failed).toBe(true);
    expect(bad.notes[1]).toBe('5-byte request: echoed');
    expect(bad.drops).toContainEqual({ owner: 'node1/root', reason: 'frag-needed', count: bad.counters['frag-needed ICMP filtered'] });
    expect(bad.counters['frag-needed ICMP filtered']).toBeGreaterThan(0);
    const good = await run('vxlan-mtu-blackhole', true);
    expect(good.failed).toBe(false);
    expect(good.counters['client eth0 mtu']).toBe(1450);
    expect(good.counters['node1 frag-needed drops']).toBe(0);
  });

  it('hairpin: only the backing pod times out through its own Service; hairpin mode fixes it', async () => {
    const bad = await run('hairpin', false);
    expect(bad.failed).toBe(true);
    expect(bad.symptom).toMatch(/Connection timed out/);
    expect(bad.notes[0]).toMatch(/200 from web-0/); // another pod gets through
    expect(bad.drops).toContainEqual({ owner: 'node1/cbr0', reason: 'hairpin-off', count: expect.any(Number) as number });
    expect(bad.notes[2]).toMatch(/hairpin_mode = 0$/);
    const good = await run('hairpin', true);
    expect(good.failed).toBe(false);
    expect(good.symptom).toMatch(/200 OK from web-0/);
    expect(good.drops.filter((d) => d.reason === 'hairpin-off')).toEqual([]);
  });

  it('bad-vxlan-checksum: node2 drops the SYNs with a bad outer UDP checksum, the connect takes 63 s (SYN backoff); checksum offload off fixes it', async () => {
    const bad = await run('bad-vxlan-checksum', false);
    expect(bad.failed).toBe(true);
    expect(bad.symptom).toMatch(/connected after 63\.000 s/);
    expect(bad.counters['SYN retransmissions']).toBe(6);
    expect(bad.drops).toEqual([{ owner: 'node2/root', reason: 'bad-checksum', count: 6 }]);
    expect(bad.virtualMs).toBe(63_000);
    const good = await run('bad-vxlan-checksum', true);
    expect(good.failed).toBe(false);
    expect(good.counters['SYN retransmissions']).toBe(0);
    expect(good.drops).toEqual([]);
  });

  it('dns-conntrack-race: A and AAAA from one socket clash in conntrack (insert_failed), lookups take 5 s; DNS over TCP removes it', async () => {
    const bad = await run('dns-conntrack-race', false);
    expect(bad.failed).toBe(true);
    expect(bad.counters['insert_failed']).toBeGreaterThan(0);
    expect(bad.counters['lookups of 5 s or more']).toBe(bad.counters['insert_failed']); // each clash costs one resolver timeout
    expect(bad.drops).toEqual([{ owner: 'node1/conntrack', reason: 'insert-failed', count: bad.counters['insert_failed'] }]);
    // 5.0 s +- 50 ms: the resolver's timeout:5 plus the retry's round trip.
    for (const m of bad.notes[1]!.matchAll(/([0-9.]+) s/g)) expect(Math.abs(Number(m[1]) - 5)).toBeLessThanOrEqual(0.05);
    expect(bad.symptom).toMatch(/real 5\.0\d\ds/);
    const good = await run('dns-conntrack-race', true);
    expect(good.failed).toBe(false);
    expect(good.counters['insert_failed']).toBe(0);
    expect(good.counters['lookups of 5 s or more']).toBe(0);
    // Same seed, same outcome.
    expect((await run('dns-conntrack-race', false)).notes).toEqual(bad.notes);
  });

  it('stale-udp-conntrack: datagrams keep going to the deleted pod until the flush', async () => {
    const bad = await run('stale-udp-conntrack', false);
    expect(bad.failed).toBe(true);
    expect(bad.counters['answered after the rollout']).toBe(0);
    expect(bad.notes.join('\n')).toMatch(/src=10\.244\.2\.2 dst=10\.244\.1\.2 sport=8125 dport=40000/); // the reply tuple names the old pod
    const good = await run('stale-udp-conntrack', true);
    expect(good.failed).toBe(false);
    expect(good.counters['answered after the rollout']).toBe(60);
  });

  it('conntrack-table-full: new connections time out with the table full, existing ones work; a bigger table fixes it', async () => {
    const bad = await run('conntrack-table-full', false);
    expect(bad.failed).toBe(true);
    expect(bad.reason).toBe('nf_conntrack: table full, dropping packet');
    expect(bad.drops[0]).toMatchObject({ owner: 'node1/conntrack', reason: 'conntrack-table-full' });
    expect(bad.counters['drop']).toBeGreaterThan(0);
    expect(bad.notes[2]).toBe('an existing connection: echoes "ping"');
    const good = await run('conntrack-table-full', true);
    expect(good.failed).toBe(false);
    expect(good.drops.filter((d) => d.reason === 'conntrack-table-full')).toEqual([]);
  });

  it('neighbor-table-overflow: pods of one node share the kernel\'s ARP table; past gc_thresh3 new neighbours fail, raising it fixes it', async () => {
    const bad = await run('neighbor-table-overflow', false);
    expect(bad.failed).toBe(true);
    expect(bad.counters['arp_tbl entries']).toBe(1024);
    expect(bad.counters['table_fulls']).toBeGreaterThan(0);
    expect(bad.reason).toMatch(/^neighbour: arp_cache: neighbor table overflow!/);
    expect(bad.drops.some((d) => d.reason === 'neighbor-table-overflow')).toBe(true);
    expect(bad.notes[1]).toMatch(/largest pod neighbour table: 1\d entries/); // no namespace is anywhere near full
    const good = await run('neighbor-table-overflow', true);
    expect(good.failed).toBe(false);
    expect(good.counters['arp_tbl entries']).toBe(1152);
    expect(good.counters['table_fulls']).toBe(0);
  });

  it('snat-race: same source port masqueraded on two CPUs clashes (insert_failed); --random-fully removes it', async () => {
    const bad = await run('snat-race', false);
    expect(bad.failed).toBe(true);
    expect(bad.counters['insert_failed']).toBe(bad.counters['clients']! - bad.counters['clients answered']!);
    expect(bad.drops).toEqual([{ owner: 'node2/conntrack', reason: 'insert-failed', count: bad.counters['insert_failed'] }]);
    expect(bad.notes[2]).toMatch(/: 123, 124,/); // one CPU's connections kept 123 and were remapped upwards
    const good = await run('snat-race', true);
    expect(good.failed).toBe(false);
    expect(good.counters['insert_failed']).toBe(0);
  });

  it('conntrack-invalid-reset: one out-of-window segment escapes the reverse DNAT, the client pod RSTs it, the download is reset; be_liberal fixes it', async () => {
    const bad = await run('conntrack-invalid-reset', false);
    expect(bad.failed).toBe(true);
    expect(bad.symptom).toMatch(/Connection reset by peer/);
    expect(bad.hop).toBe('node1/conntrack');
    expect(bad.reason).toMatch(/SEQ is under the lower bound/);
    expect(bad.counters['node1 conntrack invalid']).toBe(1);
    expect(bad.counters['node2 conntrack invalid']).toBe(1);
    // the segment reached the client pod from the backend's own address, which its connection does not know: a RST
    expect(bad.counters['client RSTs to 10.244.2.2']).toBe(1);
    expect(bad.counters['KUBE-FORWARD INVALID drops']).toBe(0); // nftables mode: no such rule
    const good = await run('conntrack-invalid-reset', true);
    expect(good.failed).toBe(false);
    expect(good.counters['bytes received']).toBe(4 << 20);
    expect(good.counters['node1 conntrack invalid']).toBe(0);
    expect(good.counters['client RSTs to 10.244.2.2']).toBe(0);
  });

  it('conntrack-invalid-reset, the other remedies: iptables mode drops the INVALID segment in KUBE-FORWARD; Linux 6.1 IGNOREs it', async () => {
    const ctx = (): ScenarioContext => ({ fix: false, seed: 1, watch: () => {} });
    const dropped = await downloadWithInvalidSegment(ctx(), { proxyMode: 'iptables', kernel: '5.15', beLiberal: false });
    expect(dropped.failed).toBe(false);
    expect(dropped.counters['bytes received']).toBe(4 << 20);
    expect(dropped.counters['node2 conntrack invalid']).toBe(1); // dropped on the server's node, first to see it
    expect(dropped.counters['node1 conntrack invalid']).toBe(0);
    expect(dropped.counters['client RSTs to 10.244.2.2']).toBe(0);
    expect(dropped.counters['KUBE-FORWARD INVALID drops']).toBe(1);
    const ipvs = await downloadWithInvalidSegment(ctx(), { proxyMode: 'ipvs', kernel: '5.15', beLiberal: false });
    expect(ipvs.failed).toBe(false);
    // be_liberal without the rule (kube-proxy leaves it out then, PR #120412): still fine, the segment is accepted
    const liberal = await downloadWithInvalidSegment(ctx(), { proxyMode: 'iptables', kernel: '5.15', beLiberal: true });
    expect(liberal.failed).toBe(false);
    expect(liberal.counters['node2 conntrack invalid']).toBe(0);
    // the same on one node: the reply is switched by the bridge (br_netfilter), conntrack and KUBE-FORWARD as for routed packets
    const bridged = await downloadWithInvalidSegment(ctx(), { proxyMode: 'nftables', kernel: '5.15', beLiberal: false, sameNode: true });
    expect(bridged.failed).toBe(true);
    expect(bridged.symptom).toMatch(/Connection reset by peer/);
    expect(bridged.counters['client RSTs to 10.244.1.3']).toBe(1);
    const bridgedDrop = await downloadWithInvalidSegment(ctx(), { proxyMode: 'iptables', kernel: '5.15', beLiberal: false, sameNode: true });
    expect(bridgedDrop.failed).toBe(false);
    expect(bridgedDrop.counters['KUBE-FORWARD INVALID drops']).toBe(1);
    const newer = await downloadWithInvalidSegment(ctx(), { proxyMode: 'nftables', kernel: '6.1', beLiberal: false });
    expect(newer.failed).toBe(false);
    expect(newer.counters['node1 conntrack invalid']).toBe(0);
    expect(newer.counters['node2 conntrack invalid']).toBe(0);
  });

  it('lists every scenario once, each with a summary', () => {
    const l = listScenarios();
    expect(new Set(l.map((s) => s.name)).size).toBe(l.length);
    for (const s of l) expect(s.summary.length).toBeGreaterThan(10);
  });
});
