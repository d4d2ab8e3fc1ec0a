// The auth callout against a real nats-server (operator mode, full resolver, the AUTH callout account
// configured through its account JWT with an xkey) and the real API server: a workspace logs in with
// a GitPod-shaped ID token from a test identity provider of our own, or with a pod's ServiceAccount
// token from the API server, and gets exactly its live access's grant; everything else is refused,
// with the reason in the operator's log; deleting the access cuts the login.

import type { NatsConnection } from '@nats-io/transport-node';
import type { IdentityProvider } from '../../src/api/cluster-nats-auth-callout.ts';
import { CALLOUT_PLURAL, CREDS_KEY, GROUP, VERSION } from '../../src/api/constants.ts';
import { Reason } from '../../src/api/reasons.ts';
import { accessBody, createAccess, createBinding, getAccess, operatorOutputIn, secretMaterialIn, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { gitpodClaims, startTestIdp, type TestIdp } from '../env/idp.ts';
import { ACCEPTED, closeReason, connectWithCreds, connectWithToken, publishRefusal, roundTrip, subscribeRefusal, tokenLoginOutcome } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import type { EnvState } from '../env/state.ts';
import { calloutBody, createCallout, createCalloutSecrets, getCallout, waitForCalloutReady } from './support/callout.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-callout';
const ISSUER = 'e2e-callout';
const CALLOUT = 'e2e-callout';
const ORG = 'org-a';
const AUDIENCE = 'nats';
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const DENIED = 'Authorization Violation';
const permissions = {
  publish: { allow: ['ws.{{workspace.id}}.>'] },
  subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX.>'] },
};

let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;
let idp: TestIdp;
let urls: string[];
let sentinel: string;

/** The operator's count of callout requests denied for `reason`. */
async function deniedCount(reason: string): Promise<number> {
  const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('workspace_nats_operator_callout_requests_total{') && l.includes(`result="denied"`) && l.includes(`reason="${reason}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const calloutAccess = (name: string, id: string, extra: object = {}) =>
  accessBody(name, { issuerRef: { name: ISSUER }, authCalloutRef: { name: CALLOUT }, workspace: { id, owner: 'user-1' }, permissions, ...extra });

const gitpodToken = (workspaceId: string, options: Parameters<TestIdp['sign']>[1] = {}, org = ORG) =>
  idp.sign(gitpodClaims({ workspaceId, orgId: org, userId: 'user-1', audience: AUDIENCE }), options);

/** The last denial the operator logged, for timeout messages. */
const lastDenial = () => operator.log().split('\n').filter((line) => line.includes('"msg":"callout login denied"')).at(-1) ?? 'none logged';

/** Waits until the operator has logged a denial with `reason` (its log is written asynchronously). */
const deniedInLog = (reason: string) =>
  waitFor(async () => (operator.log().split('\n').some((line) => line.includes('"msg":"callout login denied"') && line.includes(`"reason":"${reason}"`)) ? true : undefined), {
    what: `a "callout login denied" line with reason ${reason}`,
    timeoutMs: 10_000,
  });

beforeAll(async () => {
  idp = await startTestIdp();
  ({ state, admin, operator } = await startSuite({
    issuer: { name: ISSUER },
    namespaces: [NS],
    prepare: async (clients, env) => {
      await createCalloutSecrets(clients, env.trust);
      const providers: IdentityProvider[] = [
        { name: 'gitpod', kind: 'OIDC', issuerURL: idp.issuer, audiences: [AUDIENCE], orgs: [ORG], issuers: [ISSUER] },
        { name: 'pods', kind: 'KubernetesServiceAccount', issuerURL: SA_ISSUER, audiences: [AUDIENCE], issuers: [ISSUER] },
      ];
      await createCallout(clients, calloutBody(CALLOUT, env.trust, env.nats.urls, providers));
    },
  }));
  urls = state.nats.urls;
  sentinel = state.trust.calloutAccount.sentinel.creds;
  await waitForCalloutReady(admin, CALLOUT);
}, 120_000);

afterAll(async () => {
  // Gone with the suite: another callout on the environment's callout account would not be served.
  await admin?.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name: CALLOUT }).catch(() => undefined);
  await operator?.stop();
  await idp?.stop();
});

test('the callout reports Ready with the providers\' key ids and the servers holding its subscription', async () => {
  const callout = await getCallout(admin, CALLOUT);
  const ready = callout.status?.conditions?.find((c) => c.type === 'Ready');
  expect(ready?.reason).toBe(Reason.Serving);
  expect(callout.status?.servers).toBe(urls.length);
  const gitpod = callout.status?.identityProviders?.find((provider) => provider.name === 'gitpod');
  expect(gitpod?.keyIds).toEqual(idp.publishedKids);
  expect(callout.status?.identityProviders?.find((provider) => provider.name === 'pods')?.keyIds?.length).toBeGreaterThan(0);
});

test('a second callout on the same callout account is not served, and says which one is', async () => {
  const body = calloutBody('e2e-callout-twin', state.trust, urls, [{ name: 'gitpod', kind: 'OIDC', issuerURL: idp.issuer, audiences: [AUDIENCE], issuers: [ISSUER] }]);
  await createCallout(admin, body);
  try {
    const twin = await waitFor(
      async () => {
        const current = await getCallout(admin, 'e2e-callout-twin');
        return current.status?.conditions?.find((c) => c.type === 'Ready')?.reason === Reason.AccountInUse ? current : undefined;
      },
      { what: 'the twin callout to report AccountInUse', timeoutMs: 30_000 },
    );
    expect(twin.status?.conditions?.[0]?.message).toContain(`callout ${CALLOUT} serves account`);
    expect((await getCallout(admin, CALLOUT)).status?.conditions?.[0]?.reason).toBe(Reason.Serving);
  } finally {
    await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name: 'e2e-callout-twin' });
  }
});

test("an access using the callout gets the sentinel's creds in its Secret, and no minted user", async () => {
  await createAccess(admin.custom, NS, calloutAccess('ws-secret', 'ws-secret'));
  const access = await waitForReady(admin.custom, NS, 'ws-secret', 'True', Reason.CalloutReady);
  expect(access.status?.userPublicKey).toBeUndefined();
  const secret = await admin.core.readNamespacedSecret({ name: 'ws-secret-nats', namespace: NS });
  const creds = Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
  // Compared as a boolean: a failing expectation would print the creds.
  expect(creds === sentinel).toBe(true);
});

test("a GitPod token of a live workspace logs in with exactly its access's grant", async () => {
  await createAccess(admin.custom, NS, calloutAccess('ws-alpha', 'ws-alpha'));
  await waitForReady(admin.custom, NS, 'ws-alpha', 'True', Reason.CalloutReady);
  const nc = await connectWithToken(urls, sentinel, await gitpodToken('ws-alpha'));
  try {
    expect(await roundTrip(nc, nc, 'ws.ws-alpha.hello')).toBe('hello');
    expect(await publishRefusal(nc, 'ws.ws-other.hello')).toMatch(/^Permissions Violation for Publish/);
  } finally {
    await nc.close();
  }
  const wide = await connectWithToken(urls, sentinel, await gitpodToken('ws-alpha'));
  try {
    expect(await subscribeRefusal(wide, '>')).toMatch(/^Permissions Violation for Subscription/);
  } finally {
    await wide.close();
  }
});

describe('refused, with the reason in the operator log', () => {
  beforeAll(async () => {
    await createAccess(admin.custom, NS, calloutAccess('ws-refused', 'ws-refused'));
    await waitForReady(admin.custom, NS, 'ws-refused', 'True', Reason.CalloutReady);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, string, () => Promise<string>][] = [
    ['wrong audience', 'WrongAudience', () => gitpodToken('ws-refused', { audience: 'not-nats' })],
    ['wrong issuer', 'UnknownIssuer', () => gitpodToken('ws-refused', { issuer: 'https://idp.example.com/idp' })],
    ['expired', 'TokenExpired', () => gitpodToken('ws-refused', { issuedAt: now() - 7200, expiresAt: now() - 3600 })],
    ['not yet valid', 'TokenNotYetValid', () => gitpodToken('ws-refused', { notBefore: now() + 600 })],
    ['bad signature', 'BadSignature', () => gitpodToken('ws-refused', { forge: 'bad-signature' })],
    ['alg none', 'AlgorithmNotAllowed', async () => idp.unsigned(gitpodClaims({ workspaceId: 'ws-refused', orgId: ORG, userId: 'user-1', audience: AUDIENCE }))],
    ['a workspace with no access', 'NoAccess', () => gitpodToken('ws-nowhere')],
    ['another org', 'OrgNotAllowed', () => gitpodToken('ws-refused', {}, 'org-b')],
  ];
  test.each(cases)('%s', async (_what, reason, token) => {
    const before = await deniedCount(reason);
    expect(await tokenLoginOutcome(urls, sentinel, await token())).toBe(DENIED);
    await deniedInLog(reason);
    expect(await deniedCount(reason)).toBe(before + 1);
  });

  test('an unknown kid, after the callout fetched the keys again (at most once per cooldown)', async () => {
    const before = idp.requests;
    // Each try is refused; once the cooldown since the last fetch is over, a try fetches again.
    await waitFor(
      async () => {
        expect(await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-refused', { forge: 'unknown-kid' }))).toBe(DENIED);
        return idp.requests > before ? true : undefined;
      },
      { what: 'the callout to fetch the JWKS again', timeoutMs: 30_000, intervalMs: 1000 },
    );
    await deniedInLog('UnknownKey');
  });

  test('a workspace whose access is being deleted', async () => {
    const hold = 'e2e.natsaccess.io/hold';
    await createAccess(admin.custom, NS, { ...calloutAccess('ws-leaving', 'ws-leaving'), metadata: { name: 'ws-leaving', finalizers: [hold] } });
    await waitForReady(admin.custom, NS, 'ws-leaving', 'True', Reason.CalloutReady);
    await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'workspacenatsaccesses', namespace: NS, name: 'ws-leaving' });
    try {
      expect(await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-leaving'))).toBe(DENIED);
      await deniedInLog('AccessDeleting');
    } finally {
      const access = await getAccess(admin.custom, NS, 'ws-leaving');
      if (access) {
        const finalizers = (access.metadata.finalizers ?? []).filter((f) => f !== hold);
        await admin.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'workspacenatsaccesses', namespace: NS, name: 'ws-leaving', body: { ...access, metadata: { ...access.metadata, finalizers } } });
      }
    }
  });
});

test('deleting the access cuts its live login, and the same token is refused afterwards', async () => {
  await createAccess(admin.custom, NS, calloutAccess('ws-cut', 'ws-cut'));
  await waitForReady(admin.custom, NS, 'ws-cut', 'True', Reason.CalloutReady);
  const token = await gitpodToken('ws-cut');
  const nc = await connectWithToken(urls, sentinel, token);
  expect(await roundTrip(nc, nc, 'ws.ws-cut.before')).toBe('hello');
  const closed = closeReasonOrNone(nc);
  const started = Date.now();
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'workspacenatsaccesses', namespace: NS, name: 'ws-cut' });
  await closed;
  process.stderr.write(`[callout] login cut ${Date.now() - started} ms after the access was deleted\n`);
  expect(nc.isClosed()).toBe(true);
  expect(await tokenLoginOutcome(urls, sentinel, token)).toBe(DENIED);
  await waitFor(async () => ((await getAccess(admin.custom, NS, 'ws-cut')) ? undefined : true), { what: 'ws-cut to be gone', timeoutMs: 30_000 });
});

/** Resolves when `nc` closes (the kick gives no -ERR, so there may be no reason). */
async function closeReasonOrNone(nc: NatsConnection): Promise<string | undefined> {
  return closeReason(nc).catch(() => undefined);
}

test('a token signed by a rotated-in key works at once, and known keys keep working while the provider is down', async () => {
  await createAccess(admin.custom, NS, calloutAccess('ws-rotate', 'ws-rotate'));
  await waitForReady(admin.custom, NS, 'ws-rotate', 'True', Reason.CalloutReady);
  await idp.rotate();
  // The new kid is unknown until fetched; a fetch within the cooldown is refused, so retry.
  await waitFor(async () => ((await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-rotate'))) === ACCEPTED ? true : undefined), {
    what: 'a token of the new key to be accepted',
    timeoutMs: 30_000,
    intervalMs: 1000,
  });
  idp.setDown(true);
  try {
    const before = idp.requests;
    expect(await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-rotate'))).toBe(ACCEPTED);
    // Asked for a key it does not know while down: refused, and the known key still works after.
    expect(await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-rotate', { forge: 'unknown-kid' }))).toBe(DENIED);
    expect(await tokenLoginOutcome(urls, sentinel, await gitpodToken('ws-rotate'))).toBe(ACCEPTED);
    expect(idp.requests).toBeGreaterThanOrEqual(before);
  } finally {
    idp.setDown(false);
  }
});

test("a pod's ServiceAccount token logs in while the pod is bound, and is refused once the pod is deleted", async () => {
  await admin.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'sa-ws' } } });
  await createBinding(admin.custom, NS, 'sa-pods', {
    source: { pods: { selector: { matchLabels: { app: 'sa-ws' } }, workspaceIdLabel: 'ws-id' } },
    template: { issuerRef: { name: ISSUER }, authCalloutRef: { name: CALLOUT }, permissions },
  });
  const pod = await admin.core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'sa-pod', labels: { app: 'sa-ws', 'ws-id': 'sa-1' } },
      spec: { serviceAccountName: 'sa-ws', containers: [{ name: 'workspace', image: 'busybox' }] },
    },
  });
  const uid = pod.metadata?.uid ?? '';
  const request = await admin.core.createNamespacedServiceAccountToken({
    namespace: NS,
    name: 'sa-ws',
    body: { spec: { audiences: [AUDIENCE], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'sa-pod', uid } } },
  });
  const token = request.status?.token ?? '';
  await waitFor(
    async () => {
      if ((await tokenLoginOutcome(urls, sentinel, token)) === ACCEPTED) return true;
      throw new Error(`last denial: ${lastDenial()}`);
    },
    {
    what: "the pod's token to be accepted once the binder made its access",
    timeoutMs: 30_000,
    intervalMs: 500,
  });
  const nc = await connectWithToken(urls, sentinel, token);
  try {
    expect(await roundTrip(nc, nc, 'ws.sa-1.hello')).toBe('hello');
  } finally {
    await nc.close();
  }
  await admin.core.deleteNamespacedPod({ namespace: NS, name: 'sa-pod', gracePeriodSeconds: 0 });
  await waitFor(async () => ((await tokenLoginOutcome(urls, sentinel, token)) === DENIED ? true : undefined), {
    what: "the deleted pod's token to be refused",
    timeoutMs: 30_000,
    intervalMs: 500,
  });
});

test('no client, not even the auth user, can put a forged request on the callout subject', async () => {
  // Only servers send authorization requests; the reader's own checks of forged ones (a header
  // xkey other than the signed one, a request not signed by a server) are unit tests
  // (callout-wire.test.ts), since nats-server lets no client publish one.
  const auth = await connectWithCreds(urls, state.trust.calloutAccount.authUser.creds);
  try {
    expect(await publishRefusal(auth, '$SYS.REQ.USER.AUTH')).toMatch(/^Permissions Violation for Publish/);
  } finally {
    await auth.close();
  }
});

test('with the callout down, logins fail closed within the auth timeout; when it is back, they work', async () => {
  await createAccess(admin.custom, NS, calloutAccess('ws-down', 'ws-down'));
  await waitForReady(admin.custom, NS, 'ws-down', 'True', Reason.CalloutReady);
  const token = await gitpodToken('ws-down');
  await operator.stop();
  const started = Date.now();
  expect(await tokenLoginOutcome(urls, sentinel, token)).toBe(DENIED);
  process.stderr.write(`[callout] with no callout running, the login was refused after ${Date.now() - started} ms\n`);
  await operator.start();
  await waitFor(async () => ((await tokenLoginOutcome(urls, sentinel, token)) === ACCEPTED ? true : undefined), {
    what: 'logins to work again',
    timeoutMs: 30_000,
    intervalMs: 500,
  });
});

describe('bad configuration is refused at admission, naming the field', () => {
  const provider = { name: 'gitpod', kind: 'OIDC', issuerURL: 'https://api.gitpod.example/idp', audiences: ['nats'], issuers: [ISSUER] };
  const refusal = async (body: object): Promise<string> => {
    try {
      await admin.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, body, fieldValidation: 'Strict' });
      await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name: 'refused' });
      return 'accepted';
    } catch (error) {
      return (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message;
    }
  };
  const withProviders = (providers: object[]) => ({ ...calloutBody('refused', state.trust, urls, []), spec: { ...calloutBody('refused', state.trust, urls, []).spec, identityProviders: providers } });
  test.each<[string, () => object, string]>([
    ['two providers of one name', () => withProviders([provider, { ...provider, issuerURL: 'https://other.example/idp' }]), 'spec.identityProviders: Invalid value: spec.identityProviders: names must be unique'],
    ['claims on a ServiceAccount provider', () => withProviders([{ ...provider, kind: 'KubernetesServiceAccount', claims: { workspaceId: 'sub' } }]), 'spec.identityProviders[0].claims: Invalid value: claims applies to kind OIDC only'],
    ['an unknown provider kind', () => withProviders([{ ...provider, kind: 'SAML' }]), 'spec.identityProviders[0].kind: Unsupported value: "SAML"'],
    ['an HMAC algorithm', () => withProviders([{ ...provider, algorithms: ['HS256'] }]), 'spec.identityProviders[0].algorithms[0]: Unsupported value: "HS256"'],
    ['an issuer URL without a scheme', () => withProviders([{ ...provider, issuerURL: 'api.gitpod.example/idp' }]), 'spec.identityProviders[0].issuerURL: Invalid value: "api.gitpod.example/idp"'],
    ['no audience', () => withProviders([{ ...provider, audiences: [] }]), 'spec.identityProviders[0].audiences: Invalid value: 0'],
    ['no issuer to log in to', () => withProviders([{ ...provider, issuers: [] }]), 'spec.identityProviders[0].issuers: Invalid value: 0'],
    ['a user key as the callout account', () => {
      const body = calloutBody('refused', state.trust, urls, [provider as IdentityProvider]);
      return { ...body, spec: { ...body.spec, account: { ...body.spec.account, publicKey: state.trust.calloutAccount.authUser.publicKey } } };
    }, 'spec.account.publicKey: Invalid value'],
    ['no xkey', () => {
      const { xkeySecretRef: _xkey, ...spec } = calloutBody('refused', state.trust, urls, [provider as IdentityProvider]).spec;
      return { ...calloutBody('refused', state.trust, urls, []), spec };
    }, 'spec.xkeySecretRef: Required value'],
  ])('%s', async (_what, body, expected) => {
    expect(await refusal(body())).toContain(expected);
  });

  test("an access's authCalloutRef cannot be changed or removed", async () => {
    await createAccess(admin.custom, NS, calloutAccess('ws-fixed', 'ws-fixed'));
    // Once the operator is done with it, so that the update meets no conflict.
    const access = await waitForReady(admin.custom, NS, 'ws-fixed', 'True', Reason.CalloutReady);
    const { authCalloutRef: _ref, ...spec } = access.spec;
    let message = '';
    try {
      await admin.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'workspacenatsaccesses', namespace: NS, name: 'ws-fixed', body: { ...access, spec } });
    } catch (error) {
      message = (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message;
    }
    expect(message).toContain('spec.authCalloutRef is immutable');
  });
});

test('no seed, JWT or token in what the operator wrote about the callout and its accesses, or in its metrics', async () => {
  expect(secretMaterialIn(await operatorOutputIn(admin, NS))).toEqual([]);
  expect(secretMaterialIn(await (await fetch(`${operator.metricsUrl}/metrics`)).text())).toEqual([]);
  expect(secretMaterialIn(JSON.stringify(await getCallout(admin, CALLOUT)))).toEqual([]);
});
