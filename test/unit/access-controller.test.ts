// The access controller's decisions, against in-memory caches and a recording fake of the API: what
// each reconcile writes, in which order, which users it asks the revoker for, and that a reconcile
// that finds everything as desired writes nothing. Real minting (fresh nkeys) and a set clock.

import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import { createAccount } from '@nats-io/nkeys';
import { ok, notOk, type Result } from '../../src/api/failure.ts';
import { Failure } from '../../src/api/failure.ts';
import { ACCESS_FINALIZER, CREDS_KEY, SKIP_REVOCATION_ANNOTATION } from '../../src/api/constants.ts';
import { Reason } from '../../src/api/reasons.ts';
import type { ClusterNatsAuthCallout } from '../../src/api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { AccessController, type RevocationRequests } from '../../src/controller/access-controller.ts';
import type { IssuedUser } from '../../src/controller/access-users.ts';
import { trimCreds } from '../../src/controller/secret-creds.ts';
import { ApiEventRecorder } from '../../src/kube/events.ts';
import { OwnWrites } from '../../src/kube/own-writes.ts';
import { createLogger } from '../../src/log.ts';
import { readCredentials } from '../../src/nats/credentials.ts';
import { apiError, MemoryLister, RecordingApi } from './fake-kube.ts';
import { access as accessFixture, issuer as issuerFixture } from './fixtures.ts';

const log = createLogger('silent');

/** The revoker: users it confirmed, an optional failure, and the requests it got. */
class FakeRevoker implements RevocationRequests {
  confirmed = new Set<string>();
  failure: string | undefined;
  readonly requests: { account: string; accessKey: string; users: string[] }[] = [];
  readonly cuts: { account: string; userName: string }[] = [];
  /** Connections cutLogins reports closed; a string makes it fail with that message. */
  cutResult: number | string = 0;

  state(_account: string, users: readonly IssuedUser[]): Result<'revoked' | 'pending'> {
    if (users.every((user) => this.confirmed.has(user.userPublicKey))) return ok('revoked');
    return this.failure ? notOk(this.failure) : ok('pending');
  }

  request(account: string, accessKey: string, users: readonly IssuedUser[]): void {
    this.requests.push({ account, accessKey, users: users.map((user) => user.userPublicKey) });
  }

  async cutLogins(account: string, userName: string): Promise<number> {
    this.cuts.push({ account, userName });
    if (typeof this.cutResult === 'string') throw new Error(this.cutResult);
    return this.cutResult;
  }

  confirmAll() {
    for (const request of this.requests) for (const user of request.users) this.confirmed.add(user);
  }
}

const signingKey = createAccount();

