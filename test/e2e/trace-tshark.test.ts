/**
 * tshark reads `podwire trace --pcap DIR` side by side with the trace: every frame a hop
 * names (`captures`: file and frame number) is that frame number in that file for tshark,
 * on that interface, stamped with the hop's time to the microsecond; the request's frames
 * carry the echo request and the "ICMP error" journey's frames the host unreachable (3/1)
 * node2 sent when its ARP for 10.244.2.99 failed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Hop } from '../../src/engine/trace.js';
import { runCli } from '../integration/helpers.js';
import { describeE2E } from './prereq.js';
import { tempDir, tsharkRecords } from './tshark-util.js';

describeE2E('podwire trace --pcap, read by tshark', ['tshark'], () => {
  const tmp = tempDir('podwire-tracefx-tshark-');
  let request: Hop[] = [];
  let reply: Hop[] = [];
  beforeAll(async () => {
    const r = await runCli('trace', 'examples/demo.yaml', '--from', 'pod1', '--to', '10.244.2.99', '--pcap', tmp.dir, '--json');
    expect(r.code, r.err).toBe(1); // not delivered: the ARP failed
    const j = JSON.parse(r.out) as { request: { hops: Hop[] }; reply: { hops: Hop[] }; replyKind: string };
    expect(j.replyKind).toBe('icmp-error');
    request = j.request.hops;
    reply = j.reply.hops;
  });
  afterAll(() => tmp.remove());

  const FIELDS = ['frame.number', 'frame.time_epoch', 'frame.interface_name', 'icmp.type', 'icmp.code'];
  const rows = new Map<string, Array<Record<string, string>>>();
  const frame = (file: string, n: number): Record<string, string> | undefined => {
    let r = rows.get(file);
    if (r === undefined) rows.set(file, r = tsharkRecords(tmp.file(file), FIELDS, ['-d', 'udp.port==8472,vxlan']));
    return r[n - 1];
  };
  /**
   * tshark's "1767225600.000032999" -> microseconds since the epoch, rounded: a float epoch in
   * milliseconds holds 1.7e12 to ~0.24 us, so a hop at +33 us is written as 32.999 us.
   */
  const epochUs = (s: string): bigint => {
    const [sec, frac = ''] = s.split('.');
    return BigInt(sec!) * 1_000_000n + (BigInt(frac.padEnd(9, '0').slice(0, 9)) + 500n) / 1000n;
  };

  it('every named frame is that frame for tshark, on that interface, at the hop\'s time (us)', () => {
    let n = 0;
    for (const h of [...request, ...reply]) {
      for (const c of h.captures ?? []) {
        const f = frame(c.file, c.frame);
        expect(f, `${c.file} #${c.frame}`).toBeDefined();
        expect(f!['frame.number']).toBe(String(c.frame));
        expect(f!['frame.interface_name']).toBe(c.interface);
        expect(epochUs(f!['frame.time_epoch']!), `${c.file} #${c.frame} (${h.action})`).toBe(BigInt(Math.round(h.time! * 1000)));
        n++;
      }
    }
    expect(n).toBeGreaterThan(10);
  });

  it('the request\'s frames hold the echo request; the ICMP error journey\'s frames the host unreachable', () => {
    for (const [hops, type, code] of [[request, '8', '0'], [reply, '3', '1']] as const) {
      const named = hops.flatMap((h) => h.captures ?? []);
      expect(named.length).toBeGreaterThan(5);
      for (const c of named) {
        const f = frame(c.file, c.frame)!;
        // The error quotes the request, so tshark lists the quoted type too (3,8).
        expect(f['icmp.type']!.split(',')[0], `${c.file} #${c.frame}`).toBe(type);
        expect(f['icmp.code']!.split(',')[0]).toBe(code);
      }
    }
  });
});
