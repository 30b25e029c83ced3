/**
 * Draws a laid-out diagram as SVG. Every element is a `<g>` with `data-id` (its capture /
 * stats name), an `aria-label` and visible `<text>` children, so a screen reader and a DOM
 * test find "pod1", "cbr0", "flannel.1". Counters are a third text line in each interface
 * box (`setCounters`); a journey marks boxes with classes (`mark`) and moves a packet dot.
 */
import type { Placed } from './layout.js';
import type { Diagram, Elem } from './model.js';

const NS = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

function text(parent: Element, x: number, y: number, s: string, cls: string, anchor = 'middle'): SVGTextElement {
  const t = el('text', { x, y, class: cls, 'text-anchor': anchor }, parent);
  t.textContent = s;
  return t;
}

const KIND_WORD: Record<Elem['kind'], string> = {
  node: 'node', netns: 'network namespace', pod: 'pod', iface: 'interface', veth: 'veth end', bridge: 'bridge',
  proxy: 'kube-proxy rules', vxlan: 'VXLAN device', underlay: 'network',
};

export interface DrawnDiagram {
  svg: SVGSVGElement;
  /** Zoom: 1 is the layout's own size. */
  setScale(s: number): void;
  fitScale(): number;
  setCounters(id: string, line: string): void;
  mark(id: string, cls: string, on: boolean): void;
  clearMarks(): void;
  /** Moves the packet dot to the centre of `id` (hidden for null). */
  packetTo(id: string | null): void;
  /** A drop label next to `id`: "✕ no-route". */
  dropAt(id: string, reason: string): void;
  centre(id: string): { x: number; y: number } | null;
}

