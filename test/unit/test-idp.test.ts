// The test OpenID provider (test/env/idp.ts) that the auth callout's tests lean on, checked with the
// verifier they will use (jose's createRemoteJWKSet and jwtVerify): it serves discovery and JWKS,
// its tokens verify, and each broken kind it makes is refused for the reason it stands for; rotation
// publishes a new kid, being down answers 503, and the JWKS fetches are counted.

import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { gitpodClaims, serviceAccountClaims, startTestIdp, type TestIdp } from '../env/idp.ts';

const AUDIENCE = 'nats.example.test';
let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp.stop();
});

const getJson = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** A verifier as the callout will make one; cooldown 0 so that an unknown kid refetches at once. */
const verifierFor = (testIdp: TestIdp) => {
  const keys = createRemoteJWKSet(new URL(testIdp.jwksUri), { cooldownDuration: 0 });
  return (token: string) => jwtVerify(token, keys, { issuer: testIdp.issuer, audience: AUDIENCE, algorithms: ['RS256'] });
};

const workspace = { workspaceId: 'ws-1', orgId: 'org-1', userId: 'user-1', audience: AUDIENCE };

it('serves the discovery document and the JWKS under a GitPod-shaped issuer', async () => {
  expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/idp$/);
  const discovery = await getJson(idp.discoveryUri);
  expect(discovery).toEqual({
    status: 200,
    body: expect.objectContaining({ issuer: idp.issuer, jwks_uri: idp.jwksUri, id_token_signing_alg_values_supported: ['RS256'] }),
  });
  const jwks = await getJson(idp.jwksUri);
  const keys = jwks.body.keys as Record<string, unknown>[];
  expect(keys).toEqual([expect.objectContaining({ kty: 'RSA', kid: idp.kid, alg: 'RS256', use: 'sig' })]);
  expect(keys[0]).not.toHaveProperty('d'); // public parts only
});

it('signs GitPod-shaped tokens that verify, with iss, iat and an exp an hour later', async () => {
  const { payload, protectedHeader } = await verifierFor(idp)(await idp.sign(gitpodClaims(workspace)));
  expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: idp.kid });
  expect(payload).toMatchObject({
    iss: idp.issuer,
    aud: [AUDIENCE],
    azp: AUDIENCE,
    sub: 'https://github.com/acme/repo',
    workspace_id: 'ws-1',
    org_id: 'org-1',
    user_id: 'user-1',
    email_verified: true,
  });
  expect(payload.exp! - payload.iat!).toBe(3600);
  expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);
});

it('signs ServiceAccount-shaped tokens', async () => {
  const pod = { namespace: 'team-a', podName: 'dev-0', podUid: 'uid-pod', serviceAccount: 'builder', audience: AUDIENCE };
  const { payload } = await verifierFor(idp)(await idp.sign(serviceAccountClaims(pod)));
  expect(payload).toMatchObject({
    sub: 'system:serviceaccount:team-a:builder',
    aud: [AUDIENCE],
    'kubernetes.io': { namespace: 'team-a', pod: { name: 'dev-0', uid: 'uid-pod' }, serviceaccount: { name: 'builder' } },
  });
  // The same ServiceAccount gets the same uid on every call.
  expect(serviceAccountClaims(pod)['kubernetes.io']).toEqual(payload['kubernetes.io']);
});

it('overrides audience, issuer and times, which the verifier then refuses', async () => {
  const verify = verifierFor(idp);
  const claims = gitpodClaims(workspace);
  const now = Math.floor(Date.now() / 1000);
  await expect(verify(await idp.sign(claims, { audience: 'someone-else' }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  await expect(verify(await idp.sign(claims, { issuer: 'https://elsewhere.test' }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
  await expect(verify(await idp.sign(claims, { issuedAt: now - 7200, expiresAt: new Date((now - 3600) * 1000) }))).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  await expect(verify(await idp.sign(claims, { notBefore: now + 3600 }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf' });
  expect(decodeJwt(await idp.sign(claims, { expiresAt: null }))).not.toHaveProperty('exp');
});

it('forges tokens the published keys refuse: a bad signature under the current kid, and an unknown kid', async () => {
  const verify = verifierFor(idp);
  const badSignature = await idp.sign(gitpodClaims(workspace), { forge: 'bad-signature' });
  expect(decodeProtectedHeader(badSignature).kid).toBe(idp.kid);
  await expect(verify(badSignature)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  const unknownKid = await idp.sign(gitpodClaims(workspace), { forge: 'unknown-kid' });
  expect(idp.publishedKids).not.toContain(decodeProtectedHeader(unknownKid).kid);
  await expect(verify(unknownKid)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
});

it('makes alg none tokens with an empty signature, which the verifier refuses', async () => {
  const token = idp.unsigned(gitpodClaims(workspace));
  expect(decodeProtectedHeader(token)).toEqual({ alg: 'none' });
  expect(token.split('.')).toHaveLength(3);
  expect(token.endsWith('.')).toBe(true);
  expect(decodeJwt(token)).toMatchObject({ iss: idp.issuer, workspace_id: 'ws-1' });
  // Refused for its alg, before any key is looked up.
  await expect(verifierFor(idp)(token)).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
});

it('rotates: the new kid is published beside the old one, a verifier refetches for it, retire unpublishes', async () => {
  const own = await startTestIdp();
  try {
    const verify = verifierFor(own);
    const first = own.kid;
    const before = own.requests;
    await verify(await own.sign(gitpodClaims(workspace)));
    expect(own.requests).toBe(before + 1);

    const second = await own.rotate();
    expect(own.kid).toBe(second);
    expect(own.publishedKids).toEqual([first, second]);
    await verify(await own.sign(gitpodClaims(workspace))); // unknown to the cached set: refetched
    expect(own.requests).toBe(before + 2);
    await verify(await own.sign(gitpodClaims(workspace), { kid: first })); // the old key still verifies
    expect(own.requests).toBe(before + 2);

    const third = await own.rotate({ retire: true });
    expect(own.publishedKids).toEqual([third]);
    await expect(verifierFor(own)(await own.sign(gitpodClaims(workspace), { kid: first }))).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    await expect(own.sign({}, { kid: 'never-made' })).rejects.toThrow('no key never-made');
  } finally {
    await own.stop();
  }
});

it('answers 503 to everything while down, counts those JWKS requests, and serves again when up', async () => {
  const own = await startTestIdp();
  try {
    const verify = verifierFor(own);
    await verify(await own.sign(gitpodClaims(workspace)));
    const before = own.requests;
    own.setDown(true);
    expect((await fetch(own.jwksUri)).status).toBe(503);
    expect((await fetch(own.discoveryUri)).status).toBe(503);
    expect(own.requests).toBe(before + 1);
    // A verifier that has the keys keeps verifying without asking; a new kid needs the IdP.
    await verify(await own.sign(gitpodClaims(workspace)));
    expect(own.requests).toBe(before + 1);
    await own.rotate();
    await expect(verify(await own.sign(gitpodClaims(workspace)))).rejects.toThrow();
    expect(own.requests).toBe(before + 2);
    own.setDown(false);
    expect((await fetch(own.jwksUri)).status).toBe(200);
    await verify(await own.sign(gitpodClaims(workspace)));
  } finally {
    await own.stop();
  }
});

it('stops: nothing listens afterwards, and stopping again does nothing', async () => {
  const own = await startTestIdp();
  const verify = verifierFor(own);
  await verify(await own.sign(gitpodClaims(workspace))); // leaves a keep-alive connection open
  await own.stop();
  await own.stop();
  await expect(fetch(own.jwksUri)).rejects.toThrow();
});
