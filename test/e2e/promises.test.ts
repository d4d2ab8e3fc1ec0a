// What the README promises about replaced, retired and rotated users, checked against a real
// nats-server: deleting an access revokes the users a renewal retired too; a deleted Secret gets a
// new user and the old one is revoked; rotating an issuer's signing key re-issues its accesses
// under the new key; and issuers sharing an account share one revoker. (That a client re-reading its
// creds file reconnects at most once per renewal is checked in revocation.test.ts.)
//
// The suite runs its own NATS trust and server: its account JWT lists a second plain signing key
// (for the rotation), which the environment's account does not have.

import { Algorithms, decode, encodeAccount, type Account } from '@nats-io/jwt';
import { createAccount, fromSeed } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { readAccountJwt } from '../../src/nats/account-jwt.ts';
import { readCredentials, type IssuedCredentials } from '../../src/nats/credentials.ts';
import { RevocationStore } from '../../src/revocation/revocation-store.ts';
import { createNatsTrust, startNats, type NatsEnv, type NatsTrust } from '../env/nats.ts';
import {
  accessBody,
  createAccess,
  createIssuer,
  getAccess,
  OPERATOR_NAMESPACE,
  SIGNING_KEY_SECRET,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { connectWithCreds, roundTrip } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-promises';
/** Three issuers of the suite's one account, each with key Secrets of its own. */
const ISSUER = 'e2e-promises';
const SHARING = 'e2e-promises-sharing';
const ROTATING = 'e2e-promises-rotating';

/** What nats-server says when it cuts a live connection of a revoked user. */
const REVOKED = 'User Authentication Revoked';
/** What it says when refusing a new connection (a revoked user's, say). */
const REFUSED = 'Authorization Violation';

let admin: Clients;
let operator: OperatorProcess;
let trust: NatsTrust;
let nats: NatsEnv;
/** The second plain signing key the account JWT lists: the rotation's target. */
const nextSigningKey = createAccount();
const connections: NatsConnection[] = [];

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

/**
 * The trust's account JWT re-signed (by the operator signing key, as createNatsTrust signs it) with
 * `signingKey` listed beside the keys it has, everything else unchanged.
 */
async function withExtraSigningKey(natsTrust: NatsTrust, signingKey: string): Promise<string> {
  const { nats: claims } = decode<Account>(natsTrust.workspaceAccount.jwt);
  return encodeAccount(
    natsTrust.workspaceAccount.name,
    natsTrust.workspaceAccount.publicKey,
    { ...claims, signing_keys: [...(claims.signing_keys ?? []), signingKey] },
    { algorithm: Algorithms.v2, signer: fromSeed(new TextEncoder().encode(natsTrust.operator.signingKey.seed)) },
  );
}

beforeAll(async () => {
  trust = await createNatsTrust();
  // Preloaded into the server's resolver: the operator's pushes start from the servers' copy, so
  // the extra key stays listed through every revocation.
  trust.workspaceAccount.jwt = await withExtraSigningKey(trust, nextSigningKey.getPublicKey());
  nats = await startNats(trust, { nodes: 1 });
  try {
    ({ admin, operator } = await startSuite({
      issuer: { name: `${ISSUER}-env` },
      namespaces: [NS],
      prepare: async (clients, env) => {
        const own = { ...env, trust, nats: { ...env.nats, urls: nats.urls } };
        for (const name of [ISSUER, SHARING, ROTATING]) await createIssuer(clients, own, name, {}, `-${name}`);
      },
    }));
  } catch (error) {
    await nats.stop();
    throw error;
  }
  for (const name of [ISSUER, SHARING, ROTATING]) {
    await waitFor(async () => ((await issuerStatus(name))?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined), {
      what: `issuer ${name} Ready`,
      timeoutMs: 60_000,
    });
  }
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await operator?.stop();
  await nats?.stop();
});

async function issuerStatus(name: string): Promise<ClusterNatsIssuer['status']> {
  const issuer = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name })) as ClusterNatsIssuer;
  return issuer.status;
}

async function credsOf(secretName: string): Promise<string> {
  const secret = await admin.core.readNamespacedSecret({ name: secretName, namespace: NS });
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
}

/** The public facts of the creds in Secret `<access>-nats` (never the creds themselves). */
async function issuedTo(access: string): Promise<IssuedCredentials> {
  return readCredentials(await credsOf(`${access}-nats`));
}

