// excessOverPolicy: each way a user JWT seen on a connection can grant more than its issuer's
// policy, and, most of all, that a JWT exactly as the operator mints it for an access the policy
// allows is never reported.

import { jest } from '@jest/globals';
import type { User } from '@nats-io/jwt';
import { createAccount } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { readPresentedUser } from '../../src/nats/advisories.ts';
import { signUserJwt } from '../../src/nats/credentials.ts';
import { createNativeUser, nativeFromSeed } from '../../src/nats/native-keys.ts';
import { resolveGrant } from '../../src/policy/grant.ts';
import type { TemplateValues } from '../../src/policy/templates.ts';
import { excessOverPolicy, type PresentedGrant } from '../../src/policy/user-claims.ts';
import { access, issuer } from './fixtures.ts';

type Policy = NonNullable<ClusterNatsIssuer['spec']['policy']>;

const HOUR = 3_600_000;
const issuedAt = new Date('2026-12-03T08:00:00Z');
const ws1: TemplateValues = { 'workspace.id': 'ws1', 'workspace.owner': 'alice', namespace: 'team-a' };

/** A JWT's claims as read: permissions within any bound used here, living an hour (null: forever). */
const presented = (nats: Partial<User> = {}, lifetimeMs: number | null = HOUR): PresentedGrant => ({
  nats: {
    pub: { allow: ['ws.ws1.a'], deny: [] },
    sub: { allow: ['ws.ws1.>'], deny: [] },
    subs: 10,
    payload: 1024,
    data: 4096,
    allowed_connection_types: ['STANDARD'],
    ...nats,
  },
  issuedAt,
  expiresAt: lifetimeMs === null ? undefined : new Date(issuedAt.getTime() + lifetimeMs),
});
const bounded = (policy: Policy) => issuer({ policy });
const scoped = (policy: Policy) => {
  const base = issuer();
  return issuer({ policy, account: { ...base.spec.account, scoped: { userTags: ['ws:{{workspace.id}}'] } } });
};

