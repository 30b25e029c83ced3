/**
 * Formatting of conntrack entries for the API (JSON views) and the CLI (`conntrack -L`
 * text). Not on the packet path: allocates freely.
 *
 * The text is the default output format of conntrack-tools (libnetfilter_conntrack's
 * snprintf_default): protocol name left-justified in 8 columns, protocol number, seconds
 * left, the TCP state, the original tuple, `[UNREPLIED]` when no reply was seen, the reply
 * tuple, `[ASSURED]`, the mark and the use count:
 *
 *   tcp      6 431999 ESTABLISHED src=10.244.1.2 dst=10.96.0.20 sport=40000 dport=80 src=10.244.2.2 dst=10.244.1.2 sport=8080 dport=40000 [ASSURED] mark=0 use=1
 *   udp      17 29 src=10.244.1.2 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.2.3 dst=10.244.1.2 sport=53 dport=5353 mark=0 use=1
 *   icmp     1 29 src=10.244.1.2 dst=10.244.2.2 type=8 code=0 id=7 src=10.244.2.2 dst=10.244.1.2 type=0 code=0 id=7 mark=0 use=1
 *
 * The tool's last line, `conntrack v1.4.8 (conntrack-tools): N flow entries have been
 * shown.`, is written to stderr by the real tool: `conntrackSummary(n)` returns it.
 */

import { formatIpv4 } from '../wire/addr.js';
import type { ConntrackTable } from './conntrack.js';
import { CtStatus, NatFlag, type ConntrackFilter } from './conntrack-defs.js';
import { TCP_STATE_NAMES } from './conntrack-tcp.js';

const SEEN_REPLY = CtStatus.SeenReply;
const ASSURED = CtStatus.Assured;
const NAT_DNAT = NatFlag.Dnat;
const NAT_SNAT = NatFlag.Snat;

/** One tuple: TCP/UDP carry ports, ICMP type/code/id, other protocols addresses only. */
export interface TupleView {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  type?: number;
  code?: number;
  id?: number;
}

export interface ConntrackEntryView {
  /** Entry index in the table. */
  id: number;
  /** `tcp`, `udp`, `icmp`, ... as conntrack names them. */
  proto: string;
  protoNum: number;
  /** TCP state name (`ESTABLISHED`), null for other protocols. */
  state: string | null;
  /** Whole seconds left. */
  timeout: number;
  orig: TupleView;
  reply: TupleView;
  /** `SEEN_REPLY` or `UNREPLIED`, and `ASSURED`. */
  flags: string[];
  /** `dnat`, `snat`. */
  nat: string[];
  mark: number;
  /** The service proxy's uint32 (e.g. an endpoint id). */
  tag: number;
}

/** Protocol names as libnetfilter_conntrack prints them. */
export function protoName(p: number): string {
  switch (p) {
    case 1: return 'icmp';
    case 6: return 'tcp';
    case 17: return 'udp';
    case 33: return 'dccp';
    case 47: return 'gre';
    case 132: return 'sctp';
    case 136: return 'udplite';
    default: return 'unknown';
  }
}

function tuple(proto: number, src: number, dst: number, sport: number, dport: number): TupleView {
  const t: TupleView = { src: formatIpv4(src), dst: formatIpv4(dst) };
  if (proto === 6 || proto === 17 || proto === 132) {
    t.sport = sport;
    t.dport = dport;
  } else if (proto === 1) {
    t.type = dport >>> 8;
    t.code = dport & 0xff;
    t.id = sport;
  }
  return t;
}

function tupleText(proto: number, src: number, dst: number, sport: number, dport: number): string {
  const a = `src=${formatIpv4(src)} dst=${formatIpv4(dst)} `;
  if (proto === 6 || proto === 17 || proto === 132) return `${a}sport=${sport} dport=${dport} `;
  if (proto === 1) return `${a}type=${dport >>> 8} code=${dport & 0xff} id=${sport} `;
  return a;
}

export function entryView(t: ConntrackTable, e: number, now: number): ConntrackEntryView {
  const p = t.proto(e);
  const st = t.status(e);
  const nat = t.natFlags(e);
  const flags: string[] = [(st & SEEN_REPLY) !== 0 ? 'SEEN_REPLY' : 'UNREPLIED'];
  if ((st & ASSURED) !== 0) flags.push('ASSURED');
  const natNames: string[] = [];
  if ((nat & NAT_DNAT) !== 0) natNames.push('dnat');
  if ((nat & NAT_SNAT) !== 0) natNames.push('snat');
  return {
    id: e,
    proto: protoName(p),
    protoNum: p,
    state: p === 6 ? TCP_STATE_NAMES[t.tcpState(e)] ?? 'NONE' : null,
    timeout: t.timeoutLeft(e, now),
    orig: tuple(p, t.origSrc(e), t.origDst(e), t.origSport(e), t.origDport(e)),
    reply: tuple(p, t.replySrc(e), t.replyDst(e), t.replySport(e), t.replyDport(e)),
    flags,
    nat: natNames,
    mark: t.mark(e),
    tag: t.tag(e),
  };
}

/** One `conntrack -L` line (no newline). */
export function formatEntry(t: ConntrackTable, e: number, now: number): string {
  const p = t.proto(e);
  const st = t.status(e);
  let s = `${protoName(p).padEnd(8)} ${p} ${t.timeoutLeft(e, now)} `;
  if (p === 6) s += `${TCP_STATE_NAMES[t.tcpState(e)] ?? 'NONE'} `;
  s += tupleText(p, t.origSrc(e), t.origDst(e), t.origSport(e), t.origDport(e));
  if ((st & SEEN_REPLY) === 0) s += '[UNREPLIED] ';
  s += tupleText(p, t.replySrc(e), t.replyDst(e), t.replySport(e), t.replyDport(e));
  if ((st & ASSURED) !== 0) s += '[ASSURED] ';
  s += `mark=${t.mark(e)} use=1`;
  return s;
}

/** The summary line conntrack -L writes to stderr. */
export function conntrackSummary(n: number): string {
  return `conntrack v1.4.8 (conntrack-tools): ${n} flow entries have been shown.`;
}

/** True when entry `e` matches every field `f` gives (original and reply tuples). */
export function matchesFilter(t: ConntrackTable, e: number, f: ConntrackFilter): boolean {
  return (f.proto === undefined || t.proto(e) === f.proto)
    && (f.src === undefined || t.origSrc(e) === f.src >>> 0)
    && (f.dst === undefined || t.origDst(e) === f.dst >>> 0)
    && (f.sport === undefined || t.origSport(e) === f.sport)
    && (f.dport === undefined || t.origDport(e) === f.dport)
    && (f.replySrc === undefined || t.replySrc(e) === f.replySrc >>> 0)
    && (f.replyDst === undefined || t.replyDst(e) === f.replyDst >>> 0)
    && (f.replySport === undefined || t.replySport(e) === f.replySport)
    && (f.replyDport === undefined || t.replyDport(e) === f.replyDport);
}
