/**
 * Places the diagram with ELK (elkjs): each node is a layered graph drawn downwards, as in
 * the article's figures (pods on top, their veth ends, the bridge, kube-proxy, flannel.1,
 * eth0 at the bottom); the nodes themselves are packed into rows (ELK's rectpacking) so 2
 * nodes sit side by side and 50 make a grid. The underlay is a bus under each row of nodes,
 * joined by a trunk on the left, that every node's eth0 drops onto.
 */
import * as elkModule from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk.bundled.js';
import type { Diagram, Elem } from './model.js';

type ElkCtor = new () => { layout(g: ElkNode): Promise<ElkNode> };
/** elkjs is CommonJS: its constructor is the module's `default` (esbuild, and Node's ESM loader alike). */
const ELK = ((elkModule as unknown as { default?: ElkCtor }).default ?? elkModule) as unknown as ElkCtor;

export interface Box { x: number; y: number; w: number; h: number }
export interface Placed {
  width: number;
  height: number;
  boxes: Map<string, Box>;
  /** Polylines of the wires, by wire id. */
  wires: Map<string, { x: number; y: number }[]>;
  /** The underlay: bus segments, and the label box (the element `underlay`). */
  bus: { x1: number; y1: number; x2: number; y2: number }[];
}

const CHAR = 6.6;
const LEAF_H = 46;
const HEADER = 22;

/** Rounded up to 8 px, so that nodes whose names differ by a character share a layout. */
const q8 = (w: number): number => Math.ceil(w / 8) * 8;

function leafWidth(e: Elem): number {
  return q8(Math.max(64, Math.max(e.label.length * 7.4, e.sub.length * CHAR, 'rx 0000 tx 0000'.length * 5.6) + 16));
}

/**
 * A node's ELK graph with its ids replaced by positions (`n`, `n.0`, `n.1.2`, edges `e0`...),
 * so two nodes of the same shape give the same JSON; `ids` maps the positions back.
 */
function normalise(g: ElkNode): { shape: ElkNode; ids: Map<string, string> } {
  const ids = new Map<string, string>();
  const back = new Map<string, string>();
  const copy = (n: ElkNode, id: string): ElkNode => {
    ids.set(id, n.id);
    back.set(n.id, id);
    const c: ElkNode = { id, ...(n.width !== undefined ? { width: n.width } : {}), ...(n.height !== undefined ? { height: n.height } : {}) };
    if (n.layoutOptions !== undefined) c.layoutOptions = n.layoutOptions;
    if (n.children !== undefined) c.children = n.children.map((k, i) => copy(k, `${id}.${i}`));
    return c;
  };
  const shape = copy(g, 'n');
  shape.edges = (g.edges ?? []).map((e, i) => {
    ids.set(`e${i}`, e.id);
    return { id: `e${i}`, sources: e.sources.map((x) => back.get(x) ?? x), targets: e.targets.map((x) => back.get(x) ?? x) };
  });
  return { shape, ids };
}

const pad = (top: number, side: number): string => `[top=${top},left=${side},bottom=${side},right=${side}]`;

