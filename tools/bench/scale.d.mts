import type { BenchResults } from './run.mjs';

/** Draws bench-results/scale.svg (or opts.resultsFile) from a full run; docs/scale.svg too with opts.docs. */
export function afterRun(
  results: BenchResults,
  note: (line: string) => void,
  opts?: { docs?: boolean; resultsFile?: string; docsFile?: string },
): void;
