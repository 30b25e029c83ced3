import { describe, expect, it } from 'vitest';
import { PacketPool } from '../engine/packet.js';
import { Enqueue, NeighborTable, NeighState, Probe } from './neighbor.js';
import { NeighborLimit } from './neighbor-limit.js';
import { parseIpv4 } from '../wire/addr.js';

const IP1 = parseIpv4('10.244.1.2');
const IP2 = parseIpv4('10.244.1.3');
const MAC1 = 0x0242_0af4_0102;
const MAC2 = 0x0242_0af4_0103;

function pool(): PacketPool {
  return new PacketPool({ size: 64, slotSize: 256, headroom: 64 });
}

describe('NeighborTable', () => {
  it('queues packets for an unresolved address, asks for one request, and releases them in order on update', () => {
    const t = new NeighborTable();
    const pp = pool();
    const ps = [pp.alloc()!, pp.alloc()!, pp.alloc()!];
    expect(t.lookup(IP1, 0)).toBe(-1);
    expect(t.enqueue(IP1, 2, ps[0]!, 0)).toBe(Enqueue.QueuedSendRequest);
    expect(t.enqueue(IP1, 2, ps[1]!, 1)).toBe(Enqueue.Queued);
    expect(t.enqueue(IP1, 2, ps[2]!, 2)).toBe(Enqueue.Queued);
    expect(t.hasPending(IP1)).toBe(true);
    expect(t.ifindexOf(IP1)).toBe(2);
    expect(t.lookup(IP1, 3)).toBe(-1);
    expect(t.entries(3)).toEqual([{ ip: IP1, mac: -1, ifindex: 2, state: 'INCOMPLETE', ageMs: 3, pending: 3 }]);
    const out = t.update(IP1, MAC1, 2, 10);
    expect(out).toEqual(ps);
    expect(t.hasPending(IP1)).toBe(false);
    expect(t.lookup(IP1, 10)).toBe(MAC1);
    expect(t.update(IP1, MAC1, 2, 11)).toBeNull();
    expect(t.probe(IP1, 1000)).toBe(Probe.Done);
  });

  it('bounds the pending queue per entry', () => {
    const t = new NeighborTable({ pendingMax: 2 });
    const pp = pool();
    expect(t.enqueue(IP1, 1, pp.alloc()!, 0)).toBe(Enqueue.QueuedSendRequest);
    expect(t.enqueue(IP1, 1, pp.alloc()!, 0)).toBe(Enqueue.Queued);
    expect(t.enqueue(IP1, 1, pp.alloc()!, 0)).toBe(Enqueue.QueueFull);
    // another address has its own queue
    expect(t.enqueue(IP2, 1, pp.alloc()!, 0)).toBe(Enqueue.QueuedSendRequest);
    expect(t.takePending(IP1)).toHaveLength(2);
    expect(t.takePending(IP1)).toEqual([]);
    expect(t.takePending(parseIpv4('1.2.3.4'))).toEqual([]);
  });

  it('retries probes every retransMs and fails after maxProbes requests; a new packet restarts resolution', () => {
    const t = new NeighborTable({ retransMs: 1000, maxProbes: 3 });
    const pp = pool();
    const p = pp.alloc()!;
    expect(t.retransMs).toBe(1000);
    expect(t.enqueue(IP1, 1, p, 0)).toBe(Enqueue.QueuedSendRequest); // request 1
    expect(t.probe(IP1, 1000)).toBe(Probe.Retry); // request 2
    expect(t.probe(IP1, 2000)).toBe(Probe.Retry); // request 3
    expect(t.probe(IP1, 3000)).toBe(Probe.Failed);
    expect(t.stateOf(IP1)).toBe(NeighState.Failed);
    expect(t.entries(3000)[0]!.state).toBe('FAILED');
    expect(t.ifindexOf(IP1)).toBe(1);
    expect(t.takePending(IP1)).toEqual([p]);
    expect(t.lookup(IP1, 3500)).toBe(-1);
    expect(t.probe(IP1, 4000)).toBe(Probe.Done);
    const q = pp.alloc()!;
    expect(t.enqueue(IP1, 1, q, 5000)).toBe(Enqueue.QueuedSendRequest);
    expect(t.probe(IP1, 6000)).toBe(Probe.Retry);
    expect(t.update(IP1, MAC1, 1, 6500)).toEqual([q]);
    expect(t.probe(IP1, 7000)).toBe(Probe.Done);
  });

  it('REACHABLE turns STALE after reachableMs and still answers; STALE is removed at staleMs', () => {
    const t = new NeighborTable({ reachableMs: 30_000, staleMs: 60_000 });
    t.update(IP1, MAC1, 1, 0);
    expect(t.entries(29_999)[0]!.state).toBe('REACHABLE');
    expect(t.lookup(IP1, 29_999)).toBe(MAC1);
    expect(t.stateOf(IP1)).toBe(NeighState.Reachable);
    expect(t.lookup(IP1, 30_000)).toBe(MAC1);
    expect(t.stateOf(IP1)).toBe(NeighState.Stale);
    expect(t.entries(59_999)).toEqual([{ ip: IP1, mac: MAC1, ifindex: 1, state: 'STALE', ageMs: 59_999, pending: 0 }]);
    expect(t.lookup(IP1, 59_999)).toBe(MAC1);
    expect(t.lookup(IP1, 60_000)).toBe(-1);
    expect(t.size).toBe(0);
  });

  it('a confirmation makes a STALE entry REACHABLE again', () => {
    const t = new NeighborTable();
    t.update(IP1, MAC1, 1, 0);
    expect(t.lookup(IP1, 40_000)).toBe(MAC1);
    expect(t.stateOf(IP1)).toBe(NeighState.Stale);
    t.update(IP1, MAC2, 1, 50_000);
    expect(t.stateOf(IP1)).toBe(NeighState.Reachable);
    expect(t.lookup(IP1, 100_000)).toBe(MAC2);
  });

  it('PERMANENT entries never age and ARP does not override them', () => {
    const t = new NeighborTable();
    t.update(IP1, MAC1, 1, 0, true);
    t.update(IP1, MAC2, 1, 5);
    expect(t.lookup(IP1, 1e12)).toBe(MAC1);
    expect(t.entries(1e6)[0]!.state).toBe('PERMANENT');
    t.update(IP1, MAC2, 1, 10, true);
    expect(t.lookup(IP1, 1e12)).toBe(MAC2);
    expect(t.remove(IP1)).toBe(true);
    expect(t.remove(IP1)).toBe(false);
  });

  it('remove keeps an entry whose packets still wait; removeDev hands back the packets of that device', () => {
    const t = new NeighborTable();
    const pp = pool();
    const a = pp.alloc()!;
    const b = pp.alloc()!;
    t.enqueue(IP1, 1, a, 0);
    t.enqueue(IP2, 2, b, 0);
    t.update(parseIpv4('10.0.0.9'), MAC1, 1, 0);
    expect(t.remove(IP1)).toBe(false);
    expect(t.removeDev(1)).toEqual([a]);
    expect(t.size).toBe(1);
    expect(t.ifindexOf(IP1)).toBe(-1);
    expect(t.hasPending(IP2)).toBe(true);
  });

  it('counts overflow when full of live entries and makes room from expired ones', () => {
    const t = new NeighborTable({ capacity: 2, staleMs: 1000, reachableMs: 500 });
    const pp = pool();
    t.update(IP1, MAC1, 1, 0);
    t.update(IP2, MAC2, 1, 100);
    const p = pp.alloc()!;
    const ip3 = parseIpv4('10.244.1.4');
    expect(t.enqueue(ip3, 1, p, 500)).toBe(Enqueue.QueueFull);
    expect(t.update(ip3, MAC1, 1, 500)).toBeNull();
    expect(t.overflow).toBe(2);
    expect(t.lookup(ip3, 500)).toBe(-1);
    expect(t.enqueue(ip3, 1, p, 1000)).toBe(Enqueue.QueuedSendRequest);
    expect(t.lookup(IP1, 1000)).toBe(-1);
    expect(t.lookup(IP2, 1000)).toBe(MAC2);
  });

  it('rejects nonsensical options with a message naming the field', () => {
    expect(() => new NeighborTable({ pendingMax: 0 })).toThrow(/pendingMax 0/);
    expect(() => new NeighborTable({ retransMs: -1 })).toThrow(/retransMs -1/);
  });
});

