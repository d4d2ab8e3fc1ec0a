// verifyIdentityToken with real jose tokens against a KeySet over a fixed JWKS: a GitPod-shaped ID
// token and a pod-bound ServiceAccount token become identities, and every way a token can be wrong
// is a Denial with its own reason whose message never quotes the token.

import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { IdentityProviderKind, type IdentityProvider } from '../../src/api/cluster-nats-auth-callout.ts';
import { DenyReason } from '../../src/api/reasons.ts';
import { KeySet } from '../../src/identity/key-set.ts';
import { Denial, verifyIdentityToken, type ProviderKeys, type VerifiedIdentity } from '../../src/identity/tokens.ts';
import { VerifiedTokens } from '../../src/identity/verified-tokens.ts';
import { gitpodClaims, serviceAccountClaims } from '../env/idp.ts';

const now = new Date('2026-12-01T10:00:00Z');
const nowS = now.getTime() / 1000;
const AUDIENCE = 'nats';
const KID = 'gitpod-1';

const gitpod: IdentityProvider = {
  name: 'gitpod',
  kind: IdentityProviderKind.OIDC,
  issuerURL: 'https://api.gitpod.example/idp',
  audiences: ['other', AUDIENCE],
  issuers: ['platform'],
};
const kube: IdentityProvider = {
  name: 'kube',
  kind: IdentityProviderKind.KubernetesServiceAccount,
  issuerURL: 'https://kubernetes.default.svc.cluster.local',
  audiences: [AUDIENCE],
  issuers: ['platform'],
};

const providerKey = await generateKeyPair('RS256');
const strangerKey = await generateKeyPair('RS256');
const jwks = { keys: [{ ...(await exportJWK(providerKey.publicKey)), kid: KID, alg: 'RS256', use: 'sig' } as JWK] };
const keysOf = () => new KeySet(async () => structuredClone(jwks), () => now);
const providers = (...list: IdentityProvider[]): ProviderKeys[] => list.map((provider) => ({ provider, keys: keysOf() }));

const workspace = { workspaceId: 'ws-1', orgId: 'org-1', userId: 'user-1', audience: AUDIENCE };

/** A token the provider would sign now (iat now, an hour long), with `claims` over GitPod's. */
const sign = (
  claims: JWTPayload = gitpodClaims(workspace),
  { key = providerKey.privateKey, kid = KID, alg = 'RS256', iss = gitpod.issuerURL } = {},
) =>
  new SignJWT({ iss, iat: nowS, exp: nowS + 3600, ...claims }).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Every Denial the tests met, to check that none quotes its token. */
const denials: { token: string; denial: Denial }[] = [];

async function denial(token: string, list: ProviderKeys[] = providers(gitpod, kube)): Promise<Denial> {
  try {
    await verifyIdentityToken(token, list, now);
  } catch (error) {
    expect(error).toBeInstanceOf(Denial);
    denials.push({ token, denial: error as Denial });
    return error as Denial;
  }
  throw new Error('token was accepted');
}

describe('an OIDC (GitPod) token', () => {
  test('becomes the workspace, its owner and org, with the token exp and a hash of the token', async () => {
    const token = await sign();
    const list = providers(kube, gitpod);
    const identity = await verifyIdentityToken(token, list, now);
    expect(identity).toEqual({
      provider: gitpod,
      workspaceId: 'ws-1',
      owner: 'user-1',
      org: 'org-1',
      expiresAt: new Date((nowS + 3600) * 1000),
      tokenHash: createHash('sha256').update(token).digest('base64url'),
    });
    // `sub` (the context URL, shared by workspaces) names nothing.
    expect(JSON.stringify(identity)).not.toContain('github.com');
  });

  test('owner and org are left out when the token has none', async () => {
    const { user_id: _u, org_id: _o, ...claims } = gitpodClaims(workspace);
    const identity = await verifyIdentityToken(await sign(claims), providers(gitpod), now);
    expect(identity.workspaceId).toBe('ws-1');
    expect(identity).not.toHaveProperty('owner');
    expect(identity).not.toHaveProperty('org');
  });

  test("the provider's claim names are read instead of GitPod's", async () => {
    const custom = { ...gitpod, claims: { workspaceId: 'ws', owner: 'uid', org: 'tenant' } };
    const identity = await verifyIdentityToken(await sign({ aud: AUDIENCE, ws: 'ws-9', uid: 'u-9', tenant: 't-9', workspace_id: 'ws-1' }), providers(custom), now);
    expect(identity).toMatchObject({ workspaceId: 'ws-9', owner: 'u-9', org: 't-9' });
  });

  test('a token within 5 s of its exp or nbf is taken (clock drift)', async () => {
    await expect(verifyIdentityToken(await sign({ ...gitpodClaims(workspace), exp: nowS - 4 }), providers(gitpod), now)).resolves.toBeDefined();
    await expect(verifyIdentityToken(await sign({ ...gitpodClaims(workspace), nbf: nowS + 4 }), providers(gitpod), now)).resolves.toBeDefined();
  });
});

