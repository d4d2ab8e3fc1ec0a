import type { V1Secret } from '@kubernetes/client-node';
import { encodeUser, fmtCreds, type User } from '@nats-io/jwt';
import { createAccount, createUser, type KeyPair } from '@nats-io/nkeys';
import { CREDS_KEY, ISSUED_FOR_ANNOTATION, URL_KEY } from '../../src/api/constants.ts';
import { desiredSecret, isControlledBy, secretDiffers } from '../../src/controller/access-secret.ts';
import {
  issueTrigger,
  renewalTime,
} from '../../src/controller/issuance-policies.ts';
import { issuedCredentials, trimCreds } from '../../src/controller/secret-creds.ts';
import { setCondition } from '../../src/kube/conditions.ts';
import { resolveGrant } from '../../src/policy/grant.ts';
import { access, issuer } from './fixtures.ts';

const theAccess = access();
const desired = resolveGrant({ access: theAccess, issuer: issuer(), namespaceLabels: {}, now: new Date() });
const now = new Date('2026-01-01T12:00:00Z');
const signingKey = createAccount();

interface Minting {
  expiresAt?: Date;
  fingerprint?: string;
  signer?: KeyPair;
  account?: string;
}

/** A Secret as the operator writes it, with creds minted as `minting` says. */
async function secretWith(minting: Minting = {}): Promise<V1Secret> {
  const user = createUser();
  const signer = minting.signer ?? signingKey;
  const jwt = await encodeUser('x', user, minting.account ?? desired.accountPublicKey, desired.grant as Partial<User>, {
    signer,
    ...(minting.expiresAt === undefined ? {} : { exp: Math.floor(minting.expiresAt.getTime() / 1000) }),
  });
  const creds = Buffer.from(fmtCreds(jwt, user)).toString('base64');
  const secret = desiredSecret(theAccess, desired, creds);
  secret.metadata!.annotations![ISSUED_FOR_ANNOTATION] = minting.fingerprint ?? desired.fingerprint;
  return secret;
}

