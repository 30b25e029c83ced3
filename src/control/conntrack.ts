/**
 * Conntrack for the control façade: every node's table (or one node's) filtered on the
 * original tuple, as JSON entries, as `conntrack -L` text with its summary line, or
 * deleted (`conntrack -D`). Needs the service proxy (kube-proxy layer): without it, a 501.
 */
import type { Cluster } from '../kube/cluster.js';
import { conntrackSummary, type ConntrackEntryView } from '../netfilter/conntrack-dump.js';
import type { ConntrackFilter, ConntrackTable } from '../netfilter/conntrack.js';
import { notFound } from './errors.js';
import { conntrackFilter } from './inputs.js';
import { needServices } from './services.js';

/** Conntrack filters as they come from a query string or CLI flags (strings or numbers). */
export interface ConntrackQuery {
  proto?: string | number;
  src?: string;
  dst?: string;
  sport?: string | number;
  dport?: string | number;
  node?: string;
}

/** The filter and the tables (`[node, table]`) a query names. */
function conntrackSelect(c: Cluster, q: ConntrackQuery): { filter: ConntrackFilter; tables: [string, ConntrackTable][] } {
  needServices(c, 'conntrack');
  const filter = conntrackFilter(q);
  const all = [...c.services.conntrack.entries()];
  if (q.node !== undefined) {
    const t = all.filter(([n]) => n === q.node);
    if (t.length === 0) throw notFound('/node', q.node, 'node', all.map(([n]) => n));
    return { filter, tables: t };
  }
  return { filter, tables: all };
}

/** GET /conntrack: the matching entries, each with its node. */
export function conntrackEntries(c: Cluster, q: ConntrackQuery): { entries: (ConntrackEntryView & { node: string })[]; count: number } {
  const { filter, tables } = conntrackSelect(c, q);
  const now = c.engine.now();
  const entries: (ConntrackEntryView & { node: string })[] = [];
  for (const [node, t] of tables) for (const e of t.entries(now, filter)) entries.push({ node, ...e });
  return { entries, count: entries.length };
}

/** `conntrack -L` text, one `# node` header line per node, then its entries; the summary line last. */
export function conntrackText(c: Cluster, q: ConntrackQuery): { text: string; count: number; summary: string } {
  const { filter, tables } = conntrackSelect(c, q);
  const now = c.engine.now();
  let text = '';
  let count = 0;
  for (const [node, t] of tables) {
    const body = t.dump(now, filter);
    const n = body === '' ? 0 : body.split('\n').length - 1;
    count += n;
    text += `# ${node}: ${n} flow entries\n${body}`;
  }
  return { text, count, summary: conntrackSummary(count) };
}

/** DELETE /conntrack: the matching entries deleted, counted per node. */
export function deleteConntrack(c: Cluster, q: ConntrackQuery): { deleted: number; perNode: Record<string, number> } {
  const { filter, tables } = conntrackSelect(c, q);
  const now = c.engine.now();
  const perNode: Record<string, number> = {};
  let deleted = 0;
  for (const [node, t] of tables) {
    perNode[node] = t.deleteWhere(filter, now);
    deleted += perNode[node];
  }
  return { deleted, perNode };
}
