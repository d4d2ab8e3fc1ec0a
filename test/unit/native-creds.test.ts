// The test clients' native nonce signing answers exactly what nats.js's own signing would.

import { createAccount, createUser, fromPublic } from '@nats-io/nkeys';
import { encodeUser, fmtCreds } from '@nats-io/jwt';
import { nativeCredsAuthenticator } from '../../src/nats/native-creds.ts';

test('signs the nonce as the nkeys library does, with the JWT and the user public key', async () => {
  const account = createAccount();
  const user = createUser();
  const jwt = await encodeUser('u', user, account);
  const auth = nativeCredsAuthenticator(fmtCreds(jwt, user));
  const nonce = 'lhFtc2sHW_Xg8Q';
  const answer = auth(nonce) as { jwt: string; nkey: string; sig: string };
  expect(answer.jwt).toBe(jwt);
  expect(answer.nkey).toBe(user.getPublicKey());
  // Ed25519 is deterministic: the same key and message give the same signature.
  expect(answer.sig).toBe(Buffer.from(user.sign(new TextEncoder().encode(nonce))).toString('base64'));
  expect(fromPublic(answer.nkey).verify(new TextEncoder().encode(nonce), Buffer.from(answer.sig, 'base64'))).toBe(true);
});

test('refuses text that is not a creds file', () => {
  expect(() => nativeCredsAuthenticator('hello')).toThrow('not a NATS creds file');
});