async function newAccess(name: string, issuer: string, spec: Partial<WorkspaceNatsAccess['spec']> = {}): Promise<WorkspaceNatsAccess> {
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: issuer }, permissions, ...spec }));
  return waitForReady(admin.custom, NS, name);
}

async function deleteAccess(name: string) {
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });
}

const gone = (name: string) =>
  waitFor(async () => ((await getAccess(admin.custom, NS, name)) ? undefined : true), { what: `${NS}/${name} gone`, timeoutMs: 30_000 });

/** `promise`, or a failure naming `what` after `ms`: a wait that cannot hang the suite. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms}ms`)), ms).unref()),
  ]);
}

/**
 * A live connection with `creds`, proven usable by a round trip on `subject`, and the server's
 * reason once it is cut (or "closed without an error").
 */
async function liveConnection(creds: string, subject: string): Promise<{ nc: NatsConnection; cut: Promise<string> }> {
  const nc = await connectWithCreds(nats.urls, creds);
  connections.push(nc);
  const cut = nc.closed().then((error) => (error ? error.message : 'closed without an error'));
  expect(await roundTrip(nc, nc, subject)).toBe('hello');
  return { nc, cut };
}

/** The reason the server cut `connection`, waiting a while for it. */
const cutReason = (connection: { cut: Promise<string> }, what: string) => within(connection.cut, 30_000, `cut of ${what}`);

/** Allowed: the creds connect and carry a message round trip on `subject`. */
async function roundTripWith(creds: string, subject: string): Promise<string> {
  const nc = await connectWithCreds(nats.urls, creds);
  try {
    return await roundTrip(nc, nc, subject);
  } finally {
    await nc.close();
  }
}

/** The server's reason for refusing a new connection with `creds`, or "connected". */
async function refusal(creds: string): Promise<string> {
  try {
    const nc = await connectWithCreds(nats.urls, creds);
    await nc.close();
    return 'connected';
  } catch (error) {
    return (error as Error).message;
  }
}

/** The revocations in force on the server: the account JWT it answers a lookup with. */
async function revokedOnServer(): Promise<string[]> {
  const system = await connectWithCreds(nats.urls, trust.systemUser.creds);
  try {
    const reply = await system.request(`$SYS.REQ.ACCOUNT.${trust.workspaceAccount.publicKey}.CLAIMS.LOOKUP`, '', { timeout: 5000 });
    return Object.keys(readAccountJwt(reply.string()).revocations);
  } finally {
    await system.close();
  }
}

/** Revocation entries kept in the cluster for the account: user key -> access. */
async function revocationList(): Promise<Map<string, string>> {
  const configMap = await admin.core.readNamespacedConfigMap({
    name: RevocationStore.configMapName(trust.workspaceAccount.publicKey),
    namespace: OPERATOR_NAMESPACE,
  });
  return new Map(Object.entries(configMap.data ?? {}).map(([user, entry]) => [user, (JSON.parse(entry) as { access: string }).access]));
}