function setup(
  options: {
    access?: WorkspaceNatsAccess;
    issuer?: ClusterNatsIssuer | undefined;
    signingKeyFails?: Error;
    callouts?: ClusterNatsAuthCallout[];
    sentinelCreds?: Uint8Array;
  } = {},
) {
  const api = new RecordingApi();
  const theIssuer = 'issuer' in options ? options.issuer : issuerFixture();
  const accesses = new MemoryLister<WorkspaceNatsAccess>([options.access ?? accessFixture({ ttl: '1h' })]);
  const issuers = new MemoryLister<ClusterNatsIssuer>(theIssuer ? [theIssuer] : []);
  const secrets = new MemoryLister<V1Secret>();
  const namespaces = new MemoryLister<V1Namespace>([{ metadata: { name: 'team-a', labels: {} } }]);
  const revoker = new FakeRevoker();
  const clock = { now: new Date() };
  const ownWrites = new OwnWrites();
  const controller = new AccessController({
    customObjects: api.client(),
    core: api.client(),
    accesses,
    issuers,
    // One access: its Secrets are those of its namespace.
    secrets: { get: (name, namespace) => secrets.get(name, namespace), ofAccess: (namespace) => secrets.list(namespace) },
    namespaces,
    signingKey: () => {
      if (options.signingKeyFails) throw options.signingKeyFails;
      return signingKey;
    },
    callouts: new MemoryLister<ClusterNatsAuthCallout>(options.callouts ?? []),
    sentinelCreds: (callout) => {
      if (!options.sentinelCreds) throw new Failure(Reason.NatsCredentialsInvalid, `Secret ${callout.spec.nats.sentinelCredentialsSecretRef.name} not found`);
      return options.sentinelCreds;
    },
    revocations: revoker,
    events: new ApiEventRecorder(api.client(), log, 'test'),
    ownWrites,
    log,
    fieldManager: 'test',
    clock: () => clock.now,
  });
  /** The Secrets as the API server has them, whole; the cache holds them as the operator's does. */
  const stored = new Map<string, V1Secret>();
  api.on('readNamespacedSecret', ({ name }) => {
    const secret = stored.get(name as string);
    if (!secret) throw apiError(404);
    return structuredClone(secret);
  });
  api.on('listNamespacedSecret', () => ({ items: [...stored.values()].map((secret) => structuredClone(secret)) }));
  /** Stores `secret` in the API server and, as its watch event, in the cache (creds text dropped). */
  const put = (secret: V1Secret) => {
    const name = secret.metadata?.name;
    stored.set(name ?? '', structuredClone(secret));
    const cached = structuredClone(secret);
    trimCreds(cached);
    secrets.objects = [...secrets.objects.filter((s) => s.metadata?.name !== name), cached];
  };
  /** Puts what the last reconcile wrote into the caches, as the watches would. */
  const settle = () => {
    for (const { method, args } of api.calls.splice(0)) {
      const body = args.body as { metadata: { name: string; uid?: string } } & Record<string, unknown>;
      if (method === 'createNamespacedSecret' || method === 'replaceNamespacedSecret') {
        put({ ...body, metadata: { ...body.metadata, uid: `secret-${body.metadata.name}` } } as V1Secret);
      }
      if (method === 'deleteNamespacedSecret') {
        stored.delete(args.name as string);
        secrets.objects = secrets.objects.filter((s) => s.metadata?.name !== args.name);
      }
      if (method === 'replaceNamespacedCustomObject' || method === 'replaceNamespacedCustomObjectStatus') {
        accesses.objects = [body as unknown as WorkspaceNatsAccess];
      }
    }
  };
  const reconcile = () => controller.reconcile('team-a/ws1');
  const current = () => accesses.objects[0]!;
  /** The user in the Secret as the API server has it. */
  const secretUser = () => {
    const creds = stored.get('ws1-nats')?.data?.[CREDS_KEY];
    return creds ? readCredentials(Buffer.from(creds, 'base64').toString('utf8')) : undefined;
  };
  return { api, accesses, issuers, secrets, stored, put, revoker, clock, ownWrites, reconcile, settle, current, secretUser };
}

/** An access issued and settled: finalizer, Secret and Ready status in the caches. */
async function issued(options: Parameters<typeof setup>[0] = {}) {
  const env = setup(options);
  await env.reconcile();
  env.settle();
  return env;
}

