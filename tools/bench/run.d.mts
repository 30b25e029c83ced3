/** Types of tools/bench/run.mjs, for a `podwire bench` command written in TypeScript. */
export interface BenchOptions {
  /** 3 short runs per figure (smoke run). */
  quick?: boolean;
  /** Only figures whose name matches this regular expression. */
  filter?: string | null;
  /**
   * Write the results here instead of bench-results/latest.json (latest-partial.json for a
   * filtered or quick run) + a timestamped copy.
   */
  json?: string | null;
  /** Timed runs per figure (default 7, quick 3). */
  runs?: number | null;
  /** false: do not write any JSON file. */
  write?: boolean;
}

export interface BenchIo {
  /** One line of output (a figure `name  value unit`, or a `#` comment), without newline. */
  out(line: string): void;
  /** Where the progress line goes (only drawn when it is a TTY). */
  stderr: NodeJS.WriteStream | { isTTY?: boolean; columns?: number; write(s: string): unknown };
}

export interface BenchFigure {
  name: string;
  unit: string;
  value: number;
  median: number;
  min: number;
  max: number;
  runs: number[];
  ratio?: { to: string; value: number; measure: string } | { of: string; to: string; measure: string };
  [extra: string]: unknown;
}

export interface BenchResults {
  machine: { os: string; cpu: string; cores: number; memoryGiB: number; loadavg: number[] };
  node: string;
  v8: string;
  date: string;
  runsPerFigure: number;
  quick: boolean;
  filter: string | null;
  figures: BenchFigure[];
  skipped: { name: string; reason: string }[];
  failed: { names: string[]; error: string }[];
  notes: string[];
}

export function runBench(opts?: BenchOptions, io?: BenchIo): Promise<BenchResults>;
export function machineInfo(): BenchResults['machine'];
/** Writes the JSON (see BenchOptions.json); returns the paths written. `dir`: default bench-results/. */
export function writeResults(results: BenchResults, jsonPath: string | null, dir?: string): string[];
