// Credentials die with their access: deleting a WorkspaceNatsAccess revokes its users on the NATS
// server (live connections cut, copied creds refused) before the finalizer goes; replaced users are
// revoked unless they were renewed; nothing is lost when NATS or the operator is down meanwhile.
// The suite runs its own nats-server (and NATS trust), so that it can stop and start it.

import { nativeCredsAuthenticator } from '../../src/nats/native-creds.ts';
import { createOperator } from '@nats-io/nkeys';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, ISSUER_PLURAL, SKIP_REVOCATION_ANNOTATION, VERSION } from '../../src/api/constants.ts';
import { readAccountJwt } from '../../src/nats/account-jwt.ts';
import { readCredentials } from '../../src/nats/credentials.ts';
import { RevocationStore } from '../../src/revocation/revocation-store.ts';
import type { NatsEnv, NatsTrust } from '../env/nats.ts';
import {
  accessBody,
  createAccess,
  eventsOf,
  getAccess,
  OPERATOR_KEY_SECRET,
  OPERATOR_NAMESPACE,
  secretExists,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { ACCEPTED, connectWithCreds, loginOutcome, roundTrip, serverReason, waitForRefusal } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-revocation';
const ISSUER = 'e2e-revocation';
let admin: Clients;
let operator: OperatorProcess;
let trust: NatsTrust;
let nats: NatsEnv;

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

beforeAll(async () => {
  ({ admin, operator, trust, nats } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1 }));
});

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

const credsOf = async (secretName: string) => {
  const secret = await admin.core.readNamespacedSecret({ name: secretName, namespace: NS });
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
};

async function deleteAccess(name: string) {
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });
}

const gone = (name: string, timeoutMs = 30_000) =>
  waitFor(async () => ((await getAccess(admin.custom, NS, name)) ? undefined : true), { what: `${NS}/${name} gone`, timeoutMs });

const login = (creds: string) => loginOutcome(nats.urls, creds);

async function issuerStatus(): Promise<ClusterNatsIssuer['status']> {
  const issuer = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name: ISSUER })) as ClusterNatsIssuer;
  return issuer.status;
}

/** An access, Ready, with a client connected with its creds; the creds are a copy taken now. */
async function connectedAccess(name: string, spec: Partial<Parameters<typeof accessBody>[1]> = {}) {
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions, ...spec }));
  const access = await waitForReady(admin.custom, NS, name);
  const creds = await credsOf(`${name}-nats`);
  const nc = await connectWithCreds(nats.urls, creds);
  const closed = nc.closed().then((error) => ({ at: Date.now(), reason: serverReason(error) }));
  return { access, creds, nc, closed };
}

test('the issuer reports the account verified on NATS', async () => {
  const status = await waitFor(
    async () => {
      const current = await issuerStatus();
      return current?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? current : undefined;
    },
    { what: 'issuer Ready', timeoutMs: 30_000 },
  );
  expect(status?.conditions?.[0]).toMatchObject({
    reason: 'AccountVerified',
    message: `Keys loaded; 1 NATS server holds the JWT of account ${trust.workspaceAccount.publicKey}, which lists signing key ${trust.workspaceAccount.signingKey.publicKey}`,
  });
  // The API server stored the Event (an issuer has no namespace: its Events live in "default").
  const events = await waitFor(
    async () => {
      const found = await eventsOf(admin.core, 'default', ISSUER);
      return found.some((event) => event.startsWith('Normal/AccountVerified: ')) ? found : undefined;
    },
    { what: 'the AccountVerified Event of the issuer', timeoutMs: 15_000 },
  );
  expect(events).toContain(`Normal/AccountVerified: ${status?.conditions?.[0]?.message}`);
});

