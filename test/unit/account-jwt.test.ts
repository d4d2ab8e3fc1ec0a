import { Algorithms, decode, encodeAccount, newScopedSigner, type Account } from '@nats-io/jwt';
import { createAccount, createOperator } from '@nats-io/nkeys';
import {
  accountJwtSizer,
  newestAccountJwt,
  readAccountJwt,
  revisedRevocations,
  sameRevocations,
  withRevocations,
} from '../../src/nats/account-jwt.ts';

const operatorSigner = createOperator();
const account = createAccount();
const plainKey = createAccount().getPublicKey();
const scopedKey = createAccount();

async function accountJwt(extra: Partial<Account> & Record<string, unknown> = {}) {
  return encodeAccount(
    'WS',
    account.getPublicKey(),
    { signing_keys: [plainKey, newScopedSigner(scopedKey, 'ws', { pub: { allow: ['a'], deny: [] } })], ...extra },
    { algorithm: Algorithms.v2, signer: operatorSigner },
  );
}

describe('account JWTs', () => {
  test('read: subject, issuer, revocations and which signing keys are scoped', async () => {
    const info = readAccountJwt(await accountJwt({ revocations: { UA: 10 } }));
    expect(info).toMatchObject({
      subject: account.getPublicKey(),
      issuer: operatorSigner.getPublicKey(),
      revocations: { UA: 10 },
      signingKeys: [
        { key: plainKey, scoped: false },
        { key: scopedKey.getPublicKey(), scoped: true },
      ],
    });
  });

  test('anything but an account JWT is refused without quoting it', () => {
    expect(() => readAccountJwt('garbage')).toThrow(/^not a JWT$/);
  });

  test('the newest copy wins; copies of other accounts and garbage are ignored', async () => {
    const older = await accountJwt();
    const other = await encodeAccount('X', createAccount(), {}, { algorithm: Algorithms.v2, signer: operatorSigner });
    const newer = withRevocations(older, { UB: 1 }, operatorSigner, new Date((readAccountJwt(older).issuedAt + 1) * 1000));
    expect(newestAccountJwt(['', 'garbage', older, other, newer, older], account.getPublicKey())).toBe(newer);
    expect(newestAccountJwt(['', other], account.getPublicKey())).toBeUndefined();
  });

  test('revised revocations: added (the later time wins), removed, others kept', () => {
    const next = revisedRevocations({ UA: 5, UB: 5, UC: 5 }, new Map([['UA', 9], ['UB', 1], ['UD', 3]]), new Set(['UC']));
    expect(next).toEqual({ UA: 9, UB: 5, UD: 3 });
    expect(sameRevocations(next, { UD: 3, UB: 5, UA: 9 })).toBe(true);
    expect(sameRevocations(next, { UA: 9, UB: 5 })).toBe(false);
    expect(sameRevocations(next, { UA: 9, UB: 5, UD: 4 })).toBe(false);
  });

  test('re-signing keeps every other claim, even unknown ones, and replaces the revocations', async () => {
    const base = await accountJwt({ limits: { conn: 7 }, mappings: { a: [{ subject: 'b', weight: 100 }] }, revocations: { UA: 1 } });
    const signer = createOperator();
    const issuedAt = new Date('2031-05-06T07:08:09.500Z');
    const next = withRevocations(base, { UB: 2 }, signer, issuedAt);
    // decode checks the signature.
    const before = decode<Account & Record<string, unknown>>(base);
    const after = decode<Account & Record<string, unknown>>(next);
    expect(after.iss).toBe(signer.getPublicKey());
    expect(after.iat).toBe(Math.floor(issuedAt.getTime() / 1000));
    expect(after.jti).not.toBe(before.jti);
    expect(after.nats.revocations).toEqual({ UB: 2 });
    const { revocations: _a, ...restBefore } = before.nats;
    const { revocations: _b, ...restAfter } = after.nats;
    expect(restAfter).toEqual(restBefore);
    expect(after.sub).toBe(before.sub);
    expect(after.name).toBe(before.name);
    // No revocations left: the claim goes.
    expect(decode<Account>(withRevocations(next, {}, signer, issuedAt)).nats.revocations).toBeUndefined();
  });

  test('the sizer measures the JWT re-signing makes, to the byte, whoever signs it and whenever', async () => {
    const base = await accountJwt({ limits: { conn: 7 } });
    const size = accountJwtSizer(base);
    const lists = [{}, { UA: 1 }, Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`U${'X'.repeat(50)}${i}`, 1_900_000_000 + i]))];
    for (const revocations of lists) {
      for (const issuedAt of [new Date('2026-01-01T00:00:00Z'), new Date('2286-11-20T17:46:39Z')]) {
        expect(size(revocations)).toBe(withRevocations(base, revocations, createOperator(), issuedAt).length);
      }
    }
  });
});
