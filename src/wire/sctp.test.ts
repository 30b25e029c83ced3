import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  crc32c, emitSctpAbort, emitSctpInit, fillSctpChecksum, sctpChecksumOk, sctpDstPort, sctpFirstChunk, sctpInitiateTag,
  sctpInitLen, sctpSrcPort, sctpVtag, SctpChunk,
} from './sctp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));
const runs = Number(process.env.PODWIRE_FC_RUNS ?? 2000);

// Built by emitSctpInit / emitSctpAbort, written to a pcap (LINKTYPE_RAW) and decoded by
// tshark 4.x with `-o sctp.checksum:CRC-32C`: "Checksum (CRC32C): 0x79ededa2 [correct]",
// "0x3855b636 [correct]" (and the INIT below: 0xe1283d59 [correct]).
const INIT_ACK = hex(`
  00 50 9c 40 11 22 33 44 79 ed ed a2
  02 00 00 20 99 aa bb cc 00 01 a0 00 00 0a 00 0a 00 00 00 01
  00 07 00 0c cc bb aa 99 cc bb aa 99
`);
//  00 50 / 9c 40   ports 80 -> 40000
//  11 22 33 44     verification tag = the INIT's initiate tag
//  79 ed ed a2     CRC32c
//  02 00 00 20     INIT ACK, flags 0, length 32
//  99 aa bb cc     initiate tag; a_rwnd 106496; 10/10 streams; initial TSN 1
//  00 07 00 0c     State Cookie parameter, 8 bytes of cookie
const ABORT = hex('00 51 9c 40 11 22 33 44 38 55 b6 36 06 01 00 04');

describe('SCTP (RFC 9260)', () => {
  it('CRC32c has the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'), 0, 9)).toBe(0xe3069283);
  });

  it('builds the INIT, INIT ACK and ABORT tshark decoded as correct', () => {
    const b = new Uint8Array(64);
    const n = emitSctpInit({ srcPort: 40000, dstPort: 80, vtag: 0, initiateTag: 0x11223344, initialTsn: 0x55667788 }, false, b, 0);
    expect(n).toBe(32);
    expect([...b.subarray(8, 12)]).toEqual([0xe1, 0x28, 0x3d, 0x59]);
    const a = new Uint8Array(64);
    const m = emitSctpInit({ srcPort: 80, dstPort: 40000, vtag: 0x11223344, initiateTag: 0x99aabbcc, initialTsn: 1, cookieLen: 8 }, true, a, 0);
    expect(m).toBe(sctpInitLen({ srcPort: 0, dstPort: 0, vtag: 0, initiateTag: 0, initialTsn: 0, cookieLen: 8 }, true));
    expect(a.subarray(0, m)).toEqual(INIT_ACK);
    const c = new Uint8Array(16);
    expect(emitSctpAbort(81, 40000, 0x11223344, true, c, 0)).toBe(16);
    expect(c).toEqual(ABORT);
  });

  it('reads the fields back', () => {
    expect(sctpSrcPort(INIT_ACK, 0)).toBe(80);
    expect(sctpDstPort(INIT_ACK, 0)).toBe(40000);
    expect(sctpVtag(INIT_ACK, 0)).toBe(0x11223344);
    expect(sctpFirstChunk(INIT_ACK, 0, INIT_ACK.length)).toBe(SctpChunk.InitAck);
    expect(sctpInitiateTag(INIT_ACK, 0)).toBe(0x99aabbcc);
    expect(sctpFirstChunk(INIT_ACK, 0, 12)).toBe(-1);
  });

  it('verifies checksums and refuses a flipped bit or a runt', () => {
    expect(sctpChecksumOk(INIT_ACK, 0, INIT_ACK.length)).toBe(true);
    expect(sctpChecksumOk(ABORT, 0, ABORT.length)).toBe(true);
    const bad = INIT_ACK.slice();
    bad[20]! ^= 1;
    expect(sctpChecksumOk(bad, 0, bad.length)).toBe(false);
    expect(sctpChecksumOk(ABORT, 0, 11)).toBe(false);
  });

  it('fillSctpChecksum makes any packet verify, never throwing', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (bytes) => {
      const b = Uint8Array.from(bytes);
      if (b.length >= 12) {
        fillSctpChecksum(b, 0, b.length);
        expect(sctpChecksumOk(b, 0, b.length)).toBe(true);
      } else {
        expect(sctpChecksumOk(b, 0, b.length)).toBe(false);
      }
    }), { numRuns: runs });
  });
});
