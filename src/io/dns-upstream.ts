/**
 * The cluster DNS's upstream over a real UDP socket (CoreDNS `forward . IP:PORT`): each
 * forwarded query gets a fresh 16-bit id on the wire (the client's is put back on the
 * answer), so queries of many clients share one socket; an answer is matched by id and by
 * the upstream's address. A query unanswered within `timeoutMs` (default 2000, CoreDNS
 * forward's read timeout) is reported as null: the DNS server then answers SERVFAIL.
 * Answers that match nothing (late, spoofed, from another address) are counted and freed.
 *
 * Real packets leave the process here: only to the configured address (a resolver on this
 * machine, e.g. 127.0.0.53:53 or a test's server on loopback).
 */
import { createSocket, type Socket } from 'node:dgram';
import type { DnsUpstream } from '../apps/dns-server.js';

export interface DnsUpstreamStats { sent: number; answered: number; timeouts: number; unmatched: number; errors: number }

interface Pending { clientId: number; done: (a: Uint8Array | null) => void; timer: NodeJS.Timeout }

export class UdpDnsUpstream implements DnsUpstream {
  readonly stats: DnsUpstreamStats = { sent: 0, answered: 0, timeouts: 0, unmatched: 0, errors: 0 };
  private readonly sock: Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId: number;
  private closed = false;

  constructor(readonly host: string, readonly port: number, private readonly wake: () => void, readonly timeoutMs = 2000) {
    this.sock = createSocket('udp4');
    this.nextId = (Math.random() * 0x10000) >>> 0;
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    this.sock.on('error', () => { this.stats.errors++; });
    this.sock.unref();
  }

  query(msg: Uint8Array, done: (answer: Uint8Array | null) => void): void {
    if (this.closed || msg.length < 12 || this.pending.size >= 0x10000) { done(null); return; }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    const clientId = (msg[0]! << 8) | msg[1]!;
    const wire = Buffer.from(msg);
    wire.writeUInt16BE(id, 0);
    const timer = setTimeout(() => {
      if (this.pending.delete(id)) { this.stats.timeouts++; this.finish(done, null); }
    }, this.timeoutMs);
    timer.unref();
    this.pending.set(id, { clientId, done, timer });
    this.stats.sent++;
    this.sock.send(wire, this.port, this.host, (err) => {
      if (err === null || err === undefined) return;
      const p = this.pending.get(id);
      if (p === undefined) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      this.stats.errors++;
      this.finish(done, null);
    });
  }

  private onMessage(msg: Buffer, address: string, port: number): void {
    if (msg.length < 12 || address !== this.host || port !== this.port) { this.stats.unmatched++; return; }
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (p === undefined) { this.stats.unmatched++; return; }
    this.pending.delete(id);
    clearTimeout(p.timer);
    msg.writeUInt16BE(p.clientId, 0);
    this.stats.answered++;
    this.finish(p.done, msg);
  }

  private finish(done: (a: Uint8Array | null) => void, a: Uint8Array | null): void {
    done(a);
    this.wake();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.sock.close();
  }
}

/** The factory `Cluster` takes as `dnsUpstream` (src/kube/cluster.ts). */
export function openDnsUpstream(addr: { host: string; port: number }, wake: () => void): UdpDnsUpstream {
  return new UdpDnsUpstream(addr.host, addr.port, wake);
}
