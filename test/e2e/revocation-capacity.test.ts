// More revocations than one ConfigMap, or one account JWT, holds. The entries spread over ConfigMap
// shards, which a fresh store (a restarted operator) loads back whole, and a save writes only the
// shards that change. A revoker pushes what fits in the largest JWT nats-server accepts, says why
// of the users it left out (which the server still lets in), and pushes them once pruning makes
// room. The entries are written straight into the store rather than by thousands of accesses; the
// store writes as the operator's ServiceAccount, with the rights of manifests/rbac.yaml.

import { encodeUser, fmtCreds } from '@nats-io/jwt';
import type { CoreV1Api } from '@kubernetes/client-node';
import { createAccount } from '@nats-io/nkeys';
import { pino } from 'pino';
import { systemClock } from '../../src/api/clock.ts';
import { MAX_JWT_BYTES, readAccountJwt } from '../../src/nats/account-jwt.ts';
import { createNativeUser, nativeFromSeed } from '../../src/nats/native-keys.ts';
import { NatsSystemClient } from '../../src/nats/system-client.ts';
import { AccountRevoker, type RevokeUser } from '../../src/revocation/account-revoker.ts';
import { ACCOUNT_LABEL, RevocationStore, SHARD_DATA_BYTES, type RevocationEntry } from '../../src/revocation/revocation-store.ts';
import { clientsFor, OPERATOR_NAMESPACE, operatorKubeconfig, waitFor } from '../env/cluster.ts';
import { ACCEPTED, connectWithCreds, loginOutcome } from '../env/nats-client.ts';
import { createNatsTrust, startNats, type NatsEnv, type NatsTrust } from '../env/nats.ts';
import { loadEnvState } from '../env/state.ts';

const FIELD_MANAGER = 'e2e-revocation-capacity';
let core: CoreV1Api;
let trust: NatsTrust;
let nats: NatsEnv;
/** Accounts whose ConfigMaps the suite wrote, to remove after. */
const accounts: string[] = [];

beforeAll(async () => {
  const state = loadEnvState();
  core = clientsFor(await operatorKubeconfig(state, [])).core;
  trust = await createNatsTrust();
  nats = await startNats(trust, { nodes: 1 });
}, 120_000);

