// `npm run benchmark:callout -- --workspaces 50 --connects 1000 --concurrency 1,50,500`: its flags,
// and what it prints: per level of concurrency, connects/s and latency through the auth callout next
// to plain creds files in the same run, what each connect cost the processes, the goals, and the
// mint micro-benchmark. Pure, so that the unit tests check the arithmetic and the layout.

import { parseArgs } from 'node:util';
import { percentile, ratio } from './benchmark-figures.ts';
import { wholeNumber } from './benchmark-flags.ts';

export interface CalloutFlags {
  /** Accesses using the callout, and as many with plain creds. */
  workspaces: number;
  /** Connects per level and per way of logging in. */
  connects: number;
  /** Connects in flight, one level after the other. */
  concurrency: number[];
  /** Iterations of each mint micro-benchmark. */
  mintIterations: number;
  /**
   * A new token for every callout connect (each verified in full), instead of one per workspace
   * used again and again (a reconnect storm, whose tokens the callout has verified before).
   */
  freshTokens: boolean;
}

export const CALLOUT_USAGE = `usage: npm run benchmark:callout -- [--workspaces N] [--connects N] [--concurrency A,B,...] [--mint-iterations N] [--fresh-tokens]
  --workspaces N       accesses using the callout, and as many with creds files, 1 to 1000 (default 50)
  --connects N         connects per level, each way, 1 to 100000 (default 1000)
  --concurrency LIST   connects in flight, one level after the other, each 1 to 2000 (default 1,50,500)
  --mint-iterations N  iterations of each mint micro-benchmark, 1 to 10000 (default 200)
  --fresh-tokens       a new token for every callout connect, each verified in full (default: one per
                       workspace, used for all its connects, as in a reconnect storm)`;

