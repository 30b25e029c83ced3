/**
 * The table of CLI commands: name, one-line summary, --help text, and the runner.
 */
import { relative } from 'node:path';
import { colour, parse, portFlag, UsageError, type Command } from './args.js';
import { captureCommand } from './cmd-capture.js';
import { LOCAL_COMMANDS } from './cmd-local.js';
import { REMOTE_COMMANDS, REMOTE_FLAGS, target } from './cmd-remote.js';
import { requestJson } from './client.js';
import { upCommand } from './cmd-up.js';
import { rulesCommand } from './cmd-rules.js';
import { netemCommand } from './cmd-netem.js';
import { dnsCommand } from './cmd-dns.js';
import { runDemo } from '../control/demo.js';
import { loadCluster, loadTopologySource, TopologyInvalidError } from '../control/load.js';
import {
  defaultPort, formatTopologyError, renderJourney, renderTrace, resetHeading, traceTopology, type TraceProto, type TraceResult,
} from '../control/local.js';

export type { Command };

const demo: Command = {
  name: 'demo',
  summary: 'run the built-in two-node cluster, trace the journeys, write captures',
  help: `usage: podwire demo [--out DIR] [--json] [--topology FILE]

Builds the built-in cluster (examples/demo.yaml: node1 with pod1 and pod2, node2 with
pod3), sends the journeys of "Kubernetes networking under the hood" with the trace flag
set, prints each journey hop by hop, and writes a pcapng capture of every interface the
packets crossed. Needs no root.

options:
  --out DIR        where captures go (default: captures/)
  --json           print { "journeys": [ { name, request, reply, reset } ], "captures": [...] }
  --topology FILE  use another topology with pods pod1, pod2, pod3`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { out: { type: 'string' }, json: { type: 'boolean' }, topology: { type: 'string' } }, 'demo');
    if (positionals.length > 0) throw new UsageError(`podwire demo: unexpected argument ${JSON.stringify(positionals[0])}`);
    const r = await runDemo({
      ...(typeof values['out'] === 'string' ? { out: values['out'] } : {}),
      ...(typeof values['topology'] === 'string' ? { topology: values['topology'] } : {}),
    });
    if (values['json'] === true) {
      io.out(JSON.stringify({ journeys: r.journeys.map((j) => ({ name: j.name, request: j.request, reply: j.reply, reset: j.reset })), captures: r.captures }, null, 2));
      return 0;
    }
    const c = colour(io);
    r.journeys.forEach((j, i) => {
      io.out(c.bold(`Journey ${i + 1}: ${j.name} (${j.result.from} -> ${j.result.to}, ${j.result.dst})`));
      io.out(renderJourney(j.request));
      io.out(c.dim('  reply:'));
      io.out(j.reply !== null ? renderJourney(j.reply) : '  (no reply)');
      if (j.reset !== null) {
        io.out(c.dim(`  ${resetHeading(j.result.from)}:`));
        io.out(renderJourney(j.reset));
      }
      io.out('');
    });
    io.out(c.bold(`Captures (${r.captures.length} interfaces, open them in Wireshark or tshark):`));
    for (const f of r.captures) io.out(`  ${relative(process.cwd(), f.file) || f.file}  ${f.packets} packets`);
    return r.journeys.every((j) => j.request.delivered) ? 0 : 1;
  },
};

