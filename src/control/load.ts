/**
 * Loading topologies for the CLI and the API: read, validate (every error with its path),
 * build. Errors carry the formatted topology errors so the edges can print them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, type ClusterOptions } from '../kube/cluster.js';
import { isManifestPath, loadManifests, looksLikeManifests, parseManifests } from '../kube/manifests/index.js';
import { formatTopologyError, loadTopologyFile, parseTopology, validateTopology } from '../kube/topology.js';
import type { Topology, TopologyError, TopologyResult } from '../kube/types.js';

export class TopologyInvalidError extends Error {
  constructor(readonly source: string, readonly errors: TopologyError[]) {
    super(`${source}: invalid topology:\n${errors.map((e) => `  ${formatTopologyError(e, { location: true })}`).join('\n')}`);
  }
}

/** Path of a file under the package's `examples/` (works from src/ under vitest and from dist/). */
export function examplePath(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, 'examples', name);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`examples/${name} not found next to the podwire package`);
}

/**
 * A podwire topology file, or Kubernetes manifests (a directory, or a file whose documents
 * have apiVersion and kind: docs/manifests.md), validated; the objects podwire stores but
 * does not emulate come with the topology as `topology.kubernetes`.
 */
export async function loadTopologySource(path: string): Promise<TopologyResult> {
  return (await isManifestPath(path)) ? loadManifests(path) : loadTopologyFile(path);
}

export async function loadTopology(path: string): Promise<Topology> {
  if (!existsSync(path)) throw new TopologyInvalidError(path, [{ path: '', value: path, message: `file ${JSON.stringify(path)} does not exist` }]);
  const r = await loadTopologySource(path);
  if (!r.ok) throw new TopologyInvalidError(path, r.errors);
  return r.topology;
}

export async function loadCluster(path: string, opts: ClusterOptions = {}): Promise<Cluster> {
  return new Cluster(await loadTopology(path), opts);
}

/**
 * A cluster from a topology given as YAML text (podwire's, or Kubernetes manifests) or as a
 * plain object (the library's front door: no file needed). Throws TopologyInvalidError with
 * every error and its path.
 */
export function clusterFromTopology(source: string | Record<string, unknown>, opts: ClusterOptions = {}): Cluster {
  const m = typeof source === 'string' && looksLikeManifests(source) ? parseManifests(source) : null;
  const r = m ?? (typeof source === 'string' ? parseTopology(source) : validateTopology(source));
  if (!r.ok) throw new TopologyInvalidError('topology', r.errors);
  return new Cluster(r.topology, opts);
}
