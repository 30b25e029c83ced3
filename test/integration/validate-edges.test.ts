/**
 * `podwire validate` on hostile files: 50,000 unknown keys (error collection was
 * quadratic: yaml's duplicate-key check and the line lookup of each error scanned every
 * earlier key; 65 s before), a file over the 8 MiB cap (refused naming the file and its
 * size, without reading it all), numbers a JS number cannot hold (.inf, 1e400, 400
 * digits: reported as `null must be an integer` before), duplicate keys still caught,
 * and vtep.bind addresses `podwire up` would refuse (port 99999, a host name).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { MAX_INPUT_BYTES, parseTopology } from '../../src/kube/topology.js';

const tmp = mkdtempSync(join(tmpdir(), 'podwire-validate-edges-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function validate(file: string): Promise<{ code: number; out: string; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false };
  const code = await main(['validate', file], io);
  return { code, out: out.join('\n'), err };
}

describe('many errors', () => {
  it('50,000 unknown keys: every one reported with its line, in one pass', async () => {
    const n = 50_000;
    const lines = ['nodes: [ { name: node1 } ]'];
    for (let i = 0; i < n; i++) lines.push(`k${i}: 1`);
    const file = join(tmp, 'keys.yaml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await validate(file);
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(n + 1);
    expect(r.err[0]).toBe(`${file}:2:5: unknown field "k0"`);
    expect(r.err[n - 1]).toBe(`${file}:${n + 1}:9: unknown field "k${n - 1}"`);
    expect(r.err[n]).toBe(`${n} errors`);
  });

  it('duplicate keys are still YAML errors with their place (found without yaml\'s quadratic check)', () => {
    const r = parseTopology('nodes: [ { name: node1 } ]\nnodes: []\ncluster: { mtu: 1500, mtu: 9000 }\nx: { 1: a, "1": b }\n', 'dup.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => `${e.line}:${e.column}: ${e.message}`)).toEqual([
      '2:1: YAML syntax error at line 2, column 1: Map keys must be unique',
      '3:23: YAML syntax error at line 3, column 23: Map keys must be unique',
    ]);
  });
});

describe('the size cap', () => {
  it('a file over 8 MiB is refused naming the file and the cap', async () => {
    const file = join(tmp, 'big.yaml');
    writeFileSync(file, `nodes: [ { name: node1 } ]\n${'# padding\n'.repeat(MAX_INPUT_BYTES / 10 + 1)}`);
    const r = await validate(file);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(`${file}: ${JSON.stringify(file)} is more than 8.0 MiB (8388608 bytes); podwire reads topologies of at most 8 MiB (8388608 bytes)`);
    expect(MAX_INPUT_BYTES).toBe(8 * 1024 * 1024);
  });

  it('a file of exactly the cap is read', async () => {
    const file = join(tmp, 'cap.yaml');
    const head = 'nodes: [ { name: node1 } ]\n';
    writeFileSync(file, head + '#'.repeat(MAX_INPUT_BYTES - head.length - 1) + '\n');
    const r = await validate(file);
    expect(r.code, r.err.join('\n')).toBe(0);
  });

  it('YAML text over the cap is refused with its size', () => {
    const r = parseTopology(`nodes: []\n#${'é'.repeat(MAX_INPUT_BYTES / 2)}`, 'text.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.message).toMatch(/^"text\.yaml" is 8\.0 MiB \(8388619 bytes\); podwire reads topologies of at most 8 MiB/);
  });
});

describe('numbers JS cannot hold', () => {
  it('.inf, 1e400, 400-digit integers and 2^64 are errors naming the field and the text as written', () => {
    const digits = '9'.repeat(400);
    const r = parseTopology(`nodes: [ { name: node1 } ]\ncluster: { mtu: .inf, seed: 1e400, dnsReplicas: ${digits}, vxlan: { vni: 18446744073709551616, port: -.INF }, conntrack: { max: .nan } }\n`, 't.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.path, e.value, e.message])).toEqual([
      ['cluster.mtu', '.inf', '.inf is not a finite number'],
      ['cluster.seed', '1e400', '1e400 is not a finite number'],
      ['cluster.dnsReplicas', digits, `${'9'.repeat(20)}...(400 digits) is not a finite number`],
      ['cluster.vxlan.vni', '18446744073709551616', '18446744073709551616 is beyond the largest integer podwire reads exactly (2^53 - 1)'],
      ['cluster.vxlan.port', '-.INF', '-.INF is not a finite number'],
      ['cluster.conntrack.max', '.nan', '.nan is not a finite number'],
    ]);
    expect(r.errors[0]).toMatchObject({ line: 2, column: 17 });
    for (const e of r.errors) expect(e.message).not.toContain('null');
  });

  it('the same in a JSON topology, and 2^53 - 1 is still an ordinary number', () => {
    const r = parseTopology('{"nodes": [{"name": "node1"}], "cluster": {"seed": 1e400, "mtu": 9007199254740991}}', 't.json');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['cluster.seed: 1e400 is not a finite number']);
  });
});

describe('vtep.bind as podwire up reads it', () => {
  it('a port outside 1-65535 or a host name is an error naming the field; IPv4:port passes', () => {
    const r = parseTopology([
      'nodes:',
      '  - { name: node1, vtep: { bind: "127.0.0.1:99999" } }',
      '  - { name: node2, vtep: { bind: "myhost:8472" } }',
      '  - { name: node4, vtep: { bind: "127.0.0.1:8472" } }',
      '',
    ].join('\n'), 'bind.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => `${e.line}: ${e.path}: ${e.message}`)).toEqual([
      '2: nodes[0].vtep.bind: "127.0.0.1:99999": port 99999 is not a port (1-65535)',
      '3: nodes[1].vtep.bind: "myhost:8472": "myhost" is not an IPv4 address (the VXLAN socket binds an address)',
    ]);
    expect(parseTopology('nodes: [ { name: node1, vtep: { bind: "127.0.0.1:65535" } } ]\n').ok).toBe(true);
  });
});

describe('cluster.dns.upstream', () => {
  it('IPv4:port passes; a port out of range, a host name or a bare address names the field and value', () => {
    expect(parseTopology('cluster: { dns: { upstream: "127.0.0.1:5353" } }\nnodes: [ { name: node1 } ]\n').ok).toBe(true);
    for (const [v, msg] of [
      ['127.0.0.1:99999', '"127.0.0.1:99999" is not "IPv4:port" (port 1-65535): the DNS server forwards to an address, not a name'],
      ['300.0.0.1:53', '"300.0.0.1:53" is not "IPv4:port" (port 1-65535): the DNS server forwards to an address, not a name'],
    ] as const) {
      const r = parseTopology(`cluster: { dns: { upstream: "${v}" } }\nnodes: [ { name: node1 } ]\n`);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([`cluster.dns.upstream: ${msg}`]);
    }
    for (const v of ['dns.google:53', '8.8.8.8']) {
      const r = parseTopology(`cluster: { dns: { upstream: "${v}" } }\nnodes: [ { name: node1 } ]\n`);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors[0]!.path).toBe('cluster.dns.upstream');
    }
  });
});
