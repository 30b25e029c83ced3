/**
 * The errors and warnings of a conversion, each naming file, line, object and Kubernetes
 * field path (`deploy.yaml:14: Deployment/default/web: spec.replicas: ...`), and the
 * `Origin` of every path of the generated document, so podwire's own validation errors can
 * be mapped back onto the objects (index.ts).
 */
import type { TopologyError } from '../types.js';
import { lineOf } from './source.js';
import type { SourceObject } from './source.js';

/** What a path of the generated document stands for: the object, and how its fields are named there. */
export interface Origin {
  at: SourceObject;
  /** `Kind/ns/name`, or '' for podwire's own cluster document. */
  object: string;
  /** podwire field (first segment after `pods[i].` etc.) -> Kubernetes field path. */
  fields: Record<string, string>;
  /** Service ports: podwire port index -> index in spec.ports. */
  portIndex?: number[];
}

export class Reporter {
  readonly errors: TopologyError[] = [];
  readonly warnings: TopologyError[] = [];
  private add(list: TopologyError[], at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    const e: TopologyError = { path, value, message };
    if (object !== '') e.object = object;
    if (at !== undefined) {
      e.source = at.source;
      e.line = lineOf(at, path);
    }
    list.push(e);
  }
  err(at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    this.add(this.errors, at, object, path, value, message);
  }
  warn(at: SourceObject | undefined, object: string, path: string, value: unknown, message: string): void {
    this.add(this.warnings, at, object, path, value, message);
  }
}
