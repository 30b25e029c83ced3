/**
 * Small async helpers over iproute2's `ip` command, for putting a TAP device where a real
 * process can use it: move a link into a network namespace (by name or by a process's PID),
 * rename it there, set MAC / MTU / address / up, add a default route, delete it, list TAPs.
 *
 * Commands run with child_process.execFile (argument vectors, never a shell string). A
 * namespace is named (`ip -n NAME ...`, i.e. /run/netns/NAME) or a process's (`nsenter -t PID
 * -n ip ...`). Arguments are validated before anything runs (a bad value changes nothing and
 * the TypeError names it); a failing command rejects with IpCommandError naming the command
 * line and the tool's stderr. Control plane only: nothing here is on a packet path.
 */
import { execFile } from 'node:child_process';

/** Where a command runs: the current namespace (undefined), a named netns, or a PID's netns. */
export type NetnsRef = string | { readonly pid: number } | undefined;

export class IpCommandError extends Error {
  readonly code = 'ERR_PODWIRE_IP_COMMAND';
  constructor(
    /** The command line as run (for messages; it was executed without a shell). */
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | null,
    cause?: unknown,
  ) {
    const detail = stderr.trim() !== '' ? stderr.trim() : cause instanceof Error ? cause.message : 'no output';
    super(`\`${command}\` failed${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${detail}`,
      cause !== undefined ? { cause } : undefined);
    this.name = 'IpCommandError';
  }
}

const IFNAME = /^[^\s/:]{1,15}$/;
const NSNAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function checkIfname(what: string, v: string): void {
  if (!IFNAME.test(v) || v === '.' || v === '..') {
    throw new TypeError(`${what}: invalid interface name ${JSON.stringify(v)} (1-15 bytes, no whitespace, '/' or ':')`);
  }
}

function checkNetns(v: NetnsRef): void {
  if (v === undefined) return;
  if (typeof v === 'string') {
    if (!NSNAME.test(v)) throw new TypeError(`netns: invalid namespace name ${JSON.stringify(v)}`);
  } else if (!Number.isInteger(v.pid) || v.pid <= 0) {
    throw new TypeError(`netns: invalid pid ${String(v.pid)}`);
  }
}

/** The argument vector that runs `ip args...` in `netns`. */
export function ipArgv(args: readonly string[], netns?: NetnsRef): [string, string[]] {
  if (netns === undefined) return ['ip', [...args]];
  if (typeof netns === 'string') return ['ip', ['-n', netns, ...args]];
  return ['nsenter', ['-t', String(netns.pid), '-n', 'ip', ...args]];
}

/** Runs a program without a shell; resolves with stdout, rejects with IpCommandError. */
export function run(file: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  const command = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return; }
      const code = typeof err.code === 'number' ? err.code : null;
      reject(new IpCommandError(command, stderr, code, err));
    });
  });
}

/** Runs `ip args...` (in `netns` when given) and resolves with its stdout. */
export function ip(args: readonly string[], netns?: NetnsRef): Promise<string> {
  checkNetns(netns);
  const [file, argv] = ipArgv(args, netns);
  return run(file, argv);
}

export async function netnsAdd(name: string): Promise<void> {
  checkNetns(name);
  await run('ip', ['netns', 'add', name]);
}

export async function netnsDelete(name: string): Promise<void> {
  checkNetns(name);
  await run('ip', ['netns', 'delete', name]);
}