describe('AccessController: issuance', () => {
  test('a new access: finalizer, Secret, Issued Event, then Ready status, in that order', async () => {
    const { api, reconcile } = setup();
    const result = await reconcile();
    expect(api.writes()).toEqual([
      'replaceNamespacedCustomObject ws1',
      'createNamespacedSecret ws1-nats',
      'createNamespacedEvent ws1.',
      'replaceNamespacedCustomObjectStatus ws1',
    ]);
    const finalizers = (api.calls.find((call) => call.method === 'replaceNamespacedCustomObject')!.args.body as WorkspaceNatsAccess).metadata.finalizers;
    expect(finalizers).toEqual([ACCESS_FINALIZER]);
    const event = api.calls.find((call) => call.method === 'createNamespacedEvent')!.args.body as { reason: string };
    expect(event.reason).toBe('Issued');
    const status = (api.calls.at(-1)!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: Reason.Issued });
    // Requeued for renewal: renewBefore (a third of 1h) plus up to a tenth of it ahead of expiry.
    expect(result.requeueAfterMs).toBeGreaterThan(36 * 60_000);
    expect(result.requeueAfterMs).toBeLessThanOrEqual(40 * 60_000);
  });

  test('a reconcile that finds everything as desired writes nothing and asks the revoker for nothing', async () => {
    const env = await issued();
    const user = env.secretUser()!.userPublicKey;
    expect(env.current().status?.userPublicKey).toBe(user);
    await env.reconcile();
    expect(env.api.writes()).toEqual([]);
    expect(env.revoker.requests).toEqual([]);
  });

  test('renewal mints a new user; the old one is retired, not revoked', async () => {
    const env = await issued();
    const old = env.secretUser()!.userPublicKey;
    env.clock.now = new Date(env.clock.now.getTime() + 45 * 60_000);
    await env.reconcile();
    expect(env.api.writes()).toEqual(['replaceNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.', 'replaceNamespacedCustomObjectStatus ws1']);
    env.settle();
    expect(env.secretUser()!.userPublicKey).not.toBe(old);
    expect(env.current().status?.retiredUsers).toEqual([{ publicKey: old, expiresAt: expect.any(String) }]);
    expect(env.revoker.requests).toEqual([]);
  });

  test('a spec change re-issues and revokes the replaced user; once confirmed it leaves the status', async () => {
    const env = await issued();
    const old = env.secretUser()!.userPublicKey;
    env.accesses.objects = [{ ...env.current(), spec: { ...env.current().spec, ttl: '2h' } }];
    await env.reconcile();
    env.settle();
    expect(env.revoker.requests).toEqual([{ account: issuerFixture().spec.account.publicKey, accessKey: 'team-a/ws1', users: [old] }]);
    expect(env.current().status?.retiredUsers).toEqual([{ publicKey: old, expiresAt: expect.any(String), revoke: true }]);
    env.revoker.confirmAll();
    await env.reconcile();
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObjectStatus ws1']);
    env.settle();
    expect(env.current().status?.retiredUsers).toBeUndefined();
  });

  test('an edited Secret label is put back without minting, with the creds read from the API server', async () => {
    const env = await issued();
    const user = env.secretUser()!.userPublicKey;
    const secret = env.stored.get('ws1-nats')!;
    env.put({ ...secret, metadata: { ...secret.metadata, labels: { 'natsaccess.io/managed-by': 'someone' } } });
    expect(env.secrets.objects[0]?.data?.[CREDS_KEY]).toBeUndefined();
    await env.reconcile();
    expect(env.api.summary()).toEqual(['listNamespacedSecret', 'readNamespacedSecret ws1-nats', 'replaceNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.']);
    expect(env.api.bodies<V1Secret>('replaceNamespacedSecret')[0]?.data?.[CREDS_KEY]).toBe(secret.data?.[CREDS_KEY]);
    env.settle();
    expect(env.secretUser()!.userPublicKey).toBe(user);
  });

  test('a Secret under a former spec.secret.name is deleted after the new one is written', async () => {
    const env = await issued();
    env.accesses.objects = [{ ...env.current(), spec: { ...env.current().spec, secret: { name: 'renamed' } } }];
    await env.reconcile();
    expect(env.api.writes()).toEqual([
      'createNamespacedSecret renamed',
      'createNamespacedEvent ws1.',
      'replaceNamespacedCustomObjectStatus ws1',
      'deleteNamespacedSecret ws1-nats',
      'createNamespacedEvent ws1.',
    ]);
  });
});

