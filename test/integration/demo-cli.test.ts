/**
 * The `podwire` command line, through `main(argv, io)` with a capturing io: `demo`, `trace`
 * and `validate`, their --help, exit codes (0 ok, 1 runtime error or invalid topology,
 * 2 usage error) and topology errors printed with their paths.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { afterAll, describe, expect, it } from 'vitest';
import { expectJourneyShape } from './cluster-util.js';

const tmp = mkdtempSync(join(tmpdir(), 'podwire-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = runCli;

const DEMO = 'examples/demo.yaml';
/** Three semantic errors (the schema accepts the shapes). */
const BAD = join(tmp, 'bad.yaml');
writeFileSync(BAD, `cluster: { overlay: vxlan, serviceCIDR: 10.244.0.0/16 }
nodes: [ { name: node1 }, { name: node1 } ]
pods:
  - { name: pod1, node: node9 }
`);
/** A schema error: not a CIDR. */
const BAD_SCHEMA = join(tmp, 'bad-schema.yaml');
writeFileSync(BAD_SCHEMA, 'cluster: { podCIDR: 10.244.0.0/33 }\nnodes: [ { name: node1 } ]\n');

describe('podwire (no command, help, unknown command)', () => {
  it('prints usage and exits 2 without a command; 0 with --help', async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.out).toContain('usage: podwire <command>');
    for (const c of ['demo', 'trace', 'validate']) expect(none.out).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
    expect((await run('--help')).code).toBe(0);
  });

  it('rejects an unknown command with exit 2, naming it', async () => {
    const r = await run('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "frobnicate"');
  });
});

describe('podwire demo', () => {
  it('--help explains the command and exits 0', async () => {
    const r = await run('demo', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: podwire demo/);
    expect(r.out).toContain('--out DIR');
  });

  it('an unknown flag or an extra argument is a usage error (2) that names it', async () => {
    const a = await run('demo', '--bogus');
    expect(a.code).toBe(2);
    expect(a.err).toContain('--bogus');
    expect(a.err).toContain('usage: podwire demo');
    const b = await run('demo', 'extra');
    expect([b.code, b.err.includes('"extra"')]).toEqual([2, true]);
  });

  it('prints the journeys hop by hop and the capture files, exit 0', async () => {
    const dir = join(tmp, 'demo-text');
    const r = await run('demo', '--out', dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Journey 1: pod to pod on one node \(pod1 -> pod2, 10\.244\.1\.3\)/);
    expect(r.out).toMatch(/Journey 2: pod to pod across nodes \(pod1 -> pod3, 10\.244\.2\.2\)/);
    expect(r.out).toContain('  reply:');
    expect(r.out).not.toContain('\x1b['); // no colour when not a TTY
    const files = [...r.out.matchAll(/^ {2}(\S+\.pcapng) {2}(\d+) packets$/gm)];
    expect(files.length).toBeGreaterThan(5);
    for (const [, f] of files) expect(existsSync(f!), f).toBe(true);
  });

  it('--json prints { journeys: [ { name, request, reply, reset } ], captures }', async () => {
    const r = await run('demo', '--json', '--out', join(tmp, 'demo-json'));
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { journeys: Record<string, unknown>[]; captures: Record<string, unknown>[] };
    expect(Object.keys(j).sort()).toEqual(['captures', 'journeys']);
    expect(j.journeys.length).toBeGreaterThanOrEqual(2);
    for (const x of j.journeys) {
      expect(Object.keys(x).sort()).toEqual(['name', 'reply', 'request', 'reset']);
      expect(typeof x['name']).toBe('string');
      expectJourneyShape(x['request']);
      expectJourneyShape(x['reply']);
      // The TCP journey's SYN-ACK is answered with a RST that closes the half-open connection.
      if (x['name'] === 'pod to service') {
        const reset = x['reset'];
        expectJourneyShape(reset);
        expect(reset.hops.at(-1)?.action).toBe('tcp-closed');
      } else expect(x['reset']).toBeNull();
    }
    expect(j.journeys.map((x) => x['name'])).toContain('pod to service');
    for (const c of j.captures) expect(Object.keys(c).sort()).toEqual(['file', 'interface', 'packets']);
  });

  it('an invalid --topology exits 1 with every error and its path', async () => {
    const r = await run('demo', '--topology', BAD_SCHEMA, '--out', join(tmp, 'demo-bad'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('invalid topology');
    expect(r.err).toMatch(/bad-schema\.yaml:1:\d+: cluster\.podCIDR: "10\.244\.0\.0\/33" is not a CIDR/);
  });
});

describe('podwire trace', () => {
  it('--help exits 0', async () => {
    const r = await run('trace', '--help');
    expect([r.code, r.out.startsWith('usage: podwire trace')]).toEqual([0, true]);
  });

  it('traces pod1 -> pod3 in words, exit 0', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'pod3');
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toBe('pod1 -> pod3 (10.244.2.2), ICMP echo');
    expect(r.out).toContain("It arrives on pod3's eth0");
    expect(r.out).toMatch(/^reply:$/m);
  });

  it('--json prints { request, reply, reset } with the documented hop shape', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', '10.244.1.3', '--proto', 'udp', '--port', '9000', '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['reply', 'replyKind', 'request', 'reset']);
    expectJourneyShape(j['request']);
    expectJourneyShape(j['reply']);
    expect(j['reset']).toBeNull();
  });

  it('exits 1 when the packet is not delivered (a closed port)', async () => {
    const r = await run('trace', DEMO, '--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '9999');
    expect(r.code).toBe(1);
    expect(r.out).toContain('dropped (no-socket)');
  });

  it.each([
    [['--to', 'pod3'], /--from POD is required/],
    [['--from', 'pod1'], /--to .* is required/],
    [['--from', 'pod1', '--to', 'pod3', '--proto', 'sctp'], /--proto "sctp" must be icmp, udp or tcp/],
    [['--from', 'pod1', '--to', 'pod3', '--proto', 'udp', '--port', '70000'], /--port "70000" must be an integer from 1 to 65535/],
    [['--from', 'pod1', '--to', 'pod3', '--colour'], /--colour/],
  ])('usage error (exit 2): %j', async (args, msg) => {
    const r = await run('trace', DEMO, ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });

  it('a missing topology argument is a usage error', async () => {
    const r = await run('trace', '--from', 'pod1', '--to', 'pod3');
    expect([r.code, r.err.includes('missing TOPOLOGY')]).toEqual([2, true]);
  });

  it('runtime errors exit 1 and name the bad field: unknown pod, unknown target, missing file', async () => {
    const a = await run('trace', DEMO, '--from', 'nosuch', '--to', 'pod3');
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/from: "nosuch" is not a pod/);
    const b = await run('trace', DEMO, '--from', 'pod1', '--to', 'nowhere');
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/to: "nowhere" is not a pod, a service, a node or an IPv4 address \(have pods pod1, pod2, pod3, .*; services service1, .*; nodes node1, node2\)/);
    const c = await run('trace', join(tmp, 'missing.yaml'), '--from', 'pod1', '--to', 'pod3');
    expect(c.code).toBe(1);
    expect(c.err).toContain('missing.yaml');
  });

  it('an invalid topology exits 1 with every error and its path', async () => {
    const r = await run('trace', BAD, '--from', 'pod1', '--to', 'pod3');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:1:\d+: cluster\.serviceCIDR: .* overlaps cluster\.podCIDR/);
    expect(r.err).toMatch(/bad\.yaml:2:\d+: nodes\[1\]\.name: "node1" is a duplicate/);
    expect(r.err).toMatch(/bad\.yaml:4:\d+: pods\[0\]\.node: "node9" is not a node/);
  });
});