export function drawDiagram(host: HTMLElement, d: Diagram, p: Placed, onPick: (id: string) => void): DrawnDiagram {
  host.replaceChildren();
  const svg = el('svg', {
    xmlns: NS, viewBox: `0 0 ${p.width} ${p.height}`, width: p.width, height: p.height, role: 'group',
    'aria-label': `Diagram of cluster ${d.cluster}: ${d.nodes.length} node${d.nodes.length === 1 ? '' : 's'}`, class: 'diagram',
  });
  const defs = el('defs', {}, svg);
  const glow = el('filter', { id: 'glow', x: '-30%', y: '-30%', width: '160%', height: '160%' }, defs);
  el('feGaussianBlur', { stdDeviation: 3, result: 'b' }, glow);
  const merge = el('feMerge', {}, glow);
  el('feMergeNode', { in: 'b' }, merge);
  el('feMergeNode', { in: 'SourceGraphic' }, merge);
  const groupsLayer = el('g', { class: 'groups' }, svg);
  const wiresLayer = el('g', { class: 'wires', 'aria-hidden': 'true' }, svg);
  const leafLayer = el('g', { class: 'leaves' }, svg);
  const overLayer = el('g', { class: 'over' }, svg);
  const nodes = new Map<string, SVGGElement>();
  const counters = new Map<string, SVGTextElement>();

  const busG = el('g', { class: 'bus', 'data-id': 'underlay-bus', 'aria-hidden': 'true' }, wiresLayer);
  for (const b of p.bus) el('line', { x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 }, busG);
  for (const w of d.wires) {
    const pts = p.wires.get(w.id);
    if (pts === undefined || pts.length === 0) continue;
    el('polyline', { points: pts.map((q) => `${q.x},${q.y}`).join(' '), class: `wire wire-${w.kind}`, 'data-wire': w.id }, wiresLayer);
  }
  for (const e of d.elems) {
    const b = p.boxes.get(e.id);
    if (b === undefined) continue;
    const group = e.kind === 'node' || e.kind === 'netns' || e.kind === 'pod';
    const layer = group ? groupsLayer : leafLayer;
    const g = el('g', {
      class: `elem kind-${e.kind}${e.parent !== null && e.parent.endsWith('/root') ? ' in-root' : ''}`, 'data-id': e.id, role: 'group', tabindex: 0,
      'aria-label': `${KIND_WORD[e.kind]} ${e.label}${e.kind === 'iface' || e.kind === 'veth' ? ` of ${ownerOf(d, e)}` : ''}${e.sub !== '' ? `, ${e.sub}` : ''}`,
    }, layer);
    el('title', {}, g).textContent = e.iface ?? e.label;
    el('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: group ? 8 : 5 }, g);
    if (group) {
      const big = e.kind === 'node';
      text(g, b.x + 8, b.y + (big ? 18 : 15), e.label, big ? 'label node-label' : 'label group-label', 'start');
      if (e.sub !== '') text(g, b.x + 8, b.y + (big ? 32 : 15), e.sub, 'sub', big ? 'start' : 'start').setAttribute('dx', big ? '0' : String(e.label.length * 7.6 + 6));
    } else if (e.kind === 'underlay') {
      text(g, b.x + 10, b.y + 15, e.label, 'label', 'start');
      if (e.sub !== '') text(g, b.x + 10, b.y + 29, e.sub, 'sub', 'start');
    } else {
      const cx = b.x + b.w / 2;
      text(g, cx, b.y + 15, e.label, 'label');
      if (e.sub !== '') text(g, cx, b.y + 28, e.sub, 'sub');
      if (e.iface !== null) counters.set(e.id, text(g, cx, b.y + 40, '', 'counters'));
    }
    g.addEventListener('click', (ev) => { ev.stopPropagation(); onPick(e.id); });
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onPick(e.id); } });
    nodes.set(e.id, g);
  }
  const dot = el('circle', { r: 7, class: 'packet', cx: -20, cy: -20, 'aria-hidden': 'true', filter: 'url(#glow)' }, overLayer);
  host.appendChild(svg);
  const centre = (id: string): { x: number; y: number } | null => {
    const b = p.boxes.get(id);
    if (b === undefined) return null;
    return id === 'underlay' ? { x: b.x + b.w / 2, y: b.y - 8 } : { x: b.x + b.w / 2, y: b.y + b.h / 2 };
  };
  return {
    svg,
    setScale(s) { svg.setAttribute('width', String(Math.round(p.width * s))); svg.setAttribute('height', String(Math.round(p.height * s))); },
    fitScale() { return Math.min(1, Math.max(0.2, (host.clientWidth - 4) / p.width)); },
    setCounters(id, line) { const t = counters.get(id); if (t !== undefined && t.textContent !== line) t.textContent = line; },
    mark(id, cls, on) { nodes.get(id)?.classList.toggle(cls, on); if (id === 'underlay') busG.classList.toggle(cls, on); },
    clearMarks() {
      for (const g of nodes.values()) g.classList.remove('visited', 'current', 'dropped');
      busG.classList.remove('visited', 'current');
      for (const x of overLayer.querySelectorAll('.drop-mark')) x.remove();
      dot.setAttribute('class', 'packet');
    },
    packetTo(id) {
      // On the box's top right corner, so the dot never hides its name.
      const b = id === null ? undefined : p.boxes.get(id);
      const c = b === undefined ? null : id === 'underlay' ? centre(id) : { x: b.x + b.w - 4, y: b.y + 4 };
      if (c === null) { dot.setAttribute('class', 'packet'); return; }
      dot.setAttribute('class', 'packet shown');
      dot.setAttribute('cx', String(c.x));
      dot.setAttribute('cy', String(c.y));
    },
    dropAt(id, reason) {
      const b = p.boxes.get(id);
      if (b === undefined) return;
      const g = el('g', { class: 'drop-mark', role: 'note', 'aria-label': `dropped here: ${reason}` }, overLayer);
      const w = reason.length * 7 + 34;
      el('rect', { x: b.x + b.w - 6, y: b.y - 14, width: w, height: 22, rx: 4 }, g);
      text(g, b.x + b.w + 4, b.y + 1, `✕ ${reason}`, 'drop-text', 'start');
    },
    centre,
  };
}

function ownerOf(d: Diagram, e: Elem): string {
  const parent = e.parent === null ? undefined : d.byId.get(e.parent);
  return parent?.kind === 'pod' ? parent.label : `${e.node}'s root namespace`;
}
