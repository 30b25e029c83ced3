export interface TargetVerdict {
  figure: string;
  op: '>=' | '<=';
  threshold: number;
  unit: string;
  value: number;
  met: boolean;
}
export const TARGETS: ReadonlyArray<readonly [string, 'min' | 'max', number]>;
export function judgeTargets(results: {
  figures: ReadonlyArray<{ name: string; value: number; unit: string }>;
  tapRatios?: ReadonlyArray<{ of: string; to: string; metric: string; ratio: number; target: number; higher: boolean; met: boolean | null }>;
  /** Verdicts tools/bench/vxlan-kernel.mjs judged itself, repeated as they are. */
  vxlanKernelTargets?: readonly TargetVerdict[];
}): TargetVerdict[];
export function targetLines(verdicts: readonly TargetVerdict[]): string[];
