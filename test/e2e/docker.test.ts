/**
 * Real Docker containers as pods (issue 18), on the run's private dockerd (docker-util.ts):
 * containers of the locally built pw-busybox image, attached by name to a two-node VXLAN
 * cluster run by `podwire up`, in each of the three ways:
 *   - mode tap: `docker run --network none`, podwire's TAP becomes eth0 (web, by the
 *     topology's `attach: { container }`; cli, by `podwire attach --container`);
 *   - mode second: a container that keeps its own eth0 (a veth this test makes, standing in
 *     for docker0's, since the private dockerd runs with --bridge=none) gets eth1 with
 *     routes for the pod and service CIDRs only;
 *   - mode veth: a container whose eth0 is a veth in the node's pod range keeps it (same
 *     address, same MAC); podwire takes over the host end with a packet socket (TPACKET_V3).
 * Each pings across nodes, resolves the Service through cluster DNS (busybox nslookup) and
 * fetches from busybox httpd through the Service VIP (busybox wget). The web container is
 * restarted (new PID, new network namespace): it comes back with the same address and MAC
 * and traffic works again. A capture of the client's interface opens in tshark. Bad input
 * (no such container, a stopped one, another runtime) gets one error naming the container
 * and leaves nothing attached. Containers, namespaces and podwire are removed in afterAll.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { ALIAS_PREFIX } from '../../src/io/attach.js';
import { describeE2E, uniq } from './prereq.js';
import { buildDist, inNs, ROOT, sh, startPodwireUp, waitFor, type UpProcess } from './attach-util.js';
import { dexec, removeContainers, sharedDockerd, type Dockerd } from './docker-util.js';
import { tsharkFields } from './tshark-util.js';

/** busybox httpd on 8080: index.html, a 300 kB file, and a CGI that counts the bytes POSTed to it. */
const WEB = [
  'mkdir -p /www/cgi-bin', 'echo hello-from-web > /www/index.html',
  'dd if=/dev/zero bs=1000 count=300 2>/dev/null | tr "\\0" y > /www/big',
  'printf "#!/bin/sh\\necho Content-Type: text/plain\\necho\\nhead -c \\$CONTENT_LENGTH | wc -c\\n" > /www/cgi-bin/up',
  'chmod +x /www/cgi-bin/up', 'exec httpd -f -p 8080 -h /www',
].join('; ');
const DNS = ['--dns', '10.96.0.10', '--dns-search', 'default.svc.cluster.local', '--dns-search', 'svc.cluster.local', '--dns-search', 'cluster.local', '--dns-opt', 'ndots:5'];

