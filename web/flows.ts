/**
 * The live flows table, Hubble UI's columns: source, destination, port, verdict, reason,
 * TCP flags, time (and protocol, node), fed by `GET /flows?follow=true` (server-sent events,
 * one flow per event) and filtered in the page by pod/service/IP, verdict and protocol.
 */

export interface FlowEndpoint { ip?: string; port?: number | null; pod?: string | null; namespace?: string | null; service?: string | null }

/** The trace that replays a flow: from its source pod to its destination address and port, or null when the source is not a pod. */
export function traceOfFlow(f: FlowEvent): { from: string; to: string; proto: 'icmp' | 'udp' | 'tcp'; port?: number } | null {
  const s = f.source;
  const d = f.destination;
  if (s === undefined || d === undefined || typeof s.pod !== 'string' || s.pod === '' || d.ip === undefined) return null;
  const proto = String(f.protocol ?? '').toLowerCase();
  if (proto !== 'icmp' && proto !== 'udp' && proto !== 'tcp') return null;
  const from = s.namespace === undefined || s.namespace === null || s.namespace === 'default' ? s.pod : `${s.pod}.${s.namespace}`;
  const port = typeof d.port === 'number' ? d.port : undefined;
  return { from, to: d.ip, proto, ...(proto !== 'icmp' && port !== undefined ? { port } : {}) };
}
export interface FlowEvent {
  time?: string | number;
  node?: string;
  source?: FlowEndpoint;
  destination?: FlowEndpoint;
  protocol?: string | number;
  verdict?: string;
  dropReason?: string | null;
  tcpFlags?: string | string[] | null;
  summary?: string;
  policy?: unknown;
}

/** Keeps the newest MAX_ROWS flows (a table of thousands of rows would only slow the page). */
export const MAX_ROWS = 500;

export interface FlowFilter { text: string; verdict: string; protocol: string }

function who(e: FlowEndpoint | undefined, service: boolean): string {
  if (e === undefined) return '';
  if (service && typeof e.service === 'string' && e.service !== '') return e.service;
  if (typeof e.pod === 'string' && e.pod !== '') return e.namespace !== undefined && e.namespace !== null && e.namespace !== 'default' ? `${e.namespace}/${e.pod}` : e.pod;
  return e.ip ?? '';
}

function flags(f: FlowEvent['tcpFlags']): string {
  if (f === undefined || f === null) return '';
  return Array.isArray(f) ? f.join(',') : f;
}

function timeOf(t: FlowEvent['time']): string {
  if (t === undefined) return '';
  const d = new Date(typeof t === 'number' ? t : Date.parse(t));
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.toISOString().slice(11, 23)}`;
}

/** What the verdict column and the filter call a flow: forwarded, dropped, ... */
function verdictOf(f: FlowEvent): string {
  return (f.verdict ?? (f.dropReason !== undefined && f.dropReason !== null ? 'dropped' : 'forwarded')).toLowerCase();
}

function policyText(p: unknown): string {
  if (p === undefined || p === null) return '';
  if (typeof p === 'string') return p;
  if (typeof p === 'object') {
    const o = p as Record<string, unknown>;
    const name = o['name'] ?? o['policy'] ?? '';
    const v = o['verdict'] ?? o['action'] ?? '';
    return [v, name].filter((x) => x !== '').map(String).join(' ') || JSON.stringify(p);
  }
  return String(p);
}

export function flowRow(f: FlowEvent): string[] {
  const s = f.source;
  const d = f.destination;
  const reason = [f.dropReason ?? '', policyText(f.policy)].filter((x) => x !== '').join(' · ');
  return [
    who(s, false) + (s?.ip !== undefined && who(s, false) !== s.ip ? ` (${s.ip}${s.port !== undefined && s.port !== null ? `:${s.port}` : ''})` : ''),
    who(d, true) + (d?.ip !== undefined && who(d, true) !== d.ip ? ` (${d.ip})` : ''),
    d?.port !== undefined && d.port !== null ? String(d.port) : '',
    String(f.protocol ?? '').toUpperCase(),
    verdictOf(f),
    reason,
    flags(f.tcpFlags),
    timeOf(f.time),
    f.node ?? '',
  ];
}

export const FLOW_COLUMNS = ['Source', 'Destination', 'Port', 'Protocol', 'Verdict', 'Reason', 'TCP flags', 'Time', 'Node'];

export function matches(f: FlowEvent, q: FlowFilter): boolean {
  if (q.verdict !== '' && verdictOf(f) !== q.verdict) return false;
  if (q.protocol !== '' && String(f.protocol ?? '').toLowerCase() !== q.protocol) return false;
  if (q.text !== '') {
    const hay = [f.source?.pod, f.source?.ip, f.destination?.pod, f.destination?.ip, f.destination?.service, f.node, f.summary].filter((x) => typeof x === 'string').join(' ').toLowerCase();
    if (!hay.includes(q.text.toLowerCase())) return false;
  }
  return true;
}

export class FlowsTable {
  private readonly flows: FlowEvent[] = [];
  filter: FlowFilter = { text: '', verdict: '', protocol: '' };

  constructor(private readonly body: HTMLTableSectionElement, private readonly count: HTMLElement, private readonly onPick: (f: FlowEvent) => void) {}

  add(f: FlowEvent): void {
    this.flows.push(f);
    if (this.flows.length > MAX_ROWS) {
      this.flows.shift();
      if (this.body.lastElementChild !== null) this.body.lastElementChild.remove();
    }
    if (matches(f, this.filter)) this.body.prepend(this.row(f));
    this.count.textContent = `${this.flows.length} flow${this.flows.length === 1 ? '' : 's'}`;
  }

  refilter(): void {
    const rows = this.flows.filter((f) => matches(f, this.filter)).reverse().map((f) => this.row(f));
    this.body.replaceChildren(...rows);
  }

  private row(f: FlowEvent): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const v = verdictOf(f);
    tr.className = `verdict-${v}`;
    if (f.summary !== undefined) tr.title = f.summary;
    tr.tabIndex = 0;
    tr.addEventListener('click', () => this.onPick(f));
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') this.onPick(f); });
    for (const [i, cell] of flowRow(f).entries()) {
      const td = document.createElement('td');
      td.textContent = cell;
      if (i === 4) td.className = `verdict ${v}`;
      tr.appendChild(td);
    }
    return tr;
  }
}
