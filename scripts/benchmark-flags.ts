// `npm run benchmark -- --accesses 1000 --workers 8 --log-level debug`: the benchmark's flags, each
// bad value reported with the flag that carried it.

import { parseArgs } from 'node:util';
import { loadRunConfig } from '../src/cli/config.ts';

export interface BenchmarkFlags {
  /** New accesses in the burst, created by the operator and by the plain client each. */
  accesses: number;
  /** The operator's --workers and --log-level. */
  workers: number;
  logLevel: string;
}

const MAX_ACCESSES = 10_000;

export const USAGE = `usage: npm run benchmark -- [--accesses N] [--workers N] [--log-level LEVEL]
  --accesses N       new accesses in the burst, 1 to ${MAX_ACCESSES} (default 200)
  --workers N        the operator's reconciles in parallel, 1 to 64 (default 16, as the operator's)
  --log-level LEVEL  the operator's log level (default info)`;

/** `text` as a whole number from `min` to `max`, or an Error naming `--flag` and the text. */
export function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new Error(`--${flag}: "${text}" is not a whole number from ${min} to ${max}`);
  return value;
}

/** The flags in `args`; throws an Error naming the flag and the value for anything wrong. */
export function parseBenchmarkFlags(args: string[]): BenchmarkFlags {
  const { values } = parseArgs({
    args,
    options: { accesses: { type: 'string' }, workers: { type: 'string' }, 'log-level': { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const accesses = wholeNumber('accesses', values.accesses ?? '200', 1, MAX_ACCESSES);
  // The operator's own checks, so that a bad value fails here with its message, not at its start.
  const { workers, logLevel } = loadRunConfig({ namespace: 'benchmark', workers: values.workers, 'log-level': values['log-level'] }, {});
  return { accesses, workers, logLevel };
}
