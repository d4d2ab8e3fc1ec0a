// authorize() over a fake CalloutView: a verified identity logs in as exactly one live access of
// this callout whose issuer its provider serves, with the very grant resolveGrant gives that access
// (so a callout login can do no more than a creds file of the same access), for no longer than the
// token; anything else is a Denial with its reason.

import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { IdentityProviderKind, type IdentityProvider } from '../../src/api/cluster-nats-auth-callout.ts';
import { DenyReason } from '../../src/api/reasons.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { authorize, type CalloutView } from '../../src/callout/authorize.ts';
import { Denial, type VerifiedIdentity } from '../../src/identity/tokens.ts';
import { resolveGrant } from '../../src/policy/grant.ts';
import { access, issuer } from './fixtures.ts';

const now = new Date('2026-12-01T10:00:00Z');
const later = (ms: number) => new Date(now.getTime() + ms);
const CALLOUT = 'workspaces';

const gitpod: IdentityProvider = {
  name: 'gitpod',
  kind: IdentityProviderKind.OIDC,
  issuerURL: 'https://api.gitpod.example/idp',
  audiences: ['nats'],
  issuers: ['platform', 'other-issuer'],
};
const kube: IdentityProvider = { ...gitpod, name: 'kube', kind: IdentityProviderKind.KubernetesServiceAccount, issuerURL: 'https://kubernetes.default.svc' };

const oidcIdentity = (overrides: Partial<VerifiedIdentity> = {}): VerifiedIdentity => ({
  provider: gitpod,
  workspaceId: 'ws1',
  owner: 'alice',
  org: 'org-1',
  expiresAt: later(30 * 60_000),
  tokenHash: 'hash-1',
  ...overrides,
});
const podIdentity = (pod: Partial<NonNullable<VerifiedIdentity['pod']>> = {}): VerifiedIdentity => ({
  provider: kube,
  pod: { namespace: 'team-a', name: 'ws1-pod', uid: 'pod-uid-1', serviceAccount: 'default', ...pod },
  expiresAt: later(30 * 60_000),
  tokenHash: 'hash-2',
});

/** An access of this callout; `name` and `metadata` tell several apart. */
const calloutAccess = (spec: Partial<WorkspaceNatsAccess['spec']> = {}, metadata: Partial<WorkspaceNatsAccess['metadata']> = {}): WorkspaceNatsAccess => {
  const base = access({ authCalloutRef: { name: CALLOUT }, ...spec });
  return { ...base, metadata: { ...base.metadata, ...metadata } };
};
const podRef = { apiVersion: 'v1', kind: 'Pod', name: 'ws1-pod', uid: 'pod-uid-1' };
const podAccess = (ref: Partial<typeof podRef> = {}, metadata: Partial<WorkspaceNatsAccess['metadata']> = {}) =>
  calloutAccess({ workspace: { id: 'ws1-pod', owner: 'alice', ref: { ...podRef, ...ref } } }, metadata);

/** The caches as the service indexes them: by workspace id and by ref uid, whatever the callout. */
function view(accesses: WorkspaceNatsAccess[], issuers: ClusterNatsIssuer[] = [issuer()], labels: Record<string, Record<string, string>> = {}): CalloutView {
  return {
    calloutName: CALLOUT,
    accessesOfWorkspace: (id) => accesses.filter((a) => a.spec.workspace.id === id),
    accessesOfObject: (uid) => accesses.filter((a) => a.spec.workspace.ref?.uid === uid),
    issuer: (name) => issuers.find((i) => i.metadata.name === name),
    namespaceLabels: (namespace) => labels[namespace] ?? {},
  };
}

function denied(identity: VerifiedIdentity, calloutView: CalloutView): Denial {
  try {
    authorize(identity, calloutView, now);
  } catch (error) {
    expect(error).toBeInstanceOf(Denial);
    return error as Denial;
  }
  throw new Error('login was allowed');
}

describe('the one live access of the workspace', () => {
  // An issuer whose policy reads the namespace labels, and an access with templates: the grant
  // depends on all the inputs resolveGrant takes.
  const platform = issuer({
    policy: { namespaceSelector: { matchLabels: { workspaces: 'yes' } }, defaultPermissions: { subscribe: { allow: ['_INBOX.>'] } } },
  });
  const labels = { 'team-a': { workspaces: 'yes' } };
  const theAccess = calloutAccess({
    ttl: '15m',
    permissions: { publish: { allow: ['ws.{{workspace.id}}.>', 'user.{{workspace.owner}}.>'] }, allowResponses: { maxMessages: 1 } },
    limits: { subscriptions: 10 },
  });

  test("gets resolveGrant's grant for the same access, under the access's user name", () => {
    const decision = authorize(oidcIdentity({ expiresAt: later(3_600_000) }), view([theAccess], [platform], labels), now);
    expect(decision.access).toBe(theAccess);
    expect(decision.issuer).toBe(platform);
    expect(decision.grant).toEqual(resolveGrant({ access: theAccess, issuer: platform, namespaceLabels: labels['team-a'], now }));
    expect(decision.userName).toBe('team-a/ws1');
  });

  test('expires with the token, or at the ttl, whichever comes first', () => {
    const calloutView = view([theAccess], [platform], labels);
    expect(authorize(oidcIdentity({ expiresAt: later(3_600_000) }), calloutView, now).expiresAt).toEqual(later(15 * 60_000));
    expect(authorize(oidcIdentity({ expiresAt: later(5 * 60_000) }), calloutView, now).expiresAt).toEqual(later(5 * 60_000));
  });

  test("the namespace's labels are the access's namespace's (the issuer's selector applies)", () => {
    const denial = denied(oidcIdentity(), view([theAccess], [platform], { 'team-b': { workspaces: 'yes' } }));
    expect(denial.reason).toBe(DenyReason.IssuerRefused);
    expect(denial.message).toMatch(/namespaceSelector/);
  });

  test('a pod token names no person: it is not held to the owner a binding gave the access', () => {
    expect(authorize(podIdentity(), view([podAccess()]), now).access.metadata.name).toBe('ws1');
  });
});

