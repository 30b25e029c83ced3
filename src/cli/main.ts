/**
 * The `podwire` command. Thin: every command parses its flags and calls the control
 * façade (src/control); no dataplane logic here. Exit codes: 0 ok, 1 runtime error,
 * 2 usage error.
 */
import { UsageError, processIo, wantsJson, type Io } from './args.js';
import { COMMANDS, type Command } from './commands.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'podwire: a userspace Kubernetes network emulator, byte for byte',
    '',
    'usage: podwire <command> [options]   (podwire <command> --help for details)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** An error as `--json` prints it: the message (without the `podwire CMD: ` prefix) and what the API named (field, value, HTTP status). */
function jsonError(name: string, e: unknown): Record<string, unknown> {
  const msg = e instanceof Error ? e.message : String(e);
  const out: Record<string, unknown> = { error: msg.startsWith(`podwire ${name}: `) ? msg.slice(`podwire ${name}: `.length) : msg };
  if (e instanceof UsageError) out['usage'] = true;
  else if (e !== null && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    const body = (o['body'] !== null && typeof o['body'] === 'object' ? o['body'] : {}) as Record<string, unknown>; // a RemoteError: the API's answer
    for (const k of ['field', 'value'] as const) if (body[k] !== undefined && body[k] !== null) out[k] = body[k];
    // A local trace's input error (TraceInputError): the same field as the API names (`/to`).
    if (out['field'] === undefined && typeof o['field'] === 'string') {
      out['field'] = o['field'].startsWith('/') ? o['field'] : `/${o['field']}`;
      if (o['value'] !== undefined) out['value'] = o['value'];
    }
    if (typeof o['status'] === 'number') out['status'] = o['status'];
  }
  return out;
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === 'version') {
    io.out('podwire 0.1.0');
    return EXIT_OK;
  }
  const cmd: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    io.err(`podwire: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(cmd.help);
    return EXIT_OK;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (wantsJson(rest)) {
      // --json: the error is JSON too, on stderr: { error, usage? , field?, value?, status? }.
      io.err(JSON.stringify(jsonError(name, e)));
      return e instanceof UsageError ? EXIT_USAGE : EXIT_ERROR;
    }
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${cmd.help}`);
      return EXIT_USAGE;
    }
    io.err(`podwire ${name}: ${(e as Error).message}`);
    if (process.env['PODWIRE_DEBUG'] !== undefined) io.err(String((e as Error).stack));
    return EXIT_ERROR;
  }
}
