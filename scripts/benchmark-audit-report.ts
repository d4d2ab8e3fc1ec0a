// `npm run benchmark:audit -- --workspaces 50 --accesses 50 --connects 1000`: its flags, how it
// counts the operator's audit lines, and what it prints: create -> Ready with NATS quiet, during
// connects the audit does not hear, and during audited connects; the bursts themselves, the audit
// lines found against those expected, the operator's CPU and memory, and the goals. Pure, so that the unit tests check the
// counting, the arithmetic and the layout.

import { parseArgs } from 'node:util';
import type { BurstTimes } from './benchmark-burst.ts';
import { fineMs } from './benchmark-callout-report.ts';
import { kindsText, mib, ms, percentile, ratio } from './benchmark-figures.ts';
import { wholeNumber } from './benchmark-flags.ts';

export interface AuditFlags {
  /** Accesses whose creds the connects log in with. */
  workspaces: number;
  /** New accesses timed with NATS quiet, and as many during each burst of connects. */
  accesses: number;
  /** Connects in each burst, each closed after a round trip. */
  connects: number;
}

export const AUDIT_USAGE = `usage: npm run benchmark:audit -- [--workspaces N] [--accesses N] [--connects N]
  --workspaces N  accesses whose creds the connects use, 1 to 1000 (default 50)
  --accesses N    new accesses timed with NATS quiet, and as many during each burst, 1 to 10000 (default 50)
  --connects N    connects in each burst, each closed after a round trip, 1 to 100000 (default 1000)`;

