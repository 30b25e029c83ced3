/**
 * A traced journey beside the diagram: the text is `podwire trace`'s own (renderTrace from
 * src/kube/trace-text.ts, bundled), line for line; each numbered step is tied to the hop it
 * tells (journeySteps), and the animation walks the hops on the diagram, one step at a time,
 * marking the box where a packet was dropped with the reason.
 */
import type { TraceResult } from '../src/kube/trace.js';
import type { DrawnDiagram } from './diagram.js';
import { elemOfHop, type Diagram } from './model.js';
import { traceLines, type Line } from './trace-lines.js';

export { traceResultOf, type TraceAnswer, type TraceAsked } from './trace-lines.js';

export class JourneyView {
  private run = 0;
  stepMs: number;

  constructor(private readonly list: HTMLElement, private readonly diagram: () => { d: Diagram; drawn: DrawnDiagram } | null, stepMs: number) {
    this.stepMs = stepMs;
  }

  /** Shows the trace's text and animates it; resolves when the animation ends (or a newer one starts). */
  async show(r: TraceResult): Promise<void> {
    const run = ++this.run;
    const dd = this.diagram();
    const lines = traceLines(r);
    this.list.replaceChildren();
    this.list.dataset['state'] = 'running';
    const items: { li: HTMLElement; line: Line }[] = [];
    for (const line of lines) {
      const li = document.createElement('div');
      li.className = line.hop !== null ? `line step journey-${line.journey ?? ''}` : /^\s*=>/.test(line.text) ? 'line end' : 'line heading';
      if (line.hop !== null) {
        li.setAttribute('role', 'listitem');
        const id = dd === null ? null : elemOfHop(dd.d, line.hop);
        if (id !== null) li.dataset['elem'] = id;
        if (line.hop.action === 'drop') li.classList.add('drop');
      }
      li.textContent = line.text;
      this.list.appendChild(li);
      items.push({ li, line });
    }
    if (dd !== null) dd.drawn.clearMarks();
    let prev: string | null = null;
    for (const { li, line } of items) {
      if (run !== this.run) return;
      if (line.hop === null) continue;
      const id = li.dataset['elem'] ?? null;
      for (const x of this.list.querySelectorAll('.current')) { x.classList.remove('current'); x.removeAttribute('aria-current'); }
      li.classList.add('current');
      li.setAttribute('aria-current', 'step');
      li.scrollIntoView({ block: 'nearest' });
      if (dd !== null) {
        if (prev !== null) dd.drawn.mark(prev, 'current', false);
        if (id !== null) {
          dd.drawn.mark(id, 'visited', true);
          dd.drawn.mark(id, 'current', true);
          dd.drawn.packetTo(id);
        }
        if (line.hop.action === 'drop' && id !== null) {
          dd.drawn.mark(id, 'dropped', true);
          dd.drawn.dropAt(id, String(line.hop.detail['reason'] ?? 'dropped'));
        }
      }
      prev = id;
      if (this.stepMs > 0) await new Promise((res) => setTimeout(res, this.stepMs));
    }
    if (run !== this.run) return;
    if (dd !== null) {
      for (const k of ['request', 'reply', 'reset'] as const) {
        const j = r[k];
        if (j === null || j.delivered || j.dropReason === null || j.hops.some((h) => h.action === 'drop')) continue;
        const last = j.hops[j.hops.length - 1];
        const id = last === undefined ? null : elemOfHop(dd.d, last);
        if (id !== null) { dd.drawn.mark(id, 'dropped', true); dd.drawn.dropAt(id, j.dropReason); }
      }
    }
    this.list.dataset['state'] = 'done';
  }
}
