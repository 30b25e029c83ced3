/**
 * Golden cases: see golden-util.ts for the layout and PODWIRE_GOLDEN_UPDATE. The input
 * frames are built here with the wire emitters (src/net/testing/frames.ts) and stored as
 * input.pcapng; the expected outputs were produced by the code and reviewed with tshark
 * (see each case's README.md).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/kube/cluster.js';
import { parseIpv4 as ip } from '../../src/wire/addr.js';
import { arpFrame, echoFrame, udpFrame } from '../../src/net/testing/frames.js';
import {
  UPDATE, diffCaptures, diffCounters, readExpected, runGolden, writeExpected, writeInput, type GoldenCase,
} from './golden-util.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IDENT = 0x0abc;
const SPORT = 40000;

/** pod1's addresses and its gateway (cbr0 on node1). */
function pod1(c: Cluster) {
  const p = c.pod('pod1').plan;
  const n = c.node(p.node).plan;
  return { mac: p.mac, ip: p.ip, gwMac: n.bridgeMac, gwIp: n.bridgeIp };
}

/** Sockets in pod1 for the replies to the injected packets (echo ident, UDP source port). */
function pod1Sockets(c: Cluster): void {
  const ns = c.pod('pod1').ns;
  ns.bind(1, IDENT, (p) => ns.free(p));
  ns.bind(17, SPORT, (p) => ns.free(p));
}

const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

export const CASES: GoldenCase[] = [
  {
    name: 'demo-ping',
    inject: 'pod1/eth0',
    settleMs: 5000,
    setup: pod1Sockets,
    input(c) {
      const a = pod1(c);
      const pod3 = c.pod('pod3').plan.ip;
      return [
        { atMs: 0, frame: arpFrame('request', a.mac, a.ip, 0, a.gwIp) },
        { atMs: 1, frame: echoFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 1 }, IDENT, 1, data(56)) },
        { atMs: 1001, frame: echoFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 2 }, IDENT, 2, data(56)) },
      ];
    },
  },
  {
    name: 'routed-errors',
    inject: 'pod1/eth0',
    settleMs: 5000,
    setup: pod1Sockets,
    input(c) {
      const a = pod1(c);
      const pod2 = c.pod('pod2');
      const pod3 = c.pod('pod3').plan.ip;
      const badCk = echoFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 5 }, IDENT, 5, data(8));
      badCk.writeUInt16BE(badCk.readUInt16BE(24) ^ 0x5555, 24);
      return [
        { atMs: 0, frame: arpFrame('request', a.mac, a.ip, 0, a.gwIp) },
        { atMs: 1, frame: echoFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 1 }, IDENT, 1, data(8)) },
        { atMs: 2, frame: echoFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 2, ttl: 1 }, IDENT, 2, data(8)) },
        { atMs: 3, frame: udpFrame(a.gwMac, a.mac, { src: a.ip, dst: pod3, ident: 3 }, SPORT, 9000, Buffer.from('golden\n')) },
        { atMs: 4, frame: badCk },
        { atMs: 5, frame: echoFrame(a.gwMac, a.mac, { src: a.ip, dst: ip('10.244.9.9'), ident: 6 }, IDENT, 6, data(8)) },
        { atMs: 6, frame: echoFrame(pod2.plan.mac, a.mac, { src: a.ip, dst: pod2.plan.ip, ident: 7 }, IDENT, 7, data(8)) },
      ];
    },
  },
];

describe('golden: topology + input pcap -> per-interface pcaps + counters', () => {
  for (const gc of CASES) {
    it(gc.name, () => {
      const dir = join(HERE, gc.name);
      if (UPDATE !== undefined && (UPDATE === 'input' || !existsSync(join(dir, 'input.pcapng')))) writeInput(dir, gc);
      expect(existsSync(join(dir, 'input.pcapng')), `${gc.name}/input.pcapng missing: run with PODWIRE_GOLDEN_UPDATE=1`).toBe(true);
      const run = runGolden(dir, gc);
      // Same input, same output: the run is deterministic (virtual clock, seeded RNG).
      const again = runGolden(dir, gc);
      expect(diffCaptures(run.files, again.files), 'two runs differ').toEqual([]);
      if (UPDATE !== undefined) {
        writeExpected(dir, run);
        return;
      }
      const want = readExpected(dir);
      if (want === null) throw new Error(`${gc.name}: no expected output; run with PODWIRE_GOLDEN_UPDATE=1 and review it`);
      const problems = [...diffCaptures(want.files, run.files), ...diffCounters(want.counters, run.counters).map((l) => `counters ${l}`)];
      if (problems.length > 0) {
        throw new Error(`golden case ${gc.name} differs (PODWIRE_GOLDEN_UPDATE=1 regenerates, then review):\n  ${problems.join('\n  ')}`);
      }
      // Nothing leaks: every packet is back in the pool once the run settled.
      expect((run.counters['pool'] as { available: number; size: number }).available).toBe((run.counters['pool'] as { size: number }).size);
    });
  }
});
