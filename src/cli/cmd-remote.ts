/**
 * Commands that act on a running `podwire up` through its API: attach, detach, label,
 * stats, conntrack. Each takes `--api URL` and `--token T`; `--json` prints the API's answer.
 */
import { colour, intFlag, parse, plural, portFlag, UsageError, type Command, type Io } from './args.js';
import { apiTarget, query, request, requestJson } from './client.js';
import { TURN_MS } from '../control/local.js';

export const REMOTE_FLAGS = { api: { type: 'string' }, token: { type: 'string' } } as const;
export const REMOTE_HELP = `  --api URL        the running podwire (default http://127.0.0.1:7070, or $PODWIRE_API)
  --token T        its bearer token (default $PODWIRE_TOKEN)`;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
export const target = (values: Record<string, string | boolean | undefined>) => apiTarget(str(values['api']), str(values['token']));

const MODES = ['tap', 'second', 'veth'] as const;
const RUNTIMES = ['docker', 'podman'] as const;

const attach: Command = {
  name: 'attach',
  summary: 'join a real network namespace (netns, process or container) to a running cluster as a pod',
  help: `usage: podwire attach POD (--netns NAME | --pid N | --container NAME|ID [--runtime docker|podman])
                      [--mode tap|second|veth] [--node NODE] [--ip IP] [--namespace NS] [--offloads] [--json]

Creates a TAP device for POD, moves it into the namespace (a name under /run/netns, the
network namespace of process N, or a container's, found with \`docker inspect\`), names it
eth0 there, gives it the pod's address and a default route, and wires it to the node's
bridge. POD is a pod of the topology (with or without attach:), or a new pod when --node
is given. A container is followed across restarts: its new namespace gets the same
address and MAC (docs/attach.md).

options:
  --netns NAME     a named network namespace (ip netns add NAME)
  --pid N          the network namespace of process N
  --container C    a Docker (or Podman) container, by name or id (the engine: docker on
                   PATH, DOCKER_HOST)
  --runtime R      docker (default) or podman
  --mode M         tap: the TAP is eth0 (the container runs with --network none; default)
                   second: the TAP is eth1 beside the container's own eth0, with routes
                   for the cluster's pod and service CIDRs only
                   veth: podwire takes over the host end of the veth behind the
                   container's eth0 (it keeps its address, which must be in the node's
                   pod CIDR); the container is not touched
  --node NODE      add POD on NODE (for a pod not in the topology)
  --ip IP          its address (default: the next free one of the node's pod CIDR)
  --namespace NS   its Kubernetes namespace (default "default")
  --offloads       open the TAP with IFF_VNET_HDR: GSO/TSO frames pass through (faster TCP)
  --json           print the pod as the API returns it
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, netns: { type: 'string' }, pid: { type: 'string' }, container: { type: 'string' }, runtime: { type: 'string' },
      mode: { type: 'string' }, node: { type: 'string' }, ip: { type: 'string' },
      namespace: { type: 'string' }, offloads: { type: 'boolean' }, json: { type: 'boolean' },
    }, 'attach');
    const [pod, extra] = positionals;
    if (pod === undefined) throw new UsageError('podwire attach: missing POD');
    if (extra !== undefined) throw new UsageError(`podwire attach: unexpected argument ${JSON.stringify(extra)}`);
    const pid = intFlag(values['pid'], 'pid', 'attach', 1, 4194304);
    const netns = str(values['netns']);
    const container = str(values['container']);
    const runtime = str(values['runtime']);
    const mode = str(values['mode']);
    if ([pid, netns, container].filter((v) => v !== undefined).length !== 1) {
      throw new UsageError('podwire attach: give exactly one of --netns NAME, --pid N or --container NAME');
    }
    if (runtime !== undefined && !(RUNTIMES as readonly string[]).includes(runtime)) throw new UsageError(`podwire attach: --runtime must be docker or podman, got ${JSON.stringify(runtime)}`);
    if (runtime !== undefined && container === undefined) throw new UsageError('podwire attach: --runtime goes with --container');
    if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) throw new UsageError(`podwire attach: --mode must be tap, second or veth, got ${JSON.stringify(mode)}`);
    const body = {
      pod, ...(netns !== undefined ? { netns } : {}), ...(pid !== undefined ? { pid } : {}),
      ...(container !== undefined ? { container } : {}), ...(runtime !== undefined ? { runtime } : {}), ...(mode !== undefined ? { mode } : {}),
      ...(str(values['node']) !== undefined ? { node: str(values['node']) } : {}),
      ...(str(values['ip']) !== undefined ? { ip: str(values['ip']) } : {}),
      ...(str(values['namespace']) !== undefined ? { namespace: str(values['namespace']) } : {}),
      ...(values['offloads'] === true ? { offloads: true } : {}),
    };
    const r = await requestJson<{ key: string; ip: string; node: string; veth: string; attached: { interface?: string; pid?: number } | null }>(target(values), 'POST', '/attach', body);
    const where = netns !== undefined ? `netns ${netns}` : pid !== undefined ? `pid ${pid}` : `container ${container} (pid ${r.attached?.pid ?? '?'})`;
    if (values['json'] === true) io.out(JSON.stringify(r, null, 2));
    else io.out(`attached ${r.key}: ${r.attached?.interface ?? 'eth0'} ${r.ip} in ${where}, bridged on ${r.node} as ${r.veth}`);
    return 0;
  },
};

const detach: Command = {
  name: 'detach',
  summary: 'remove an attached pod\'s TAP device from a running cluster',
  help: `usage: podwire detach POD [--json]

Closes the pod's TAP device (it disappears from the namespace it was moved into) and
unwires it from the node's bridge. A pod added by attach --node is forgotten.

options:
  --json           print the API's answer
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, json: { type: 'boolean' } }, 'detach');
    const [pod, extra] = positionals;
    if (pod === undefined) throw new UsageError('podwire detach: missing POD');
    if (extra !== undefined) throw new UsageError(`podwire detach: unexpected argument ${JSON.stringify(extra)}`);
    const r = await requestJson(target(values), 'DELETE', `/attach/${encodeURIComponent(pod)}`);
    io.out(values['json'] === true ? JSON.stringify(r, null, 2) : `detached ${pod}`);
    return 0;
  },
};

