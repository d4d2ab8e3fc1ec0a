// The native key pairs answer exactly what @nats-io/nkeys' own pairs answer for the same seed:
// Ed25519 is deterministic, so public keys, seeds, private keys and signatures must be identical,
// and so must the JWTs @nats-io/jwt makes with them.

import { jest } from '@jest/globals';
import { Algorithms, decode, encodeAccount, encodeUser, fmtCreds, type User } from '@nats-io/jwt';
import { createAccount, createCurve, createOperator, createUser, fromSeed, NKeysError, type KeyPair } from '@nats-io/nkeys';
import { createNativeUser, nativeFromSeed, nativeVerify } from '../../src/nats/native-keys.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);
const messages = ['', 'nonce-lhFtc2sHW_Xg8Q', 'x'.repeat(1000)].map(bytes);

describe.each([
  ['a user', createUser],
  ['an account', createAccount],
  ['an operator', createOperator],
])('%s seed', (_kind, create) => {
  // Random seeds of each kind; the library's pair is the reference. Two each: the reference's
  // pure-JS curve math is slow, and each signature is checked over three messages.
  const pairs = Array.from({ length: 2 }, () => create());

  test.each(pairs.map((pair, i) => [i, pair] as const))('#%i: same public key, seed and private key as nkeys', (_i, reference) => {
    const seed = text(reference.getSeed());
    for (const native of [nativeFromSeed(seed), nativeFromSeed(bytes(seed))]) {
      expect(native.getPublicKey()).toBe(reference.getPublicKey());
      expect(text(native.getSeed())).toBe(seed);
      expect(text(native.getPrivateKey())).toBe(text(reference.getPrivateKey()));
    }
  });

  test.each(pairs.map((pair, i) => [i, pair] as const))('#%i: byte-identical signatures, verified both ways', (_i, reference) => {
    const native = nativeFromSeed(reference.getSeed());
    for (const message of messages) {
      const signature = native.sign(message);
      const expected = reference.sign(message);
      expect(signature).toEqual(expected);
      expect(reference.verify(message, signature)).toBe(true);
      expect(native.verify(message, expected)).toBe(true);
      expect(nativeVerify(reference.getPublicKey(), message, signature)).toBe(true);
      const tampered = Uint8Array.from(signature);
      tampered[0] = (tampered[0] ?? 0) ^ 1;
      expect(native.verify(message, tampered)).toBe(false);
      expect(nativeVerify(reference.getPublicKey(), message, tampered)).toBe(false);
      expect(native.verify(message, signature.subarray(0, 63))).toBe(false);
    }
  });
});

test('the caller keeps its seed bytes: the pair copies them', () => {
  const seed = Uint8Array.from(createAccount().getSeed());
  const pair = nativeFromSeed(seed);
  seed.fill(0);
  expect(fromSeed(pair.getSeed()).getPublicKey()).toBe(pair.getPublicKey());
});

test('createNativeUser makes a fresh user key each time that nkeys reads back alike', () => {
  const users = Array.from({ length: 5 }, () => createNativeUser());
  expect(new Set(users.map((user) => user.getPublicKey())).size).toBe(5);
  for (const user of users) {
    expect(user.getPublicKey()).toMatch(/^U[A-Z2-7]{55}$/);
    expect(text(user.getSeed())).toMatch(/^SU[A-Z2-7]{56}$/);
    const reference = fromSeed(user.getSeed());
    expect(reference.getPublicKey()).toBe(user.getPublicKey());
    expect(user.sign(messages[1] as Uint8Array)).toEqual(reference.sign(messages[1] as Uint8Array));
  }
});

