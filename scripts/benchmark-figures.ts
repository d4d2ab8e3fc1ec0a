// How the benchmarks summarise what they measured: percentiles of latencies, printed in ms.

/** The value at percentile `p` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export const ms = (v: number): string => `${v.toFixed(0)} ms`;