/** `key=value` sets, `key-` removes (kubectl label's arguments); the API checks the label syntax. */
function labelPatch(args: readonly string[]): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    const [k, v] = eq >= 0 ? [a.slice(0, eq), a.slice(eq + 1)] : a.endsWith('-') ? [a.slice(0, -1), null] : [a, undefined];
    if (v === undefined || k === '') throw new UsageError(`podwire label: ${JSON.stringify(a)} is not KEY=VALUE or KEY- (remove)`);
    // kubectl: "can not both modify and remove a label in the same command"
    if (Object.hasOwn(patch, k) && patch[k] !== v) throw new UsageError(`podwire label: label ${JSON.stringify(k)} is given twice (set and remove, or two values)`);
    patch[k] = v;
  }
  return patch;
}

const label: Command = {
  name: 'label',
  summary: 'set or remove a running pod\'s labels (kubectl label): services and network policies follow',
  help: `usage: podwire label POD KEY=VALUE... KEY-... [--overwrite] [--json]

Changes the labels of POD (name, or name.namespace) on a running podwire, as kubectl label
does: KEY=VALUE sets a label, KEY- removes one (PATCH /api/v1/pods/POD, a merge patch).
Service endpoints and NetworkPolicies that select on labels follow at once; connections
already open keep going, new ones meet the new verdict (docs/networkpolicy.md). As with
kubectl, changing the value of a label the pod already has needs --overwrite.

options:
  --overwrite      allow KEY=VALUE to replace a value the pod already has
  --json           print the pod as the API returns it
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, overwrite: { type: 'boolean' }, json: { type: 'boolean' } }, 'label');
    const [pod, ...args] = positionals;
    if (pod === undefined) throw new UsageError('podwire label: missing POD');
    if (args.length === 0) throw new UsageError('podwire label: give at least one KEY=VALUE or KEY-');
    const patch = labelPatch(args);
    const t = target(values);
    if (values['overwrite'] !== true && Object.values(patch).some((v) => v !== null)) {
      // kubectl: "'app' already has a value (web), and --overwrite is false"
      const topo = await requestJson<{ pods: { name: string; namespace: string; key: string; labels: Record<string, string> }[] }>(t, 'GET', '/topology');
      const now = topo.pods.find((p) => p.key === pod || `${p.name}.${p.namespace}` === pod);
      for (const [k, v] of Object.entries(patch)) {
        const old = now?.labels[k];
        if (v !== null && old !== undefined && old !== v) throw new Error(`${JSON.stringify(k)} already has a value (${old}), and --overwrite is false`);
      }
    }
    const r = await requestJson<{ key: string; labels: Record<string, string> }>(t, 'PATCH', `/pods/${encodeURIComponent(pod)}`, { labels: patch });
    if (values['json'] === true) io.out(JSON.stringify(r, null, 2));
    else io.out(`pod/${r.key} labeled: ${Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '(no labels)'}`);
    return 0;
  },
};

interface Stats {
  clock: string;
  pool: { size: number; available: number; exhausted: number };
  engine: { linkDrops: number; unconnectedDrops: number; linkServices?: number; yields?: number; loopAborts?: number; loopAbortDrops?: number };
  dropReasons: Record<string, number>;
  linkDrops: { link: string; drops: number }[];
  conntrack: Record<string, number>;
  conntrackStats?: Record<string, { max: number; earlyDrop: number }>;
  vxlanSocket?: Record<string, { backend: string; bind: string; rcvbuf: number; kernelDrops: number; txDatagrams?: number; txBatches?: number; txDrops?: number; txErrors?: number }>;
  networkPolicies?: { policies: number; deniedBy: Record<string, number> };
  interfaces: Record<string, { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; rxDropped: number; txDropped: number }>;
}

function renderStats(s: Stats, io: Io): void {
  const c = colour(io);
  const rows = Object.entries(s.interfaces);
  const w = Math.max(9, ...rows.map(([n]) => n.length));
  const num = (n: number, width = 10): string => String(n).padStart(width);
  io.out(c.bold(`${'interface'.padEnd(w)}  ${'rx pkts'.padStart(10)} ${'rx bytes'.padStart(12)}  ${'tx pkts'.padStart(10)} ${'tx bytes'.padStart(12)}  ${'dropped'.padStart(8)}`));
  for (const [n, v] of rows) io.out(`${n.padEnd(w)}  ${num(v.rxPackets)} ${num(v.rxBytes, 12)}  ${num(v.txPackets)} ${num(v.txBytes, 12)}  ${num(v.rxDropped + v.txDropped, 8)}`);
  const drops = Object.entries(s.dropReasons).sort((a, b) => b[1] - a[1]);
  io.out('');
  io.out(c.bold('drop reasons:') + (drops.length === 0 ? ' none' : ''));
  for (const [r, n] of drops) io.out(`  ${c.red(r)} ${n}`);
  io.out(`link drops: ${s.engine.linkDrops} (full links), unconnected ports: ${s.engine.unconnectedDrops}`);
  for (const l of s.linkDrops) io.out(`  ${l.link}: ${l.drops}`);
  const en = s.engine;
  io.out(`scheduler: ${plural(en.linkServices ?? 0, 'link service')}, ${plural(en.yields ?? 0, 'turn')} given back to the event loop (work left after ${TURN_MS} ms), `
    + `${plural(en.loopAborts ?? 0, 'run')} aborted (${plural(en.loopAbortDrops ?? 0, 'packet')} dropped, loop-abort)`);
  const ct = (n: string, v: number): string => {
    const st = s.conntrackStats?.[n];
    return st === undefined ? `${n} ${v}` : `${n} ${v} of ${st.max} (early drops ${st.earlyDrop})`;
  };
  io.out(`conntrack entries: ${Object.entries(s.conntrack).map(([n, v]) => ct(n, v)).join(', ') || 'none'}`);
  for (const [n, v] of Object.entries(s.vxlanSocket ?? {})) {
    const d = `kernel drops ${v.kernelDrops}`;
    io.out(`vxlan socket ${n} ${v.bind}: ${v.kernelDrops > 0 ? c.red(d) : d} (datagrams lost at podwire's socket), receive buffer ${v.rcvbuf} bytes (${v.backend})`);
    if (v.txDatagrams !== undefined) {
      const lost = `${v.txDrops ?? 0} dropped (send buffer full), ${v.txErrors ?? 0} errors`;
      io.out(`  sent ${plural(v.txDatagrams, 'datagram')} in ${plural(v.txBatches ?? 0, 'system call')}, ${(v.txDrops ?? 0) + (v.txErrors ?? 0) > 0 ? c.red(lost) : lost}`);
    }
  }
  const np = s.networkPolicies;
  if (np !== undefined && (np.policies > 0 || Object.keys(np.deniedBy).length > 0)) {
    const denied = Object.entries(np.deniedBy);
    io.out(`network policies: ${np.policies}; connections denied per policy:${denied.length === 0 ? ' none' : ''}`);
    for (const [k, n] of denied) io.out(`  ${k} ${n}`);
  }
  io.out(`packet pool: ${s.pool.available} of ${s.pool.size} free, ${plural(s.pool.exhausted, 'allocation failure')}; clock: ${s.clock}`);
}

