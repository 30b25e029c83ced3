import { rmSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { VxlanTransportOptions } from '../net/vxlan-tunnel.js';
import { parseIpv4 } from '../wire/addr.js';
import { loadUdpAddon, UdpSocket } from './udp-socket.js';
import { VxlanSocket, procUdpDrops, type VxlanSocketBackend } from './vxlan-socket.js';

const addonOk = ((): boolean => {
  try { loadUdpAddon(); return true; } catch { return process.env['PODWIRE_E2E'] === 'require'; }
})();

/** A loopback address of its own per test run (127.0.0.0/8 is all loopback), so parallel runs never collide. */
const host = `127.${77 + (process.pid % 100)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
let nextPort = 20000 + Math.floor(Math.random() * 20000);

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
};

interface Pair { a: VxlanSocket; b: VxlanSocket; got: string[]; batches: number[]; aIp: number; bIp: number }

describe.skipIf(!addonOk)('VxlanSocket', () => {
  const open: VxlanSocket[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  /** Two VTEP sockets that know each other; b records what it receives and each onBatch. */
  async function pair(backend: VxlanSocketBackend, bRcvbuf?: number, aTxBatch?: number): Promise<Pair> {
    const aPort = nextPort++;
    const bPort = nextPort++;
    // VTEP IPs (as the tunnel names peers) map to the sockets' addresses.
    const aIp = parseIpv4('192.0.2.1');
    const bIp = parseIpv4('192.0.2.2');
    const got: string[] = [];
    const batches: number[] = [];
    let inBatch = 0;
    const base = (bind: string, peer: number, peerAddr: string): VxlanTransportOptions => ({ bind, peers: new Map([[peer, peerAddr]]), onDatagram: () => undefined });
    const a = new VxlanSocket(base(`${host}:${aPort}`, bIp, `${host}:${bPort}`),
      { backend: 'native', ...(aTxBatch !== undefined ? { txBatch: aTxBatch } : {}) });
    const b = new VxlanSocket({
      ...base(`${host}:${bPort}`, aIp, `${host}:${aPort}`),
      onDatagram: (buf, off, len, from) => {
        inBatch++;
        got.push(`${from === parseIpv4(host) ? 'a' : from} ${Buffer.from(buf.subarray(off, off + len)).toString()}`);
      },
      onBatch: () => { batches.push(inBatch); inBatch = 0; },
    }, { backend, ...(bRcvbuf !== undefined ? { rcvbuf: bRcvbuf } : {}) });
    open.push(a, b);
    await Promise.all([a.ready, b.ready]);
    return { a, b, got, batches, aIp, bIp };
  }

  for (const backend of ['native', 'dgram'] as const) {
    it(`${backend}: carries datagrams to the peer's socket, onBatch after each batch, counts in stats()`, async () => {
      const { a, b, got, batches, bIp } = await pair(backend);
      expect(b.backend).toBe(backend);
      expect(a.send(Buffer.from('xxhello'), 2, 5, bIp)).toBe(true);
      expect(a.send(Buffer.from('world'), 0, 5, bIp)).toBe(true);
      expect(a.send(Buffer.from('nobody'), 0, 6, 0x01020304)).toBe(false); // no such peer
      await until(() => got.length === 2, 'two datagrams');
      expect(got).toEqual(['a hello', 'a world']);
      expect(batches.reduce((x, y) => x + y, 0)).toBe(2);
      expect(batches.every((n) => n > 0)).toBe(true);
      expect(a.stats()).toMatchObject({ backend: 'native', txDatagrams: 2, noPeer: 1 });
      const st = b.stats();
      expect(st).toMatchObject({ backend, bind: b.address(), rxDatagrams: 2, kernelDrops: 0, rcvbufRequested: 8 << 20 });
      // The kernel doubles the request; without SO_RCVBUFFORCE (dgram, or not root) net.core.rmem_max caps it.
      if (backend === 'native' && process.getuid?.() === 0) expect(st).toMatchObject({ rcvbuf: 16 << 20, rcvbufForced: true });
      else expect(st.rcvbuf).toBeGreaterThan(0);
    });

    it(`${backend}: reports the datagrams the kernel dropped at a full receive buffer (as /proc/net/udp)`, async () => {
      // The smallest buffer the kernel allows, and a burst sent while the event loop is busy here.
      const { a, b, got, bIp } = await pair(backend, 1);
      const payload = Buffer.alloc(1400, 0x61);
      for (let i = 0; i < 300; i++) a.send(payload, 0, payload.length, bIp);
      const [h, p] = b.address().split(':');
      await until(() => got.length + procUdpDrops(h!, Number(p)) === 300, 'every datagram received or dropped');
      const st = b.stats();
      expect(st.kernelDrops).toBeGreaterThan(0);
      expect(st.kernelDrops).toBe(procUdpDrops(h!, Number(p)));
      expect(st.kernelDrops + st.rxDatagrams).toBe(300);
    });
  }

  it('native: a burst sent in one turn goes out in sendmmsg batches of 64 and arrives complete and in order', async () => {
    const { a, b, got, bIp } = await pair('native');
    const N = 1000;
    const buf = Buffer.alloc(64);
    for (let i = 0; i < N; i++) {
      const len = buf.write(`#${i}`, 5);
      expect(a.send(buf, 5, len, bIp)).toBe(true); // copied: the next write may reuse buf at once
    }
    // 15 full batches went out as they filled; the last 40 wait for the end of this turn.
    expect(a.txBatches).toBe(Math.floor(N / 64));
    expect(a.sent).toBe(Math.floor(N / 64) * 64);
    await until(() => got.length === N, `${N} datagrams`);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `a #${i}`));
    expect(a.stats()).toMatchObject({ txDatagrams: N, txBatches: Math.ceil(N / 64), txDrops: 0, txErrors: 0 });
    expect(b.stats()).toMatchObject({ rxDatagrams: N, kernelDrops: 0 });
  });

  it('native: a sustained sender (bursts of 256 per event-loop turn, 20,000 datagrams) loses nothing at the receiver, which reads up to 16 recvmmsg batches per wake-up', async () => {
    // With one batch of 64 per wake-up the receive buffer (16 MiB) overflowed here: about 8,500 of 20,000 dropped.
    const { a, b, got, bIp } = await pair('native');
    const N = 20_000;
    const BURST = 256;
    const payload = Buffer.alloc(1400, 0x62);
    const [h, p] = b.address().split(':');
    for (let i = 0; i < N; i += BURST) {
      for (let k = i; k < Math.min(N, i + BURST); k++) {
        const len = payload.write(`#${k} `, 0);
        expect(a.send(payload, 0, Math.max(len, 1400), bIp)).toBe(true);
      }
      await new Promise((r) => setImmediate(r));
    }
    await until(() => got.length + procUdpDrops(h!, Number(p)) === N, 'every datagram received or dropped');
    expect(b.stats()).toMatchObject({ rxDatagrams: N, kernelDrops: 0 });
    expect(got.slice(0, 3).map((g) => g.slice(0, 5))).toEqual(['a #0 ', 'a #1 ', 'a #2 ']);
  });

  it('native: datagrams still queued when the socket closes in the same turn are sent first', async () => {
    const { a, got, bIp } = await pair('native');
    for (const w of ['one', 'two', 'three']) expect(a.send(Buffer.from(w), 0, w.length, bIp)).toBe(true);
    expect(a.sent).toBe(0); // queued
    a.close();
    expect(a.stats()).toMatchObject({ txDatagrams: 3, txBatches: 1, txDrops: 0 });
    await until(() => got.length === 3, 'three datagrams');
    expect(got).toEqual(['a one', 'a two', 'a three']);
  });

  it('native: a datagram longer than UDP allows is refused at once (sendto, EMSGSIZE) and the queue around it still goes, in order', async () => {
    const { a, got, bIp } = await pair('native');
    const huge = Buffer.alloc(65508); // 65535 - 20 - 8 + 1
    expect(a.send(Buffer.from('one'), 0, 3, bIp)).toBe(true);
    expect(a.send(huge, 0, huge.length, bIp)).toBe(false); // the tunnel counts transport-error, as before batching
    expect(a.send(Buffer.from('two'), 0, 3, bIp)).toBe(true);
    await until(() => got.length === 2, 'two datagrams');
    expect(got).toEqual(['a one', 'a two']);
    // 'one' flushed before the sendto of the long one, 'two' at the end of the turn.
    expect(a.stats()).toMatchObject({ txDatagrams: 2, txErrors: 1, txDrops: 0, txBatches: 3 });
  });

  it('native: jumbo datagrams that fill the 128 KiB send slab flush it early, intact and in order', async () => {
    const rx = UdpSocket.open(host, nextPort++, { slotSize: 9216 });
    const seen: string[] = [];
    rx.onDatagrams((slab, slot, lengths, _addrs, count) => {
      for (let i = 0; i < count; i++) {
        const d = slab.subarray(i * slot, i * slot + lengths[i]!);
        seen.push(`${d.length} ${d.subarray(0, 4).toString()} ${d.every((x, j) => j < 4 || x === (d[0]! & 0xff)) ? 'ok' : 'bad'}`);
      }
    });
    const vtep = parseIpv4('192.0.2.9');
    const a = new VxlanSocket({ bind: `${host}:${nextPort++}`, peers: new Map([[vtep, rx.address]]), onDatagram: () => undefined });
    open.push(a);
    try {
      await a.ready;
      const jumbo = Buffer.alloc(9000);
      for (let i = 0; i < 20; i++) {
        jumbo.fill(0x41 + i);
        jumbo.write(String(i).padStart(4, '0').replace(/^0/, String.fromCharCode(0x41 + i)), 0, 'latin1');
        a.send(jumbo, 0, jumbo.length, vtep);
      }
      // 14 datagrams of 9000 bytes fit in 131072: the 15th flushes them; the last 6 go at the end of the turn.
      expect(a.txBatches).toBe(1);
      await until(() => seen.length === 20, '20 jumbo datagrams');
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `9000 ${String.fromCharCode(0x41 + i)}${String(i).padStart(4, '0').slice(1)} ok`));
      expect(a.stats()).toMatchObject({ txDatagrams: 20, txBatches: 2 });
    } finally {
      rx.close();
    }
  });

  it('native, txBatch 1: one sendto per datagram, as before batching', async () => {
    const { a, got, bIp } = await pair('native', undefined, 1);
    for (let i = 0; i < 100; i++) a.send(Buffer.from(`#${i}`), 0, String(i).length + 1, bIp);
    expect(a.stats()).toMatchObject({ txDatagrams: 100, txBatches: 100 });
    await until(() => got.length === 100, '100 datagrams');
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `a #${i}`));
    expect(() => new VxlanSocket({ bind: `${host}:${nextPort++}`, peers: new Map(), onDatagram: () => undefined }, { txBatch: 65 }))
      .toThrow(/txBatch must be an integer in \[1, 64\], got 65/);
  });

  it('rejects ready with the address and errno when the port is taken, on either backend', async () => {
    const port = nextPort++;
    const a = new VxlanSocket({ bind: `${host}:${port}`, peers: new Map(), onDatagram: () => undefined });
    open.push(a);
    await a.ready;
    for (const backend of ['native', 'dgram'] as const) {
      const b = new VxlanSocket({ bind: `${host}:${port}`, peers: new Map(), onDatagram: () => undefined }, { backend });
      open.push(b);
      await expect(b.ready).rejects.toThrow(new RegExp(`vtep\\.bind ${host.replace(/\./g, '\\.')}:${port}: .*EADDRINUSE`));
    }
  });

  it('falls back to dgram when the addon is missing (auto), and says so in stats()', async () => {
    const s = new VxlanSocket({ bind: `${host}:${nextPort++}`, peers: new Map(), onDatagram: () => undefined },
      { addonPath: '/nonexistent/podwire_tap.node' });
    open.push(s);
    await s.ready;
    expect(s.backend).toBe('dgram');
    expect(s.stats()).toMatchObject({ backend: 'dgram', kernelDrops: 0 });
  });
});

describe('procUdpDrops', () => {
  it('reads the drops column of the line whose local address is host:port (little-endian hex), 0 when absent', () => {
    const file = `${process.env['TMPDIR'] ?? '/tmp'}/podwire-procudp-${process.pid}`;
    // The header and one line of a real /proc/net/udp: 192.168.77.1:8472, 345 drops.
    const text = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n'
      + '  117: 014DA8C0:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123 2 0000000000000000 345\n';
    writeFileSync(file, text);
    try {
      expect(procUdpDrops('192.168.77.1', 8472, file)).toBe(345);
      expect(procUdpDrops('192.168.77.1', 8473, file)).toBe(0);
    } finally {
      rmSync(file);
    }
  });
});
