// Whose client a record is (by user key, by callout name, or a revoked user's), and why a refused
// login was most likely refused.

import { AuthFailureReason, UserDirectory, attribute, authFailureReason, userKeyOf, type AttributionLookups } from '../../src/audit/attribution.ts';
import type { ClientEvent, PresentedUser } from '../../src/nats/advisories.ts';

// Public keys have the shape of nkeys (U + 55 characters); nothing here checks their checksum.
const key = (prefix: string, n: number) => `${prefix}${String(n).padStart(55, 'X')}`;
const U1 = key('U', 1);
const U2 = key('U', 2);
const U3 = key('U', 3);
const ACCOUNT = key('A', 1);
const now = new Date('2026-12-03T08:00:00Z');

const presented = (userPublicKey: string, expiresAt?: Date): PresentedUser => ({
  userPublicKey,
  account: ACCOUNT,
  signer: ACCOUNT,
  name: 'team-a/ws1',
  issuedAt: new Date(now.getTime() - 3_600_000),
  expiresAt,
  nats: {},
});

const event = (overrides: Partial<ClientEvent> = {}): ClientEvent => ({
  kind: 'auth_error',
  id: 'advisory-1',
  time: now.toISOString(),
  server: { id: 'NSERVER', name: 'nats-0' },
  cid: 1,
  account: ACCOUNT,
  user: undefined,
  host: '10.0.0.1',
  clientName: undefined,
  lang: undefined,
  version: undefined,
  tags: [],
  presented: undefined,
  reason: 'Authentication Revoked',
  bytesIn: undefined,
  bytesOut: undefined,
  ...overrides,
});

/** Lookups over plain tables; revoked users by "account/user". */
const lookups = ({ users = {}, callout = {}, revoked = {} }: { users?: Record<string, string>; callout?: Record<string, string>; revoked?: Record<string, string> } = {}): AttributionLookups => ({
  accessOfUser: (user) => users[user],
  calloutAccess: (name) => callout[name],
  revokedFor: (account, user) => revoked[`${account}/${user}`],
});

describe('UserDirectory', () => {
  test("each of an access's users names it, and a replaced set drops the users left out", () => {
    const directory = new UserDirectory();
    directory.set('team-a/ws1', [U1, U2]);
    expect(directory.accessOf(U1)).toBe('team-a/ws1');
    expect(directory.accessOf(U2)).toBe('team-a/ws1');
    directory.set('team-a/ws1', [U2, U3]);
    expect(directory.accessOf(U1)).toBeUndefined();
    expect(directory.accessOf(U2)).toBe('team-a/ws1');
    expect(directory.accessOf(U3)).toBe('team-a/ws1');
  });

  test('an access that is gone (no users) names none of them any more, and leaves others alone', () => {
    const directory = new UserDirectory();
    directory.set('team-a/ws1', [U1]);
    directory.set('team-a/ws2', [U2]);
    directory.set('team-a/ws1', []);
    expect(directory.accessOf(U1)).toBeUndefined();
    expect(directory.accessOf(U2)).toBe('team-a/ws2');
  });

  test('a user that moves to another access is that one\'s, and stays so when the first drops it or goes', () => {
    const directory = new UserDirectory();
    directory.set('team-a/ws1', [U1, U2]);
    directory.set('team-b/ws9', [U1]);
    expect(directory.accessOf(U1)).toBe('team-b/ws9');
    directory.set('team-a/ws1', [U2]);
    expect(directory.accessOf(U1)).toBe('team-b/ws9');
    directory.set('team-a/ws1', []);
    expect(directory.accessOf(U1)).toBe('team-b/ws9');
    expect(directory.accessOf(U2)).toBeUndefined();
    directory.set('team-b/ws9', []);
    expect(directory.accessOf(U1)).toBeUndefined();
  });
});

describe('userKeyOf', () => {
  test('the logged-in user key when the server names one', () => {
    expect(userKeyOf(event({ user: U1, presented: presented(U2) }))).toBe(U1);
  });

  test('else the user in the JWT presented (a refused login names no user)', () => {
    expect(userKeyOf(event({ user: undefined, presented: presented(U2) }))).toBe(U2);
  });

  test('a callout name or a redacted token is not a user key', () => {
    expect(userKeyOf(event({ user: 'team-a/ws1' }))).toBeUndefined();
    expect(userKeyOf(event({ user: '[REDACTED]' }))).toBeUndefined();
    // U followed by too few characters: not a public key.
    expect(userKeyOf(event({ user: 'Ushort' }))).toBeUndefined();
  });
});