const stats: Command = {
  name: 'stats',
  summary: 'counters of a running cluster: interfaces, drop reasons, link drops',
  help: `usage: podwire stats [--json]

Prints every interface's packet and byte counters, the drop reasons counted by the
elements (bridges, namespaces, veths, tunnels, conntrack, kube-proxy), drops at full links,
the scheduler (link services, turns given back to the event loop while work was left, e.g.
an echo loop, and runs aborted at the step limit), the conntrack tables (entries of max, and
early drops: entries evicted to make room, as conntrack -S counts them), for each node with
vtep.bind its VXLAN socket (the datagrams the kernel dropped at it, as /proc/net/udp counts
them, and its receive buffer), NetworkPolicy denials per policy (policy-denied) and the
packet pool. --json prints the API's full answer, with
every element's counters.

options:
  --json           print GET /stats as JSON
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, json: { type: 'boolean' } }, 'stats');
    if (positionals.length > 0) throw new UsageError(`podwire stats: unexpected argument ${JSON.stringify(positionals[0])}`);
    const s = await requestJson<Stats>(target(values), 'GET', '/stats');
    if (values['json'] === true) io.out(JSON.stringify(s, null, 2));
    else renderStats(s, io);
    return 0;
  },
};

const conntrack: Command = {
  name: 'conntrack',
  summary: 'list or delete conntrack entries of a running cluster (conntrack -L / -D)',
  help: `usage: podwire conntrack [-L | -D] [-p PROTO] [-s SRC] [-d DST] [--sport N] [--dport N] [--node NODE] [--json]

Lists (-L, the default) the connection tracking entries of every node, or of --node,
in conntrack-tools' format (one "# node" comment line per node), with the tool's summary
line on stderr; -D (--delete) deletes the matching entries instead. Filters match the
original direction's tuple, as conntrack's do.

options:
  -L, --list       list (default)
  -D, --delete     delete the matching entries
  -p, --proto P    tcp, udp, icmp or a protocol number
  -s, --src IP     original source address
  -d, --dst IP     original destination address
  --sport N        original source port
  --dport N        original destination port
  --node NODE      only this node's table
  --json           print JSON (entries with both tuples, state, timeout, NAT flags)
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, list: { type: 'boolean', short: 'L' }, delete: { type: 'boolean', short: 'D' },
      proto: { type: 'string', short: 'p' }, src: { type: 'string', short: 's' }, dst: { type: 'string', short: 'd' },
      sport: { type: 'string' }, dport: { type: 'string' }, node: { type: 'string' }, json: { type: 'boolean' },
    }, 'conntrack');
    if (positionals.length > 0) throw new UsageError(`podwire conntrack: unexpected argument ${JSON.stringify(positionals[0])}`);
    if (values['list'] === true && values['delete'] === true) throw new UsageError('podwire conntrack: give -L or -D, not both');
    const sport = portFlag(values['sport'], 'sport', 'conntrack');
    const dport = portFlag(values['dport'], 'dport', 'conntrack');
    const filters = { proto: str(values['proto']), src: str(values['src']), dst: str(values['dst']), sport, dport, node: str(values['node']) };
    const t = target(values);
    if (values['delete'] === true) {
      const r = await requestJson<{ deleted: number }>(t, 'DELETE', `/conntrack${query(filters)}`);
      if (values['json'] === true) io.out(JSON.stringify(r, null, 2));
      else io.err(`conntrack v1.4.8 (conntrack-tools): ${r.deleted} flow entries have been deleted.`);
      return 0;
    }
    if (values['json'] === true) {
      io.out(JSON.stringify(await requestJson(t, 'GET', `/conntrack${query({ ...filters, format: 'json' })}`), null, 2));
      return 0;
    }
    const res = await request(t, 'GET', `/conntrack${query({ ...filters, format: 'text' })}`);
    const text = await res.text();
    if (text !== '') io.out(text.replace(/\n$/, ''));
    io.err(`conntrack v1.4.8 (conntrack-tools): ${res.headers.get('x-podwire-count') ?? '0'} flow entries have been shown.`);
    return 0;
  },
};

export const REMOTE_COMMANDS: Command[] = [attach, detach, label, stats, conntrack];