describe('excessOverPolicy finds', () => {
  test('nothing in a JWT within every bound', () => {
    const policy: Policy = {
      maxTTL: '1h',
      allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['ws.{{workspace.id}}.>'] },
      allowResponses: false,
      maxLimits: { subscriptions: 10, payload: 1024, data: 4096 },
      connectionTypes: ['STANDARD', 'WEBSOCKET'],
    };
    expect(excessOverPolicy(presented(), bounded(policy), ws1)).toEqual([]);
  });

  test('subjects outside allowedSubjects, with the templates expanded for the workspace', () => {
    const policy = { allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['user.{{workspace.owner}}.*'] } };
    const grant = presented({ pub: { allow: ['ws.ws1.a', 'ws.ws2.a'], deny: [] }, sub: { allow: ['user.alice.x'], deny: [] } });
    expect(excessOverPolicy(grant, bounded(policy), ws1)).toEqual(['pub.allow[1]: "ws.ws2.a" is outside policy.allowedSubjects']);
    // The same JWT held to another workspace's bounds.
    expect(excessOverPolicy(grant, bounded(policy), { ...ws1, 'workspace.id': 'ws2', 'workspace.owner': 'bob' })).toEqual([
      'pub.allow[0]: "ws.ws1.a" is outside policy.allowedSubjects',
      'sub.allow[0]: "user.alice.x" is outside policy.allowedSubjects',
    ]);
  });

  test('a bound whose placeholder has no value in this workspace bounds nothing', () => {
    const policy = { allowedSubjects: { subscribe: ['user.{{workspace.owner}}.*'] } };
    const grant = presented({ sub: { allow: ['user.alice.x'], deny: [] } });
    expect(excessOverPolicy(grant, bounded(policy), { ...ws1, 'workspace.owner': undefined })).toEqual([
      'sub.allow[0]: "user.alice.x" is outside policy.allowedSubjects',
    ]);
  });

  test('no allow list where subjects are bounded: every subject, unless all is denied', () => {
    const policy = { allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['ws.{{workspace.id}}.>'] } };
    expect(excessOverPolicy(presented({ pub: { allow: [], deny: ['ws.ws1.x'] }, sub: undefined }), bounded(policy), ws1)).toEqual([
      'pub.allow: every subject (policy.allowedSubjects bounds it)',
      'sub.allow: every subject (policy.allowedSubjects bounds it)',
    ]);
    expect(excessOverPolicy(presented({ pub: { allow: [], deny: ['>'] } }), bounded(policy), ws1)).toEqual([]);
    // An unbounded direction is not looked at.
    expect(excessOverPolicy(presented({ pub: { allow: [], deny: [] } }), bounded({ allowedSubjects: { subscribe: ['ws.>'] } }), ws1)).toEqual([]);
  });

  test('responses when the policy allows none, and only then', () => {
    const grant = presented({ resp: { max: 1, ttl: 0 } });
    expect(excessOverPolicy(grant, bounded({ allowResponses: false }), ws1)).toEqual(['resp: policy.allowResponses is false']);
    expect(excessOverPolicy(grant, bounded({ allowResponses: true }), ws1)).toEqual([]);
    expect(excessOverPolicy(grant, bounded({}), ws1)).toEqual([]);
    expect(excessOverPolicy(presented(), bounded({ allowResponses: false }), ws1)).toEqual([]);
  });

  test('limits over their caps, unlimited ones, and ones left out (unlimited to NATS)', () => {
    const policy = { maxLimits: { subscriptions: 10, payload: 512, data: 4096 } };
    expect(excessOverPolicy(presented({ subs: 11, payload: -1, data: undefined }), bounded(policy), ws1)).toEqual([
      'subs: 11 exceeds policy.maxLimits 10',
      'payload: unlimited exceeds policy.maxLimits 512',
      'data: unlimited exceeds policy.maxLimits 4096',
    ]);
    expect(excessOverPolicy(presented({ subs: 10, payload: 0, data: 4096 }), bounded(policy), ws1)).toEqual([]);
    // An uncapped limit may be anything.
    expect(excessOverPolicy(presented({ subs: -1 }), bounded({ maxLimits: { payload: 1024 } }), ws1)).toEqual([]);
  });

  test('connection types outside the policy, or none (every type)', () => {
    const policy: Policy = { connectionTypes: ['STANDARD'] };
    expect(excessOverPolicy(presented({ allowed_connection_types: ['STANDARD', 'WEBSOCKET', 'MQTT'] }), bounded(policy), ws1)).toEqual([
      'allowed_connection_types: WEBSOCKET is not in policy.connectionTypes',
      'allowed_connection_types: MQTT is not in policy.connectionTypes',
    ]);
    expect(excessOverPolicy(presented({ allowed_connection_types: [] }), bounded(policy), ws1)).toEqual([
      'allowed_connection_types: every type (policy.connectionTypes bounds them)',
    ]);
    expect(excessOverPolicy(presented({ allowed_connection_types: [] }), bounded({}), ws1)).toEqual([]);
  });

  test('a JWT that never expires', () => {
    expect(excessOverPolicy(presented({}, null), bounded({}), ws1)).toEqual(['exp: never expires']);
  });

  test('a lifetime over policy.maxTTL, or over the default 24h; one just at it is fine', () => {
    expect(excessOverPolicy(presented({}, 2 * HOUR), bounded({ maxTTL: '1h' }), ws1)).toEqual(['exp: lives longer than policy.maxTTL 1h']);
    expect(excessOverPolicy(presented({}, HOUR), bounded({ maxTTL: '1h' }), ws1)).toEqual([]);
    expect(excessOverPolicy(presented({}, 24 * HOUR + 1000), bounded({}), ws1)).toEqual(['exp: lives longer than policy.maxTTL 24h']);
    expect(excessOverPolicy(presented({}, 24 * HOUR), bounded({}), ws1)).toEqual([]);
  });

  test('under a scoped signing key, only the lifetime (the account template sets the rest)', () => {
    const policy: Policy = { maxTTL: '1h', allowedSubjects: { publish: ['ws.{{workspace.id}}.>'] }, maxLimits: { subscriptions: 1 }, connectionTypes: ['STANDARD'] };
    const everything = presented({ pub: { allow: [], deny: [] }, subs: -1, allowed_connection_types: [] });
    expect(excessOverPolicy(everything, scoped(policy), ws1)).toEqual([]);
    expect(excessOverPolicy({ ...everything, expiresAt: undefined }, scoped(policy), ws1)).toEqual(['exp: never expires']);
    expect(excessOverPolicy(presented({}, 2 * HOUR), scoped(policy), ws1)).toEqual(['exp: lives longer than policy.maxTTL 1h']);
  });
});

