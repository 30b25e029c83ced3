/**
 * Small helpers shared by the CLI commands: parsing with node:util's parseArgs (strict, so
 * an unknown flag is a usage error naming the flag), usage errors (exit 2), colour only on
 * a TTY, and a quiet exit when the reader of stdout or stderr goes away.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { tryParsePort } from '../control/local.js';

export class UsageError extends Error {}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

/** A CLI command: name, one-line summary, --help text, and the runner (exit code). */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[], io: Io): Promise<number>;
}

/**
 * 128 + SIGPIPE (13): the status a shell reports for a Unix tool whose reader went away
 * (`yes | head -1`). Node ignores SIGPIPE, so a write to a closed pipe fails with EPIPE
 * instead; podwire then exits quietly with this status, as if SIGPIPE had ended it.
 */
export const EXIT_CLOSED_PIPE = 141;

let closedPipeWatched = false;
let closedPipeSeen = false;
let onClosedPipe: (() => void) | null = null;

/**
 * Once per process: EPIPE on stdout or stderr ends the process quietly with
 * EXIT_CLOSED_PIPE, or, while a long-running command (`podwire up`) has registered
 * `whenPipeCloses`, calls that instead (once) so it can tear down cleanly; later EPIPEs
 * are then ignored.
 */
export function exitOnClosedPipe(): void {
  if (closedPipeWatched) return;
  closedPipeWatched = true;
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
      // Nothing is written about it: the other stream may be closed too, and `| head` wants silence.
      const first = !closedPipeSeen;
      closedPipeSeen = true;
      if (onClosedPipe === null) process.exit(EXIT_CLOSED_PIPE);
      if (first) onClosedPipe();
    });
  }
}

/** `fn` runs (once) instead of the exit when the reader of stdout or stderr goes away; null restores the exit. */
export function whenPipeCloses(fn: (() => void) | null): void {
  onClosedPipe = fn;
}

/** The process's stdout and stderr (a closed pipe on either exits quietly, exitOnClosedPipe). */
export const processIo = (): Io => {
  exitOnClosedPipe();
  return {
    out: (s) => { process.stdout.write(s.endsWith('\n') ? s : `${s}\n`); },
    err: (s) => { process.stderr.write(s.endsWith('\n') ? s : `${s}\n`); },
    isTTY: process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined,
  };
};

/**
 * Parses `argv` strictly. A flag given twice is a usage error naming it and both values
 * (parseArgs would keep the last one silently: `--port 80 --port 81` traced port 81),
 * unless its option says `multiple`.
 */
export function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>, command: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError(`podwire ${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const first = new Map<string, string | undefined>();
  for (const t of r.tokens as readonly { kind: string; name?: string; rawName?: string; value?: string }[]) {
    if (t.kind !== 'option' || t.name === undefined || options[t.name]?.multiple === true) continue;
    if (!first.has(t.name)) { first.set(t.name, t.value); continue; }
    const was = first.get(t.name);
    const both = was !== undefined && t.value !== undefined ? ` (${JSON.stringify(was)} and ${JSON.stringify(t.value)})` : '';
    throw new UsageError(`podwire ${command}: ${t.rawName ?? `--${t.name}`} is given more than once${both}: give it once`);
  }
  return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
}

/** True when `argv` asks for JSON output (`--json` before any `--`): errors are then printed as JSON too. */
export function wantsJson(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--json') return true;
  }
  return false;
}

/** An integer flag in decimal digits (Number() would take "0x50", "1e3", " 8"), from `min` to `max`. */
export function intFlag(v: string | boolean | undefined, flag: string, command: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : NaN;
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`podwire ${command}: --${flag} ${JSON.stringify(v)} must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** A port flag (--port, --sport): tryParsePort's decimal 0-65535, the parser of the API's query and the topology too. */
export function portFlag(v: string | boolean | undefined, flag: string, command: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' ? tryParsePort(v) : null;
  if (n === null || n < min) throw new UsageError(`podwire ${command}: --${flag} ${JSON.stringify(v)} must be an integer from ${min} to 65535 (a port, in decimal digits)`);
  return n;
}

/** `n` and the noun in English: "1 service", "2 services" (`many` for irregular plurals). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function colour(io: Io): { bold: (s: string) => string; green: (s: string) => string; red: (s: string) => string; dim: (s: string) => string } {
  const wrap = (code: number) => (s: string) => (io.isTTY ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap(1), green: wrap(32), red: wrap(31), dim: wrap(2) };
}