describe('AccessController: failures are reported once, with their reason', () => {
  test.each<[string, Parameters<typeof setup>[0], string, boolean]>([
    ['the issuer does not exist', { issuer: undefined }, Reason.IssuerNotFound, true],
    ['the signing key Secret is missing', { signingKeyFails: new Failure(Reason.SigningKeyNotFound, 'Secret wno-system/k not found', { retry: true }) }, Reason.SigningKeyNotFound, true],
    ['the ttl is not a duration', { access: accessFixture({ ttl: 'soon' as never }) }, Reason.InvalidSpec, false],
    ['the ttl exceeds the issuer maximum', { access: accessFixture({ ttl: '48h' }) }, Reason.PolicyViolation, false],
  ])('%s: Ready=False with its reason and a Warning, then nothing while it stays so', async (_what, options, reason, retry) => {
    const env = setup(options);
    const result = await env.reconcile();
    expect(result).toEqual(retry ? { retry: true } : {});
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObject ws1', 'replaceNamespacedCustomObjectStatus ws1', 'createNamespacedEvent ws1.']);
    const event = env.api.calls.at(-1)!.args.body as { type: string; reason: string };
    expect(event).toMatchObject({ type: 'Warning', reason });
    env.settle();
    await env.reconcile();
    expect(env.api.writes()).toEqual([]);
  });

  test('a programming error is thrown to the work queue, never reported as the user\'s spec', async () => {
    const env = setup({ signingKeyFails: new TypeError('x is undefined') });
    await expect(env.reconcile()).rejects.toThrow(TypeError);
    expect(env.api.writes()).toEqual([]);
  });

  test('a Secret the API server refuses is InvalidSpec with its message', async () => {
    const env = setup();
    env.api.on('createNamespacedSecret', () => {
      throw apiError(422, 'metadata.labels: Invalid value: "-bad"');
    });
    const result = await env.reconcile();
    expect(result).toEqual({});
    const status = (env.api.calls.find((call) => call.method === 'replaceNamespacedCustomObjectStatus')!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]).toMatchObject({ reason: Reason.InvalidSpec, message: 'Secret ws1-nats: HTTP 422: metadata.labels: Invalid value: "-bad"' });
  });

  test('a Secret of the same name owned by someone else: the create is refused, it is a SecretConflict, and it is left alone', async () => {
    const env = setup();
    env.api.on('createNamespacedSecret', () => {
      throw apiError(409, 'secrets "ws1-nats" already exists');
    });
    env.api.on('readNamespacedSecret', () => ({ metadata: { name: 'ws1-nats', namespace: 'team-a', uid: 'other' }, data: {} }));
    await env.reconcile();
    expect(env.api.summary()).toEqual([
      'replaceNamespacedCustomObject ws1',
      'createNamespacedSecret ws1-nats',
      'readNamespacedSecret ws1-nats',
      'replaceNamespacedCustomObjectStatus ws1',
      'createNamespacedEvent ws1.',
    ]);
    const status = (env.api.calls.find((call) => call.method === 'replaceNamespacedCustomObjectStatus')!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]?.reason).toBe(Reason.SecretConflict);
  });

  test('a Secret of its own that the cache lacks (its label removed) is taken back after the create is refused', async () => {
    const first = await issued();
    const ours = first.stored.get('ws1-nats')!;
    const env = setup({ access: first.current() });
    env.api.on('createNamespacedSecret', () => {
      throw apiError(409, 'secrets "ws1-nats" already exists');
    });
    const { labels: _removed, ...unlabelled } = ours.metadata ?? {};
    env.api.on('readNamespacedSecret', () => ({ ...ours, metadata: unlabelled }));
    await env.reconcile();
    // The first plan minted for the create; the second, from the real Secret, keeps its user.
    expect(env.api.writes()).toEqual(['createNamespacedSecret ws1-nats', 'replaceNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.']);
    const replaced = env.api.bodies<V1Secret>('replaceNamespacedSecret')[0]!;
    expect(replaced.data?.[CREDS_KEY]).toBe(ours.data?.[CREDS_KEY]);
    expect(replaced.metadata?.labels).toEqual(ours.metadata?.labels);
  });

  test('what it writes is recorded, so that the watch events echoing it do not wake it', async () => {
    const env = setup();
    await env.reconcile();
    const written = (method: string) => env.api.calls.filter((call) => call.method === method).length;
    expect(written('replaceNamespacedCustomObject') + written('createNamespacedSecret') + written('replaceNamespacedCustomObjectStatus')).toBe(3);
    // The fake API numbers versions from 101: finalizer 101, Secret 102, (Event 103), status 104.
    const woken: string[] = [];
    const change = (kind: string, name: string, resourceVersion: string) =>
      env.ownWrites.onChange(kind, { metadata: { namespace: 'team-a', name, resourceVersion } }, 'update', () => woken.push(`${kind} ${resourceVersion}`));
    change('workspacenatsaccesses', 'ws1', '101');
    change('secrets', 'ws1-nats', '102');
    change('workspacenatsaccesses', 'ws1', '104');
    expect(woken).toEqual([]);
    // Seen once: the same version again, or any other, wakes it.
    change('workspacenatsaccesses', 'ws1', '104');
    expect(woken).toEqual(['workspacenatsaccesses 104']);
    expect(env.ownWrites.size).toBe(0);
  });
});

