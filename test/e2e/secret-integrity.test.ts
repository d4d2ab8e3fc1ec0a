// The Secret holds what the operator minted, and nothing else for long: credentials are renewed
// before they expire, planted or unlabelled ones are replaced, and a Secret name taken by someone
// else is reported, not overwritten.

import { encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createUser } from '@nats-io/nkeys';
import {
  ACCESS_NAME_LABEL,
  ACCESS_PLURAL,
  CREDS_KEY,
  GROUP,
  MANAGED_BY_LABEL,
  VERSION,
} from '../../src/api/constants.ts';
import { readCredentials } from '../../src/nats/credentials.ts';
import type { EnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  eventsOf,
  getAccess,
  operatorOutputIn,
  secretMaterialIn,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { scrapeMetrics } from '../env/metrics.ts';
import { connectWithCreds, roundTrip } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-integrity';
const ISSUER = 'e2e-integrity';
let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;

beforeAll(async () => {
  ({ state, admin, operator } = await startSuite({ issuer: { name: ISSUER }, namespaces: [NS] }));
});

afterAll(async () => {
  await operator?.stop();
});

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

async function readSecret(name: string) {
  return admin.core.readNamespacedSecret({ name, namespace: NS });
}

function credsIn(secret: { data?: Record<string, string> }): string {
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
}

test('short-lived credentials are renewed into the same Secret before they expire', async () => {
  await createAccess(admin.custom, NS, accessBody('short', { issuerRef: { name: ISSUER }, permissions, ttl: '12s' }));
  const first = await waitForReady(admin.custom, NS, 'short');
  // renewBefore (5s), plus a jitter under a tenth of it, in whole seconds.
  expect([-5000, -6000]).toContain(Date.parse(first.status?.renewAt ?? '') - Date.parse(first.status?.expiresAt ?? ''));
  const firstSecret = await readSecret('short-nats');

  const renewed = await waitFor(
    async () => {
      const access = await getAccess(admin.custom, NS, 'short');
      return access?.status?.userPublicKey !== first.status?.userPublicKey ? access : undefined;
    },
    { what: 'a renewal', timeoutMs: 20_000 },
  );
  // Renewed in place, before the first JWT expired.
  const secret = await readSecret('short-nats');
  expect(secret.metadata?.uid).toBe(firstSecret.metadata?.uid);
  expect(Date.parse(renewed.status?.issuedAt ?? '')).toBeLessThan(Date.parse(first.status?.expiresAt ?? ''));
  expect(readCredentials(credsIn(secret)).userPublicKey).toBe(renewed.status?.userPublicKey);
  expect((await eventsOf(admin.core, NS, 'short')).some((e) => e.startsWith('Normal/Renewed: '))).toBe(true);
  const nc = await connectWithCreds(state.nats.urls, credsIn(secret));
  try {
    expect(await roundTrip(nc, nc, 'ws.short.ok')).toBe('hello');
  } finally {
    await nc.close();
  }
  // Left behind, it would renew every few seconds for the rest of the run.
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name: 'short' });
  await waitFor(async () => ((await getAccess(admin.custom, NS, 'short')) ? undefined : true), {
    what: 'short to be deleted',
    timeoutMs: 30_000,
  });
});

