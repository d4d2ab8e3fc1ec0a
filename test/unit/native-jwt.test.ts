// decodeJwt accepts and refuses exactly what @nats-io/jwt's decode() does, and returns the same
// claims: only the signature check runs natively. The JWTs the operator signs (user JWTs, callout
// responses) are byte for byte the library's at the same second (Ed25519 signatures are
// deterministic), and what the library refuses to sign is refused.

import { jest } from '@jest/globals';
import { Algorithms, decode, encodeAccount, encodeAuthorizationResponse, encodeUser, type User } from '@nats-io/jwt';
import { createAccount, createOperator, createServer, createUser, type KeyPair } from '@nats-io/nkeys';
import { encodeAuthorizationReply, type AuthorizationRequest } from '../../src/nats/callout.ts';
import { signUserJwt, type Grant, type MintRequest, type UserGrant } from '../../src/nats/credentials.ts';
import { checkedPublicKey, decodeJwt } from '../../src/nats/native-jwt.ts';
import { nativeFromSeed } from '../../src/nats/native-keys.ts';

const operator = createOperator();
const account = createAccount();
const signingKey = nativeFromSeed(createAccount().getSeed());
const user = createUser();
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const parts = (jwt: string) => jwt.split('.') as [string, string, string];

const userJwt = await encodeUser('ws1', user, account.getPublicKey(), { pub: { allow: ['ws.1.>'] } }, { signer: signingKey, exp: 2_000_000_000 });
const accountJwt = await encodeAccount('ws', account, { revocations: { [user.getPublicKey()]: 5 } }, { signer: operator });
const v1Jwt = await encodeUser('old', user, account, {}, { algorithm: Algorithms.v1 });

test.each([
  ['a user JWT signed by a signing key', userJwt],
  ['an account JWT signed by the operator', accountJwt],
  ['a v1 JWT (signature over the payload only)', v1Jwt],
])('%s decodes to the claims decode() gives', (_what, jwt) => {
  expect(decodeJwt(jwt)).toEqual(decode(jwt));
});

/** `jwt` with its payload replaced, keeping header and signature. */
const withPayload = (jwt: string, change: (claims: Record<string, unknown>) => void) => {
  const [header, payload, signature] = parts(jwt);
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(claims);
  return `${header}.${b64(claims)}.${signature}`;
};

test.each([
  ['a changed claim', () => withPayload(userJwt, (claims) => void (claims.name = 'ws2'))],
  ['another issuer named', () => withPayload(userJwt, (claims) => void (claims.iss = account.getPublicKey()))],
  ['an issuer that is no key', () => withPayload(userJwt, (claims) => void (claims.iss = 'nobody'))],
  ['no issuer', () => withPayload(userJwt, (claims) => void delete claims.iss)],
  ['a signature by another key', () => `${parts(userJwt).slice(0, 2).join('.')}.${parts(accountJwt)[2]}`],
  ['a truncated signature', () => userJwt.slice(0, -4)],
  ['a stray character in the signature', () => `${userJwt.slice(0, -4)}!${userJwt.slice(-4)}`],
  ['a foreign alg', () => `${b64({ typ: 'JWT', alg: 'EdDSA' })}.${parts(userJwt).slice(1).join('.')}`],
  ['a foreign typ', () => `${b64({ typ: 'JWS', alg: Algorithms.v2 })}.${parts(userJwt).slice(1).join('.')}`],
  ['two segments', () => parts(userJwt).slice(0, 2).join('.')],
  ['a payload that is not JSON', () => `${parts(userJwt)[0]}.bm90IGpzb24.${parts(userJwt)[2]}`],
  ['plain text', () => 'hello'],
])('refuses %s, as decode() does, quoting nothing of it', (_what, make) => {
  const jwt = make();
  expect(() => decode(jwt)).toThrow();
  let message = '';
  try {
    decodeJwt(jwt);
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).not.toBe('');
  for (const segment of jwt.split('.')) if (segment.length > 8) expect(message).not.toContain(segment.slice(0, 8));
});

