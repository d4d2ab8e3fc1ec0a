// Taking an access's users out of service, for both reasons an access loses its credentials: its
// deletion, and a tightened issuer policy that it now exceeds. One loop for both: every user the
// access was issued that may still be valid (from its status and the Secrets it controls) must be
// revoked on every NATS server before its Secrets go. Callers run it first over the cached
// Secrets (no API call, so deletions arriving together reach the revoker together and share a
// push), then over the Secrets as the API server has them, so that one written a moment ago is
// not missed. Pure: the revoker's state is read through a query.

import type { V1Secret } from '@kubernetes/client-node';
import { SKIP_REVOCATION_ANNOTATION } from '../api/constants.ts';
import { Failure, type Result } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { isControlledBy } from './access-secret.ts';
import { accountOfSecrets, usersOf, type IssuedUser } from './access-users.ts';

/** Where the revoker stands on `users` of `account`; reads only. */
export type RevocationQuery = (account: string, users: readonly IssuedUser[]) => Result<'revoked' | 'pending'>;

/** Users to hand to the revoker (asking again for users already asked for changes nothing). */
export interface RevokeRequest {
  account: string;
  users: IssuedUser[];
}

export interface RetirementInput {
  access: WorkspaceNatsAccess;
  /** The account, when the issuer says; else it is read from the creds in the Secrets. */
  account: string | undefined;
  /** Secrets in the access's namespace (cached or live); only those it controls count. */
  secrets: readonly V1Secret[];
  /** An administrator asked to remove the access without revoking (annotation). */
  skip: boolean;
  revocation: RevocationQuery;
  now: Date;
  /** What waits for the revocation, for messages: "before its finalizer is removed". */
  until: string;
}

export type Retirement =
  /** Every user still valid is revoked on every server (or revocation was skipped): go on. */
  | { kind: 'retired'; users: IssuedUser[]; secrets: V1Secret[] }
  /** Asked for, not confirmed yet: the revoker wakes the access when it is. */
  | { kind: 'pending'; revoke: RevokeRequest }
  | { kind: 'failed'; revoke?: RevokeRequest; failure: Failure };

export const skipsRevocation = (access: WorkspaceNatsAccess) => access.metadata.annotations?.[SKIP_REVOCATION_ANNOTATION] === 'true';

export const userNames = (users: readonly IssuedUser[]) => users.map((user) => user.userPublicKey).join(', ');

export function planRetirement(input: RetirementInput): Retirement {
  const { access, skip, now } = input;
  const secrets = input.secrets.filter((secret) => isControlledBy(secret, access));
  const account = input.account ?? accountOfSecrets(secrets);
  const users = usersOf(access, secrets, account).filter((user) => user.expiresAt > now);
  if (skip || users.length === 0) return { kind: 'retired', users, secrets };
  if (!account) {
    return {
      kind: 'failed',
      failure: new Failure(
        Reason.RevocationFailed,
        `Cannot revoke NATS users ${userNames(users)}: ClusterNatsIssuer ${access.spec.issuerRef.name} is gone, so their account is unknown. ` +
          `Re-create the issuer, or annotate this access ${SKIP_REVOCATION_ANNOTATION}=true to remove it without revoking`,
        { retry: true },
      ),
    };
  }
  const revoke = { account, users };
  const state = input.revocation(account, users);
  if (!state.ok) {
    return {
      kind: 'failed',
      revoke,
      failure: new Failure(
        Reason.RevocationFailed,
        `Revoking NATS users ${userNames(users)} failed, retrying ${input.until}: ${state.message}. ` +
          `To remove the access without revoking, annotate it ${SKIP_REVOCATION_ANNOTATION}=true`,
        { retry: true },
      ),
    };
  }
  return state.value === 'revoked' ? { kind: 'retired', users, secrets } : { kind: 'pending', revoke };
}
