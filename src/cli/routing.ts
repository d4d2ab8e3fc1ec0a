// Which work-queue keys a change of a watched object wakes. Pure, so that "this change reconciles
// that object" is a unit test, not a guess; the composition root (operator.ts) only calls these.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterNatsAuthCallout } from '../api/cluster-nats-auth-callout.ts';
import { accountIssuers, type ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { ACCESS_KIND, ACCESS_NAME_LABEL, BINDING_LABEL } from '../api/constants.ts';
import { READY } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { ChangeType } from '../kube/informer.ts';

/** The `namespace/name` key of a namespaced object. */
export const objectKey = (object: KubernetesObject) => `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;

/** The key of the binding that made `access`, if a binder made it. */
export function bindingKeyOf(access: WorkspaceNatsAccess): string | undefined {
  const binding = access.metadata.labels?.[BINDING_LABEL];
  return binding ? `${access.metadata.namespace}/${binding}` : undefined;
}

/**
 * The key of the access a Secret belongs to. The controller reference, not the label, says whose
 * it is: a label can be edited away, and the watch then reports the Secret as deleted, with its
 * last labels; the label is the fallback for a Secret whose reference was removed.
 */
export function accessKeyOfSecret(secret: KubernetesObject): string | undefined {
  const metadata = secret.metadata;
  const owner =
    metadata?.ownerReferences?.find((ref) => ref.controller && ref.kind === ACCESS_KIND)?.name ?? metadata?.labels?.[ACCESS_NAME_LABEL];
  return owner ? `${metadata?.namespace ?? ''}/${owner}` : undefined;
}

/** Keys of the accesses that name issuer `issuerName`. */
export function accessKeysOfIssuer(accesses: readonly WorkspaceNatsAccess[], issuerName: string): string[] {
  return accesses.filter((access) => access.spec.issuerRef.name === issuerName).map(objectKey);
}

/** The Secrets of the operator's namespace that an issuer reads. */
export const secretNamesOf = (issuer: ClusterNatsIssuer) => [
  issuer.spec.account.signingKeySecretRef.name,
  issuer.spec.operator.signingKeySecretRef.name,
  issuer.spec.nats.systemCredentialsSecretRef.name,
];

/** Names of the issuers that read the Secret `secretName` of the operator's namespace. */
export function issuersReadingSecret(issuers: readonly ClusterNatsIssuer[], secretName: string): string[] {
  return issuers.filter((issuer) => secretNamesOf(issuer).includes(secretName)).map((issuer) => issuer.metadata.name);
}

/** Names of the callouts that read a Secret of this name (keys, auth user or sentinel creds). */
export function calloutsReadingSecret(callouts: readonly ClusterNatsAuthCallout[], secretName: string): string[] {
  return callouts
    .filter(({ spec }) =>
      [spec.account.signingKeySecretRef, spec.xkeySecretRef, spec.nats.authUserCredentialsSecretRef, spec.nats.sentinelCredentialsSecretRef].some((ref) => ref.name === secretName),
    )
    .map((callout) => callout.metadata.name);
}

/** Names of the issuers of `account`. */
export function issuersOfAccount(issuers: readonly ClusterNatsIssuer[], account: string): string[] {
  return accountIssuers(issuers, account).map((issuer) => issuer.metadata.name);
}

/**
 * What an issuer's accesses depend on: its identity and spec generation, and its Ready reason (the
 * account JWT check), not the rest of its status. The uid tells a re-created issuer (generation 1
 * again) from an unchanged one.
 */
export function issuerVersion(issuer: ClusterNatsIssuer): string {
  const ready = issuer.status?.conditions?.find((condition) => condition.type === READY)?.reason;
  return `${issuer.metadata.uid}/${issuer.metadata.generation}/${ready}`;
}

/**
 * Remembers what each issuer's accesses last saw of it, and answers whether a change of the issuer
 * must wake them: every add and delete does, an update only when issuerVersion changed (a status
 * write of revocation counts does not re-check thousands of accesses).
 */
export class IssuerVersions {
  private readonly seen = new Map<string, string>();

  changed(issuer: ClusterNatsIssuer, type: ChangeType): boolean {
    const name = issuer.metadata.name;
    if (type === 'delete') {
      this.seen.delete(name);
      return true;
    }
    const version = issuerVersion(issuer);
    const same = this.seen.get(name) === version;
    this.seen.set(name, version);
    return type === 'add' || !same;
  }
}