describe('a JWT as the operator mints it for an access the policy allows', () => {
  const signingKey = nativeFromSeed(createAccount().getSeed());
  const strict: Policy = {
    maxTTL: '2h',
    defaultPermissions: { subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX.{{workspace.id}}.>'] } },
    allowedSubjects: { publish: ['ws.{{workspace.id}}.>', 'user.{{workspace.owner}}.>'], subscribe: ['ws.{{workspace.id}}.>', '_INBOX.{{workspace.id}}.>'] },
    maxLimits: { subscriptions: 100, payload: 1_048_576, data: 10_485_760 },
    connectionTypes: ['STANDARD', 'WEBSOCKET'],
  };

  /**
   * Minted under `cni` at a whole second and a fraction, read back as the servers report it, and
   * held to `checkedBy` (the issuer as it is now).
   */
  const mintAndCheck = (wna: WorkspaceNatsAccess, cni: ClusterNatsIssuer, checkedBy = cni) => {
    const mintedAt = new Date('2026-12-03T08:00:00.999Z');
    jest.useFakeTimers({ now: mintedAt });
    try {
      const resolved = resolveGrant({ access: wna, issuer: cni, namespaceLabels: {}, now: new Date() });
      const jwt = signUserJwt(
        { name: 'team-a/ws1', accountPublicKey: resolved.accountPublicKey, signingKey, grant: resolved.grant, tags: resolved.tags, expiresAt: resolved.expiresAt },
        createNativeUser(),
      );
      const user = readPresentedUser(jwt);
      expect(user).toBeDefined();
      const { spec, metadata } = wna;
      return excessOverPolicy(user as PresentedGrant, checkedBy, { 'workspace.id': spec.workspace.id, 'workspace.owner': spec.workspace.owner, namespace: metadata.namespace });
    } finally {
      jest.useRealTimers();
    }
  };

  test.each<[string, Partial<WorkspaceNatsAccess['spec']>, Policy]>([
    ['with nothing of its own, at the longest ttl', { ttl: '2h' }, strict],
    [
      'with its own permissions, limits and types',
      {
        ttl: '30m',
        permissions: { publish: { allow: ['ws.{{workspace.id}}.out', 'user.{{workspace.owner}}.>'], deny: ['ws.{{workspace.id}}.out.x'] }, subscribe: { allow: ['ws.{{workspace.id}}.*'] } },
        limits: { subscriptions: 100, payload: 1024, data: 0, connectionTypes: ['WEBSOCKET'] },
      },
      strict,
    ],
    ['asking for responses where the policy allows them', { permissions: { allowResponses: { maxMessages: 3, ttl: '5s' } } }, { ...strict, allowResponses: true }],
    ['under a policy with an empty list of connection types (minted as none: all)', {}, { ...strict, connectionTypes: [] }],
    ['under an issuer without any policy', { permissions: { publish: { allow: ['>'] } } }, {}],
    ['under the default maxTTL of 24h, at it', { ttl: '24h' }, { allowedSubjects: { publish: ['ws.{{workspace.id}}.>'] } }],
  ])('%s: nothing found', (_, spec, policy) => {
    expect(mintAndCheck(access(spec), bounded(policy))).toEqual([]);
  });

  test('under a scoped signing key, at the longest ttl: nothing found', () => {
    expect(mintAndCheck(access({ ttl: '2h' }), scoped(strict))).toEqual([]);
  });

  test('the same JWT is found out once the policy is tightened (the check can fail)', () => {
    const tightened = bounded({ ...strict, maxTTL: '1h', maxLimits: { ...strict.maxLimits, subscriptions: 50 } });
    expect(mintAndCheck(access({ ttl: '2h' }), bounded(strict), tightened)).toEqual(['exp: lives longer than policy.maxTTL 1h', 'subs: 100 exceeds policy.maxLimits 50']);
  });
});
