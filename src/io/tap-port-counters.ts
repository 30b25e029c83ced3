/**
 * A TapPort's counters and drop reasons (src/io/tap-port.ts, whose doc block says what each
 * means), with their indices; shared with the offload path (tap-port-vnet.ts).
 */
import { indexOf } from '../engine/counters.js';

export const TAP_PORT_COUNTERS = ['rx-frames', 'rx-bytes', 'rx-batches', 'tx-frames', 'tx-bytes', 'tx-batches',
  'fast-path', 'segmented', 'csum-completed'] as const;
export const TAP_PORT_DROPS = ['runt', 'oversize', 'mtu-exceeded', 'pool-exhausted', 'tap-full', 'tap-error', 'closed',
  'bad-offload', 'gso-unsupported', 'netfilter-drop'] as const;
export const C = indexOf(TAP_PORT_COUNTERS);
export const D = indexOf(TAP_PORT_DROPS);
