import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallbackSink, FileSink, MemorySink } from './sink.js';

let dir = '';
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'podwire-sink-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

/** Deterministic pseudo-random bytes (no Math.random in tests either: reproducible failures). */
function bytesOf(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

describe('FileSink', () => {
  it('buffers many small writes and the file equals their concatenation', () => {
    const path = join(dir, 'small.bin');
    const sink = new FileSink(path);
    const expected: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const chunk = bytesOf(1 + (i % 37), i + 1);
      expected.push(chunk);
      sink.write(chunk);
    }
    const total = Buffer.concat(expected);
    // only full (or nearly full) buffers have reached the file; the tail is still buffered
    expect(statSync(path).size).toBeGreaterThan(0);
    expect(total.length - statSync(path).size).toBeLessThanOrEqual(65536);
    expect(statSync(path).size).toBeLessThan(total.length);
    expect(sink.syscalls).toBeLessThanOrEqual(Math.ceil(total.length / 65536));
    sink.close();
    expect(readFileSync(path).equals(total)).toBe(true);
    expect(sink.bytesWritten).toBe(total.length);
  });

  it('writes ranges of a larger buffer, chunks bigger than the buffer, and flushes on demand', () => {
    const path = join(dir, 'mixed.bin');
    const sink = new FileSink(path, { bufferSize: 1024 });
    const big = bytesOf(5000, 7);
    sink.write(big, 10, 20);
    sink.flush();
    expect(readFileSync(path).equals(big.subarray(10, 30))).toBe(true);
    sink.write(big, 0, 5000); // larger than the buffer: goes straight through, after the buffered bytes
    sink.write(Uint8Array.of(1, 2, 3));
    sink.close();
    expect(readFileSync(path).equals(Buffer.concat([big.subarray(10, 30), big, Buffer.from([1, 2, 3])]))).toBe(true);
  });

  it('close is idempotent and write after close throws', () => {
    const sink = new FileSink(join(dir, 'c.bin'));
    sink.write(Uint8Array.of(9));
    sink.close();
    sink.close();
    expect(() => sink.write(Uint8Array.of(1))).toThrow(/write after close/);
    expect(readFileSync(join(dir, 'c.bin'))).toEqual(Buffer.from([9]));
  });

  it('rejects ranges outside the buffer', () => {
    const sink = new FileSink(join(dir, 'r.bin'));
    expect(() => sink.write(Uint8Array.of(1, 2), 1, 2)).toThrow(RangeError);
    sink.close();
  });
});

describe('MemorySink', () => {
  it('copies each write (later changes to the source do not leak in)', () => {
    const sink = new MemorySink();
    const src = Buffer.from([1, 2, 3, 4]);
    sink.write(src, 1, 2);
    src[1] = 99;
    sink.write(src);
    expect([...sink.bytes()]).toEqual([2, 3, 1, 99, 3, 4]);
    expect(sink.size).toBe(6);
  });
});

describe('CallbackSink', () => {
  it('hands one chunk per record by default', () => {
    const chunks: Buffer[] = [];
    const sink = new CallbackSink((c) => chunks.push(c));
    sink.write(Uint8Array.of(1, 2));
    sink.write(Uint8Array.of(3));
    expect(chunks).toHaveLength(0);
    sink.endRecord();
    sink.write(Uint8Array.of(4));
    sink.endRecord();
    expect(chunks.map((c) => [...c])).toEqual([[1, 2, 3], [4]]);
  });

  it('batches N records, flushes before overflow and on close, then calls onClose once', () => {
    const chunks: Buffer[] = [];
    let closed = 0;
    const sink = new CallbackSink((c) => chunks.push(c), { flushEvery: 3, bufferSize: 64, onClose: () => closed++ });
    for (let i = 0; i < 4; i++) { sink.write(Uint8Array.of(i)); sink.endRecord(); }
    expect(chunks.map((c) => [...c])).toEqual([[0, 1, 2]]);
    sink.write(bytesOf(70, 3)); // larger than the staging buffer: pending bytes first, then the big one
    expect(chunks.map((c) => c.length)).toEqual([3, 1, 70]);
    sink.write(Uint8Array.of(5));
    sink.close();
    sink.close();
    expect(chunks.map((c) => c.length)).toEqual([3, 1, 70, 1]);
    expect(closed).toBe(1);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(75);
  });
});
