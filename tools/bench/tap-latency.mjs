#!/usr/bin/env node
/**
 * Where a ping's time goes on podwire's same-node TAP path (root only; after `npm run build`).
 *
 * Sets up the podwire same-node path of tap.mjs (tap-paths.mjs), switches on the addon's
 * latency probe (native/tap.h: CLOCK_MONOTONIC timestamps per TAP wake-up, nothing when off)
 * and times, for every echo, both legs (request a -> b, reply b -> a):
 *
 *   wake      the frame left the pod's eth0 (kernel timestamp of an AF_PACKET socket in the
 *             pod namespace, SO_TIMESTAMPNS, read only after the pings: no wake-up per
 *             frame) -> podwire's on_readable ran (epoll_wait returned, libuv dispatched);
 *             on the reply leg this includes the end of the request leg's callback and the
 *             event loop's next round (the reply is queued on the other TAP inside the
 *             request's write(), see `write`)
 *   read      the read() loop (read until EAGAIN)
 *   napi-in   read done -> the JS callback entered (napi_make_callback, TapDevice)
 *   engine    JS entered -> TapPort.flush entered (TapPort.onSlots, the bridge, br_netfilter, ...)
 *   napi-out  flush entered -> the first write() began (writeBatch through N-API)
 *   write     the write() system call(s): the kernel delivers the frame into the other pod's
 *             stack inside it (and on the request leg, the pod's echo reply is generated and
 *             queued on its TAP before write() returns)
 *   tail      write returned -> the callback returned to the addon (JS unwinding, microtasks)
 *   to-write  wake -> write began: podwire's own wake-to-write latency
 *   rtt-k     request left a's eth0 -> reply reached a's eth0 (kernel timestamps), and
 *   ping      ping's own RTT for the echo.
 *
 * `napi-in` and `engine` are split by a JS hrtime taken in a wrapper of the callback, and
 * `engine`/`napi-out` by one in a wrapper of TapPort.flush (each adds ~0.1 us to the path);
 * `--no-js` leaves the JS untouched and reports napi-in + engine + napi-out as `js`.
 * Prints median and p90 in microseconds per stage and leg, and the JSON with `--json PATH`.
 *
 *   node tools/bench/tap-latency.mjs [--count 200] [--interval 0.01] [--rounds 1] [--warmup 20000] [--no-js] [--json PATH]
 *
 * `--warmup N`: N echoes of `ping -f` first (default 20000; 0: none), so that the figures
 * are those of optimised code, as after tap.mjs's flood and iperf3.
 *
 * `PODWIRE_TAP_NO_REREAD=1` in the environment switches off the addon's read-after-write
 * (native/tap_poll.c), for before/after figures in one sitting: the reply leg then waits for
 * the event loop's next round (`req.ret-to-rep-wake`).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, inNs, podwirePaths } from './tap-paths.mjs';

const HDR = 4;
const REC = 13;
const P = { FD: 0, WAKE: 1, READ: 2, JS: 3, FLUSH: 4, WB: 5, WRITE0: 6, WRITE1: 7, RET: 8, FRAMES: 9, WFD: 10, WRITES: 11, REREAD: 12 };
const addonPath = fileURLToPath(new URL('../../build/Release/podwire_tap.node', import.meta.url));

/**
 * A packet socket on eth0 of a namespace that keeps kernel timestamps of ICMP echo frames in
 * both directions; reads them only when told (stdin closed), so the pings never wake it.
 * Prints `dir type id seq realtime_ns` lines.
 */
const CAPTURE = `
import socket, struct, sys, time
def offset():
    return time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
ETH_P_ALL = 3
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: every frame of the run is kept until read
s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
s.bind(('eth0', 0))
print('ready', flush=True)
sys.stdin.read()
print('offset', offset())
s.setblocking(False)
while True:
    try:
        data, anc, flags, addr = s.recvmsg(2048, 64)
    except BlockingIOError:
        break
    if len(data) < 42 or data[12:14] != b'\\x08\\x00' or data[23] != 1:
        continue
    ihl = (data[14] & 15) * 4
    icmp = 14 + ihl
    t, _, _, ident, seq = struct.unpack('!BBHHH', data[icmp:icmp + 8])
    if t not in (0, 8):
        continue
    ts = 0
    for lvl, typ, val in anc:
        if lvl == socket.SOL_SOCKET and typ == 35:
            sec, nsec = struct.unpack('qq', val[:16])
            ts = sec * 1000000000 + nsec
    print('out' if addr[2] == socket.PACKET_OUTGOING else 'in', t, ident, seq, ts)
`;

