/**
 * Basic elements (after Snabb's apps/basic/basic_apps.lua), for tests and benchmarks.
 *
 * - PassThrough: ports `in` -> `out`, forwards every packet. Counters: packets.
 * - Sink: port `in`, frees every packet. Counters: packets, bytes. Optional observer.
 * - Tee-less and timer-less on purpose: anything more is a real device in src/net.
 */
import { Counters } from './counters.js';
import { Ports, type OutPort } from './element.js';
import type { Element } from './element.js';
import type { Engine } from './engine.js';
import type { Link } from './link.js';
import type { Packet } from './packet.js';

const NO_DROPS: readonly string[] = [];

export class PassThrough implements Element {
  readonly kind = 'pass-through';
  readonly ports: Ports;
  readonly counters = new Counters(['packets']);
  readonly drops = new Counters(NO_DROPS);
  private readonly out: OutPort;

  constructor(engine: Engine, readonly name: string) {
    this.ports = new Ports(engine, this);
    this.ports.addIn('in');
    this.out = this.ports.addOut('out');
  }

  push(_port: number, link: Link): void {
    const out = this.out;
    let n = 0;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      out.send(p);
      n++;
    }
    this.counters.values[0]! += n;
  }
}

export class Sink implements Element {
  readonly kind = 'sink';
  readonly ports: Ports;
  readonly counters = new Counters(['packets', 'bytes']);
  readonly drops = new Counters(NO_DROPS);
  /** Sees each packet before it is freed. */
  observer: ((p: Packet) => void) | null = null;

  constructor(private readonly engine: Engine, readonly name: string) {
    this.ports = new Ports(engine, this);
    this.ports.addIn('in');
  }

  push(_port: number, link: Link): void {
    const pool = this.engine.pool;
    const v = this.counters.values;
    for (let p = link.receive(); p !== null; p = link.receive()) {
      v[0]!++;
      v[1]! += p.end - p.start;
      if (this.observer !== null) this.observer(p);
      pool.free(p);
    }
  }
}
