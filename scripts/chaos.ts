// `npm run chaos -- --rounds N [--seed S]`: rounds of random bursts of WorkspaceNatsAccesses and
// GitPod workspaces created and removed while the leading operator replica is SIGKILLed, nats-server
// restarts (sometimes with an empty resolver directory) and the API server restarts; then, with
// everything up again, the invariants of chaos-checks.ts, checked by reads of our own. Prints what
// was checked and violated per round and in total, and exits 1 naming the objects if anything was
// violated. The seed, printed first, replays the same plan. Stops every process and removes every
// folder it made, also on failure and on Ctrl-C.

import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ACCESS_PLURAL, GROUP, VERSION } from '../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';
import { type Clients, createBinding, OPERATOR_NAMESPACE, operatorKubeconfig, prepareCluster, secretMaterialIn } from '../test/env/cluster.ts';
import { EtcdHistory } from '../test/env/etcd-history.ts';
import { installWorkspaceCrd } from '../test/env/gitpod.ts';
import { startEnvironment, type Environment } from '../test/env/index.ts';
import { TAKEOVER_ALLOWANCE_MS } from '../test/env/operator.ts';
import { loadEnvState, writeEnvState } from '../test/env/state.ts';
import { checkInvariants, type CheckReport, type Tally } from './chaos-checks.ts';
import { runFaults, type JudgedFailover } from './chaos-faults.ts';
import { BINDING, planRound, REPLICAS, type Subject } from './chaos-plan.ts';
import { Random } from './chaos-random.ts';
import { Replicas } from './chaos-replicas.ts';
import { PERMISSIONS, runOperations } from './chaos-workload.ts';

const NS = 'chaos';
const ISSUER = 'chaos';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'nats-nodes': { type: 'string', default: '3' },
    'log-level': { type: 'string', default: 'debug' },
    'keep-logs': { type: 'string' },
    /** Proves the checks bite: one live access is removed behind the operators' backs, so the run must fail naming its user. */
    sabotage: { type: 'boolean', default: false },
  },
  strict: true,
});
const rounds = Number(values.rounds);
const seed = values.seed === undefined ? Random.seed() : Number(values.seed);
const natsNodes = Number(values['nats-nodes']) as 1 | 3;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds}: expected a positive integer`);
if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`--seed ${values.seed}: expected an integer from 0 to 2^32-1`);
if (natsNodes !== 1 && natsNodes !== 3) throw new Error(`--nats-nodes ${values['nats-nodes']}: expected 1 or 3`);

const say = (line: string) => process.stdout.write(`${line}\n`);
say(`chaos: seed ${seed}, ${rounds} round(s), ${natsNodes} nats-server node(s), ${REPLICAS} operator replicas`);
say(`       replay: npm run chaos -- --rounds ${rounds} --seed ${seed}`);

let env: Environment | undefined;
let replicas: Replicas | undefined;
let history: EtcdHistory | undefined;
let tearingDown: Promise<void> | undefined;
/** Stops everything we started and removes its folders; keeps the logs first if asked to. Once. */
const teardown = () =>
  (tearingDown ??= (async () => {
    history?.stop();
    await replicas?.stop().catch(() => undefined);
    if (values['keep-logs'] && env) await keepLogs(env, values['keep-logs']).catch((e: unknown) => say(`could not keep the logs: ${String(e)}`));
    await env?.stop();
  })());
// Ours, not the harness's default handler (processes.ts), so the replicas' supervisor stops before
// their processes do; a second Ctrl-C exits at once, and the exit hook kills what is left.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (tearingDown) process.exit(130);
    say(`\nchaos: ${signal}, stopping everything (seed ${seed})`);
    void teardown().finally(() => process.exit(130));
  });
}

const fmt = (tally: Tally) => `${tally.checked - tally.violated}/${tally.checked}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface RoundSummary {
  report: CheckReport;
  failovers: JudgedFailover[];
  failoverViolations: string[];
  leaked: string[];
}

