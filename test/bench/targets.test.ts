import { describe, expect, it } from 'vitest';
import { judgeTargets, targetLines } from '../../tools/bench/targets.mjs';

describe('bench target summary', () => {
  it('judges the figures a run measured, both directions, and repeats the TAP verdicts', () => {
    const verdicts = judgeTargets({
      figures: [
        { name: 'fwd.same-node', value: 5.18, unit: 'Mpps' },
        { name: 'scale.vxlan.1000n.total', value: 1237, unit: 'ms' },
        { name: 'conntrack.lookup.cost-1M/1k', value: 9.31, unit: 'x' },
        { name: 'chain.1', value: 50, unit: 'Mpps' }, // no target
      ],
      tapRatios: [
        { of: 'podwire.same-node', to: 'vde-switch', metric: 'pps', ratio: 1.1971, target: 1.2, higher: true, met: false },
        { of: 'podwire.same-node', to: 'vde-switch', metric: 'rtt', ratio: 0.8, target: 1, higher: false, met: true },
        { of: 'podwire.same-node', to: 'kernel-bridge', metric: 'tcp', ratio: 0.2, target: 0, higher: true, met: null }, // context only
      ],
    });
    expect(verdicts.map((v) => [v.figure, v.op, v.met])).toEqual([
      ['fwd.same-node', '>=', false],
      ['scale.vxlan.1000n.total', '<=', true],
      ['conntrack.lookup.cost-1M/1k', '<=', false],
      ['tap podwire.same-node / vde-switch pps', '>=', false],
      ['tap podwire.same-node / vde-switch rtt', '<=', true],
    ]);
    const lines = targetLines(verdicts);
    expect(lines[0]).toBe('# targets: 2 of 5 met');
    expect(lines).toContain('# target fwd.same-node >= 10.0 Mpps: 5.18 MISSED (0.52x the target)');
    expect(lines).toContain('# target tap podwire.same-node / vde-switch pps >= 1.200 x: 1.197 MISSED (1.00x the target)');
    expect(lines).toContain('# target scale.vxlan.1000n.total <= 2000 ms: 1237 met');
  });

  it('repeats the vxlan-kernel verdicts, a zero threshold without a multiple', () => {
    const verdicts = judgeTargets({
      figures: [],
      vxlanKernelTargets: [
        { figure: 'vxlan-kernel podwire / kernel tcp', op: '>=', threshold: 0.5, unit: 'x', value: 0.333, met: false },
        { figure: 'vxlan-kernel.podwire.socket-drops', op: '<=', threshold: 0, unit: 'datagrams', value: 12, met: false },
        { figure: 'vxlan-kernel.podwire.socket-drops.reverse', op: '<=', threshold: 0, unit: 'datagrams', value: 0, met: true },
      ],
    });
    expect(targetLines(verdicts)).toEqual([
      '# targets: 1 of 3 met',
      '# target vxlan-kernel podwire / kernel tcp >= 0.500 x: 0.333 MISSED (0.67x the target)',
      '# target vxlan-kernel.podwire.socket-drops <= 0.00 datagrams: 12.0 MISSED',
      '# target vxlan-kernel.podwire.socket-drops.reverse <= 0.00 datagrams: 0.00 met',
    ]);
  });

  it('prints nothing when the run measured no figure with a target', () => {
    expect(targetLines(judgeTargets({ figures: [{ name: 'chain.1', value: 50, unit: 'Mpps' }] }))).toEqual([]);
  });
});
