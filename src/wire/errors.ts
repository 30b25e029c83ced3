/**
 * Numeric results of a view's `check()` and a Repr's `parse()`: 0 is valid, anything else
 * names what is wrong. Numbers, not exceptions: bad bytes are a normal input of a dataplane
 * (STYLE.md: "Validate once (check() returns 0 or a numeric error code), then read unchecked").
 */
export const WireError = {
  Ok: 0,
  /** Fewer bytes than the fixed header (or than a length field claims). */
  Truncated: 1,
  /** A version field that is not the one this parser reads (IPv4 version != 4). */
  BadVersion: 2,
  /** A header-length field below its minimum or past the buffer (IPv4 IHL, TCP data offset). */
  BadHeaderLength: 3,
  /** A total-length field inconsistent with the header or the buffer. */
  BadLength: 4,
  /** The checksum does not verify. */
  BadChecksum: 5,
  /** Well-formed but not something podwire models (ARP for a non-Ethernet/IPv4 pair, ...). */
  Unsupported: 6,
  /** Fields that contradict each other or a required flag is missing (VXLAN without the I flag, DNS pointer loop). */
  Malformed: 7,
} as const;
export type WireError = (typeof WireError)[keyof typeof WireError];
