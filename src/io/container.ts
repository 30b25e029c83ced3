/**
 * Containers as attach targets: the engine is asked for a container's state by its own
 * command line tool (`docker` or `podman` on PATH, with the environment podwire runs in:
 * DOCKER_HOST, DOCKER_CONTEXT, CONTAINER_HOST), which speaks the engine's API socket and
 * negotiates its version (a newer CLI talks to an older dockerd).
 *
 * `inspectContainer(ref, runtime)`: id, name, PID and whether it runs; every failure is a
 * ContainerError whose message names the container and says what to do (no such container,
 * not running, the tool missing, the engine not reachable, no permission to its socket).
 * `watchContainer(id, runtime, onStart)`: the container's `start` events (a restart gives it
 * a new PID and a new network namespace), from the engine's event stream on its socket, or
 * from a `docker|podman events` child; `close()` ends it.
 *
 * Control plane only; nothing here is on a packet path.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

export type ContainerRuntime = 'docker' | 'podman';
export const CONTAINER_RUNTIMES: readonly ContainerRuntime[] = ['docker', 'podman'];

export interface ContainerInfo {
  /** Full id. */
  id: string;
  /** Its name, without Docker's leading '/'. */
  name: string;
  /** PID of its first process (0 when not running). */
  pid: number;
  running: boolean;
  /** created, running, exited, paused, ... as the engine says. */
  status: string;
}

export type ContainerErrorKind = 'not-found' | 'not-running' | 'no-tool' | 'no-engine' | 'permission' | 'engine';

export class ContainerError extends Error {
  readonly code = 'ERR_PODWIRE_CONTAINER';
  constructor(readonly kind: ContainerErrorKind, readonly container: string, message: string) {
    super(message);
    this.name = 'ContainerError';
  }
}

/** Where the engine is, for messages: DOCKER_HOST / CONTAINER_HOST or the default socket. */
function engineAt(runtime: ContainerRuntime): string {
  if (runtime === 'docker') return process.env['DOCKER_HOST'] ?? (process.env['DOCKER_CONTEXT'] !== undefined ? `context ${process.env['DOCKER_CONTEXT']}` : 'unix:///var/run/docker.sock');
  return process.env['CONTAINER_HOST'] ?? 'podman\'s default socket';
}

const other = (r: ContainerRuntime): ContainerRuntime => (r === 'docker' ? 'podman' : 'docker');

/** The engine's answer about `ref` (a name or an id). */
export function inspectContainer(ref: string, runtime: ContainerRuntime = 'docker'): Promise<ContainerInfo> {
  const q = JSON.stringify(ref);
  return new Promise((resolve, reject) => {
    execFile(runtime, ['inspect', '--type', 'container', '--format', '{{.Id}} {{.Name}} {{.State.Pid}} {{.State.Running}} {{.State.Status}}', ref],
      { timeout: 15_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err === null) {
          const [id, name, pid, running, status] = stdout.trim().split(/\s+/);
          resolve({ id: id ?? '', name: (name ?? '').replace(/^\//, ''), pid: Number(pid), running: running === 'true', status: status ?? '' });
          return;
        }
        const msg = (stderr ?? '').trim().replace(/\s*\n\s*/g, '; '); // one line: the error is one line
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new ContainerError('no-tool', ref, `container ${q}: the ${runtime} command is not installed here (podwire asks the engine with \`${runtime} inspect\`); install it, or give --runtime ${other(runtime)} if the container runs under ${other(runtime)}`));
        } else if (/permission denied/i.test(msg)) {
          reject(new ContainerError('permission', ref, `container ${q}: no permission to the ${runtime} engine's socket (${engineAt(runtime)}): run podwire as root (attach needs it anyway) or as a member of the ${runtime} group; ${runtime} said: ${msg}`));
        } else if (/cannot connect|is the docker daemon running|connection refused|no such file or directory.*sock/i.test(msg)) {
          reject(new ContainerError('no-engine', ref, `container ${q}: the ${runtime} engine is not reachable at ${engineAt(runtime)}: start it, or point ${runtime === 'docker' ? 'DOCKER_HOST' : 'CONTAINER_HOST'} at its socket; ${runtime} said: ${msg}`));
        } else if (/no such (object|container)|no container with name or id/i.test(msg)) {
          reject(new ContainerError('not-found', ref, `container ${q}: no such container in ${runtime} (${engineAt(runtime)}); \`${runtime} ps -a\` lists them, and a container of ${other(runtime)} needs --runtime ${other(runtime)}`));
        } else {
          reject(new ContainerError('engine', ref, `container ${q}: \`${runtime} inspect\` failed: ${msg !== '' ? msg : err.message}`));
        }
      });
  });
}