/** The flags in `args`; throws an Error naming the flag and the value for anything wrong. */
export function parseAuditFlags(args: string[]): AuditFlags {
  const { values } = parseArgs({
    args,
    options: { workspaces: { type: 'string' }, accesses: { type: 'string' }, connects: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  return {
    workspaces: wholeNumber('workspaces', values.workspaces ?? '50', 1, 1000),
    accesses: wholeNumber('accesses', values.accesses ?? '50', 1, 10_000),
    connects: wholeNumber('connects', values.connects ?? '1000', 1, 100_000),
  };
}

/** The audit lines of a stretch of the operator's log. */
export interface AuditCount {
  /** Connect and disconnect lines attributed to one of the accesses the connects used. */
  connect: number;
  disconnect: number;
  /** Every other audit line, by "event attribution" (none expected). */
  other: Map<string, number>;
}

/**
 * Counts the audit lines (logger "audit") in `log`, a stretch of the operator's JSON log; `accesses`
 * are the "namespace/name" of the accesses whose creds were used. A last line without its newline
 * may still be being written, and is left for the next count.
 */
export function countAuditLines(log: string, accesses: ReadonlySet<string>): AuditCount {
  const count: AuditCount = { connect: 0, disconnect: 0, other: new Map() };
  for (const line of log.slice(0, log.lastIndexOf('\n') + 1).split('\n')) {
    if (!line.includes('"logger":"audit"')) continue;
    const { event, attribution, namespace, access } = JSON.parse(line) as { event?: string; attribution?: string; namespace?: string; access?: string };
    const ours = attribution === 'access' && accesses.has(`${namespace}/${access}`);
    if (ours && (event === 'connect' || event === 'disconnect')) count[event]++;
    else {
      const kind = `${event} ${attribution}`;
      count.other.set(kind, (count.other.get(kind) ?? 0) + 1);
    }
  }
  return count;
}

/** One phase of accesses created: with NATS quiet, or during connects. */
export interface Phase {
  times: BurstTimes;
  /** The operator's CPU time in the phase, until it was quiet again. */
  cpuMs: number;
  /** The operator's API writes in the phase by kind, when the API server's audit log was there. */
  writes: Map<string, number> | undefined;
}

/** A burst of connects, as the load generator ran it. */
export interface Connects {
  latencies: readonly number[];
  wallMs: number;
  failures: ReadonlyMap<string, number>;
  /** The load generator's CPU time. */
  clientCpuMs: number;
}

export interface AuditRun {
  flags: AuditFlags;
  /** Connects in flight during a burst. */
  inFlight: number;
  cores: number;
  /** Load average (1 and 5 minutes) at the end. */
  load: [number, number];
  /** Accesses created with NATS quiet. */
  quiet: Phase;
  /** During connects of the system account, which the audit does not hear: what the load costs the machine. */
  unaudited: Phase & { connects: Connects };
  /** During connects with the workspaces' creds, each audited. */
  audited: Phase & { connects: Connects };
  audit: AuditCount;
  /** From the audited burst's start until every expected audit line was in the log (or the wait gave up). */
  auditSettledMs: number;
  /** The operator's resident memory before the audited burst, the highest sampled during it, and after. */
  memory: { before: number; peak: number; after: number };
}

const GOAL_RATIO = 1.2;
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** Audit lines expected and not found: negative when there were more than expected. */
export const lost = (run: Pick<AuditRun, 'flags' | 'audit'>) => ({
  connect: run.flags.connects - run.audit.connect,
  disconnect: run.flags.connects - run.audit.disconnect,
});

const writeCount = (phase: Phase) => (phase.writes ? [...phase.writes.values()].reduce((sum, count) => sum + count, 0) : undefined);

function connectsLine(label: string, c: Connects): string {
  return (
    `${label}: ${c.latencies.length} in ${ms(c.wallMs)} (${(c.latencies.length / (c.wallMs / 1000)).toFixed(0)}/s), connect + round trip ` +
    `p50 ${fineMs(percentile(c.latencies, 50))}, p99 ${fineMs(percentile(c.latencies, 99))}; load generator CPU ${ms(c.clientCpuMs)}; ` +
    `failed: ${kindsText(new Map(c.failures))}`
  );
}

export function auditReport(r: AuditRun): string[] {
  const { quiet, unaudited, audited, flags } = r;
  const n = flags.accesses;
  const phases = [quiet, unaudited, audited];
  /** A row of the table; "-" for what was not measured. */
  const figure = (label: string, value: (phase: Phase) => number | undefined, text: (v: number) => string) => {
    const [q, u, a] = phases.map(value);
    const shown = (v: number | undefined) => (v === undefined ? '-' : text(v));
    const over = (v: number | undefined, w: number | undefined) => (v === undefined || w === undefined ? '-' : ratio(v, w));
    return row([label, shown(q), shown(u), shown(a), over(a, q), over(a, u)]);
  };
  const latency = (label: string, p: number) => figure(label, (phase) => percentile(phase.times.latencies, p), ms);
  const ratios = [50, 95].map((p) => percentile(audited.times.latencies, p) / percentile(quiet.times.latencies, p));
  const missing = lost(r);
  return [
    '',
    `${n} accesses created with NATS quiet, ${n} during ${flags.connects} connects the audit does not hear (system account), ` +
      `${n} during ${flags.connects} audited connects over ${flags.workspaces} workspaces' creds; ${r.inFlight} connects in flight ` +
      `(${r.cores} cores, load average ${r.load[0].toFixed(1)} / ${r.load[1].toFixed(1)} at the end)`,
    row(['figure', 'NATS quiet', 'connects not audited', 'audited connects', 'audited / quiet', 'audited / not audited']),
    row(Array.from({ length: 6 }, () => '---')),
    latency('create -> Ready, p50', 50),
    latency('create -> Ready, p95', 95),
    latency('create -> Ready, max', 100),
    figure(`all ${n} Ready`, (phase) => phase.times.totalMs, ms),
    figure('operator CPU', (phase) => phase.cpuMs, ms),
    figure('operator API writes', writeCount, String),
    '',
    connectsLine('connects not audited', unaudited.connects),
    connectsLine('audited connects', audited.connects),
    `operator CPU per audited connect: ${fineMs((audited.cpuMs - unaudited.cpuMs) / flags.connects)} (CPU with audited connects minus with the others, over ${flags.connects})`,
    `operator API writes during the audited connects: ${audited.writes ? kindsText(audited.writes) : 'not counted (no API server audit log)'}`,
    `audit lines: ${r.audit.connect} connect and ${r.audit.disconnect} disconnect attributed to an access, of ${flags.connects} each ` +
      `(all in the log ${ms(r.auditSettledMs)} after the burst began); other audit lines: ${kindsText(r.audit.other)}`,
    `operator RSS: ${mib(r.memory.before)} before the audited connects, ${mib(r.memory.peak)} at most during them (sampled every 100 ms), ${mib(r.memory.after)} after`,
    '',
    'goals:',
    `  create -> Ready during audited connects at most ${GOAL_RATIO.toFixed(2)}x with NATS quiet (p50, p95): ${met(ratios.every((v) => v <= GOAL_RATIO))} ` +
      `(${ratios.map((v) => `${v.toFixed(2)}x`).join(', ')})`,
    `  no audit line lost: ${met(missing.connect === 0 && missing.disconnect === 0)} (lost ${missing.connect} connect, ${missing.disconnect} disconnect)`,
    '',
  ];
}
