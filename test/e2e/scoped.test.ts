// Scoped signing keys: the account JWT's template, not the user JWT, decides what a user may do,
// and nats-server enforces it. The operator mints users that carry only tags; and a user JWT forged
// with broad permissions under the scoped key still gets only the template's.

import { encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import { loadEnvState, type EnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  createIssuer,
  OPERATOR_NAMESPACE,
  secretExists,
  SIGNING_KEY_SECRET,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { connectWithCreds, loginOutcome, publishRefusal, roundTrip, subscribeRefusal } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-scoped';
const ISSUER = 'e2e-scoped';
let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;

beforeAll(async () => {
  const env = loadEnvState();
  ({ state, admin, operator } = await startSuite({
    namespaces: [NS],
    issuer: {
      name: ISSUER,
      spec: {
        account: {
          publicKey: env.trust.workspaceAccount.publicKey,
          signingKeySecretRef: { name: 'ws-scoped-signing-key' },
          scoped: { userTags: ['ws:{{workspace.id}}'] },
        },
      },
    },
    prepare: async (clients) => {
      await clients.core.createNamespacedSecret({
        namespace: OPERATOR_NAMESPACE,
        body: { metadata: { name: 'ws-scoped-signing-key' }, stringData: { seed: env.trust.workspaceAccount.scopedSigningKey.seed } },
      });
    },
  }));
});

afterAll(async () => {
  await operator?.stop();
});

async function credsOf(secretName: string): Promise<string> {
  const secret = await admin.core.readNamespacedSecret({ name: secretName, namespace: NS });
  return Buffer.from(secret.data?.['nats.creds'] ?? '', 'base64').toString('utf8');
}

/**
 * Creds of a new user of the WS account, signed by `signer`, with the claims exactly as given
 * (scopedUser: without the library's default limits, as a scoped signing key requires).
 */
async function userCreds(signer: KeyPair, claims: Parameters<typeof encodeUser>[3], scopedUser: boolean): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser('e2e-scoped', user, state.trust.workspaceAccount.publicKey, claims, {
    signer,
    scopedUser,
    exp: Math.floor(Date.now() / 1000) + 600,
  });
  return new TextDecoder().decode(fmtCreds(jwt, user));
}

const keyPair = (seed: string) => fromSeed(new TextEncoder().encode(seed));

test("a user minted under the scoped key gets exactly the template's subjects for its workspace", async () => {
  await createAccess(admin.custom, NS, accessBody('scoped-a', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'scoped-a');
  const nc = await connectWithCreds(state.nats.urls, await credsOf('scoped-a-nats'));
  // Nobody the template makes may publish into an inbox unprompted: a user signed by the account's
  // plain signing key does it, to show that the scoped user receives there.
  const inboxWriter = await connectWithCreds(
    state.nats.urls,
    await userCreds(keyPair(state.trust.workspaceAccount.signingKey.seed), { pub: { allow: ['_INBOX_scoped-a.>'] } }, false),
  );
  try {
    expect(await roundTrip(nc, nc, 'ws.scoped-a.events')).toBe('hello');
    expect(await roundTrip(nc, inboxWriter, '_INBOX_scoped-a.x')).toBe('hello');
    expect(await publishRefusal(nc, 'ws.scoped-b.events')).toBe('Permissions Violation for Publish to "ws.scoped-b.events"');
    expect(await subscribeRefusal(nc, 'ws.>')).toBe('Permissions Violation for Subscription to "ws.>"');
  } finally {
    await Promise.all([nc.close(), inboxWriter.close()]);
  }
});

test('an access under a scoped issuer may not set permissions of its own', async () => {
  await createAccess(
    admin.custom,
    NS,
    accessBody('scoped-greedy', { issuerRef: { name: ISSUER }, permissions: { publish: { allow: ['ws.scoped-greedy.>'] } } }),
  );
  const access = await waitForReady(admin.custom, NS, 'scoped-greedy', 'False', 'PolicyViolation');
  expect(access.status?.conditions?.[0]?.message).toContain('spec.permissions: issuer e2e-scoped mints under a scoped signing key');
});

test('a user JWT forged under the scoped key gets no more than the template', async () => {
  const forge = (claims: Parameters<typeof encodeUser>[3]) =>
    userCreds(keyPair(state.trust.workspaceAccount.scopedSigningKey.seed), claims, true);

  // Permissions of its own: nats-server refuses a scoped user that carries any.
  const broad = await forge({ pub: { allow: ['>'] }, sub: { allow: ['>'] }, tags: ['ws:victim'] });
  expect(await loginOutcome(state.nats.urls, broad)).toBe('Authorization Violation');

  // Tags only: the server applies the template, and nothing beyond it.
  const nc = await connectWithCreds(state.nats.urls, await forge({ tags: ['ws:victim'] }));
  try {
    expect(await roundTrip(nc, nc, 'ws.victim.events')).toBe('hello');
    expect(await publishRefusal(nc, 'other.subject')).toBe('Permissions Violation for Publish to "other.subject"');
    expect(await subscribeRefusal(nc, '>')).toBe('Permissions Violation for Subscription to ">"');
  } finally {
    await nc.close();
  }
});

describe('the issuer checks its signing key against the account JWT on NATS', () => {
  const mismatched = async (name: string, account: Record<string, unknown>, prepare?: () => Promise<void>) => {
    await prepare?.();
    await createIssuer(admin, state, name, { account: { publicKey: state.trust.workspaceAccount.publicKey, ...account } as never });
    const issuer = await waitFor(
      async () => {
        const current = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name })) as ClusterNatsIssuer;
        return current.status?.conditions?.find((c) => c.type === 'Ready' && c.reason === 'AccountMismatch') ? current : undefined;
      },
      { what: `issuer ${name} AccountMismatch`, timeoutMs: 30_000 },
    );
    const message = issuer.status?.conditions?.[0]?.message ?? '';
    // Its accesses get nothing: NATS would refuse their users, or nothing would bound them.
    await createAccess(admin.custom, NS, accessBody(`of-${name}`, { issuerRef: { name } }));
    const access = await waitForReady(admin.custom, NS, `of-${name}`, 'False', 'AccountMismatch');
    expect(access.status?.conditions?.[0]?.message).toBe(`ClusterNatsIssuer ${name}: ${message}`);
    expect(await secretExists(admin.core, NS, `of-${name}-nats`)).toBe(false);
    return message;
  };

  test('a signing key the account JWT does not list', async () => {
    const stranger = createAccount();
    const message = await mismatched('e2e-unlisted-key', { signingKeySecretRef: { name: 'unlisted-signing-key' } }, async () => {
      await admin.core.createNamespacedSecret({
        namespace: OPERATOR_NAMESPACE,
        body: { metadata: { name: 'unlisted-signing-key' }, stringData: { seed: new TextDecoder().decode(stranger.getSeed()) } },
      });
    });
    expect(message).toBe(
      `The JWT of account ${state.trust.workspaceAccount.publicKey} does not list signing key ${stranger.getPublicKey()}: NATS would refuse the users it signs`,
    );
  });

  test('a plain signing key under a scoped issuer', async () => {
    const message = await mismatched('e2e-plain-as-scoped', {
      signingKeySecretRef: { name: SIGNING_KEY_SECRET },
      scoped: { userTags: ['ws:{{workspace.id}}'] },
    });
    expect(message).toContain('spec.account.scoped is set, but');
  });

  test('a scoped signing key under an issuer that is not scoped', async () => {
    const message = await mismatched('e2e-scoped-as-plain', { signingKeySecretRef: { name: 'ws-scoped-signing-key' } });
    expect(message).toContain(`${state.trust.workspaceAccount.scopedSigningKey.publicKey} is a scoped signing key of account`);
  });
});