describe('issueTrigger', () => {
  const input = (secret: V1Secret | undefined) => ({
    secretName: 'ws1-nats',
    secret,
    desired,
    signingKeyPublicKey: signingKey.getPublicKey(),
    now,
  });
  const inAnHour = new Date(now.getTime() + 3_600_000);

  test.each([
    ['no Secret', async () => undefined, 'SecretMissing'],
    [
      'a Secret without creds',
      async () => ({ ...(await secretWith({ expiresAt: inAnHour })), data: { [URL_KEY]: 'eA==' } }),
      'CredentialsUnreadable',
    ],
    [
      'a Secret with garbage creds',
      async () => ({ ...(await secretWith({ expiresAt: inAnHour })), data: { [CREDS_KEY]: Buffer.from('x').toString('base64') } }),
      'CredentialsUnreadable',
    ],
    ['creds of another account', async () => secretWith({ expiresAt: inAnHour, account: createAccount().getPublicKey() }), 'CredentialsUntrusted'],
    ['creds signed by another key of the account', async () => secretWith({ expiresAt: inAnHour, signer: createAccount() }), 'CredentialsUntrusted'],
    ['creds that never expire', async () => secretWith(), 'CredentialsUntrusted'],
    ['creds minted for another spec', async () => secretWith({ expiresAt: inAnHour, fingerprint: 'other' }), 'SpecChanged'],
    ['creds inside the renewal window', async () => secretWith({ expiresAt: new Date(now.getTime() + 60_000) }), 'Renewal'],
    ['expired creds', async () => secretWith({ expiresAt: new Date(now.getTime() - 1000) }), 'Renewal'],
    ['current creds', async () => secretWith({ expiresAt: inAnHour }), undefined],
  ])('%s: %s', async (_what, make, reason) => {
    expect(issueTrigger(input(await make()))?.reason).toBe(reason);
  });

  test('creds signed by the account key itself are trusted', async () => {
    const account = createAccount();
    const own = resolveGrant({ access: theAccess, issuer: issuer({ account: { publicKey: account.getPublicKey(), signingKeySecretRef: { name: 'k' } } }), namespaceLabels: {}, now: new Date() });
    const user = createUser();
    const jwt = await encodeUser('x', user, account, own.grant as Partial<User>, { exp: Math.floor(inAnHour.getTime() / 1000) });
    const secret = desiredSecret(theAccess, own, Buffer.from(fmtCreds(jwt, user)).toString('base64'));
    expect(issueTrigger({ ...input(secret), desired: own })).toBeUndefined();
  });

  test('an untrusted credential is described without quoting it', async () => {
    const trigger = issueTrigger(input(await secretWith({ expiresAt: inAnHour, signer: createAccount() })));
    expect(trigger?.message).toMatch(/^Secret ws1-nats holds credentials the operator did not mint: the user JWT was signed by A[A-Z2-7]{55}, not by the issuer's signing key A[A-Z2-7]{55}$/);
  });

  test('renewal is due renewBefore ahead of expiry, up to a tenth of it earlier, fixed per user', async () => {
    const times = [];
    for (let i = 0; i < 20; i++) {
      const issued = { expiresAt: inAnHour, userPublicKey: createUser().getPublicKey() };
      const at = renewalTime(issued, desired.renewBeforeMs);
      expect(renewalTime(issued, desired.renewBeforeMs)).toEqual(at);
      times.push(at.getTime());
    }
    // renewBefore is 20 minutes: renewal falls between 22 and 20 minutes before expiry.
    const latest = Date.parse('2026-01-01T12:40:00.000Z');
    for (const time of times) expect(latest - time).toBeGreaterThanOrEqual(0);
    for (const time of times) expect(latest - time).toBeLessThan(120_000);
    expect(new Set(times).size).toBeGreaterThan(15);
  });
});

describe('the Secret', () => {
  test('carries creds, URL, the operator labels, the fingerprint and a controller reference', () => {
    const secret = desiredSecret(
      access({ secret: { name: 'custom', labels: { team: 'a' }, annotations: { note: 'n' } } }),
      desired,
      'Y3JlZHM=',
    );
    expect(secret.metadata).toMatchObject({
      name: 'custom',
      namespace: 'team-a',
      labels: { team: 'a', 'app.kubernetes.io/managed-by': 'workspace-nats-operator', 'natsaccess.io/access': 'ws1' },
      annotations: { note: 'n', [ISSUED_FOR_ANNOTATION]: desired.fingerprint },
      ownerReferences: [{ kind: 'WorkspaceNatsAccess', name: 'ws1', uid: 'uid-1', controller: true }],
    });
    expect(secret.data).toEqual({ [CREDS_KEY]: 'Y3JlZHM=', [URL_KEY]: Buffer.from('nats://a:4222,nats://b:4222').toString('base64') });
    expect(isControlledBy(secret, theAccess)).toBe(true);
    expect(isControlledBy(secret, { ...theAccess, metadata: { ...theAccess.metadata, uid: 'other' } })).toBe(false);
  });

  test('differs when data, labels or owner were edited, not when someone added a label', () => {
    const wanted = desiredSecret(theAccess, desired, 'Y3JlZHM=');
    expect(secretDiffers(structuredClone(wanted), wanted)).toBe(false);
    const labelled = structuredClone(wanted);
    labelled.metadata!.labels!.extra = 'x';
    expect(secretDiffers(labelled, desiredSecret(theAccess, desired, 'Y3JlZHM=', labelled))).toBe(false);
    const edited = structuredClone(wanted);
    edited.data![URL_KEY] = 'eA==';
    expect(secretDiffers(edited, wanted)).toBe(true);
    const extraKey = structuredClone(wanted);
    extraKey.data!.more = 'eA==';
    expect(secretDiffers(extraKey, wanted)).toBe(true);
    const unlabelled = structuredClone(wanted);
    delete unlabelled.metadata!.labels!['app.kubernetes.io/managed-by'];
    expect(secretDiffers(unlabelled, wanted)).toBe(true);
    const orphaned = structuredClone(wanted);
    orphaned.metadata!.ownerReferences = [];
    expect(secretDiffers(orphaned, wanted)).toBe(true);
  });
});

describe('setCondition', () => {
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-02T00:00:00Z');

  test('moves lastTransitionTime only when the status changes', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t1);
    const sameStatus = setCondition(first, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t2);
    expect(sameStatus).toEqual([{ type: 'Ready', status: 'False', reason: 'B', message: 'b', lastTransitionTime: t1.toISOString() }]);
    const flipped = setCondition(sameStatus, { type: 'Ready', status: 'True', reason: 'C', message: 'c' }, t2);
    expect(flipped[0]?.lastTransitionTime).toBe(t2.toISOString());
  });

  test('keeps one entry per type, in a stable order', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'R', message: '' }, t1);
    const b = setCondition(a, { type: 'Degraded', status: 'False', reason: 'D', message: '' }, t1);
    expect(b.map((c) => c.type)).toEqual(['Degraded', 'Ready']);
  });
});

describe('a Secret kept in the cache without its creds text', () => {
  test('reads as before, and holds nothing of the creds file', async () => {
    const secret = await secretWith({ expiresAt: new Date(now.getTime() + 3_600_000) });
    const whole = structuredClone(secret);
    trimCreds(secret);
    expect(secret.data?.[CREDS_KEY]).toBeUndefined();
    expect(JSON.stringify(secret)).not.toContain(whole.data?.[CREDS_KEY]);
    expect(issuedCredentials(secret)).toEqual(issuedCredentials(whole));
    expect(issueTrigger({ secretName: 'ws1-nats', secret, desired, signingKeyPublicKey: signingKey.getPublicKey(), now })).toEqual(
      issueTrigger({ secretName: 'ws1-nats', secret: whole, desired, signingKeyPublicKey: signingKey.getPublicKey(), now }),
    );
  });

  test('a copy of it that lost the creds key reads as missing creds', async () => {
    const secret = await secretWith();
    trimCreds(secret);
    const copy = structuredClone(secret);
    expect(issuedCredentials(copy)).toEqual({ ok: false, message: `key ${CREDS_KEY} is missing` });
  });

  test('differs from what is wanted as the whole Secret would, the creds aside', async () => {
    const secret = await secretWith();
    const wanted = desiredSecret(theAccess, desired, 'b3RoZXI=', secret);
    trimCreds(secret);
    expect(secretDiffers(secret, wanted)).toBe(false);
    const labelled = structuredClone(wanted);
    labelled.metadata!.labels!['app.kubernetes.io/managed-by'] = 'someone';
    expect(secretDiffers(secret, labelled)).toBe(true);
    const withoutCreds = structuredClone(wanted);
    delete withoutCreds.data![CREDS_KEY];
    expect(secretDiffers(secret, withoutCreds)).toBe(true);
  });
});
