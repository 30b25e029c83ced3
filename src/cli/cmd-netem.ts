/**
 * `podwire netem set|show|clear`: link impairment on a running `podwire up`, through its
 * API (`/links/:id/impairment`, docs/netem.md). `set` takes tc-netem(8)'s own arguments.
 */
import { parse, UsageError, type Command, type Io } from './args.js';
import { request, requestJson } from './client.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';

interface View {
  interface: string;
  direction: string;
  tc: string;
  rateBitsPerSecond: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
}

const HELP = `usage: podwire netem set IFACE [--direction egress|ingress|both] [--merge] NETEM-ARGS...
       podwire netem show [IFACE] [--json]
       podwire netem clear IFACE [--direction egress|ingress|both]

Link impairment with Linux netem's semantics on a running podwire (docs/netem.md).
IFACE is an interface as captures name it: pod1/eth0, node1/veth0, node1/eth0 (the
underlay), an attached pod's eth0. NETEM-ARGS are tc-netem(8)'s:

  delay TIME [JITTER [CORR]] [distribution uniform|normal|pareto|paretonormal]
  loss random P [CORR] | loss state p13 [p31 [p32 [p23 [p14]]]] | loss gemodel p [r [1-h [1-k]]]
  ecn  duplicate P [CORR]  corrupt P [CORR]  reorder P [CORR] [gap N]
  rate RATE [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]  slot MIN [MAX] [packets N] [bytes N]
  limit PACKETS  seed N

Units as tc reads them: kbit/mbit/gbit are bits per second, KBps/MBps (and tc's kbps)
BYTES per second; a bare number or "Mbps" is refused as ambiguous. Times need a unit.

set replaces the settings of the direction (default egress, what tc's root qdisc impairs),
as "tc qdisc replace" does; with --merge only the given settings change. show prints the
equivalent tc lines and counters; clear removes the netem (both directions by default).

options:
  --direction D    egress (default for set), ingress or both
  --merge          merge into the settings in force instead of replacing them
  --json           print the API's answer
${REMOTE_HELP}`;

/** Splits our flags from the netem arguments (which may hold negative numbers: `rate 1mbit -4`). */
function split(argv: string[]): { flags: string[]; rest: string[] } {
  const flags: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--merge' || a === '--json' || a === '--help' || a === '-h') flags.push(a);
    else if (a === '--direction' || a === '--api' || a === '--token') {
      flags.push(a);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`podwire netem: ${a} needs a value`);
      flags.push(v);
    } else if (/^--(direction|api|token)=/.test(a)) flags.push(a);
    else rest.push(a);
  }
  return { flags, rest };
}

const counters = (v: View): string => {
  const c = v.counters;
  return `  sent ${c['sent'] ?? 0} pkt ${c['sent-bytes'] ?? 0} bytes, dropped ${(v.drops['loss'] ?? 0) + (v.drops['limit'] ?? 0)} (loss ${v.drops['loss'] ?? 0}, limit ${v.drops['limit'] ?? 0}), duplicated ${c['duplicated'] ?? 0}, corrupted ${c['corrupted'] ?? 0}, reordered ${c['reordered'] ?? 0}, ecn-marked ${c['ecn-marked'] ?? 0}, backlog ${c['backlog'] ?? 0}p, overrun ${c['overrun'] ?? 0}`;
};

function print(io: Io, views: View[]): void {
  if (views.length === 0) io.out('(no impairment)');
  for (const v of views) {
    io.out(`${v.interface} ${v.direction}: ${v.tc}`);
    if (v.rateBitsPerSecond > 0) io.out(`  rate ${v.rateBitsPerSecond} bit/s`);
    io.out(counters(v));
  }
}

export const netemCommand: Command = {
  name: 'netem',
  summary: 'impair a link of a running cluster with netem\'s semantics (set | show | clear)',
  help: HELP,
  async run(argv, io) {
    const [sub, ...more] = argv;
    const { flags, rest } = split(more);
    const { values } = parse(flags, { ...REMOTE_FLAGS, direction: { type: 'string' }, merge: { type: 'boolean' }, json: { type: 'boolean' } }, 'netem');
    if (values['help'] === true || sub === undefined || sub === '--help' || sub === '-h') {
      io.out(HELP);
      return sub === undefined ? 2 : 0;
    }
    const t = target(values);
    const dir = typeof values['direction'] === 'string' ? `?direction=${encodeURIComponent(values['direction'])}` : '';
    const json = values['json'] === true;
    if (sub === 'show') {
      if (rest.length > 1) throw new UsageError(`podwire netem show: unexpected argument ${JSON.stringify(rest[1])}`);
      const views = rest[0] === undefined
        ? await requestJson<View[]>(t, 'GET', '/links')
        : (await requestJson<{ impairments: View[] }>(t, 'GET', `/links/${encodeURIComponent(rest[0])}/impairment`)).impairments;
      if (json) io.out(JSON.stringify(views, null, 2));
      else print(io, views);
      return 0;
    }
    const [iface, ...args] = rest;
    if (iface === undefined) throw new UsageError(`podwire netem ${sub}: missing IFACE`);
    const path = `/links/${encodeURIComponent(iface)}/impairment${dir}`;
    if (sub === 'set') {
      if (args.length === 0) throw new UsageError('podwire netem set: missing netem arguments (e.g. delay 20ms loss 1%)');
      const r = await requestJson<{ impairments: View[]; warnings: string[] }>(t, values['merge'] === true ? 'PATCH' : 'PUT', path, { tc: args.join(' ') });
      for (const w of r.warnings) io.err(`warning: ${w}`);
      if (json) io.out(JSON.stringify(r, null, 2));
      else print(io, r.impairments);
      return 0;
    }
    if (sub === 'clear') {
      if (args.length > 0) throw new UsageError(`podwire netem clear: unexpected argument ${JSON.stringify(args[0])}`);
      const res = await request(t, 'DELETE', path);
      const r = await res.json() as { removed: number };
      io.out(json ? JSON.stringify(r, null, 2) : `${iface}: ${r.removed === 0 ? 'no impairment' : `removed ${r.removed}`}`);
      return 0;
    }
    throw new UsageError(`podwire netem: unknown subcommand ${JSON.stringify(sub)} (set, show, clear)`);
  },
};
