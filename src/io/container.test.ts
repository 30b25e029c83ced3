/**
 * What the engine's tool says, turned into one error naming the container and what to do:
 * a fake `docker` on PATH prints the messages the real CLIs print (Docker 28.2 and Debian's
 * 20.10.24, captured against a missing socket, a socket the user may not open, and a
 * missing container) and exits 1, as they do. The real engine is in test/e2e/docker.test.ts.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError, inspectContainer, runningContainer } from './container.js';

const dir = mkdtempSync(join(tmpdir(), 'podwire-container-'));
const path0 = process.env['PATH'];

/** Puts a `docker` script on PATH that prints `stdout`/`stderr` and exits with `code`. */
function fakeDocker(stdout: string, stderr: string, code: number): void {
  const f = join(dir, 'docker');
  writeFileSync(f, `#!/bin/sh\nprintf '%s' '${stdout.replace(/'/g, "'\\''")}'\nprintf '%s\\n' '${stderr.replace(/'/g, "'\\''")}' >&2\nexit ${code}\n`);
  chmodSync(f, 0o755);
}

async function failure(p: Promise<unknown>): Promise<ContainerError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(ContainerError);
  return e as ContainerError;
}

describe('containers through the engine\'s CLI', () => {
  beforeAll(() => { process.env['PATH'] = `${dir}:${path0 ?? ''}`; });
  afterAll(() => { process.env['PATH'] = path0; rmSync(dir, { recursive: true, force: true }); });

  it('reads id, name, PID and state', async () => {
    fakeDocker('4f2c9e /web 4242 true running\n', '', 0);
    expect(await inspectContainer('web')).toEqual({ id: '4f2c9e', name: 'web', pid: 4242, running: true, status: 'running' });
  });

  it('no such container: names it and says how to list them and where another runtime goes', async () => {
    fakeDocker('[]\n', 'Error: No such container: ghost', 1);
    const e = await failure(inspectContainer('ghost'));
    expect(e.kind).toBe('not-found');
    expect(e.message).toMatch(/^container "ghost": no such container in docker \(.*\); `docker ps -a` lists them, and a container of podman needs --runtime podman$/);
  });

  it('a stopped container: says it is not running and how to start it', async () => {
    fakeDocker('4f2c9e /web 0 false exited\n', '', 0);
    const e = await failure(runningContainer('web'));
    expect(e.kind).toBe('not-running');
    expect(e.message).toBe('container "web" is not running (docker says: exited): start it (`docker start web`), then attach');
  });

  it('no permission to the engine\'s socket', async () => {
    fakeDocker('', 'permission denied while trying to connect to the Docker daemon socket at unix:///tmp/pw.sock: Get "http://%2Ftmp%2Fpw.sock/v1.24/containers/web/json": dial unix /tmp/pw.sock: connect: permission denied', 1);
    const e = await failure(inspectContainer('web'));
    expect(e.kind).toBe('permission');
    expect(e.message).toMatch(/^container "web": no permission to the docker engine's socket \(.*\): run podwire as root \(attach needs it anyway\) or as a member of the docker group; docker said: permission denied/);
  });

  it('the engine is not running', async () => {
    fakeDocker('', 'Cannot connect to the Docker daemon at unix:///tmp/nonexist.sock. Is the docker daemon running?', 1);
    const e = await failure(inspectContainer('web'));
    expect(e.kind).toBe('no-engine');
    expect(e.message).toMatch(/^container "web": the docker engine is not reachable at .*: start it, or point DOCKER_HOST at its socket/);
  });

  it('the runtime\'s tool is not installed', async () => {
    const e = await failure(inspectContainer('web', 'podman').catch((x: unknown) => { throw x; }));
    if (e.kind === 'no-tool') expect(e.message).toBe('container "web": the podman command is not installed here (podwire asks the engine with `podman inspect`); install it, or give --runtime docker if the container runs under docker');
    else expect(e.kind).toBe('not-found'); // a machine with podman installed
  });
});