async function eventsOf(name: string): Promise<string[]> {
  const events = await admin.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name}` });
  return events.items.map((event) => `${event.reason}: ${event.message}`);
}

test('deleting an access after a renewal revokes its current user and the retired one still valid', async () => {
  const name = 'renewed-then-deleted';
  // A renewal about every 10s, each user valid for a minute: a retired user stays valid for ~50s
  // after its renewal, so a refusal below is a revocation, never an expiry.
  const first = await newAccess(name, ISSUER, { ttl: '1m', renewBefore: '50s' });
  const firstUser = first.status?.userPublicKey ?? '';
  const firstCreds = await credsOf(`${name}-nats`);
  const retired = await liveConnection(firstCreds, `ws.${name}.first`);

  const renewed = await waitFor(
    async () => {
      const access = await getAccess(admin.custom, NS, name);
      return access?.status?.retiredUsers?.some((user) => user.publicKey === firstUser) ? access : undefined;
    },
    { what: `a renewal retiring ${firstUser}`, timeoutMs: 45_000 },
  );
  expect(renewed.status?.userPublicKey).not.toBe(firstUser);
  // A renewal retires the user without revoking it: its connection still works.
  expect(renewed.status?.retiredUsers?.find((user) => user.publicKey === firstUser)?.revoke).toBeUndefined();
  expect(await roundTrip(retired.nc, retired.nc, `ws.${name}.after-renewal`)).toBe('hello');

  const currentCreds = await credsOf(`${name}-nats`);
  const currentUser = readCredentials(currentCreds).userPublicKey;
  expect(currentUser).not.toBe(firstUser);
  const current = await liveConnection(currentCreds, `ws.${name}.current`);
  // Every user the access lists now: more renewals may come before the deletion lands.
  const latest = await getAccess(admin.custom, NS, name);
  const listed = [latest?.status?.userPublicKey ?? '', ...(latest?.status?.retiredUsers ?? []).map((user) => user.publicKey)];

  await deleteAccess(name);
  expect(await cutReason(retired, 'the retired user')).toContain(REVOKED);
  expect(await cutReason(current, 'the current user')).toContain(REVOKED);
  await gone(name);
  expect(await refusal(firstCreds)).toContain(REFUSED);
  expect(await refusal(currentCreds)).toContain(REFUSED);
  // Still far from expiry: what refused them is the revocation.
  expect(readCredentials(firstCreds).expiresAt?.getTime()).toBeGreaterThan(Date.now() + 5_000);

  const onServer = await revokedOnServer();
  const inCluster = await revocationList();
  for (const user of new Set([firstUser, currentUser, ...listed])) {
    expect(onServer).toContain(user);
    expect(inCluster.get(user)).toBe(`${NS}/${name}`);
  }
  const revokedEvent = (await eventsOf(name)).find((event) => event.startsWith('Revoked: '));
  expect(revokedEvent).toContain(firstUser);
  expect(revokedEvent).toContain(currentUser);
});

test('a deleted Secret is re-issued with a new user, and the old user is revoked', async () => {
  const name = 'secret-deleted';
  const first = await newAccess(name, ISSUER);
  const oldCreds = await credsOf(`${name}-nats`);
  const oldSecret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  const old = await liveConnection(oldCreds, `ws.${name}.old`);

  await admin.core.deleteNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  expect(await cutReason(old, 'the old user')).toContain(REVOKED);
  // Re-issued, with the replaced user revoked and so no longer listed as retired.
  const reissued = await waitFor(
    async () => {
      const access = await getAccess(admin.custom, NS, name);
      return access?.status?.userPublicKey !== first.status?.userPublicKey && !access?.status?.retiredUsers ? access : undefined;
    },
    { what: 'a new user with the old one revoked', timeoutMs: 30_000 },
  );
  const newSecret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  expect(newSecret.metadata?.uid).not.toBe(oldSecret.metadata?.uid);
  const newCreds = await credsOf(`${name}-nats`);
  expect(readCredentials(newCreds).userPublicKey).toBe(reissued.status?.userPublicKey);

  expect(await refusal(oldCreds)).toContain(REFUSED);
  expect(await roundTripWith(newCreds, `ws.${name}.new`)).toBe('hello');
  expect(await revokedOnServer()).toContain(first.status?.userPublicKey);
  // A Secret that is gone is recorded as an issuance (Reissued is for replacing creds it holds).
  expect(await eventsOf(name)).toContain(
    `Issued: Minted NATS user ${reissued.status?.userPublicKey} into Secret ${name}-nats: Secret ${name}-nats does not exist`,
  );
});

test("rotating an issuer's signing key re-issues every access of that issuer under the new key", async () => {
  const oldKey = trust.workspaceAccount.signingKey.publicKey;
  const rotated = ['rotated-a', 'rotated-b'];
  const before = new Map<string, { user: string; creds: string }>();
  for (const name of rotated) {
    const access = await newAccess(name, ROTATING);
    before.set(name, { user: access.status?.userPublicKey ?? '', creds: await credsOf(`${name}-nats`) });
    expect((await issuedTo(name)).signerPublicKey).toBe(oldKey);
  }
  const oldA = await liveConnection(before.get('rotated-a')?.creds ?? '', 'ws.rotated-a.before');
  // Same account, another issuer (its own key Secret, unchanged): not re-issued.
  const bystander = await newAccess('bystander', ISSUER);

  // The Secret the issuer's account.signingKeySecretRef names now holds the second listed key.
  await admin.core.patchNamespacedSecret({
    name: `${SIGNING_KEY_SECRET}-${ROTATING}`,
    namespace: OPERATOR_NAMESPACE,
    body: [{ op: 'replace', path: '/data/seed', value: Buffer.from(nextSigningKey.getSeed()).toString('base64') }],
  });

  for (const name of rotated) {
    const issued = await waitFor(
      async () => {
        const current = await issuedTo(name);
        return current.signerPublicKey === nextSigningKey.getPublicKey() ? current : undefined;
      },
      { what: `${name} re-issued under the new key`, timeoutMs: 30_000 },
    );
    expect(issued.userPublicKey).not.toBe(before.get(name)?.user);
    const access = await waitFor(
      async () => {
        const current = await getAccess(admin.custom, NS, name);
        return current?.status?.userPublicKey === issued.userPublicKey ? current : undefined;
      },
      { what: `${name} status naming the new user`, timeoutMs: 30_000 },
    );
    expect(access.status?.conditions?.[0]).toMatchObject({ status: 'True', reason: 'Issued' });
    expect(await roundTripWith(await credsOf(`${name}-nats`), `ws.${name}.after`)).toBe('hello');
  }
  // Replaced for another reason than renewal: the users minted under the old key are revoked.
  expect(await cutReason(oldA, 'the user minted under the old key')).toContain(REVOKED);
  for (const name of rotated) expect(await refusal(before.get(name)?.creds ?? '')).toContain(REFUSED);

  const status = await waitFor(
    async () => {
      const current = await issuerStatus(ROTATING);
      return current?.signingKeyPublicKey === nextSigningKey.getPublicKey() ? current : undefined;
    },
    { what: `issuer ${ROTATING} reporting the new key`, timeoutMs: 30_000 },
  );
  expect(status?.conditions?.[0]).toMatchObject({ status: 'True', reason: 'AccountVerified' });
  const unchanged = await issuedTo('bystander');
  expect(unchanged.userPublicKey).toBe(bystander.status?.userPublicKey);
  expect(unchanged.signerPublicKey).toBe(oldKey);
});

test('two issuers of one account both issue working creds, and one revoker revokes for both', async () => {
  const ofFirst = await newAccess('shared-a', ISSUER);
  const ofSecond = await newAccess('shared-b', SHARING);
  const credsA = await credsOf('shared-a-nats');
  const credsB = await credsOf('shared-b-nats');
  expect(readCredentials(credsA).accountPublicKey).toBe(trust.workspaceAccount.publicKey);
  expect(readCredentials(credsB).accountPublicKey).toBe(trust.workspaceAccount.publicKey);
  const a = await liveConnection(credsA, 'ws.shared-a.ping');
  const b = await liveConnection(credsB, 'ws.shared-b.ping');

  await Promise.all([deleteAccess('shared-a'), deleteAccess('shared-b')]);
  expect(await cutReason(a, `the user of ${ISSUER}`)).toContain(REVOKED);
  expect(await cutReason(b, `the user of ${SHARING}`)).toContain(REVOKED);
  await gone('shared-a');
  await gone('shared-b');
  expect(await refusal(credsA)).toContain(REFUSED);
  expect(await refusal(credsB)).toContain(REFUSED);

  // One list for the account, in the cluster and on the server, holding both issuers' users.
  const inCluster = await revocationList();
  expect(inCluster.get(ofFirst.status?.userPublicKey ?? '')).toBe(`${NS}/shared-a`);
  expect(inCluster.get(ofSecond.status?.userPublicKey ?? '')).toBe(`${NS}/shared-b`);
  const onServer = await revokedOnServer();
  expect(onServer).toEqual(expect.arrayContaining([ofFirst.status?.userPublicKey, ofSecond.status?.userPublicKey]));
  // Both issuers report the same revoker: the same active count and the same last push.
  await waitFor(
    async () => {
      const [first, second] = await Promise.all([issuerStatus(ISSUER), issuerStatus(SHARING)]);
      const same =
        first?.revocation?.lastPushResult === 'Succeeded' &&
        (first.revocation.active ?? 0) >= 2 &&
        first.revocation.active === second?.revocation?.active &&
        first.revocation.lastPushTime === second?.revocation?.lastPushTime;
      return same ? true : undefined;
    },
    { what: `issuers ${ISSUER} and ${SHARING} reporting one revoker`, timeoutMs: 30_000 },
  );
});
