// The callout's wire protocol against requests made the way nats-server makes them (a JWT signed by
// the server's nkey, sealed with the server's curve key to the callout's xkey): a genuine one is
// read, and each way a request can be forged or stale is refused. Replies decode to what the
// server checks: sub the connection's user key, aud the server, and the right issuer.

import { Algorithms, decode, encode, type AuthorizationResponse, type ClaimsData } from '@nats-io/jwt';
import { createAccount, createCurve, createServer, createUser, type KeyPair } from '@nats-io/nkeys';
import {
  encodeAuthorizationReply,
  readAuthorizationRequest,
  RequestRefused,
  type AuthorizationRequest,
} from '../../src/nats/callout.ts';
import { nativeFromSeed } from '../../src/nats/native-keys.ts';
import { XKey } from '../../src/nats/xkey.ts';

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

// nkeys signs and seals in pure JS (tens of ms each): the keys here are its seeds in the native
// pair and in XKey, whose agreement with nkeys is shown in native-keys and xkey.test.ts. One test
// below seals and opens with nkeys itself.
const native = (kp: KeyPair) => nativeFromSeed(kp.getSeed());
const server = native(createServer());
const serverCurveKp = createCurve();
const serverCurve = new XKey(serverCurveKp.getSeed());
const calloutCurve = createCurve();
const xkey = new XKey(calloutCurve.getSeed());
const userNkey = createUser().getPublicKey();
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJ3b3Jrc3BhY2VfaWQiOiJ3cy0xIn0.c2lnbmF0dXJl';

const now = new Date();
const nowS = Math.floor(now.getTime() / 1000);

type Claims = Record<string, unknown> & { nats: Record<string, unknown> & { server_id: Record<string, unknown> } };

/** A request JWT as nats-server signs it; `change` edits the claims before signing. */
async function requestJwt(change: (claims: Claims) => void = () => undefined, signer: KeyPair = server): Promise<string> {
  const claims: Claims = {
    sub: signer.getPublicKey(),
    aud: 'nats-authorization-request',
    exp: nowS + 2,
    nats: {
      server_id: { name: 'nats-0', host: '0.0.0.0', id: signer.getPublicKey(), version: '2.11.4', xkey: serverCurve.publicKey },
      user_nkey: userNkey,
      client_info: { host: '10.1.2.3', id: 42, user: 'sentinel', name: 'ws-1 client', kind: 'Client', type: 'nats', nonce: 'n0nce' },
      connect_opts: { auth_token: TOKEN, user: 'sentinel', lang: 'nats.js', version: '3.4.0', protocol: 1 },
      request_nonce: 'n0nce',
      type: 'authorization_request',
      version: 2,
    },
  };
  change(claims);
  return encode(Algorithms.v2, claims as unknown as ClaimsData<unknown>, signer);
}

/** Sealed by `sealer` (the server's curve key) to the callout's xkey. */
const sealed = (jwt: string, sealer: XKey = serverCurve) => sealer.seal(bytes(jwt), xkey.publicKey);

// A genuine request, made once: nkeys signs in pure JS, milliseconds each.
const jwtOk = await requestJwt();

const refusal = (action: () => unknown): RequestRefused => {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RequestRefused);
    // Refusals are logged: they quote nothing of the request.
    expect((error as Error).message).not.toContain(TOKEN);
    return error as RequestRefused;
  }
  throw new Error('request was not refused');
};

