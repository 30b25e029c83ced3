/**
 * `podwire scenario` through `main(argv, io)`: list (text and --json), run with its text and
 * JSON output and the pcapng it writes, the exit codes, and usage errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, PCAPNG_SHB, pcapngBlocks } from './helpers.js';

const NAMES = [
  'dns-conntrack-race', 'stale-udp-conntrack', 'vxlan-mtu-blackhole', 'hairpin', 'bad-vxlan-checksum', 'conntrack-table-full', 'conntrack-invalid-reset',
  'neighbor-table-overflow', 'snat-race',
];
const out = mkdtempSync(join(tmpdir(), 'pw-scenarios-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('podwire scenario', () => {
  it('list --json: [{ name, summary }] of every scenario; list: one line each', async () => {
    const j = await runCli('scenario', 'list', '--json');
    expect(j.code).toBe(0);
    const list = JSON.parse(j.out) as { name: string; summary: string }[];
    expect(list.map((s) => s.name)).toEqual(NAMES);
    for (const s of list) expect(Object.keys(s).sort()).toEqual(['name', 'summary']);
    const t = await runCli('scenario', 'list');
    expect(t.code).toBe(0);
    expect(t.out.split('\n')).toHaveLength(NAMES.length);
    expect(t.out).toMatch(/^dns-conntrack-race {2,}A and AAAA/m);
  });

  it('run NAME: the symptom, the drop hop and reason, the capture; exit 0 when the failure shows as expected', async () => {
    const r = await runCli('scenario', 'run', 'hairpin', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/symptom: curl .* Connection timed out/);
    expect(r.out).toMatch(/dropped at node1\/cbr0 port veth0: br_forward: should_deliver\(\) refuses the ingress port/);
    expect(r.out).toMatch(/drop node1\/cbr0 hairpin-off: \d+/);
    expect(r.out).toMatch(/remedy \(--fix\): kubelet --hairpin-mode=hairpin-veth/);
    expect(r.out).toMatch(/^FAIL: /m);
    const file = join(out, 'hairpin.pcapng');
    expect(r.out).toContain('hairpin.pcapng');
    const blocks = pcapngBlocks(readFileSync(file));
    expect(blocks[0]).toBe(PCAPNG_SHB);
    expect(blocks.length).toBeGreaterThan(10);
  });

  it('run NAME --fix --json: the whole result; the symptom is gone', async () => {
    const r = await runCli('scenario', 'run', 'hairpin', '--fix', '--json', '--seed', '7', '--out', out);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(j).toMatchObject({ name: 'hairpin', fix: true, seed: 7, failed: false, hop: null, pcapng: join(out, 'hairpin-fixed.pcapng') });
    expect(j['verdict']).toMatch(/^OK: /);
    expect(Array.isArray(j['issues'])).toBe(true);
  });

  it('without --out the pcapng goes to a temporary folder it names', async () => {
    const r = await runCli('scenario', 'run', 'stale-udp-conntrack', '--json');
    expect(r.code).toBe(0);
    const file = (JSON.parse(r.out) as { pcapng: string }).pcapng;
    expect(file.startsWith(tmpdir())).toBe(true);
    expect(pcapngBlocks(readFileSync(file))[0]).toBe(PCAPNG_SHB);
    rmSync(join(file, '..'), { recursive: true, force: true });
  });

  it('usage errors exit 2 and name the problem', async () => {
    for (const [argv, msg] of [
      [['scenario'], /missing subcommand \(list or run\)/],
      [['scenario', 'frobnicate'], /unknown subcommand "frobnicate"/],
      [['scenario', 'run'], /missing NAME \(one of dns-conntrack-race, /],
      [['scenario', 'run', 'nope'], /unknown scenario "nope" \(have dns-conntrack-race, /],
      [['scenario', 'run', 'hairpin', 'extra'], /unexpected argument "extra"/],
      [['scenario', 'run', 'hairpin', '--seed', 'x1'], /--seed "x1" must be an integer from 0 to 4294967295/],
      [['scenario', 'run', 'hairpin', '--bogus'], /bogus/],
      [['scenario', 'list', 'x'], /unexpected argument "x"/],
    ] as const) {
      const r = await runCli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(msg);
    }
  });
});