describeE2E('Docker containers attached by name: tap, second interface, veth takeover', ['root', 'tun', 'netns', 'dockerd', 'docker', 'busybox-static', 'tshark'], () => {
  const cluster = uniq('pwdock');
  const id = uniq('').slice(0, 6);
  const web = `dockweb${id}`;
  const cli = `dockcli${id}`;
  const sec = `docksec${id}`;
  const vet = `dockvet${id}`;
  const stopped = `dockstop${id}`;
  const nsSec = `pwdockS${id}`; // the "docker0" side of the second-interface container's own eth0
  const nsVet = `pwdockV${id}`; // the host side of the veth-mode container's veth
  const dir = mkdtempSync(join(tmpdir(), 'podwire-docker-'));
  let d: Dockerd;
  let pw: UpProcess | undefined;
  let api = '';
  const names = [web, cli, sec, vet, stopped];

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await fetch(`${api}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    return { status: r.status, json: await r.json() as Record<string, unknown> };
  };
  const podwire = (...args: string[]): Promise<{ code: number; out: string; err: string }> => sh(process.execPath, join(ROOT, 'bin/podwire.js'), ...args, '--api', api.replace(/\/api\/v1$/, ''))
    .then((out) => ({ code: 0, out, err: '' }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' }));
  const pidOf = async (name: string): Promise<number> => Number((await d.docker('inspect', '-f', '{{.State.Pid}}', name)).trim());
  const link = async (name: string, dev: string): Promise<{ address: string; addr: string }> => {
    const j = JSON.parse(await sh('nsenter', '-t', String(await pidOf(name)), '-n', 'ip', '-j', 'addr', 'show', 'dev', dev)) as { address: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    const a = j[0]!.addr_info.find((x) => x.family === 'inet')!;
    return { address: j[0]!.address, addr: `${a.local}/${a.prefixlen}` };
  };
  /** A veth for container `name`: eth0 inside with `cidr` and a default route via `gw`; the other end `host` in netns `ns`. */
  const giveVeth = async (name: string, ns: string, host: string, cidr: string, gw: string): Promise<void> => {
    const pid = String(await pidOf(name));
    await sh('ip', '-n', ns, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pid);
    await sh('nsenter', '-t', pid, '-n', 'sh', '-c', `ip addr add ${cidr} dev eth0 && ip link set eth0 up && ip route add default via ${gw}`);
    await sh('ip', '-n', ns, 'link', 'set', host, 'up');
  };

  beforeAll(async () => {
    buildDist();
    d = await sharedDockerd();
    process.env['DOCKER_HOST'] = d.host; // podwire finds the engine through docker and DOCKER_HOST
    await d.docker('run', '-d', '--name', web, '--network', 'none', 'pw-busybox', 'sh', '-c', WEB);
    for (const n of [cli, sec, vet]) await d.docker('run', '-d', '--name', n, '--network', 'none', ...DNS, 'pw-busybox', 'sleep', '100000');
    await d.docker('create', '--name', stopped, '--network', 'none', 'pw-busybox', 'sleep', '100000');
    await ipx.netnsAdd(nsSec);
    await ipx.netnsAdd(nsVet);
    await giveVeth(sec, nsSec, 'dock0', '192.168.77.2/24', '192.168.77.1');
    await sh('ip', '-n', nsSec, 'addr', 'add', '192.168.77.1/24', 'dev', 'dock0');
    // mode veth: the container's network uses node1's pod range with the node bridge as gateway,
    // its host end is a port of a bridge (as on docker0) that podwire takes it off and gives back.
    await sh('ip', '-n', nsVet, 'link', 'add', 'dockbr0', 'type', 'bridge');
    await giveVeth(vet, nsVet, 'dockv0', '10.244.1.50/24', '10.244.1.1');
    await sh('ip', '-n', nsVet, 'link', 'set', 'dockv0', 'master', 'dockbr0');
    writeFileSync(join(dir, 'topo.yaml'), `cluster: { name: ${cluster} }
nodes: [{ name: node1 }, { name: node2 }]
pods:
  - { name: web, node: node2, labels: { app: web }, attach: { container: ${web} } }
services:
  - { name: web, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
`);
    pw = startPodwireUp(join(dir, 'topo.yaml'), '--captures', dir);
    api = await pw.api;
  }, 120_000);

  afterAll(async () => {
    let alive = false;
    try {
      alive = pw !== undefined && pw.child.exitCode === null && pw.child.signalCode === null;
      if (pw !== undefined && pw.child.exitCode === null) {
        pw.child.kill('SIGTERM'); // the podwire started above
        await pw.exited;
      }
    } finally {
      await removeContainers(d, names);
      for (const ns of [nsSec, nsVet]) await ipx.netnsDelete(ns).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(alive, `podwire up ran until the end; it printed: ${pw?.output() ?? ''}`).toBe(true);
    const taps = await ipx.ip(['-j', '-d', 'link', 'show', 'type', 'tun']);
    expect(taps.includes(`${ALIAS_PREFIX}${cluster}/`)).toBe(false);
  }, 60_000);

  it('mode tap: the topology attaches web by container name, the CLI attaches cli; ping, DNS, HTTP through the Service', async () => {
    const r = await podwire('attach', 'cli', '--container', cli, '--node', 'node1');
    expect(r.err).toBe('');
    expect(r.out).toMatch(new RegExp(`attached cli: eth0 10\\.244\\.1\\.\\d+ in container ${cli} \\(pid \\d+\\)`));
    expect(await link(web, 'eth0')).toMatchObject({ addr: '10.244.2.2/24', address: '02:42:0a:f4:02:02' });
    expect(await dexec(d, cli, 'ping', '-c', '2', '-W', '2', '10.244.2.2')).toMatch(/2 packets received/);
    expect(await dexec(d, cli, 'nslookup', 'web.default.svc.cluster.local.')).toMatch(/Name:\s+web\.default\.svc\.cluster\.local\s+Address( 1)?:\s+10\.96\.\d+\.\d+/);
    expect(await dexec(d, cli, 'wget', '-q', '-O', '-', 'http://web.default.svc.cluster.local/')).toBe('hello-from-web\n');
    const pods = (await call('GET', '/topology')).json['pods'] as { name: string; attached: Record<string, unknown> | null }[];
    expect(pods.find((p) => p.name === 'web')!.attached).toMatchObject({ container: web, pid: await pidOf(web), interface: 'eth0', rejoins: 0 });
  }, 60_000);

  it('mode second: the container keeps its eth0 and default route; eth1 routes only the pod and service CIDRs', async () => {
    const r = await podwire('attach', 'sec', '--container', sec, '--mode', 'second', '--node', 'node1');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/attached sec: eth1 10\.244\.1\.\d+/);
    const routes = await dexec(d, sec, 'ip', 'route');
    expect(routes).toMatch(/default via 192\.168\.77\.1 dev eth0/);
    expect(routes).toMatch(/10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth1/);
    expect(routes).toMatch(/10\.96\.0\.0\/12 via 10\.244\.1\.1 dev eth1/);
    expect(await link(sec, 'eth0')).toMatchObject({ addr: '192.168.77.2/24' });
    expect(await dexec(d, sec, 'ping', '-c', '1', '-W', '2', '192.168.77.1')).toMatch(/1 packets received/); // its own network still works
    expect(await dexec(d, sec, 'ping', '-c', '2', '-W', '2', '10.244.2.2')).toMatch(/2 packets received/);
    expect(await dexec(d, sec, 'nslookup', 'web.default.svc.cluster.local.')).toMatch(/10\.96\.\d+\.\d+/);
    expect(await dexec(d, sec, 'wget', '-q', '-O', '-', 'http://web/')).toBe('hello-from-web\n');
  }, 60_000);

  it('mode veth: podwire takes over the host end; the container keeps its address and MAC, and gets them back untouched', async () => {
    const before = await link(vet, 'eth0');
    const r = await podwire('attach', 'vet', '--container', vet, '--mode', 'veth', '--node', 'node1');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/attached vet: eth0 10\.244\.1\.50 /);
    expect(await sh('ip', '-n', nsVet, '-o', 'link', 'show', 'dockv0')).not.toMatch(/master dockbr0/);
    expect(await dexec(d, vet, 'ping', '-c', '2', '-W', '2', '10.244.2.2')).toMatch(/2 packets received/);
    expect(await dexec(d, vet, 'nslookup', 'web.default.svc.cluster.local.')).toMatch(/10\.96\.\d+\.\d+/);
    expect(await dexec(d, vet, 'wget', '-q', '-O', '-', 'http://web/')).toBe('hello-from-web\n');
    // Bulk TCP both ways: 300 kB down (frames written to the veth), 100 kB up (the container's
    // kernel hands its veth TSO segments with partial checksums: completed and cut by podwire).
    expect(await dexec(d, vet, 'sh', '-c', 'wget -q -O - http://web/big | wc -c')).toMatch(/^\s*300000\s*$/);
    expect(await dexec(d, vet, 'sh', '-c', 'd=$(dd if=/dev/zero bs=1000 count=100 2>/dev/null | tr "\\0" x); wget -q -O - --post-data "$d" http://web/cgi-bin/up')).toMatch(/^\s*100000\s*$/);
    expect(await link(vet, 'eth0')).toEqual(before);
    expect((await call('DELETE', '/attach/vet')).status).toBe(200);
    expect(await link(vet, 'eth0')).toEqual(before);
    expect(await sh('ip', '-n', nsVet, '-o', 'link', 'show', 'dockv0')).toMatch(/master dockbr0/);
  }, 60_000);

  it('a restarted container (new PID, new namespace) comes back with the same address and MAC; traffic works again', async () => {
    const pid0 = await pidOf(web);
    await d.docker('restart', '-t', '0', web);
    const pid1 = await pidOf(web);
    expect(pid1).not.toBe(pid0);
    const rejoined = async (): Promise<boolean> => {
      const pods = (await call('GET', '/topology')).json['pods'] as { name: string; attached: { pid?: number; rejoins?: number } | null }[];
      const a = pods.find((p) => p.name === 'web')!.attached;
      return a?.pid === pid1 && a.rejoins === 1;
    };
    expect(await waitFor(rejoined, 15_000)).toBe(true);
    expect(await link(web, 'eth0')).toMatchObject({ addr: '10.244.2.2/24', address: '02:42:0a:f4:02:02' });
    expect(await waitFor(async () => (await dexec(d, cli, 'timeout', '3', 'wget', '-q', '-O', '-', 'http://web/').catch(() => '')) === 'hello-from-web\n', 15_000)).toBe(true);
    expect(await dexec(d, cli, 'ping', '-c', '1', '-W', '2', '10.244.2.2')).toMatch(/1 packets received/);
  }, 60_000);

  it('a capture of an attached container\'s interface opens in tshark', async () => {
    const c = await call('POST', '/captures', { interfaces: 'cli/eth0' });
    expect(c.status).toBe(201);
    await dexec(d, cli, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.244.2.2');
    expect((await call('DELETE', `/captures/${String(c.json['id'])}`)).status).toBe(200);
    const file = join(dir, 'cli-capture.pcapng');
    writeFileSync(file, Buffer.from(await (await fetch(`${api}/captures/${String(c.json['id'])}`)).arrayBuffer()));
    const rows = tsharkFields(file, ['ip.src', 'ip.dst', 'icmp.type'], ['-Y', 'icmp']);
    expect(rows.filter((r) => r[2] === '8' && r[1] === '10.244.2.2').length).toBe(3);
    expect(rows.filter((r) => r[2] === '0' && r[0] === '10.244.2.2').length).toBe(3);
  }, 60_000);

  it('bad input: no such container, a stopped one, another runtime: one error naming the container, nothing attached', async () => {
    const before = JSON.stringify((await call('GET', '/topology')).json['pods']);
    const none = await podwire('attach', 'ghost', '--container', `dockghost${id}`, '--node', 'node1');
    expect(none.code).toBe(1);
    expect(none.err).toContain(`container "dockghost${id}": no such container in docker`);
    expect(none.err).toContain('docker ps -a');
    const st = await podwire('attach', 'st', '--container', stopped, '--node', 'node1');
    expect(st.code).toBe(1);
    expect(st.err).toContain(`container "${stopped}" is not running (docker says: created): start it (\`docker start ${stopped}\`)`);
    const pm = await podwire('attach', 'pm', '--container', web, '--runtime', 'podman', '--node', 'node1');
    expect(pm.code).toBe(1);
    expect(pm.err).toMatch(new RegExp(`container "${web}": (the podman command is not installed|no such container in podman)`));
    expect(pm.err).toContain('--runtime docker');
    const nv = await podwire('attach', 'nv', '--container', cli, '--mode', 'veth', '--node', 'node1');
    expect(nv.code).toBe(1);
    expect(nv.err).toContain(`attaching pod nv to container ${cli} in mode veth: container ${cli} has no veth eth0`);
    expect(nv.err).toContain('use mode tap');
    for (const e of [none.err, st.err, pm.err, nv.err]) expect(e.trim().split('\n')).toHaveLength(1);
    expect(JSON.stringify((await call('GET', '/topology')).json['pods'])).toBe(before);
  }, 60_000);
});
