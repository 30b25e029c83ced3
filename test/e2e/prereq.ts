/**
 * Prerequisite gate for end-to-end tests (root, TAP, network namespaces, real tools).
 *
 * Outside CI a missing prerequisite skips the suite with a message naming what is missing;
 * with PODWIRE_E2E=require (set by .ci/run) it fails the run instead.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { describe, it } from 'vitest';

export type Prereq =
  | 'root' | 'tun' | 'netns' | 'vxlan' | 'iptables'
  | 'tshark' | 'iperf3' | 'dig' | 'curl' | 'ping' | 'python3' | 'vde_switch' | 'nft' | 'chromium'
  | 'dockerd' | 'docker' | 'docker-compose' | 'busybox-static';

const toolOf: Partial<Record<Prereq, string>> = {
  tshark: 'tshark', iperf3: 'iperf3', dig: 'dig', curl: 'curl', ping: 'ping',
  python3: 'python3', vde_switch: 'vde_switch', iptables: 'iptables', nft: 'nft', chromium: 'chromium',
  dockerd: 'dockerd', docker: 'docker', 'docker-compose': 'docker-compose',
};

function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<Prereq, string | null>();

/** Returns null when `p` is available, otherwise a short reason. */
export function checkPrereq(p: Prereq): string | null {
  const hit = cache.get(p);
  if (hit !== undefined) return hit;
  let why: string | null = null;
  const tool = toolOf[p];
  if (tool !== undefined) {
    if (!haveTool(tool)) why = `${tool} not installed (run tools/setup-system.sh)`;
  } else if (p === 'root') {
    if (process.getuid?.() !== 0) why = 'not running as root';
  } else if (p === 'tun') {
    try { accessSync('/dev/net/tun', constants.R_OK | constants.W_OK); } catch { why = '/dev/net/tun missing or not accessible'; }
  } else if (p === 'netns') {
    if (!haveTool('ip')) why = 'ip (iproute2) not installed';
    else if (process.getuid?.() !== 0) why = 'ip netns needs root';
  } else if (p === 'busybox-static') {
    // The test images are a static busybox copied into a rootfs (no registry, no libraries).
    try {
      const out = execFileSync('sh', ['-c', 'ldd /bin/busybox 2>&1 || true'], { encoding: 'utf8' });
      if (!/not a dynamic executable|statically linked/.test(out)) why = '/bin/busybox is not the static one (install busybox-static: tools/setup-system.sh)';
    } catch { why = 'busybox-static not installed (run tools/setup-system.sh)'; }
  } else if (p === 'vxlan') {
    if (process.getuid?.() !== 0) why = 'kernel vxlan devices need root';
    else {
      try { execFileSync('sh', ['-c', 'modprobe -n vxlan 2>/dev/null || test -d /sys/module/vxlan || { ip link add pwprobevx0 type vxlan id 1 dstport 8472 && ip link del pwprobevx0; }'], { stdio: 'ignore' }); }
      catch { why = 'kernel vxlan device unavailable'; }
    }
  }
  cache.set(p, why);
  return why;
}

export function missingPrereqs(needs: readonly Prereq[]): string[] {
  const out: string[] = [];
  for (const p of needs) {
    const why = checkPrereq(p);
    if (why !== null) out.push(`${p}: ${why}`);
  }
  return out;
}

export const e2eRequired = (): boolean => process.env['PODWIRE_E2E'] === 'require';

/**
 * describe() for an end-to-end suite: runs when every prerequisite is there; otherwise
 * skips with a message (or fails, under PODWIRE_E2E=require).
 */
export function describeE2E(title: string, needs: readonly Prereq[], body: () => void): void {
  const missing = missingPrereqs(needs);
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const msg = `${title}: missing ${missing.join('; ')}`;
  if (e2eRequired()) {
    describe(title, () => {
      it('has its prerequisites (PODWIRE_E2E=require)', () => {
        throw new Error(`PODWIRE_E2E=require but ${msg}`);
      });
    });
    return;
  }
  process.stderr.write(`[podwire e2e] skipping ${msg}\n`);
  describe.skipIf(true)(`${title} (skipped: ${missing.join('; ')})`, body);
}

/** Unique short suffix for namespace/device names so parallel or leftover runs never collide. */
export function uniq(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.slice(0, 15);
}
