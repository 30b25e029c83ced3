/**
 * StubResolver: a pod's glibc stub resolver (`getaddrinfo` with AF_UNSPEC over the
 * resolv.conf kubelet writes), on the IpHost contract, so a lookup is real DNS traffic
 * through the emulated network: it shows in captures and counters like any other packet.
 *
 * glibc's behaviour, followed here (resolv/res_query.c `__res_context_search`,
 * resolv/res_send.c `send_dg`):
 * - The caller gives the names to try in order (the search list under `ndots`, e.g.
 *   src/kube/dns-records.ts `searchCandidates`).
 * - Per name, the A and the AAAA query leave back to back from one UDP socket (glibc sends
 *   both before it reads: the parallel queries of `send_dg`), each with its own id; the name
 *   is done when both are answered.
 * - No complete answer within `timeoutMs` (RES_TIMEOUT 5 s) sends both again, `attempts`
 *   times in all (RES_DFLRETRY 2); then the name is a timeout.
 * - The next name is tried after NXDOMAIN, NODATA (NOERROR without an address) and SERVFAIL
 *   (`got_servfail`: "try next search element"); a timeout or any other error ends the
 *   lookup (glibc's `done++` for TRY_AGAIN without SERVFAIL).
 * - The first name with an address in either answer ends it: the addresses are the A
 *   records of its answer (CNAMEs followed by the server).
 *
 * Counters: lookups, queries-sent, answers, timeouts. Unexpected datagrams (other ids or
 * sources, malformed answers) are freed and counted as `stray`.
 */
import { Counters, indexOf, type Counted } from '../engine/counters.js';
import type { IpHost, L4Info } from '../net/ip-host.js';
import type { Timer } from '../engine/scheduler.js';
import type { Packet } from '../engine/packet.js';
import { DNS_PORT, DnsRcode, DnsType, emitDnsMessage, parseDnsMessage } from '../wire/dns.js';
import { IpProtocol, writeIpv4Header } from '../wire/ipv4.js';
import { writeUdpHeader } from '../wire/udp.js';

export const RESOLVER_COUNTERS = ['lookups', 'queries-sent', 'answers', 'timeouts', 'stray'] as const;
const C = indexOf(RESOLVER_COUNTERS);
/** glibc RES_TIMEOUT (seconds, as ms) and RES_DFLRETRY. */
export const RES_TIMEOUT_MS = 5000;
export const RES_ATTEMPTS = 2;
const RCODE_NAMES: Readonly<Record<number, string>> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

/** One query as it went: sent at `sentMs`, answered (rcode, addresses) at `answeredMs`, or timed out. */
export interface ResolverQuery {
  name: string;
  type: 'A' | 'AAAA';
  /** Which try of the name (1 = first). */
  attempt: number;
  sentMs: number;
  /** NOERROR, NXDOMAIN, SERVFAIL, ...; `timeout` when no answer came before the next try or the end. */
  result: string;
  /** IPv4 addresses (A) in the answer section. */
  addresses: number[];
  /** Absent for a timeout. */
  answeredMs?: number;
  /** The answer had records (of any type: a CNAME, an AAAA). */
  hasData?: boolean;
}

export interface ResolverResult {
  /** The name that answered, or null. */
  name: string | null;
  addresses: number[];
  queries: ResolverQuery[];
  /** How the lookup ended: `answer`, `not-found` (every name NXDOMAIN/NODATA/SERVFAIL), `timeout`, `error` (another rcode). */
  outcome: 'answer' | 'not-found' | 'timeout' | 'error';
  startMs: number;
  endMs: number;
}

export interface ResolverOptions {
  nameserver: number;
  timeoutMs?: number;
  attempts?: number;
}

export class StubResolver implements Counted {
  readonly kind = 'resolver';
  readonly counters = new Counters(RESOLVER_COUNTERS);
  readonly drops = new Counters([] as const);

  constructor(readonly host: IpHost, readonly name: string) {}

