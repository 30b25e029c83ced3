import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TapAddonError } from './tap.js';
import { UdpCounter, UdpSocket, loadUdpAddon } from './udp-socket.js';

const LOOPBACK = 0x7f000001;
const addonOk = ((): boolean => {
  try { loadUdpAddon(); return true; } catch { return process.env['PODWIRE_E2E'] === 'require'; }
})();

/** The `drops` column of /proc/net/udp for the socket bound at 127.0.0.1:port (the kernel's own count). */
function procUdpDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const line = readFileSync('/proc/net/udp', 'utf8').split('\n').find((l) => l.trim().split(/\s+/)[1] === local);
  if (line === undefined) throw new Error(`no /proc/net/udp line for ${local}`);
  return Number(line.trim().split(/\s+/).at(-1));
}

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
};

describe('UdpSocket options (checked before the addon is touched)', () => {
  it('rejects bad sizes naming the address and value; a missing addon is a TapAddonError', () => {
    const addonPath = '/nonexistent/podwire_tap.node';
    expect(() => UdpSocket.open('127.0.0.1', 0, { addonPath, batchSize: 0 })).toThrow(/UDP socket 127\.0\.0\.1:0: batchSize .* got 0/);
    expect(() => UdpSocket.open('127.0.0.1', 70000, { addonPath })).toThrow(/port .* got 70000/);
    expect(() => UdpSocket.open('127.0.0.1', 0, { addonPath })).toThrow(TapAddonError);
  });
});

describe.skipIf(!addonOk)('UdpSocket (native recvmmsg)', () => {
  const open: (UdpSocket | Socket)[] = [];
  const track = <T extends UdpSocket | Socket>(s: T): T => { open.push(s); return s; };
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  it('binds (port 0: the kernel chooses) and reports the receive buffer the kernel granted', () => {
    const s = track(UdpSocket.open('127.0.0.1', 0));
    expect(s.port).toBeGreaterThan(0);
    expect(s.address).toBe(`127.0.0.1:${s.port}`);
    expect(s.rcvbufRequested).toBe(8 << 20);
    // The kernel doubles the request (socket(7)); without CAP_NET_ADMIN it is capped by rmem_max.
    if (process.getuid?.() === 0) {
      expect(s.rcvbufForced).toBe(true);
      expect(s.rcvbuf).toBe(16 << 20);
    } else expect(s.rcvbuf).toBeGreaterThan(0);
    expect(s.stats()).toMatchObject({ kernelDrops: 0, rcvbuf: s.rcvbuf, rxDatagrams: 0 });
  });

  it('names the address and the errno when the port is taken', () => {
    const a = track(UdpSocket.open('127.0.0.1', 0));
    let err: unknown;
    try { track(UdpSocket.open('127.0.0.1', a.port)); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    expect(String((err as Error).message)).toContain(`UDP socket 127.0.0.1:${a.port}: bind failed: EADDRINUSE`);
  });

  it('reads the datagrams queued while it was not reading in one batch, with each sender', async () => {
    const s = track(UdpSocket.open('127.0.0.1', 0));
    const tx = track(UdpSocket.open('127.0.0.1', 0));
    const payload = Buffer.alloc(100);
    for (let i = 0; i < 10; i++) {
      payload.fill(i);
      expect(tx.send(payload, 0, 10 + i, LOOPBACK, s.port)).toBe(true);
    }
    const batches: number[] = [];
    const got: string[] = [];
    s.onDatagrams((slab, slot, lengths, addrs, count) => {
      batches.push(count);
      for (let i = 0; i < count; i++) {
        const at = i * slot;
        got.push(`${addrs[2 * i]!.toString(16)}:${addrs[2 * i + 1]} ${lengths[i]} ${slab[at]}-${slab[at + lengths[i]! - 1]}`);
      }
    });
    await until(() => got.length === 10, '10 datagrams');
    expect(batches).toEqual([10]); // all ten were queued: one recvmmsg
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `7f000001:${tx.port} ${10 + i} ${i}-${i}`));
    expect(s.counters[UdpCounter.RxDatagrams]).toBe(10);
    expect(s.counters[UdpCounter.RxBatches]).toBe(1);
    expect(s.counters[UdpCounter.RxBytes]).toBe(145);
    expect(tx.counters[UdpCounter.TxDatagrams]).toBe(10);
  });

  it('counts the datagrams the kernel dropped at a full receive buffer, as /proc/net/udp does', async () => {
    // A tiny buffer (the kernel's minimum) and nobody reading: most of 200 datagrams are dropped.
    const s = track(UdpSocket.open('127.0.0.1', 0, { rcvbuf: 1, batchSize: 256 }));
    expect(s.rcvbufForced).toBe(process.getuid?.() === 0);
    const tx = track(UdpSocket.open('127.0.0.1', 0));
    const payload = Buffer.alloc(1000, 0xab);
    for (let i = 0; i < 200; i++) tx.send(payload, 0, payload.length, LOOPBACK, s.port);
    const drops = s.kernelDrops();
    expect(drops).toBeGreaterThan(100);
    expect(drops).toBe(procUdpDrops(s.port));
    let received = 0;
    s.onDatagrams((_slab, _slot, _lengths, _addrs, count) => { received += count; });
    await until(() => received + drops === 200, 'the datagrams that were queued');
    expect(s.counters[UdpCounter.KernelDrops]).toBe(drops); // the last value read
    expect(s.stats()).toMatchObject({ kernelDrops: drops, rxDatagrams: received });
  });

  it('reports a datagram longer than a slot with its real length (cut to the slot)', async () => {
    const s = track(UdpSocket.open('127.0.0.1', 0, { slotSize: 64 }));
    const tx = track(UdpSocket.open('127.0.0.1', 0));
    let len = -1;
    s.onDatagrams((_slab, _slot, lengths) => { len = lengths[0]!; });
    tx.send(Buffer.alloc(300), 0, 300, LOOPBACK, s.port);
    await until(() => len >= 0, 'the datagram');
    expect(len).toBe(300);
    expect(s.counters[UdpCounter.RxTruncated]).toBe(1);
  });

  it('sends one datagram (sendto) and a batch (sendmmsg) to a dgram socket', async () => {
    const rx = track(createSocket('udp4'));
    const got: string[] = [];
    rx.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const port = rx.address().port;
    const s = track(UdpSocket.open('127.0.0.1', 0));
    expect(s.send(Buffer.from('xxone'), 2, 3, LOOPBACK, port)).toBe(true);
    const slab = Buffer.from('twothree');
    const addrs = new Uint32Array([LOOPBACK, port, LOOPBACK, port]);
    expect(s.sendBatch(slab, new Int32Array([0, 3]), new Int32Array([3, 5]), addrs, 2)).toBe(2);
    await until(() => got.length === 3, '3 datagrams');
    expect(got).toEqual(['one', 'two', 'three']);
    expect(s.stats()).toMatchObject({ txDatagrams: 3, txBytes: 11, txDrops: 0, txErrors: 0 });
  });

  it('drops sends after close instead of throwing', () => {
    const s = UdpSocket.open('127.0.0.1', 0);
    s.close();
    s.close();
    expect(s.send(Buffer.alloc(4), 0, 4, LOOPBACK, 9)).toBe(false);
    expect(s.counters[UdpCounter.TxDrops]).toBe(1);
    expect(() => s.onDatagrams(() => undefined)).toThrow(/after close/);
  });
});
