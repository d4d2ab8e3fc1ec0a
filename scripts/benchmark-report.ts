// What `npm run benchmark` prints: the operator next to the plain client for the burst, what the
// burst cost the operator, and the one-at-a-time figure. Only figures and counts: never an object.

import { cpus } from 'node:os';
import type { BurstRun, BurstTimes } from './benchmark-burst.ts';
import { kindsText, mib, ms, percentile, ratio } from './benchmark-figures.ts';

/** What the benchmark read about the operator at a point of the burst. */
export interface OperatorSample {
  auditOffset: number;
  cpuMs: number;
  residentBytes: number;
  connectionsOpened: number;
}

/** The operator restarted while it held the burst's accesses. */
export interface RestartSample {
  /** From its start to its caches synced and workers running ("started"). */
  syncedMs: number;
  /** From its start until it wrote nothing for a second. */
  steadyMs: number;
  /** What it wrote from its stop until then, by kind (none expected). */
  writes: Map<string, number>;
  /** Resident memory then. */
  residentBytes: number;
}

/** API writes by kind, during issuance and during deletion. */
export interface Writes {
  issuance: Map<string, number>;
  deletion: Map<string, number>;
}

export interface Report {
  accesses: number;
  inFlight: number;
  workers: number;
  single: BurstTimes;
  operator: BurstRun<OperatorSample>;
  restart: RestartSample;
  plain: BurstRun<unknown>;
  /** The operator's own writes (the user's creates and deletes not counted). */
  operatorWrites: Writes;
  /** The plain client's, besides the user's creates and deletes. */
  plainWrites: Writes;
  /** Operator writes the plain client does not make (refused ones, those per push). */
  unmirrored: Writes;
  /** What the operator logged at warn level or above during the run, by message. */
  operatorProblems: Map<string, number>;
}

const total = (kinds: Map<string, number>) => [...kinds.values()].reduce((sum, count) => sum + count, 0);

export function report(r: Report): string {
  const n = r.accesses;
  const perAccess = (kinds: Map<string, number>) => total(kinds) / n;
  const rows: [string, number, number, (v: number) => string][] = [
    ['create -> Ready, p50', percentile(r.operator.issued.latencies, 50), percentile(r.plain.issued.latencies, 50), ms],
    ['create -> Ready, p99', percentile(r.operator.issued.latencies, 99), percentile(r.plain.issued.latencies, 99), ms],
    [`all ${n} Ready`, r.operator.issued.totalMs, r.plain.issued.totalMs, ms],
    [`all ${n} gone after deletion`, r.operator.deleted.totalMs, r.plain.deleted.totalMs, ms],
    ['API writes per access, issuance', perAccess(r.operatorWrites.issuance), perAccess(r.plainWrites.issuance), (v) => v.toFixed(2)],
    ['API writes per access, deletion', perAccess(r.operatorWrites.deletion), perAccess(r.plainWrites.deletion), (v) => v.toFixed(2)],
  ];
  const table = rows.map(
    ([label, operator, plain, format]) =>
      `  ${label.padEnd(34)}${format(operator).padStart(10)}${format(plain).padStart(14)}${ratio(operator, plain).padStart(10)}`,
  );
  const { before, held, deleting, after } = r.operator.samples;
  const single = r.single.latencies;
  return [
    '',
    `burst of ${n} new accesses, ${r.inFlight} requests in flight (operator: ${r.workers} workers; ${process.arch}, ${cpus().length} cores)`,
    `  ${''.padEnd(34)}${'operator'.padStart(10)}${'plain client'.padStart(14)}${'ratio'.padStart(10)}`,
    ...table,
    'the operator during the burst:',
    `  API writes, issuance: ${kindsText(r.operatorWrites.issuance)}`,
    `  API writes, deletion: ${kindsText(r.operatorWrites.deletion)}`,
    `  not made by the plain client: issuance ${kindsText(r.unmirrored.issuance)}; deletion ${kindsText(r.unmirrored.deletion)}`,
    `  connections opened to the API server: ${held.connectionsOpened - before.connectionsOpened} during issuance, ` +
      `${after.connectionsOpened - deleting.connectionsOpened} during deletion (${after.connectionsOpened} since the first start)`,
    `  CPU per access: ${((held.cpuMs - before.cpuMs) / n).toFixed(2)} ms issuance, ${((after.cpuMs - deleting.cpuMs) / n).toFixed(2)} ms deletion`,
    `  resident memory: ${mib(before.residentBytes)} before, ${mib(held.residentBytes)} with ${n} held, ${mib(after.residentBytes)} after deletion`,
    `restarted while holding the ${n}: caches synced in ${ms(r.restart.syncedMs)}, steady (a second without writes) after ` +
      `${ms(r.restart.steadyMs)}; API writes: ${kindsText(r.restart.writes)}; resident memory ${mib(r.restart.residentBytes)}`,
    `  warnings and errors logged in the whole run: ${[...r.operatorProblems].map(([msg, count]) => `"${msg}" x${count}`).join(', ') || 'none'}`,
    `create -> Secret, one at a time (${single.length} runs): p50 ${ms(percentile(single, 50))}, p99 ${ms(percentile(single, 99))}, ` +
      `max ${ms(Math.max(...single))} (goal: p99 under 100 ms)`,
    '',
  ].join('\n');
}