describe('readAuthorizationRequest', () => {
  test('reads a sealed request: the server, its xkey, the user key, the client and the token', () => {
    // Sealed by nkeys, as nats-server's own nkeys library does.
    const request = readAuthorizationRequest(serverCurveKp.seal(bytes(jwtOk), xkey.publicKey), serverCurve.publicKey, xkey, now);
    expect(request).toEqual<AuthorizationRequest>({
      serverId: server.getPublicKey(),
      serverName: 'nats-0',
      serverXkey: serverCurve.publicKey,
      userNkey,
      token: TOKEN,
      client: { host: '10.1.2.3', id: 42, name: 'ws-1 client', kind: 'Client', type: 'nats' },
    });
  });

  test('reads a plain request when the callout has no xkey; no token reads as undefined', async () => {
    const plain = readAuthorizationRequest(bytes(await requestJwt()), undefined, undefined, now);
    expect(plain.serverXkey).toBeUndefined();
    expect(plain.token).toBe(TOKEN);
    const noToken = await requestJwt((claims) => void (claims.nats.connect_opts = { auth_token: '' }));
    expect(readAuthorizationRequest(bytes(noToken), undefined, undefined, now).token).toBeUndefined();
  });

  test('a header xkey other than the one the server signed into the request is refused', async () => {
    // Sealed by another curve key and named in the header: opens, but the server never signed it.
    const intruder = new XKey(createCurve().getSeed());
    expect(refusal(() => readAuthorizationRequest(sealed(jwtOk, intruder), intruder.publicKey, xkey, now)).message).toMatch(
      /header is not the xkey/,
    );
    // A request whose signed xkey is another one than it was sealed with.
    const other = await requestJwt((claims) => void (claims.nats.server_id.xkey = createCurve().getPublicKey()));
    refusal(() => readAuthorizationRequest(sealed(other), serverCurve.publicKey, xkey, now));
    const none = await requestJwt((claims) => void delete claims.nats.server_id.xkey);
    refusal(() => readAuthorizationRequest(sealed(none), serverCurve.publicKey, xkey, now));
  });

  test('a header naming another key than the sealer is refused', async () => {
    refusal(() => readAuthorizationRequest(sealed(jwtOk), createCurve().getPublicKey(), xkey, now));
  });

  test('with an xkey, a request that is not sealed is refused, header or not', async () => {
    refusal(() => readAuthorizationRequest(bytes(jwtOk), undefined, xkey, now));
    refusal(() => readAuthorizationRequest(bytes(jwtOk), serverCurve.publicKey, xkey, now));
  });

  test('without an xkey, a sealed request is refused', () => {
    refusal(() => readAuthorizationRequest(sealed(jwtOk), serverCurve.publicKey, undefined, now));
  });

  test.each<[string, (claims: Claims) => void]>([
    ['another audience', (claims) => void (claims.aud = 'NATS')],
    ['no audience', (claims) => void delete claims.aud],
    ['no exp', (claims) => void delete claims.exp],
    ['a server_id.id other than its signer', (claims) => void (claims.nats.server_id.id = createServer().getPublicKey())],
    ['no server_id', (claims) => void delete (claims.nats as Record<string, unknown>).server_id],
    ['no user_nkey', (claims) => void delete claims.nats.user_nkey],
    ['a user_nkey that is no user key', (claims) => void (claims.nats.user_nkey = createAccount().getPublicKey())],
  ])('a request with %s is refused', async (_what, change) => {
    const jwt = await requestJwt(change);
    refusal(() => readAuthorizationRequest(sealed(jwt), serverCurve.publicKey, xkey, now));
  });

  test('an expired request is refused; one at its exp second is still read', async () => {
    const jwt = await requestJwt((claims) => void (claims.exp = nowS - 1));
    expect(refusal(() => readAuthorizationRequest(sealed(jwt), serverCurve.publicKey, xkey, now)).message).toMatch(/expired/);
    const at = new Date((nowS - 1) * 1000);
    expect(readAuthorizationRequest(sealed(jwt), serverCurve.publicKey, xkey, at).userNkey).toBe(userNkey);
  });

  test('a request signed by a key that is not a server key is refused, even naming itself', async () => {
    for (const signer of [native(createAccount()), native(createUser())]) {
      const jwt = await requestJwt(() => undefined, signer);
      expect(refusal(() => readAuthorizationRequest(sealed(jwt), serverCurve.publicKey, xkey, now)).message).toMatch(/server key/);
    }
  });

  test('a request whose signature does not verify is refused', async () => {
    const [header, payload, signature] = jwtOk.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Claims;
    claims.nats.connect_opts = { auth_token: 'another token' };
    const changed = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    expect(refusal(() => readAuthorizationRequest(sealed(changed), serverCurve.publicKey, xkey, now)).message).toMatch(/signature/);
    // Signed by another server while naming this one as iss and server_id.id.
    const forged = await requestJwt((c) => void (c.nats.server_id.id = server.getPublicKey()), native(createServer()));
    const [fh, fp, fs] = forged.split('.') as [string, string, string];
    const forgedClaims = { ...(JSON.parse(Buffer.from(fp, 'base64url').toString()) as Claims), iss: server.getPublicKey() };
    const reissued = `${fh}.${Buffer.from(JSON.stringify(forgedClaims)).toString('base64url')}.${fs}`;
    refusal(() => readAuthorizationRequest(sealed(reissued), serverCurve.publicKey, xkey, now));
    refusal(() => readAuthorizationRequest(sealed('not a jwt'), serverCurve.publicKey, xkey, now));
  });
});

