import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Packet } from '../engine/packet.js';
import type { IpHost } from '../net/ip-host.js';
import { readU16, readU32 } from '../wire/addr.js';
import { emitIpv4, IpProtocol } from '../wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../wire/udp.js';
import { fakePair, ipv4ChecksumOk } from './testing/fake-host.js';
import { UdpEcho } from './udp-echo.js';

/** A datagram from `host` (src 0: the host fills it in) to dst:dport. */
function sendUdp(host: IpHost, dst: number, sport: number, dport: number, payload: Uint8Array, trace = 0, ttl = 64): void {
  const p = host.alloc()!;
  const s = p.start;
  emitIpv4({
    src: 0, dst, protocol: IpProtocol.Udp, ttl, payloadLen: 8 + payload.length, ident: 7, dscp: 0, ecn: 0,
    dontFrag: false, moreFrags: false, fragOffset: 0,
  }, p.buf, s);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, p.buf, s + 20);
  p.buf.set(payload, s + 28);
  fillUdpChecksum(p.buf, s + 20, 0, dst);
  p.end = s + 28 + payload.length;
  p.trace = trace;
  host.output(p);
}

describe('UdpEcho', () => {
  it('echoes a datagram back to its sender, ports and addresses swapped, checksums valid, reply trace', () => {
    const { engine, a, b } = fakePair(64);
    const echo = UdpEcho.start(b, 7);
    const got: { src: number; dst: number; sport: number; dport: number; ttl: number; data: string; trace: number; ipOk: boolean }[] = [];
    a.bind(IpProtocol.Udp, 5000, (p: Packet, info) => {
      got.push({
        src: info.src, dst: info.dst, sport: info.sport, dport: info.dport, ttl: info.ttl, trace: p.trace,
        data: p.buf.toString('latin1', info.payload, info.payload + info.payloadLen), ipOk: ipv4ChecksumOk(p),
      });
      a.free(p);
    });
    const trace = engine.trace.begin();
    sendUdp(a, b.addr, 5000, 7, Buffer.from('hello, echo'), trace, 17);
    engine.runUntilIdle();
    expect(got).toEqual([{
      src: b.addr, dst: a.addr, sport: 7, dport: 5000, ttl: 64, data: 'hello, echo', trace: engine.trace.replyIdOf(trace), ipOk: true,
    }]);
    expect(got[0]!.trace).not.toBe(0);
    expect(echo.counters.toJSON()).toEqual({ rx: 1, tx: 1, bytes: 11 });
    expect(a.counters.get('bad-checksum') + b.counters.get('bad-checksum') + a.counters.get('bad-ip')).toBe(0);
    expect(engine.pool.available).toBe(64);
  });

  it('keeps the UDP checksum valid for any payload, ports and TTL (no recompute)', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 255 }),
      (payload, sport, ttl) => {
        const { engine, a, b } = fakePair(16);
        UdpEcho.start(b, 7);
        let ok = false;
        a.bind(IpProtocol.Udp, sport, (p, info) => {
          ok = Buffer.compare(p.buf.subarray(info.payload, info.payload + info.payloadLen), Buffer.from(payload)) === 0
            && readU16(p.buf, info.l4 + 2) === sport && readU32(p.buf, info.l3 + 16) === a.addr;
          a.free(p);
        });
        sendUdp(a, b.addr, sport, 7, payload, 0, ttl);
        engine.runUntilIdle();
        return ok && a.counters.get('bad-checksum') === 0 && a.counters.get('bad-ip') === 0 && engine.pool.available === 16;
      },
    ), { numRuns: 100 });
  });

  it('close() unbinds the port', () => {
    const { b } = fakePair(8);
    const echo = UdpEcho.start(b, 7);
    expect(() => UdpEcho.start(b, 7)).toThrow(/in use/);
    echo.close();
    expect(b.bound(IpProtocol.Udp)).toEqual([]);
  });
});
