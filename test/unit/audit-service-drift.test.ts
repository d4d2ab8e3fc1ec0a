// AuditService reporting what should not be there: a connection no access accounts for (revoked
// and closed under policy.enforcement Revoke only when the operator's signing key signed it),
// refused logins of revoked users (attributed only when the JWT is the account's), and an auth
// failure heard on two accounts' subscriptions counted once. Fakes in fake-audit.ts; simulated time.

import { jest } from '@jest/globals';
import {
  accessNamed,
  audit,
  authErrorAdvisory,
  authErrSubject,
  connectAdvisory,
  connectSubject,
  connz,
  elapse,
  issuerOf,
  mintUser,
  NATS_0,
  newAccountKey,
  TIMING,
  type Client,
} from './fake-audit.ts';

const account = newAccountKey();
const signingKey = newAccountKey();
const ACCOUNT = account.getPublicKey();

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

const enforcingIssuer = () => issuerOf('platform', ACCOUNT, signingKey.getPublicKey(), 'Revoke');

describe('a connection of a user no access accounts for', () => {
  const enforcing = enforcingIssuer();

  test("is reported after the grace, and under Revoke, signed with the issuer's signing key, revoked and closed", async () => {
    const { service, nats, events, called, revokes, gauge } = audit({ issuers: [enforcing] });
    const minted = await mintUser(ACCOUNT, signingKey, 'team-a/stray');
    const client: Client = { account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 11 };
    service.start();
    await elapse();
    nats.publish(connectSubject(ACCOUNT), connectAdvisory(client));
    await elapse(TIMING.unknownGraceMs - 1);
    expect(called('unknownUser')).toEqual([]);
    expect(revokes).toEqual([]);

    await elapse(1);
    expect(gauge.platform).toBe(1);
    expect(called('unknownUser')).toEqual([['platform']]);
    expect(called('enforced')).toEqual([['platform', 'UnknownUser']]);
    expect(revokes).toEqual([{ account: ACCOUNT, key: `enforcement:${minted.user}`, users: [{ userPublicKey: minted.user, expiresAt: new Date(3_600_000) }] }]);
    expect(nats.kicks).toEqual([[NATS_0.id, 11]]);
    expect(events.map((event) => `${event.object} ${event.type} ${event.reason}`)).toEqual([
      'ClusterNatsIssuer /platform Warning UnknownUserConnected',
      'ClusterNatsIssuer /platform Warning UserRevokedByPolicy',
    ]);
    expect(events[0]?.message).toContain(`NATS user ${minted.user} connected to nats-0 from 10.1.2.3`);

    // The issuer's spec changes, and a listing shows the connection again: it was reported already.
    nats.listing = () => [connz(NATS_0, [client])];
    service.issuerChanged(enforcing);
    await elapse(TIMING.unknownGraceMs * 2);
    expect(called('unknownUser')).toHaveLength(1);
    expect(revokes).toHaveLength(1);
    expect(nats.kicks).toHaveLength(1);
    expect(events).toHaveLength(2);
    expect(gauge.platform).toBe(1);
    await service.stop();
  });

  test('signed with the account key (not the operator\'s signing key) is reported only', async () => {
    const { service, nats, events, called, revokes } = audit({ issuers: [enforcing] });
    const minted = await mintUser(ACCOUNT, account, 'team-a/stray');
    service.start();
    await elapse();
    nats.publish(connectSubject(ACCOUNT), connectAdvisory({ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 12 }));
    await elapse(TIMING.unknownGraceMs + 1);
    expect(called('unknownUser')).toEqual([['platform']]);
    expect(called('enforced')).toEqual([]);
    expect(revokes).toEqual([]);
    expect(nats.kicks).toEqual([]);
    expect(events.map((event) => event.reason)).toEqual(['UnknownUserConnected']);
    await service.stop();
  });
});

test("an access's connection granting more than a tightened policy is reported and revoked once, however often the issuer changes", async () => {
  const tightened = { ...enforcingIssuer(), spec: { ...enforcingIssuer().spec, policy: { enforcement: 'Revoke' as const, maxLimits: { subscriptions: 5 } } } };
  const minted = await mintUser(ACCOUNT, signingKey, 'team-a/ws1');
  const { service, nats, events, called, revokes } = audit({ issuers: [tightened], accesses: [accessNamed('team-a', 'ws1', 'platform')], users: { 'team-a/ws1': [minted.user] } });
  nats.listing = () => [connz(NATS_0, [{ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 13 }])];
  service.start();
  await elapse(1);
  expect(called('overPermission')).toEqual([['platform']]);
  expect(revokes.map((revoke) => revoke.key)).toEqual([`enforcement:${minted.user}`]);
  expect(events.find((event) => event.reason === 'OverPermission')?.message).toContain('subs: 10 exceeds policy.maxLimits 5');

  service.issuerChanged(tightened);
  service.issuerChanged(tightened);
  await elapse(TIMING.unknownGraceMs);
  expect(called('overPermission')).toHaveLength(1);
  expect(called('enforced')).toHaveLength(1);
  expect(revokes).toHaveLength(1);
  expect(nats.kicks).toEqual([[NATS_0.id, 13]]);
  await service.stop();
});