describe('JWTs', () => {
  const [operator, account, signingKey, user] = [createOperator(), createAccount(), createAccount(), createUser()];
  const native = (pair: KeyPair) => nativeFromSeed(pair.getSeed());
  const expiresAt = Math.floor(Date.now() / 1000) + 3600;
  const grant: Partial<User> = { pub: { allow: ['ws.1.>'] }, sub: { allow: ['ws.1.>'] }, subs: 10 };

  // The encoders stamp iat from Date.now(): hold it still so both runs stamp the same second.
  beforeEach(() => void jest.spyOn(Date, 'now').mockReturnValue(1_760_000_000_000));
  afterEach(() => jest.restoreAllMocks());

  test('a user JWT signed by an account signing key is the one the library makes, and decodes', async () => {
    const make = (keys: KeyPair[]) => {
      const [u, a, s] = keys as [KeyPair, KeyPair, KeyPair];
      return encodeUser('ws1', u, a.getPublicKey(), grant, { algorithm: Algorithms.v2, exp: expiresAt, signer: s });
    };
    const jwt = await make([user, account, signingKey].map(native));
    expect(jwt).toBe(await make([user, account, signingKey]));
    const claims = decode<User>(jwt);
    expect(claims.sub).toBe(user.getPublicKey());
    expect(claims.iss).toBe(signingKey.getPublicKey());
    expect(claims.nats.issuer_account).toBe(account.getPublicKey());
  });

  test('an account JWT signed by the operator is the one the library makes', async () => {
    const make = (a: KeyPair, o: KeyPair) => encodeAccount('ws', a, { signing_keys: [signingKey.getPublicKey()] }, { algorithm: Algorithms.v2, signer: o });
    const jwt = await make(native(account), native(operator));
    expect(jwt).toBe(await make(account, operator));
    expect(decode(jwt).iss).toBe(operator.getPublicKey());
  });

  test('a creds file holds the native seed as the library formats it', async () => {
    const jwt = await encodeUser('ws1', user, account);
    expect(text(fmtCreds(jwt, native(user)))).toBe(text(fmtCreds(jwt, user)));
  });
});

describe('bad input', () => {
  const account = text(createAccount().getSeed());
  test.each([
    ['garbage', 'not-a-seed'],
    ['a seed with a broken checksum', `${account.slice(0, -3)}AAA`],
    ['a seed with a character outside base32', `${account.slice(0, -1)}1`],
    ['a truncated seed', account.slice(0, 40)],
    ['a public key', createAccount().getPublicKey()],
    ['a curve seed', text(createCurve().getSeed())],
  ])('%s is refused, and the error quotes nothing of it', (_what, seed) => {
    let error: unknown;
    try {
      nativeFromSeed(seed);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NKeysError);
    const { message, cause } = error as Error;
    expect(message).toMatch(/^nkeys: /);
    expect(cause).toBeUndefined();
    for (let at = 0; at + 8 <= seed.length; at++) expect(message).not.toContain(seed.slice(at, at + 8));
  });

  test('nativeVerify refuses what is not a signing public key', () => {
    expect(() => nativeVerify('not-a-key', messages[0] as Uint8Array, new Uint8Array(64))).toThrow(NKeysError);
    expect(() => nativeVerify(account, messages[0] as Uint8Array, new Uint8Array(64))).toThrow(NKeysError);
  });

  test("nativeVerify keeps telling each key's signatures apart past the number of keys it keeps", () => {
    const message = messages[1] as Uint8Array;
    const users = Array.from({ length: 1100 }, () => createNativeUser());
    const signatures = users.map((user) => user.sign(message));
    for (let round = 0; round < 2; round++) {
      users.forEach((user, i) => {
        expect(nativeVerify(user.getPublicKey(), message, signatures[i] as Uint8Array)).toBe(true);
        expect(nativeVerify(user.getPublicKey(), message, signatures[(i + 1) % users.length] as Uint8Array)).toBe(false);
      });
    }
  });

  test('a cleared pair zeroes its seed and refuses every use', () => {
    const pair = nativeFromSeed(account);
    const seed = pair.getSeed();
    pair.clear();
    expect(seed.every((byte) => byte === 0)).toBe(true);
    for (const use of [() => pair.getPublicKey(), () => pair.getSeed(), () => pair.getPrivateKey(), () => pair.sign(new Uint8Array(1))]) {
      expect(use).toThrow('nkeys: pair is cleared');
    }
  });
});
