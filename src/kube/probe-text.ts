/**
 * The text forms of a probe (src/kube/probe.ts):
 *
 * - `renderProbeMatrix`: the truth table as Cyclonus prints it (pkg/connectivity/probe
 *   table.go + truthtable.go over olekukonko/tablewriter v0.0.5): rows are sources, columns
 *   targets, `.` allowed, `X` blocked. One port and protocol: the simple table (empty corner,
 *   no row lines). Several: the corner lists the `PROTOCOL/port` keys sorted as Go's
 *   sort.Strings sorts them, each cell holds one mark per key joined by spaces, and every row
 *   is followed by a line. Headers go through tablewriter's Title (upper case, `_` and a
 *   `.` next to a letter read as spaces) and are centred (the extra space on the right);
 *   cells are left-aligned.
 * - `renderPingall`: Mininet's `pingall` shape (`pod1 -> pod2 X`, then `*** Results: N%
 *   dropped (a/b received)`), for clusters without policies; with service probes, one line
 *   per pod listing `namespace/name:port/PROTOCOL` or `X` per service port.
 */
import type { ProbeRecord, ProbeResult } from './probe.js';

/** Cyclonus' key of a probe column group: `TCP/80` (ICMP has no port: `ICMP`). */
export function probeKey(protocol: string, port: number): string {
  return protocol === 'ICMP' ? 'ICMP' : `${protocol}/${port}`;
}

/** The Cyclonus table of `probes` over `from` x `to`. */
export function renderProbeMatrix(r: Pick<ProbeResult, 'from' | 'to' | 'probes'>): string {
  const keys = [...new Set(r.probes.map((p) => probeKey(p.protocol, p.port)))].sort(goCompare);
  const cell = new Map<string, Map<string, boolean>>();
  for (const p of r.probes) {
    const k = `${p.from}\u0000${p.to}`;
    let m = cell.get(k);
    if (m === undefined) cell.set(k, (m = new Map()));
    m.set(probeKey(p.protocol, p.port), p.allowed);
  }
  const mark = (from: string, to: string, key: string): string => {
    const v = cell.get(`${from}\u0000${to}`)?.get(key);
    return v === undefined ? '?' : v ? '.' : 'X';
  };
  const rows = r.from.map((f) => [f, ...r.to.map((t) => keys.map((k) => mark(f, t, k)).join(' '))]);
  if (keys.length <= 1) return renderTable(['', ...r.to], rows, false);
  return renderTable([keys.join('\n'), ...r.to], rows, true);
}

/**
 * tablewriter v0.0.5's Render with its defaults (auto-format headers, centred headers,
 * default cell alignment for text, borders on), as Cyclonus calls it.
 */
export function renderTable(header: string[], rows: string[][], rowLine: boolean): string {
  const head = header.map((h) => h.split('\n').map(title));
  const width = header.map((_, i) => Math.max(
    ...head[i]!.map((l) => l.length),
    ...rows.map((row) => Math.max(...(row[i] ?? '').split('\n').map((l) => l.length))),
  ));
  const line = `+${width.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  let out = line;
  const headLines = Math.max(...head.map((h) => h.length));
  for (let li = 0; li < headLines; li++) {
    out += `|${head.map((h, i) => ` ${centre(h[li] ?? '', width[i]!)} `).join('|')}|\n`;
  }
  out += line;
  for (const row of rows) {
    out += `|${width.map((w, i) => ` ${(row[i] ?? '').padEnd(w)} `).join('|')}|\n`;
    if (rowLine) out += line;
  }
  if (!rowLine) out += line;
  return out;
}

/** tablewriter's Pad: centred, the odd space on the right. */
function centre(s: string, w: number): string {
  const gap = w - s.length;
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + s + ' '.repeat(gap - left);
}

/** tablewriter's Title: `_` -> space, a `.` not between digits/spaces -> space, trimmed, upper case. */
function title(name: string): string {
  const rs = [...name];
  const numOrSpace = (c: string | undefined): boolean => c !== undefined && /[0-9 ]/.test(c);
  for (let i = 0; i < rs.length; i++) {
    if (rs[i] === '_') rs[i] = ' ';
    else if (rs[i] === '.' && ((i !== 0 && !numOrSpace(rs[i - 1])) || (i !== rs.length - 1 && !numOrSpace(rs[i + 1])))) rs[i] = ' ';
  }
  let s = rs.join('').trim();
  if (s.length === 0 && name.length > 0) s = ' ';
  return s.toUpperCase();
}

/** Go's string order (bytes). */
function goCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Mininet's pingall shape: who reaches whom (self left out), then the services. */
export function renderPingall(r: ProbeResult): string {
  const lines: string[] = [];
  const ok = new Map<string, boolean>();
  for (const p of r.probes) ok.set(`${p.from}\u0000${p.to}`, (ok.get(`${p.from}\u0000${p.to}`) ?? true) && p.allowed);
  lines.push(`*** Ping: testing reachability between ${r.from.length} pod${r.from.length === 1 ? '' : 's'}`);
  let sent = 0;
  let received = 0;
  for (const f of r.from) {
    const cols: string[] = [];
    for (const t of r.to) {
      if (t === f) continue;
      const v = ok.get(`${f}\u0000${t}`);
      if (v === undefined) continue;
      sent++;
      if (v) received++;
      cols.push(v ? t : 'X');
    }
    lines.push(`${f} -> ${cols.join(' ')}`.trimEnd());
  }
  const dropped = sent === 0 ? 0 : Math.round((100 * (sent - received)) / sent);
  lines.push(`*** Results: ${dropped}% dropped (${received}/${sent} received)`);
  if (r.services.length > 0) {
    const byFrom = new Map<string, ProbeRecord[]>();
    for (const p of r.services) {
      let l = byFrom.get(p.from);
      if (l === undefined) byFrom.set(p.from, (l = []));
      l.push(p);
    }
    const n = new Set(r.services.map((p) => `${p.to}:${p.port}/${p.protocol}`)).size;
    lines.push(`*** Services: testing ${n} service port${n === 1 ? '' : 's'} from every pod`);
    let ss = 0;
    let sr = 0;
    for (const f of r.from) {
      const cols = (byFrom.get(f) ?? []).map((p) => {
        ss++;
        if (p.allowed) sr++;
        return p.allowed ? `${p.to}:${p.port}/${p.protocol}` : 'X';
      });
      lines.push(`${f} -> ${cols.join(' ')}`.trimEnd());
    }
    lines.push(`*** Results: ${ss === 0 ? 0 : Math.round((100 * (ss - sr)) / ss)}% dropped (${sr}/${ss} received)`);
  }
  return `${lines.join('\n')}\n`;
}
