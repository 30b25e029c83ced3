/**
 * The Docker end-to-end tests' one private engine: `sharedDockerd()` starts a dockerd of our
 * own the first time any docker test file asks in this vitest run, and every other file
 * reuses it: `--bridge=none --iptables=false --ip-masq=false`, its data root, exec root,
 * PID file and socket under the run's directory (test/e2e/docker-global.ts picks it:
 * `/tmp/pwdk<pid>`, short because a unix socket path is limited to 107 bytes). The system's
 * dockerd (if any) is never touched. It waits for the socket to answer `GET /_ping` (polled,
 * a signal, no fixed sleep), then builds the image `pw-busybox` locally: the static busybox
 * of busybox-static copied into a rootfs, `tar -C rootfs -c . | docker import - pw-busybox`
 * (no registry is reachable and nothing is pulled). docker-global.ts's teardown stops the
 * dockerd by its PID and removes the directory; each file removes its own containers.
 *
 * The `docker` CLI is whatever is first on PATH (Debian's 20.10 one, or a newer one: it
 * negotiates the API version with dockerd 20.10), always given `-H unix://…/docker.sock`;
 * podwire itself finds the engine the same way, through `docker` and DOCKER_HOST.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { inject } from 'vitest';

const runP = promisify(execFile);

export interface Dockerd {
  /** unix:///tmp/pwdk…/d/docker.sock */
  readonly host: string;
  readonly dir: string;
  /** The environment for tools that find the engine by DOCKER_HOST (podwire, docker-compose). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `docker -H HOST args...`; resolves with stdout. */
  docker(...args: string[]): Promise<string>;
}

/** Busybox applets the tests use, as symlinks in the image's /bin. */
const APPLETS = ['sh', 'ping', 'nslookup', 'wget', 'httpd', 'sleep', 'ip', 'cat', 'echo', 'ls', 'hostname', 'nc', 'mkdir', 'true', 'ifconfig', 'route', 'dd', 'wc', 'md5sum', 'head', 'timeout', 'tr', 'chmod', 'printf'];

function ping(sock: string): Promise<boolean> {
  return new Promise((res) => {
    const r = request({ socketPath: sock, path: '/_ping', timeout: 2000 }, (m) => {
      let body = '';
      m.on('data', (d: Buffer) => { body += d.toString(); });
      m.on('end', () => res(m.statusCode === 200 && body === 'OK'));
    });
    r.on('error', () => res(false));
    r.on('timeout', () => { r.destroy(); res(false); });
    r.end();
  });
}

async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function make(dir: string): Dockerd {
  const host = `unix://${dir}/d/docker.sock`;
  return {
    host, dir, env: { ...process.env, DOCKER_HOST: host },
    docker: async (...args: string[]) => {
      try {
        return (await runP('docker', ['-H', host, ...args], { maxBuffer: 16 << 20 })).stdout;
      } catch (e) {
        const x = e as { stdout?: string; stderr?: string; message: string };
        throw new Error(`docker ${args.join(' ')}: ${x.message.split('\n')[0]}\nstdout: ${x.stdout ?? ''}\nstderr: ${x.stderr ?? ''}`);
      }
    },
  };
}

async function start(dir: string): Promise<Dockerd> {
  const d = make(dir);
  mkdirSync(`${dir}/d`, { recursive: true });
  mkdirSync(`${dir}/e`, { recursive: true });
  const log = openSync(`${dir}/log`, 'a');
  const child = spawn('dockerd', [
    '--bridge=none', '--iptables=false', '--ip-masq=false', '--shutdown-timeout=2',
    '--data-root', `${dir}/d`, '--exec-root', `${dir}/e`, '--pidfile', `${dir}/p`, '--host', d.host,
  ], { detached: true, stdio: ['ignore', log, log] });
  child.unref(); // stopped by docker-global.ts's teardown, by its PID
  let exited = false;
  child.once('exit', () => { exited = true; });
  await until(async () => {
    if (exited) throw new Error(`dockerd exited: ${readFileSync(`${dir}/log`, 'utf8').slice(-2000)}`);
    return existsSync(`${dir}/d/docker.sock`) && await ping(`${dir}/d/docker.sock`);
  }, 30_000, 'dockerd to answer on its socket');
  const rootfs = `${dir}/rootfs`;
  mkdirSync(`${rootfs}/bin`, { recursive: true });
  for (const sub of ['etc', 'tmp', 'www', 'proc', 'sys', 'dev']) mkdirSync(`${rootfs}/${sub}`, { recursive: true });
  copyFileSync('/bin/busybox', `${rootfs}/bin/busybox`);
  for (const a of APPLETS) symlinkSync('busybox', `${rootfs}/bin/${a}`);
  writeFileSync(`${rootfs}/etc/passwd`, 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(`${rootfs}/etc/group`, 'root:x:0:\n');
  await runP('sh', ['-c', `tar -C ${rootfs} -c . | docker -H ${d.host} import -c 'ENV PATH=/bin' - pw-busybox`]);
  return d;
}

let mine: Promise<Dockerd> | null = null;

/** The run's private dockerd with the pw-busybox image, started by the first file that asks. */
export function sharedDockerd(): Promise<Dockerd> {
  if (mine !== null) return mine;
  const dir = inject('dockDir');
  mine = (async () => {
    let starter = false;
    try { mkdirSync(dir); starter = true; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    if (starter) {
      try {
        const d = await start(dir);
        writeFileSync(`${dir}/ready`, '');
        return d;
      } catch (e) {
        writeFileSync(`${dir}/failed`, String((e as Error).message));
        throw e;
      }
    }
    await until(() => {
      if (existsSync(`${dir}/failed`)) throw new Error(`the shared dockerd did not start: ${readFileSync(`${dir}/failed`, 'utf8')}`);
      return existsSync(`${dir}/ready`);
    }, 90_000, 'the shared dockerd (started by another test file)');
    return make(dir);
  })();
  return mine;
}

/** Removes the containers (by name) a test file made; never fails. */
export async function removeContainers(d: Dockerd, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await d.docker('rm', '-f', ...names).catch(() => undefined);
}

/** `docker exec NAME cmd...` stdout. */
export async function dexec(d: Dockerd, name: string, ...cmd: string[]): Promise<string> {
  return d.docker('exec', name, ...cmd);
}
