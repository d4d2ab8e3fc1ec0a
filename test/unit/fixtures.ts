// Objects for unit tests of pure logic: an issuer and an access, with overrides.

import { createAccount } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';

export const accountKey = createAccount().getPublicKey();

export function issuer(overrides: Partial<ClusterNatsIssuer['spec']> = {}): ClusterNatsIssuer {
  return {
    apiVersion: 'natsaccess.io/v1alpha1',
    kind: 'ClusterNatsIssuer',
    metadata: { name: 'platform' },
    spec: {
      nats: { urls: ['nats://a:4222', 'nats://b:4222'], systemCredentialsSecretRef: { name: 'nats-system-creds' } },
      operator: { signingKeySecretRef: { name: 'nats-operator-signing-key' } },
      account: { publicKey: accountKey, signingKeySecretRef: { name: 'ws-account-signing-key' } },
      ...overrides,
    },
  };
}

export function access(spec: Partial<WorkspaceNatsAccess['spec']> = {}): WorkspaceNatsAccess {
  return {
    apiVersion: 'natsaccess.io/v1alpha1',
    kind: 'WorkspaceNatsAccess',
    metadata: { name: 'ws1', namespace: 'team-a', uid: 'uid-1', generation: 1 },
    spec: {
      issuerRef: { name: 'platform' },
      workspace: { id: 'ws1', owner: 'alice' },
      ...spec,
    },
  };
}
