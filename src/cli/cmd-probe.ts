/**
 * `podwire probe` (the reachability matrix, Cyclonus' table or Mininet's pingall) and
 * `podwire netpol diff` (what a policy change opens and closes), through src/control/probe.ts.
 */
import { parse, UsageError, type Command } from './args.js';
import { requestJson } from './client.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';
import { tryParsePort } from '../control/local.js';
import {
  diffTopologies, probeTopology, renderDiff, renderPingall, renderProbeMatrix, PROBE_PROTOCOLS,
  type ProbeBody, type ShapedProbe,
} from '../control/probe.js';
import { ControlError } from '../control/errors.js';

const PROBE_FLAGS = {
  ports: { type: 'string' }, protocols: { type: 'string' }, to: { type: 'string' }, services: { type: 'boolean' },
  pingall: { type: 'boolean' }, matrix: { type: 'boolean' }, json: { type: 'boolean' },
} as const;

/** `--ports 80,81`, `--protocols tcp,udp`, `--to IP,IP` into a probe body; usage errors name the flag and the value. */
function probeBody(values: Record<string, string | boolean | undefined>, command: string): ProbeBody {
  const body: ProbeBody = {};
  const list = (flag: string): string[] | undefined => {
    const v = values[flag];
    if (typeof v !== 'string') return undefined;
    const items = v.split(',');
    if (items.some((x) => x.trim() === '')) throw new UsageError(`podwire ${command}: --${flag} ${JSON.stringify(v)} has an empty item (give a comma-separated list)`);
    return items.map((x) => x.trim());
  };
  const ports = list('ports');
  if (ports !== undefined) {
    body.ports = ports.map((p) => {
      const n = tryParsePort(p);
      if (n === null || n < 1) throw new UsageError(`podwire ${command}: --ports ${JSON.stringify(values['ports'])}: ${JSON.stringify(p)} is not a port (an integer from 1 to 65535)`);
      return n;
    });
  }
  const protocols = list('protocols');
  if (protocols !== undefined) {
    for (const p of protocols) {
      if (!PROBE_PROTOCOLS.includes(p.toUpperCase() as never)) {
        throw new UsageError(`podwire ${command}: --protocols ${JSON.stringify(values['protocols'])}: unknown protocol ${JSON.stringify(p)} (tcp, udp, sctp, icmp)`);
      }
    }
    body.protocols = protocols;
  }
  const to = list('to');
  if (to !== undefined) {
    for (const t of to) {
      if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(t)) {
        throw new UsageError(`podwire ${command}: --to ${JSON.stringify(values['to'])}: ${JSON.stringify(t)} is not an IPv4 address`);
      }
    }
    body.targets = to;
  }
  if (values['services'] === true) body.services = true;
  return body;
}

/** The shape flags as the body's `shape`: auto unless asked for, or unless --ports/--protocols mean the matrix. */
function shapeOf(values: Record<string, string | boolean | undefined>, command: string): NonNullable<ProbeBody['shape']> {
  if (values['pingall'] === true && values['matrix'] === true) throw new UsageError(`podwire ${command}: give --pingall or --matrix, not both`);
  if (values['pingall'] === true) return 'pingall';
  if (values['matrix'] === true || values['ports'] !== undefined || values['protocols'] !== undefined) return 'matrix';
  return 'auto';
}

