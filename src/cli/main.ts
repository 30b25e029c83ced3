/**
 * The `podwire` command. Thin: every command parses its flags and calls the control
 * façade (src/control); no dataplane logic here. Exit codes: 0 ok, 1 runtime error,
 * 2 usage error.
 */
import { UsageError, processIo, type Io } from './args.js';
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
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${cmd.help}`);
      return EXIT_USAGE;
    }
    io.err(`podwire ${name}: ${(e as Error).message}`);
    if (process.env['PODWIRE_DEBUG'] !== undefined) io.err(String((e as Error).stack));
    return EXIT_ERROR;
  }
}
