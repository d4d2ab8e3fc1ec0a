// `npm run benchmark -- --accesses 200`: how fast the operator issues and revokes credentials and
// what that costs it, next to a plain client making the same API writes on the same API server in
// the same run, so that the ratio shows the operator's own overhead whatever the machine:
// - a burst of N new accesses (32 requests in flight): create -> Ready with its Secret, then all N
//   deleted -> gone; by the operator in `bench`, and by the plain client (benchmark-plain-client.ts)
//   in `bench-plain`, which the operator does not serve;
// - for the operator: API writes per access (the API server's audit log), connections opened to
//   the API server (a counting relay in front of it), CPU per access and resident memory (/proc);
// - the operator restarted while it holds the N: how soon it is synced and steady, what it writes
//   (nothing, if it re-issues nothing), and its resident memory then;
// - create -> Secret for 10 accesses one at a time (the goal: p99 under 100 ms).
// Any access not Ready with its Secret, or not gone after deletion, fails the run.

import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS_PLURAL, GROUP, VERSION } from '../src/api/constants.ts';
import { secretNameOf } from '../src/controller/access-secret.ts';
import { auditOffset, writesBetween, writesSince } from '../test/env/audit.ts';
import { accessBody, clientsFor, createAccess, OPERATOR_USER, secretMaterialIn, waitForReady } from '../test/env/cluster.ts';
import { IN_FLIGHT, runBurst, timeBurst, type BurstRun } from './benchmark-burst.ts';
import { byKind, kindsDiffer, kindsText } from './benchmark-figures.ts';
import { parseBenchmarkFlags, USAGE, type BenchmarkFlags } from './benchmark-flags.ts';
import { observe } from './benchmark-observer.ts';
import { PlainClient, type AccessSpec } from './benchmark-plain-client.ts';
import { cpuMs, residentBytes } from './benchmark-process.ts';
import { report, type OperatorSample, type RestartSample, type Writes } from './benchmark-report.ts';
import { BENCH, startBench } from './benchmark-setup.ts';

const PLAIN = 'bench-plain';
const PLAIN_USER = 'benchmark-plain-client';
const SINGLE_RUNS = 10;
const SPEC: AccessSpec = {
  issuerRef: { name: BENCH },
  permissions: { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } },
};

