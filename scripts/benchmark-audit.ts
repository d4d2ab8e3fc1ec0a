// `npm run benchmark:audit -- --workspaces 50 --accesses 50 --connects 1000`: what the audit (every
// NATS connect and disconnect of an issuer's account becomes an audit line, Events and
// status.connections) costs the operator's reconciles, and whether it loses anything, in one run
// against the local environment and the real operator (a child process):
// - W workspaces' accesses made Ready and their creds read from their Secrets;
// - N new accesses created with NATS quiet (32 in progress at a time, each until it is Ready, as
//   `npm run benchmark` does), create -> Ready timed by the API server's watch;
// - then N more during a burst of connects with the system account's creds, which the audit does not
//   hear: what the load alone costs a machine whose cores the operator shares with nats-server and
//   the load generator;
// - then N more during a burst of connects over the W workspaces' creds (connect i with workspace i
//   modulo W), each audited. Each burst has 50 connects in flight, each connection subscribes,
//   publishes, receives its message and closes; the accesses are created as it starts and timed the
//   same way. The goal: create -> Ready during audited connects at most 1.20x the quiet figure at
//   p50 and p95; next to it, audited over not audited is the audit's own share;
// - the operator's audit lines of the audited burst counted once they have all arrived (waiting a bounded
//   time): exactly one connect and one disconnect line per connect, attributed to its access;
// - the operator's CPU in each phase (/proc), its API writes in each (the API server's audit log),
//   and its resident memory before, at most during (sampled every 100 ms) and after the burst.
// The connects run in a child process (benchmark-load-generator.ts), as in `npm run
// benchmark:callout`: its event loop serves only them, and this one only the timing of accesses.
// A connect that fails, or an audit line lost or written twice, fails the run (exit 1), after the
// figures.

import { loadavg, cpus } from 'node:os';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS_NAME_LABEL, CREDS_KEY } from '../src/api/constants.ts';
import { auditOffset, writesBetween, writesSince } from '../test/env/audit.ts';
import { accessBody, createAccess, OPERATOR_USER } from '../test/env/cluster.ts';
import { auditReport, countAuditLines, lost, parseAuditFlags, AUDIT_USAGE, type AuditCount, type AuditFlags, type AuditRun, type Phase } from './benchmark-audit-report.ts';
import { timeBurst, type BurstTimes } from './benchmark-burst.ts';
import type { LoadAuth } from './benchmark-callout-load.ts';
import { byKind } from './benchmark-figures.ts';
import { startLoadGenerator, type LoadGenerator } from './benchmark-load-generator.ts';
import { observe, type Observer } from './benchmark-observer.ts';
import { cpuMs, residentBytes, sampleResident } from './benchmark-process.ts';
import { BENCH, benchLog, startBench } from './benchmark-setup.ts';

/** Connects in flight during the burst: enough to keep nats-server and the operator busy on 2 cores. */
const CONNECTS_IN_FLIGHT = 50;
/** How long the audit lines may take to arrive after the burst, at most, and without a new one. */
const AUDIT_WAIT_MS = 60_000;
const AUDIT_STALL_MS = 10_000;
/** The operator's CPU time, and where the API server's audit log ended, once it was quiet. */
interface Sample {
  cpuMs: number;
  auditOffset: number;
}
const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

