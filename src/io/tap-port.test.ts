import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { connect } from '../engine/element.js';
import { PassThrough, Sink } from '../engine/basic.js';
import type { FramesHandler } from './tap.js';
import { TapCounter } from './tap.js';
import { TAP_WRITE_BATCH, TapPort, type TapEndpoint } from './tap-port.js';

/** A TapDevice stand-in: frames "read" are injected with `deliver`, writes are recorded. */
class FakeTap implements TapEndpoint {
  readonly name = 'pwafake0';
  readonly counters = new Float64Array(8);
  closed = false;
  handler: FramesHandler | null = null;
  errorHandler: ((e: Error) => void) | null = null;
  written: Buffer[] = [];
  calls: number[] = [];
  /** Writes accepted before EAGAIN. */
  room = Infinity;
  readonly slot = 2048;
  readonly slab = Buffer.alloc(2048 * 8);
  readonly lens = new Int32Array(8);
  onFrames(h: FramesHandler): void { this.handler = h; }
  onError(h: (e: Error) => void): void { this.errorHandler = h; }
  writeBatch(slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    this.calls.push(count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (this.room <= 0) { this.counters[TapCounter.TxDrops]! += count - i; break; }
      this.room--;
      this.written.push(Buffer.from(slab.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
      this.counters[TapCounter.TxFrames]!++;
      n++;
    }
    return n;
  }
  close(): void { this.closed = true; }
  deliver(frames: { len: number; bytes?: Buffer }[]): void {
    frames.forEach((f, i) => {
      this.slab.fill(0, i * this.slot, (i + 1) * this.slot);
      f.bytes?.copy(this.slab, i * this.slot);
      this.lens[i] = f.len;
    });
    this.handler!(this.slab, this.slot, this.lens, frames.length);
  }
}

function frame(len: number, tagged = false): Buffer {
  const b = Buffer.alloc(len);
  b.writeUIntBE(0x0242_0af4_0102, 0, 6);
  b.writeUIntBE(0x0242_0af4_0103, 6, 6);
  b.writeUInt16BE(tagged ? 0x8100 : 0x0800, 12);
  b[len - 1] = 0xab;
  return b;
}

function setup(mtu = 1450) {
  const e = new Engine();
  const tap = new FakeTap();
  const port = e.add(new TapPort(e, 'node1/veth0', tap, { where: { node: 'node1', netns: 'root', device: 'veth0' }, mtu, peer: 'pod1/eth0' }));
  const sink = e.add(new Sink(e, 'sink'));
  const src = e.add(new PassThrough(e, 'src'));
  connect(e, port.ports.out('out'), sink.ports.in('in'));
  const feed = connect(e, src.ports.out('out'), port.ports.in('in'));
  return { e, tap, port, sink, feed };
}

describe('TapPort', () => {
  it('copies a batch read from the TAP into packets, dropping runts, oversize and over-MTU frames', () => {
    const { tap, port, sink } = setup(1450);
    const seen: number[] = [];
    sink.observer = (p) => seen.push(p.end - p.start);
    tap.deliver([
      { len: 60, bytes: frame(60) },
      { len: 10, bytes: frame(14).subarray(0, 10) },
      { len: 1464, bytes: frame(1464) }, // MTU + 14: fits
      { len: 1465, bytes: frame(1465) }, // one byte over
      { len: 1468, bytes: frame(1468, true) }, // tagged: + 4 allowed
      { len: 9000 }, // the kernel reports the full length of a frame it truncated to the slot
    ]);
    expect(seen).toEqual([60, 1464, 1468]);
    expect(port.drops.toJSON()).toEqual({ runt: 1, 'mtu-exceeded': 1, oversize: 1 });
    expect(port.counters.get('rx-frames')).toBe(6);
    expect(port.counters.get('rx-batches')).toBe(1);
  });

  it('writes frames from the bridge in batches of at most TAP_WRITE_BATCH, straight from the pool slab', () => {
    const { e, tap, port, feed } = setup();
    const before = e.pool.available;
    for (let i = 0; i < TAP_WRITE_BATCH + 6; i++) {
      const f = frame(60 + i);
      feed.transmit(e.pool.fromBytes(f, 0, f.length)!);
    }
    e.runUntilIdle();
    expect(tap.calls).toEqual([TAP_WRITE_BATCH, 6]);
    expect(tap.written.map((b) => b.length)).toEqual(Array.from({ length: TAP_WRITE_BATCH + 6 }, (_, i) => 60 + i));
    expect(tap.written[5]!.equals(frame(65))).toBe(true);
    expect(port.counters.get('tx-frames')).toBe(TAP_WRITE_BATCH + 6);
    expect(e.pool.available).toBe(before);
  });

  it('EAGAIN drops the rest of the batch as tap-full; a closed device drops as closed', () => {
    const { e, tap, port, feed } = setup();
    const before = e.pool.available;
    tap.room = 3;
    for (let i = 0; i < 5; i++) feed.transmit(e.pool.fromBytes(frame(60), 0, 60)!);
    const runt = e.pool.alloc()!;
    runt.end = runt.start + 8;
    feed.transmit(runt);
    e.runUntilIdle();
    expect(tap.written).toHaveLength(3);
    expect(port.drops.toJSON()).toEqual({ 'tap-full': 2, runt: 1 });
    tap.closed = true;
    feed.transmit(e.pool.fromBytes(frame(60), 0, 60)!);
    e.runUntilIdle();
    expect(port.drops.get('closed')).toBe(1);
    expect(e.pool.available).toBe(before);
    expect(e.firstDrops.map((d) => d.reason)).toEqual(['runt', 'tap-full', 'closed']);
  });

  it('records a tap hop for a traced frame and remembers a device error', () => {
    const { e, tap, port, feed } = setup();
    const p = e.pool.fromBytes(frame(60), 0, 60)!;
    p.trace = e.trace.begin();
    const id = p.trace;
    feed.transmit(p);
    e.runUntilIdle();
    expect(e.trace.hops(id)).toEqual([{ node: 'node1', netns: 'root', device: 'veth0', action: 'tap', detail: { to: 'pod1/eth0', tap: 'pwafake0' } }]);
    const errs: Error[] = [];
    port.onDeviceError = (err) => errs.push(err);
    tap.errorHandler!(new Error('gone'));
    expect(port.error?.message).toBe('gone');
    expect(errs).toHaveLength(1);
  });
});

/** A TapDevice stand-in with onFramesAt: "reads" land in the pool slots the port handed out. */
class SlotTap extends FakeTap {
  at: { slab: Buffer; offsets: Int32Array; maxLen: number; h: FramesHandler } | null = null;
  readonly batchSize = 4;
  onFramesAt(slab: Buffer, offsets: Int32Array, maxLen: number, h: FramesHandler): void {
    this.at = { slab, offsets, maxLen, h };
  }
  deliverAt(frames: Buffer[]): number[] {
    const a = this.at!;
    const used = frames.map((f, i) => { f.copy(a.slab, a.offsets[i]!); this.lens[i] = f.length; return a.offsets[i]!; });
    a.h(a.slab, a.maxLen, this.lens, frames.length);
    return used;
  }
}

describe('TapPort zero-copy reads (onFramesAt)', () => {
  it('sends the very packets the addon read into, re-points the slots, and returns them to the pool on close', () => {
    const e = new Engine();
    const tap = new SlotTap();
    const total = e.pool.available;
    const port = e.add(new TapPort(e, 'node1/veth0', tap, { where: { node: 'node1', netns: 'root', device: 'veth0' }, mtu: 1450, peer: 'pod1/eth0' }));
    const sink = e.add(new Sink(e, 'sink'));
    connect(e, port.ports.out('out'), sink.ports.in('in'));
    expect(tap.at).not.toBeNull();
    expect(tap.handler).toBeNull(); // the copying path is not used
    expect(e.pool.available).toBe(total - 4);
    const seen: number[] = [];
    sink.observer = (p) => seen.push(p.buf.byteOffset + p.start);
    const used = tap.deliverAt([frame(60), frame(14).subarray(0, 10), frame(1465), frame(100)]);
    e.runUntilIdle();
    expect(seen).toEqual([used[0], used[3]]); // no copy: the packets are the slots read into
    expect(port.drops.toJSON()).toEqual({ runt: 1, 'mtu-exceeded': 1 });
    expect(tap.at!.offsets[0]).not.toBe(used[0]);
    expect(tap.at!.offsets[1]).toBe(used[1]); // a dropped frame's slot is reused
    port.close();
    expect(e.pool.available).toBe(total);
  });
});
