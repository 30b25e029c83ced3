/**
 * The VXLAN socket (src/io/vxlan-socket.ts, native backend) on loopback: datagrams/s from
 * one VxlanSocket to another, the sender batching its sends (one sendmmsg per 64) against
 * the same sender with `txBatch: 1` (one sendto per datagram, the behaviour before
 * batching), measured alternately in the same run.
 *
 *   vxlan-socket.sendmmsg         kdatagrams/s delivered, batched sends
 *   vxlan-socket.sendto           kdatagrams/s delivered, one sendto per datagram
 *   vxlan-socket.sendmmsg/sendto  median of the per-round ratios
 *
 * Driving: bursts of 256 datagrams of 1400 bytes (a VXLAN-encapsulated full-size frame of
 * a 1500-byte underlay is 1458) handed to `send` in one event-loop turn, then the next
 * burst on the next turn (setImmediate) while the receiver reads with recvmmsg (up to 16
 * calls of 64 per wake-up; with one call per wake-up such bursts overflowed its buffer); a run ends
 * when every datagram has arrived or been counted as dropped by the kernel at the receiver
 * (`detail.kernelDropsAtReceiver`, expected 0).
 * Both sockets live in this thread, so a figure is the cost of sending and receiving.
 */
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

export const NAMES = ['vxlan-socket.sendmmsg', 'vxlan-socket.sendto', 'vxlan-socket.sendmmsg/sendto'];
/** Four send batches per turn: the receiver reads up to 16 recvmmsg batches of 64 per wake-up. */
const BURST = 256;
const SIZE = 1400;

export async function benchmarks({ quick }) {
  let mod;
  let addr;
  try {
    [mod, addr] = await Promise.all([load('io/vxlan-socket.js'), load('wire/addr.js')]);
    (await load('io/udp-socket.js')).loadUdpAddon();
  } catch (e) {
    const reason = `cannot load the native VXLAN socket (${String(e?.message ?? e).split('\n')[0]})`;
    return NAMES.map((name) => ({ skip: name, reason }));
  }
  const runs = quick ? 3 : 7;
  const total = quick ? 20_000 : 100_000;
  return [{
    multi: NAMES,
    async compute(progress) {
      const rates = { 64: [], 1: [] };
      let drops = 0;
      for (let r = 0; r < runs; r++) {
        for (const txBatch of [64, 1]) {
          progress(`vxlan-socket: run ${r + 1}/${runs}, txBatch ${txBatch}`);
          const res = await oneRun(mod, addr, txBatch, total);
          rates[txBatch].push(res.rate / 1e3);
          drops += res.drops;
        }
      }
      const ratio = rates[64].map((x, i) => x / rates[1][i]);
      const detail = { datagrams: total, bytes: SIZE, burst: BURST, kernelDropsAtReceiver: drops };
      return [
        { name: 'vxlan-socket.sendmmsg', unit: 'kdatagrams/s', runs: rates[64], detail },
        { name: 'vxlan-socket.sendto', unit: 'kdatagrams/s', runs: rates[1], detail },
        { name: 'vxlan-socket.sendmmsg/sendto', unit: 'x', runs: ratio },
      ];
    },
  }];
}

let nextPort = 30000 + Math.floor(Math.random() * 20000);

async function oneRun(mod, addr, txBatch, total) {
  const host = '127.0.0.1';
  const bPort = nextPort++;
  let got = 0;
  let done = () => undefined;
  const finished = new Promise((resolve) => { done = resolve; });
  const bIp = addr.parseIpv4('192.0.2.2');
  const b = new mod.VxlanSocket({ bind: `${host}:${bPort}`, peers: new Map(), onDatagram: () => { got++; }, onBatch: () => { if (got >= total) done(); } });
  await b.ready;
  const a = new mod.VxlanSocket({ bind: `${host}:${nextPort++}`, peers: new Map([[bIp, b.address()]]), onDatagram: () => undefined }, { txBatch });
  await a.ready;
  const payload = Buffer.alloc(SIZE, 0x5a);
  const t0 = process.hrtime.bigint();
  let sent = 0;
  await new Promise((resolve) => {
    const burst = () => {
      for (let i = 0; i < BURST && sent < total; i++, sent++) a.send(payload, 0, SIZE, bIp);
      if (sent < total) setImmediate(burst);
      else resolve();
    };
    burst();
  });
  // Every datagram arrives or is counted as dropped at the receiver (checked as it reads).
  let drops = 0;
  while (got < total) {
    const timeout = new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.race([finished, timeout]);
    drops = b.stats().kernelDrops;
    if (got + drops + a.stats().txDrops >= total) break;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  a.close();
  b.close();
  return { rate: got / s, drops };
}