test('deleting an access cuts its live connection within a second, and a copy of its creds is refused', async () => {
  const { access, creds, nc, closed } = await connectedAccess('deleted');
  expect(await roundTrip(nc, nc, 'ws.deleted.ping')).toBe('hello');

  const deletedAt = Date.now();
  await deleteAccess('deleted');
  const { at, reason } = await closed;
  expect(at - deletedAt).toBeLessThan(1000);
  expect(reason).toBe('User Authentication Revoked');

  await gone('deleted');
  expect(await login(creds)).toBe('Authorization Violation');
  expect(await secretExists(admin.core, NS, 'deleted-nats')).toBe(false);
  expect(await eventsOf(admin.core, NS, 'deleted')).toContain(`Normal/Revoked: Revoked NATS users ${access.status?.userPublicKey} on every server`);

  // Kept in the cluster, with the user's expiry, and counted in the issuer's status.
  const configMap = await admin.core.readNamespacedConfigMap({
    name: RevocationStore.configMapName(trust.workspaceAccount.publicKey),
    namespace: OPERATOR_NAMESPACE,
  });
  expect(JSON.parse(configMap.data?.[access.status?.userPublicKey ?? ''] ?? '{}')).toMatchObject({
    expiresAt: access.status?.expiresAt,
    access: `${NS}/deleted`,
  });
  const status = await waitFor(async () => {
    const current = await issuerStatus();
    return current?.revocation?.lastPushResult === 'Succeeded' ? current : undefined;
  }, { what: 'issuer revocation status', timeoutMs: 10_000 });
  expect(status?.revocation?.active).toBeGreaterThanOrEqual(1);
  expect(status?.revocation?.lastPushMessage).toMatch(/^1 of 1 NATS servers stored the account JWT \(\d+ revocations, \d+ bytes\)$/);
});

test('a client that re-reads its creds file keeps working across two renewals, reconnecting at most once per renewal', async () => {
  await createAccess(admin.custom, NS, accessBody('renewing', { issuerRef: { name: ISSUER }, permissions, ttl: '20s', renewBefore: '10s' }));
  const first = await waitForReady(admin.custom, NS, 'renewing');
  // The kubelet's part: the mounted file follows the Secret.
  const dir = mkdtempSync(join(tmpdir(), 'wno-creds-'));
  const file = join(dir, 'nats.creds');
  const sync = async () => writeFileSync(file, await credsOf('renewing-nats'));
  await sync();
  const syncing = setInterval(() => void sync().catch(() => undefined), 500);
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({
      servers: nats.urls,
      authenticator: nativeCredsAuthenticator(() => readFileSync(file)),
      reconnectTimeWait: 250,
      maxReconnectAttempts: -1,
    });
    const client = nc;
    const statuses: { type: string; at: number }[] = [];
    void (async () => {
      for await (const status of client.status()) statuses.push({ type: status.type, at: Date.now() });
    })();
    const count = (type: string) => statuses.filter((status) => status.type === type).length;
    const firstUser = first.status?.userPublicKey;
    expect(firstUser).toMatch(/^U/);
    const users = new Set([firstUser]);
    // When each new user was first seen in the status: the renewals.
    const renewals: number[] = [];
    // Every user the status listed as retired, as it was listed.
    const retired = new Map<string, { revoke?: boolean }>();
    const deadline = Date.now() + 60_000;
    let failures = 0;
    // Usable throughout: a message round trip every 500ms, until the server cut the connection
    // twice as the JWT it was made with expired, and the client came back with renewed creds.
    // The pause paces the sampling; nothing waits on it.
    for (;;) {
      try {
        expect(await roundTrip(nc, nc, 'ws.renewing.echo')).toBe('hello');
        failures = 0;
      } catch {
        // One reconnect may swallow a message; two failures in a row would be a gap.
        expect(++failures).toBeLessThan(2);
      }
      const status = (await getAccess(admin.custom, NS, 'renewing'))?.status;
      if (status?.userPublicKey && !users.has(status.userPublicKey)) {
        users.add(status.userPublicKey);
        renewals.push(Date.now());
      }
      for (const user of status?.retiredUsers ?? []) retired.set(user.publicKey, user);
      if (count('reconnect') >= 2) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(nc.isClosed()).toBe(false);
    expect(users.size).toBeGreaterThanOrEqual(3);
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    // Each disconnect was followed by one reconnect, made at the first attempt: the file already
    // held the renewed creds, so no attempt failed with expired ones.
    expect(count('disconnect')).toBe(count('reconnect'));
    expect(count('reconnecting')).toBe(count('reconnect'));
    // At most one disconnect between two renewals, and none before the first.
    const disconnects = statuses.filter((status) => status.type === 'disconnect').map((status) => status.at);
    const bounds = [0, ...renewals, Infinity];
    const perInterval = bounds.slice(1).map((end, i) => disconnects.filter((at) => at >= (bounds[i] ?? 0) && at < end).length);
    expect(perInterval[0]).toBe(0);
    for (const n of perInterval) expect(n).toBeLessThanOrEqual(1);
    // Renewal retires users without revoking them: each stays listed, valid, until it expires. Two
    // renewals happened, and each retired user was listed for half the ttl (10s), so both were seen.
    expect(retired.size).toBeGreaterThanOrEqual(2);
    for (const [user, listed] of retired) {
      expect(users).toContain(user);
      expect(listed.revoke).toBeUndefined();
    }
    expect((await eventsOf(admin.core, NS, 'renewing')).filter((event) => event.startsWith('Normal/Renewed: ')).length).toBeGreaterThanOrEqual(2);
  } finally {
    clearInterval(syncing);
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a user replaced because the spec changed is revoked at once', async () => {
  const { access, creds, closed } = await connectedAccess('respec');
  await admin.custom.patchNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ACCESS_PLURAL,
    namespace: NS,
    name: 'respec',
    body: [{ op: 'replace', path: '/spec/permissions/publish/allow', value: ['ws.{{workspace.id}}.only'] }],
  });
  expect((await closed).reason).toBe('User Authentication Revoked');
  expect(await login(creds)).toBe('Authorization Violation');
  const reissued = await waitFor(async () => {
    const current = await getAccess(admin.custom, NS, 'respec');
    return current?.status?.userPublicKey !== access.status?.userPublicKey && !current?.status?.retiredUsers ? current : undefined;
  }, { what: 'the new user, with the old one revoked and no longer listed', timeoutMs: 15_000 });
  expect(readCredentials(await credsOf('respec-nats')).userPublicKey).toBe(reissued.status?.userPublicKey);
  expect(await login(await credsOf('respec-nats'))).toBe(ACCEPTED);
});

