/** The scenarios `podwire scenario list` shows, in the order of docs/scenarios.md. */
import type { Scenario } from './scenario.js';
import { badVxlanChecksum } from './bad-vxlan-checksum.js';
import { conntrackFull } from './conntrack-full.js';
import { conntrackInvalidReset } from './conntrack-invalid-reset.js';
import { dnsRace } from './dns-race.js';
import { hairpin } from './hairpin.js';
import { mtuBlackhole } from './mtu-blackhole.js';
import { neighOverflow } from './neigh-overflow.js';
import { snatRace } from './snat-race.js';
import { staleUdp } from './stale-udp.js';

export const SCENARIOS: readonly Scenario[] = [dnsRace, staleUdp, mtuBlackhole, hairpin, badVxlanChecksum, conntrackFull, conntrackInvalidReset, neighOverflow, snatRace];
