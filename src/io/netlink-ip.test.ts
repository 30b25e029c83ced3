import { describe, expect, it } from 'vitest';
import {
  addAddress, addDefaultRoute, ipArgv, IpCommandError, moveLinkToNetns, renameLink, run, setLinkMac, setLinkMtu,
} from './netlink-ip.js';

describe('ip command vectors', () => {
  it('runs in the current, a named, or a PID netns', () => {
    expect(ipArgv(['link', 'show'])).toEqual(['ip', ['link', 'show']]);
    expect(ipArgv(['link', 'show'], 'pod1')).toEqual(['ip', ['-n', 'pod1', 'link', 'show']]);
    expect(ipArgv(['link', 'show'], { pid: 42 })).toEqual(['nsenter', ['-t', '42', '-n', 'ip', 'link', 'show']]);
  });
});

describe('argument validation (rejects before running anything)', () => {
  it('names the bad value', async () => {
    await expect(renameLink('tap0', 'eth 0', 'ns1')).rejects.toThrow(/renameLink: invalid interface name "eth 0"/);
    await expect(renameLink('tap0', 'a'.repeat(16))).rejects.toThrow(/invalid interface name/);
    await expect(moveLinkToNetns('tap0', '../etc')).rejects.toThrow(/invalid namespace name "..\/etc"/);
    await expect(moveLinkToNetns('tap0', { pid: -1 })).rejects.toThrow(/invalid pid -1/);
    await expect(setLinkMac('tap0', '02:00:00:00:00')).rejects.toThrow(/invalid MAC address/);
    await expect(setLinkMtu('tap0', 67)).rejects.toThrow(/invalid MTU 67/);
    await expect(addAddress('tap0', '10.0.0.256/24')).rejects.toThrow(/invalid IPv4 CIDR "10.0.0.256\/24"/);
    await expect(addAddress('tap0', '10.0.0.1/33')).rejects.toThrow(/invalid IPv4 CIDR/);
    await expect(addDefaultRoute('10.0.0.1', { dev: '-x y' })).rejects.toThrow(/invalid interface name/);
  });
});

describe('command errors', () => {
  it('name the command line, exit code and stderr', async () => {
    const p = run('sh', ['-c', 'echo "Cannot find device \\"pw0\\"" >&2; exit 3']);
    await expect(p).rejects.toBeInstanceOf(IpCommandError);
    await expect(p).rejects.toThrow(/`sh -c .*` failed \(exit 3\): Cannot find device "pw0"/);
  });
  it('resolve with stdout on success', async () => {
    await expect(run('sh', ['-c', 'echo ok'])).resolves.toBe('ok\n');
  });
});
