// The reports of `inspect` and their text: what an access resolved to and under which bounds, which
// users are due for revocation and whether each server has them, the issuer's list against each
// server's JWT, and that a part that could not be read is said, not hidden.

import { createUser } from '@nats-io/nkeys';
import { notOk, ok } from '../../src/api/failure.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { accessReport, serverRevocations } from '../../src/inspect/access-report.ts';
import { issuerReport } from '../../src/inspect/issuer-report.ts';
import type { NatsReading } from '../../src/inspect/observed.ts';
import { renderAccessText, renderIssuerText, table } from '../../src/inspect/render-text.ts';
import type { RevocationEntry } from '../../src/revocation/revocation-store.ts';
import { access as accessFixture, accountKey, issuer as issuerFixture } from './fixtures.ts';

const now = new Date('2026-12-01T12:00:00Z');
const current = createUser().getPublicKey();
const retired = createUser().getPublicKey();
const renewed = createUser().getPublicKey();
const signingKey = 'A'.repeat(56);

const issuer = issuerFixture({
  policy: {
    maxTTL: '4h',
    allowedSubjects: { publish: ['ws.{{workspace.id}}.>', 'owner.{{workspace.owner}}.>'], subscribe: ['ws.{{workspace.id}}.>'] },
    maxLimits: { subscriptions: 10 },
    connectionTypes: ['STANDARD', 'WEBSOCKET'],
  },
});

function issuedAccess(extra: Partial<WorkspaceNatsAccess['metadata']> = {}): WorkspaceNatsAccess {
  const base = accessFixture({ permissions: { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } } });
  return {
    ...base,
    metadata: { ...base.metadata, ...extra },
    status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'Issued', message: 'Minted', lastTransitionTime: '2026-12-01T11:00:00Z' }],
      userPublicKey: current,
      issuedAt: '2026-12-01T11:30:00Z',
      expiresAt: '2026-12-01T12:30:00Z',
      renewAt: '2026-12-01T12:10:00Z',
      retiredUsers: [
        { publicKey: retired, expiresAt: '2026-12-01T12:20:00Z', revoke: true },
        { publicKey: renewed, expiresAt: '2026-12-01T11:50:00Z' },
      ],
    },
  };
}

const reading = (revocations: Record<string, number> | undefined, connections: NatsReading['connections'] = []): NatsReading => ({
  servers: [
    { id: 'N1', name: 'nats-0', account: revocations && { subject: accountKey, signer: 'O'.repeat(56), issuedAt: '2026-12-01T11:59:00Z', revocations, signingKeys: [signingKey] } },
  ],
  connections,
});

const entry = (user: string, access: string): [string, RevocationEntry] => [user, { revokedAt: 1_796_126_000, expiresAt: 1_796_127_000, access }];