  /** Looks the `names` up in order; `done` is called once, from a packet handler or a timer. */
  lookup(names: readonly string[], opts: ResolverOptions, done: (r: ResolverResult) => void): void {
    const host = this.host;
    const v = this.counters.values;
    v[C.lookups]!++;
    const timeoutMs = opts.timeoutMs ?? RES_TIMEOUT_MS;
    const attempts = opts.attempts ?? RES_ATTEMPTS;
    const queries: ResolverQuery[] = [];
    const startMs = host.now();
    let port = 0;
    let idx = 0;
    let attempt = 0;
    let timer: Timer | null = null;
    let pending: { id: number; q: ResolverQuery }[] = [];
    let finished = false;

    const finish = (outcome: ResolverResult['outcome'], name: string | null, addresses: number[]): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) host.cancel(timer);
      if (port !== 0) host.unbind(IpProtocol.Udp, port);
      done({ name, addresses, queries, outcome, startMs, endMs: host.now() });
    };

    const send = (): void => {
      const name = names[idx]!;
      attempt++;
      pending = [];
      for (const type of ['A', 'AAAA'] as const) {
        const id = host.random() & 0xffff;
        const q: ResolverQuery = { name, type, attempt, sentMs: host.now(), result: 'timeout', addresses: [] };
        queries.push(q);
        pending.push({ id, q });
        this.sendQuery(port, opts.nameserver, id, name, type === 'A' ? DnsType.A : DnsType.AAAA);
        v[C['queries-sent']]!++;
      }
      timer = host.after(timeoutMs, () => {
        timer = null;
        v[C.timeouts]!++;
        if (attempt < attempts) send();
        else finish('timeout', null, []);
      });
    };

    const nameDone = (): void => {
      if (timer !== null) { host.cancel(timer); timer = null; }
      const mine = queries.filter((q) => q.name === names[idx] && q.attempt === attempt);
      const addresses = mine.flatMap((q) => q.addresses);
      if (addresses.length > 0) { finish('answer', names[idx]!, addresses); return; }
      const results = mine.map((q) => q.result);
      if (mine.some((q) => q.hasData === true)) { finish('answer', names[idx]!, []); return; } // an AAAA only: no IPv4 address
      if (!results.every((r) => r === 'NOERROR' || r === 'NXDOMAIN' || r === 'SERVFAIL')) { finish('error', null, []); return; }
      idx++;
      attempt = 0;
      if (idx >= names.length) finish('not-found', null, []);
      else send();
    };

    const handler = (p: Packet, info: L4Info): void => {
      const m = info.protocol === IpProtocol.Udp && info.src === opts.nameserver && info.sport === DNS_PORT
        ? parseDnsMessage(p.buf, info.payload, info.payloadLen) : null;
      host.free(p);
      const hit = m !== null && typeof m !== 'number' && m.qr ? pending.find((x) => x.id === m.id && x.q.answeredMs === undefined) : undefined;
      if (hit === undefined || m === null || typeof m === 'number') { v[C.stray]!++; return; }
      v[C.answers]!++;
      hit.q.answeredMs = host.now();
      hit.q.result = RCODE_NAMES[m.rcode] ?? `RCODE${m.rcode}`;
      hit.q.hasData = m.answers.length > 0;
      for (const r of m.answers) if (r.data.kind === 'a') hit.q.addresses.push(r.data.address);
      if (pending.every((x) => x.q.answeredMs !== undefined)) nameDone();
    };

    if (names.length === 0) { finish('not-found', null, []); return; }
    port = host.bind(IpProtocol.Udp, 0, handler);
    send();
  }

  private sendQuery(sport: number, dst: number, id: number, name: string, type: number): void {
    const host = this.host;
    const p = host.alloc();
    if (p === null) return; // counted by the pool; the try times out as on a full socket buffer
    const b = p.buf;
    const o = p.start;
    const l4 = o + 20;
    const n = emitDnsMessage({
      id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: DnsRcode.NoError,
      questions: [{ name, type, class: 1 }], answers: [], authority: [], additional: [],
    }, b, l4 + 8);
    const src = host.sourceFor(dst);
    writeIpv4Header(b, o, src, dst, IpProtocol.Udp, 28 + n, host.random() & 0xffff);
    writeUdpHeader(b, l4, sport, DNS_PORT, n, src, dst);
    p.end = l4 + 8 + n;
    host.output(p);
  }
}
