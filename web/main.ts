/**
 * podwire's web UI. Live (served by `podwire up` at `/`): the cluster diagram from
 * `GET /topology` (interface details from `GET /inspect`), journeys from `POST /trace`, counters from `GET /stats` every second,
 * flows from `GET /flows?follow=true`, captures, a node's rules. Static (`podwire demo
 * --html`): the same diagram and animation over the demo's three journeys, embedded in the
 * page as JSON (`<script id="podwire-data">`), with no API at all.
 *
 * `?step=MS` sets the animation's time per step (tests use a short one).
 */
import { Api, ApiError } from './api.js';
import { drawDiagram, type DrawnDiagram } from './diagram.js';
import { FLOW_COLUMNS, FlowsTable, traceOfFlow, type FlowEvent } from './flows.js';
import { JourneyView, traceResultOf, type TraceAnswer, type TraceAsked } from './journey.js';
import { layoutDiagram } from './layout.js';
import { diagramOf, type Diagram, type TopologyJson } from './model.js';
import type { TraceResult } from '../src/kube/trace.js';

interface StaticData {
  topology: TopologyJson;
  journeys: ({ name: string } & TraceResult)[];
}

interface IfaceCounters { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; rxDropped?: number; txDropped?: number }

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} missing from the page`);
  return e as T;
};

const params = new URLSearchParams(location.search);
const stepMs = Number(params.get('step') ?? '550');

let current: { d: Diagram; drawn: DrawnDiagram } | null = null;
let scale = 1;
let stats: Record<string, IfaceCounters> = {};
let selected: string | null = null;

/** An interface as `GET /inspect` describes it (h/inspect: src/control/inspect.ts). */
interface InspectIface { name: string; mac: string; addresses: string[]; mtu: number; kind: string; master: string | null; peer: { namespace: string; name: string } | null }
interface InspectJson { nodes: { name: string; namespaces: { name: string; kind: string; pod: string | null; interfaces: InspectIface[] }[] }[] }
/** Interfaces by their capture name (`node1/cbr0`, `pod1/eth0`), from GET /inspect when the API has it. */
let ifaceInfo = new Map<string, InspectIface>();

function readInspect(j: InspectJson): void {
  const m = new Map<string, InspectIface>();
  for (const n of j.nodes) {
    for (const ns of n.namespaces ?? []) for (const i of ns.interfaces ?? []) m.set(`${ns.kind === 'root' ? n.name : ns.pod ?? ns.name}/${i.name}`, i);
  }
  ifaceInfo = m;
}
const journey = new JourneyView($('steps'), () => current, Number.isFinite(stepMs) ? stepMs : 550);

function status(msg: string, isError = false): void {
  const s = $('status');
  s.textContent = msg;
  s.classList.toggle('error', isError);
}

async function showTopology(t: TopologyJson): Promise<void> {
  $('cluster-name').textContent = `cluster ${t.cluster.name}`;
  document.title = `podwire: ${t.cluster.name}`;
  const d = diagramOf(t);
  const placed = await layoutDiagram(d);
  const drawn = drawDiagram($('diagram'), d, placed, select);
  current = { d, drawn };
  scale = drawn.fitScale();
  drawn.setScale(scale);
}

/** The page is ready for a user (and a test): the diagram is drawn and every control is wired. */
function ready(): void {
  $('diagram').dataset['ready'] = 'true';
}

function zoomControls(): void {
  const set = (s: number): void => { scale = Math.min(3, Math.max(0.15, s)); current?.drawn.setScale(scale); };
  $('zoom-in').addEventListener('click', () => set(scale * 1.25));
  $('zoom-out').addEventListener('click', () => set(scale / 1.25));
  $('zoom-fit').addEventListener('click', () => { if (current !== null) set(current.drawn.fitScale()); });
  $('zoom-1').addEventListener('click', () => set(1));
}

/** Counters of an element: an interface's own, or (a root-namespace veth end) its pod's eth0 seen from the other side. */
function countersOf(id: string): IfaceCounters | null {
  const own = stats[id];
  if (own !== undefined) return own;
  const e = current?.d.byId.get(id);
  if (e?.kind !== 'veth' || current === null) return null;
  const wire = current.d.wires.find((w) => w.kind === 'veth' && w.to === id);
  const peer = wire === undefined ? undefined : stats[wire.from];
  return peer === undefined ? null : { rxPackets: peer.txPackets, rxBytes: peer.txBytes, txPackets: peer.rxPackets, txBytes: peer.rxBytes };
}

function paintCounters(): void {
  if (current === null) return;
  for (const e of current.d.elems) {
    if (e.iface === null) continue;
    const c = countersOf(e.id);
    if (c !== null) current.drawn.setCounters(e.id, `rx ${c.rxPackets} tx ${c.txPackets}`);
  }
  if (selected !== null) paintSelected();
}

function paintSelected(): void {
  if (current === null || selected === null) return;
  const e = current.d.byId.get(selected);
  if (e === undefined) return;
  $('inspector-empty').hidden = true;
  $('inspector-body').hidden = false;
  $('sel-name').textContent = e.iface ?? (e.kind === 'node' ? e.label : `${e.label}`);
  $('sel-kind').textContent = `${e.kind === 'iface' ? 'interface' : e.kind}${e.sub !== '' ? ` · ${e.sub}` : ''}${e.node !== '' ? ` · on ${e.node}` : ''}`;
  const body = $('sel-counters').querySelector('tbody')!;
  const c = countersOf(selected);
  const info = ifaceInfo.get(e.iface ?? selected);
  const about: [string, string][] = info === undefined ? [] : [
    ['MAC', info.mac], ['MTU', String(info.mtu)],
    ...(info.addresses.length > 0 ? [['addresses', info.addresses.join(' ')] as [string, string]] : []),
    ...(info.peer !== null ? [['peer', `${info.peer.namespace}/${info.peer.name}`] as [string, string]] : []),
    ...(info.master !== null ? [['master', info.master] as [string, string]] : []),
  ];
  const rows: [string, string][] = c === null ? about : [
    ...about,
    ['rx packets', String(c.rxPackets)], ['rx bytes', String(c.rxBytes)], ['tx packets', String(c.txPackets)], ['tx bytes', String(c.txBytes)],
    ...(c.rxDropped !== undefined ? [['rx dropped', String(c.rxDropped)] as [string, string]] : []),
    ...(c.txDropped !== undefined ? [['tx dropped', String(c.txDropped)] as [string, string]] : []),
  ];
  body.replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement('tr');
    const a = document.createElement('td');
    a.textContent = k;
    const b = document.createElement('td');
    b.textContent = v;
    b.dataset['counter'] = k;
    tr.append(a, b);
    return tr;
  }));
  const capturable = e.iface !== null;
  ($('capture-start') as HTMLButtonElement).disabled = !capturable || capture !== null;
}

function select(id: string): void {
  if (current === null) return;
  if (selected !== null) current.drawn.mark(selected, 'selected', false);
  selected = id;
  current.drawn.mark(id, 'selected', true);
  paintSelected();
  const e = current.d.byId.get(id);
  const node = e?.node;
  if (node !== undefined && node !== '') ($('rules-node') as HTMLSelectElement).value = node;
}

// ---- live mode ---------------------------------------------------------------------------

let capture: { id: string; iface: string } | null = null;

async function live(api: Api): Promise<void> {
  let topo: TopologyJson;
  try {
    topo = await api.json<TopologyJson>('GET', 'topology');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { askToken(api); return; }
    throw e;
  }
  await showTopology(topo);
  // Interface details (MAC, MTU, peer) for the Selected panel; a podwire without GET /inspect just has none.
  api.json<InspectJson>('GET', 'inspect').then(readInspect, () => undefined);
  status(`connected: ${topo.nodes.length} nodes, ${topo.pods.length} pods, ${topo.services.length} services`);
  fillTraceForm(topo);
  fillRules(api, topo);
  captureControls(api);
  void pollStats(api);
  void followFlows(api);
  $('trace-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void traceNow(api);
  });
  ready();
}

function askToken(api: Api): void {
  const f = $('token-form');
  f.hidden = false;
  status(api.token === null ? 'this podwire needs a token' : 'the token was refused', true);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api.setToken(($('token') as HTMLInputElement).value);
    f.hidden = true;
    void live(api).catch(fail);
  }, { once: true });
}

function option(value: string, label = value): HTMLOptionElement {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  return o;
}

function fillTraceForm(t: TopologyJson): void {
  const from = $('trace-from') as HTMLSelectElement;
  const to = $('trace-to') as HTMLSelectElement;
  const pods = t.pods.filter((p) => t.nodes.find((n) => n.name === p.node)?.emulated !== false);
  from.replaceChildren(...pods.map((p) => option(p.key, `${p.key} (${p.ip})`)));
  const podGroup = document.createElement('optgroup');
  podGroup.label = 'pods';
  podGroup.append(...t.pods.map((p) => option(p.key, `${p.key} (${p.ip})`)));
  const svcGroup = document.createElement('optgroup');
  svcGroup.label = 'services';
  svcGroup.append(...t.services.map((s) => option(s.namespace === 'default' ? s.name : `${s.name}.${s.namespace}`, `${s.namespace === 'default' ? s.name : `${s.namespace}/${s.name}`} (${s.clusterIP}:${s.ports.map((p) => `${p.port}/${p.protocol}`).join(',')})`)));
  to.replaceChildren(podGroup, svcGroup);
  if (pods[1] !== undefined) to.value = pods[1].key;
  to.addEventListener('change', () => {
    const svc = t.services.find((s) => (s.namespace === 'default' ? s.name : `${s.name}.${s.namespace}`) === to.value);
    const p = svc?.ports[0];
    if (p !== undefined) {
      ($('trace-proto') as HTMLSelectElement).value = p.protocol.toLowerCase();
      ($('trace-port') as HTMLInputElement).value = String(p.port);
    }
  });
}

async function traceNow(api: Api): Promise<void> {
  const asked: TraceAsked = {
    from: ($('trace-from') as HTMLSelectElement).value,
    to: ($('trace-to') as HTMLSelectElement).value,
    proto: ($('trace-proto') as HTMLSelectElement).value as TraceAsked['proto'],
  };
  const port = ($('trace-port') as HTMLInputElement).value;
  if (port !== '' && asked.proto !== 'icmp') asked.port = Number(port);
  await traceAsked(api, asked);
}

/**
 * The NetworkPolicy verdict of a journey, from its `policy` hops (h/netpol: the filter at
 * FORWARD's position names the policies that isolate each end and the rule that allows).
 */
function showPolicy(r: TraceResult): void {
  const el = $('policy-verdict');
  const hops = [r.request, r.reply, r.reset].flatMap((j) => j?.hops ?? []).filter((h) => h.action === 'policy');
  if (hops.length === 0) { el.hidden = true; el.textContent = ''; return; }
  const denied = hops.find((h) => h.detail['verdict'] === 'denied');
  const shown = denied ?? hops[hops.length - 1]!;
  el.hidden = false;
  el.className = denied !== undefined ? 'denied' : 'allowed';
  el.textContent = `NetworkPolicy: ${denied !== undefined ? 'denied' : 'allowed'} on ${shown.node}: ${String(shown.detail['reason'] ?? '')}`;
}

async function traceAsked(api: Api, asked: TraceAsked): Promise<void> {
  try {
    status(`tracing ${asked.from} -> ${asked.to}`);
    const r = await api.json<TraceAnswer>('POST', 'trace', asked);
    const result = traceResultOf(asked, r);
    status(`${asked.from} -> ${asked.to}: ${r.request.delivered ? 'delivered' : `dropped (${r.request.dropReason ?? 'no answer'})`}`);
    showPolicy(result);
    await journey.show(result);
  } catch (e) {
    fail(e);
  }
}

async function pollStats(api: Api): Promise<void> {
  for (;;) {
    try {
      const s = await api.json<{ interfaces: Record<string, IfaceCounters> }>('GET', 'stats');
      stats = s.interfaces;
      paintCounters();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function followFlows(api: Api): Promise<void> {
  const head = $('flows').querySelector('thead tr')!;
  head.replaceChildren(...FLOW_COLUMNS.map((c) => { const th = document.createElement('th'); th.scope = 'col'; th.textContent = c; return th; }));
  const table = new FlowsTable($('flows').querySelector('tbody')!, $('flows-count'), (f) => {
    const t = traceOfFlow(f);
    if (t === null) { status('only a flow from a pod can be traced again', true); return; }
    void traceAsked(api, t);
  });
  const refilter = (): void => {
    table.filter = {
      text: ($('flow-text') as HTMLInputElement).value.trim(),
      verdict: ($('flow-verdict') as HTMLSelectElement).value,
      protocol: ($('flow-proto') as HTMLSelectElement).value,
    };
    table.refilter();
  };
  for (const id of ['flow-text', 'flow-verdict', 'flow-proto']) $(id).addEventListener('input', refilter);
  const state = $('flows-state');
  for (let attempt = 0; ; attempt++) {
    const ctl = new AbortController();
    try {
      state.textContent = 'following';
      $('flows-panel').dataset['following'] = 'true';
      await api.events(`flows?follow=true&limit=${attempt === 0 ? 200 : 0}`, (e) => table.add(e as FlowEvent), ctl.signal);
      state.textContent = 'the flow stream ended; reconnecting';
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 501)) {
        state.textContent = 'this podwire has no flow log (GET /flows)';
        $('flows-panel').dataset['following'] = 'false';
        return;
      }
      state.textContent = `flows: ${(e as Error).message}; reconnecting`;
    }
    $('flows-panel').dataset['following'] = 'false';
    await new Promise((res) => setTimeout(res, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5))));
  }
}

function fillRules(api: Api, t: TopologyJson): void {
  const sel = $('rules-node') as HTMLSelectElement;
  sel.replaceChildren(...t.nodes.filter((n) => n.emulated).map((n) => option(n.name)));
  $('rules-load').addEventListener('click', () => {
    const q = new URLSearchParams();
    const f = ($('rules-format') as HTMLSelectElement).value;
    if (f !== '') q.set('format', f);
    if (f === '' || f === 'iptables-save') q.set('table', ($('rules-table') as HTMLSelectElement).value);
    api.text(`nodes/${encodeURIComponent(sel.value)}/rules?${q.toString()}`)
      .then((text) => { $('rules-text').textContent = text; })
      .catch((e: unknown) => { $('rules-text').textContent = (e as Error).message; });
  });
}

function captureControls(api: Api): void {
  const start = $('capture-start') as HTMLButtonElement;
  const stop = $('capture-stop') as HTMLButtonElement;
  const state = $('capture-state');
  start.addEventListener('click', () => {
    const iface = selected === null ? null : current?.d.byId.get(selected)?.iface ?? null;
    if (iface === null) return;
    api.json<{ id: string }>('POST', 'captures', { interfaces: [iface] }).then((c) => {
      capture = { id: c.id, iface };
      start.disabled = true;
      stop.disabled = false;
      state.textContent = `capturing ${iface} (${c.id})`;
      state.dataset['capture'] = c.id;
    }).catch(fail);
  });
  stop.addEventListener('click', () => {
    const c = capture;
    if (c === null) return;
    void (async () => {
      try {
        await api.json('DELETE', `captures/${c.id}`);
        const r = await api.raw('GET', `captures/${c.id}`);
        const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1] ?? `${c.id}.pcapng`;
        const blob = await r.blob();
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = name;
        a.textContent = `download ${name}`;
        document.body.appendChild(a);
        a.click();
        a.remove();
        state.textContent = `${c.iface}: ${name} (${blob.size} bytes) downloaded`;
      } catch (e) {
        fail(e);
      } finally {
        capture = null;
        stop.disabled = true;
        paintSelected();
      }
    })();
  });
}

// ---- static mode -------------------------------------------------------------------------

async function offline(data: StaticData): Promise<void> {
  for (const e of document.querySelectorAll<HTMLElement>('[data-live]')) e.hidden = true;
  const box = $('journeys');
  box.hidden = false;
  await showTopology(data.topology);
  status(`${data.journeys.length} journeys of podwire demo (a page without a cluster: run \`podwire up\` for a live one)`);
  const buttons = data.journeys.map((j, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `${i + 1}. ${j.name}`;
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => {
      for (const x of buttons) x.setAttribute('aria-pressed', String(x === b));
      showPolicy(j);
      void journey.show(j);
    });
    box.appendChild(b);
    return b;
  });
  buttons[0]?.click();
  ready();
}

function fail(e: unknown): void {
  status((e as Error).message ?? String(e), true);
}

async function boot(): Promise<void> {
  zoomControls();
  const embedded = document.getElementById('podwire-data');
  if (embedded !== null) {
    await offline(JSON.parse(embedded.textContent ?? '{}') as StaticData);
    return;
  }
  await live(new Api(new URL('api/v1/', location.href)));
}

boot().catch(fail);