let flags: BenchmarkFlags;
try {
  flags = parseBenchmarkFlags(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}

const bench = await startBench(['--log-level', flags.logLevel, '--workers', String(flags.workers)], {
  unserved: [PLAIN],
  countConnections: true,
});
try {
  const { admin, state, operator, connections } = bench;
  const auditLog = state.kube?.auditLogPath;
  if (!auditLog || !connections) {
    throw new Error('the benchmark counts writes in the audit log of the API server it starts: unset WNO_EXTERNAL_KUBECONFIG');
  }
  const createInBench = (name: string) => createAccess(admin.custom, BENCH, accessBody(name, SPEC));

  const singleObserver = await observe(admin.kubeconfigPath, BENCH);
  const singleNames = Array.from({ length: SINGLE_RUNS }, (_, i) => `single-${i}`);
  const oneAtATime = async (name: string) => {
    await createInBench(name);
    await singleObserver.arrival(name, 'secret');
  };
  const single = await timeBurst(singleNames, oneAtATime, singleObserver, 'secret', { inFlight: 1 }).finally(() => singleObserver.stop());

  // What the operator wrote for one access, for the plain client to copy.
  const issued = await waitForReady(admin.custom, BENCH, 'single-0');
  const template = { access: issued, secret: await admin.core.readNamespacedSecret({ name: secretNameOf(issued), namespace: BENCH }) };

  const names = Array.from({ length: flags.accesses }, (_, i) => `burst-${i}`);
  // Read once the operator has written nothing for a second (waiting 10 s at most), so that writes
  // and CPU trailing a phase (a reconcile on a stale cache, say) count in it.
  const sample = async (): Promise<OperatorSample> => {
    for (let waited = 0; waited < 10_000; waited += 1000) {
      const from = auditOffset(auditLog);
      await sleep(1000);
      if (writesSince(auditLog, from, OPERATOR_USER).length === 0) break;
    }
    const pid = operator.pid;
    if (pid === undefined) throw new Error('the operator is not running');
    return {
      auditOffset: auditOffset(auditLog),
      cpuMs: cpuMs(pid),
      residentBytes: residentBytes(pid),
      connectionsOpened: connections.opened(),
    };
  };
  // While the operator holds the burst: a restart must find everything in place, write nothing
  // and mint nothing; what it then holds in memory is the figure for sizing (no burst's garbage).
  let restart: RestartSample | undefined;
  const restartWhileHeld = async () => {
    const from = auditOffset(auditLog);
    await operator.stop();
    const startedAt = performance.now();
    await operator.start();
    const syncedMs = performance.now() - startedAt;
    const steady = await sample();
    restart = {
      syncedMs,
      steadyMs: performance.now() - startedAt,
      writes: byKind(writesBetween(auditLog, from, steady.auditOffset, OPERATOR_USER)),
      residentBytes: steady.residentBytes,
    };
  };
  const byOperator = await runBurst(
    admin,
    {
      namespace: BENCH,
      issue: createInBench,
      delete: (name) => admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: BENCH, name }),
    },
    names,
    sample,
    restartWhileHeld,
  );
  if (!restart) throw new Error('the operator was not restarted while it held the burst');
  const plain = new PlainClient(clientsFor(await state.kubeconfigFor(PLAIN_USER, ['system:masters'])), PLAIN, SPEC, template);
  const byPlain = await runBurst(admin, { namespace: PLAIN, issue: (name) => plain.issue(name), delete: (name) => plain.delete(name) }, names, sample);

  /** Writes by `user` (in `namespace`) during issuance and during deletion. */
  const writesOf = ({ samples: { before, held, deleting, after } }: BurstRun<OperatorSample>, user: string, namespace?: string): Writes => ({
    issuance: byKind(writesBetween(auditLog, before.auditOffset, held.auditOffset, user, namespace)),
    deletion: byKind(writesBetween(auditLog, deleting.auditOffset, after.auditOffset, user, namespace)),
  });
  const operatorWrites = writesOf(byOperator, OPERATOR_USER);
  const plainAll = writesOf(byPlain, PLAIN_USER, PLAIN);
  // The plain client also makes the user's requests, which the operator's count leaves out.
  const plainWrites = {
    issuance: kindsDiffer(plainAll.issuance, new Map([[`create ${ACCESS_PLURAL}`, names.length]])),
    deletion: kindsDiffer(plainAll.deletion, new Map([[`delete ${ACCESS_PLURAL}`, names.length]])),
  };
  const unmirrored = {
    issuance: kindsDiffer(operatorWrites.issuance, plainWrites.issuance),
    deletion: kindsDiffer(operatorWrites.deletion, plainWrites.deletion),
  };
  // Writes of the plain client's that the operator did not make: the yardstick no longer matches.
  const extra = [...unmirrored.issuance, ...unmirrored.deletion].filter(([, count]) => count < 0);
  if (extra.length > 0) {
    throw new Error(`the plain client wrote more than the operator (${kindsText(new Map(extra))}): mirror the operator's writes again`);
  }
  process.stdout.write(
    report({
      accesses: names.length,
      inFlight: IN_FLIGHT,
      workers: flags.workers,
      single,
      operator: byOperator,
      restart,
      plain: byPlain,
      operatorWrites,
      plainWrites,
      unmirrored,
      operatorProblems: problemsIn(operator.log()),
    }),
  );
} finally {
  await bench.stop();
}

/** The operator's log lines at warn level or above, by message (pino: level 40 and up). */
function problemsIn(log: string): Map<string, number> {
  // Never printed if it holds a secret (the operator's stop() fails the run for it too).
  if (secretMaterialIn(log).length > 0) throw new Error('the operator logged a seed or a JWT');
  const problems = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { level, msg } = JSON.parse(line) as { level: number; msg: string };
    if (level >= 40) problems.set(msg, (problems.get(msg) ?? 0) + 1);
  }
  return problems;
}
