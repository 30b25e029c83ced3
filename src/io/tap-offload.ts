/**
 * virtio_net_hdr offloads of a TAP opened with IFF_VNET_HDR (linux/virtio_net.h): what a
 * TapPort in offload mode does with a frame the kernel hands it with checksum or
 * segmentation work left undone, before the frame may enter the emulator.
 *
 *   struct virtio_net_hdr {      offset
 *     u8  flags;                 0   NEEDS_CSUM (1): the L4 checksum field holds only the
 *                                    pseudo-header sum; sum from csum_start, store at
 *                                    csum_start + csum_offset. DATA_VALID (2).
 *     u8  gso_type;              1   NONE 0, TCPV4 1, UDP 3, TCPV6 4, UDP_L4 5; | ECN 0x80
 *     u16 hdr_len;               2   (little-endian, as the guest's: x86 and arm64 hosts)
 *     u16 gso_size;              4   payload bytes per segment (the MSS)
 *     u16 csum_start;            6
 *     u16 csum_offset;           8
 *   }                            10  (12 with num_buffers)
 *
 * `completeChecksum` finishes a NEEDS_CSUM frame (what skb_checksum_help does);
 * `emitTcpSegment` writes segment k of a TSO frame into a packet with full IPv4 header and
 * TCP checksums (what the kernel's software GSO does: ids +k, sequence +k*mss, FIN/PSH only
 * on the last segment, CWR only on the first). Pure functions over bytes, no allocation.
 */
import type { Packet } from '../engine/packet.js';
import { checksum, fold, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { ETHERNET_HEADER_LEN as ETH_HLEN } from '../wire/ethernet.js';
import { ipv4Dst, ipv4FillChecksum, ipv4Ident, ipv4SetIdent, ipv4SetTotalLength, ipv4Src } from '../wire/ipv4.js';
import { TCP_PROTOCOL as TCP } from '../wire/tcp.js';

export const VnetFlag = { NeedsCsum: 1, DataValid: 2 } as const;
export const VnetGso = { None: 0, TcpV4: 1, Udp: 3, TcpV6: 4, UdpL4: 5, Ecn: 0x80 } as const;

/** Sums [start, end) of a NEEDS_CSUM frame into its checksum field at `start + offset`; false when out of range. */
export function completeChecksum(buf: Uint8Array, frame: number, len: number, start: number, offset: number): boolean {
  if (start + offset + 2 > len || start >= len) return false;
  const at = frame + start + offset;
  let c = ~fold(sum16(buf, frame + start, len - start)) & 0xffff;
  if (c === 0 && offset === 6) c = 0xffff; // UDP (RFC 768): 0 means "no checksum"
  buf[at] = c >>> 8;
  buf[at + 1] = c & 0xff;
  return true;
}

/** Where the headers of a TCP frame end: L3 offset, L4 offset, header length (from the frame start); null if not TCP/IPv4/IPv6. */
export class TcpFrameLayout {
  l3 = 0;
  l4 = 0;
  hdrLen = 0;
  v6 = false;

  /** Parses the frame at buf[frame, frame + len); false when it is not a plain TCP frame. */
  parse(buf: Uint8Array, frame: number, len: number): boolean {
    let l3 = ETH_HLEN;
    let type = (buf[frame + 12]! << 8) | buf[frame + 13]!;
    if (type === 0x8100 && len >= 18) {
      type = (buf[frame + 16]! << 8) | buf[frame + 17]!;
      l3 = 18;
    }
    let l4: number;
    if (type === 0x0800) {
      if (len < l3 + 20) return false;
      const ihl = (buf[frame + l3]! & 0x0f) << 2;
      if (ihl < 20 || buf[frame + l3 + 9] !== TCP) return false;
      l4 = l3 + ihl;
      this.v6 = false;
    } else if (type === 0x86dd) {
      if (len < l3 + 40 || buf[frame + l3 + 6] !== TCP) return false; // no extension headers
      l4 = l3 + 40;
      this.v6 = true;
    } else {
      return false;
    }
    if (len < l4 + 20) return false;
    const doff = (buf[frame + l4 + 12]! >>> 4) << 2;
    if (doff < 20 || len < l4 + doff) return false;
    this.l3 = l3;
    this.l4 = l4;
    this.hdrLen = l4 + doff;
    return true;
  }
}

/**
 * Writes segment `k` of `count` (payload [k * mss, min((k + 1) * mss, payload)) of the TSO
 * frame at src[frame, frame + len)) into `p` at p.start, headers fixed and checksums full.
 */
export function emitTcpSegment(src: Buffer, frame: number, len: number, lay: TcpFrameLayout, mss: number,
  k: number, count: number, p: Packet): void {
  const hl = lay.hdrLen;
  const from = hl + k * mss;
  const chunk = Math.min(mss, len - from);
  const d = p.buf;
  const o = p.start;
  src.copy(d, o, frame, frame + hl);
  src.copy(d, o + hl, frame + from, frame + from + chunk);
  p.end = o + hl + chunk;
  const l3 = o + lay.l3;
  const l4 = o + lay.l4;
  const tcpLen = hl - lay.l4 + chunk;
  let pseudo: number;
  if (lay.v6) {
    d.writeUInt16BE(tcpLen, l3 + 4);
    pseudo = sum16(d, l3 + 8, 32) + TCP + tcpLen;
  } else {
    const ihl = lay.l4 - lay.l3;
    ipv4SetTotalLength(d, l3, ihl + tcpLen);
    ipv4SetIdent(d, l3, (ipv4Ident(d, l3) + k) & 0xffff);
    ipv4FillChecksum(d, l3, ihl);
    pseudo = pseudoHeaderSum(ipv4Src(d, l3), ipv4Dst(d, l3), TCP, tcpLen);
  }
  d.writeUInt32BE((d.readUInt32BE(l4 + 4) + k * mss) >>> 0, l4 + 4);
  let flags = d[l4 + 13]!;
  if (k !== count - 1) flags &= ~0x09; // FIN, PSH only on the last segment
  if (k !== 0) flags &= ~0x80; // CWR only on the first
  d[l4 + 13] = flags;
  d[l4 + 16] = 0;
  d[l4 + 17] = 0;
  d.writeUInt16BE(checksum(d, l4, tcpLen, pseudo), l4 + 16);
}