describe('every refusal has its reason', () => {
  test('MalformedToken: not a JWT, or an issuer that is no string', async () => {
    for (const token of ['', 'not-a-jwt', 'a.b.c', `${b64({ alg: 'RS256' })}.bm90IGpzb24.sig`]) {
      expect((await denial(token)).reason).toBe(DenyReason.MalformedToken);
    }
    const [header, , signature] = (await sign()).split('.');
    for (const iss of [42, { url: gitpod.issuerURL }, [gitpod.issuerURL]]) {
      expect((await denial(`${header}.${b64({ ...gitpodClaims(workspace), iss, exp: nowS + 60 })}.${signature}`)).reason).toBe(DenyReason.MalformedToken);
    }
  });

  test('UnknownIssuer: an iss no provider has', async () => {
    expect((await denial(await sign(undefined, { iss: 'https://evil.example/idp' }))).reason).toBe(DenyReason.UnknownIssuer);
    const noIss = await new SignJWT({ ...gitpodClaims(workspace), exp: nowS + 60 }).setProtectedHeader({ alg: 'RS256', kid: KID }).sign(providerKey.privateKey);
    expect((await denial(noIss)).reason).toBe(DenyReason.UnknownIssuer);
  });

  test('AlgorithmNotAllowed: alg none, HMAC, and an asymmetric alg the provider does not list', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...gitpodClaims(workspace), iss: gitpod.issuerURL, exp: nowS + 60 })}.`;
    expect((await denial(none)).reason).toBe(DenyReason.AlgorithmNotAllowed);
    // HS256 keyed with the public key: the classic key-confusion forgery.
    const hmacKey = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    expect((await denial(await sign(undefined, { key: hmacKey as never, alg: 'HS256' }))).reason).toBe(DenyReason.AlgorithmNotAllowed);
    const ecKey = await generateKeyPair('ES256');
    expect((await denial(await sign(undefined, { key: ecKey.privateKey, alg: 'ES256' }))).reason).toBe(DenyReason.AlgorithmNotAllowed);
  });

  test('UnknownKey: a kid not in the JWKS', async () => {
    expect((await denial(await sign(undefined, { kid: 'gitpod-2' }))).reason).toBe(DenyReason.UnknownKey);
  });

  test("BadSignature: signed by another key under the provider's kid, or changed after signing", async () => {
    expect((await denial(await sign(undefined, { key: strangerKey.privateKey }))).reason).toBe(DenyReason.BadSignature);
    const [header, , signature] = (await sign()).split('.');
    const changed = `${header}.${b64({ ...gitpodClaims({ ...workspace, workspaceId: 'ws-2' }), iss: gitpod.issuerURL, iat: nowS, exp: nowS + 3600 })}.${signature}`;
    expect((await denial(changed)).reason).toBe(DenyReason.BadSignature);
  });

  test('WrongAudience: none of the provider audiences', async () => {
    expect((await denial(await sign(gitpodClaims({ ...workspace, audience: 'someone-else' })))).reason).toBe(DenyReason.WrongAudience);
    const { aud: _aud, ...claims } = gitpodClaims(workspace);
    expect((await denial(await sign(claims))).reason).toBe(DenyReason.WrongAudience);
  });

  test('TokenExpired: past exp beyond the tolerance, or no exp at all', async () => {
    expect((await denial(await sign({ ...gitpodClaims(workspace), exp: nowS - 6 }))).reason).toBe(DenyReason.TokenExpired);
    const token = await new SignJWT({ ...gitpodClaims(workspace), iss: gitpod.issuerURL, iat: nowS })
      .setProtectedHeader({ alg: 'RS256', kid: KID })
      .sign(providerKey.privateKey);
    expect((await denial(token)).reason).toBe(DenyReason.TokenExpired);
  });

  test('TokenNotYetValid: nbf more than 5 s ahead', async () => {
    expect((await denial(await sign({ ...gitpodClaims(workspace), nbf: nowS + 6 }))).reason).toBe(DenyReason.TokenNotYetValid);
  });

  test('ClaimMissing: no workspace id, an empty one, or one that is no string', async () => {
    const { workspace_id: _w, ...claims } = gitpodClaims(workspace);
    expect((await denial(await sign(claims))).reason).toBe(DenyReason.ClaimMissing);
    expect((await denial(await sign({ ...claims, workspace_id: '' }))).reason).toBe(DenyReason.ClaimMissing);
    expect((await denial(await sign({ ...claims, workspace_id: 7 }))).reason).toBe(DenyReason.ClaimMissing);
  });

  test("OrgNotAllowed: an org not in the provider's orgs, or none when it lists some", async () => {
    const orgs = providers({ ...gitpod, orgs: ['org-2', 'org-3'] });
    expect((await denial(await sign(), orgs)).reason).toBe(DenyReason.OrgNotAllowed);
    const { org_id: _o, ...claims } = gitpodClaims(workspace);
    expect((await denial(await sign(claims), orgs)).reason).toBe(DenyReason.OrgNotAllowed);
    const listed = await verifyIdentityToken(await sign(gitpodClaims({ ...workspace, orgId: 'org-3' })), orgs, now);
    expect(listed.org).toBe('org-3');
  });
});

describe('a KubernetesServiceAccount token', () => {
  const pod = { namespace: 'team-a', podName: 'ws-1-pod', podUid: 'pod-uid-1', serviceAccount: 'workspace', audience: AUDIENCE };

  test('becomes the pod it is bound to, in its namespace, with its service account', async () => {
    const token = await sign(serviceAccountClaims(pod), { iss: kube.issuerURL });
    const identity = await verifyIdentityToken(token, providers(gitpod, kube), now);
    expect(identity).toEqual({
      provider: kube,
      pod: { namespace: 'team-a', name: 'ws-1-pod', uid: 'pod-uid-1', serviceAccount: 'workspace' },
      expiresAt: new Date((nowS + 3600) * 1000),
      tokenHash: createHash('sha256').update(token).digest('base64url'),
    });
    expect(identity).not.toHaveProperty('workspaceId');
  });

  test('a token not bound to a pod (or missing its uid or namespace) is ClaimMissing', async () => {
    const claims = serviceAccountClaims(pod);
    const k8s = claims['kubernetes.io'] as { namespace: string; pod: { name: string; uid: string }; serviceaccount: unknown };
    const variants = [
      { ...claims, 'kubernetes.io': { namespace: k8s.namespace, serviceaccount: k8s.serviceaccount } },
      { ...claims, 'kubernetes.io': { ...k8s, pod: { name: k8s.pod.name } } },
      { ...claims, 'kubernetes.io': { ...k8s, namespace: undefined } },
      { ...claims, 'kubernetes.io': undefined },
    ];
    for (const variant of variants) {
      expect((await denial(await sign(variant, { iss: kube.issuerURL }))).reason).toBe(DenyReason.ClaimMissing);
    }
  });
});

test('no Denial message quotes its token, nor its signature', () => {
  expect(denials.length).toBeGreaterThan(20);
  for (const { token, denial: { message } } of denials) {
    if (token.length > 0) expect(message).not.toContain(token);
    const signature = token.split('.')[2];
    if (signature && signature.length > 8) expect(message).not.toContain(signature);
  }
});

describe('tokens verified before', () => {
  test('are not verified again while good; a withdrawn key, expiry or another provider list verifies afresh', async () => {
    let published = structuredClone(jwks);
    let fetchedAt = now;
    const keys = new KeySet(async () => structuredClone(published), () => fetchedAt, { refreshMs: 60_000, cooldownMs: 0 });
    const list: ProviderKeys[] = [{ provider: gitpod, keys }];
    const verified = new VerifiedTokens<VerifiedIdentity>();
    const token = await sign();
    const first = await verifyIdentityToken(token, list, now, verified);
    // The same object back: nothing was parsed or checked again.
    expect(await verifyIdentityToken(token, list, now, verified)).toBe(first);
    // Another provider list (a changed callout spec): verified again, a new identity.
    const otherList: ProviderKeys[] = [{ provider: { ...gitpod }, keys }];
    expect(await verifyIdentityToken(token, otherList, now, verified)).not.toBe(first);
    // Past its exp: refused, not served from memory.
    await expect(verifyIdentityToken(token, list, new Date(now.getTime() + 3700_000), verified)).rejects.toMatchObject({ reason: DenyReason.TokenExpired });
    // The provider withdrew the key: the token is checked again, and refused.
    await verifyIdentityToken(token, list, now, verified);
    published = { keys: [] };
    fetchedAt = new Date(now.getTime() + 1000);
    await keys.refresh();
    await expect(verifyIdentityToken(token, list, now, verified)).rejects.toMatchObject({ reason: DenyReason.UnknownKey });
  });
});
