/**
 * TAP dataplane end to end: a TAP opened from Node, moved into a throwaway network namespace
 * as eth0 (10.250.0.2/24), and the kernel's ping answered from JavaScript: the addon must
 * deliver the kernel's ARP request in a batch (reads), and our hand-built ARP reply and ICMP
 * echo reply must make the ping succeed (writes). Addresses exist only inside the namespace;
 * nothing is sent anywhere but into it.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checksum } from '../../src/wire/checksum.js';
import * as ipx from '../../src/io/netlink-ip.js';
import { defaultAddonPath, loadTapAddon, TapCounter, TapDevice } from '../../src/io/tap.js';
import { describeE2E, uniq } from './prereq.js';

const run = promisify(execFile);
const POD_IP = 0x0afa0002; // 10.250.0.2, eth0 inside the namespace
const GW_IP = 0x0afa0001; // 10.250.0.1, answered from JS
const GW_MAC = Buffer.from([0x02, 0x00, 0x5e, 0x10, 0xfa, 0x01]);

/** Answers ARP for GW_IP and ICMP echo to GW_IP; records what the addon delivered. */
class Responder {
  arpRequests: { batchCount: number; spa: number; tpa: number }[] = [];
  echoRequests = 0;
  readonly out = Buffer.alloc(2048);
  readonly offsets = new Int32Array(1);
  readonly lens = new Int32Array(1);

  constructor(readonly tap: TapDevice) {}

  onFrames = (slab: Buffer, slot: number, lengths: Int32Array, count: number): void => {
    for (let i = 0; i < count; i++) {
      const off = i * slot;
      const len = lengths[i]!;
      if (len < 14) continue;
      const type = slab.readUInt16BE(off + 12);
      if (type === 0x0806 && len >= 42 && slab.readUInt16BE(off + 20) === 1) {
        const spa = slab.readUInt32BE(off + 28);
        const tpa = slab.readUInt32BE(off + 38);
        this.arpRequests.push({ batchCount: count, spa, tpa });
        if (tpa === GW_IP) this.arpReply(slab, off);
      } else if (type === 0x0800 && len >= 34) {
        const ihl = (slab[off + 14]! & 0x0f) * 4;
        if (slab[off + 23] === 1 && slab.readUInt32BE(off + 30) === GW_IP && len >= 14 + ihl + 8 && slab[off + 14 + ihl] === 8) {
          this.echoRequests++;
          this.echoReply(slab, off, len, ihl);
        }
      }
    }
  };

  /** ARP reply (RFC 826): GW_IP is at GW_MAC. Sent with write(). */
  arpReply(req: Buffer, off: number): void {
    const o = this.out;
    req.copy(o, 0, off + 6, off + 12); // eth dst = requester
    GW_MAC.copy(o, 6);
    o.writeUInt16BE(0x0806, 12);
    o.writeUInt16BE(1, 14); // htype Ethernet
    o.writeUInt16BE(0x0800, 16); // ptype IPv4
    o[18] = 6;
    o[19] = 4;
    o.writeUInt16BE(2, 20); // op reply
    GW_MAC.copy(o, 22); // sha
    o.writeUInt32BE(GW_IP, 28); // spa
    req.copy(o, 32, off + 22, off + 32); // tha + tpa = requester's sha + spa
    expect(this.tap.write(o, 0, 42)).toBe(true);
  }

  /** ICMP echo reply (RFC 792): the request with addresses swapped. Sent with writeBatch(). */
  echoReply(req: Buffer, off: number, len: number, ihl: number): void {
    const o = this.out;
    req.copy(o, 0, off, off + len);
    req.copy(o, 0, off + 6, off + 12);
    GW_MAC.copy(o, 6);
    o.writeUInt32BE(GW_IP, 26);
    o.writeUInt32BE(req.readUInt32BE(off + 26), 30);
    o[22] = 64; // TTL
    o.writeUInt16BE(0, 24);
    o.writeUInt16BE(checksum(o, 14, ihl), 24);
    const icmp = 14 + ihl;
    const icmpLen = o.readUInt16BE(16) - ihl;
    o[icmp] = 0; // echo reply
    o.writeUInt16BE(0, icmp + 2);
    o.writeUInt16BE(checksum(o, icmp, icmpLen), icmp + 2);
    this.offsets[0] = 0;
    this.lens[0] = 14 + ihl + icmpLen;
    expect(this.tap.writeBatch(o, this.offsets, this.lens, 1)).toBe(1);
  }
}