describe('AccessController: withdrawal when the policy is tightened', () => {
  test('the users are revoked first, and only then the Secret goes', async () => {
    const env = await issued();
    const user = env.secretUser()!.userPublicKey;
    env.issuers.objects = [issuerFixture({ policy: { maxTTL: '30m' } })];
    await env.reconcile();
    expect(env.revoker.requests.map((request) => request.users)).toEqual([[user]]);
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObjectStatus ws1', 'createNamespacedEvent ws1.']);
    env.settle();
    expect(env.current().status?.conditions?.[0]?.message).toMatch(/revoking the users issued before$/);
    env.revoker.confirmAll();
    env.api.on('listNamespacedSecret', () => ({ items: env.secrets.objects }));
    await env.reconcile();
    expect(env.api.summary()).toContain('listNamespacedSecret');
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObjectStatus ws1', 'createNamespacedEvent ws1.', 'deleteNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.']);
    env.settle();
    expect(env.current().status?.conditions?.[0]).toMatchObject({ reason: Reason.PolicyViolation, message: expect.stringMatching(/^spec.ttl: 1h exceeds the maximum 30m/) });
  });
});

describe('AccessController: deletion', () => {
  const deleting = (access: WorkspaceNatsAccess, annotations: Record<string, string> = {}): WorkspaceNatsAccess => ({
    ...access,
    metadata: { ...access.metadata, deletionTimestamp: new Date(), annotations },
  });
  /** The live list returns the cached Secrets, as the API server would. */
  const liveIsCache = (env: Awaited<ReturnType<typeof issued>>) => env.api.on('listNamespacedSecret', () => ({ items: env.secrets.objects }));

  test('revokes every valid user (current and retired) before the Secret and then the finalizer go', async () => {
    const env = await issued();
    const first = env.secretUser()!.userPublicKey;
    env.clock.now = new Date(env.clock.now.getTime() + 45 * 60_000);
    await env.reconcile();
    env.settle();
    const second = env.secretUser()!.userPublicKey;
    env.accesses.objects = [deleting(env.current())];
    liveIsCache(env);

    await env.reconcile();
    expect(env.api.writes()).toEqual([]);
    expect(env.revoker.requests).toHaveLength(1);
    expect(new Set(env.revoker.requests[0]!.users)).toEqual(new Set([first, second]));

    env.revoker.confirmAll();
    await env.reconcile();
    expect(env.api.writes()).toEqual([
      'createNamespacedEvent ws1.',
      'deleteNamespacedSecret ws1-nats',
      'createNamespacedEvent ws1.',
      'replaceNamespacedCustomObject ws1',
    ]);
    const revoked = env.api.calls.find((call) => call.method === 'createNamespacedEvent')!.args.body as { reason: string };
    expect(revoked.reason).toBe('Revoked');
    const last = env.api.calls.at(-1)!.args.body as WorkspaceNatsAccess;
    expect(last.metadata.finalizers).toEqual([]);
  });

  test('a user found only in a live Secret (the cache missed it) is revoked too before anything goes', async () => {
    const env = await issued();
    const user = env.secretUser()!.userPublicKey;
    const cached = env.secrets.objects;
    // Neither the status (a crash between the Secret and status writes) nor the cache know it.
    env.accesses.objects = [deleting({ ...env.current(), status: {} })];
    env.secrets.objects = [];
    env.api.on('listNamespacedSecret', () => ({ items: cached }));
    await env.reconcile();
    expect(env.revoker.requests.map((request) => request.users)).toEqual([[user]]);
    expect(env.api.writes()).toEqual([]);
  });

  test('a failed push keeps the finalizer with RevocationFailed and a Warning', async () => {
    const env = await issued();
    env.accesses.objects = [deleting(env.current())];
    env.revoker.failure = 'no NATS server answered';
    const result = await env.reconcile();
    expect(result).toEqual({ retry: true });
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObjectStatus ws1', 'createNamespacedEvent ws1.']);
    const status = (env.api.calls.at(-2)!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]).toMatchObject({ reason: Reason.RevocationFailed });
    expect(status.conditions?.[0]?.message).toContain('no NATS server answered');
  });

  test('the skip annotation removes it without revoking, with a Warning', async () => {
    const env = await issued();
    env.accesses.objects = [deleting(env.current(), { [SKIP_REVOCATION_ANNOTATION]: 'true' })];
    liveIsCache(env);
    await env.reconcile();
    expect(env.revoker.requests).toEqual([]);
    const skipped = env.api.calls.find((call) => call.method === 'createNamespacedEvent')!.args.body as { type: string; reason: string };
    expect(skipped).toMatchObject({ type: 'Warning', reason: 'RevocationSkipped' });
    expect(env.api.writes().at(-1)).toBe('replaceNamespacedCustomObject ws1');
  });

  test('with its issuer gone, the account comes from the creds; without creds it is RevocationFailed', async () => {
    const env = await issued();
    env.issuers.objects = [];
    env.accesses.objects = [deleting(env.current())];
    await env.reconcile();
    expect(env.revoker.requests.map((request) => request.account)).toEqual([issuerFixture().spec.account.publicKey]);

    env.secrets.objects = [];
    env.api.calls.splice(0);
    await env.reconcile();
    const status = (env.api.calls.find((call) => call.method === 'replaceNamespacedCustomObjectStatus')!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]?.message).toMatch(/is gone, so their account is unknown/);
  });

  test('an access without the finalizer is left alone', async () => {
    const env = setup({ access: deleting(accessFixture()) });
    await env.reconcile();
    expect(env.api.calls).toEqual([]);
  });
});