export async function netnsList(): Promise<string[]> {
  const out = await run('ip', ['-j', 'netns', 'list']);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** `ip link set dev DEV netns TARGET`: moves a link (run in `from`) into a named netns or a PID's. */
export async function moveLinkToNetns(dev: string, target: string | { readonly pid: number }, from?: NetnsRef): Promise<void> {
  checkIfname('moveLinkToNetns', dev);
  checkNetns(target);
  await ip(['link', 'set', 'dev', dev, 'netns', typeof target === 'string' ? target : String(target.pid)], from);
}

/** `ip link set dev DEV name NEW` (the link must be down). */
export async function renameLink(dev: string, newName: string, netns?: NetnsRef): Promise<void> {
  checkIfname('renameLink', dev);
  checkIfname('renameLink', newName);
  await ip(['link', 'set', 'dev', dev, 'name', newName], netns);
}

export async function setLinkMac(dev: string, mac: string, netns?: NetnsRef): Promise<void> {
  checkIfname('setLinkMac', dev);
  if (!MAC.test(mac)) throw new TypeError(`setLinkMac: invalid MAC address ${JSON.stringify(mac)} (aa:bb:cc:dd:ee:ff)`);
  await ip(['link', 'set', 'dev', dev, 'address', mac.toLowerCase()], netns);
}

export async function setLinkMtu(dev: string, mtu: number, netns?: NetnsRef): Promise<void> {
  checkIfname('setLinkMtu', dev);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new TypeError(`setLinkMtu: invalid MTU ${String(mtu)} (68-65535)`);
  await ip(['link', 'set', 'dev', dev, 'mtu', String(mtu)], netns);
}

export async function setLinkUp(dev: string, netns?: NetnsRef): Promise<void> {
  checkIfname('setLinkUp', dev);
  await ip(['link', 'set', 'dev', dev, 'up'], netns);
}

export async function setLinkDown(dev: string, netns?: NetnsRef): Promise<void> {
  checkIfname('setLinkDown', dev);
  await ip(['link', 'set', 'dev', dev, 'down'], netns);
}

/** `ip address add CIDR dev DEV`, e.g. "10.244.1.5/24". */
export async function addAddress(dev: string, cidr: string, netns?: NetnsRef): Promise<void> {
  checkIfname('addAddress', dev);
  const [addr, len, extra] = cidr.split('/');
  const n = Number(len);
  if (addr === undefined || !IPV4.test(addr) || extra !== undefined || len === undefined || !/^\d{1,2}$/.test(len) || n > 32) {
    throw new TypeError(`addAddress: invalid IPv4 CIDR ${JSON.stringify(cidr)} (a.b.c.d/len)`);
  }
  await ip(['address', 'add', cidr, 'dev', dev], netns);
}

/** `ip route add default via GW [dev DEV]` (replace: true uses `ip route replace`). */
export async function addDefaultRoute(gateway: string, opts: { dev?: string; netns?: NetnsRef; replace?: boolean } = {}): Promise<void> {
  if (!IPV4.test(gateway)) throw new TypeError(`addDefaultRoute: invalid IPv4 gateway ${JSON.stringify(gateway)}`);
  const args = ['route', opts.replace === true ? 'replace' : 'add', 'default', 'via', gateway];
  if (opts.dev !== undefined) {
    checkIfname('addDefaultRoute', opts.dev);
    args.push('dev', opts.dev);
  }
  await ip(args, opts.netns);
}

export async function deleteLink(dev: string, netns?: NetnsRef): Promise<void> {
  checkIfname('deleteLink', dev);
  await ip(['link', 'delete', 'dev', dev], netns);
}

export interface TunLink {
  readonly ifindex: number;
  readonly name: string;
  /** 'tap' or 'tun' (from the tun driver's link info). */
  readonly type: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly persist: boolean;
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  flags?: string[];
  linkinfo?: { info_data?: { type?: string; persist?: boolean } };
}

/** Links of kind tun/tap in `netns` (`ip -j -d link show type tun`). */
export async function listTunLinks(netns?: NetnsRef): Promise<TunLink[]> {
  const out = await ip(['-j', '-d', 'link', 'show', 'type', 'tun'], netns);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as IpLinkJson[]).map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    type: l.linkinfo?.info_data?.type ?? 'unknown',
    mac: l.address ?? '',
    mtu: l.mtu,
    up: l.flags?.includes('UP') ?? false,
    persist: l.linkinfo?.info_data?.persist ?? false,
  }));
}

/** RX/TX packet counters of a link (`ip -j -s link show dev DEV`). */
export async function linkStats(dev: string, netns?: NetnsRef): Promise<{ rxPackets: number; txPackets: number }> {
  checkIfname('linkStats', dev);
  const out = await ip(['-j', '-s', 'link', 'show', 'dev', dev], netns);
  const l = (JSON.parse(out) as { stats64?: { rx?: { packets?: number }; tx?: { packets?: number } } }[])[0];
  return { rxPackets: l?.stats64?.rx?.packets ?? 0, txPackets: l?.stats64?.tx?.packets ?? 0 };
}
