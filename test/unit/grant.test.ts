import type { UserGrant } from '../../src/nats/credentials.ts';
import { resolveGrant } from '../../src/policy/grant.ts';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { access, accountKey, issuer } from './fixtures.ts';

const resolve = (a: WorkspaceNatsAccess, i: ClusterNatsIssuer, labels: Record<string, string> = {}) =>
  resolveGrant({ access: a, issuer: i, namespaceLabels: labels, now: new Date() });

describe('resolveGrant', () => {
  test('expands templates into the grant, and takes ttl and URLs from the issuer defaults', () => {
    const desired = resolve(
      access({
        permissions: {
          publish: { allow: ['ws.{{workspace.id}}.>'] },
          subscribe: { allow: ['ws.{{workspace.id}}.>', 'user.{{workspace.owner}}.*'], deny: ['ws.{{workspace.id}}.x'] },
          allowResponses: { maxMessages: 2, ttl: '5s' },
        },
        limits: { subscriptions: 5, connectionTypes: ['STANDARD'] },
      }),
      issuer(),
    );
    expect(desired.accountPublicKey).toBe(accountKey);
    expect(desired.natsUrl).toBe('nats://a:4222,nats://b:4222');
    expect(desired.ttlMs).toBe(3_600_000);
    expect(desired.renewBeforeMs).toBe(1_200_000);
    expect(desired.grant).toEqual({
      pub: { allow: ['ws.ws1.>'], deny: [] },
      sub: { allow: ['ws.ws1.>', 'user.alice.*'], deny: ['ws.ws1.x'] },
      resp: { max: 2, ttl: 5_000_000_000 },
      subs: 5,
      payload: -1,
      data: -1,
      allowed_connection_types: ['STANDARD'],
      src: [],
    });
  });

  test('a direction with nothing allowed denies everything (NATS reads no allow list as all)', () => {
    const desired = resolve(access({ permissions: { subscribe: { allow: ['a'] } } }), issuer());
    expect((desired.grant as UserGrant).pub).toEqual({ allow: [], deny: ['>'] });
    expect((desired.grant as UserGrant).resp).toBeUndefined();
  });

  test("the issuer's default permissions apply where the access sets none", () => {
    const desired = resolve(
      access({ permissions: { subscribe: { allow: ['own.{{workspace.id}}'] } } }),
      issuer({ policy: { defaultPermissions: { publish: { allow: ['def.{{workspace.id}}.>'] }, subscribe: { allow: ['x'] } } } }),
    );
    expect((desired.grant as UserGrant).pub.allow).toEqual(['def.ws1.>']);
    expect((desired.grant as UserGrant).sub.allow).toEqual(['own.ws1']);
  });

  test('each list the access leaves out falls back to the default for that list alone', () => {
    const defaults = issuer({
      policy: { defaultPermissions: { publish: { allow: ['def.{{workspace.id}}.>'], deny: ['def.{{workspace.id}}.secret'] } } },
    });
    // Setting only publish.deny keeps the default publish.allow: before, it granted no publish at all.
    const denyOnly = resolve(access({ permissions: { publish: { deny: ['def.{{workspace.id}}.x'] } } }), defaults);
    expect((denyOnly.grant as UserGrant).pub).toEqual({ allow: ['def.ws1.>'], deny: ['def.ws1.x'] });
    const allowOnly = resolve(access({ permissions: { publish: { allow: ['own.>'] } } }), defaults);
    expect((allowOnly.grant as UserGrant).pub).toEqual({ allow: ['own.>'], deny: ['def.ws1.secret'] });
    // An explicitly empty list is the access's own choice, not a gap to fill.
    const emptyDeny = resolve(access({ permissions: { publish: { allow: ['own.>'], deny: [] } } }), defaults);
    expect((emptyDeny.grant as UserGrant).pub).toEqual({ allow: ['own.>'], deny: [] });
  });

  test('the expiry is the ttl after the time the grant is resolved at', () => {
    const now = new Date('2026-03-01T10:00:00Z');
    expect(resolveGrant({ access: access({ ttl: '15m' }), issuer: issuer(), namespaceLabels: {}, now }).expiresAt).toEqual(new Date('2026-03-01T10:15:00Z'));
  });

  test('the fingerprint changes with anything the credentials are minted from, and only then', () => {
    const base = resolve(access(), issuer()).fingerprint;
    expect(resolve(access(), issuer()).fingerprint).toBe(base);
    expect(resolve(access({ ttl: '2h' }), issuer()).fingerprint).not.toBe(base);
    expect(resolve(access({ permissions: { publish: { allow: ['a'] } } }), issuer()).fingerprint).not.toBe(base);
    expect(resolve(access(), issuer({ nats: { urls: ['nats://c:4222'], systemCredentialsSecretRef: { name: 'creds' } } })).fingerprint).not.toBe(base);
    expect(resolve(access({ renewBefore: '5m' }), issuer()).fingerprint).toBe(base);
  });

  test('renewBefore defaults to a third of the ttl, but at least 5s', () => {
    expect(resolve(access({ ttl: '30m' }), issuer()).renewBeforeMs).toBe(600_000);
    expect(resolve(access({ ttl: '12s' }), issuer()).renewBeforeMs).toBe(5_000);
  });

  test.each([
    [{ ttl: '48h' }, 'PolicyViolation', 'spec.ttl: 48h exceeds the maximum 24h of issuer platform'],
    [{ ttl: '5s' }, 'InvalidSpec', 'spec.ttl: must be at least 10s'],
    [{ ttl: '1h', renewBefore: '1h' }, 'InvalidSpec', 'spec.renewBefore: 1h leaves less than 5s of the ttl 1h before renewal'],
    [{ ttl: '10s', renewBefore: '9999ms' }, 'InvalidSpec', 'spec.renewBefore: 9s999ms leaves less than 5s of the ttl 10s'],
    [{ ttl: '1h', renewBefore: '0s' }, 'InvalidSpec', 'spec.renewBefore: must be at least 5s'],
    [
      { permissions: { publish: { allow: ['ws.{{workspace.name}}'] } } },
      'InvalidSpec',
      'spec.permissions.publish.allow[0]: unknown placeholder {{workspace.name}}',
    ],
    [
      { workspace: { id: 'ws1' }, permissions: { subscribe: { deny: ['u.{{workspace.owner}}'] } } },
      'InvalidSpec',
      'spec.permissions.subscribe.deny[0]: {{workspace.owner}} in "u.{{workspace.owner}}" has no value',
    ],
  ] as const)('%j is refused with %s', (spec, reason, message) => {
    expect(() => resolve(access(spec as never), issuer())).toThrow(
      expect.objectContaining({ reason, message: expect.stringContaining(message) }),
    );
  });
});
