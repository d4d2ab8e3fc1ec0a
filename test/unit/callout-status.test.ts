// The callout's Ready condition from what the replica and NATS report: each way it can fail names
// what to fix, and Ready=True needs keys, fetched provider keys and the subscription on every server.

import type { ClusterNatsAuthCallout } from '../../src/api/cluster-nats-auth-callout.ts';
import { Reason } from '../../src/api/reasons.ts';
import { planCalloutStatus, type CalloutStatusObservation } from '../../src/callout/callout-status.ts';

const callout: ClusterNatsAuthCallout = {
  apiVersion: 'natsaccess.io/v1alpha1',
  kind: 'ClusterNatsAuthCallout',
  metadata: { name: 'gitpod', generation: 1 },
  spec: {
    nats: { urls: ['nats://nats:4222'], authUserCredentialsSecretRef: { name: 'auth' }, sentinelCredentialsSecretRef: { name: 'sentinel' } },
    account: { publicKey: `A${'B'.repeat(55)}`, signingKeySecretRef: { name: 'key' } },
    xkeySecretRef: { name: 'xkey' },
    identityProviders: [{ name: 'gitpod', kind: 'OIDC', issuerURL: 'https://api.gitpod.example/idp', audiences: ['nats'], issuers: ['platform'] }],
  },
};
const fetched = { name: 'gitpod', keyIds: ['k1', 'k2'], lastFetchTime: new Date('2026-12-03T10:00:00Z'), error: undefined };
const observe = (overrides: Partial<CalloutStatusObservation>): CalloutStatusObservation => ({
  callout,
  state: { problem: undefined, providers: [fetched] },
  subscriptions: { servers: 3, subscribed: 3 },
  ...overrides,
});

describe('planCalloutStatus', () => {
  test('Serving: keys load, provider keys fetched, subscribed on every server; key ids in the status', () => {
    const plan = planCalloutStatus(observe({}));
    expect(plan.ready).toMatchObject({ status: 'True', reason: Reason.Serving });
    expect(plan.fields).toEqual({ identityProviders: [{ name: 'gitpod', keyIds: ['k1', 'k2'], lastFetchTime: '2026-12-03T10:00:00Z' }], servers: 3 });
    expect(plan.result).toEqual({});
    expect(plan.warn).toBe(false);
  });

  test.each<[string, Partial<CalloutStatusObservation>, string, string]>([
    ['not taken up yet', { state: undefined }, Reason.Verifying, 'has not taken this callout up yet'],
    ['a key Secret missing', { state: { problem: { reason: Reason.SigningKeyNotFound, message: 'Secret wno-system/key not found' }, providers: [] } }, Reason.SigningKeyNotFound, 'Secret wno-system/key not found'],
    ['provider keys never fetched', { state: { problem: undefined, providers: [{ ...fetched, keyIds: [], lastFetchTime: undefined, error: 'GET https://api.gitpod.example/idp/keys: HTTP 503' }] } }, Reason.IdentityProviderUnavailable, 'provider gitpod: GET https://api.gitpod.example/idp/keys: HTTP 503'],
    ['NATS not answering', { subscriptions: { error: 'no issuer of the callout exists to ask NATS through' } }, Reason.NatsUnreachable, 'no issuer of the callout'],
    ['a server without the subscription', { subscriptions: { servers: 3, subscribed: 2 } }, Reason.NotSubscribed, '2 of 3 NATS servers'],
  ])('%s', (_what, overrides, reason, message) => {
    const plan = planCalloutStatus(observe(overrides));
    expect(plan.ready.reason).toBe(reason);
    expect(plan.ready.message).toContain(message);
    expect(plan.result.requeueAfterMs).toBeGreaterThan(0);
    expect(plan.warn).toBe(plan.ready.status === 'False');
  });

  test('a provider whose last fetch failed but whose keys are known stays Serving, with the failure shown', () => {
    const stale = { ...fetched, error: 'GET https://api.gitpod.example/idp/keys: HTTP 503' };
    const plan = planCalloutStatus(observe({ state: { problem: undefined, providers: [stale] } }));
    expect(plan.ready.reason).toBe(Reason.Serving);
    expect(plan.fields.identityProviders?.[0]?.message).toContain('HTTP 503');
  });
});
