// What the issuer controller writes for each state of an issuer's keys and account: the plans
// planIssuer() makes, and the status and Events a reconcile writes, against in-memory listers, a
// recording fake of the API server and a stand-in for the account revokers. Keys are made fresh on
// every run.

import type { V1Secret } from '@kubernetes/client-node';
import type { CoreApi, CustomObjectsApi } from '../../src/kube/api.ts';
import { createAccount, createOperator, type KeyPair } from '@nats-io/nkeys';
import { pino } from 'pino';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ISSUER_PLURAL } from '../../src/api/constants.ts';
import { IssuerController, planIssuer, type AccountRevocations } from '../../src/controller/issuer-controller.ts';
import { IssuerKeys } from '../../src/issuer/issuer-keys.ts';
import { ApiEventRecorder } from '../../src/kube/events.ts';
import { mintUserCredentials } from '../../src/nats/credentials.ts';
import type { AccountObservation, RevocationSummary } from '../../src/revocation/account-revoker.ts';
import { MemoryLister, RecordingApi } from './fake-kube.ts';
import { issuer as issuerFixture } from './fixtures.ts';

const NAMESPACE = 'wno-system';
const NOW = new Date('2026-03-01T12:00:00Z');
const log = pino({ level: 'silent' });

const account = createAccount();
const accountKey = account.getPublicKey();
const signingKey = createAccount();
// nkeys derives a public key in pure JS on every call: once each is enough.
const signingPublicKey = signingKey.getPublicKey();
const otherKey = createAccount().getPublicKey();
const operatorKey = createOperator();
const systemAccount = createAccount();
const systemCreds = (
  await mintUserCredentials({ name: 'sys', accountPublicKey: systemAccount.getPublicKey(), signingKey: systemAccount, grant: { tags: [] }, expiresAt: new Date(Date.now() + 86_400_000) })
).creds;

const seedOf = (pair: KeyPair) => new TextDecoder().decode(pair.getSeed());
const secret = (name: string, data: Record<string, string>, resourceVersion = '1'): V1Secret => ({
  metadata: { name, namespace: NAMESPACE, resourceVersion },
  data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
});
/** The issuer's Secrets; `accountSigner` the account key itself makes a new version of its Secret. */
const allSecrets = (accountSigner: 'signing key' | 'account key' = 'signing key') => [
  accountSigner === 'signing key'
    ? secret('ws-account-signing-key', { seed: seedOf(signingKey) })
    : secret('ws-account-signing-key', { seed: seedOf(account) }, '2'),
  secret('nats-operator-signing-key', { seed: seedOf(operatorKey) }),
  secret('nats-system-creds', { 'nats.creds': systemCreds }),
];

function issuer(scoped = false): ClusterNatsIssuer {
  const base = issuerFixture({
    account: { publicKey: accountKey, signingKeySecretRef: { name: 'ws-account-signing-key' }, ...(scoped ? { scoped: { userTags: ['ws:{{workspace.id}}'] } } : {}) },
  });
  return { ...base, metadata: { ...base.metadata, uid: 'uid-platform', generation: 2 } };
}

/** The account as a NATS server shows it, listing `keys` (scoped or not) as signing keys. */
const seen = (keys: { key: string; scoped: boolean }[], servers = 3): AccountObservation => ({
  ok: true,
  value: {
    servers: Array.from({ length: servers }, (_, i) => ({ id: `S${i}`, name: `nats-${i}` })),
    account: { subject: accountKey, issuer: 'OPERATOR', issuedAt: 1, revocations: {}, signingKeys: keys },
  },
});

/** The issuer as a previous operator process left it: verified at its generation, after a push. */
function issuerWithStoredStatus(): ClusterNatsIssuer {
  const base = issuer();
  const message = `Keys loaded; 3 NATS servers hold the JWT of account ${accountKey}, which lists signing key ${signingPublicKey}`;
  return {
    ...base,
    status: {
      observedGeneration: 2,
      signingKeyPublicKey: signingPublicKey,
      revocation: { active: 3, lastPushTime: '2026-03-01T11:00:00Z', lastPushResult: 'Succeeded', lastPushMessage: '3 of 3 servers' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'AccountVerified', message, observedGeneration: 2, lastTransitionTime: '2026-03-01T11:00:00.000Z' }],
    },
  };
}

