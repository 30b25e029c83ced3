/**
 * Elements and their named ports (after Click): an element is a small object with
 * declared input and output ports; wiring is explicit, `connect(engine, a.out, b.in)`,
 * so the graph can be listed and drawn. The scheduler calls `push(port, link)` when an
 * input link has packets; the element drains it and must forward, queue or drop (with a
 * reason) every packet it takes (Snabb's rule).
 */
import type { Packet } from './packet.js';
import type { Counted, Counters } from './counters.js';
import type { Engine } from './engine.js';
import { Link } from './link.js';

export interface Element extends Counted {
  /** Unique within the engine, e.g. `node1/cbr0`. */
  readonly name: string;
  /** The noun: `bridge`, `veth`, `netns`, `vxlan`, ... */
  readonly kind: string;
  readonly ports: Ports;
  /** Named counters (rx/tx packets and bytes, ...). */
  readonly counters: Counters;
  /** Drop reasons, a closed kebab-case list per element kind. */
  readonly drops: Counters;
  /** Drain `link`, which feeds input port number `port`. */
  push(port: number, link: Link): void;
}

export class OutPort {
  link: Link | null = null;
  constructor(readonly owner: Element, readonly name: string, private readonly engine: Engine) {}

  /** Hands `p` to the connected link; an unconnected port drops it (`unconnected-port`). */
  send(p: Packet): void {
    const l = this.link;
    if (l === null) this.engine.dropUnconnected(p, this);
    else l.transmit(p);
  }
}

export class InPort {
  link: Link | null = null;
  constructor(readonly owner: Element, readonly name: string, readonly index: number) {}
}

/** The port table an element owns (composition, not a base class). */
export class Ports {
  readonly inputs: (InPort | null)[] = [];
  readonly outputs = new Map<string, OutPort>();
  private readonly inByName = new Map<string, InPort>();

  constructor(private readonly engine: Engine, private readonly owner: Element) {}

  addIn(name: string): InPort {
    if (this.inByName.has(name)) throw new Error(`${this.owner.name}: input port "${name}" exists`);
    let index = this.inputs.indexOf(null);
    if (index < 0) index = this.inputs.length;
    const p = new InPort(this.owner, name, index);
    this.inputs[index] = p;
    this.inByName.set(name, p);
    return p;
  }

  addOut(name: string): OutPort {
    if (this.outputs.has(name)) throw new Error(`${this.owner.name}: output port "${name}" exists`);
    const p = new OutPort(this.owner, name, this.engine);
    this.outputs.set(name, p);
    return p;
  }

  in(name: string): InPort {
    const p = this.inByName.get(name);
    if (p === undefined) throw new Error(`${this.owner.name}: no input port "${name}"`);
    return p;
  }

  out(name: string): OutPort {
    const p = this.outputs.get(name);
    if (p === undefined) throw new Error(`${this.owner.name}: no output port "${name}"`);
    return p;
  }

  /** Removes a port pair's input; its link (if any) is disconnected and flushed. */
  removeIn(name: string): void {
    const p = this.inByName.get(name);
    if (p === undefined) return;
    if (p.link !== null) disconnect(p.link);
    this.inputs[p.index] = null;
    this.inByName.delete(name);
  }

  removeOut(name: string): void {
    const p = this.outputs.get(name);
    if (p === undefined) return;
    if (p.link !== null) disconnect(p.link);
    this.outputs.delete(name);
  }
}

/** Joins an output port to an input port with a new link. */
export function connect(engine: Engine, out: OutPort, inp: InPort, capacity?: number): Link {
  if (out.link !== null) throw new Error(`${out.owner.name}.${out.name} is already connected`);
  if (inp.link !== null) throw new Error(`${inp.owner.name}.${inp.name} is already connected`);
  const link = new Link(engine, `${out.owner.name}.${out.name} -> ${inp.owner.name}.${inp.name}`, capacity);
  link.consumer = inp.owner;
  link.port = inp.index;
  out.link = link;
  inp.link = link;
  link.from = out;
  link.to = inp;
  link.rewired();
  return link;
}

/** Undoes `connect`: both ports become unconnected and queued packets are freed. */
export function disconnect(link: Link): void {
  link.rewired();
  if (link.from !== null) link.from.link = null;
  if (link.to !== null) link.to.link = null;
  link.from = null;
  link.to = null;
  link.consumer = null;
  link.flush();
}