/** The flags in `args`; throws an Error naming the flag and the value for anything wrong. */
export function parseCalloutFlags(args: string[]): CalloutFlags {
  const { values } = parseArgs({
    args,
    options: {
      workspaces: { type: 'string' },
      connects: { type: 'string' },
      concurrency: { type: 'string' },
      'mint-iterations': { type: 'string' },
      'fresh-tokens': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    workspaces: wholeNumber('workspaces', values.workspaces ?? '50', 1, 1000),
    connects: wholeNumber('connects', values.connects ?? '1000', 1, 100_000),
    concurrency: (values.concurrency ?? '1,50,500').split(',').map((level) => wholeNumber('concurrency', level.trim(), 1, 2000)),
    mintIterations: wholeNumber('mint-iterations', values['mint-iterations'] ?? '200', 1, 10_000),
    freshTokens: values['fresh-tokens'] ?? false,
  };
}

/** Milliseconds with three significant digits or so: connects take from a fraction of a ms to seconds. */
export function fineMs(v: number): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
  return `${v.toFixed(digits)} ms`;
}

/** One way of logging in at one level: the latencies of its connects and how long they all took. */
export interface Side {
  latencies: readonly number[];
  wallMs: number;
  /** CPU time in ms the load generator, the operator and nats-server used during it. */
  cpuMs: { client: number; operator: number; nats: number };
}

export interface Level {
  concurrency: number;
  callout: Side;
  creds: Side;
  /** The operator's resident memory after the level's callout connects. */
  operatorResidentBytes: number;
}

export const connectsPerSecond = (side: Side): number => side.latencies.length / (side.wallMs / 1000);

const perConnect = (side: Side, cpuMs: number) => fineMs(cpuMs / Math.max(1, side.latencies.length));

const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** The connect table: throughput and latency each way, and callout over creds. */
export function connectTable(levels: readonly Level[]): string[] {
  return [
    row(['in flight', 'callout connects/s', 'callout p50', 'callout p99', 'creds connects/s', 'creds p50', 'creds p99', 'p50 callout/creds', 'connects/s callout/creds']),
    row(Array.from({ length: 9 }, () => '---')),
    ...levels.map(({ concurrency, callout, creds }) =>
      row([
        String(concurrency),
        connectsPerSecond(callout).toFixed(0),
        fineMs(percentile(callout.latencies, 50)),
        fineMs(percentile(callout.latencies, 99)),
        connectsPerSecond(creds).toFixed(0),
        fineMs(percentile(creds.latencies, 50)),
        fineMs(percentile(creds.latencies, 99)),
        ratio(percentile(callout.latencies, 50), percentile(creds.latencies, 50)),
        ratio(connectsPerSecond(callout), connectsPerSecond(creds)),
      ]),
    ),
  ];
}

const allThree = (side: Side) => (side.cpuMs.client + side.cpuMs.operator + side.cpuMs.nats) / Math.max(1, side.latencies.length);

/**
 * CPU per connect of each process, each way, and the operator's memory; and the ceiling that sets
 * on `cores` cores: the connects/s at which the three processes would use every core, whatever
 * else runs.
 */
export function costTable(levels: readonly Level[], cores: number): string[] {
  const ceiling = (side: Side) => ((cores * 1000) / allThree(side)).toFixed(0);
  return [
    row([
      'in flight',
      'operator CPU/callout connect',
      'nats-server CPU/connect (callout, creds)',
      'client CPU/connect (callout, creds)',
      'all three (callout, creds)',
      `connects/s ceiling on ${cores} cores (callout, creds)`,
      'operator RSS',
    ]),
    row(Array.from({ length: 7 }, () => '---')),
    ...levels.map(({ concurrency, callout, creds, operatorResidentBytes }) =>
      row([
        String(concurrency),
        perConnect(callout, callout.cpuMs.operator),
        `${perConnect(callout, callout.cpuMs.nats)}, ${perConnect(creds, creds.cpuMs.nats)}`,
        `${perConnect(callout, callout.cpuMs.client)}, ${perConnect(creds, creds.cpuMs.client)}`,
        `${fineMs(allThree(callout))}, ${fineMs(allThree(creds))}`,
        `${ceiling(callout)}, ${ceiling(creds)}`,
        `${(operatorResidentBytes / 2 ** 20).toFixed(0)} MiB`,
      ]),
    ),
  ];
}

/** The goals, each with what was measured against it; never "met" on a level that was not run. */
export function goalLines(levels: readonly Level[]): string[] {
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const lines: string[] = [];
  const best = levels.reduce<Level | undefined>((a, b) => (a && connectsPerSecond(a.callout) >= connectsPerSecond(b.callout) ? a : b), undefined);
  if (best) {
    const rate = connectsPerSecond(best.callout);
    lines.push(`>= 1000 callout connects/s: ${met(rate >= 1000)} (best ${rate.toFixed(0)}/s, at ${best.concurrency} in flight)`);
  }
  const at50 = levels.find((level) => level.concurrency === 50);
  if (at50) {
    const p99 = percentile(at50.callout.latencies, 99);
    lines.push(`callout p99 < 50 ms at 50 in flight: ${met(p99 < 50)} (${fineMs(p99)})`);
  } else {
    lines.push('callout p99 < 50 ms at 50 in flight: not measured (no level of 50)');
  }
  if (levels.length > 0) {
    const ratios = levels.map((level) => percentile(level.callout.latencies, 50) / percentile(level.creds.latencies, 50));
    const worst = Math.max(...ratios);
    lines.push(
      `callout connect <= 2x creds (p50): ${met(worst <= 2)} (${levels.map((level, i) => `${ratios[i]!.toFixed(2)}x at ${level.concurrency}`).join(', ')})`,
    );
  }
  return lines;
}

/** The mint micro-benchmark: medians of one operation, with node:crypto keys and with @nats-io/nkeys' pure JS. */
export interface MintFigures {
  iterations: number;
  /** A user minted (key, JWT, creds file). */
  mint: { native: number; pureJs: number };
  /** A key pair from a seed, and its public key. */
  publicKey: { native: number; pureJs: number };
}

export function mintLines(m: MintFigures): string[] {
  const line = (label: string, { native, pureJs }: { native: number; pureJs: number }) =>
    `  ${label.padEnd(44)}${fineMs(native).padStart(11)}${fineMs(pureJs).padStart(11)}${ratio(pureJs, native).padStart(10)}`;
  return [
    `mint micro-benchmark (median of ${m.iterations}, in the benchmark's own process)`,
    `  ${''.padEnd(44)}${'native'.padStart(11)}${'pure JS'.padStart(11)}${'speed-up'.padStart(10)}`,
    line('user JWT + creds file (mintUserCredentials)', m.mint),
    line('key pair from seed + getPublicKey()', m.publicKey),
  ];
}