/** A running container's info, or a ContainerError saying that it is not running and how to start it. */
export async function runningContainer(ref: string, runtime: ContainerRuntime = 'docker'): Promise<ContainerInfo> {
  const c = await inspectContainer(ref, runtime);
  if (!c.running || c.pid <= 0) {
    throw new ContainerError('not-running', ref, `container ${JSON.stringify(ref)} is not running (${runtime} says: ${c.status}): start it (\`${runtime} start ${ref}\`), then attach`);
  }
  return c;
}

export interface ContainerWatch {
  close(): void;
}

/** The Docker engine's unix socket when DOCKER_HOST names one (or is unset), else null (then the CLI is asked). */
function dockerSocket(): string | null {
  if (process.env['DOCKER_CONTEXT'] !== undefined) return null;
  const h = process.env['DOCKER_HOST'];
  if (h === undefined || h === '') return '/var/run/docker.sock';
  return h.startsWith('unix://') ? h.slice('unix://'.length) : null;
}

/**
 * Calls `onStart` for every `start` event of container `id` (a restart: new PID, new
 * network namespace). Docker through a unix socket: the engine's own event stream (`GET
 * /events`, filtered to this container's start events), so nothing outlives podwire;
 * otherwise (Podman, a TCP or context DOCKER_HOST) one `docker|podman events` child,
 * ended by close() through its PID. A lost stream is opened again after a second.
 */
export function watchContainer(id: string, runtime: ContainerRuntime, onStart: () => void): ContainerWatch {
  const sock = runtime === 'docker' ? dockerSocket() : null;
  let closed = false;
  let stop: () => void = () => undefined;
  let retry: NodeJS.Timeout | null = null;
  const again = (): void => {
    if (closed || retry !== null) return;
    retry = setTimeout(() => { retry = null; open(); }, 1000);
    retry.unref();
  };
  const lines = (input: NodeJS.ReadableStream, isStart: (l: string) => boolean): void => {
    // readline re-emits the stream's errors (a destroyed request: ECONNRESET): the stream's own handlers retry.
    createInterface({ input }).on('line', (l) => { if (!closed && isStart(l)) onStart(); }).on('error', () => undefined);
  };
  const open = (): void => {
    if (closed) return;
    if (sock !== null) {
      const filters = encodeURIComponent(JSON.stringify({ container: [id], event: ['start'], type: ['container'] }));
      const req = request({ socketPath: sock, path: `/events?filters=${filters}` }, (res) => {
        if (res.statusCode !== 200) { res.resume(); again(); return; }
        lines(res, (l) => { try { return (JSON.parse(l) as { status?: string; Action?: string }).Action === 'start'; } catch { return false; } });
        res.on('end', again);
        res.on('error', again);
      });
      req.on('error', again);
      req.end();
      stop = () => req.destroy();
      return;
    }
    const child: ChildProcess = spawn(runtime, ['events', '--filter', `container=${id}`, '--filter', 'event=start', '--format', '{{.Status}}'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => undefined);
    child.on('exit', again);
    lines(child.stdout!, (l) => l.trim() === 'start');
    stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); };
  };
  open();
  return {
    close() {
      closed = true;
      if (retry !== null) clearTimeout(retry);
      stop();
    },
  };
}
