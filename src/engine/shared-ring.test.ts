import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { copyWords, Doorbell, FRAME_CSUM_OK, SharedRing, type FrameSink } from './shared-ring.js';
import { existsSync } from 'node:fs';

/** Collects frames as arrays of numbers. */
function collector(): FrameSink & { frames: number[][] } {
  const frames: number[][] = [];
  return {
    frames,
    onFrame(bytes, off, len) {
      frames.push([...bytes.subarray(off, off + len)]);
    },
  };
}

const frame = (n: number, len: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (n * 31 + i) & 0xff);

describe('SharedRing', () => {
  it('delivers frames in order, only once published', () => {
    const r = SharedRing.create(4096);
    const c = collector();
    expect(r.write(frame(1, 60), 0, 60)).toBe(true);
    expect(r.write(frame(2, 14), 0, 14)).toBe(true);
    expect(r.pending()).toBe(false);
    expect(r.read(c)).toBe(0);
    r.publish();
    expect(r.pending()).toBe(true);
    expect(r.read(c)).toBe(2);
    expect(c.frames).toEqual([[...frame(1, 60)], [...frame(2, 14)]]);
    expect(r.read(c)).toBe(0);
    expect(r.stats()).toMatchObject({ txPackets: 2, txBytes: 74, rxPackets: 2, rxBytes: 74, dropsFull: 0 });
  });

  it('wraps around the end of the data area with a marker, many times', () => {
    const r = SharedRing.create(4096);
    const c = collector();
    const want: number[][] = [];
    for (let i = 0; i < 500; i++) {
      const len = 100 + (i * 37) % 900; // records do not divide the capacity: every wrap position occurs
      const f = frame(i, len);
      expect(r.write(f, 0, len)).toBe(true);
      want.push([...f]);
      r.publish();
      r.read(c);
    }
    expect(c.frames).toEqual(want);
  });

  it('drops and counts frames when full, and takes them again once read', () => {
    const r = SharedRing.create(4096);
    let ok = 0;
    while (r.write(frame(ok, 120), 0, 120)) ok++;
    expect(ok).toBe(4096 / 128);
    expect(r.write(frame(0, 120), 0, 120)).toBe(false);
    r.publish();
    expect(r.stats().dropsFull).toBe(2);
    expect(r.read(collector(), 3)).toBe(3);
    expect(r.write(frame(0, 120), 0, 120)).toBe(true);
    expect(r.write(frame(0, 5000), 0, 5000)).toBe(false);
    r.publish();
    expect(r.stats()).toMatchObject({ dropsFull: 2, dropsTooLong: 1, txPackets: ok + 1 });
  });

  it('keeps a frame at its address modulo 4 when written with a word view, copied as words', () => {
    const r = SharedRing.create(4096);
    const src = new Uint8Array(new ArrayBuffer(256));
    src.set(frame(7, 61), 3);
    const words = new Int32Array(src.buffer);
    expect(r.write(src, 3, 61, words)).toBe(true);
    r.publish();
    const dst = new Uint8Array(new ArrayBuffer(256));
    const dst32 = new Int32Array(dst.buffer);
    let at = -1;
    r.read({
      onFrame(_b, off, len, w) {
        at = off;
        copyWords(w, off, dst32, 64 + (off & 3), len);
      },
    });
    expect(at & 3).toBe(3);
    expect([...dst.subarray(67, 67 + 61)]).toEqual([...frame(7, 61)]);
  });

  it('reports the space the consumer freed, however much of the ring was in use (pacing query)', () => {
    const r = SharedRing.create(4096);
    let used = 0;
    while (used < 2048) {
      expect(r.write(frame(used, 120), 0, 120)).toBe(true);
      used += 128;
    }
    r.publish();
    expect(r.freeBytes()).toBe(4096 - used); // exactly half in use
    r.read(collector());
    expect(r.freeBytes()).toBe(4096); // a stale head here once held a sender back for good
  });

  it("hands each frame's flags to the reader (with and without the word copy)", () => {
    const r = SharedRing.create(4096);
    const src = new Uint8Array(new ArrayBuffer(256));
    src.set(frame(1, 60), 1);
    expect(r.write(src, 1, 60, new Int32Array(src.buffer), FRAME_CSUM_OK)).toBe(true);
    expect(r.write(frame(2, 60), 0, 60)).toBe(true);
    expect(r.write(frame(3, 60), 0, 60, null, 0x7fff)).toBe(true);
    r.publish();
    const seen: [number, number, number][] = [];
    r.read({ onFrame(b, off, len, _w, flags) { seen.push([b[off + 14]!, off & 3, flags]); void len; } });
    expect(seen).toEqual([[frame(1, 60)[14]!, 1, FRAME_CSUM_OK], [frame(2, 60)[14]!, 0, 0], [frame(3, 60)[14]!, 0, 0x7fff]]);
  });

  it('behaves as a bounded FIFO (property: random writes, publishes and reads vs an array model)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ op: fc.constant('write' as const), len: fc.integer({ min: 0, max: 1500 }), aligned: fc.boolean() }),
      fc.record({ op: fc.constant('publish' as const) }),
      fc.record({ op: fc.constant('read' as const), max: fc.integer({ min: 1, max: 20 }) }),
    ), { maxLength: 300 }), (ops) => {
      const r = SharedRing.create(8192);
      const c = collector();
      const written: number[][] = [];
      let published = 0;
      const read: number[][] = [];
      let n = 0;
      const src = new Uint8Array(new ArrayBuffer(2048));
      const words = new Int32Array(src.buffer);
      for (const o of ops) {
        if (o.op === 'write') {
          const f = frame(n++, o.len);
          const off = o.aligned ? 128 : 131;
          src.set(f, off);
          // the model: accepted iff the bytes in flight plus this record fit (records padded to 8, a wrap may waste the tail)
          if (r.write(src, off, o.len, o.aligned ? null : words)) written.push([...f]);
        } else if (o.op === 'publish') {
          r.publish();
          published = written.length;
        } else {
          const before = c.frames.length;
          const k = r.read(c, o.max);
          expect(k).toBe(Math.min(o.max, published - read.length));
          read.push(...c.frames.slice(before));
        }
      }
      r.publish();
      r.read(c);
      expect(c.frames).toEqual(written);
      const s = r.stats();
      expect(s.txPackets).toBe(written.length);
      expect(s.rxPackets).toBe(written.length);
      expect(s.txPackets + s.dropsFull).toBe(ops.filter((o) => o.op === 'write').length);
    }), { numRuns: 200 });
  });
});

