// How the benchmarks summarise what they measured: percentiles of latencies, printed in ms, ratios,
// sizes, and API writes counted by kind.

/** The value at percentile `p` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export const ms = (v: number): string => `${v.toFixed(0)} ms`;

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

/**
 * Write requests by kind ("update workspacenatsaccesses/status", with the code when the API server
 * refused it: "... 409"), from audit lines ("verb resource ns/name code").
 */
export function byKind(writes: readonly string[]): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const write of writes) {
    const [verb, resource, , code = ''] = write.split(' ');
    const kind = `${verb} ${resource}${code.startsWith('2') ? '' : ` ${code}`}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/** `a` minus `b`, kind by kind, keeping what differs (negative: fewer in `a`). */
export function kindsDiffer(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const difference = new Map<string, number>();
  for (const kind of new Set([...a.keys(), ...b.keys()])) {
    const d = (a.get(kind) ?? 0) - (b.get(kind) ?? 0);
    if (d !== 0) difference.set(kind, d);
  }
  return difference;
}

export const kindsText = (kinds: Map<string, number>): string =>
  kinds.size === 0 ? 'none' : [...kinds].map(([kind, count]) => `${kind} ${count}`).join(', ');