test('with NATS down, a deleted access keeps its finalizer and says why; once NATS is back it goes', async () => {
  const { creds } = await connectedAccess('nats-down');
  await nats.stopNode(0);
  try {
    await deleteAccess('nats-down');
    const waiting = await waitForReady(admin.custom, NS, 'nats-down', 'False', 'RevocationFailed', 30_000);
    expect(waiting.metadata.finalizers).toContain('natsaccess.io/revoke-credentials');
    expect(waiting.status?.conditions?.[0]?.message).toMatch(
      new RegExp(`^Revoking NATS users ${waiting.status?.userPublicKey} failed, retrying before its finalizer is removed: .+\\. To remove the access without revoking, annotate it ${SKIP_REVOCATION_ANNOTATION}=true$`),
    );
    await waitFor(async () => ((await eventsOf(admin.core, NS, 'nats-down')).some((event) => event.startsWith('Warning/RevocationFailed: ')) ? true : undefined), {
      what: 'a RevocationFailed Event',
      timeoutMs: 10_000,
    });
  } finally {
    await nats.startNode(0);
  }
  await gone('nats-down', 60_000);
  expect(await login(creds)).toBe('Authorization Violation');
});

test('an operator killed after accepting a deletion still revokes once it is back', async () => {
  const { creds } = await connectedAccess('killed');
  await nats.stopNode(0);
  try {
    await deleteAccess('killed');
    await waitForReady(admin.custom, NS, 'killed', 'False', 'RevocationFailed', 30_000);
    await operator.kill('SIGKILL');
  } finally {
    await nats.startNode(0);
  }
  try {
    // Back with the user still valid: the restarted operator finds the deletion and revokes.
    expect(await login(creds)).toBe(ACCEPTED);
  } finally {
    await operator.start();
  }
  await gone('killed', 60_000);
  expect(await login(creds)).toBe('Authorization Violation');
});