describe('podwire validate', () => {
  it('--help exits 0', async () => {
    expect((await run('validate', '--help')).code).toBe(0);
  });

  it.each([DEMO, 'examples/three-nodes-routed.yaml'])('%s is valid (exit 0)', async (file) => {
    const r = await run('validate', file);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^${file}: valid \\(\\d+ nodes?, \\d+ pods?, \\d+ services?\\); list what it allocates: podwire inspect ${file}$`));
  });

  it('prints every error of an invalid file with its path, exit 1', async () => {
    const r = await run('validate', BAD);
    expect(r.code).toBe(1);
    const lines = r.err.split('\n').filter((l) => l.startsWith(`${BAD}:`));
    expect(lines).toEqual([
      expect.stringMatching(/^\S+bad\.yaml:1:\d+: cluster\.serviceCIDR: "10\.244\.0\.0\/16" overlaps cluster\.podCIDR/),
      expect.stringMatching(/^\S+bad\.yaml:2:\d+: nodes\[1\]\.name: "node1" is a duplicate of nodes\[0\]$/),
      expect.stringMatching(/^\S+bad\.yaml:4:\d+: pods\[0\]\.node: "node9" is not a node$/),
    ]);
    expect(r.err).toMatch(/^3 errors$/m);
    const s = await run('validate', BAD_SCHEMA);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/^\S+bad-schema\.yaml:1:\d+: cluster\.podCIDR: "10\.244\.0\.0\/33" is not a CIDR$/m);
  });

  it('--json prints { ok: false, errors: [{ path, message, ... }] }', async () => {
    const r = await run('validate', BAD, '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as { ok: boolean; errors: { path: string; message: string }[] };
    expect(j.ok).toBe(false);
    expect(j.errors.length).toBeGreaterThanOrEqual(3);
    for (const e of j.errors) expect([typeof e.path, typeof e.message]).toEqual(['string', 'string']);
    const ok = JSON.parse((await run('validate', DEMO, '--json')).out) as { ok: boolean };
    expect(ok.ok).toBe(true);
  });

  it('a missing file exits 1 naming it; a missing argument exits 2', async () => {
    const a = await run('validate', join(tmp, 'nope.yaml'));
    expect(a.code).toBe(1);
    expect(a.err).toContain('nope.yaml');
    const b = await run('validate');
    expect([b.code, b.err.includes('missing TOPOLOGY')]).toEqual([2, true]);
  });
});
