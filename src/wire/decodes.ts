/**
 * How many times the dataplane decoded a header, by layer: the probe of the counting test
 * (test/integration/parse-once.test.ts), which checks that a packet's headers are decoded
 * once per namespace it enters and read from `Packet.l3`/`l4`/`proto` after that.
 *
 * A decode is finding and validating a header: `checkIpv4` (IHL, lengths: what every
 * consumer after it reads from the packet's offsets), `ethernetType` (the EtherType behind
 * an optional VLAN tag, where a namespace receives a frame), the VXLAN source-port hash of
 * an inner header no namespace decoded (`flowHashIpv4`), and a reading of L4 ports for a
 * decision (conntrack's tuple, the socket lookup, a NetworkPolicy check of a new
 * connection). One typed-array increment each; the dataplane never
 * reads these. Per thread (a worker has its own).
 */
export const Decode = { Ethernet: 0, Ipv4: 1, L4: 2 } as const;
export type Decode = (typeof Decode)[keyof typeof Decode];

export const decodes = new Uint32Array(3);

/** Zeroes the counts (tests). */
export function resetDecodes(): void {
  decodes.fill(0);
}
