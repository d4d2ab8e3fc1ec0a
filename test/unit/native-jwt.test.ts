// decodeJwt accepts and refuses exactly what @nats-io/jwt's decode() does, and returns the same
// claims: only the signature check runs natively.

import { Algorithms, decode, encodeAccount, encodeUser } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { decodeJwt } from '../../src/nats/native-jwt.ts';
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