describe('no access to log in as', () => {
  test('NoAccess: no access of the workspace, or none using this callout', () => {
    expect(denied(oidcIdentity({ workspaceId: 'ws2' }), view([calloutAccess()])).reason).toBe(DenyReason.NoAccess);
    // Creds-file accesses and other callouts' accesses of the same workspace are not ways in.
    expect(denied(oidcIdentity(), view([access()])).reason).toBe(DenyReason.NoAccess);
    expect(denied(oidcIdentity(), view([access({ authCalloutRef: { name: 'another-callout' } })])).reason).toBe(DenyReason.NoAccess);
  });

  test("NoAccess: the access's issuer is not one the provider may log in to", () => {
    const elsewhere = calloutAccess({ issuerRef: { name: 'restricted' } });
    const restricted = { ...issuer(), metadata: { name: 'restricted' } };
    expect(denied(oidcIdentity(), view([elsewhere], [issuer(), restricted])).reason).toBe(DenyReason.NoAccess);
  });

  test('the one access of this callout is chosen among those of other ways in', () => {
    const mine = calloutAccess({}, { name: 'mine', uid: 'uid-mine' });
    const decision = authorize(oidcIdentity(), view([access(), access({ authCalloutRef: { name: 'another-callout' } }), mine]), now);
    expect(decision.access).toBe(mine);
  });

  test('AccessDeleting: the only matching access is being deleted', () => {
    const deleting = calloutAccess({}, { deletionTimestamp: now });
    expect(denied(oidcIdentity(), view([deleting])).reason).toBe(DenyReason.AccessDeleting);
    // Beside a live one (a workspace restarted under a new access), the live one is taken.
    const live = calloutAccess({}, { name: 'ws1-new', uid: 'uid-new' });
    expect(authorize(oidcIdentity(), view([deleting, live]), now).access).toBe(live);
  });

  test('AmbiguousAccess: two live accesses match, and neither is chosen', () => {
    const twin = calloutAccess({}, { name: 'ws1-twin', uid: 'uid-twin' });
    const denial = denied(oidcIdentity(), view([calloutAccess(), twin]));
    expect(denial.reason).toBe(DenyReason.AmbiguousAccess);
    expect(denial.message).toContain('team-a/ws1-twin');
  });

  test("OwnerMismatch: the token's owner is not the access's, or the token names no owner", () => {
    expect(denied(oidcIdentity({ owner: 'mallory' }), view([calloutAccess()])).reason).toBe(DenyReason.OwnerMismatch);
    const { owner: _owner, ...ownerless } = oidcIdentity();
    expect(denied(ownerless, view([calloutAccess()])).reason).toBe(DenyReason.OwnerMismatch);
  });

  test('IssuerRefused: the issuer does not exist, or its policy refuses the access', () => {
    expect(denied(oidcIdentity(), view([calloutAccess()], [])).reason).toBe(DenyReason.IssuerRefused);
    const tooLong = calloutAccess({ ttl: '48h' });
    const denial = denied(oidcIdentity(), view([tooLong], [issuer({ policy: { maxTTL: '24h' } })]));
    expect(denial.reason).toBe(DenyReason.IssuerRefused);
    expect(denial.message).toMatch(/spec\.ttl/);
  });
});

describe('a pod identity', () => {
  test('logs in as the access whose workspace ref is that pod', () => {
    const theAccess = podAccess();
    const decision = authorize(podIdentity(), view([theAccess]), now);
    expect(decision.access).toBe(theAccess);
    expect(decision.grant).toEqual(resolveGrant({ access: theAccess, issuer: issuer(), namespaceLabels: {}, now }));
  });

  test.each<[string, VerifiedIdentity, WorkspaceNatsAccess]>([
    ['another namespace', podIdentity({ namespace: 'team-b' }), podAccess()],
    ['another pod name (same uid)', podIdentity({ name: 'other-pod' }), podAccess()],
    ['another pod uid (a pod of the same name, recreated)', podIdentity({ uid: 'pod-uid-2' }), podAccess()],
    ['a ref that is not a Pod', podIdentity(), podAccess({ kind: 'Workspace' })],
    ['a ref without uid', podIdentity(), podAccess({ uid: undefined })],
  ])('must match the ref: %s is NoAccess', (_what, identity, theAccess) => {
    expect(denied(identity, view([theAccess])).reason).toBe(DenyReason.NoAccess);
  });

  test('is not matched by workspace id (a pod named like a workspace gets nothing)', () => {
    const byId = calloutAccess({ workspace: { id: 'ws1-pod' } });
    expect(denied(podIdentity(), view([byId])).reason).toBe(DenyReason.NoAccess);
  });
});