describe('a refused login', () => {
  const platform = issuerOf('platform', ACCOUNT, signingKey.getPublicKey());

  test('of a user revoked for a deleted access: attributed to it, UserRevoked, and told on the issuer', async () => {
    const minted = await mintUser(ACCOUNT, signingKey, 'team-a/gone');
    const { service, nats, lines, events, called } = audit({ issuers: [platform], revoked: { [minted.user]: 'team-a/gone' } });
    service.start();
    await elapse();
    nats.publish(authErrSubject(), authErrorAdvisory({ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 21 }));
    await elapse();
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'auth_error',
        attribution: 'revoked',
        namespace: 'team-a',
        access: 'gone',
        workspaceId: 'gone',
        user: minted.user,
        account: ACCOUNT,
        issuer: 'platform',
        reason: 'UserRevoked',
        serverReason: 'Authentication Revoked',
      }),
    ]);
    expect(called('authFailure')).toEqual([['platform', 'UserRevoked']]);
    expect(events).toEqual([
      {
        object: 'ClusterNatsIssuer /platform',
        type: 'Warning',
        reason: 'RevokedUserRetrying',
        message: `Revoked user ${minted.user} of deleted access team-a/gone tried to log in from 10.1.2.3`,
      },
    ]);
    await service.stop();
  });

  test("of a revoked user of a live access: the access's own if its JWT came after the access was created, else a namesake's", async () => {
    jest.setSystemTime(100_000);
    const minted = await mintUser(ACCOUNT, signingKey, 'team-a/ws1'); // issued at 100 s
    for (const [created, own] of [[100_000, true], [110_000, false]] as const) {
      const access = accessNamed('team-a', 'ws1', 'platform');
      access.metadata.creationTimestamp = new Date(created);
      const { service, nats, events } = audit({ issuers: [platform], accesses: [access], revoked: { [minted.user]: 'team-a/ws1' } });
      service.start();
      await elapse();
      nats.publish(authErrSubject(), authErrorAdvisory({ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 30 }));
      await elapse();
      expect(events.filter((event) => event.reason === 'AuthFailed').map((event) => event.object)).toEqual(own ? ['WorkspaceNatsAccess team-a/ws1'] : []);
      expect(events.find((event) => event.reason === 'RevokedUserRetrying')?.message).toContain(own ? 'of access team-a/ws1' : 'of deleted access team-a/ws1');
      await service.stop();
    }
  });

  test('with a JWT for the account that none of its keys signed: not attributed, even naming a revoked user', async () => {
    const minted = await mintUser(ACCOUNT, signingKey, 'team-a/gone');
    const { service, nats, lines, events, called } = audit({ issuers: [platform], revoked: { [minted.user]: 'team-a/gone' } });
    const forged = minted.forgedBy(newAccountKey());
    service.start();
    await elapse();
    nats.publish(authErrSubject(), authErrorAdvisory({ account: ACCOUNT, user: minted.user, jwt: forged, cid: 22 }));
    await elapse();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'auth_error', attribution: 'unknown', account: ACCOUNT, reason: 'Other' });
    expect(lines[0]?.issuer).toBeUndefined();
    expect(lines[0]?.access).toBeUndefined();
    expect(called('authFailure')).toEqual([['', 'Other']]);
    expect(events).toEqual([]);
    await service.stop();
  });

  test("heard on two accounts' subscriptions (the same advisory id) makes one line", async () => {
    const other = newAccountKey();
    const second = issuerOf('second', other.getPublicKey(), newAccountKey().getPublicKey());
    const minted = await mintUser(ACCOUNT, signingKey, 'team-a/gone');
    const { service, nats, lines, called } = audit({ issuers: [platform, second], revoked: { [minted.user]: 'team-a/gone' } });
    service.start();
    await elapse();
    // One message, delivered to the AUTH.ERR subscription of each account.
    nats.publish(authErrSubject(), authErrorAdvisory({ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 23 }));
    await elapse();
    expect(nats.subscribers(authErrSubject())).toBe(2);
    expect(lines).toHaveLength(1);
    expect(called('authFailure')).toEqual([['platform', 'UserRevoked']]);
    await service.stop();
  });
});

test('an access that exists is not what a revoked-user Event names as deleted', async () => {
  const platform = issuerOf('platform', ACCOUNT, signingKey.getPublicKey());
  const minted = await mintUser(ACCOUNT, signingKey, 'team-a/ws1');
  const { service, nats, events, lines } = audit({
    issuers: [platform],
    accesses: [accessNamed('team-a', 'ws1', 'platform')],
    users: { 'team-a/ws1': [minted.user] },
    revoked: { [minted.user]: 'team-a/ws1' },
  });
  service.start();
  await elapse();
  nats.publish(authErrSubject(), authErrorAdvisory({ account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 24 }));
  await elapse();
  // Issued and revoked (over a tightened policy): its access's, refused as revoked.
  expect(lines[0]).toMatchObject({ attribution: 'access', access: 'ws1', reason: 'UserRevoked' });
  expect(events.map((event) => `${event.object} ${event.reason}`)).toEqual(['WorkspaceNatsAccess team-a/ws1 AuthFailed', 'ClusterNatsIssuer /platform RevokedUserRetrying']);
  expect(events[1]?.message).toContain('of access team-a/ws1');
  await service.stop();
});
