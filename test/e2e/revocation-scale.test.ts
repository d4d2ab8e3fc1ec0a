// 200 accesses deleted at once: every user is revoked and every connection cut, with a handful of
// account JWT pushes rather than 200; once the users' JWTs have expired, their entries are pruned
// and the account JWT shrinks back. Runs its own nats-server and trust, so the account's
// revocations are this suite's alone.

import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { NatsEnv } from '../env/nats.ts';
import { waitFor } from '../env/cluster.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { accountJwtBytes, createReadyAccesses, deleteAtOnce, type LoadTarget } from '../env/revocation-load.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-revocation-scale';
const ISSUER = 'e2e-revocation-scale';
const COUNT = 200;
const REVOKED = 'User Authentication Revoked';
/** How nats-server records a connection it closed because its user was revoked. */
const SERVER_RECORD = 'Credentials Revoked';
/**
 * Long enough to outlive creating, connecting and deleting them all on a busy small machine (39 s
 * on 2 cores shared with another test run; the test fails, rather than passing for the wrong
 * reason, if that ever takes longer). The pruning check then waits for the JWTs to expire.
 */
const TTL_S = 90;
let operator: OperatorProcess;
let nats: NatsEnv;
let target: LoadTarget;

beforeAll(async () => {
  const suite = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1 });
  ({ operator, nats } = suite);
  target = {
    admin: suite.admin,
    namespace: NS,
    issuer: ISSUER,
    natsUrls: nats.urls,
    systemCreds: suite.trust.systemUser.creds,
    account: suite.trust.workspaceAccount.publicKey,
  };
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

const revocationStatus = async () =>
  ((await target.admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name: ISSUER })) as ClusterNatsIssuer)
    .status?.revocation;

test(`${COUNT} deletions at once: all revoked in few pushes, then pruned once expired`, async () => {
  const before = await accountJwtBytes(target);
  const names = Array.from({ length: COUNT }, (_, i) => `scale-${i}`);
  const createdAt = Date.now();
  await createReadyAccesses(target, names, `${TTL_S}s`);

  const run = await deleteAtOnce(target, names);
  // Refused because revoked, not because expired: no JWT had expired yet.
  expect(Date.now()).toBeLessThan(createdAt + TTL_S * 1000);
  // Every connection was cut, and its server recorded the revocation as the reason.
  expect(run.serverRecords).toEqual(Array(COUNT).fill(SERVER_RECORD));
  // The -ERR the clients read said the same, where nats.js kept it (see DeletionRun.closeReasons).
  expect(run.closeReasons.filter((reason) => reason !== REVOKED && !reason.startsWith('no server reason'))).toEqual([]);
  expect(run.disconnectMs).toHaveLength(COUNT);
  expect(run.loginsAfter).toEqual(Array(COUNT).fill('Authorization Violation'));
  // Coalesced: far fewer pushes than deletions.
  expect(run.pushes).toBeGreaterThan(0);
  expect(run.pushes).toBeLessThan(COUNT / 10);
  const revoked = await accountJwtBytes(target);
  expect(revoked).toBeGreaterThan(before + COUNT * 60);
  expect((await revocationStatus())?.active).toBe(COUNT);

  // Pruned after the JWTs expired (plus the operator's 10s grace).
  await waitFor(async () => ((await revocationStatus())?.active === 0 ? true : undefined), {
    what: 'the revocation entries to be pruned',
    timeoutMs: (TTL_S + 60) * 1000,
    intervalMs: 1000,
  });
  expect(await accountJwtBytes(target)).toBeLessThanOrEqual(before);
}, 300_000);
