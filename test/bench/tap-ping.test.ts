import { describe, expect, it } from 'vitest';
import { parsePing } from '../../tools/bench/tap.mjs';

const echo = (seq: number, ms: number) => `64 bytes from 10.250.0.2: icmp_seq=${seq} ttl=64 time=${ms} ms`;

describe('tap bench: ping parsing', () => {
  it('takes the average from the summary and the median and 90th percentile from the echoes', () => {
    // Nine fast echoes and one slow one: the average moves, the median does not.
    const times = [0.021, 0.019, 0.025, 0.02, 0.022, 0.018, 0.024, 0.023, 0.026, 0.9];
    const out = [
      'PING 10.250.0.2 (10.250.0.2) 56(84) bytes of data.',
      ...times.map((t, i) => echo(i + 1, t)),
      '',
      '--- 10.250.0.2 ping statistics ---',
      '10 packets transmitted, 10 received, 0% packet loss, time 92ms',
      'rtt min/avg/max/mdev = 0.018/0.110/0.900/0.263 ms',
    ].join('\n');
    const r = parsePing(out);
    expect(r.avg).toBe(0.11);
    expect(r.p50).toBeCloseTo(0.0225, 6);
    expect(r.p90).toBe(0.9);
  });

  it('gives NaN when ping printed nothing usable', () => {
    const r = parsePing('');
    expect(Number.isNaN(r.avg) && Number.isNaN(r.p50) && Number.isNaN(r.p90)).toBe(true);
  });
});