export const probeCommand: Command = {
  name: 'probe',
  summary: 'the reachability matrix of every pod to every pod, per port and protocol (Cyclonus\' table, or pingall)',
  help: `usage: podwire probe TOPOLOGY|--api URL [--ports 80,81] [--protocols tcp,udp,sctp] [--to IP,...] [--services] [--pingall|--matrix] [--json]

Sends real packets from every emulated pod to every pod (and to the --to addresses) through
the dataplane, so kube-proxy, conntrack and NetworkPolicy enforcement all take part: a TCP
SYN (allowed on a SYN-ACK), a UDP datagram (allowed when the server answers), an SCTP INIT
(allowed on an INIT ACK), an ICMP echo (allowed on an echo reply). Nothing or a refusal
(RST, ICMP error, ABORT) back is blocked.

The matrix is printed as Cyclonus prints it: rows are sources, columns targets, "." allowed,
"X" blocked; with several ports or protocols the corner lists the keys (SCTP/80, TCP/80, ...)
and each cell has one mark per key. Pods are namespace/name, sorted.

A cluster without NetworkPolicies gets Mininet's pingall shape by default (ICMP between all
pods, then every service port from every pod): "pod -> pod pod X", "*** Results: N% dropped".
--pingall or --matrix choose the shape; --ports or --protocols mean the matrix.

With TOPOLOGY the cluster is built for the probes (virtual time: 486 probes in well under a
second). With --api URL it probes a running podwire up as it is now (POST /api/v1/probe).

options:
  --ports LIST      destination ports (default 80,81)
  --protocols LIST  tcp, udp, sctp, icmp (default tcp,udp,sctp)
  --to LIST         extra target IPv4 addresses (columns after the pods)
  --services        also probe every service port (cluster IP) from every pod
  --pingall         Mininet's shape (default without policies)
  --matrix          Cyclonus' table (default with policies)
  --json            print { "probes": [ { from, to, port, protocol, allowed, reason } ], "services": [...] }
${REMOTE_HELP}

Exit code 0 when the probes ran (whatever they found), 1 on a runtime error, 2 for usage.`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, ...PROBE_FLAGS }, 'probe');
    const [file, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`podwire probe: unexpected argument ${JSON.stringify(extra)}`);
    const api = typeof values['api'] === 'string' ? values['api'] : undefined;
    if (file !== undefined && api !== undefined) throw new UsageError('podwire probe: give TOPOLOGY (build a cluster for the probes) or --api URL (probe a running podwire), not both');
    const envApi = process.env['PODWIRE_API'];
    if (file === undefined && api === undefined && (envApi === undefined || envApi === '')) {
      throw new UsageError('podwire probe: missing TOPOLOGY or --api URL (a topology file to build, or a running podwire: --api or $PODWIRE_API)');
    }
    if (file !== undefined && typeof values['token'] === 'string') throw new UsageError('podwire probe: --token goes with --api URL, not with TOPOLOGY');
    const body = { ...probeBody(values, 'probe'), shape: shapeOf(values, 'probe') };
    let r: ShapedProbe;
    if (file === undefined) {
      r = await requestJson<ShapedProbe>(target(values), 'POST', '/probe', body);
    } else {
      try {
        r = await probeTopology(file, body);
      } catch (e) {
        if (e instanceof ControlError && e.status === 400) throw new UsageError(`podwire probe: ${e.message}`);
        throw e;
      }
    }
    if (values['json'] === true) io.out(JSON.stringify({ probes: r.probes, services: r.services }, null, 2));
    else io.out((r.shape === 'pingall' ? renderPingall(r) : renderProbeMatrix(r)).trimEnd());
    return 0;
  },
};

export const netpolCommand: Command = {
  name: 'netpol',
  summary: 'NetworkPolicy tools: diff BEFORE AFTER (the connections a policy change opens and closes)',
  help: `usage: podwire netpol diff BEFORE AFTER [--ports 80,81] [--protocols tcp,udp,sctp] [--to IP,...] [--services] [--json]

Builds both clusters (topology files or manifests: the same pods, other policies), probes
every pod to every pod in each as \`podwire probe\` does, and prints the connections the
change opens ("+ x/a -> y/b TCP/80  (why it is allowed now)") and closes ("- ..."), then
the counts. Exit code 0 when nothing changed, 1 when something did, 2 for usage.

options:
  --ports LIST      destination ports (default 80,81)
  --protocols LIST  tcp, udp, sctp, icmp (default tcp,udp,sctp)
  --to LIST         extra target IPv4 addresses
  --services        also compare every service port
  --json            print { "opened": [...], "closed": [...], "compared": N }`,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('podwire netpol: missing subcommand (diff BEFORE AFTER)');
    if (sub.startsWith('-')) throw new UsageError(`podwire netpol: unknown option ${sub} before the subcommand (diff BEFORE AFTER)`);
    if (sub !== 'diff') throw new UsageError(`podwire netpol: unknown subcommand ${JSON.stringify(sub)} (diff)`);
    const { values, positionals } = parse(rest, { ports: PROBE_FLAGS.ports, protocols: PROBE_FLAGS.protocols, to: PROBE_FLAGS.to, services: PROBE_FLAGS.services, json: PROBE_FLAGS.json }, 'netpol diff');
    const [before, after, extra] = positionals;
    if (before === undefined || after === undefined) throw new UsageError('podwire netpol diff: missing BEFORE or AFTER (two topology files or manifests)');
    if (extra !== undefined) throw new UsageError(`podwire netpol diff: unexpected argument ${JSON.stringify(extra)}`);
    const d = await diffTopologies(before, after, probeBody(values, 'netpol diff'));
    if (values['json'] === true) io.out(JSON.stringify({ opened: d.opened, closed: d.closed, compared: d.compared }, null, 2));
    else io.out(renderDiff(d).trimEnd());
    return d.opened.length + d.closed.length === 0 ? 0 : 1;
  },
};
