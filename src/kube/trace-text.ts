/**
 * Renders a journey as the textbook walk-through of "Kubernetes networking under the hood":
 * one numbered sentence per hop, naming where the packet is (node, namespace, device) and
 * what was decided there. The words follow ../shared/JOURNEYS.md where they fit.
 */
import type { Hop } from '../engine/trace.js';
import type { Journey, TraceResult, TraceSpread } from './trace.js';
import type { TraceResolve } from './trace-dns.js';

const PROTO: Record<string, string> = { '1': 'ICMP', '6': 'TCP', '17': 'UDP' };

function place(h: Hop): string {
  if (h.netns === 'root') return `the root namespace of ${h.node}`;
  if (h.netns === 'external' && h.node === 'external') return 'the external client';
  if (h.netns === 'underlay') return 'the cluster network'; // the switch (a node or pod may be called underlay too)
  return `${h.netns}`;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * One sentence for one hop. `prev` (the hop before, if any) lets a sentence say what the
 * step means in context: the UDP packet a node sends right after `vxlan-encap` is the outer
 * packet of the tunnel.
 */
export function describeHop(h: Hop, prev?: Hop): string {
  const d = h.detail;
  switch (h.action) {
    case 'send': {
      const proto = PROTO[str(d['protocol'])] ?? `protocol ${str(d['protocol'])}`;
      if (h.netns === 'root' && prev?.action === 'vxlan-encap') {
        return `The root namespace of ${h.node} sends the encapsulated frame as an outer UDP packet from ${str(d['src'])} to ${str(d['dst'])} (TTL ${str(d['ttl'])}).`;
      }
      return `${cap(place(h))} sends ${article(proto)} packet from ${str(d['src'])} to ${str(d['dst'])} (TTL ${str(d['ttl'])}).`;
    }
    case 'route':
      if (String(d['route']).startsWith('local ')) {
        return `${cap(place(h))} looks up ${str(d['dst'])}: \`${str(d['route'])}\` (table local), an address of ${place(h)} itself, so the packet loops back through ${str(d['dev'])}.`;
      }
      if (String(d['route']).startsWith('default')) {
        return `${cap(place(h))} looks up ${str(d['dst'])} in its routing table: only the default route matches (\`${str(d['route'])}\`), so the packet goes to the gateway ${str(d['via'])} out of ${str(d['dev'])}.`;
      }
      return d['via'] !== null && d['via'] !== undefined
        ? `${cap(place(h))} looks up ${str(d['dst'])} in its routing table: \`${str(d['route'])}\`, so the next hop is ${str(d['via'])} out of ${str(d['dev'])}.`
        : `${cap(place(h))} looks up ${str(d['dst'])} in its routing table: \`${str(d['route'])}\`, directly reachable on ${str(d['dev'])}.`;
    case 'arp-request':
      return `${cap(place(h))} does not know the MAC address of ${str(d['who'])} yet: it queues the packet and broadcasts an ARP request on ${h.device} ("who has ${str(d['who'])}?").`;
    case 'arp-reply':
      return d['mac'] !== undefined
        ? `The ARP reply arrives: ${str(d['ip'])} is at ${str(d['mac'])}; the queued packet leaves ${h.device}.`
        : `${cap(place(h))} answers the ARP request for ${str(d['ip'])} from ${str(d['answeredTo'])} on ${h.device}.`;
    case 'veth':
      return `The packet crosses the veth pair (${str(d['from'])} -> ${str(d['to'])})${vethInto(str(d['to']), h.node)}.`;
    case 'bridge-forward':
      return `It reaches the bridge ${h.device} on ${h.node}: the FDB says ${str(d['dstMac'])} is on port ${str(d['port'])}, so the bridge sends the frame out of ${str(d['port'])}.`;
    case 'bridge-flood':
      return `It reaches the bridge ${h.device} on ${h.node}: no FDB entry for ${str(d['dstMac'])}, so the frame is flooded to ${list(d['ports'])}.`;
    case 'bridge-local':
      return `It reaches the bridge ${h.device} on ${h.node}: the frame is addressed to ${h.device} itself (the pods' gateway), so it goes up into ${h.node}'s root namespace.`;
    case 'forward':
      return d['from'] === d['to']
        ? `The root namespace of ${h.node} forwards the packet back out of ${str(d['to'])} (the destination sits behind the same bridge), decrementing the TTL to ${str(d['ttl'])}.`
        : `The root namespace of ${h.node} forwards the packet from ${str(d['from'])} to ${str(d['to'])}, decrementing the TTL to ${str(d['ttl'])}.`;
    case 'underlay':
      return d['fdb'] === 'hit' || d['fdb'] === undefined
        ? `The frame leaves eth0, crosses the cluster network (the underlay switch) and enters ${str(d['port'])} on eth0.`
        : `The frame leaves eth0 and the cluster network (the underlay switch) floods it to ${list(d['ports'] ?? d['port'])}.`;
    case 'vxlan-encap':
      return `${h.device} on ${h.node} wraps the frame in VXLAN (VNI ${str(d['vni'])}): outer UDP ${str(d['outerSrc'])}:${str(d['srcPort'])} -> ${str(d['outerDst'])}:${str(d['dstPort'])}.`;
    case 'vxlan-decap':
      return `${h.node} receives the VXLAN packet on port ${str(d['port'] ?? d['dstPort'] ?? '')} from ${str(d['from'])} and unwraps it (VNI ${str(d['vni'])}); the inner frame appears on ${h.device}.`.replace(' on port  from', ' from');
    case 'dnat':
      return describeDnat(h);
    case 'un-dnat':
      return `${d['bridged'] === true ? `On the bridge ${h.device} (br_netfilter), ` : ''}conntrack recognises the reply and reverses the DNAT: the source ${str(d['from'])} becomes ${str(d['to'] ?? d['vip'])} again, the address the client sent to.`.replace(/^c/, 'C');
    case 'snat':
      return d['conntrack'] === 'new' || d['conntrack'] === undefined
        ? `kube-proxy's masquerade rule (KUBE-POSTROUTING) rewrites the source ${str(d['from'])} to ${str(d['to'])}, ${h.node}'s own address on the way out, so the reply comes back through ${h.node}.`
        : `conntrack applies the same SNAT: the source ${str(d['from'])} becomes ${str(d['to'])}.`;
    case 'un-snat':
      return `conntrack reverses the SNAT: the destination ${str(d['from'])} becomes ${str(d['to'])} again.`;
    case 'conntrack':
      return describeConntrack(h);
    case 'deliver':
      return describeDeliver(h);
    case 'icmp-error': {
      const name = icmpErrorName(Number(d['type']), Number(d['code']));
      return `${cap(place(h))} answers with ICMP type ${str(d['type'])} code ${str(d['code'])}${name !== null ? ` (${name})` : ''}${d['mtu'] !== undefined ? ` (next-hop MTU ${str(d['mtu'])})` : ''} to ${str(d['to'])}.`;
    }
    case 'tcp-rst':
      return `Nothing listens on TCP port ${str(d['port'])} in ${place(h)}: it answers with a RST.`;
    case 'sctp-abort':
      return `Nothing listens on SCTP port ${str(d['port'])} in ${place(h)}: it answers with an ABORT.`;
    case 'tcp-closed':
      return d['was'] === 'syn-received'
        ? `The server listening on TCP port ${str(d['port'])} in ${place(h)} takes the RST: its half-open connection from ${str(d['peer'])} (SYN-RECEIVED) is closed and forgotten.`
        : `The server listening on TCP port ${str(d['port'])} in ${place(h)} takes the RST: its connection from ${str(d['peer'])} (${str(d['was']).toUpperCase()}) is closed.`;
    case 'tcp-syn':
      return `The server listening on TCP port ${str(d['port'])} in ${place(h)} accepts the SYN and answers with a SYN-ACK (the connection is now ${str(d['state'] ?? 'syn-received').toUpperCase()}).`;
    case 'policy':
      return `NetworkPolicy on ${h.node} ${d['verdict'] === 'denied' ? 'refuses' : 'lets through'} the new connection: ${str(d['reason'])}.`;
    case 'tap':
      return `The frame ${str(d['dir'] ?? 'crosses')} the TAP device ${h.device} (a real namespace).`;
    case 'drop': {
      const why = DROP_WHY[str(d['reason'])];
      return `DROPPED at ${h.node}/${h.netns}/${h.device}: ${str(d['reason'])}${why !== undefined ? ` (${why})` : ''}.`;
    }
    default:
      return `${h.action} at ${h.node}/${h.netns}/${h.device} ${JSON.stringify(d)}`;
  }
}

/** conntrack's view of the packet: a NEW connection, a packet of a known one, a reply. */
function describeConntrack(h: Hop): string {
  const d = h.detail;
  const tuple = d['orig'] !== undefined ? ` ${str(d['orig'])}` : '';
  if (d['tcp'] === 'CLOSE' && (d['state'] === 'established' || d['state'] === 'reply')) {
    return `conntrack in ${place(h)} sees the RST of the connection${tuple}: the entry moves to CLOSE (Linux forgets it after 10 s).`;
  }
  switch (d['state']) {
    case 'new': return `conntrack in ${place(h)} sees a NEW ${str(d['proto'] ?? '')} connection${tuple}.`.replace('  ', ' ');
    case 'established': return `conntrack in ${place(h)} finds the connection${tuple} it already tracks${d['tcp'] !== undefined ? ` (${str(d['tcp'])})` : ''}.`;
    case 'reply': return `conntrack in ${place(h)} recognises a reply of the connection${tuple}${d['tcp'] !== undefined ? ` (${str(d['tcp'])})` : ''}.`;
    case 'related': return `conntrack in ${place(h)} relates this ICMP error to the connection${tuple}.`;
    case 'invalid': return `conntrack in ${place(h)} cannot place the packet in any connection (INVALID): no NAT.`;
    default: return `conntrack in ${place(h)}: ${str(d['state'])}.`;
  }
}

/** The service translation: iptables or IPVS, set up by kube-proxy, rewrites the VIP to a pod. */
function describeDnat(h: Hop): string {
  const d = h.detail;
  if (d['conntrack'] !== undefined && d['conntrack'] !== 'new') {
    return `conntrack applies the connection's DNAT again: ${str(d['from'])} -> ${str(d['to'])}.`;
  }
  const ipvs = d['mode'] === 'ipvs';
  const engine = ipvs ? 'IPVS' : 'iptables';
  const vip = d['port'] !== undefined ? `${str(d['vip'])}:${str(d['port'])}` : str(d['vip']);
  const what = d['nodePort'] !== undefined ? `NodePort ${str(d['nodePort'])} on ${h.node}'s address ${str(d['vip'])}` : `the service address ${vip}`;
  const svc = d['service'] !== undefined ? ` (${str(d['service'])})` : '';
  const rule = d['rule'] !== undefined ? ` [${str(d['rule'])}]` : '';
  if (d['reason'] !== undefined) {
    return `${engine}, set up by kube-proxy, matches ${what}${svc}, but the service has no endpoint to send it to${d['reason'] === 'no-local-endpoints' ? ' on this node (externalTrafficPolicy Local)' : ''}: the packet is rejected (${str(d['reason'])})${rule}.`;
  }
  const s = d['scheduler'];
  const how = s === 'affinity' ? 'the same pod as before (ClientIP session affinity)'
    : s === 'random' || (s === undefined && !ipvs) ? "chosen at random by the KUBE-SVC chain's probability rules"
      : s !== undefined ? `chosen by the ${str(s)} scheduler` : 'chosen by the load-balancing algorithm';
  const pod = d['pod'] !== undefined ? ` (${str(d['pod'])})` : '';
  const masq = d['hairpin'] === true ? '; the pod is reaching itself (hairpin), so the source will be masqueraded'
    : d['masquerade'] === true ? '; marked for masquerade' : '';
  return `${engine}, set up by kube-proxy, matches ${what}${svc} and rewrites the destination to one of its pods: DNAT to ${str(d['endpoint'])}${pod}, ${how}${rule}${masq}; conntrack remembers the translation.`;
}

/** RFC 792 / RFC 1191 names of the ICMP errors podwire sends. */
export function icmpErrorName(type: number, code: number): string | null {
  if (type === 11) return 'time exceeded';
  if (type !== 3) return null;
  return ['net unreachable', 'host unreachable', 'protocol unreachable', 'port unreachable', 'fragmentation needed and DF set'][code] ?? 'destination unreachable';
}

const ICMP_TYPES: Record<string, string> = { '0': 'echo reply', '3': 'destination unreachable', '8': 'echo request', '11': 'time exceeded' };

/** A few drop reasons in words (the reason itself is always printed). */
const DROP_WHY: Record<string, string> = {
  'other-host': 'the frame is addressed to another MAC address; a flooded copy ends here',
  'arp-not-for-us': 'an ARP request for another address',
  'neighbor-unreachable': 'no answer to 3 ARP requests',
  'neighbor-queue-full': 'too many packets already wait for this ARP reply',
  'neighbor-table-overflow': 'the node kernel\'s ARP table is full (gc_thresh3): no entry for the next hop could be made',
  'no-route': 'no route to the destination',
  'ttl-exceeded': 'the TTL ran out',
  'frag-needed': 'too big for the next link, and Don\'t Fragment is set',
  'no-socket': 'nothing listens there',
  'policy-denied': 'a NetworkPolicy isolates the pod and none of its rules allows this connection',
  'bad-checksum': 'the checksum does not verify',
  'hairpin-off': 'the bridge never sends a frame back out of the port it came in by unless hairpin mode is on',
  'loop-abort': 'the cluster never became idle (a forwarding or echo loop); podwire stopped the run and dropped every queued packet',
};

/** The destination namespace takes the packet in: a pod's socket, a pod's kernel answering ping, or a node. */
function describeDeliver(h: Hop): string {
  const d = h.detail;
  const flow = `${str(d['src'])} -> ${str(d['dst'])}`;
  const proto = str(d['protocol']);
  const port = d['port'];
  if (h.netns === 'root') {
    const what = proto === 'udp' || proto === 'tcp' ? `${proto.toUpperCase()} port ${str(port)}` : proto.toUpperCase();
    const vxlan = proto === 'udp' && (port === 8472 || port === 4789) ? ' (the VXLAN socket of flannel.1)' : '';
    return `The packet (${flow}) on ${h.device} is addressed to ${h.node} itself, so ${h.node} takes it in on ${what}${vxlan}.`;
  }
  if (proto === 'icmp') {
    if (typeof port === 'string' && port.startsWith('echo-reply')) return `It arrives on ${h.netns}'s ${h.device} (${flow}): ${h.netns}'s kernel answers the echo request with an echo reply.`;
    const t = typeof port === 'string' ? port.replace(/^type /, '') : '';
    return `It arrives on ${h.netns}'s ${h.device} (${flow}) and is delivered to the socket waiting for this ICMP ${ICMP_TYPES[t] ?? `type ${t}`}.`;
  }
  return `It arrives on ${h.netns}'s ${h.device} (${flow}) and is delivered to the socket on ${proto.toUpperCase()} port ${str(port)}.`;
}

function vethInto(to: string, node: string): string {
  return to.startsWith('root/') ? ` into the root namespace of ${node}` : ` into ${to.split('/')[0] ?? to}`;
}

/** Capitalises a sentence start, but never a name (pods and nodes keep their case). */
function cap(s: string): string {
  return s.startsWith('the ') ? `T${s.slice(1)}` : s;
}

function article(word: string): string {
  return /^[AEFHILMNORSX]/.test(word) ? `an ${word}` : `a ${word}`;
}

function list(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join(', ') : str(v);
}

/**
 * conntrack bookkeeping that changes nothing (a NEW entry without NAT, a known connection
 * passing through) stays in the JSON but out of the prose; it is told when NAT follows.
 */
function told(hops: readonly Hop[], i: number): boolean {
  const h = hops[i]!;
  if (h.action !== 'conntrack') return true;
  const state = h.detail['state'];
  if ((state !== 'new' && state !== 'established' && state !== 'reply') || h.detail['tcp'] === 'CLOSE') return true;
  const next = hops[i + 1];
  return next !== undefined && next.node === h.node && ['dnat', 'un-snat', 'drop'].includes(next.action);
}

/** The hops the prose tells, in order, each with its sentence: what renderJourney numbers (the web UI animates these). */
export function journeySteps(j: Journey): { hop: Hop; text: string }[] {
  const shown = j.hops.filter((_, i) => told(j.hops, i));
  return shown.map((h, i) => ({ hop: h, text: describeHop(h, shown[i - 1]) }));
}

export interface RenderOptions {
  /**
   * Show each hop's time (microseconds after `t0`, epoch ms) and the capture frames it put on
   * the wire (`[+12 us, pod1_eth0.pcapng #3]`): the timeline to read beside the captures.
   */
  timeline?: { t0: number };
}

export function renderJourney(j: Journey, indent = '  ', opts: RenderOptions = {}): string {
  const shown: Hop[] = [];
  const seen: string[][] = [];
  j.hops.forEach((h, i) => {
    if (told(j.hops, i)) { shown.push(h); seen.push([]); }
    // A hop left out of the prose passes its frames to the sentence before it.
    for (const c of h.captures ?? []) seen[seen.length - 1]?.push(`${c.file} #${c.frame}`);
  });
  const tl = opts.timeline;
  const lines = shown.map((h, i) => {
    const at = tl !== undefined && h.time !== undefined ? [`+${Math.round((h.time - tl.t0) * 1000)} us`, ...seen[i]!] : [];
    return `${indent}${String(i + 1).padStart(2)}. ${describeHop(h, shown[i - 1])}${at.length > 0 ? ` [${at.join(', ')}]` : ''}`;
  });
  const end = j.delivered ? 'delivered' : j.dropReason !== null ? `dropped (${j.dropReason})` : 'not delivered (no answer)';
  lines.push(`${indent}=> ${end}`);
  return lines.join('\n');
}

export function renderTrace(r: TraceResult, opts: { timeline?: boolean } = {}): string {
  const what = r.proto === 'icmp' ? 'ICMP echo' : `${r.proto.toUpperCase()} port ${r.port ?? ''}`;
  const size = r.size !== undefined ? `, ${r.size} bytes (DF)` : '';
  const t0 = r.request.hops[0]?.time;
  const ro: RenderOptions = opts.timeline === true && t0 !== undefined ? { timeline: { t0 } } : {};
  const out = [`${r.from} -> ${r.to} (${r.dst}), ${what}${size}`];
  if (r.resolve !== undefined) out.push(...renderResolve(r.from, r.resolve));
  out.push(renderJourney(r.request, '  ', ro));
  if (r.reply !== null) out.push(`${replyHeading(r)}:`, renderJourney(r.reply, '  ', ro));
  else out.push('reply: none');
  if (r.reset !== null) out.push(`${resetHeading(r.from)}:`, renderJourney(r.reset, '  ', ro));
  if (r.loopAbort !== undefined) {
    out.push(`warning: the cluster never became idle (a forwarding or echo loop): podwire aborted ${r.loopAbort.runs} run${r.loopAbort.runs === 1 ? '' : 's'} `
      + `at the step limit and dropped the ${r.loopAbort.drops} packet${r.loopAbort.drops === 1 ? '' : 's'} still queued (loop-abort); this journey may be cut short`);
  }
  return out.join('\n');
}

/**
 * The lookup in front of a trace to a DNS name: the resolv.conf, each query with its answer
 * and when (ms after the first), and what ndots cost.
 */
export function renderResolve(from: string, d: TraceResolve): string[] {
  const out = [`resolve ${d.name} from ${from} (nameserver ${d.nameserver}; search ${d.search.join(' ')}; options ndots:${d.ndots}):`];
  // Times only when the clock moved (a timeout, a wall-clock run): an emulated answer takes no virtual time.
  const timed = d.ms > 0;
  for (const q of d.queries) {
    const when = q.answeredMs !== undefined ? (timed ? `, at ${q.answeredMs} ms` : '') : `, no answer (sent at ${q.sentMs} ms)`;
    const addrs = q.addresses.length > 0 ? ` ${q.addresses.join(' ')}` : q.result === 'NOERROR' ? ' (no data)' : '';
    out.push(`  ${q.name}. IN ${q.type}${q.attempt > 1 ? ` (try ${q.attempt})` : ''} -> ${q.result}${addrs}${when}`);
  }
  const dots = d.name.replace(/\.$/, '').split('.').length - 1;
  if (d.before > 0 && d.answeredName !== null) {
    out.push(`  ${d.before} name${d.before === 1 ? '' : 's'} asked before ${d.answeredName} (${d.before * 2} queries): ${d.name} has ${dots} dot${dots === 1 ? '' : 's'}, fewer than ndots:${d.ndots}, so the search list comes first${d.name.endsWith('.') ? '' : `; \`${d.name}.\` (a trailing dot) asks it at once`}`);
  }
  out.push(`  ${d.answeredName !== null ? `answer from ${d.answeredName}: ${d.address}` : 'no answer'}${timed ? ` after ${d.ms} ms` : ''}`);
  return out;
}

/**
 * The heading of the second journey: `reply`, or, when a namespace on the way answered the
 * request with an ICMP error (it never reached an answer), `ICMP error (host unreachable from node2)`.
 */
export function replyHeading(r: Pick<TraceResult, 'request' | 'reply'>): string {
  const err = r.request.hops.find((h) => h.action === 'icmp-error');
  if (err === undefined) return 'reply';
  const name = icmpErrorName(Number(err.detail['type']), Number(err.detail['code'])) ?? `type ${str(err.detail['type'])} code ${str(err.detail['code'])}`;
  const mtu = err.detail['mtu'] !== undefined ? `, MTU ${str(err.detail['mtu'])}` : '';
  const by = err.netns === 'root' ? err.node : err.netns;
  return `ICMP error (${name}${mtu}, from ${by})`;
}

/** The heading of a TCP trace's third journey: the source's RST for the SYN-ACK. */
export function resetHeading(from: string): string {
  return `reset (${from} answers the SYN-ACK with a RST, as a kernel does for a connection it did not open: the trace leaves no half-open connection behind)`;
}

const count = (n: number, one: string): string => `${n} ${n === 1 ? one : `${one}s`}`;

/**
 * `podwire trace --count N`: how the N new flows were spread over the endpoints, one line per
 * endpoint with its share, as a learner watching kube-proxy's load balancing wants to see it.
 */
export function renderSpread(first: TraceResult, spread: readonly TraceSpread[], n: number): string {
  const what = first.proto === 'icmp' ? 'ICMP echo' : `${first.proto.toUpperCase()} port ${first.port ?? ''}`;
  const out = [`${first.from} -> ${first.to} (${first.dst}), ${what}: ${count(n, 'new flow')}, spread over ${count(spread.length, 'endpoint')}:`];
  const width = Math.max(...spread.map((s) => s.endpoint.length + (s.pod !== null ? s.pod.length + 3 : 0)));
  for (const s of spread) {
    const who = s.pod !== null ? `${s.pod} (${s.endpoint})` : s.endpoint;
    const pct = Math.round((100 * s.flows) / n);
    const lost = s.delivered < s.flows ? `, ${s.flows - s.delivered} not delivered` : '';
    out.push(`  ${who.padEnd(width)}  ${count(s.flows, 'flow').padStart(10)}  ${String(pct).padStart(3)}%${lost}`);
  }
  const delivered = spread.reduce((a, s) => a + s.delivered, 0);
  out.push(delivered === n ? `=> ${n === 1 ? 'delivered' : `all ${n} delivered`}` : `=> ${delivered} of ${n} delivered`);
  return out.join('\n');
}