const trace: Command = {
  name: 'trace',
  summary: 'send one traced packet between pods and print its journey',
  help: `usage: podwire trace TOPOLOGY --from POD --to POD|IP|SERVICE [--proto icmp|udp|tcp] [--port N] [--json]
       podwire trace --api URL --from POD --to POD|IP|SERVICE [--proto icmp|udp|tcp] [--port N] [--json] [--token T]

Sends one packet (ICMP echo, UDP datagram or TCP SYN) from POD with the trace flag set,
and prints its journey and its reply's, hop by hop: every FDB lookup, route, ARP, veth
crossing, encapsulation, NAT and drop reason. A TCP SYN's SYN-ACK is answered with a RST
(the third journey, reset), so the trace leaves no half-open connection behind.

With TOPOLOGY it builds that cluster for this one trace (virtual time, fresh ARP and
conntrack tables). With --api URL (or $PODWIRE_API) and no TOPOLOGY it asks a running
\`podwire up\` instead (POST /api/v1/trace): the packet crosses that cluster as it is now,
its caches and conntrack entries included. Give one of TOPOLOGY or --api, not both.
TOPOLOGY is a podwire topology file or Kubernetes manifests (docs/manifests.md).

Exit code 0 when the packet is delivered, 1 when it is not or the API refuses the request
(its message names the field and the value, e.g. from: "pod9" is not a pod), 2 for usage.

options:
  --from POD       source pod
  --to TARGET      destination pod, IPv4 address, or service (name or name.namespace)
  --proto P        icmp (default), udp or tcp
  --port N         destination port for udp/tcp (default 7 for udp, 80 for tcp)
  --json           print { "request": Journey, "reply": Journey|null, "reset": Journey|null }
                   (and "loopAbort" when the cluster never became idle: a loop, see docs/trace.md)
  --api URL        trace on a running podwire instead of TOPOLOGY (default $PODWIRE_API)
  --token T        its bearer token (default $PODWIRE_TOKEN)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, from: { type: 'string' }, to: { type: 'string' }, proto: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' },
    }, 'trace');
    const [file, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`podwire trace: unexpected argument ${JSON.stringify(extra)}`);
    const api = typeof values['api'] === 'string' ? values['api'] : undefined;
    const envApi = process.env['PODWIRE_API'];
    if (file !== undefined && api !== undefined) {
      throw new UsageError('podwire trace: give TOPOLOGY (build a cluster for this trace) or --api URL (trace on a running podwire), not both');
    }
    const remote = file === undefined;
    if (remote && api === undefined && (envApi === undefined || envApi === '')) {
      throw new UsageError('podwire trace: missing TOPOLOGY or --api URL (a topology file to build, or a running podwire: --api or $PODWIRE_API)');
    }
    if (!remote && typeof values['token'] === 'string') throw new UsageError('podwire trace: --token goes with --api URL, not with TOPOLOGY');
    if (typeof values['from'] !== 'string') throw new UsageError('podwire trace: --from POD is required');
    if (typeof values['to'] !== 'string') throw new UsageError('podwire trace: --to POD|IP|SERVICE is required');
    const proto = values['proto'] ?? 'icmp';
    if (proto !== 'icmp' && proto !== 'udp' && proto !== 'tcp') throw new UsageError(`podwire trace: --proto ${JSON.stringify(proto)} must be icmp, udp or tcp`);
    const port = portFlag(values['port'], 'port', 'trace', 1);
    const opts = { from: values['from'], to: values['to'], proto: proto as TraceProto, ...(port !== undefined ? { port } : {}) };
    const print = (r: TraceResult): number => {
      if (values['json'] === true) io.out(JSON.stringify({ request: r.request, reply: r.reply, reset: r.reset, ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}) }, null, 2));
      else io.out(renderTrace(r));
      return r.request.delivered ? 0 : 1;
    };
    if (remote) {
      // The API answers { request, reply, reset }; the header line's resolved address (a service's
      // cluster IP, a pod's IP) is the destination the first hop sent to.
      const r = await requestJson<Pick<TraceResult, 'request' | 'reply' | 'reset' | 'loopAbort'>>(target(values), 'POST', '/trace', opts);
      const sent = r.request.hops.find((h) => h.action === 'send')?.detail['dst'];
      return print({
        from: opts.from, to: opts.to, dst: typeof sent === 'string' ? sent : opts.to, proto: opts.proto,
        port: opts.proto === 'icmp' ? null : (port ?? defaultPort(opts.proto)), request: r.request, reply: r.reply, reset: r.reset ?? null,
        ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}),
      });
    }
    return print(await traceTopology(file, opts));
  },
};

const validate: Command = {
  name: 'validate',
  summary: 'check a topology file and print every error with its path',
  help: `usage: podwire validate TOPOLOGY [--json]

Checks TOPOLOGY against the schema and the cluster's rules (known nodes, unique names,
CIDRs that do not overlap, addresses inside their ranges, ...) and prints every error
with its path, e.g. pods[2].node: "node9" is not a node. Exit code 0 when valid, 1 when not.
TOPOLOGY may also be Kubernetes manifests (a directory, a YAML/JSON file, a List, a
kubectl get -A -o yaml dump; docs/manifests.md): errors then name file, line, object and
field, e.g. deploy.yaml:14: Deployment/default/web: spec.replicas: -1 must be >= 0.`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'validate');
    const [file, extra] = positionals;
    if (file === undefined) throw new UsageError('podwire validate: missing TOPOLOGY');
    if (extra !== undefined) throw new UsageError(`podwire validate: unexpected argument ${JSON.stringify(extra)}`);
    const r = await loadTopologySource(file);
    if (values['json'] === true) {
      io.out(JSON.stringify(r.ok ? { ok: true, warnings: r.warnings } : { ok: false, errors: r.errors, warnings: r.warnings }, null, 2));
      return r.ok ? 0 : 1;
    }
    for (const w of r.warnings) io.err(`warning: ${formatTopologyError(w, { location: true })}`);
    if (!r.ok) {
      // With a line number the location already starts with the file (`demo.yaml:41:11: pods[2].node: ...`).
      for (const e of r.errors) io.err(e.line !== undefined ? formatTopologyError(e, { location: true }) : `${file}: ${formatTopologyError(e)}`);
      io.err(`${r.errors.length} error${r.errors.length === 1 ? '' : 's'}`);
      return 1;
    }
    io.out(`${file}: valid (${r.topology.nodes.length} nodes, ${r.topology.pods.length} pods, ${r.topology.services.length} services)`);
    return 0;
  },
};

export const COMMANDS: Command[] = [demo, trace, validate, rulesCommand, dnsCommand, upCommand, ...REMOTE_COMMANDS, netemCommand, captureCommand, ...LOCAL_COMMANDS];
export { TopologyInvalidError };