describe('encodeAuthorizationReply', () => {
  const account = native(createAccount());
  const signingKey = native(createAccount());
  const request = readAuthorizationRequest(sealed(jwtOk), serverCurve.publicKey, xkey, now);
  const plainRequest = readAuthorizationRequest(bytes(jwtOk), undefined, undefined, now);

  /** The reply as the server reads it: opened with its curve key when sealed, then verified. */
  const serverReads = (reply: Uint8Array, sealedBack: boolean, opener: 'nkeys' | 'xkey' = 'xkey') => {
    const opened = !sealedBack ? reply : opener === 'nkeys' ? serverCurveKp.open(reply, xkey.publicKey) : serverCurve.open(reply, xkey.publicKey);
    expect(opened).not.toBeNull();
    const jwt = text(opened as Uint8Array);
    expect(jwt.startsWith('eyJ')).toBe(true);
    return decode<AuthorizationResponse>(jwt);
  };

  test('a user JWT signed by the account key: sealed back, sub the user key, aud the server, no issuer_account', async () => {
    const reply = encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: account }, { jwt: 'user.jwt.here' }, xkey);
    expect(text(reply.subarray(0, 4))).toBe('xkv1');
    const claims = serverReads(reply, true, 'nkeys');
    expect(claims.iss).toBe(account.getPublicKey());
    expect(claims.sub).toBe(userNkey);
    expect(claims.aud).toBe(server.getPublicKey());
    expect(claims.nats).toMatchObject({ jwt: 'user.jwt.here', type: 'authorization_response', version: 2 });
    expect(claims.nats).not.toHaveProperty('error');
    expect(claims.nats).not.toHaveProperty('issuer_account');
  });

  test('an error signed by a signing key: issuer_account names the account', async () => {
    const reply = encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: signingKey }, { error: 'NoAccess' }, xkey);
    const claims = serverReads(reply, true);
    expect(claims.iss).toBe(signingKey.getPublicKey());
    expect(claims.sub).toBe(userNkey);
    expect(claims.aud).toBe(server.getPublicKey());
    expect(claims.nats).toMatchObject({ error: 'NoAccess', issuer_account: account.getPublicKey() });
    expect(claims.nats).not.toHaveProperty('jwt');
  });

  test('a reply to a request that was not sealed is not sealed', async () => {
    const reply = encodeAuthorizationReply(plainRequest, { accountPublicKey: account.getPublicKey(), key: account }, { jwt: 'u' }, xkey);
    expect(serverReads(reply, false).nats.jwt).toBe('u');
    const noXkey = encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: account }, { jwt: 'u' }, undefined);
    expect(serverReads(noXkey, false).nats.jwt).toBe('u');
  });

  test("the caller's answer is left as it was (a shared one must not carry one signer's issuer_account to the next)", async () => {
    const answer = { error: 'NoAccess' };
    encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: signingKey }, answer, xkey);
    expect(answer).toEqual({ error: 'NoAccess' });
    const next = serverReads(encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: account }, answer, xkey), true);
    expect(next.nats).not.toHaveProperty('issuer_account');
  });
});
