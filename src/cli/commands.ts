/**
 * The table of CLI commands: name, one-line summary, --help text, and the runner.
 */
import { relative } from 'node:path';
import { colour, intFlag, parse, plural, portFlag, UsageError, type Command } from './args.js';
import { captureCommand } from './cmd-capture.js';
import { LOCAL_COMMANDS } from './cmd-local.js';
import { REMOTE_COMMANDS, REMOTE_FLAGS, target } from './cmd-remote.js';
import { requestJson } from './client.js';
import { upCommand } from './cmd-up.js';
import { rulesCommand } from './cmd-rules.js';
import { netemCommand } from './cmd-netem.js';
import { dnsCommand } from './cmd-dns.js';
import { OBSERVE_COMMANDS } from './cmd-observe.js';
import { renderFlow } from '../control/flows.js';
import { scenarioCommand } from './cmd-scenario.js';
import { netpolCommand, probeCommand } from './cmd-probe.js';
import { runDemo } from '../control/demo.js';
import { loadCluster, loadTopologySource, TopologyInvalidError } from '../control/load.js';
import {
  defaultPort, formatTopologyError, MAX_TRACE_COUNT, MAX_TRACE_SIZE, minTraceSize, renderJourney, renderSpread, renderTrace, resetHeading,
  traceTopology, traceTopologyCount, tryParsePort, type CaptureFile, type TraceFlow, type TraceOptions, type TraceResult, type TraceSpread,
} from '../control/local.js';

export type { Command };

