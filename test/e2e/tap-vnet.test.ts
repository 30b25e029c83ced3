/**
 * The addon's newer capabilities against a real kernel: reads straight into caller-chosen
 * slots (`onFramesAt`, what TapPort uses to read into pool packets), and IFF_VNET_HDR with
 * TUNSETOFFLOAD: the frame behind a virtio_net_hdr whose NEEDS_CSUM the kernel set for a
 * UDP datagram (completed by tap-offload.ts to a checksum that verifies), and writes of
 * plain frames behind a zeroed header (TapWrite.ZeroVnetHdr) or raw with a header.
 * The namespace holds 10.250.0.2/24 with a static neighbour 10.250.0.1 (no ARP needed);
 * nothing is sent anywhere but into it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ipx from '../../src/io/netlink-ip.js';
import { TapDevice, TapWrite, TunOffload } from '../../src/io/tap.js';
import { completeChecksum, VnetFlag } from '../../src/io/tap-offload.js';
import { checksum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { describeE2E, uniq } from './prereq.js';

const GW_MAC = '02:00:5e:10:fa:01';
const SEND_UDP = `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x' * 100, ('10.250.0.1', 7777))`;

/** A gratuitous ARP reply frame (42 bytes) at buf[off]. */
function arp(buf: Buffer, off: number): void {
  buf.fill(0xff, off, off + 6);
  Buffer.from([2, 0, 0x5e, 0x10, 0xfa, 1]).copy(buf, off + 6);
  buf.writeUInt16BE(0x0806, off + 12);
  buf.writeUInt32BE(0x00010800, off + 14);
  buf.writeUInt32BE(0x06040002, off + 18);
  buf.copy(buf, off + 22, off + 6, off + 12);
  buf.writeUInt32BE(0x0afa0001, off + 28);
  buf.fill(0xff, off + 32, off + 38);
  buf.writeUInt32BE(0x0afa0001, off + 38);
}

async function nextFrames(t: { frames: number }, n: number): Promise<void> {
  for (let i = 0; i < 100 && t.frames < n; i++) await new Promise((r) => setTimeout(r, 20));
}

describeE2E('TAP addon: reads into slots, IFF_VNET_HDR offloads', ['root', 'tun', 'netns', 'python3'], () => {
  const nsPlain = uniq('pwtv');
  const nsVnet = uniq('pwtw');
  const opened: TapDevice[] = [];

  async function place(tap: TapDevice, ns: string): Promise<void> {
    await ipx.netnsAdd(ns);
    await ipx.moveLinkToNetns(tap.name, ns);
    await ipx.renameLink(tap.name, 'eth0', ns);
    await ipx.addAddress('eth0', '10.250.0.2/24', ns);
    await ipx.setLinkUp('eth0', ns);
    await ipx.ip(['neigh', 'replace', '10.250.0.1', 'lladdr', GW_MAC, 'dev', 'eth0', 'nud', 'permanent'], ns);
  }

  let plain: TapDevice;
  let vnet: TapDevice;
  beforeAll(async () => {
    plain = TapDevice.open(uniq('pwt'), { batchSize: 4 });
    opened.push(plain);
    vnet = TapDevice.open(uniq('pwt'), { vnetHdr: true, offloads: TunOffload.Csum | TunOffload.Tso4 | TunOffload.Tso6 });
    opened.push(vnet);
    await place(plain, nsPlain);
    await place(vnet, nsVnet);
  });

  afterAll(async () => {
    for (const t of opened) t.close();
    for (const ns of [nsPlain, nsVnet]) await ipx.netnsDelete(ns).catch(() => undefined);
    const left = (await ipx.listTunLinks()).filter((l) => opened.some((t) => t.name === l.name));
    expect(left).toEqual([]);
  });

  it('onFramesAt reads each frame into the slot its offset names, and the offsets are re-read per batch', async () => {
    const slab = Buffer.alloc(64 * 1024);
    const offsets = Int32Array.of(40_000, 1_000, 20_000, 9_000);
    const seen = { frames: 0, at: [] as number[] };
    plain.onFramesAt(slab, offsets, 2048, (s, maxLen, lengths, count) => {
      expect(s).toBe(slab);
      expect(maxLen).toBe(2048);
      for (let i = 0; i < count; i++) {
        const o = offsets[i]!;
        if (lengths[i]! >= 42 && s.readUInt16BE(o + 12) === 0x0800 && s[o + 23] === 17 && s.readUInt16BE(o + 36) === 7777) seen.at.push(o);
        offsets[i] = o + 7; // the next batch must land where JS now points
        seen.frames++;
      }
    });
    await ipx.run('ip', ['netns', 'exec', nsPlain, 'python3', '-c', SEND_UDP]);
    await nextFrames(seen, 1);
    await ipx.run('ip', ['netns', 'exec', nsPlain, 'python3', '-c', SEND_UDP]);
    await nextFrames(seen, 2);
    // Other frames (IPv6 neighbour discovery after link-up) may come first: each read moves slot 0 by 7.
    expect(seen.at.length).toBe(2);
    expect(seen.at[1]!).toBeGreaterThan(seen.at[0]!);
    for (const o of seen.at) expect((o - 40_000) % 7).toBe(0); // the datagram (port 7777) was found at that slot
  });

  it('with IFF_VNET_HDR a UDP datagram arrives behind a NEEDS_CSUM header; completing it gives a valid checksum', async () => {
    const got = { frames: 0, frame: Buffer.alloc(0) };
    vnet.onFrames((slab, slot, lengths, count) => {
      for (let i = 0; i < count; i++) {
        const o = i * slot;
        if (lengths[i]! > 10 + 34 && slab.readUInt16BE(o + 10 + 12) === 0x0800 && slab[o + 10 + 23] === 17) {
          got.frame = Buffer.from(slab.subarray(o, o + lengths[i]!));
          got.frames++;
        }
      }
    });
    await ipx.run('ip', ['netns', 'exec', nsVnet, 'python3', '-c', SEND_UDP]);
    await nextFrames(got, 1);
    const f = got.frame;
    expect(f[0]! & VnetFlag.NeedsCsum).toBe(VnetFlag.NeedsCsum);
    expect(f[1]).toBe(0); // no GSO
    expect([f.readUInt16LE(6), f.readUInt16LE(8)]).toEqual([34, 6]); // csum_start: UDP header; offset: its checksum
    const frame = f.subarray(10);
    expect(completeChecksum(frame, 0, frame.length, 34, 6)).toBe(true);
    const pseudo = pseudoHeaderSum(frame.readUInt32BE(26), frame.readUInt32BE(30), 17, frame.length - 34);
    expect(checksum(frame, 34, frame.length - 34, pseudo)).toBe(0);
  });

  it('writeBatch sends plain frames behind a zeroed header (ZeroVnetHdr) and raw frames with their own header', async () => {
    const before = await ipx.linkStats('eth0', nsVnet);
    const slab = Buffer.alloc(256);
    arp(slab, 0); // plain frame at 0
    arp(slab, 138); // raw: 10-byte zero header at 128, frame at 138
    expect(vnet.writeBatch(slab, Int32Array.of(0), Int32Array.of(42), 1, TapWrite.ZeroVnetHdr)).toBe(1);
    expect(vnet.writeBatch(slab, Int32Array.of(128), Int32Array.of(52), 1)).toBe(1);
    const after = await ipx.linkStats('eth0', nsVnet);
    expect(after.rxPackets - before.rxPackets).toBe(2);
    expect(vnet.txErrors).toBe(0);
  });
});