describe('inspect access', () => {
  test('resolves the grant again and expands the issuer bounds for this workspace', () => {
    const report = accessReport({ access: issuedAccess(), issuer, namespaceLabels: ok({}), revocationList: ok(new Map()), nats: ok(reading({})), now });
    expect(report.resolved).toMatchObject({
      ok: true,
      publish: { allow: ['ws.ws1.>'], deny: [] },
      subscribe: { allow: ['ws.ws1.>'], deny: [] },
      limits: { subscriptions: 10, payload: -1, data: -1, connectionTypes: ['STANDARD', 'WEBSOCKET'] },
      ttl: '1h',
      renewBefore: '20m',
      tags: ['ws:ws1'],
    });
    expect(report.policy).toEqual({
      issuer: 'platform',
      maxTTL: '4h',
      allowedSubjects: { publish: ['ws.ws1.>', 'owner.alice.>'], subscribe: ['ws.ws1.>'] },
      maxLimits: { subscriptions: 10 },
      connectionTypes: ['STANDARD', 'WEBSOCKET'],
    });
    expect(report.issued).toEqual({ issuedAt: '2026-12-01T11:30:00Z', expiresAt: '2026-12-01T12:30:00Z', renewAt: '2026-12-01T12:10:00Z' });
  });

  test('a spec the policy refuses reports the reason the controller gives', () => {
    const greedy = { ...issuedAccess(), spec: { ...issuedAccess().spec, ttl: '5h' } };
    const report = accessReport({ access: greedy, issuer, namespaceLabels: ok({}), revocationList: ok(new Map()), nats: ok(reading({})), now });
    expect(report.resolved).toEqual({ ok: false, reason: 'PolicyViolation', message: 'spec.ttl: 5h exceeds the maximum 4h of issuer platform' });
    expect(renderAccessText(report)).toContain('does not resolve: PolicyViolation: spec.ttl: 5h exceeds the maximum 4h of issuer platform');
  });

  test('a live access must have revoked only its users marked revoke; an expired one no longer matters', () => {
    const report = accessReport({
      access: issuedAccess(),
      issuer,
      namespaceLabels: ok({}),
      revocationList: ok(new Map([entry(retired, 'team-a/ws1')])),
      nats: ok(reading({ [retired]: 1_796_126_000 })),
      now,
    });
    expect(report.users.map(({ publicKey, role, toRevoke, expired }) => ({ publicKey, role, toRevoke, expired }))).toEqual([
      { publicKey: current, role: 'current', toRevoke: false, expired: false },
      { publicKey: retired, role: 'retired', toRevoke: true, expired: false },
      { publicKey: renewed, role: 'retired', toRevoke: false, expired: true },
    ]);
    expect(report.users[1]?.recorded).toEqual({ revokedAt: '2026-12-01T11:53:20.000Z', expiresAt: '2026-12-01T12:10:00.000Z' });
    expect(report.nats).toMatchObject({ reachable: true, servers: [{ server: 'nats-0', state: 'revoked', notRevoked: [] }] });
  });

  test('an access being deleted must have every valid user revoked; a server lacking one says which', () => {
    const deleting = issuedAccess({ deletionTimestamp: new Date('2026-12-01T11:59:00Z'), finalizers: ['natsaccess.io/revoke-credentials'] });
    const report = accessReport({ access: deleting, issuer, namespaceLabels: ok({}), revocationList: ok(new Map()), nats: ok(reading({ [retired]: 1 })), now });
    expect(report.deleting).toBe(true);
    expect(report.nats).toMatchObject({ servers: [{ state: 'missing', notRevoked: [current] }] });
    expect(renderAccessText(report)).toContain(`MISSING ${current}`);
  });

  test('per server: n/a without users to revoke, unknown where the account is not loaded', () => {
    expect(serverRevocations(reading({}), [])).toEqual([{ server: 'nats-0', id: 'N1', state: 'n/a', accountJwtIssuedAt: '2026-12-01T11:59:00Z', notRevoked: [] }]);
    expect(serverRevocations(reading(undefined), [current])).toMatchObject([{ state: 'unknown', detail: expect.stringContaining('not loaded') }]);
  });

  test("only the access's connections are listed: its users' and its callout logins", () => {
    const connection = (cid: number, user: string) => ({ server: 'nats-0', cid, user, host: '10.0.0.1', name: 'app', start: '2026-12-01T11:40:00Z' });
    const report = accessReport({
      access: issuedAccess(),
      issuer,
      namespaceLabels: ok({}),
      revocationList: ok(new Map()),
      nats: ok(reading({}, [connection(1, current), connection(2, createUser().getPublicKey()), connection(3, 'team-a/ws1'), connection(4, retired)])),
      now,
    });
    expect(report.nats.reachable && report.nats.connections.map((c) => c.cid)).toEqual([1, 3, 4]);
    expect(renderAccessText(report)).toMatch(/nats-0 +1 +10\.0\.0\.1 +app +2026-12-01T11:40:00Z +U/);
  });

  test('NATS unreachable: said in its section and in the warnings, the Kubernetes side still shown', () => {
    const report = accessReport({ access: issuedAccess(), issuer, namespaceLabels: ok({}), revocationList: notOk('forbidden'), nats: notOk('NATS unreachable at nats://a:4222: CONNECTION_REFUSED'), now });
    expect(report.nats).toEqual({ reachable: false, error: 'NATS unreachable at nats://a:4222: CONNECTION_REFUSED' });
    expect(report.warnings).toEqual(['revocation list unreadable: forbidden', 'NATS unreachable at nats://a:4222: CONNECTION_REFUSED']);
    const text = renderAccessText(report);
    expect(text).toContain('UNAVAILABLE: NATS unreachable');
    expect(text).toContain(current);
  });

  test('without its issuer: IssuerNotFound, and no NATS to ask', () => {
    const report = accessReport({ access: issuedAccess(), issuer: undefined, namespaceLabels: ok({}), revocationList: undefined, nats: notOk('no issuer'), now });
    expect(report.resolved).toMatchObject({ ok: false, reason: 'IssuerNotFound' });
    expect(report.nats).toEqual({ reachable: false, error: 'issuer platform not found: no NATS servers to ask' });
  });
});