function capture(ns) {
  const c = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', CAPTURE], { stdio: ['pipe', 'pipe', 'inherit'] });
  c.stdout.setEncoding('utf8');
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  const ready = new Promise((res, rej) => {
    const check = () => { if (out.includes('ready\n')) res(); else setTimeout(check, 10); };
    c.once('exit', (code) => rej(new Error(`capture in ${ns} exited (${code})`)));
    check();
  });
  const done = new Promise((res) => c.once('exit', () => res(out)));
  return { proc: c, ready, finish: () => { c.stdin.end(); return done; } };
}

const quantile = (xs, q) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  if (q === 0.5) { const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Echo frames seen on one eth0: Map seq -> { out, in } realtime ns, for echo type `t` out and `u` in. */
function parseCapture(text, outType, inType) {
  const m = new Map();
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length !== 5) continue;
    const [dir, type, , seq, ts] = f;
    const e = m.get(Number(seq)) ?? {};
    if (dir === 'out' && Number(type) === outType && e.out === undefined) e.out = Number(ts);
    if (dir === 'in' && Number(type) === inType && e.in === undefined) e.in = Number(ts);
    m.set(Number(seq), e);
  }
  return m;
}

export async function runTapLatency(opts, io = { out: (l) => console.log(l) }) {
  const count = opts.count ?? 200;
  const interval = opts.interval ?? 0.01;
  const js = opts.js ?? true;
  const warmup = opts.warmup ?? 20000;
  const addon = createRequire(import.meta.url)(addonPath);
  if (typeof addon.setLatencyProbe !== 'function') throw new Error(`${addonPath} has no setLatencyProbe: rebuild it (node native/build.mjs)`);
  const probe = new Float64Array(HDR + REC * (count * 4 + 64));
  const hr = () => Number(process.hrtime.bigint());
  const restore = [];
  if (js) {
    // Before anything attaches: TapDevice calls addon.readStart through this object.
    const readStart = addon.readStart;
    addon.readStart = (h, slab, slot, lens, batch, cb, offs) => readStart(h, slab, slot, lens, batch, (n, err) => {
      const r = probe[0];
      if (r < probe[1]) probe[HDR + r * REC + P.JS] = hr();
      return cb(n, err);
    }, offs);
    restore.push(() => { addon.readStart = readStart; });
    const { TapPort } = await import(new URL('../../dist/io/tap-port.js', import.meta.url).href);
    const flush = TapPort.prototype.flush;
    TapPort.prototype.flush = function (n) {
      const i = HDR + probe[0] * REC + P.FLUSH;
      if (probe[0] < probe[1] && probe[i] === 0) probe[i] = hr();
      return flush.call(this, n);
    };
    restore.push(() => { TapPort.prototype.flush = flush; });
  }
  const lab = new Lab();
  const onSignal = () => { lab.cleanup().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const [path] = await podwirePaths(lab, false);
    const cluster = path.cluster;
    const fdOf = {};
    for (const a of cluster.attached.values()) fdOf[a.pod] = a.port.device.fd;
    await inNs(path.a, 'ping', '-q', '-c', '3', '-i', '0.05', path.ip).catch(() => ''); // ARP, FDB
    // Warm-up: a flood ping, so the path's JavaScript is optimised (as in tap.mjs, where the
    // pings follow the flood and iperf3); without it the first few hundred echoes time
    // V8's interpreter, not podwire's steady state.
    if (warmup > 0) await inNs(path.a, 'ping', '-q', '-f', '-c', String(warmup), path.ip).catch(() => '');
    const rounds = [];
    for (let round = 0; round < (opts.rounds ?? 1); round++) {
      const capA = capture(path.a);
      const capB = capture(path.b);
      await Promise.all([capA.ready, capB.ready]);
      probe.fill(0);
      addon.setLatencyProbe(probe);
      const pingOut = await inNs(path.a, 'ping', '-c', String(count), '-i', String(interval), '-W', '2', path.ip);
      addon.setLatencyProbe(null);
      const [ta, tb] = await Promise.all([capA.finish(), capB.finish()]);
      // CLOCK_REALTIME - CLOCK_MONOTONIC after the pings (the frames' timestamps are
      // CLOCK_REALTIME): a clock step or slew during the run is not carried from the start.
      const offsets = [...`${ta}${tb}`.matchAll(/^offset (-?\d+)$/gm)].map((m) => Number(m[1]));
      if (offsets.length > 0) {
        if (Math.abs(offsets[0] - probe[2]) > 50e3) io.out(`# CLOCK_REALTIME moved by ${((offsets[0] - probe[2]) / 1e3).toFixed(0)} us against CLOCK_MONOTONIC during the run; using the offset measured after it`);
        probe[2] = offsets[0];
      }
      rounds.push(analyse({ probe, fdA: fdOf.a, fdB: fdOf.b, pingOut, capA: parseCapture(ta, 8, 0), capB: parseCapture(tb, 0, 8), js }));
    }
    const stages = {};
    for (const r of rounds) for (const [k, xs] of Object.entries(r.stages)) (stages[k] ??= []).push(...xs);
    const summary = {};
    io.out(`# podwire same-node ping latency, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    io.out(`# ${rounds.map((r) => r.echoes).join('+')} echoes matched (replies read right after the request's write, without an epoll round: ${rounds.map((r) => r.rereads).join('+')}); microseconds; request leg a->b, reply leg b->a`);
    io.out(`${'stage'.padEnd(22)} ${'p50'.padStart(8)} ${'p90'.padStart(8)}`);
    for (const [k, xs] of Object.entries(stages)) {
      summary[k] = { p50: quantile(xs, 0.5), p90: quantile(xs, 0.9), n: xs.length };
      io.out(`${k.padEnd(22)} ${summary[k].p50.toFixed(1).padStart(8)} ${summary[k].p90.toFixed(1).padStart(8)}`);
    }
    if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, loadavg: os.loadavg(), count, interval, js, summary, stages }, null, 2)}\n`);
    return { summary, stages };
  } finally {
    addon.setLatencyProbe(null);
    for (const r of restore) r();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lab.cleanup();
  }
}

/** Pairs the probe's records with the captured frames, echo by echo; returns per-stage samples (us). */
function analyse({ probe, fdA, fdB, pingOut, capA, capB, js }) {
  const off = probe[2]; // CLOCK_REALTIME - CLOCK_MONOTONIC
  const recs = [];
  for (let r = 0; r < probe[0]; r++) {
    const b = HDR + r * REC;
    recs.push(Array.from(probe.subarray(b, b + REC)));
  }
  const ping = new Map([...pingOut.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)].map((m) => [Number(m[1]), Number(m[2]) * 1e3]));
  const stages = {};
  const add = (k, v) => { if (Number.isFinite(v) && v >= 0) (stages[k] ??= []).push(v / 1e3); };
  const leg = (name, rec, sent) => {
    add(`${name}.wake`, rec[P.WAKE] - sent);
    add(`${name}.read`, rec[P.READ] - rec[P.WAKE]);
    if (js && rec[P.JS] > 0 && rec[P.FLUSH] > 0) {
      add(`${name}.napi-in`, rec[P.JS] - rec[P.READ]);
      add(`${name}.engine`, rec[P.FLUSH] - rec[P.JS]);
      add(`${name}.napi-out`, rec[P.WRITE0] - rec[P.FLUSH]);
    } else add(`${name}.js`, rec[P.WRITE0] - rec[P.READ]);
    add(`${name}.write`, rec[P.WRITE1] - rec[P.WRITE0]);
    add(`${name}.tail`, rec[P.RET] - rec[P.WRITE1]);
    add(`${name}.to-write`, rec[P.WRITE0] - rec[P.WAKE]);
  };
  let echoes = 0;
  let rereads = 0;
  let k = 0;
  for (const [seq, a] of [...capA.entries()].sort((x, y) => x[0] - y[0])) {
    const b = capB.get(seq);
    if (a.out === undefined || a.in === undefined || b === undefined || b.out === undefined) continue;
    const reqSent = a.out - off;
    const repSent = b.out - off;
    // The first wake-up of a's TAP after the request left, that wrote to b's; then b's that wrote to a's.
    while (k < recs.length && recs[k][P.WAKE] < reqSent) k++;
    let i = k;
    while (i < recs.length && !(recs[i][P.FD] === fdA && recs[i][P.WFD] === fdB)) i++;
    let j = i + 1;
    while (j < recs.length && !(recs[j][P.FD] === fdB && recs[j][P.WFD] === fdA)) j++;
    if (j >= recs.length) continue;
    const rq = recs[i];
    const rp = recs[j];
    if (rp[P.WAKE] - repSent < 0 || rp[P.WAKE] - reqSent > 50e6) continue;
    echoes++;
    k = j + 1;
    leg('req', rq, reqSent);
    leg('rep', rp, repSent);
    add('req.ret-to-rep-wake', rp[P.WAKE] - rq[P.RET]);
    rereads += rp[P.REREAD];
    add('rtt-k', a.in - a.out);
    const pt = ping.get(seq);
    if (pt !== undefined) add('ping', pt * 1e3);
  }
  return { stages, echoes, rereads };
}

async function main() {
  const arg = (k) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
  if (process.getuid?.() !== 0) {
    console.log('# tap latency skipped: needs root (TAP devices, network namespaces)');
    return;
  }
  await runTapLatency({
    count: Number(arg('--count') ?? 200), interval: Number(arg('--interval') ?? 0.01),
    rounds: Number(arg('--rounds') ?? 1), warmup: Number(arg('--warmup') ?? 20000), js: !process.argv.includes('--no-js'), json: arg('--json'),
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(`tap latency: ${e?.stack ?? e}`); process.exitCode = 1; });
}
