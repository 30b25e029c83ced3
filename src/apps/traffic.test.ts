import { describe, expect, it } from 'vitest';
import { IpProtocol } from '../wire/ipv4.js';
import { fakePair } from './testing/fake-host.js';
import { UdpGenerator, UdpSink } from './traffic.js';
import { UdpEcho } from './udp-echo.js';

describe('UdpGenerator and UdpSink', () => {
  it('64-byte frames by default: 18 payload bytes behind 14 + 20 + 8 (and 4 FCS)', () => {
    const { engine, a, b } = fakePair(64);
    const gen = new UdpGenerator(a, { dst: b.addr, dport: 9000 });
    expect(gen.template.length + 14 + 4).toBe(64);
    expect(gen.payloadLen).toBe(18);
    const sink = UdpSink.start(b, 9000);
    for (let i = 0; i < 5; i++) {
      expect(gen.burst(10)).toBe(10);
      engine.runUntilIdle();
    }
    expect(sink.packets).toBe(50);
    expect(sink.bytes).toBe(50 * 18);
    expect(gen.sent).toBe(50);
    expect(b.counters.get('bad-checksum') + b.counters.get('bad-ip')).toBe(0);
    expect(engine.pool.available).toBe(64);
  });

  it('counts pool exhaustion and frees everything after the run', () => {
    const { engine, a, b } = fakePair(8);
    const gen = new UdpGenerator(a, { dst: '10.244.2.2', dport: 9000, frameSize: 1518 });
    const sink = UdpSink.start(b, 9000);
    expect(gen.burst(20)).toBe(8);
    expect(gen.poolExhausted).toBe(12);
    engine.runUntilIdle();
    expect(sink.packets).toBe(8);
    expect(sink.bytes).toBe(8 * (1518 - 46));
    expect(engine.pool.available).toBe(8);
  });

  it('rejects impossible frame sizes, and works against UdpEcho', () => {
    const { engine, a, b } = fakePair(32);
    expect(() => new UdpGenerator(a, { dst: b.addr, dport: 7, frameSize: 63 })).toThrow(/frameSize 63/);
    UdpEcho.start(b, 7);
    const sink = UdpSink.start(a, 9);
    new UdpGenerator(a, { dst: b.addr, dport: 7, sport: 9 }).burst(16);
    engine.runUntilIdle();
    expect(sink.packets).toBe(16);
    sink.close();
    expect(a.bound(IpProtocol.Udp)).toEqual([]);
  });

  it('flows: source ports sport .. sport + flows - 1 in round-robin order, checksums valid', () => {
    const { engine, a, b } = fakePair(64);
    const gen = new UdpGenerator(a, { dst: b.addr, dport: 9000, sport: 65530, flows: 6 });
    const seen: number[] = [];
    b.bind(IpProtocol.Udp, 9000, (p, info) => {
      seen.push(info.sport);
      b.free(p);
    });
    expect(gen.burst(8)).toBe(8);
    engine.runUntilIdle();
    expect(gen.burst(8)).toBe(8); // the next burst goes on where the last one stopped
    engine.runUntilIdle();
    expect(seen).toEqual([65530, 65531, 65532, 65533, 65534, 65535, 65530, 65531, 65532, 65533, 65534, 65535, 65530, 65531, 65532, 65533]);
    // The fake host checks every UDP checksum as a kernel would.
    expect(b.counters.get('bad-checksum') + b.counters.get('bad-ip')).toBe(0);
    expect(engine.pool.available).toBe(64);
  });

  it('flows: rejects counts that run past port 65535 or are not positive integers', () => {
    const { a, b } = fakePair(8);
    expect(() => new UdpGenerator(a, { dst: b.addr, dport: 7, sport: 65530, flows: 7 })).toThrow(/flows 7 out of range 1\.\.6/);
    expect(() => new UdpGenerator(a, { dst: b.addr, dport: 7, flows: 0 })).toThrow(/flows 0/);
    expect(() => new UdpGenerator(a, { dst: b.addr, dport: 7, flows: 1.5 })).toThrow(/flows 1.5/);
  });
});