async function main(): Promise<number> {
  const random = new Random(seed);
  env = await startEnvironment({ natsNodes });
  if (!env.kube) throw new Error('the chaos run needs the local control plane (not WNO_EXTERNAL_KUBECONFIG)');
  const kube = env.kube;
  const state = loadEnvState(await writeEnvState(env));
  const admin = await prepareCluster(state, { issuer: ISSUER, namespaces: [NS] });
  await installWorkspaceCrd(admin.kubeConfig);
  await createBinding(admin.custom, NS, BINDING, { source: { gitpod: { types: ['Regular'] } }, template: { issuerRef: { name: ISSUER }, permissions: PERMISSIONS } });
  // Written by the checks to learn how far the etcd record has got.
  await admin.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'chaos-sync' }, stringData: { at: '' } } });
  history = await EtcdHistory.start(kube.etcdUrl, NS);
  const logDir = join(env.root, 'operators');
  await mkdir(logDir);
  replicas = new Replicas({
    count: REPLICAS,
    kubeconfig: await operatorKubeconfig(state, [NS]),
    namespace: OPERATOR_NAMESPACE,
    serves: [NS],
    dir: logDir,
    adminKubeConfig: admin.kubeConfig,
    logLevel: values['log-level'] ?? 'debug',
  });
  replicas.start();
  await replicas.waitForLeader(60_000);
  say(`operator logs: ${replicas.logFiles.join(', ')}`);

  let live: Subject[] = [];
  const removed: Subject[] = [];
  const summaries: RoundSummary[] = [];
  for (let round = 1; round <= rounds; round++) {
    const plan = planRound(random, round, live, natsNodes);
    const creates = plan.operations.filter((o) => o.action === 'create');
    const removals = plan.operations.filter((o) => o.action !== 'create');
    say(`\nround ${round}: create ${creates.length} (${creates.filter((o) => o.subject.kind === 'gitpod').length} GitPod workspaces), remove ${removals.length}; faults:`);
    const started = Date.now();
    const context = { kube, nats: env.nats, replicas, log: say };
    const [workload, failovers] = await Promise.all([runOperations(admin, NS, ISSUER, plan.operations), runFaults(plan, context, started)]);
    say(`  ${seconds(Date.now() - started)}: burst and faults done (${workload.retries} requests retried); checking`);

    const gone = new Set(removals.map((o) => o.subject.accessName));
    removed.push(...removals.map((o) => o.subject));
    live = [...live, ...creates.map((o) => o.subject)].filter((s) => !gone.has(s.accessName));
    if (values.sabotage && round === 1) await sabotage(admin, live.shift(), removed);
    // Everything is up again: the faults each ended with their component back; a leader is elected.
    await replicas.waitForLeader(90_000);
    const report = await checkInvariants({ admin, namespace: NS, natsUrls: env.nats.urls, history, live, removed });

    // A follower watches the Lease, and tries it the moment it has seen no renewal for a lease
    // duration; the leader's last renewal was sent before the kill, so from the kill that is
    // within the lease, but for the round trips of seeing that renewal and of the take-over's read
    // and write (TAKEOVER_ALLOWANCE_MS), which here also covers this run's own look (a read every
    // 100 ms, Replicas.takeover).
    const failoverViolations = failovers
      .filter((f) => !f.unjudged && f.ms > f.leaseDurationMs + TAKEOVER_ALLOWANCE_MS)
      .map((f) => `slow failover: ${f.to} took the Lease from ${f.from} ${seconds(f.ms)} after the kill (lease ${seconds(f.leaseDurationMs)}, allowance ${seconds(TAKEOVER_ALLOWANCE_MS)})`);
    const leaked: string[] = [];
    for (const file of replicas.logFiles) {
      const found = secretMaterialIn(await readFile(file, 'utf8').catch(() => ''));
      if (found.length > 0) leaked.push(`${found.length} seed(s)/JWT(s) in ${file}`);
    }
    const summary = { report, failovers, failoverViolations, leaked };
    summaries.push(summary);
    say(`round ${round} (${seconds(Date.now() - started)}): ${line(summary)}`);
  }

  const total = (pick: (r: CheckReport) => Tally): Tally => ({
    checked: summaries.reduce((n, s) => n + pick(s.report).checked, 0),
    violated: summaries.reduce((n, s) => n + pick(s.report).violated, 0),
  });
  const all: RoundSummary = {
    report: {
      deletedUsersRefused: total((r) => r.deletedUsersRefused),
      orphanSecrets: total((r) => r.orphanSecrets),
      stuckFinalizers: total((r) => r.stuckFinalizers),
      liveRoundTrips: total((r) => r.liveRoundTrips),
      doubleIssuances: total((r) => r.doubleIssuances),
      violations: summaries.flatMap((s) => s.report.violations),
      culprits: new Set(summaries.flatMap((s) => [...s.report.culprits])),
    },
    failovers: summaries.flatMap((s) => s.failovers),
    failoverViolations: summaries.flatMap((s) => s.failoverViolations),
    leaked: summaries.at(-1)?.leaked ?? [],
  };
  say(`\ntotal over ${rounds} round(s): ${line(all)}`);
  if (replicas.unexpectedExits.length > 0) say(`replica exits the run did not cause: ${replicas.unexpectedExits.join('; ')}`);
  const violations = [...all.report.violations, ...all.failoverViolations, ...all.leaked];
  if (violations.length === 0) {
    say(`chaos: no invariant violated (seed ${seed})`);
    return 0;
  }
  say(`\nchaos: ${violations.length} violation(s) (seed ${seed}):`);
  for (const v of violations) say(`  - ${v}`);
  await printLogExcerpts([...all.report.culprits].slice(0, 5), replicas.logFiles);
  return 1;
}

