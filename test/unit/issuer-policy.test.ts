import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { resolveGrant } from '../../src/policy/grant.ts';
import { labelsMatch, subjectWithin } from '../../src/policy/issuer-policy.ts';
import { access, issuer } from './fixtures.ts';

describe('subjectWithin', () => {
  test.each([
    ['ws.a.b', 'ws.a.b', true],
    ['ws.a.b', 'ws.*.b', true],
    ['ws.a.b', 'ws.>', true],
    ['ws.a.>', 'ws.>', true],
    ['ws.*.b', 'ws.*.b', true],
    ['ws.*', 'ws.>', true],
    ['ws.a.>', 'ws.*.>', true],
    ['ws', 'ws.>', false],
    ['ws.a', 'ws.a.b', false],
    ['ws.a.b.c', 'ws.a.*', false],
    ['ws.a.>', 'ws.a.*', false],
    ['ws.*.b', 'ws.a.b', false],
    ['>', 'ws.>', false],
    ['ws.b.x', 'ws.a.>', false],
    ['other.a', 'ws.>', false],
    ['$SYS.REQ.X', '>', true],
  ])('%p within %p: %p', (subject, bound, within) => {
    expect(subjectWithin(subject, bound)).toBe(within);
  });
});

describe('labelsMatch', () => {
  const labels = { team: 'a', tier: 'dev' };
  test.each([
    [{}, true],
    [{ matchLabels: { team: 'a' } }, true],
    [{ matchLabels: { team: 'b' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['dev', 'test'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['dev'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn' as const, values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'Exists' as const }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' as const }] }, false],
    [{ matchLabels: { team: 'a' }, matchExpressions: [{ key: 'zone', operator: 'Exists' as const }] }, false],
  ])('%j: %p', (selector, matches) => {
    expect(labelsMatch(selector, labels)).toBe(matches);
  });
});

describe('the issuer policy, applied to an access', () => {
  const policy = (p: NonNullable<ClusterNatsIssuer['spec']['policy']>) => issuer({ policy: p });
  const bounded = policy({
    allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['ws.{{workspace.id}}.>', '_INBOX_{{workspace.id}}.>'] },
    maxLimits: { subscriptions: 100, payload: 1024 },
    connectionTypes: ['STANDARD', 'WEBSOCKET'],
    allowResponses: false,
  });

  test('what lies within it is granted, with the caps and types as defaults', () => {
    const desired = resolveGrant({ access: access({ permissions: { publish: { allow: ['ws.{{workspace.id}}.events.*'] }, subscribe: { allow: ['_INBOX_ws1.>'] } } }), issuer: bounded, namespaceLabels: {}, now: new Date() });
    expect(desired.grant).toMatchObject({
      pub: { allow: ['ws.ws1.events.*'] },
      sub: { allow: ['_INBOX_ws1.>'] },
      subs: 100,
      payload: 1024,
      data: -1,
      allowed_connection_types: ['STANDARD', 'WEBSOCKET'],
    });
  });

  test.each([
    [{ permissions: { publish: { allow: ['ws.other.>'] } } }, 'spec.permissions.publish.allow[0]: "ws.other.>" is outside what issuer platform allows (ws.ws1.>)'],
    [{ permissions: { publish: { allow: ['ws.ws1.a', '>'] } } }, 'spec.permissions.publish.allow[1]: ">" is outside'],
    [{ permissions: { subscribe: { allow: ['ws.*.>'] } } }, 'spec.permissions.subscribe.allow[0]: "ws.*.>" is outside'],
    [{ permissions: { subscribe: { allow: ['$SYS.>'] } } }, 'spec.permissions.subscribe.allow[0]: "$SYS.>" is outside'],
    [{ permissions: { subscribe: { allow: ['_INBOX.>'] } } }, 'spec.permissions.subscribe.allow[0]: "_INBOX.>" is outside'],
    [{ permissions: { allowResponses: {} } }, 'spec.permissions.allowResponses: issuer platform does not allow responses'],
    [{ limits: { subscriptions: 101 } }, 'spec.limits.subscriptions: 101 exceeds the maximum 100 of issuer platform'],
    [{ limits: { payload: 1_000_000 } }, 'spec.limits.payload: 1000000 exceeds the maximum 1024 of issuer platform'],
    [{ limits: { connectionTypes: ['STANDARD', 'MQTT'] as ('STANDARD' | 'MQTT')[] } }, 'spec.limits.connectionTypes: MQTT is not among the types issuer platform allows (STANDARD, WEBSOCKET)'],
  ])('%j is a PolicyViolation', (spec, message) => {
    expect(() => resolveGrant({ access: access(spec as never), issuer: bounded, namespaceLabels: {}, now: new Date() })).toThrow(
      expect.objectContaining({ reason: 'PolicyViolation', message: expect.stringContaining(message) }),
    );
  });

  test("the issuer's own defaults are held to its bounds too, and the message says so", () => {
    const misconfigured = policy({
      allowedSubjects: { publish: ['ws.{{workspace.id}}.>'] },
      defaultPermissions: { publish: { allow: ['shared.>'] } },
    });
    expect(() => resolveGrant({ access: access(), issuer: misconfigured, namespaceLabels: {}, now: new Date() })).toThrow(
      'issuer platform policy.defaultPermissions.publish.allow[0]: "shared.>" is outside what issuer platform allows (ws.ws1.>)',
    );
  });

  test('a bound whose placeholder has no value here bounds nothing', () => {
    const byOwner = policy({ allowedSubjects: { publish: ['u.{{workspace.owner}}.>'] } });
    const ownerless = access({ workspace: { id: 'ws1' }, permissions: { publish: { allow: ['u.x.y'] } } });
    expect(() => resolveGrant({ access: ownerless, issuer: byOwner, namespaceLabels: {}, now: new Date() })).toThrow('is outside what issuer platform allows (nothing)');
  });

  test('only namespaces the selector picks may use the issuer', () => {
    const selective = policy({ namespaceSelector: { matchLabels: { 'nats-access': 'enabled' } } });
    expect(resolveGrant({ access: access(), issuer: selective, namespaceLabels: { 'nats-access': 'enabled' }, now: new Date() }).grant).toBeDefined();
    expect(() => resolveGrant({ access: access(), issuer: selective, namespaceLabels: { other: 'x' }, now: new Date() })).toThrow(
      expect.objectContaining({
        reason: 'PolicyViolation',
        message: 'namespace team-a may not use issuer platform: its policy.namespaceSelector does not select it',
      }),
    );
  });

  test('a change of caps changes the fingerprint, so credentials are re-issued under the new bound', () => {
    const before = resolveGrant({ access: access(), issuer: policy({ maxLimits: { subscriptions: 100 } }), namespaceLabels: {}, now: new Date() }).fingerprint;
    const after = resolveGrant({ access: access(), issuer: policy({ maxLimits: { subscriptions: 50 } }), namespaceLabels: {}, now: new Date() }).fingerprint;
    expect(after).not.toBe(before);
  });
});

