/**
 * docs/scale.svg, drawn by hand (no packages): two panels against the number of nodes on a
 * log axis (2, 10, 100, 1000): the cold build time (ms, log axis) and the time per packet
 * pod -> pod across nodes over VXLAN (ns, linear from 0). `points`: [{ nodes, buildMs,
 * nsPerPacket }] in increasing `nodes`.
 */
const W = 360, H = 240, M = { l: 58, r: 16, t: 34, b: 44 };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(2));

function panel(x0, title, points, key, { logY, unit }) {
  const xs = points.map((p) => Math.log10(p.nodes));
  const ys = points.map((p) => p[key]);
  const xMin = Math.log10(1), xMax = Math.log10(2000);
  let yMin, yMax, ticks;
  if (logY) {
    yMin = Math.floor(Math.log10(Math.min(...ys)));
    yMax = Math.ceil(Math.log10(Math.max(...ys)));
    if (yMax === yMin) yMax++;
    ticks = [];
    for (let e = yMin; e <= yMax; e++) ticks.push(10 ** e);
  } else {
    yMin = 0;
    const top = Math.max(...ys) * 1.15;
    const step = 10 ** Math.floor(Math.log10(top / 4));
    const nice = [1, 2, 5, 10].map((k) => k * step).find((s) => top / s <= 6);
    yMax = Math.ceil(top / nice) * nice;
    ticks = [];
    for (let v = 0; v <= yMax + 1e-9; v += nice) ticks.push(v);
  }
  const pw = W - M.l - M.r, ph = H - M.t - M.b;
  const px = (lx) => x0 + M.l + ((lx - xMin) / (xMax - xMin)) * pw;
  const py = (v) => M.t + ph - (((logY ? Math.log10(v) : v) - yMin) / (yMax - yMin)) * ph;
  const out = [];
  out.push(`<text x="${x0 + M.l + pw / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (const t of ticks) {
    const y = py(t).toFixed(1);
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + M.l + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(Number.isInteger(t) ? String(t) : fmt(t))}</text>`);
  }
  for (const n of [1, 10, 100, 1000]) {
    const x = px(Math.log10(n)).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${M.t}" y2="${M.t + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${M.t + ph + 16}" text-anchor="middle">${n}</text>`);
  }
  out.push(`<text x="${x0 + M.l + pw / 2}" y="${H - 8}" text-anchor="middle">nodes (10 pods each, 1 service each)</text>`);
  out.push(`<text transform="translate(${x0 + 14} ${M.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(xs[i]).toFixed(1)} ${py(ys[i]).toFixed(1)}`).join(' ');
  out.push(`<path d="${path}" fill="none" stroke="#1f6fb4" stroke-width="2"/>`);
  points.forEach((p, i) => {
    const x = px(xs[i]).toFixed(1), y = py(ys[i]).toFixed(1);
    out.push(`<circle cx="${x}" cy="${y}" r="3.5" fill="#1f6fb4"/>`);
    out.push(`<text x="${x}" y="${(py(ys[i]) - 8).toFixed(1)}" text-anchor="middle" fill="#1f6fb4">${esc(fmt(ys[i]))}</text>`);
  });
  return out.join('\n');
}

export function scaleSvg(points, { date, machine }) {
  const width = 2 * W;
  const foot = `podwire bench ${date.slice(0, 16).replace('T', ' ')} UTC, ${machine.cpu} x${machine.cores}, load ${machine.loadavg.join(' ')}; medians`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 22}" viewBox="0 0 ${width} ${H + 22}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    panel(0, 'cold build (new Cluster), vxlan', points, 'buildMs', { logY: true, unit: 'ms (log)' }),
    panel(W, 'per packet, pod -> pod across nodes, vxlan', points, 'nsPerPacket', { logY: false, unit: 'ns per packet' }),
    `<text x="8" y="${H + 14}" fill="#666" font-size="10">${esc(foot)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