/**
 * Runs the addon in a child Node; resolves with its exit code, or 'alive' if still running
 * after `ms`. `dropTo`: the child loads the addon as root, then becomes that user and group
 * (no supplementary groups; setuid from root clears every capability) before `body` runs, so
 * it needs no access to the clone's path, which may sit under a 0700 directory (/root/...).
 */
function childExit(body: string, ms: number, dropTo?: { uid: number; gid: number }): Promise<{ code: number | 'alive'; out: string }> {
  const drop = dropTo === undefined ? '' : `process.setgroups([]); process.setgid(${dropTo.gid}); process.setuid(${dropTo.uid}); `;
  const script = `const a = require(${JSON.stringify(defaultAddonPath)}); ${drop}${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // only the child we started
      resolve({ code: 'alive', out });
    }, ms);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out }); });
  });
}

describeE2E('TAP device through the native addon', ['root', 'tun', 'netns', 'ping'], () => {
  const ns = uniq('pwtap');
  const opened: TapDevice[] = [];
  const open = (name: string): TapDevice => {
    const t = TapDevice.open(name);
    opened.push(t);
    return t;
  };

  let tap: TapDevice;
  let r: Responder;

  beforeAll(async () => {
    await ipx.netnsAdd(ns);
    tap = open(uniq('pwt'));
    r = new Responder(tap);
    tap.onFrames(r.onFrames);
    await ipx.moveLinkToNetns(tap.name, ns);
    await ipx.renameLink(tap.name, 'eth0', ns);
    await ipx.addAddress('eth0', '10.250.0.2/24', ns);
    await ipx.setLinkUp('eth0', ns);
  });

  afterAll(async () => {
    for (const t of opened) t.close(); // a non-persistent TAP disappears with its last fd
    await ipx.netnsDelete(ns).catch(() => undefined);
    expect(await ipx.netnsList()).not.toContain(ns);
    const left = (await ipx.listTunLinks()).filter((l) => opened.some((t) => t.name === l.name));
    expect(left).toEqual([]);
  });

  it('reads the kernel ARP request in a batch and answers ping from JS (ARP reply + ICMP echo reply)', async () => {
    const links = await ipx.listTunLinks(ns);
    expect(links.map((l) => [l.name, l.type, l.up])).toEqual([['eth0', 'tap', true]]);

    const { stdout } = await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', '10.250.0.1']);
    expect(stdout).toMatch(/1 received/);
    const arp = r.arpRequests.find((a) => a.tpa === GW_IP);
    expect(arp).toBeDefined();
    expect(arp!.spa).toBe(POD_IP);
    expect(arp!.batchCount).toBeGreaterThanOrEqual(1);
    expect(r.echoRequests).toBe(1);
    expect(tap.rxBatches).toBeGreaterThanOrEqual(1);
    expect(tap.rxFrames).toBeGreaterThanOrEqual(2);
    expect(tap.txFrames).toBe(2);
    expect(tap.txDrops + tap.txErrors + tap.rxErrors).toBe(0);
  });

  it('writeBatch puts every frame into the namespace; a runt frame is counted as a tx error, not thrown', async () => {
    const before = await ipx.linkStats('eth0', ns);
    const txBefore = tap.txFrames;
    // Three gratuitous ARP replies (GW_IP is at GW_MAC), 42 bytes each, at offsets 0, 64, 128.
    const slab = Buffer.alloc(192);
    for (let i = 0; i < 3; i++) {
      const o = i * 64;
      slab.fill(0xff, o, o + 6);
      GW_MAC.copy(slab, o + 6);
      slab.writeUInt16BE(0x0806, o + 12);
      slab.writeUInt32BE(0x00010800, o + 14);
      slab.writeUInt32BE(0x06040002, o + 18);
      GW_MAC.copy(slab, o + 22);
      slab.writeUInt32BE(GW_IP, o + 28);
      slab.fill(0xff, o + 32, o + 38);
      slab.writeUInt32BE(GW_IP, o + 38);
    }
    expect(tap.writeBatch(slab, Int32Array.of(0, 64, 128), Int32Array.of(42, 42, 42), 3)).toBe(3);
    const after = await ipx.linkStats('eth0', ns);
    expect(after.rxPackets - before.rxPackets).toBe(3);
    expect(tap.txFrames - txBefore).toBe(3);

    expect(tap.write(slab, 0, 10)).toBe(false); // shorter than an Ethernet header: EINVAL
    expect(tap.txErrors).toBe(1);
    expect(tap.counters[TapCounter.LastTxErrno]).toBe(22); // EINVAL
  });

  /** An ARP request from the "gateway" (GW_IP at GW_MAC) for the pod's address: the kernel answers it inside write(). */
  const arpRequest = (): Buffer => {
    const o = Buffer.alloc(42);
    o.fill(0xff, 0, 6);
    GW_MAC.copy(o, 6);
    o.writeUInt16BE(0x0806, 12);
    o.writeUInt32BE(0x00010800, 14);
    o.writeUInt32BE(0x06040001, 18); // hlen 6, plen 4, op request
    GW_MAC.copy(o, 22);
    o.writeUInt32BE(GW_IP, 28);
    o.writeUInt32BE(POD_IP, 38);
    return o;
  };
  const isArpReplyFromPod = (slab: Buffer, off: number, len: number): boolean =>
    len >= 42 && slab.readUInt16BE(off + 12) === 0x0806 && slab.readUInt16BE(off + 20) === 2 && slab.readUInt32BE(off + 28) === POD_IP;

  it('reads a TAP written during a wake-up again before the event loop goes on: the kernel\'s answer comes in the same turn', async () => {
    const req = arpRequest();
    const replies: { immediateRan: boolean; batches: number }[] = [];
    let immediateRan = false;
    const rx0 = tap.rxFrames;
    const tx0 = tap.txFrames;
    try {
      await new Promise<void>((resolve) => {
        tap.onFrames((slab, slot, lengths, count) => {
          for (let i = 0; i < count; i++) {
            if (!isArpReplyFromPod(slab, i * slot, lengths[i]!)) continue;
            replies.push({ immediateRan, batches: tap.rxBatches });
            if (replies.length === 1) {
              // Written inside the callback: the answer is queued on the TAP before write()
              // returns, and read before libuv runs this immediate (check phase) or polls again.
              setImmediate(() => { immediateRan = true; });
              expect(tap.write(req, 0, 42)).toBe(true);
            } else resolve();
          }
        });
        expect(tap.write(req, 0, 42)).toBe(true); // outside a wake-up: the answer wakes the poll
      });
    } finally {
      tap.onFrames(r.onFrames);
    }
    expect(replies).toHaveLength(2);
    expect(replies[1]!.immediateRan).toBe(false);
    expect(replies[1]!.batches).toBe(replies[0]!.batches + 1); // one batch each: nothing delivered twice
    expect(tap.txFrames - tx0).toBe(2);
    expect(tap.rxFrames - rx0).toBeGreaterThanOrEqual(2);
    expect(tap.rxErrors).toBe(0);
  });

  it('the latency probe records every wake-up with frames while on, nothing once off', async () => {
    const addon = loadTapAddon();
    const HDR = 4;
    const REC = 13;
    const probe = new Float64Array(HDR + REC * 64);
    const req = arpRequest();
    const answered = (): Promise<void> => new Promise<void>((resolve) => {
      tap.onFrames((slab, slot, lengths, count) => {
        for (let i = 0; i < count; i++) if (isArpReplyFromPod(slab, i * slot, lengths[i]!)) resolve();
      });
      expect(tap.write(req, 0, 42)).toBe(true);
    });
    try {
      addon.setLatencyProbe!(probe);
      expect(probe[1]).toBe(64); // capacity in records
      const before = process.hrtime.bigint();
      await answered();
      // The promise resolves in the callback's microtask checkpoint, before the addon closes
      // the record: switch the probe off only once that wake-up has returned to libuv.
      await new Promise<void>((resolve) => setImmediate(resolve));
      addon.setLatencyProbe!(null);
      const n = probe[0]!;
      expect(n).toBeGreaterThanOrEqual(1);
      const rec = probe.subarray(HDR, HDR + REC);
      expect(rec[0]).toBe(tap.fd);
      expect(rec[1]!).toBeGreaterThanOrEqual(Number(before) - 1e6); // wake, CLOCK_MONOTONIC ns like hrtime
      expect(rec[2]!).toBeGreaterThanOrEqual(rec[1]!); // read done
      expect(rec[8]!).toBeGreaterThanOrEqual(rec[2]!); // callback returned
      expect(rec[9]!).toBeGreaterThanOrEqual(1); // frames
      await answered();
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(probe[0]).toBe(n); // off: nothing recorded
    } finally {
      addon.setLatencyProbe!(null);
      tap.onFrames(r.onFrames);
    }
  });

  it('rejects bad names with an Error naming the errno and the device', () => {
    const long = 'pw'.repeat(10);
    expect(() => open(long)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG', device: long }));
    expect(() => open(long)).toThrow(new RegExp(`TAP device ${long} failed: ENAMETOOLONG`));
    expect(() => open('pw/bad')).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ioctl TUNSETIFF' }));
    expect(() => open('pw/bad')).toThrow(/EINVAL.*pw\/bad|pw\/bad.*EINVAL/);
    const t = open(uniq('pwb'));
    expect(() => open(t.name)).toThrow(expect.objectContaining({ code: 'EBUSY', device: t.name }));
    t.close();
  });

  it('close is idempotent, removes the device and stops reading', async () => {
    const t = open(`${uniq('pwc').slice(0, 12)}%d`);
    expect(t.name).toMatch(/\d$/); // the kernel resolved %d
    t.onFrames(() => undefined);
    expect((await ipx.listTunLinks()).map((l) => l.name)).toContain(t.name);
    t.close();
    t.close();
    expect(t.closed).toBe(true);
    expect(t.fd).toBe(-1);
    expect(t.reading).toBe(false);
    expect(t.write(Buffer.alloc(60), 0, 60)).toBe(false);
    expect(() => t.onFrames(() => undefined)).toThrow(/after close \(EBADF\)/);
    expect((await ipx.listTunLinks()).map((l) => l.name)).not.toContain(t.name);
  });

  it('a device deleted underneath reports one error (code, device) to onError and stops reading', async () => {
    const t = open(uniq('pwd'));
    const errors: (Error & { code?: string; device?: string })[] = [];
    t.onError((e) => errors.push(e));
    t.onFrames(() => undefined);
    await ipx.deleteLink(t.name);
    for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EBADF', device: t.name });
    expect(errors[0]!.message).toContain(`TAP device ${t.name}`);
    expect(t.reading).toBe(false);
    expect(t.rxErrors).toBe(1);
    t.close();
  });

  it('a reading TAP keeps a process alive; close() or unref lets it exit', async () => {
    const start = "const t = a.open('', false, 0, 0, new Float64Array(8)); "
      + 'a.readStart(t.handle, Buffer.alloc(2048), 2048, new Int32Array(1), 1, () => {});';
    expect((await childExit(start, 1500)).code).toBe('alive');
    expect((await childExit(`${start} setTimeout(() => { a.close(t.handle); a.close(t.handle); }, 100);`, 5000)).code).toBe(0);
    expect((await childExit(`${start} a.setRef(t.handle, false);`, 5000)).code).toBe(0);
  });

  it('tells an unprivileged user that a TAP needs root or CAP_NET_ADMIN', async () => {
    const body = "const id = [process.getuid(), process.geteuid(), process.getgid()]; "
      + "try { a.open('pwnoperm0', false, 0, 0, new Float64Array(8)); console.log('opened'); } "
      + 'catch (e) { console.log(JSON.stringify({ id, code: e.code, message: e.message })); }';
    const { code, out } = await childExit(body, 5000, { uid: 65534, gid: 65534 });
    expect(code).toBe(0);
    const err = JSON.parse(out) as { id: number[]; code: string; message: string };
    expect(err.id).toEqual([65534, 65534, 65534]); // nobody when the TAP is opened
    expect(['EPERM', 'EACCES']).toContain(err.code);
    expect(err.message).toContain('opening TAP device pwnoperm0 needs root or CAP_NET_ADMIN');
  });
});