test('planted credentials (a JWT of the account, not signed by the issuer) are replaced', async () => {
  await createAccess(admin.custom, NS, accessBody('planted', { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, 'planted');
  // Right account, an expiry, broad permissions, but signed by a key the issuer does not use.
  const intruder = createUser();
  const jwt = await encodeUser('intruder', intruder, state.trust.workspaceAccount.publicKey, {}, {
    signer: createAccount(),
    exp: Math.floor(Date.now() / 1000) + 3600,
  });
  const secret = await readSecret('planted-nats');
  await admin.core.replaceNamespacedSecret({
    name: 'planted-nats',
    namespace: NS,
    body: { ...secret, data: { ...secret.data, [CREDS_KEY]: Buffer.from(fmtCreds(jwt, intruder)).toString('base64') } },
  });
  const replaced = await waitFor(
    async () => {
      const current = readCredentials(credsIn(await readSecret('planted-nats')));
      return current.userPublicKey !== intruder.getPublicKey() ? current : undefined;
    },
    { what: 'the planted creds to be replaced', timeoutMs: 30_000 },
  );
  const access = await waitFor(
    async () => {
      const a = await getAccess(admin.custom, NS, 'planted');
      return a?.status?.userPublicKey === replaced.userPublicKey ? a : undefined;
    },
    { what: 'status to name the new user', timeoutMs: 30_000 },
  );
  expect(access.status?.conditions?.[0]?.reason).toBe('Issued');
  expect(
    (await eventsOf(admin.core, NS, 'planted')).some(
      (e) => e.startsWith('Normal/Reissued: ') && e.includes(`did not mint: the user JWT was signed by A`),
    ),
  ).toBe(true);
});

test('a Secret stripped of the operator’s label is taken back', async () => {
  await createAccess(admin.custom, NS, accessBody('stripped', { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, 'stripped');
  const secret = await readSecret('stripped-nats');
  // Both labels go: the operator must find its Secret by its controller reference and its name.
  const labels = { ...secret.metadata?.labels };
  delete labels[MANAGED_BY_LABEL];
  delete labels[ACCESS_NAME_LABEL];
  await admin.core.replaceNamespacedSecret({
    name: 'stripped-nats',
    namespace: NS,
    body: { ...secret, metadata: { ...secret.metadata, labels } },
  });
  const restored = await waitFor(
    async () => {
      const s = await readSecret('stripped-nats');
      return s.metadata?.labels?.[MANAGED_BY_LABEL] ? s : undefined;
    },
    { what: 'the label to be restored', timeoutMs: 30_000 },
  );
  expect(restored.metadata?.uid).toBe(secret.metadata?.uid);
  expect(restored.metadata?.labels?.[ACCESS_NAME_LABEL]).toBe('stripped');
  // Taken back as it was: same credentials, no new user.
  const access = await waitForReady(admin.custom, NS, 'stripped');
  expect(credsIn(restored)).toBe(credsIn(secret));
  expect(readCredentials(credsIn(restored)).userPublicKey).toBe(access.status?.userPublicKey);
  // The Event is sent beside the Secret's write, not before it: it may come a moment after the label.
  await waitFor(async () => ((await eventsOf(admin.core, NS, 'stripped')).some((e) => e.startsWith('Normal/SecretRestored: ')) ? true : undefined), {
    what: 'a SecretRestored Event',
    timeoutMs: 15_000,
  });
});

test('an immutable Secret is replaced by a new one when the credentials change', async () => {
  await createAccess(admin.custom, NS, accessBody('frozen', { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, 'frozen');
  const secret = await readSecret('frozen-nats');
  await admin.core.replaceNamespacedSecret({ name: 'frozen-nats', namespace: NS, body: { ...secret, immutable: true } });
  await admin.custom.patchNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ACCESS_PLURAL,
    namespace: NS,
    name: 'frozen',
    body: [{ op: 'add', path: '/spec/ttl', value: '2h' }],
  });
  const replaced = await waitFor(
    async () => {
      const s = await readSecret('frozen-nats').catch(() => undefined);
      return s && s.metadata?.uid !== secret.metadata?.uid ? s : undefined;
    },
    { what: 'a new Secret', timeoutMs: 30_000 },
  );
  const access = await waitFor(
    async () => {
      const a = await getAccess(admin.custom, NS, 'frozen');
      return a?.status?.observedGeneration === 2 && a.status.conditions?.[0]?.status === 'True' ? a : undefined;
    },
    { what: 'frozen to be Ready at generation 2', timeoutMs: 30_000 },
  );
  expect(readCredentials(credsIn(replaced)).userPublicKey).toBe(access.status?.userPublicKey);
  expect(Date.parse(access.status?.expiresAt ?? '') - Date.parse(access.status?.issuedAt ?? '')).toBeGreaterThan(7_000_000);
});

test('a Secret name taken by someone else is a SecretConflict, and their Secret is left alone', async () => {
  await admin.core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'taken-nats' }, stringData: { mine: 'keep me' } },
  });
  await createAccess(admin.custom, NS, accessBody('taken', { issuerRef: { name: ISSUER }, permissions }));
  const access = await waitForReady(admin.custom, NS, 'taken', 'False', 'SecretConflict');
  expect(access.status?.conditions?.[0]?.message).toBe(
    'Secret taken-nats already exists and is not owned by this WorkspaceNatsAccess',
  );
  await waitFor(async () => ((await eventsOf(admin.core, NS, 'taken')).some((e) => e.startsWith('Warning/SecretConflict: ')) ? true : undefined), {
    what: 'a SecretConflict Event',
    timeoutMs: 10_000,
  });
  const theirs = await readSecret('taken-nats');
  expect(theirs.data).toEqual({ mine: Buffer.from('keep me').toString('base64') });
  expect(theirs.metadata?.ownerReferences).toBeUndefined();
});

test('no seed or JWT appears in the operator’s log (audit lines too), its Events, any status or its metrics', async () => {
  // An issuance of this test's own, so that there is something to leak whatever ran before; a
  // client of it connects, for the audit to see.
  await createAccess(admin.custom, NS, accessBody('scanned', { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, 'scanned');
  const nc = await connectWithCreds(state.nats.urls, credsIn(await readSecret('scanned-nats')));
  await nc.close();
  await operator.waitForLog('nats disconnect', 15_000);
  const metrics = await scrapeMetrics(operator.metricsUrl);
  const found = secretMaterialIn(operator.log() + (await operatorOutputIn(admin, NS)) + metrics.text);
  expect(found).toEqual([]);
  // The scan does find them where they are: a seed and a JWT in the creds.
  expect(secretMaterialIn(credsIn(await readSecret('scanned-nats')))).toHaveLength(2);
});
