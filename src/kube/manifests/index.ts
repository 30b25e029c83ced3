/**
 * Kubernetes manifests as a podwire topology: read (source.ts), convert (convert.ts), then
 * validate with podwire's own rules (topology.ts), errors mapped back onto the objects.
 */
import { stat } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { validateTopology } from '../topology.js';
import { planCluster } from '../plan.js';
import { strangers } from '../slice-endpoints.js';
import type { Topology, TopologyError, TopologyResult } from '../types.js';
import { convert } from './convert.js';
import type { Converted, KubeObjects, Origin } from './convert.js';
import { lineOf, looksLikeManifests, readPath, readText } from './source.js';
import type { SourceObject } from './source.js';

export type { KubeObjects } from './convert.js';
export { looksLikeManifests } from './source.js';

export type ManifestResult = TopologyResult & { objects?: KubeObjects };

/** podwire path (`services[0].ports[1].nodePort`) -> the object it came from and its Kubernetes field path. */
function mapError(e: TopologyError, origins: Map<string, Origin>): TopologyError {
  const m = /^(pods|services|nodes)\[(\d+)\](?:\.([A-Za-z]+))?(?:\[(\d+)\])?(.*)$/.exec(e.path);
  if (e.path.startsWith('cluster')) {
    const o = origins.get('cluster');
    return o === undefined ? e : { ...e, source: o.at.source, line: lineOf(o.at, e.path) };
  }
  const np = /^(networkPolicies\[\d+\])\.?(.*)$/.exec(e.path);
  if (np !== null) {
    const o = origins.get(np[1]!);
    return o === undefined ? e : { ...e, path: np[2]!, object: o.object, source: o.at.source, line: lineOf(o.at, np[2]!) };
  }
  if (m === null) return e;
  const o = origins.get(`${m[1]}[${m[2]}]`);
  if (o === undefined) return e;
  if (o.object === '') return { ...e, source: o.at.source, line: lineOf(o.at, e.path) }; // podwire's own nodes:
  const field = m[3];
  let path = field === undefined ? '' : o.fields[field] ?? '';
  if (field === 'ports' && m[4] !== undefined) path = `spec.ports[${o.portIndex?.[Number(m[4])] ?? Number(m[4])}]${m[5] ?? ''}`;
  return { ...e, path, object: o.object, source: o.at.source, line: lineOf(o.at, path) };
}

/**
 * A service whose EndpointSlices are given takes its endpoints from them: the selector
 * warnings (selects nothing, a named targetPort no pod has) do not apply to it.
 */
function sliceWarnings(t: Topology, c: Converted, warnings: TopologyError[]): TopologyError[] {
  const given = t.kubernetes?.sliceEndpoints ?? {};
  const objects = new Set(t.services.filter((s) => given[`${s.namespace}/${s.name}`] !== undefined).map((s) => `Service/${s.namespace}/${s.name}`));
  return warnings.filter((w) => !(w.object !== undefined && objects.has(w.object) && (w.path === 'spec.selector' || /^spec\.ports\[\d+\]\.targetPort$/.test(w.path))));
}

/** Every slice address that is no emulated pod, once: podwire cannot deliver to it, so it is no endpoint. */
function sliceLessWarnings(t: Topology, c: Converted): TopologyError[] {
  const given = Object.values(t.kubernetes?.sliceEndpoints ?? {}).flat();
  if (given.length === 0) return [];
  let ips: Set<number>;
  try {
    ips = new Set(planCluster(t).pods.map((p) => p.ip)); // the pods' addresses, allocated ones included
  } catch {
    return [];
  }
  const out: TopologyError[] = [];
  const said = new Set<string>();
  for (const e of strangers(given, ips)) {
    if (said.has(`${e.slice} ${e.ip}`)) continue;
    said.add(`${e.slice} ${e.ip}`);
    const at = c.slices.get(e.slice);
    out.push({
      path: e.path, value: e.ip, object: e.slice, message: `${JSON.stringify(e.ip)} is no emulated pod: podwire cannot deliver to it, the endpoint is left out`,
      ...(at !== undefined ? { source: at.source, line: lineOf(at, e.path) } : {}),
    });
  }
  return out;
}

/** Converts and validates objects already read. */
export function topologyFromObjects(objects: SourceObject[], readErrors: TopologyError[] = []): ManifestResult {
  const c = convert(objects);
  const errors = [...readErrors, ...c.errors];
  if (errors.length > 0) return { ok: false, errors, warnings: c.warnings };
  const r = validateTopology(c.document);
  const warnings = [...c.warnings, ...r.warnings.map((w) => mapError(w, c.origins))];
  if (!r.ok) return { ok: false, errors: r.errors.map((e) => mapError(e, c.origins)), warnings };
  const topology = { ...r.topology, kubernetes: c.objects };
  return { ok: true, topology, warnings: [...sliceWarnings(topology, c, warnings), ...sliceLessWarnings(topology, c)], objects: c.objects };
}

/** Manifests given as text (one file's worth). */
export function parseManifests(text: string, source = 'manifests'): ManifestResult {
  const r = readText(text, source);
  return topologyFromObjects(r.objects, r.errors);
}

/** A manifest file or a directory of them. */
export async function loadManifests(path: string): Promise<ManifestResult> {
  const r = await readPath(path);
  if (r.objects.length === 0 && r.errors.length === 0) {
    // kubectl apply: "error: no objects passed to apply"
    return { ok: false, errors: [{ path: '', value: path, message: `no objects in ${JSON.stringify(path)} (no .yaml, .yml or .json file with a Kubernetes object)`, source: path }], warnings: [] };
  }
  return topologyFromObjects(r.objects, r.errors);
}

/** Whether `path` is Kubernetes manifests (a directory, or a file with apiVersion/kind objects) rather than a podwire topology. */
export async function isManifestPath(path: string): Promise<boolean> {
  try {
    if ((await stat(path)).isDirectory()) return true;
    return looksLikeManifests(await readFile(path, 'utf8'));
  } catch {
    return false;
  }
}
