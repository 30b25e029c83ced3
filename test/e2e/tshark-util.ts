/**
 * Helpers for tests that let tshark (the real Wireshark dissectors) decode our captures.
 *
 * `tsharkFields(file, fields)` runs `tshark -r FILE -T fields -e f1 -e f2 ...` and returns
 * one row per packet, one string per field ('' when the field is absent). A field that
 * occurs several times in a packet (inner and outer `ip.src` of a VXLAN frame) comes back
 * joined with ',' (tshark's default aggregator), e.g. '10.0.0.1,10.244.1.2'.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SEP = '\u0001';

export function tsharkFields(file: string, fields: readonly string[], extraArgs: readonly string[] = []): string[][] {
  const args = ['-n', '-r', file, '-T', 'fields', '-E', `separator=${SEP}`, '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  for (const f of fields) args.push('-e', f);
  args.push(...extraArgs);
  let out: string;
  try {
    out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`tshark ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
  const lines = out.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.split(SEP));
}

/** Rows as objects keyed by field name. */
export function tsharkRecords(file: string, fields: readonly string[], extraArgs: readonly string[] = []): Array<Record<string, string>> {
  return tsharkFields(file, fields, extraArgs).map((row) => Object.fromEntries(fields.map((f, i) => [f, row[i] ?? ''])));
}

/** `tshark --version` first line, e.g. "TShark (Wireshark) 4.0.17 ...". */
export function tsharkVersion(): string {
  return execFileSync('tshark', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
}

/** A fresh temp directory and a function that removes it (call it in afterAll). */
export function tempDir(prefix = 'podwire-tshark-'): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