describe('AccessController: accesses that log in through an auth callout', () => {
  const SENTINEL = new TextEncoder().encode('-----BEGIN NATS USER JWT-----\nsentinel\n------END NATS USER JWT------\n');
  const callout: ClusterNatsAuthCallout = {
    apiVersion: 'natsaccess.io/v1alpha1',
    kind: 'ClusterNatsAuthCallout',
    metadata: { name: 'gitpod' },
    spec: {
      nats: { urls: ['nats://nats:4222'], authUserCredentialsSecretRef: { name: 'auth' }, sentinelCredentialsSecretRef: { name: 'sentinel' } },
      account: { publicKey: `A${'B'.repeat(55)}`, signingKeySecretRef: { name: 'callout-key' } },
      xkeySecretRef: { name: 'xkey' },
      identityProviders: [{ name: 'gitpod', kind: 'OIDC', issuerURL: 'https://api.gitpod.example/idp', audiences: ['nats'], issuers: ['platform'] }],
    },
  };
  const viaCallout = (spec: Partial<WorkspaceNatsAccess['spec']> = {}) => accessFixture({ ttl: '1h', authCalloutRef: { name: 'gitpod' }, ...spec });
  const withCallout = { access: viaCallout(), callouts: [callout], sentinelCreds: SENTINEL };

  test('the Secret holds the sentinel creds and NATS_URL, nothing is minted, and Ready says CalloutReady', async () => {
    const { api, reconcile, stored, settle } = setup(withCallout);
    const result = await reconcile();
    expect(api.writes()).toEqual(['replaceNamespacedCustomObject ws1', 'createNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.', 'replaceNamespacedCustomObjectStatus ws1']);
    const status = (api.calls.at(-1)!.args.body as WorkspaceNatsAccess).status!;
    expect(status.conditions?.[0]).toMatchObject({ status: 'True', reason: Reason.CalloutReady });
    expect(status.userPublicKey).toBeUndefined();
    expect(result.requeueAfterMs).toBeUndefined();
    settle();
    const data = stored.get('ws1-nats')!.data!;
    expect(Buffer.from(data[CREDS_KEY]!, 'base64')).toEqual(Buffer.from(SENTINEL));
  });

  test('a settled access writes nothing; a rotated sentinel is written out again', async () => {
    const env = setup(withCallout);
    await env.reconcile();
    env.settle();
    await env.reconcile();
    expect(env.api.writes()).toEqual([]);
    const rotated = setup({ ...withCallout, sentinelCreds: new TextEncoder().encode('another sentinel') });
    rotated.put(env.stored.get('ws1-nats')!);
    rotated.accesses.objects = [env.current()];
    await rotated.reconcile();
    expect(rotated.api.writes()).toEqual(['replaceNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.']);
  });

  test('a missing callout is CalloutNotFound, and an unreadable sentinel Secret is reported with its name', async () => {
    const missing = setup({ access: viaCallout() });
    await missing.reconcile();
    expect(missing.api.bodies<WorkspaceNatsAccess>('replaceNamespacedCustomObjectStatus').at(-1)?.status?.conditions?.[0]).toMatchObject({ reason: Reason.CalloutNotFound });
    const unreadable = setup({ access: viaCallout(), callouts: [callout] });
    await unreadable.reconcile();
    const statuses = unreadable.api.bodies<WorkspaceNatsAccess>('replaceNamespacedCustomObjectStatus');
    expect(statuses.at(-1)?.status?.conditions?.[0]).toMatchObject({ reason: Reason.NatsCredentialsInvalid, message: 'Secret sentinel not found' });
  });

  test('deletion cuts the logins, then deletes the Secret and removes the finalizer; a failed cut keeps the finalizer', async () => {
    const env = setup(withCallout);
    await env.reconcile();
    env.settle();
    env.api.on('listNamespacedSecret', () => ({ items: env.secrets.objects }));
    env.accesses.objects = [{ ...env.current(), metadata: { ...env.current().metadata, deletionTimestamp: new Date() } }];
    env.revoker.cutResult = 'no NATS server answered';
    await env.reconcile();
    expect(env.revoker.cuts).toEqual([{ account: env.issuers.objects[0]!.spec.account.publicKey, userName: 'team-a/ws1' }]);
    expect(env.api.writes()).toEqual(['replaceNamespacedCustomObjectStatus ws1', 'createNamespacedEvent ws1.']);
    expect(env.api.bodies<WorkspaceNatsAccess>('replaceNamespacedCustomObjectStatus')[0]?.status?.conditions?.[0]).toMatchObject({ reason: Reason.RevocationFailed });
    env.settle();
    env.revoker.cutResult = 2;
    await env.reconcile();
    expect(env.api.writes()).toEqual(['createNamespacedEvent ws1.', 'deleteNamespacedSecret ws1-nats', 'createNamespacedEvent ws1.', 'replaceNamespacedCustomObject ws1']);
    const cut = env.api.bodies<{ reason: string }>('createNamespacedEvent')[0];
    expect(cut?.reason).toBe('LoginsCut');
    // The sentinel is shared: never revoked.
    expect(env.revoker.requests).toEqual([]);
  });

  test('a policy that now refuses the access cuts its logins and deletes its Secret', async () => {
    const env = setup(withCallout);
    await env.reconcile();
    env.settle();
    env.issuers.objects = [issuerFixture({ policy: { maxTTL: '30m' } })];
    await env.reconcile();
    expect(env.revoker.cuts).toHaveLength(1);
    expect(env.api.writes()).toContain('deleteNamespacedSecret ws1-nats');
    expect(env.revoker.requests).toEqual([]);
  });
});