class FakeRevocations implements AccountRevocations {
  watched: string[] = [];
  observation: AccountObservation | undefined;
  summaryNow: RevocationSummary = { active: 0, pushes: 0 };
  watch(account: string) {
    this.watched.push(account);
  }
  observe() {
    return this.observation;
  }
  summary() {
    return this.summaryNow;
  }
}

// One cache of Secrets and parsed keys for all tests, as in the operator: parsing a seed costs pure-JS
// curve math, done again only for a new Secret version.
const secrets = new MemoryLister<V1Secret>();
const keys = new IssuerKeys(secrets, NAMESPACE);

function setup(options: { issuer?: ClusterNatsIssuer; secrets?: V1Secret[]; observation?: AccountObservation; clock?: () => Date } = {}) {
  secrets.objects = options.secrets ?? allSecrets();
  const api = new RecordingApi();
  const issuers = new MemoryLister([options.issuer ?? issuer()]);
  const revocations = new FakeRevocations();
  revocations.observation = options.observation;
  const controller = new IssuerController({
    customObjects: api.client<CustomObjectsApi>(),
    issuers,
    keys,
    revocations,
    events: new ApiEventRecorder(api.client<CoreApi>(), log, 'test'),
    log,
    fieldManager: 'test',
    clock: options.clock ?? (() => NOW),
  });
  /** Plans a reconcile of the issuer from what the caches hold. */
  const plan = () => planIssuer(controller.read('platform')!);
  /** Stores the status the last reconcile wrote in the cache, as the informer would show it. */
  const settle = () => {
    for (const written of api.bodies<ClusterNatsIssuer>('replaceClusterCustomObjectStatus')) issuers.put(written);
    api.calls.length = 0;
  };
  const events = () => api.bodies<{ type: string; reason: string; message: string }>('createNamespacedEvent').map(({ type, reason, message }) => ({ type, reason, message }));
  const status = () => api.bodies<ClusterNatsIssuer>('replaceClusterCustomObjectStatus').at(-1)?.status;
  return { api, controller, revocations, plan, settle, events, status };
}

describe('the issuer controller plans', () => {
  /** The status fields of an issuer whose keys load, with no revocations yet. */
  const loadedFields = { signingKeyPublicKey: signingPublicKey, revocation: { active: 0 } };

  test('key Secrets missing: Ready=False SigningKeyNotFound, a Warning Event, a retry, and no revoker', () => {
    const { plan } = setup({ secrets: [] });
    const message = `Secret ${NAMESPACE}/ws-account-signing-key not found`;
    expect(plan()).toEqual({
      event: { type: 'Warning', reason: 'SigningKeyNotFound', message },
      ready: { type: 'Ready', status: 'False', reason: 'SigningKeyNotFound', message },
      fields: {},
      result: { retry: true },
    });
  });

  test('the system creds Secret missing: Ready=False NatsCredentialsInvalid, retried', () => {
    const { plan } = setup({ secrets: allSecrets().filter((s) => s.metadata?.name !== 'nats-system-creds') });
    expect(plan()).toEqual({
      event: { type: 'Warning', reason: 'NatsCredentialsInvalid', message: `Secret ${NAMESPACE}/nats-system-creds not found` },
      ready: { type: 'Ready', status: 'False', reason: 'NatsCredentialsInvalid', message: `Secret ${NAMESPACE}/nats-system-creds not found` },
      fields: {},
      result: { retry: true },
    });
  });

  test('before the revoker has looked at the account: Ready=Unknown Verifying, no Event, the revoker started', () => {
    const { plan } = setup({ observation: undefined });
    expect(plan()).toEqual({
      watch: accountKey,
      ready: { type: 'Ready', status: 'Unknown', reason: 'Verifying', message: `Looking up account ${accountKey} on the NATS servers` },
      fields: loadedFields,
      result: {},
    });
  });

  test('NATS unreachable: Ready=False NatsUnreachable, not retried (the revoker wakes the issuer)', () => {
    const { plan } = setup({ observation: { ok: false, message: 'no servers available for connection' } });
    const ready = { type: 'Ready', status: 'False', reason: 'NatsUnreachable', message: 'no servers available for connection' };
    expect(plan()).toEqual({ watch: accountKey, event: { type: 'Warning', reason: ready.reason, message: ready.message }, ready, fields: loadedFields, result: {} });
  });

  test('the account JWT does not list the signing key: Ready=False AccountMismatch, not retried', () => {
    const { plan } = setup({ observation: seen([{ key: otherKey, scoped: false }]) });
    const message = `The JWT of account ${accountKey} does not list signing key ${signingPublicKey}: NATS would refuse the users it signs`;
    const ready = { type: 'Ready', status: 'False', reason: 'AccountMismatch', message };
    expect(plan()).toEqual({ watch: accountKey, event: { type: 'Warning', reason: ready.reason, message }, ready, fields: loadedFields, result: {} });
  });

  test.each([
    { issuerScoped: true, keyScoped: false, says: 'spec.account.scoped is set, but' },
    { issuerScoped: false, keyScoped: true, says: 'is a scoped signing key of account' },
  ])('scoped issuer $issuerScoped, scoped key $keyScoped: Ready=False AccountMismatch', ({ issuerScoped, keyScoped, says }) => {
    const { plan } = setup({ issuer: issuer(issuerScoped), observation: seen([{ key: signingPublicKey, scoped: keyScoped }]) });
    const message = expect.stringContaining(says);
    expect(plan()).toEqual({
      watch: accountKey,
      event: { type: 'Warning', reason: 'AccountMismatch', message },
      ready: { type: 'Ready', status: 'False', reason: 'AccountMismatch', message },
      fields: loadedFields,
      result: {},
    });
  });

  test('scoped on both sides: verified', () => {
    const { plan } = setup({ issuer: issuer(true), observation: seen([{ key: signingPublicKey, scoped: true }]) });
    expect(plan().ready).toMatchObject({ status: 'True', reason: 'AccountVerified' });
  });

  test('the account key itself signs: verified without being listed', () => {
    const { plan } = setup({ secrets: allSecrets('account key'), observation: seen([], 1) });
    expect(plan().ready).toEqual({
      type: 'Ready',
      status: 'True',
      reason: 'AccountVerified',
      message: `Keys loaded; 1 NATS server holds the JWT of account ${accountKey}, which lists signing key ${accountKey} (the account key itself)`,
    });
  });
});

