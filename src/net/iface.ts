/**
 * A network interface of a namespace: name, per-namespace ifindex, MAC, MTU, IPv4
 * addresses, up/down, counters, and the two ports through which its frames enter and
 * leave the namespace element. What sits on the far side of the ports (a veth peer, a
 * bridge's local port, a VXLAN tunnel, a TAP) decides what kind of interface it is.
 */
import type { InPort, OutPort } from '../engine/element.js';
import type { Where } from '../engine/trace.js';
import { formatIpv4, formatMac, prefixMask } from '../wire/addr.js';

export type IfKind = 'veth' | 'bridge' | 'ether' | 'vxlan' | 'tap' | 'loopback' | 'dummy';

export interface IfAddr {
  readonly ip: number;
  readonly prefix: number;
}

export class NetIf {
  readonly addrs: IfAddr[] = [];
  up = true;
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  rxDropped = 0;
  txDropped = 0;
  /** Set by the namespace when it wires the interface. */
  inPort: InPort | null = null;
  outPort: OutPort | null = null;
  readonly where: Where;

  constructor(
    readonly ifindex: number,
    readonly name: string,
    readonly kind: IfKind,
    public mac: number,
    public mtu: number,
    node: string,
    netns: string,
  ) {
    this.where = { node, netns, device: name };
  }

  /** The first address, or 0. */
  primaryAddr(): number {
    return this.addrs.length > 0 ? this.addrs[0]!.ip : 0;
  }

  /** The address whose subnet holds `ip`, else the primary one. */
  addrFor(ip: number): number {
    for (const a of this.addrs) {
      const m = prefixMask(a.prefix);
      if (((a.ip & m) >>> 0) === ((ip & m) >>> 0)) return a.ip;
    }
    return this.primaryAddr();
  }

  toJSON(): Record<string, unknown> {
    return {
      ifindex: this.ifindex, name: this.name, kind: this.kind, mac: formatMac(this.mac), mtu: this.mtu,
      up: this.up, addresses: this.addrs.map((a) => `${formatIpv4(a.ip)}/${a.prefix}`),
      counters: {
        rxPackets: this.rxPackets, rxBytes: this.rxBytes, txPackets: this.txPackets, txBytes: this.txBytes,
        rxDropped: this.rxDropped, txDropped: this.txDropped,
      },
    };
  }
}