describe('inspect issuer', () => {
  const withStatus = {
    ...issuer,
    status: { signingKeyPublicKey: signingKey, revocation: { active: 2, lastPushTime: '2026-12-01T11:59:00Z', lastPushResult: 'Succeeded' as const, lastPushMessage: '1 of 1 NATS servers stored it' } },
  };

  test('its stored list against each server: entries missing from a server are named', () => {
    const list = new Map([entry(current, 'team-a/ws1'), entry(retired, 'team-b/ws2')]);
    const report = issuerReport({ issuer: withStatus, revocationList: ok(list), nats: ok(reading({ [current]: 1 })), now });
    expect(report).toMatchObject({ account: accountKey, signingKey, policy: { defaultTTL: '1h', maxTTL: '4h', enforcement: 'Report' }, lastPush: { lastPushResult: 'Succeeded' } });
    expect(report.revocationList).toEqual({
      readable: true,
      entries: [
        { user: current < retired ? current : retired, revokedAt: '2026-12-01T11:53:20.000Z', expiresAt: '2026-12-01T12:10:00.000Z', access: current < retired ? 'team-a/ws1' : 'team-b/ws2' },
        { user: current < retired ? retired : current, revokedAt: '2026-12-01T11:53:20.000Z', expiresAt: '2026-12-01T12:10:00.000Z', access: current < retired ? 'team-b/ws2' : 'team-a/ws1' },
      ],
    });
    expect(report.nats).toMatchObject({ reachable: true, servers: [{ account: 'loaded', revocations: 1, missingRevocations: [retired], signingKeyListed: true }] });
    const text = renderIssuerText(report);
    expect(text).toContain(`Signing key: ${signingKey}`);
    expect(text).toContain('Succeeded at 2026-12-01T11:59:00Z: 1 of 1 NATS servers stored it');
    expect(text).toMatch(new RegExp(`${retired} +2026-12-01T11:53:20.000Z +2026-12-01T12:10:00.000Z +team-b/ws2`));
  });

  test('expired entries are not expected on the servers any more', () => {
    const report = issuerReport({ issuer: withStatus, revocationList: ok(new Map([entry(retired, 'team-b/ws2')])), nats: ok(reading({})), now: new Date('2026-12-01T12:20:00Z') });
    expect(report.nats).toMatchObject({ servers: [{ missingRevocations: [] }] });
  });

  test('NATS unreachable and the list unreadable are both said', () => {
    const report = issuerReport({ issuer: withStatus, revocationList: notOk('HTTP 403: forbidden'), nats: notOk('NATS unreachable'), now });
    expect(report.warnings).toEqual(['revocation list unreadable: HTTP 403: forbidden', 'NATS unreachable']);
    expect(renderIssuerText(report)).toMatch(/Revocation list \(stored in the cluster\):\n {2}UNAVAILABLE: HTTP 403: forbidden/);
  });
});

test('tables pad every column but the last', () => {
  expect(table(['A', 'BB'], [['long', 'x'], ['y', 'z']])).toEqual(['A     BB', 'long  x', 'y     z']);
});
