// Which reconciles a watched change wakes: the composition root's routing, as pure functions.

import type { V1Secret } from '@kubernetes/client-node';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import {
  accessKeyOfSecret,
  accessKeysOfIssuer,
  bindingKeyOf,
  issuersOfAccount,
  issuersReadingSecret,
  IssuerVersions,
  objectKey,
} from '../../src/cli/routing.ts';
import { access, accountKey, issuer } from './fixtures.ts';

const named = (name: string, overrides: Partial<ClusterNatsIssuer['spec']> = {}): ClusterNatsIssuer => {
  const base = issuer(overrides);
  return { ...base, metadata: { ...base.metadata, name, uid: `uid-${name}`, generation: 1 } };
};

describe('routing', () => {
  test('an access wakes itself, and the binding that made it if any', () => {
    const own = access();
    expect(objectKey(own)).toBe('team-a/ws1');
    expect(bindingKeyOf(own)).toBeUndefined();
    const bound = { ...own, metadata: { ...own.metadata, labels: { 'natsaccess.io/binding': 'gitpod' } } };
    expect(bindingKeyOf(bound)).toBe('team-a/gitpod');
  });

  test.each<[string, V1Secret, string | undefined]>([
    ['by its controller reference', { metadata: { namespace: 'team-a', name: 's', ownerReferences: [{ apiVersion: 'natsaccess.io/v1alpha1', kind: 'WorkspaceNatsAccess', name: 'ws1', uid: 'u', controller: true }] } }, 'team-a/ws1'],
    ['by its label when the reference was removed', { metadata: { namespace: 'team-a', name: 's', labels: { 'natsaccess.io/access': 'ws2' } } }, 'team-a/ws2'],
    ['the reference before an edited label', { metadata: { namespace: 'team-a', name: 's', labels: { 'natsaccess.io/access': 'other' }, ownerReferences: [{ apiVersion: 'natsaccess.io/v1alpha1', kind: 'WorkspaceNatsAccess', name: 'ws1', uid: 'u', controller: true }] } }, 'team-a/ws1'],
    ['not a reference that is no controller', { metadata: { namespace: 'team-a', name: 's', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', controller: true }] } }, undefined],
  ])('a Secret wakes its access %s', (_what, secret, key) => {
    expect(accessKeyOfSecret(secret)).toBe(key);
  });

  test('an issuer change wakes the accesses that name it, and only those', () => {
    const other = { ...access(), metadata: { ...access().metadata, name: 'ws2' }, spec: { ...access().spec, issuerRef: { name: 'other' } } };
    expect(accessKeysOfIssuer([access(), other], 'platform')).toEqual(['team-a/ws1']);
  });

  test('a key Secret wakes the issuers that read it; an account wakes its issuers', () => {
    const a = named('a');
    const b = named('b', { account: { publicKey: 'AOTHER', signingKeySecretRef: { name: 'b-key' } } });
    expect(issuersReadingSecret([a, b], 'ws-account-signing-key')).toEqual(['a']);
    expect(issuersReadingSecret([a, b], 'nats-system-creds')).toEqual(['a', 'b']);
    expect(issuersReadingSecret([a, b], 'unrelated')).toEqual([]);
    expect(issuersOfAccount([a, b], accountKey)).toEqual(['a']);
  });

  test('an issuer update wakes its accesses only when its spec, identity or Ready reason changed', () => {
    const versions = new IssuerVersions();
    const first = named('a');
    expect(versions.changed(first, 'add')).toBe(true);
    // A status write of revocation counts: nothing its accesses depend on.
    expect(versions.changed({ ...first, status: { revocation: { active: 3 } } }, 'update')).toBe(false);
    const mismatch = { ...first, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'AccountMismatch', message: '', lastTransitionTime: '' }] } } as ClusterNatsIssuer;
    expect(versions.changed(mismatch, 'update')).toBe(true);
    expect(versions.changed({ ...mismatch, metadata: { ...mismatch.metadata, generation: 2 } }, 'update')).toBe(true);
    // Re-created under the same name: generation 1 again, but a new uid.
    expect(versions.changed({ ...mismatch, metadata: { ...mismatch.metadata, uid: 'uid-new', generation: 2 } }, 'update')).toBe(true);
    // A relist reports every object as added: woken, even if unchanged.
    expect(versions.changed({ ...mismatch, metadata: { ...mismatch.metadata, uid: 'uid-new', generation: 2 } }, 'add')).toBe(true);
    expect(versions.changed(first, 'delete')).toBe(true);
  });
});
