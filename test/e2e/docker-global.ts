/**
 * Global setup for the Docker end-to-end tests: it only picks the run's private directory
 * (`/tmp/pwdk` + this process's PID, short because a unix socket path is limited to 107
 * bytes) and hands it to the test files (`inject('dockDir')`); nothing is started here.
 * The first docker test file that runs starts the one private dockerd there
 * (test/e2e/docker-util.ts), the others reuse it; the teardown below stops that dockerd by
 * its PID and removes the directory, whichever file started it and even when a file failed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

declare module 'vitest' {
  export interface ProvidedContext {
    dockDir: string;
  }
}

interface Ctx { provide(key: 'dockDir', value: string): void }

export default function setup(ctx: Ctx): () => Promise<void> {
  const dir = `/tmp/pwdk${process.pid.toString(36)}`;
  ctx.provide('dockDir', dir);
  return async () => {
    if (!existsSync(dir)) return;
    const pidFile = `${dir}/p`;
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
    if (Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`)) {
      // Containers first (SIGKILL, no stop timeout), then the daemon we started.
      try {
        const ids = execFileSync('docker', ['-H', `unix://${dir}/d/docker.sock`, 'ps', '-aq'], { encoding: 'utf8', timeout: 10_000 }).split('\n').filter((s) => s !== '');
        if (ids.length > 0) execFileSync('docker', ['-H', `unix://${dir}/d/docker.sock`, 'rm', '-f', ...ids], { stdio: 'ignore', timeout: 20_000 });
      } catch { /* the daemon is stopped below either way */ }
      process.kill(pid, 'SIGTERM');
      const end = Date.now() + 20_000;
      while (existsSync(`/proc/${pid}`) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    }
    // dockerd unmounts its overlays on a clean stop; whatever is still mounted below dir goes now.
    try {
      const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
      for (const m of mounts.reverse()) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch { /* nothing mounted */ }
    rmSync(dir, { recursive: true, force: true });
  };
}
