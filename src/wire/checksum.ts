/**
 * Internet checksum, RFC 1071 (full sum) and RFC 1624 (incremental update).
 *
 * The one checksum module of podwire: every protocol (IPv4 header, ICMP, UDP, TCP)
 * and every NAT rewrite goes through these functions. Sums are kept as plain numbers
 * (not folded) while accumulating: a 16-bit word is < 2^16, so up to 2^15 words (64 KiB)
 * stay far below 2^31 and `>>> 16` folding is exact.
 *
 * RFC 1624, eqn. 3, is the incremental form used for rewrites:
 *
 *     HC' = ~(~HC + ~m + m')
 *
 * where HC is the old checksum field, m the old 16-bit value of the field and m' its new
 * value, all in one's complement arithmetic. A 32-bit field (an IPv4 address) is two
 * 16-bit words: apply the formula to both halves. Eqn. 3 (not eqn. 2) is the one that
 * never yields the -0 (0x0000 vs 0xffff) ambiguity described in RFC 1624 section 3.
 */

/** Adds the bytes [off, off+len) as big-endian 16-bit words to `initial`; odd tail padded with zero. Not folded. */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  const end = off + len;
  const last = end - 1;
  let i = off;
  // Eight bytes per iteration: four words summed without folding (fits comfortably in 2^53).
  for (; i + 7 < end; i += 8) {
    s += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!)
      + ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < last; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i === last) s += buf[i]! << 8;
  return s;
}

/** Folds a sum of 16-bit words (any non-negative integer below 2^53) into 16 bits, one's complement. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** The Internet checksum of [off, off+len): the one's complement of the folded sum. */
export function checksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold(sum16(buf, off, len, initial)) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 768, RFC 793 section 3.1) from numbers:
 * source address, destination address (uint32), zero + protocol, and the L4 length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3 for one 16-bit field: returns the new checksum field value after the
 * covered 16-bit word changed from `oldWord` to `newWord`.
 */
export function update16(check: number, oldWord: number, newWord: number): number {
  const s = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(s) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address, a TCP sequence number): both halves at once. */
export function update32(check: number, oldValue: number, newValue: number): number {
  const s = (~check & 0xffff)
    + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff)
    + ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  return ~fold(s) & 0xffff;
}

/**
 * UDP's special case (RFC 768): a computed checksum of 0x0000 is sent as 0xffff, since 0
 * in the field means "no checksum". Apply to full and incremental results alike.
 */
export function udpFinal(check: number): number {
  return check === 0 ? 0xffff : check;
}
