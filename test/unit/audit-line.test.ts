// auditLine: what each field of an audit line is taken from, and that none of them carries the JWT
// an advisory came with.

import { createAccount } from '@nats-io/nkeys';
import { auditLine, type LineContext } from '../../src/audit/audit-line.ts';
import { readClientEvent, type ClientEvent } from '../../src/nats/advisories.ts';
import { signUserJwt } from '../../src/nats/credentials.ts';
import { createNativeUser, nativeFromSeed } from '../../src/nats/native-keys.ts';

const account = nativeFromSeed(createAccount().getSeed());
const ACCOUNT = account.getPublicKey();
const user = createNativeUser();
const USER = user.getPublicKey();
const jwt = signUserJwt(
  { name: 'team-a/ws1', accountPublicKey: ACCOUNT, signingKey: account, grant: { tags: ['ws:ws1'] }, expiresAt: new Date('2027-01-01T00:00:00Z') },
  user,
);

/** An advisory as nats-server sends it, read as the audit reads it. */
const read = (subject: string, advisory: Record<string, unknown>, client: Record<string, unknown> = {}): ClientEvent => {
  const event = readClientEvent(subject, JSON.stringify({
    id: 'advisory-1',
    timestamp: '2026-12-03T08:05:00Z',
    server: { name: 'nats-0', id: 'NSERVERID', ver: '2.15.3', seq: 3, time: '2026-12-03T08:05:00Z' },
    client: { host: '10.1.2.3', id: 42, acc: ACCOUNT, user: USER, name: 'ws1-client', lang: 'go', ver: '1.37.0', jwt, tags: ['ws:ws1'], ...client },
    ...advisory,
  }));
  if (!event) throw new Error('advisory not read');
  return event;
};
const disconnect = (client: Record<string, unknown> = {}) =>
  read(`$SYS.ACCOUNT.${ACCOUNT}.DISCONNECT`, {
    type: 'io.nats.server.advisory.v1.client_disconnect',
    sent: { msgs: 1, bytes: 11 },
    received: { msgs: 2, bytes: 22 },
    reason: 'Client Closed',
  }, client);
const authError = (client: Record<string, unknown> = {}) =>
  read('$SYS.SERVER.NSERVERID.CLIENT.AUTH.ERR', { type: 'io.nats.server.advisory.v1.client_disconnect', reason: 'Authentication Revoked' }, client);

const context = (overrides: Partial<LineContext> = {}): LineContext => ({
  account: ACCOUNT,
  issuer: 'platform',
  attribution: { kind: 'access', accessKey: 'team-a/ws1', via: 'user', revoked: false },
  accessKey: 'team-a/ws1',
  workspaceId: 'WS1-live',
  ...overrides,
});

test('a disconnect: every field from the event and its attribution', () => {
  expect(auditLine(disconnect(), context())).toEqual({
    event: 'disconnect',
    namespace: 'team-a',
    access: 'ws1',
    workspaceId: 'WS1-live',
    attribution: 'access',
    user: USER,
    account: ACCOUNT,
    issuer: 'platform',
    server: 'nats-0',
    cid: 42,
    clientHost: '10.1.2.3',
    clientName: 'ws1-client',
    clientLang: 'go',
    clientVersion: '1.37.0',
    reason: 'Client Closed',
    serverReason: undefined,
    bytesIn: 22,
    bytesOut: 11,
    time: '2026-12-03T08:05:00Z',
  });
});

test("a deleted access's workspace is named by the client's tags", () => {
  const line = auditLine(disconnect({ tags: ['team:a', 'ws:ws9'] }), context({ workspaceId: undefined }));
  expect(line.workspaceId).toBe('ws9');
});

test('a refused login, whose client has no tags yet, is named by the tags of the JWT it presented', () => {
  const line = auditLine(authError({ tags: undefined, user: undefined, acc: '$G' }), context({ workspaceId: undefined, attribution: { kind: 'revoked', revokedFor: 'team-a/ws1' } }));
  expect(line).toMatchObject({ event: 'auth_error', workspaceId: 'ws1', attribution: 'revoked', user: USER, namespace: 'team-a', access: 'ws1' });
});

test('no access, no tags: no namespace, access or workspace, and an issuer of "" is left out', () => {
  const line = auditLine(disconnect({ tags: undefined, jwt: undefined, user: 'someone' }), context({ accessKey: undefined, workspaceId: undefined, issuer: '', attribution: { kind: 'unknown' } }));
  expect(line).toMatchObject({ namespace: undefined, access: undefined, workspaceId: undefined, issuer: undefined, attribution: 'unknown' });
});

test('a user name that is neither a user key nor a callout name is redacted: it may be a password or token typed as one', () => {
  for (const user of ['someone', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'hunter2']) {
    expect(auditLine(authError({ jwt: undefined, user }), context({ attribution: { kind: 'unknown' } })).user).toBe('[REDACTED]');
  }
});

test("a refused login gives the operator's reason, and keeps the server's beside it", () => {
  const line = auditLine(authError(), context({ authFailure: 'UserRevoked' }));
  expect(line).toMatchObject({ reason: 'UserRevoked', serverReason: 'Authentication Revoked', bytesIn: undefined, bytesOut: undefined });
});

test('a callout login is named by the name the callout gave it', () => {
  const line = auditLine(disconnect({ jwt: undefined, user: 'team-a/ws1' }), context({ attribution: { kind: 'access', accessKey: 'team-a/ws1', via: 'callout', revoked: false } }));
  expect(line.user).toBe('team-a/ws1');
});

test('no field holds the JWT the advisory carried, nor any part of it', () => {
  const lines = [
    auditLine(disconnect(), context()),
    auditLine(authError({ tags: undefined, user: undefined }), context({ workspaceId: undefined, authFailure: 'UserRevoked' })),
    auditLine(disconnect({ user: '[REDACTED]' }), context({ attribution: { kind: 'unknown' } })),
  ];
  const text = JSON.stringify(lines);
  for (const part of [jwt, ...jwt.split('.')]) expect(text).not.toContain(part);
  // Every value is a plain name, key, number or time.
  for (const line of lines) for (const value of Object.values(line)) expect(['string', 'number', 'undefined']).toContain(typeof value);
});
