// `npm run benchmark:revocation`: how long from deleting a WorkspaceNatsAccess to the NATS server
// cutting a live connection with its creds, for one deletion at a time and for 200 at once; how
// many account JWT pushes the 200 took; and the account JWT's size before, with the 200
// revocations, and after they were pruned. Runs the real operator (a child process) against the
// local test environment and prints the figures.

import { cpus } from 'node:os';
import type { ClusterNatsIssuer } from '../src/api/cluster-nats-issuer.ts';
import { GROUP, ISSUER_PLURAL, VERSION } from '../src/api/constants.ts';
import { waitFor } from '../test/env/cluster.ts';
import { accountJwtBytes, createReadyAccesses, deleteAtOnce, type DeletionRun, type LoadTarget } from '../test/env/revocation-load.ts';
import { ms, percentile } from './benchmark-figures.ts';
import { BENCH, startBench } from './benchmark-setup.ts';

const SINGLE_RUNS = 10;
const BURST = 200;
/** Long enough to create, connect and delete the burst before anything expires. */
const TTL_S = 120;

/** Whether every connection was cut because its user was revoked, and every copy of the creds refused. */
const revokedEverywhere = (run: DeletionRun) =>
  run.serverRecords.every((reason) => reason === 'Credentials Revoked') &&
  run.loginsAfter.every((outcome) => outcome === 'Authorization Violation');

const bench = await startBench(['--log-level', 'info']);
try {
  const { admin, state } = bench;
  const target: LoadTarget = {
    admin,
    namespace: BENCH,
    issuer: BENCH,
    natsUrls: state.nats.urls,
    systemCreds: state.trust.systemUser.creds,
    account: state.trust.workspaceAccount.publicKey,
  };
  const before = await accountJwtBytes(target);

  const single: number[] = [];
  for (let i = 0; i < SINGLE_RUNS; i++) {
    await createReadyAccesses(target, [`single-${i}`], `${TTL_S}s`);
    const run = await deleteAtOnce(target, [`single-${i}`]);
    if (!revokedEverywhere(run)) throw new Error(`single-${i} was not revoked`);
    single.push(...run.disconnectMs);
  }

  const names = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
  await createReadyAccesses(target, names, `${TTL_S}s`);
  const burst = await deleteAtOnce(target, names);
  if (!revokedEverywhere(burst)) throw new Error('the burst was not fully revoked');
  const revoked = await accountJwtBytes(target);

  const prunedAfter = performance.now();
  await waitFor(
    async () => {
      const issuer = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name: BENCH })) as ClusterNatsIssuer;
      return issuer.status?.revocation?.active === 0 ? true : undefined;
    },
    { what: 'the revocations to be pruned', timeoutMs: (TTL_S + 120) * 1000, intervalMs: 1000 },
  );
  const pruned = await accountJwtBytes(target);

  process.stdout.write(
    [
      '',
      `delete -> live connection cut by nats-server (${process.arch}, ${cpus().length} cores)`,
      `  one at a time (${SINGLE_RUNS} runs): p50 ${ms(percentile(single, 50))}, p99 ${ms(percentile(single, 99))}`,
      `  ${BURST} deleted at once:      p50 ${ms(percentile(burst.disconnectMs, 50))}, p99 ${ms(percentile(burst.disconnectMs, 99))}`,
      `  account JWT pushes for the ${BURST}: ${burst.pushes}`,
      `account JWT size: ${before} bytes before, ${revoked} with the revocations, ${pruned} after pruning ` +
        `(${ms(performance.now() - prunedAfter)} after the burst, ttl ${TTL_S}s)`,
      '',
    ].join('\n'),
  );
} finally {
  await bench.stop();
}
