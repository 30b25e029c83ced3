/** Types of tools/bench/tap.mjs (the parts the tests use). */
export interface PingSummary {
  /** ping's own average (ms). */
  avg: number;
  /** Median of the echoes' times (ms). */
  p50: number;
  /** 90th percentile of the echoes' times (ms). */
  p90: number;
}

/** ping's output -> its average and the median and 90th percentile of the echoes (NaN when missing). */
export function parsePing(out: string): PingSummary;

/** [figure of a, figure of b, metric, target (0: context only), higher is better] */
export const TARGETS: ReadonlyArray<readonly [string, string, string, number, boolean]>;