describe('SharedRing between two threads', () => {
  let distOk = false;
  beforeAll(() => {
    distOk = existsSync(new URL('../../dist/engine/shared-ring.js', import.meta.url)); // built by test/global-setup.ts
  }, 120_000);
  const workers: Worker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  });

  it('a worker producer and this consumer agree on every frame, in order, woken by the doorbell', async () => {
    expect(distOk).toBe(true);
    const ring = SharedRing.create(1 << 14); // small: the producer laps the ring many times and must wait for space
    const bell = new Doorbell();
    const total = 20_000;
    const w = new Worker(new URL('../../test/fixtures/shard/ring-producer.mjs', import.meta.url), {
      workerData: { ring: ring.sab, doorbell: bell.sab, total },
    });
    workers.push(w);
    const exited = new Promise<number>((resolve) => w.on('exit', resolve));
    let next = 0;
    let bad = 0;
    const sink: FrameSink = {
      onFrame(bytes, off, len) {
        const n = bytes.readUInt32LE(off);
        if (n !== next || len !== 20 + (n % 200) || bytes[off + len - 1] !== (n & 0xff)) bad++;
        next++;
      },
    };
    const deadline = Date.now() + 30_000;
    while (next < total && Date.now() < deadline) {
      if (ring.read(sink) > 0) continue;
      const token = bell.prepare();
      if (ring.pending()) {
        bell.cancel();
        continue;
      }
      await bell.wait(token, 100);
    }
    expect(bad).toBe(0);
    expect(next).toBe(total);
    expect(await exited).toBe(0);
    const s = ring.stats();
    expect(s.txPackets).toBe(total);
    expect(s.rxPackets).toBe(total);
    expect(s.dropsFull).toBe(0);
  });
});
