// Go-style durations ("90s", "1h30m") as used in the API. Written by hand: the format is the one
// Kubernetes users know from metav1.Duration, the CRD pattern already guarantees its shape, and the
// npm parsers accept other formats that the API must not.

import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const PART = /([0-9]+)(ms|s|m|h)/gy;

/** Milliseconds in `text`; throws an InvalidSpec Failure naming `field` when it is not a whole-unit duration. */
export function parseDuration(text: string, field: string): number {
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let match = PART.exec(text); match; match = PART.exec(text)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    consumed = PART.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length) {
    throw new Failure(Reason.InvalidSpec, `${field}: "${text}" is not a duration such as 90s, 15m or 1h30m`);
  }
  return total;
}

/** The shortest whole-unit text for `ms`, the inverse of parseDuration for messages. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count}${unit}`);
    rest -= count * size;
  }
  return parts.length > 0 ? parts.join('') : '0s';
}