/**
 * Removes `victim`'s access as a buggy operator might: with the replicas stopped, its finalizer is
 * stripped and it is deleted, so its user is never revoked. The checks must name that user.
 */
async function sabotage(admin: Clients, victim: Subject | undefined, removed: Subject[]): Promise<void> {
  if (!victim || !replicas) return;
  say(`  sabotage: deleting ${victim.accessName} with its finalizer stripped, the operators stopped`);
  await replicas.stop();
  const target = { group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name: victim.accessName };
  const access = (await admin.custom.getNamespacedCustomObject(target)) as WorkspaceNatsAccess;
  await admin.custom.replaceNamespacedCustomObject({ ...target, body: { ...access, metadata: { ...access.metadata, finalizers: [] } } });
  await admin.custom.deleteNamespacedCustomObject(target);
  removed.push(victim);
  replicas.start();
}

function line({ report: r, failovers, failoverViolations, leaked }: RoundSummary): string {
  // Unjudged ones (the API server restarted meanwhile or just before, or the successor first looked
  // at the Lease after the kill) are marked with *.
  const times = failovers.map((f) => `${seconds(f.ms)}${f.unjudged ? '*' : ''}`).join(', ');
  const lease = failovers[0] ? ` (lease ${seconds(failovers[0].leaseDurationMs)})` : '';
  return [
    `deleted users refused ${fmt(r.deletedUsersRefused)}`,
    `orphan Secrets ${r.orphanSecrets.violated} (of ${r.orphanSecrets.checked})`,
    `stuck finalizers ${r.stuckFinalizers.violated} (of ${r.stuckFinalizers.checked} removed)`,
    `live accesses round-tripped ${fmt(r.liveRoundTrips)}`,
    `failovers ${failovers.length}${times ? ` in ${times}` : ''}${lease}, slow ${failoverViolations.length}`,
    `double issuances ${r.doubleIssuances.violated} (of ${r.doubleIssuances.checked} issued)`,
    `secrets in logs ${leaked.length}`,
  ].join(', ');
}

/** The operator log lines about each culprit access (the last ones of each replica log). */
async function printLogExcerpts(accesses: string[], files: string[]): Promise<void> {
  for (const access of accesses.filter(Boolean)) {
    say(`\noperator log lines about ${access}:`);
    for (const file of files) {
      const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(access));
      for (const l of lines.slice(-12)) say(`  ${file.split('/').at(-1)}: ${l}`);
    }
  }
}

/** Copies the run's logs (operators, NATS, control plane) to `dir` before the temp root goes. */
async function keepLogs(environment: Environment, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await cp(join(environment.root, 'operators'), join(dir, 'operators'), { recursive: true });
  for (const node of environment.nats.nodes) await cp(node.logFile, join(dir, `${node.name}.log`));
  if (environment.kube) await cp(join(environment.root, 'kube', 'logs'), join(dir, 'kube'), { recursive: true });
  say(`logs kept in ${dir}`);
}

let code = 2;
try {
  code = await main();
} catch (error) {
  say(`\nchaos: the run failed (seed ${seed}): ${(error as Error).stack ?? String(error)}`);
} finally {
  await teardown();
}
process.exit(code);
