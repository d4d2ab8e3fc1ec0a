import { decode, type User } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { mintUserCredentials, readCredentials, type UserGrant } from '../../src/nats/credentials.ts';
import { parseSeed } from '../../src/nats/seeds.ts';

const seedOf = (pair: { getSeed(): Uint8Array }) => new TextDecoder().decode(pair.getSeed());

const grant: UserGrant = {
  pub: { allow: ['ws.1.>'], deny: [] },
  sub: { allow: ['ws.1.>', '_INBOX.>'], deny: ['ws.1.secret'] },
  resp: { max: 1, ttl: 0 },
  subs: 10,
  payload: 1024,
  data: -1,
  allowed_connection_types: ['STANDARD'],
  src: [],
};

describe('mintUserCredentials', () => {
  const account = createAccount();
  const signingKey = createAccount();
  const expiresAt = new Date(Date.now() + 3_600_000);

  test('signs with the signing key on behalf of the account, with the grant and expiry', async () => {
    const minted = await mintUserCredentials({
      name: 'team/ws1',
      accountPublicKey: account.getPublicKey(),
      signingKey,
      grant,
      expiresAt,
    });
    const issued = readCredentials(minted.creds);
    expect(issued.userPublicKey).toBe(minted.userPublicKey);
    expect(issued.accountPublicKey).toBe(account.getPublicKey());
    expect(issued.expiresAt?.getTime()).toBe(Math.floor(expiresAt.getTime() / 1000) * 1000);
    const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(minted.creds)?.[1] as string;
    const claims = decode<User>(jwt);
    expect(claims.iss).toBe(signingKey.getPublicKey());
    expect(claims.name).toBe('team/ws1');
    expect(claims.nats.pub).toEqual(grant.pub);
    expect(claims.nats.sub).toEqual(grant.sub);
    expect(claims.nats.subs).toBe(10);
    expect(claims.nats.payload).toBe(1024);
    expect(claims.nats.allowed_connection_types).toEqual(['STANDARD']);
  });

  test('signed by the account key itself, there is no issuer_account', async () => {
    const minted = await mintUserCredentials({
      name: 'x',
      accountPublicKey: account.getPublicKey(),
      signingKey: account,
      grant,
      expiresAt,
    });
    expect(readCredentials(minted.creds).accountPublicKey).toBe(account.getPublicKey());
  });

  test('every issuance is a fresh user key', async () => {
    const request = { name: 'x', accountPublicKey: account.getPublicKey(), signingKey, grant, expiresAt };
    const keys = new Set<string>();
    for (let i = 0; i < 10; i++) keys.add((await mintUserCredentials(request)).userPublicKey);
    expect(keys.size).toBe(10);
  }, 30_000);
});

test('a scoped user carries its tags and nothing else, on behalf of the account', async () => {
  const account = createAccount();
  const scopedKey = createAccount();
  const minted = await mintUserCredentials({
    name: 'x',
    accountPublicKey: account.getPublicKey(),
    signingKey: scopedKey,
    grant: { tags: ['ws:ws1'] },
    expiresAt: new Date(Date.now() + 60_000),
  });
  const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(minted.creds)?.[1] as string;
  const { nats, iss } = decode<User>(jwt);
  expect(iss).toBe(scopedKey.getPublicKey());
  expect(nats.issuer_account).toBe(account.getPublicKey());
  expect(nats.tags).toEqual(['ws:ws1']);
  expect(nats.pub).toBeUndefined();
  expect(nats.sub).toBeUndefined();
  expect(nats.subs).toBeUndefined();
});

describe('readCredentials', () => {
  test('rejects text that is not a creds file, without quoting it', () => {
    expect(() => readCredentials('hello')).toThrow('not a NATS creds file');
  });

  test('rejects a creds file whose seed belongs to another user', async () => {
    const account = createAccount();
    const minted = await mintUserCredentials({
      name: 'x',
      accountPublicKey: account.getPublicKey(),
      signingKey: account,
      grant,
      expiresAt: new Date(Date.now() + 60_000),
    });
    const otherSeed = seedOf(createUser());
    const tampered = minted.creds.replace(/(NKEY SEED-----\n)SU[A-Z2-7]+/, `$1${otherSeed}`);
    let message = '';
    try {
      readCredentials(tampered);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('creds file seed does not match its JWT');
    expect(message).not.toContain(otherSeed);
  });
});

describe('parseSeed', () => {
  const source = 'Secret wno-system/keys key "seed"';

  test('returns the key pair of a seed of the expected kind', () => {
    const account = createAccount();
    expect(parseSeed(`  ${seedOf(account)}\n`, 'account', source).getPublicKey()).toBe(account.getPublicKey());
  });

  test.each([
    ['an operator seed where an account seed belongs', () => seedOf(createOperator()), 'holds an operator seed (SO...); expected an account seed (SA...)'],
    ['a user seed', () => seedOf(createUser()), 'holds a user seed (SU...); expected an account seed (SA...)'],
    ['garbage', () => 'not-a-seed', 'does not hold a valid nkey seed; expected an account seed (SA...)'],
    ['a corrupted account seed', () => seedOf(createAccount()).slice(0, -3) + 'AAA', 'does not hold a valid nkey seed'],
    ['nothing', () => '   ', 'is empty; expected an account seed (SA...)'],
  ])('rejects %s, naming the source and never echoing the value', (_what, make, expected) => {
    const value = make();
    let message = '';
    try {
      parseSeed(value, 'account', source);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(source);
    expect(message).toContain(expected);
    if (value.trim()) expect(message).not.toContain(value.trim());
  });
});
