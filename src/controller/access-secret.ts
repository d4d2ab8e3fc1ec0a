// The Secret a WorkspaceNatsAccess writes: its desired shape, and whether a stored one differs.
// Pure; the controller does the API calls.

import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import {
  ACCESS_NAME_LABEL,
  CREDS_KEY,
  ISSUED_FOR_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  URL_KEY,
} from '../api/constants.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { ResolvedGrant } from '../policy/grant.ts';
import { hasCredsKey } from './secret-creds.ts';

export function secretNameOf(access: WorkspaceNatsAccess): string {
  return access.spec.secret?.name ?? `${access.metadata.name}-nats`;
}

export function ownerReferenceTo(access: WorkspaceNatsAccess): V1OwnerReference {
  return {
    apiVersion: access.apiVersion,
    kind: access.kind,
    name: access.metadata.name,
    uid: access.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** True when `secret` is controlled by `access` (and so may be overwritten or deleted by it). */
export function isControlledBy(secret: V1Secret, access: WorkspaceNatsAccess): boolean {
  return (secret.metadata?.ownerReferences ?? []).some(
    (ref) => ref.controller && ref.uid === access.metadata.uid,
  );
}

/**
 * The Secret as it should be: `credsBase64` (a fresh or the current creds file) and the URL as
 * data, the operator's labels and fingerprint over any the user asked for, and labels or
 * annotations that someone else added to `existing` kept.
 */
export function desiredSecret(
  access: WorkspaceNatsAccess,
  desired: ResolvedGrant,
  credsBase64: string,
  existing?: V1Secret,
): V1Secret {
  const requested = access.spec.secret ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: secretNameOf(access),
      namespace: access.metadata.namespace,
      labels: {
        ...existing?.metadata?.labels,
        ...requested.labels,
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [ACCESS_NAME_LABEL]: access.metadata.name,
      },
      annotations: {
        ...existing?.metadata?.annotations,
        ...requested.annotations,
        [ISSUED_FOR_ANNOTATION]: desired.fingerprint,
      },
      ownerReferences: [ownerReferenceTo(access)],
      ...(existing?.metadata?.resourceVersion
        ? { resourceVersion: existing.metadata.resourceVersion }
        : {}),
    },
    data: {
      [CREDS_KEY]: credsBase64,
      [URL_KEY]: Buffer.from(desired.natsUrl).toString('base64'),
    },
  };
}

/**
 * True when `existing` differs from `wanted` in anything the operator owns, besides the creds
 * file: the caller keeps that as it is or replaces it, and a cached Secret no longer holds its text.
 */
export function secretDiffers(existing: V1Secret, wanted: V1Secret): boolean {
  const sameEntries = (have: Record<string, string> = {}, want: Record<string, string> = {}) =>
    Object.entries(want).every(([key, value]) => key === CREDS_KEY || have[key] === value);
  const keys = (secret: V1Secret) => Object.keys(secret.data ?? {}).filter((key) => key !== CREDS_KEY).length + (hasCredsKey(secret) ? 1 : 0);
  const sameData = sameEntries(existing.data, wanted.data) && keys(existing) === keys(wanted);
  const ownRef = wanted.metadata?.ownerReferences?.[0];
  const sameOwner =
    existing.metadata?.ownerReferences?.length === 1 &&
    existing.metadata.ownerReferences[0]?.uid === ownRef?.uid &&
    existing.metadata.ownerReferences[0]?.controller === true;
  return !(
    sameData &&
    sameOwner &&
    existing.type === wanted.type &&
    sameEntries(existing.metadata?.labels, wanted.metadata?.labels) &&
    sameEntries(existing.metadata?.annotations, wanted.metadata?.annotations)
  );
}