describe('signing as the library does', () => {
  const NOW = Date.parse('2026-12-01T10:00:00.750Z');
  beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));
  afterEach(() => jest.restoreAllMocks());

  const accountKey = nativeFromSeed(account.getSeed());
  const expiresAt = new Date(NOW + 3_600_000);
  const explicit: UserGrant = {
    pub: { allow: ['ws.1.>'], deny: [] },
    sub: { allow: ['ws.1.>', '_INBOX.>'], deny: ['ws.1.secret'] },
    resp: { max: 1, ttl: 0 },
    subs: 10,
    payload: 1024,
    data: -1,
    allowed_connection_types: ['STANDARD'],
    src: ['10.0.0.0/8'],
  };
  const scoped: Grant = { tags: ['ws:1'] };
  /** encodeUser as signUserJwt called it before it signed by itself. */
  const libraryUserJwt = (request: MintRequest, user: KeyPair | string) => {
    const byAccountKey = request.signingKey.getPublicKey() === request.accountPublicKey;
    return encodeUser(request.name, user, byAccountKey ? request.signingKey : request.accountPublicKey, structuredClone(request.grant) as Partial<User>, {
      algorithm: Algorithms.v2,
      exp: Math.floor(request.expiresAt.getTime() / 1000),
      scopedUser: 'tags' in request.grant,
      ...(byAccountKey ? {} : { signer: request.signingKey }),
    });
  };

  test.each([
    ['explicit permissions, a signing key, the user as a key pair', 'team/ws1', explicit, signingKey, user],
    ['explicit permissions, the account key, the user as a public key', 'team/ws1', explicit, accountKey, user.getPublicKey()],
    ['a scoped user, a signing key', 'team/ws1', scoped, signingKey, user.getPublicKey()],
    ['a scoped user, the account key', 'team/ws1', scoped, accountKey, user],
    ['an nkeys key pair signing', 'team/ws1', explicit, account, user],
    ['a Latin-1 name', 'team/café', explicit, signingKey, user],
  ])('a user JWT: %s', async (_what, name, grant, signer, who) => {
    const request = { name, accountPublicKey: account.getPublicKey(), signingKey: signer, grant, expiresAt };
    expect(signUserJwt(request, who)).toBe(await libraryUserJwt(request, who));
  });

  test("the caller's grant is left as it was", async () => {
    const grant = structuredClone(scoped);
    signUserJwt({ name: 'x', accountPublicKey: account.getPublicKey(), signingKey, grant, expiresAt }, user);
    expect(grant).toEqual(scoped);
  });

  test.each([
    ['a user key of another kind', { user: account.getPublicKey() }],
    ['a user key that is no key', { user: 'UNOTAKEY' }],
    ['an account key that is no key', { accountPublicKey: 'ANOTAKEY' }],
    ['a signing key of another kind', { signingKey: nativeFromSeed(createOperator().getSeed()) }],
    ['a name wider than Latin-1', { name: 'team/ws-\u263a' }],
  ])('a user JWT with %s is refused, as by the library', async (_what, change) => {
    const request = { name: 'x', accountPublicKey: account.getPublicKey(), signingKey: signingKey as KeyPair, grant: explicit, expiresAt, ...change };
    const who = 'user' in change ? change.user : user;
    await expect(libraryUserJwt(request, who)).rejects.toThrow();
    expect(() => signUserJwt(request, who)).toThrow();
  });

  const server = createServer().getPublicKey();
  const request: AuthorizationRequest = {
    serverId: server,
    serverName: 'nats-0',
    serverXkey: undefined,
    userNkey: user.getPublicKey(),
    token: undefined,
    client: { host: '', id: 1, name: '', kind: '', type: '' },
  };
  const libraryReply = (answer: object, signer: KeyPair) => {
    const viaSigningKey = signer.getPublicKey() !== account.getPublicKey();
    return encodeAuthorizationResponse(user.getPublicKey(), server, viaSigningKey ? account.getPublicKey() : signer, { ...answer }, viaSigningKey ? { signer } : {});
  };

  test.each([
    ['a user JWT, signed by the account key', { jwt: 'user.jwt.here' }, accountKey],
    ['a user JWT, signed by a signing key', { jwt: 'user.jwt.here' }, signingKey],
    ['an error, signed by a signing key', { error: 'NoAccess' }, signingKey],
  ])('a callout response: %s', async (_what, answer, signer) => {
    const ours = new TextDecoder().decode(encodeAuthorizationReply(request, { accountPublicKey: account.getPublicKey(), key: signer }, answer, undefined));
    expect(ours).toBe(await libraryReply(answer, signer));
  });

  test.each([
    ['a server key of another kind', { serverId: account.getPublicKey() }],
    ['a user key that is no key', { userNkey: 'UNOTAKEY' }],
  ])('a callout response with %s is refused, as by the library', async (_what, change) => {
    const bad = { ...request, ...change };
    await expect(encodeAuthorizationResponse(bad.userNkey, bad.serverId, accountKey, { jwt: 'u' }, {})).rejects.toThrow();
    expect(() => encodeAuthorizationReply(bad, { accountPublicKey: account.getPublicKey(), key: accountKey }, { jwt: 'u' }, undefined)).toThrow();
  });

  test('checkedPublicKey takes valid public keys of the kinds asked for, and quotes nothing of others', () => {
    expect(checkedPublicKey(user.getPublicKey(), 'U')).toBe(user.getPublicKey());
    expect(checkedPublicKey(signingKey, 'AO')).toBe(signingKey.getPublicKey());
    expect(() => checkedPublicKey(user.getPublicKey(), 'A')).toThrow('unexpected type U - wanted A');
    const broken = `${user.getPublicKey().slice(0, -1)}${user.getPublicKey().endsWith('A') ? 'B' : 'A'}`;
    expect(() => checkedPublicKey(broken, 'U')).toThrow();
    expect(() => checkedPublicKey(user.getSeed() as unknown as string, 'U')).toThrow();
  });
});