afterAll(async () => {
  await nats?.stop();
  const admin = clientsFor(loadEnvState().kubeconfig).core;
  for (const account of accounts) {
    await admin.deleteCollectionNamespacedConfigMap({ namespace: OPERATOR_NAMESPACE, labelSelector: `${ACCOUNT_LABEL}=${account}` });
  }
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** `count` entries of users with real keys, for accesses named like a workspace's. */
function entries(count: number, entry: (i: number) => Omit<RevocationEntry, 'access'>, prefix = 'ws'): Map<string, RevocationEntry> {
  return new Map(
    Array.from({ length: count }, (_, i) => [createNativeUser().getPublicKey(), { ...entry(i), access: `e2e-capacity/${prefix}-${i}` }]),
  );
}

/** The account's shards as the API server has them, by name. */
async function shards(account: string) {
  const list = await core.listNamespacedConfigMap({ namespace: OPERATOR_NAMESPACE, labelSelector: `${ACCOUNT_LABEL}=${account}` });
  return new Map(list.items.map((item) => [item.metadata?.name ?? '', { version: item.metadata?.resourceVersion, data: item.data ?? {} }]));
}
const shardName = (account: string, index: number) => RevocationStore.configMapName(account, index);
const dataBytes = (data: Record<string, string>) => Object.entries(data).reduce((sum, [key, value]) => sum + key.length + value.length, 0);

test('entries beyond one ConfigMap spread over shards, which a fresh store loads whole; saves write only the shards that change', async () => {
  const account = createAccount().getPublicKey();
  accounts.push(account);
  const at = nowSeconds();
  const stored = entries(15_000, () => ({ revokedAt: at, expiresAt: at + 3600 }));
  const first = new RevocationStore(core, OPERATOR_NAMESPACE, FIELD_MANAGER);
  expect((await first.load(account)).size).toBe(0);
  await first.save(account, stored);

  const written = await shards(account);
  expect([...written.keys()].sort()).toEqual([0, 1, 2].map((i) => shardName(account, i)).sort());
  for (const { data } of written.values()) expect(dataBytes(data)).toBeLessThanOrEqual(SHARD_DATA_BYTES);
  const perShard = [0, 1, 2].map((i) => Object.keys(written.get(shardName(account, i))?.data ?? {}).length);
  expect(perShard.reduce((a, b) => a + b)).toBe(15_000);
  // Shards fill in order: the first two are full (another entry would not fit).
  for (const i of [0, 1]) expect(dataBytes(written.get(shardName(account, i))?.data ?? {}) + 170).toBeGreaterThan(SHARD_DATA_BYTES);

  // A restarted operator: a fresh store finds every shard by the account label.
  const second = new RevocationStore(core, OPERATOR_NAMESPACE, FIELD_MANAGER);
  expect(await second.load(account)).toEqual(stored);

  // Pruning entries of shard 0, then a batch of new ones: each save rewrites shard 0 only.
  const versions = async () => new Map([...(await shards(account))].map(([name, shard]) => [name, shard.version]));
  const rewritten = async (save: Promise<void>) => {
    const before = await versions();
    await save;
    return [...(await versions())].filter(([name, version]) => before.get(name) !== version).map(([name]) => name);
  };
  const current = new Map(stored);
  for (const user of Object.keys(written.get(shardName(account, 0))?.data ?? {}).slice(0, 50)) current.delete(user);
  expect(await rewritten(second.save(account, current))).toEqual([shardName(account, 0)]);
  for (const [user, entry] of entries(20, () => ({ revokedAt: at, expiresAt: at + 3600 }), 'new')) current.set(user, entry);
  expect(await rewritten(second.save(account, current))).toEqual([shardName(account, 0)]);

  // The first store's view of shard 0 is stale: its save is refused, and goes through after a load.
  await expect(first.save(account, current)).rejects.toMatchObject({ code: 409 });
  await first.load(account);
  await first.save(account, current);
  expect(await second.load(account)).toEqual(current);

  // Shards left empty go, but shard 0, which stays (empty) where earlier versions kept the list.
  const inShard0 = new Set(Object.keys((await shards(account)).get(shardName(account, 0))?.data ?? {}));
  await first.save(account, new Map([...current].filter(([user]) => inShard0.has(user))));
  expect([...(await shards(account)).keys()]).toEqual([shardName(account, 0)]);
  await first.save(account, new Map());
  expect((await shards(account)).get(shardName(account, 0))?.data).toEqual({});
  expect((await new RevocationStore(core, OPERATOR_NAMESPACE, FIELD_MANAGER).load(account)).size).toBe(0);
});

/** Creds of a new user of the workspace account, and its key (no secret: the user is not minted by the operator). */
async function userCreds() {
  const user = createNativeUser();
  const jwt = await encodeUser('capacity', user, nativeFromSeed(trust.workspaceAccount.signingKey.seed), {
    issuer_account: trust.workspaceAccount.publicKey,
  });
  return { key: user.getPublicKey(), creds: new TextDecoder().decode(fmtCreds(jwt, user)) };
}

/** The account JWT the server holds. */
async function accountJwtOnServer(): Promise<string> {
  const system = await connectWithCreds(nats.urls, trust.systemUser.creds);
  try {
    return (await system.request(`$SYS.REQ.ACCOUNT.${trust.workspaceAccount.publicKey}.CLAIMS.LOOKUP`, '', { timeout: 5000 })).string();
  } finally {
    await system.close();
  }
}

function revoker(settled: string[]) {
  return new AccountRevoker({
    account: trust.workspaceAccount.publicKey,
    store: new RevocationStore(core, OPERATOR_NAMESPACE, FIELD_MANAGER),
    settings: () => ({
      servers: nats.urls,
      creds: new TextEncoder().encode(trust.systemUser.creds),
      connectionVersion: 'e2e',
      operatorSigner: nativeFromSeed(trust.operator.signingKey.seed),
    }),
    connect: (options) => NatsSystemClient.connect(options),
    onSettled: (keys) => settled.push(...keys),
    onObserved: () => undefined,
    log: pino({ level: 'silent' }),
    timing: { lingerMs: 20, verifyPeriodMs: 60_000, pruneGraceMs: 1000, maxBackoffMs: 1000 },
    clock: systemClock,
  });
}

test('a full account JWT: what fits is pushed, the users left out wait and say why, and go in once pruning makes room', async () => {
  const account = trust.workspaceAccount.publicKey;
  accounts.push(account);
  // Two users to log in with: one among the newcomers pushed, one among those left out.
  const [pushedUser, waitingUser] = [await userCreds(), await userCreds()];
  // Revoked after the users' JWTs were issued, so that the servers refuse them once they have it.
  const at = nowSeconds() + 1;
  const soon = at + 40;

  // 11,000 entries that expire soon, pushed by a first revoker: the JWT has room for them all.
  const early = entries(11_000, () => ({ revokedAt: at, expiresAt: soon }), 'early');
  const store = new RevocationStore(core, OPERATOR_NAMESPACE, FIELD_MANAGER);
  await store.load(account);
  await store.save(account, early);
  const firstSettled: string[] = [];
  const first = revoker(firstSettled);
  first.start();
  await waitFor(async () => (first.summary().active === 11_000 ? true : undefined), { what: 'the first push', timeoutMs: 30_000 });
  await first.stop();

  // 500 more, valid for an hour (later for the higher numbers), recorded before a restart.
  const late = entries(500, (i) => ({ revokedAt: at, expiresAt: at + 3600 + i }), 'late');
  const lateUsers = [...late.keys()];
  lateUsers[499] = pushedUser.key;
  lateUsers[0] = waitingUser.key;
  const lateEntries = new Map(lateUsers.map((user, i) => [user, { revokedAt: at, expiresAt: at + 3600 + i, access: `e2e-capacity/late-${i}` }]));
  await store.load(account);
  await store.save(account, new Map([...early, ...lateEntries]));
  expect((await shards(account)).size).toBe(2);

  // The next process loads both shards, and pushes as many as fit.
  const settled: string[] = [];
  const second = revoker(settled);
  const revokeUser = (user: string): RevokeUser => ({ userPublicKey: user, expiresAt: new Date((lateEntries.get(user)?.expiresAt ?? 0) * 1000) });
  for (const [i, user] of lateUsers.entries()) second.request(`e2e-capacity/late-${i}`, [revokeUser(user)]);
  await waitFor(async () => (second.summary().pushes > 0 ? true : undefined), { what: 'the push after the restart', timeoutMs: 30_000 });
  // Checked before the early entries expire: nothing has made room yet.
  expect(nowSeconds()).toBeLessThan(soon);
  const full = await accountJwtOnServer();
  const pushed = Object.keys(readAccountJwt(full).revocations);
  // Full: up to the limit, less than one more entry (93 bytes) short of it.
  expect(full.length).toBeLessThanOrEqual(MAX_JWT_BYTES);
  expect(full.length + 94).toBeGreaterThan(MAX_JWT_BYTES);
  // Every early entry stays; of the late ones, those valid longest went in.
  expect(pushed.filter((user) => early.has(user))).toHaveLength(11_000);
  const pushedLate = lateUsers.filter((user) => pushed.includes(user));
  expect(pushedLate).toEqual(lateUsers.slice(500 - pushedLate.length));
  expect(pushedLate.length).toBeGreaterThan(0);
  expect(second.state([revokeUser(pushedUser.key)])).toEqual({ ok: true, value: 'revoked' });
  expect(second.state([revokeUser(waitingUser.key)])).toEqual({
    ok: false,
    message:
      `the JWT of account ${account} is full: with these revocations it would exceed ${MAX_JWT_BYTES} bytes, the largest JWT nats-server accepts; ` +
      "they wait for earlier revocations to expire, or for these users' credentials to",
  });
  // The accesses of both were told (revoked, and waiting); the waiting user is not revoked yet.
  expect(settled).toEqual(expect.arrayContaining(['e2e-capacity/late-499', 'e2e-capacity/late-0']));
  expect(await loginOutcome(nats.urls, pushedUser.creds)).toBe('Authorization Violation');
  expect(await loginOutcome(nats.urls, waitingUser.creds)).toBe(ACCEPTED);

  // The early entries expire and are pruned: the rest go in.
  await waitFor(async () => (second.state([revokeUser(waitingUser.key)]).ok === true && second.summary().active === 500 ? true : undefined), {
    what: 'the late entries pushed once the early ones were pruned',
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  expect(await loginOutcome(nats.urls, waitingUser.creds)).toBe('Authorization Violation');
  expect(Object.keys(readAccountJwt(await accountJwtOnServer()).revocations).sort()).toEqual([...lateUsers].sort());
  await second.stop();
  const left = [...(await shards(account)).values()].flatMap((shard) => Object.keys(shard.data));
  expect(left.sort()).toEqual([...lateUsers].sort());
}, 180_000);