export async function layoutDiagram(d: Diagram): Promise<Placed> {
  const kids = new Map<string | null, Elem[]>();
  for (const e of d.elems) {
    if (e.kind === 'underlay') continue;
    const k = kids.get(e.parent) ?? [];
    k.push(e);
    kids.set(e.parent, k);
  }
  const nodeOf = (e: Elem): ElkNode => {
    const ch = kids.get(e.id);
    if (e.kind === 'pod') {
      // A pod is one box for ELK; its eth0 is drawn inside it (placed below, after the layout).
      const eth0 = ch?.[0];
      const w = q8(Math.max(e.label.length * 7.6 + e.sub.length * CHAR + 30, (eth0 === undefined ? 0 : leafWidth(eth0)) + 16));
      return { id: e.id, width: w, height: HEADER + LEAF_H + 8 };
    }
    if (ch === undefined || e.kind === 'iface' || e.kind === 'veth' || e.kind === 'bridge' || e.kind === 'proxy' || e.kind === 'vxlan') {
      return { id: e.id, width: leafWidth(e), height: LEAF_H };
    }
    const header = e.kind === 'node' ? HEADER + 14 : HEADER;
    const minW = q8(Math.max(e.label.length * 7.6, e.sub.length * CHAR) + 24);
    return {
      id: e.id, children: ch.map(nodeOf),
      layoutOptions: { 'elk.padding': pad(header, e.kind === 'node' ? 12 : 8), 'elk.nodeSize.constraints': 'MINIMUM_SIZE', 'elk.nodeSize.minimum': `(${minW}, 40)` },
    };
  };
  const groups: ElkNode[] = (kids.get(null) ?? []).map((g) => {
    const n = nodeOf(g);
    const inPod = (id: string): string => { const e = d.byId.get(id); return e?.kind === 'iface' && e.parent !== null && d.byId.get(e.parent)?.kind === 'pod' ? e.parent : id; };
    const edges: ElkExtendedEdge[] = d.wires.filter((w) => d.byId.get(w.from)?.node === g.node).map((w) => ({ id: w.id, sources: [inPod(w.from)], targets: [inPod(w.to)] }));
    return {
      ...n, edges,
      layoutOptions: {
        ...n.layoutOptions,
        'elk.algorithm': 'layered', 'elk.direction': 'DOWN', 'elk.hierarchyHandling': 'INCLUDE_CHILDREN', 'elk.edgeRouting': 'ORTHOGONAL',
        'elk.layered.spacing.nodeNodeBetweenLayers': '22', 'elk.spacing.nodeNode': '14', 'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
        'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      },
    };
  });
  // Nodes of the same shape (same boxes, sizes rounded up to 8 px, same wires) share one ELK
  // run: a 100-node cluster of look-alike nodes is laid out a few times, not 100 times.
  const elk = new ELK();
  const templates = new Map<string, Promise<ElkNode>>();
  const inner = await Promise.all(groups.map((g) => {
    const { shape, ids } = normalise(g);
    const key = JSON.stringify(shape);
    let t = templates.get(key);
    if (t === undefined) {
      t = elk.layout({ id: 'g', children: [shape], layoutOptions: { 'elk.padding': '[top=0,left=0,bottom=0,right=0]', 'elk.json.shapeCoords': 'ROOT', 'elk.json.edgeCoords': 'ROOT' } })
        .then((r) => r.children![0]!);
      templates.set(key, t);
    }
    return t.then((laid) => ({ laid, ids }));
  }));
  const packed = await elk.layout({
    id: 'cluster', children: inner.map(({ laid }, i) => ({ id: groups[i]!.id, width: laid.width ?? 0, height: laid.height ?? 0 })),
    layoutOptions: {
      'elk.algorithm': 'rectpacking', 'elk.aspectRatio': groups.length <= 3 ? '4' : '1.7', 'elk.spacing.nodeNode': '28',
      'elk.padding': '[top=12,left=36,bottom=12,right=12]',
    },
  });
  const out = { width: packed.width ?? 0, height: packed.height ?? 0 };
  const boxes = new Map<string, Box>();
  const wires = new Map<string, { x: number; y: number }[]>();
  inner.forEach(({ laid, ids }, i) => {
    const at = packed.children![i]!;
    const dx = at.x ?? 0;
    const dy = at.y ?? 0;
    const walk = (n: ElkNode): void => {
      boxes.set(ids.get(n.id) ?? n.id, { x: (n.x ?? 0) + dx, y: (n.y ?? 0) + dy, w: n.width ?? 0, h: n.height ?? 0 });
      for (const e of n.edges ?? []) {
        const pts: { x: number; y: number }[] = [];
        for (const sec of e.sections ?? []) pts.push(sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint);
        wires.set(ids.get(e.id) ?? e.id, pts.map((q) => ({ x: q.x + dx, y: q.y + dy })));
      }
      for (const c of n.children ?? []) walk(c);
    };
    walk(laid);
  });
  for (const e of d.elems) {
    const parent = e.parent === null ? undefined : d.byId.get(e.parent);
    const pb = e.parent === null ? undefined : boxes.get(e.parent);
    if (parent?.kind !== 'pod' || pb === undefined) continue;
    const b = { x: pb.x + 8, y: pb.y + HEADER, w: pb.w - 16, h: LEAF_H };
    boxes.set(e.id, b);
    for (const w of d.wires) {
      const pts = wires.get(w.id);
      if (w.from === e.id && pts !== undefined && pts[0] !== undefined) pts[0] = { x: pts[0].x, y: b.y + b.h };
    }
  }
  // The underlay: one bus under each row of nodes, eth0 dropping onto it, a trunk on the left.
  const rows = new Map<number, Box[]>();
  for (const g of groups) {
    const b = boxes.get(g.id)!;
    const r = rows.get(b.y) ?? [];
    r.push(b);
    rows.set(b.y, r);
  }
  const bus: Placed['bus'] = [];
  const ys = [...rows.keys()].sort((a, b) => a - b);
  const trunkX = 18;
  const busOf = new Map<number, number>();
  for (const y of ys) {
    const row = rows.get(y)!;
    const busY = Math.max(...row.map((b) => b.y + b.h)) + 12;
    busOf.set(y, busY);
    bus.push({ x1: trunkX, y1: busY, x2: Math.max(...row.map((b) => b.x + b.w)), y2: busY });
  }
  for (const n of d.nodes) {
    const e = boxes.get(`${n}/eth0`);
    const g = boxes.get(`node:${n}`);
    if (e === undefined || g === undefined) continue;
    bus.push({ x1: e.x + e.w / 2, y1: e.y + e.h, x2: e.x + e.w / 2, y2: busOf.get(g.y)! });
  }
  const lastBus = busOf.get(ys[ys.length - 1] ?? 0) ?? 0;
  if (ys.length > 1) bus.push({ x1: trunkX, y1: busOf.get(ys[0]!)!, x2: trunkX, y2: lastBus });
  let height = out.height ?? 0;
  const label = { x: trunkX, y: lastBus + 8, w: 300, h: 34 };
  boxes.set('underlay', label);
  height = Math.max(height, label.y + label.h + 8);
  return { width: Math.max(out.width ?? 0, label.x + label.w + 8), height, boxes, wires, bus };
}

