// scratch: RTT experiments (not committed)
import { Lab, podwirePaths, vdePath, inNs } from './tap-paths.mjs';
const lab = new Lab();
lab.flood = await lab.compile('udp-flood');
try {
  const [pw] = await podwirePaths(lab, false);
  const vde = await vdePath(lab);
  for (const iv of ['0.01', '0.001']) {
    for (const p of [pw, vde]) {
      const out = await inNs(p.a, 'ping', '-c', '300', '-i', iv, '-W', '2', p.rttIp).catch((e) => String(e));
      const xs = [...out.matchAll(/time=([\d.]+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
      const q = (f) => xs[Math.floor(f * (xs.length - 1))];
      console.log(iv, p.name, 'n', xs.length, 'p10', q(0.1), 'p50', q(0.5), 'p90', q(0.9), 'p99', q(0.99), 'avg', (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3));
    }
  }
} finally { await lab.cleanup(); }
