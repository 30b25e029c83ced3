/**
 * `podwire up`: builds a cluster, serves the REST API, runs until SIGINT/SIGTERM (or until
 * the reader of its output goes away: exit 141 after the teardown), then tears down
 * cleanly (captures flushed and closed, attached TAPs removed, sockets closed).
 */
import { parseListen } from '../api/auth.js';
import { ApiConfigError } from '../api/server.js';
import { up } from '../api/up.js';
import { colour, EXIT_CLOSED_PIPE, parse, plural, UsageError, whenPipeCloses, type Command } from './args.js';
import { progress } from './client.js';

export const DEFAULT_LISTEN = '127.0.0.1:7070';

/**
 * Resolves with the name of the first SIGINT or SIGTERM, or 'SIGPIPE' when the reader of
 * stdout or stderr went away (`podwire up | head -1`); a second signal exits at once.
 */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    whenPipeCloses(() => { if (!seen) { seen = true; resolve('SIGPIPE'); } });
    const on = (sig: NodeJS.Signals): void => {
      if (seen) {
        process.stderr.write(`podwire: ${sig} again: exiting without cleaning up\n`);
        process.exit(130);
      }
      seen = true;
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export const upCommand: Command = {
  name: 'up',
  summary: 'run a cluster in wall-clock time and serve the REST API until Ctrl-C',
  help: `usage: podwire up TOPOLOGY [--listen HOST:PORT] [--host NODE] [--token T] [--captures DIR] [--log]

Builds the cluster in TOPOLOGY (a podwire topology file or Kubernetes manifests:
docs/manifests.md), attaches the pods that have attach: (TAP devices into
real namespaces; needs root), and serves the REST API under /api/v1 (OpenAPI document at
/api/v1/openapi.json) until SIGINT or SIGTERM. Then it stops every capture (files flushed
and closed), removes the attached TAPs, closes its sockets and exits 0.

The first line on stdout names the API's URL (with the real port when --listen ends in :0).

options:
  --listen HOST:PORT  where the API listens (default ${DEFAULT_LISTEN}; [::1]:PORT for IPv6).
                      Only loopback (127.0.0.0/8, ::1) is served without a token.
  --token T           bearer token every request must carry (default: $PODWIRE_TOKEN);
                      required for any non-loopback address
  --host NODE         emulate only NODE of a multi-host topology (the other nodes are
                      peers reached over VXLAN at their vtep.bind addresses)
  --captures DIR      folder for capture files (default captures/)
  --log               log every request (fastify/pino JSON lines on stdout)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      listen: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' }, captures: { type: 'string' }, log: { type: 'boolean' },
    }, 'up');
    const [file, extra] = positionals;
    if (file === undefined) throw new UsageError('podwire up: missing TOPOLOGY');
    if (extra !== undefined) throw new UsageError(`podwire up: unexpected argument ${JSON.stringify(extra)}`);
    let listen: { host: string; port: number };
    try {
      listen = parseListen(typeof values['listen'] === 'string' ? values['listen'] : DEFAULT_LISTEN);
    } catch (e) {
      throw new UsageError(`podwire up: ${(e as Error).message}`);
    }
    const token = typeof values['token'] === 'string' ? values['token'] : (process.env['PODWIRE_TOKEN'] ?? null);
    const bar = progress();
    const c = colour(io);
    let inst;
    try {
      inst = await up({
        topology: file, listen, token: token === '' ? null : token,
        ...(typeof values['host'] === 'string' ? { hostNode: values['host'] } : {}),
        ...(typeof values['captures'] === 'string' ? { capturesDir: values['captures'] } : {}),
        logger: values['log'] === true,
        progress: (m) => bar.update(`podwire up: ${m} ...`),
      });
    } catch (e) {
      if (e instanceof ApiConfigError) throw new UsageError(`podwire up: ${e.message}`);
      throw e;
    } finally {
      bar.done();
    }
    const cl = inst.cluster;
    io.out(`podwire: API listening on ${inst.api.url}`);
    io.out(c.green(`podwire: cluster ${JSON.stringify(cl.plan.cluster.name)} up: ${cl.nodes.size} node${cl.nodes.size === 1 ? '' : 's'}, `
      + `${cl.pods.size} emulated pod${cl.pods.size === 1 ? '' : 's'}, ${cl.attached.size} attached, ${plural(cl.plan.services.length, 'service')}`));
    if (token === null) io.out(c.dim('podwire: no token: only clients on this host can connect'));
    io.out(c.dim('podwire: Ctrl-C to stop'));
    const sig = await waitForSignal();
    io.err(sig === 'SIGPIPE' ? 'podwire: output closed: shutting down' : `podwire: ${sig}: shutting down`);
    const r = await inst.close();
    for (const e of r.errors) io.err(`podwire: teardown: ${e}`);
    io.err('podwire: stopped');
    if (sig === 'SIGPIPE') return EXIT_CLOSED_PIPE; // torn down cleanly, then the status of a closed pipe
    return r.errors.length === 0 ? 0 : 1;
  },
};
