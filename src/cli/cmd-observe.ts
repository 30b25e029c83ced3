/**
 * `podwire inspect` (everything a cluster allocated, shaped like `ip -br addr`, `ip route`
 * and `bridge fdb`; from a topology file or a running podwire) and `podwire observe` (the
 * flow log of a running podwire, one line per flow event as `hubble observe` prints them;
 * `--follow` reads the API's server-sent event stream).
 */
import { intFlag, parse, UsageError, type Command } from './args.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';
import { query, request, requestJson } from './client.js';
import { inspectTopology, renderInspect, type InspectView } from '../control/local.js';
import { renderFlow, type FlowEvent } from '../control/flows.js';

/** TOPOLOGY or --api (or $PODWIRE_API), not both: the file, or null for remote. */
function source(command: string, file: string | undefined, values: Record<string, string | boolean | undefined>): string | null {
  const api = typeof values['api'] === 'string' ? values['api'] : undefined;
  if (file !== undefined && api !== undefined) throw new UsageError(`podwire ${command}: give TOPOLOGY or --api URL, not both`);
  if (file !== undefined) {
    if (typeof values['token'] === 'string') throw new UsageError(`podwire ${command}: --token goes with --api URL, not with TOPOLOGY`);
    return file;
  }
  const env = process.env['PODWIRE_API'];
  if (api === undefined && (env === undefined || env === '')) {
    throw new UsageError(`podwire ${command}: missing TOPOLOGY or --api URL (a topology file to build, or a running podwire: --api or $PODWIRE_API)`);
  }
  return null;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list every node, namespace, interface, route, bridge FDB, VTEP, pod and service',
  help: `usage: podwire inspect TOPOLOGY [--node NODE] [--json]
       podwire inspect --api URL [--node NODE] [--json] [--token T]

Lists what the cluster allocated, node by node, as the node's own tools would show it:
each network namespace (the node's root, then its pods') with its interfaces in the shape
of \`ip -br addr\` (name@peer, state, addresses, then MAC, MTU and the bridge it is a port of)
and its routes as \`ip route\` prints them; the bridge's ports and learned FDB
(\`bridge fdb show br cbr0\`); the VTEP (\`ip -d link show flannel.1\`, \`bridge fdb show dev
flannel.1\`); then the pods and the services with cluster IP, ports and endpoints.

With TOPOLOGY it builds that cluster to list it (nothing has been sent yet, so the bridges
have learned nothing); with --api URL (or $PODWIRE_API) it asks a running \`podwire up\`
(GET /api/v1/inspect), whose FDBs, pods and services are as they are now.

options:
  --node NODE      only this node and its pods (services are listed whole)
  --json           print the inspect document (docs/api.md, GET /inspect)
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, node: { type: 'string' }, json: { type: 'boolean' } }, 'inspect');
    const [file, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`podwire inspect: unexpected argument ${JSON.stringify(extra)}`);
    const local = source('inspect', file, values);
    const node = typeof values['node'] === 'string' ? values['node'] : null;
    if (node === '') throw new UsageError('podwire inspect: --node "" must name a node');
    const v = local !== null ? await inspectTopology(local, node)
      : await requestJson<InspectView>(target(values), 'GET', `/inspect${query({ node: node ?? undefined })}`);
    io.out(values['json'] === true ? JSON.stringify(v, null, 2) : renderInspect(v));
    return 0;
  },
};

const VERDICTS = ['forwarded', 'dropped'] as const;
const PROTOCOLS = ['tcp', 'udp', 'icmp'] as const;

/** Reads a server-sent event stream, calling `onEvent` per `data:` line's JSON; resolves when it ends or `stop()` returns true. */
async function readSse(res: Response, onEvent: (e: FlowEvent) => boolean): Promise<void> {
  const body = res.body;
  if (body === null) return;
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of block.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          if (onEvent(JSON.parse(line.slice(6)) as FlowEvent)) return;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export const observeCommand: Command = {
  name: 'observe',
  summary: 'the flow log of a running cluster, one line per flow (like hubble observe)',
  help: `usage: podwire observe [--api URL] [--pod P] [--service S] [--verdict forwarded|dropped]
                       [--protocol TCP|UDP|ICMP] [--last N] [--follow] [--count N] [--json] [--token T]

Prints the flow events of a running \`podwire up\` (GET /api/v1/flows), one line each:
time, node, source pod:port (IP), destination pod:port (IP) and the service it was sent
to, the verdict (FORWARDED, or DROPPED with the reason the dataplane counted), and the TCP
flags or ICMP type. Events are what a node's conntrack decides (a new connection, with the
endpoint kube-proxy chose; the first reply; every TCP SYN, FIN and RST) and every counted
drop of an IPv4 packet; the API keeps the last 4096. Without --follow it prints those kept
and exits; with --follow it then waits for new ones (server-sent events) until Ctrl-C, or
until --count events were printed.

options:
  --pod P          only flows from or to pod P (name, namespace/name or name.namespace)
  --service S      only flows to service S (name, namespace/name or name.namespace)
  --verdict V      forwarded or dropped
  --protocol P     TCP, UDP or ICMP (any case)
  --last N         only the last N events kept (default: all; with --follow: 20)
  --follow         keep printing new events as they happen
  --count N        stop after N events (with --follow)
  --json           one JSON event per line (docs/api.md, GET /flows)
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, pod: { type: 'string' }, service: { type: 'string' }, verdict: { type: 'string' }, protocol: { type: 'string' },
      last: { type: 'string' }, follow: { type: 'boolean' }, count: { type: 'string' }, json: { type: 'boolean' },
    }, 'observe');
    if (positionals.length > 0) throw new UsageError(`podwire observe: unexpected argument ${JSON.stringify(positionals[0])} (observe reads a running podwire: --api URL)`);
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    const verdict = str('verdict');
    if (verdict !== undefined && !(VERDICTS as readonly string[]).includes(verdict)) {
      throw new UsageError(`podwire observe: --verdict ${JSON.stringify(verdict)} must be forwarded or dropped`);
    }
    const protocol = str('protocol');
    if (protocol !== undefined && !(PROTOCOLS as readonly string[]).includes(protocol.toLowerCase())) {
      throw new UsageError(`podwire observe: --protocol ${JSON.stringify(protocol)} must be TCP, UDP or ICMP`);
    }
    for (const k of ['pod', 'service'] as const) if (str(k) === '') throw new UsageError(`podwire observe: --${k} "" must name a ${k}`);
    const last = intFlag(values['last'], 'last', 'observe', 0, 4096);
    const count = intFlag(values['count'], 'count', 'observe', 1, 1_000_000_000);
    const follow = values['follow'] === true;
    if (count !== undefined && !follow) throw new UsageError('podwire observe: --count N goes with --follow');
    const print = (e: FlowEvent): void => io.out(values['json'] === true ? JSON.stringify(e) : renderFlow(e));
    const filters = { pod: str('pod'), service: str('service'), verdict, protocol };
    const t = target(values);
    if (!follow) {
      const r = await requestJson<{ events: FlowEvent[] }>(t, 'GET', `/flows${query({ ...filters, limit: last })}`);
      for (const e of r.events) print(e);
      return 0;
    }
    const res = await request(t, 'GET', `/flows${query({ ...filters, follow: true, limit: last ?? 20 })}`);
    let n = 0;
    await readSse(res, (e) => {
      print(e);
      n++;
      return count !== undefined && n >= count;
    });
    return 0;
  },
};

export const OBSERVE_COMMANDS: Command[] = [inspectCommand, observeCommand];