describe('NeighborLimit: one ARP table per kernel (net/core/neighbour.c neigh_alloc, neigh_forced_gc)', () => {
  const ip = (i: number): number => (parseIpv4('10.244.0.0') + i) >>> 0;

  it('counts the entries of every namespace together: the 1025th fails while entries are younger than 5 s, whichever table', () => {
    const lim = new NeighborLimit(512, 1024);
    const a = new NeighborTable();
    const b = new NeighborTable();
    a.share(lim);
    b.share(lim);
    for (let i = 0; i < 600; i++) expect(a.update(ip(i), 0x020000000000 + i, 2, 0)).toBeNull();
    for (let i = 600; i < 1024; i++) b.update(ip(i), 0x020000000000 + i, 2, 100);
    expect(lim.entries).toBe(1024);
    expect(a.size + b.size).toBe(1024); // each table alone is far below its own capacity (1024)
    // gc_thresh3 reached, nothing older than 5 s: forced GC removes nothing, the allocation fails.
    b.update(ip(2000), 1, 2, 4000);
    expect(b.stateOf(ip(2000))).toBe(0);
    expect(lim.tableFulls).toBe(1);
    expect(b.overflow).toBe(1);
    // PERMANENT entries are exempt (exempt_from_gc): still created, not counted.
    b.update(ip(3000), 2, 2, 4000, true);
    expect(b.stateOf(ip(3000))).toBe(NeighState.Permanent);
    expect(lim.entries).toBe(1024);
  });

  it('forced GC takes entries last confirmed more than 5 s ago, down to gc_thresh2 (max_clean), then the allocation succeeds', () => {
    const lim = new NeighborLimit(512, 1024);
    const t = new NeighborTable({ capacity: 4096 });
    t.share(lim);
    for (let i = 0; i < 1024; i++) t.update(ip(i), 0x020000000000 + i, 2, 0);
    t.update(ip(5000), 1, 2, 5001); // 5.001 s later: every entry is older than tref
    expect(t.stateOf(ip(5000))).toBe(NeighState.Reachable);
    expect(lim.forcedGcRemoved).toBe(1024 - 512);
    expect(lim.entries).toBe(513);
    expect(lim.tableFulls).toBe(0);
  });

  it('between gc_thresh2 and gc_thresh3 a new entry is never refused; unshare takes a table out of the count', () => {
    const lim = new NeighborLimit(2, 4);
    const t = new NeighborTable();
    t.share(lim);
    for (let i = 0; i < 4; i++) t.update(ip(i), 1, 2, 0);
    expect(lim.entries).toBe(4);
    t.update(ip(9), 1, 2, 1);
    expect(lim.tableFulls).toBe(1);
    t.unshare();
    expect(lim.entries).toBe(0);
    t.update(ip(9), 1, 2, 2);
    expect(t.stateOf(ip(9))).toBe(NeighState.Reachable);
  });
});