test('the skip-revocation annotation removes an access without waiting for NATS; the revocation requested still lands', async () => {
  const { access, creds } = await connectedAccess('skipped');
  await nats.stopNode(0);
  try {
    await deleteAccess('skipped');
    await waitForReady(admin.custom, NS, 'skipped', 'False', 'RevocationFailed', 30_000);
    await admin.custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace: NS,
      name: 'skipped',
      body: [{ op: 'add', path: `/metadata/annotations`, value: { [SKIP_REVOCATION_ANNOTATION]: 'true' } }],
    });
    await gone('skipped');
  } finally {
    await nats.startNode(0);
  }
  expect(await eventsOf(admin.core, NS, 'skipped')).toContain(
    `Warning/RevocationSkipped: Removed without waiting for NATS to revoke users ${access.status?.userPublicKey} (annotation ${SKIP_REVOCATION_ANNOTATION}): ` +
      'a revocation already requested still reaches the servers when they answer; otherwise their credentials stay valid until they expire',
  );
  // Recorded in the cluster before NATS went unanswered, so pushed once it answers again.
  expect(await waitForRefusal(nats.urls, creds, 45_000)).toBe('Authorization Violation');
});

test('tightening the issuer policy revokes credentials that now exceed it', async () => {
  const { creds, closed } = await connectedAccess('tightened', { permissions: { publish: { allow: ['ws.{{workspace.id}}.wide.>'] } } });
  const setPolicy = (op: 'add' | 'remove', value?: unknown) =>
    admin.custom.patchClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ISSUER_PLURAL,
      name: ISSUER,
      body: [{ op, path: '/spec/policy', ...(value === undefined ? {} : { value }) }],
    });
  await setPolicy('add', { allowedSubjects: { publish: ['ws.{{workspace.id}}.narrow.>'] } });
  try {
    expect((await closed).reason).toBe('User Authentication Revoked');
    await waitForReady(admin.custom, NS, 'tightened', 'False', 'PolicyViolation');
    expect(await login(creds)).toBe('Authorization Violation');
    // Deleted once the revocation is confirmed.
    await waitFor(async () => ((await secretExists(admin.core, NS, 'tightened-nats')) ? undefined : true), { what: 'the Secret deleted', timeoutMs: 10_000 });
  } finally {
    // The other tests issue under the issuer's default policy.
    await setPolicy('remove');
  }
});

test('the account JWT on the server carries the revocations, signed by the operator signing key', async () => {
  await createAccess(admin.custom, NS, accessBody('looked-up', { issuerRef: { name: ISSUER }, permissions }));
  const access = await waitForReady(admin.custom, NS, 'looked-up');
  await deleteAccess('looked-up');
  await gone('looked-up');
  const system = await connectWithCreds(nats.urls, trust.systemUser.creds);
  try {
    const reply = await system.request(`$SYS.REQ.ACCOUNT.${trust.workspaceAccount.publicKey}.CLAIMS.LOOKUP`, '', { timeout: 2000 });
    const info = readAccountJwt(reply.string());
    expect(info.issuer).toBe(trust.operator.signingKey.publicKey);
    expect(Object.keys(info.revocations)).toContain(access.status?.userPublicKey);
  } finally {
    await system.close();
  }
});

test('a push signed by a key the operator JWT does not list is a failure, not a revocation', async () => {
  const secret = { name: `${OPERATOR_KEY_SECRET}-${ISSUER}`, namespace: OPERATOR_NAMESPACE };
  const { creds } = await connectedAccess('untrusted');
  const setSeed = (seed: string) =>
    admin.core.patchNamespacedSecret({ ...secret, body: [{ op: 'replace', path: '/data/seed', value: Buffer.from(seed).toString('base64') }] });
  // nats-server stores such a JWT and answers "jwt updated", but keeps the old claims in force.
  await setSeed(new TextDecoder().decode(createOperator().getSeed()));
  try {
    await deleteAccess('untrusted');
    const failing = await waitForReady(admin.custom, NS, 'untrusted', 'False', 'RevocationFailed', 30_000);
    expect(failing.status?.conditions?.[0]?.message).toContain('kept the previous one in force: is the operator signing key');
    expect(await login(creds)).toBe(ACCEPTED);
  } finally {
    await setSeed(trust.operator.signingKey.seed);
  }
  await gone('untrusted', 60_000);
  expect(await login(creds)).toBe('Authorization Violation');
});