describe('an issuer with a scoped signing key', () => {
  const scoped = (userTags: string[]) =>
    issuer({ account: { publicKey: issuer().spec.account.publicKey, signingKeySecretRef: { name: 'k' }, scoped: { userTags } } });

  test('grants tags only: the template in the account JWT sets the permissions', () => {
    expect(resolveGrant({ access: access(), issuer: scoped(['ws:{{workspace.id}}', 'owner:{{workspace.owner}}']), namespaceLabels: {}, now: new Date() }).grant).toEqual({
      tags: ['ws:ws1', 'owner:alice'],
    });
  });

  test.each([
    [{ permissions: { publish: { allow: ['ws.ws1.>'] } } }, 'spec.permissions: issuer platform mints under a scoped signing key'],
    [{ limits: { subscriptions: 5 } }, 'spec.limits: issuer platform mints under a scoped signing key'],
  ])('an access setting %j is a PolicyViolation', (spec, message) => {
    expect(() => resolveGrant({ access: access(spec), issuer: scoped(['ws:{{workspace.id}}']), namespaceLabels: {}, now: new Date() })).toThrow(
      expect.objectContaining({ reason: 'PolicyViolation', message: expect.stringContaining(message) }),
    );
  });

  test('a tag that cannot be expanded is an InvalidSpec naming the issuer field', () => {
    expect(() => resolveGrant({ access: access(), issuer: scoped(['ws:{{workspace.name}}']), namespaceLabels: {}, now: new Date() })).toThrow(
      expect.objectContaining({ reason: 'InvalidSpec', message: expect.stringContaining('issuer platform spec.account.scoped.userTags[0]: unknown placeholder') }),
    );
  });
});