const demo: Command = {
  name: 'demo',
  summary: 'run the built-in two-node cluster, trace the journeys, write captures',
  help: `usage: podwire demo [--out DIR] [--json] [--observe] [--topology FILE] [--html FILE]

Builds the built-in cluster (examples/demo.yaml: node1 with pod1 and pod2, node2 with
pod3), sends the journeys of "Kubernetes networking under the hood" with the trace flag
set, prints each journey hop by hop, and writes a pcapng capture of every interface the
packets crossed. Needs no root.

options:
  --out DIR        where captures go (default: captures/)
  --json           print { "journeys": [ { name, request, reply, reset } ], "captures": [...] }
  --observe        also print each journey's flow log, as \`podwire observe\` prints it
                   (with --json: "flows" per journey)
  --topology FILE  use another topology with pods pod1, pod2, pod3
  --html FILE      also write the journeys as one self-contained web page: the diagram of
                   the cluster with each journey animated on it (docs/web-ui.md)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { out: { type: 'string' }, json: { type: 'boolean' }, observe: { type: 'boolean' }, topology: { type: 'string' }, html: { type: 'string' } }, 'demo');
    if (positionals.length > 0) throw new UsageError(`podwire demo: unexpected argument ${JSON.stringify(positionals[0])}`);
    const r = await runDemo({
      ...(typeof values['out'] === 'string' ? { out: values['out'] } : {}),
      ...(typeof values['topology'] === 'string' ? { topology: values['topology'] } : {}),
      ...(typeof values['html'] === 'string' ? { html: values['html'] } : {}),
      ...(values['observe'] === true ? { observe: true } : {}),
    });
    if (values['json'] === true) {
      io.out(JSON.stringify({
        journeys: r.journeys.map((j) => ({ name: j.name, request: j.request, reply: j.reply, reset: j.reset, ...(j.flows !== undefined ? { flows: j.flows } : {}) })),
        captures: r.captures,
      }, null, 2));
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
      if (j.flows !== undefined) {
        io.out(c.dim(`  flows (${j.flows.length}, as podwire observe prints them):`));
        for (const f of j.flows) io.out(`  ${renderFlow(f)}`);
      }
      io.out('');
    });
    io.out(c.bold(`Captures (${plural(r.captures.length, 'interface')}, open them in Wireshark or tshark):`));
    for (const f of r.captures) io.out(`  ${relative(process.cwd(), f.file) || f.file}  ${plural(f.packets, 'packet')}`);
    if (r.html !== null) io.out(c.bold(`Web page (the diagram and the journeys, open it in a browser): ${r.html}`));
    return r.journeys.every((j) => j.request.delivered) ? 0 : 1;
  },
};

const trace: Command = {
  name: 'trace',
  summary: 'send one traced packet between pods and print its journey',
  help: `usage: podwire trace TOPOLOGY --from SOURCE --to TARGET[:PORT] [--proto icmp|udp|tcp] [--port N]
                     [--size BYTES] [--count N] [--pcap DIR] [--json]
       podwire trace --api URL --from SOURCE --to TARGET[:PORT] [...the same but --pcap] [--token T]

Sends one packet (ICMP echo, UDP datagram or TCP SYN) from SOURCE with the trace flag set,
and prints its journey and its reply's, hop by hop: every FDB lookup, route, ARP, veth
crossing, encapsulation, NAT and drop reason. A TCP SYN's SYN-ACK is answered with a RST
(the third journey, reset), so the trace leaves no half-open connection behind. When a
namespace on the way answers with an ICMP error instead (host or port unreachable,
fragmentation needed), the second journey is shown as "ICMP error (...)", not "reply".

With TOPOLOGY it builds that cluster for this one trace (virtual time, fresh ARP and
conntrack tables). With --api URL (or $PODWIRE_API) and no TOPOLOGY it asks a running
\`podwire up\` instead (POST /api/v1/trace): the packet crosses that cluster as it is now,
its caches and conntrack entries included. Give one of TOPOLOGY or --api, not both.
TOPOLOGY is a podwire topology file or Kubernetes manifests (docs/manifests.md).

Exit code 0 when the packet is delivered (with --count: every flow), 1 when it is not or
the API refuses the request (its message names the field and the value, e.g. from: "pod9"
is not a pod), 2 for usage. With --json, errors are JSON too (on stderr:
{ "error", "usage"?, "field"?, "value"?, "status"? }).

options:
  --from SOURCE    a pod; a node (its root namespace, where a hostNetwork pod sends from);
                   or external (a client on the nodes' network, to reach a NodePort on a
                   node's address or a LoadBalancer IP)
  --to TARGET      a pod, a service (name or name.namespace), a node, or an IPv4 address;
                   TARGET:PORT gives the port too (service1:80, 10.244.2.2:8080)
  --proto P        icmp (default), udp or tcp (any case: TCP)
  --port N         destination port for udp/tcp (default 7 for udp, 80 for tcp); not with icmp
  --size BYTES     the probe's IPv4 total length, headers included (default: a small probe),
                   Don't Fragment set: shows fragmentation needed and the MTU, e.g. over VXLAN
  --count N        send N new flows (each its own source port) and print how the service
                   proxy spread them over the endpoints
  --pcap DIR       with TOPOLOGY: write a pcapng file per interface into DIR; every hop
                   then shows its time and the capture frames it put on the wire
  --json           print { "request": Journey, "reply": Journey|null, "reset": Journey|null,
                   "replyKind"? } (and "loopAbort" when the cluster never became idle: a
                   loop, see docs/trace.md; "captures" with --pcap; "spread" and "flows"
                   with --count)
  --api URL        trace on a running podwire instead of TOPOLOGY (default $PODWIRE_API)
  --token T        its bearer token (default $PODWIRE_TOKEN)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, from: { type: 'string' }, to: { type: 'string' }, proto: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' },
      size: { type: 'string' }, count: { type: 'string' }, pcap: { type: 'string' },
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
    const pcap = typeof values['pcap'] === 'string' ? values['pcap'] : undefined;
    if (remote && pcap !== undefined) throw new UsageError('podwire trace: --pcap DIR goes with TOPOLOGY (a running podwire captures with podwire capture)');
    if (typeof values['from'] !== 'string') throw new UsageError('podwire trace: --from POD is required');
    if (typeof values['to'] !== 'string') throw new UsageError('podwire trace: --to POD|IP|SERVICE is required');
    const to = values['to'];
    const rawProto = typeof values['proto'] === 'string' ? values['proto'] : 'icmp';
    const proto = rawProto.toLowerCase(); // as the topology's protocol: TCP, tcp
    if (proto !== 'icmp' && proto !== 'udp' && proto !== 'tcp') throw new UsageError(`podwire trace: --proto ${JSON.stringify(rawProto)} must be icmp, udp or tcp`);
    const port = portFlag(values['port'], 'port', 'trace', 1);
    const toPort = /:([^:]*)$/.exec(to);
    if (toPort !== null && (tryParsePort(toPort[1]!) ?? 0) < 1) {
      throw new UsageError(`podwire trace: --to ${JSON.stringify(to)}: the port after ':' must be an integer from 1 to 65535 (TARGET:PORT)`);
    }
    if (proto === 'icmp' && port !== undefined) throw new UsageError(`podwire trace: --port ${JSON.stringify(values['port'])} goes with --proto udp or tcp (ICMP has no ports)`);
    if (proto === 'icmp' && toPort !== null) throw new UsageError(`podwire trace: --to ${JSON.stringify(to)} names a port: give --proto udp or tcp (ICMP has no ports)`);
    if (toPort !== null && port !== undefined) throw new UsageError(`podwire trace: --to ${JSON.stringify(to)} and --port ${JSON.stringify(values['port'])}: give the port once`);
    const size = intFlag(values['size'], 'size', 'trace', minTraceSize(proto), MAX_TRACE_SIZE);
    const count = intFlag(values['count'], 'count', 'trace', 1, MAX_TRACE_COUNT);
    const opts: TraceOptions = {
      from: values['from'], to, proto, ...(port !== undefined ? { port } : {}), ...(size !== undefined ? { size } : {}),
    };
    const json = values['json'] === true;
    const capturesOut = (captures: CaptureFile[] | undefined): void => {
      if (captures === undefined) return;
      io.out(`captures (${plural(captures.length, 'file')} in ${pcap ?? ''}, open them in Wireshark or tshark; [+us, file #frame] on each hop):`);
      for (const f of captures) io.out(`  ${relative(process.cwd(), f.file) || f.file}  ${plural(f.packets, 'packet')}`);
    };
    const print = (r: TraceResult, captures?: CaptureFile[]): number => {
      if (json) {
        io.out(JSON.stringify({
          ...(r.resolve !== undefined ? { resolve: r.resolve } : {}),
          request: r.request, reply: r.reply, reset: r.reset, ...(r.replyKind !== undefined ? { replyKind: r.replyKind } : {}),
          ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}), ...(captures !== undefined ? { captures } : {}),
        }, null, 2));
      } else {
        io.out(renderTrace(r, { timeline: captures !== undefined }));
        capturesOut(captures);
      }
      return r.request.delivered ? 0 : 1;
    };
    const printCount = (r: { first: TraceResult; spread: TraceSpread[]; flows: TraceFlow[] }, captures?: CaptureFile[]): number => {
      const all = r.flows.every((f) => f.delivered);
      if (json) {
        io.out(JSON.stringify({
          request: r.first.request, reply: r.first.reply, reset: r.first.reset, count: r.flows.length, spread: r.spread, flows: r.flows,
          ...(captures !== undefined ? { captures } : {}),
        }, null, 2));
      } else {
        io.out(renderSpread(r.first, r.spread, r.flows.length));
        capturesOut(captures);
      }
      return all ? 0 : 1;
    };
    if (remote) {
      // The API answers { request, reply, reset }; the header line's resolved address (a service's
      // cluster IP, a pod's IP) is the destination the first hop sent to.
      const body = { ...opts, ...(count !== undefined ? { count } : {}) };
      const r = await requestJson<Pick<TraceResult, 'request' | 'reply' | 'reset' | 'loopAbort' | 'replyKind' | 'resolve'> & { spread?: TraceSpread[]; flows?: TraceFlow[] }>(target(values), 'POST', '/trace', body);
      const sent = r.request.hops.find((h) => h.action === 'send')?.detail['dst'];
      const tp = toPort !== null ? tryParsePort(toPort[1]!) : null;
      const result: TraceResult = {
        from: opts.from, to: opts.to, dst: typeof sent === 'string' ? sent : opts.to, proto,
        port: proto === 'icmp' ? null : (tp ?? port ?? defaultPort(proto)), request: r.request, reply: r.reply, reset: r.reset ?? null,
        ...(r.replyKind !== undefined ? { replyKind: r.replyKind } : {}), ...(size !== undefined ? { size } : {}),
        ...(r.loopAbort !== undefined ? { loopAbort: r.loopAbort } : {}), ...(r.resolve !== undefined ? { resolve: r.resolve } : {}),
      };
      if (count !== undefined) return printCount({ first: result, spread: r.spread ?? [], flows: r.flows ?? [] });
      return print(result);
    }
    const local = pcap !== undefined ? { pcap } : {};
    if (count !== undefined) {
      const r = await traceTopologyCount(file, opts, count, local);
      return printCount(r, r.captures);
    }
    const r = await traceTopology(file, opts, local);
    return print(r, r.captures);
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
field, e.g. deploy.yaml:14: Deployment/default/web: spec.replicas: -1 must be >= 0.
A valid TOPOLOGY's namespaces, interfaces, routes, pods and services: podwire inspect TOPOLOGY.`,
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
    io.out(`${file}: valid (${plural(r.topology.nodes.length, 'node')}, ${plural(r.topology.pods.length, 'pod')}, ${plural(r.topology.services.length, 'service')}); list what it allocates: podwire inspect ${file}`);
    return 0;
  },
};

export const COMMANDS: Command[] = [demo, trace, validate, ...OBSERVE_COMMANDS, rulesCommand, dnsCommand, probeCommand, netpolCommand, upCommand, ...REMOTE_COMMANDS, netemCommand, captureCommand, scenarioCommand, ...LOCAL_COMMANDS];
export { TopologyInvalidError };