describe('attribute', () => {
  test("a user key an access accounts for is that access's", () => {
    const record = event({ user: U1 });
    expect(attribute(record, ACCOUNT, lookups({ users: { [U1]: 'team-a/ws1' } }))).toEqual({ kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: false });
  });

  test("an access's own user that is also revoked is the access's, flagged revoked", () => {
    const record = event({ presented: presented(U1) });
    const found = attribute(record, ACCOUNT, lookups({ users: { [U1]: 'team-a/ws1' }, revoked: { [`${ACCOUNT}/${U1}`]: 'team-a/ws1' } }));
    expect(found).toEqual({ kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: true });
  });

  test('a revoked user no access accounts for is revoked, for what it was revoked for', () => {
    const record = event({ presented: presented(U1) });
    expect(attribute(record, ACCOUNT, lookups({ revoked: { [`${ACCOUNT}/${U1}`]: 'team-a/deleted' } }))).toEqual({ kind: 'revoked', revokedFor: 'team-a/deleted' });
  });

  test('revocations are per account: the same user revoked in another account does not count', () => {
    const record = event({ presented: presented(U1) });
    expect(attribute(record, ACCOUNT, lookups({ revoked: { [`${key('A', 2)}/${U1}`]: 'team-a/ws1' } }))).toEqual({ kind: 'unknown' });
  });

  test('a callout login is found by the name the callout gave the user', () => {
    const record = event({ kind: 'connect', user: 'team-a/ws1' });
    expect(attribute(record, ACCOUNT, lookups({ callout: { 'team-a/ws1': 'team-a/ws1' } }))).toEqual({ kind: 'access', accessKey: 'team-a/ws1', via: 'callout', revoked: false });
  });

  test('a user key nobody accounts for is unknown, even if a callout has that name', () => {
    expect(attribute(event({ user: U3 }), ACCOUNT, lookups({ callout: { [U3]: 'team-a/ws1' } }))).toEqual({ kind: 'unknown' });
  });

  test('a name no callout access has, or no user at all, is unknown', () => {
    expect(attribute(event({ user: 'team-a/other' }), ACCOUNT, lookups({ callout: { 'team-a/ws1': 'team-a/ws1' } }))).toEqual({ kind: 'unknown' });
    expect(attribute(event(), ACCOUNT, lookups())).toEqual({ kind: 'unknown' });
  });
});

describe('authFailureReason', () => {
  const past = new Date(now.getTime() - 1000);
  const future = new Date(now.getTime() + 1000);

  test.each([
    ['a revoked user', event({ presented: presented(U1, past) }), { kind: 'revoked', revokedFor: 'team-a/ws1' }, AuthFailureReason.UserRevoked],
    ["an access's own revoked user", event({ presented: presented(U1) }), { kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: true }, AuthFailureReason.UserRevoked],
    ['an expired JWT of an access', event({ presented: presented(U1, past) }), { kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: false }, AuthFailureReason.CredentialsExpired],
    ['a JWT expiring at that very moment', event({ presented: presented(U1, now) }), { kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: false }, AuthFailureReason.CredentialsExpired],
    ['an expired JWT nobody accounts for', event({ presented: presented(U1, past) }), { kind: 'unknown' }, AuthFailureReason.CredentialsExpired],
    ['a valid JWT nobody accounts for', event({ presented: presented(U1, future) }), { kind: 'unknown' }, AuthFailureReason.UnknownUser],
    ['a JWT that never expires, of nobody', event({ presented: presented(U1) }), { kind: 'unknown' }, AuthFailureReason.UnknownUser],
    ['no JWT at all', event(), { kind: 'unknown' }, AuthFailureReason.Other],
    ['a valid JWT of a live access', event({ presented: presented(U1, future) }), { kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: false }, AuthFailureReason.Other],
  ] as const)('%s', (_, refused, attribution, reason) => {
    expect(authFailureReason(refused, attribution, now)).toBe(reason);
  });
});