describe('what an issuer reconcile writes', () => {
  test('verified: Ready=True AccountVerified with the signing key and the revocation status, and a Normal Event', async () => {
    const { api, controller, revocations, status, events } = setup({ observation: seen([{ key: signingPublicKey, scoped: false }]) });
    revocations.summaryNow = { active: 4, pushes: 9, lastPushTime: new Date('2026-03-01T11:59:30.250Z'), lastPushResult: 'Succeeded', lastPushMessage: '3 of 3 servers' };
    expect(await controller.reconcile('platform')).toEqual({});
    expect(revocations.watched).toEqual([accountKey]);
    expect(api.writes()).toEqual(['createNamespacedEvent platform.', 'replaceClusterCustomObjectStatus platform']);
    expect(api.calls.at(-1)?.args).toMatchObject({ plural: ISSUER_PLURAL, name: 'platform' });
    const message = `Keys loaded; 3 NATS servers hold the JWT of account ${accountKey}, which lists signing key ${signingPublicKey}`;
    expect(events()).toEqual([{ type: 'Normal', reason: 'AccountVerified', message }]);
    expect(status()).toEqual({
      observedGeneration: 2,
      signingKeyPublicKey: signingPublicKey,
      revocation: { active: 4, lastPushTime: '2026-03-01T11:59:30Z', lastPushResult: 'Succeeded', lastPushMessage: '3 of 3 servers' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'AccountVerified', message, observedGeneration: 2, lastTransitionTime: NOW.toISOString() }],
    });
    // Invariant 5: no seed or creds reaches status or Events.
    const written = JSON.stringify(api.calls);
    for (const pair of [signingKey, operatorKey]) expect(written).not.toContain(seedOf(pair));
    expect(written).not.toContain(systemCreds.split('\n')[1]);
  });

  test('keys missing: a Warning Event and Ready=False SigningKeyNotFound; the stored key and revocation status stay', async () => {
    const stored = issuer();
    stored.status = { signingKeyPublicKey: 'AOLD', revocation: { active: 2 } };
    const { api, controller, revocations, status, events } = setup({ issuer: stored, secrets: [] });
    expect(await controller.reconcile('platform')).toEqual({ retry: true });
    expect(revocations.watched).toEqual([]);
    expect(events()).toEqual([{ type: 'Warning', reason: 'SigningKeyNotFound', message: `Secret ${NAMESPACE}/ws-account-signing-key not found` }]);
    // An issuer has no namespace: the API server takes its Events only in "default".
    expect(api.calls.filter((call) => call.method === 'createNamespacedEvent').map((call) => call.args.namespace)).toEqual(['default']);
    expect(status()).toMatchObject({ signingKeyPublicKey: 'AOLD', revocation: { active: 2 }, conditions: [{ status: 'False', reason: 'SigningKeyNotFound' }] });
  });

  test.each([
    { state: 'keys missing', secrets: [] as V1Secret[], observation: undefined, result: { retry: true } },
    { state: 'verifying', secrets: allSecrets(), observation: undefined, result: {} },
    { state: 'mismatch', secrets: allSecrets(), observation: seen([]), result: {} },
    { state: 'verified', secrets: allSecrets(), observation: seen([{ key: signingPublicKey, scoped: false }]), result: {} },
  ])('$state, reconciled again with nothing changed: no status write, no Event', async ({ secrets, observation, result }) => {
    const { api, controller, settle } = setup({ secrets, observation });
    await controller.reconcile('platform');
    expect(api.writes()).toContain('replaceClusterCustomObjectStatus platform');
    settle();
    expect(await controller.reconcile('platform')).toEqual(result);
    expect(api.writes()).toEqual([]);
  });

  test('a Ready that says something new: an Event each time; the transition time moves only when the status flips', async () => {
    let now = new Date('2026-03-01T12:00:00Z');
    const { controller, revocations, settle, events, status } = setup({ observation: seen([]), clock: () => now });
    await controller.reconcile('platform');
    settle();
    now = new Date('2026-03-01T12:05:00Z');
    revocations.observation = seen([{ key: signingPublicKey, scoped: false }], 3);
    await controller.reconcile('platform');
    settle();
    now = new Date('2026-03-01T12:10:00Z');
    revocations.observation = seen([{ key: signingPublicKey, scoped: false }], 2);
    await controller.reconcile('platform');
    expect(events()).toEqual([expect.objectContaining({ type: 'Normal', reason: 'AccountVerified', message: expect.stringContaining('2 NATS servers hold') })]);
    expect(status()?.conditions?.[0]).toMatchObject({ status: 'True', lastTransitionTime: '2026-03-01T12:05:00.000Z' });
  });

  describe('a restarted operator, before its revoker has looked at the account', () => {
    test('what it found before stands: no status write, no Event, the revoker started', async () => {
      const { api, controller, revocations } = setup({ issuer: issuerWithStoredStatus(), observation: undefined });
      expect(await controller.reconcile('platform')).toEqual({});
      expect(revocations.watched).toEqual([accountKey]);
      expect(api.writes()).toEqual([]);
      // Its first cycle finds the same, and it has pushed nothing: still nothing to write.
      revocations.observation = seen([{ key: signingPublicKey, scoped: false }]);
      revocations.summaryNow = { active: 3, pushes: 0 };
      expect(await controller.reconcile('platform')).toEqual({});
      expect(api.writes()).toEqual([]);
    });

    test('a status found for another signing key or generation says Verifying', () => {
      const stored = issuerWithStoredStatus();
      const { plan } = setup({ issuer: { ...stored, status: { ...stored.status, signingKeyPublicKey: otherKey } }, observation: undefined });
      expect(plan().ready).toMatchObject({ status: 'Unknown', reason: 'Verifying' });
      const { plan: planned } = setup({ issuer: { ...stored, metadata: { ...stored.metadata, generation: 3 } }, observation: undefined });
      expect(planned().ready).toMatchObject({ status: 'Unknown', reason: 'Verifying' });
    });

    test('once it pushes, its own push replaces the stored one', () => {
      const { plan, revocations } = setup({ issuer: issuerWithStoredStatus(), observation: seen([{ key: signingPublicKey, scoped: false }]) });
      revocations.summaryNow = { active: 4, pushes: 1, lastPushTime: new Date('2026-03-01T12:00:00Z'), lastPushResult: 'Failed', lastPushMessage: '2 of 3 servers' };
      expect(plan().fields.revocation).toEqual({ active: 4, lastPushTime: '2026-03-01T12:00:00Z', lastPushResult: 'Failed', lastPushMessage: '2 of 3 servers' });
    });
  });

  test('an issuer that is gone: nothing read, nothing written', async () => {
    const { api, controller, revocations } = setup();
    expect(await controller.reconcile('other')).toEqual({});
    expect(api.calls).toEqual([]);
    expect(revocations.watched).toEqual([]);
  });
});