let flags: AuditFlags;
try {
  flags = parseAuditFlags(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${AUDIT_USAGE}\n`);
  process.exit(2);
}

const bench = await startBench(['--log-level', 'info']);
let load: LoadGenerator | undefined;
let observer: Observer | undefined;
try {
  const { admin, state, operator } = bench;
  const auditLog = state.kube?.auditLogPath;
  if (!auditLog) benchLog.warn('no API server audit log (an external cluster): the operator\'s writes are not counted');
  const pid = () => {
    const current = operator.pid;
    if (current === undefined) throw new Error('the operator is not running');
    return current;
  };
  observer = await observe(admin.kubeconfigPath, BENCH);
  const ready = observer;
  /** Creates `names` 32 in progress at a time, each holding its place until it is Ready. */
  const createBurst = (names: string[]) =>
    timeBurst(
      names,
      async (name) => {
        await createAccess(admin.custom, BENCH, accessBody(name, { issuerRef: { name: BENCH }, permissions }));
        await ready.arrival(name, 'ready');
      },
      ready,
      'ready',
    );
  /** Waits until the operator has written nothing for a second (10 s at most); its CPU then. */
  const quiet = async (): Promise<Sample> => {
    for (let waited = 0; waited < 10_000; waited += 1000) {
      const from = auditLog ? auditOffset(auditLog) : 0;
      await sleep(1000);
      if (!auditLog || writesSince(auditLog, from, OPERATOR_USER).length === 0) break;
    }
    return { cpuMs: cpuMs(pid()), auditOffset: auditLog ? auditOffset(auditLog) : 0 };
  };
  const writesFrom = (from: Sample, to: Sample) =>
    auditLog ? byKind(writesBetween(auditLog, from.auditOffset, to.auditOffset, OPERATOR_USER)) : undefined;
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

  // 1. The workspaces whose creds the connects use.
  const workspaces = names('ws', flags.workspaces);
  await createBurst(workspaces);
  const secrets = await admin.core.listNamespacedSecret({ namespace: BENCH, labelSelector: ACCESS_NAME_LABEL });
  const credsOf = new Map(secrets.items.map((secret) => [secret.metadata?.labels?.[ACCESS_NAME_LABEL], Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8')]));
  const creds = workspaces.map((name) => {
    const text = credsOf.get(name);
    if (!text) throw new Error(`${BENCH}/${name} is Ready but its Secret holds no creds`);
    return text;
  });
  load = startLoadGenerator();

  /** A burst of connects (each closed after a round trip), with N accesses created meanwhile. */
  const during = async (prefix: string, auth: LoadAuth, subjects: string[]) => {
    const [connected, times] = await Promise.all([
      load!.run({ servers: state.nats.urls, auth, total: flags.connects, concurrency: CONNECTS_IN_FLIGHT, roundTrip: subjects }),
      createBurst(names(prefix, flags.accesses)),
    ]);
    const connects = { latencies: connected.latencies, wallMs: connected.wallMs, failures: new Map(connected.failures), clientCpuMs: connected.cpuMs };
    return { times, connects };
  };
  const phase = (times: BurstTimes, from: Sample, to: Sample): Phase => ({ times, cpuMs: to.cpuMs - from.cpuMs, writes: writesFrom(from, to) });

  // 2. Accesses with NATS quiet.
  const beforeQuiet = await quiet();
  const quietTimes = await createBurst(names('quiet', flags.accesses));
  const afterQuiet = await quiet();

  // 3. Accesses during connects of the system account, which the audit does not hear (what the load
  // alone costs a machine whose cores nats-server, the load generator and the operator share), then
  // during audited connects; the operator's memory sampled throughout the latter.
  const controlSubjects = workspaces.map((name) => `audit-benchmark.${name}`);
  const control = await during('unaudited', { kind: 'creds', creds: [state.trust.systemUser.creds] }, controlSubjects);
  const afterUnaudited = await quiet();
  const logFrom = statSync(operator.logFile).size;
  const residentBefore = residentBytes(pid());
  const sampler = sampleResident(pid());
  const burstStart = performance.now();
  const burst = await during('audited', { kind: 'creds', creds }, workspaces.map((name) => `ws.${name}.audit-benchmark`));

  // 4. The audit lines, once they have all arrived (or stopped arriving).
  const used = new Set(workspaces.map((name) => `${BENCH}/${name}`));
  const { count: audit, settledMs } = await awaitAuditLines(operator.logFile, logFrom, used, burst.connects.latencies.length, burstStart);
  const afterAudited = await quiet();
  const peak = sampler.stop();
  const residentAfter = residentBytes(pid());

  const [load1 = 0, load5 = 0] = loadavg();
  const run: AuditRun = {
    flags,
    inFlight: CONNECTS_IN_FLIGHT,
    cores: cpus().length,
    load: [load1, load5],
    quiet: phase(quietTimes, beforeQuiet, afterQuiet),
    unaudited: { ...phase(control.times, afterQuiet, afterUnaudited), connects: control.connects },
    audited: { ...phase(burst.times, afterUnaudited, afterAudited), connects: burst.connects },
    audit,
    auditSettledMs: settledMs,
    memory: { before: residentBefore, peak, after: residentAfter },
  };
  process.stdout.write(`${auditReport(run).join('\n')}\n`);
  const failed = [['not audited', control.connects], ['audited', burst.connects]] as const;
  for (const [which, { failures }] of failed) {
    if (failures.size === 0) continue;
    process.stderr.write(`${which} connects that failed:\n${[...failures].map(([reason, count]) => `  ${reason}: ${count}`).join('\n')}\n`);
    process.exitCode = 1;
  }
  const missing = lost(run);
  if (missing.connect !== 0 || missing.disconnect !== 0) {
    process.stderr.write(`audit lines lost (negative: more than connects): ${missing.connect} connect, ${missing.disconnect} disconnect\n`);
    process.exitCode = 1;
  }
} finally {
  await observer?.stop();
  await load?.stop();
  await bench.stop();
}

/**
 * Reads the operator's log from byte `from` until it holds `expected` connect and disconnect lines
 * of `accesses`, then a second more, to count any that come twice; gives up when no audit line has
 * come for AUDIT_STALL_MS, or after AUDIT_WAIT_MS.
 */
async function awaitAuditLines(logFile: string, from: number, accesses: ReadonlySet<string>, expected: number, since: number): Promise<{ count: AuditCount; settledMs: number }> {
  const read = () => countAuditLines(readFrom(logFile, from), accesses);
  const total = (count: AuditCount) => count.connect + count.disconnect + [...count.other.values()].reduce((sum, n) => sum + n, 0);
  const deadline = performance.now() + AUDIT_WAIT_MS;
  let count = read();
  let lastGrowth = performance.now();
  while (count.connect < expected || count.disconnect < expected) {
    const now = performance.now();
    if (now >= deadline || now - lastGrowth >= AUDIT_STALL_MS) {
      benchLog.warn({ expected, connect: count.connect, disconnect: count.disconnect }, 'stopped waiting for audit lines');
      return { count, settledMs: now - since };
    }
    await sleep(100);
    const next = read();
    if (total(next) > total(count)) lastGrowth = performance.now();
    count = next;
  }
  const settledMs = performance.now() - since;
  await sleep(1000);
  return { count: read(), settledMs };
}

/** The text of `file` from byte `from` on. */
function readFrom(file: string, from: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const buffer = Buffer.alloc(Math.max(0, size - from));
    let offset = 0;
    while (offset < buffer.length) {
      const read = readSync(fd, buffer, offset, buffer.length - offset, from + offset);
      if (read === 0) break;
      offset += read;
    }
    return buffer.subarray(0, offset).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
