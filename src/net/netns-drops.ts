/**
 * The counters and drop reasons of a NetNamespace (closed lists, counted per namespace), in a
 * file of their own so that the namespace's helpers (l4.ts, netns-arp.ts, netns-icmp.ts) name
 * them without an import cycle.
 */
import { indexOf } from '../engine/counters.js';

export const NETNS_DROPS = [
  'runt', 'other-host', 'unknown-ethertype', 'bad-arp', 'arp-not-for-us', 'ipv4-truncated',
  'ipv4-bad-version', 'ipv4-bad-header-length', 'ipv4-bad-length', 'bad-checksum', 'not-forwarding',
  'ttl-exceeded', 'no-route', 'frag-needed', 'fragmentation-unsupported', 'fragment', 'neighbor-queue-full',
  'neighbor-unreachable', 'netfilter-drop', 'no-socket', 'interface-down', 'pool-exhausted', 'martian-source',
  'icmp-bad-quote', 'martian-destination', 'neighbor-table-overflow',
] as const;
export const NetnsDrop = indexOf(NETNS_DROPS);

export const NETNS_COUNTERS = ['rx-frames', 'tx-frames', 'delivered', 'forwarded', 'sent', 'icmp-errors-sent'] as const;
export const NetnsCounter = indexOf(NETNS_COUNTERS);
