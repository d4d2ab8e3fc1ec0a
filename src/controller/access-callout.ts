// Accesses that log in through an auth callout (spec.authCalloutRef): nothing is minted. Their
// Secret holds the callout's sentinel creds and NATS_URL, and the callout signs each login with the
// grant resolveGrant gives here too, so a grant the issuer's policy refuses is reported the same
// way. Deleting the access, or a policy that now refuses it, cuts its callout logins on every
// server before its Secret and finalizer go. The sentinel is shared and never revoked.

import { createHash } from 'node:crypto';
import { ACCESS_FINALIZER } from '../api/constants.ts';
import { Failure } from '../api/failure.ts';
import { EventReason, READY, Reason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { accessUserName, type ResolvedGrant } from '../policy/grant.ts';
import { NEEDS_LIVE_SECRETS, nothing, planFailure, type AccessObservation, type AccessPlan, type Decision } from './access-decision.ts';
import { skipsRevocation } from './access-revocation.ts';
import { desiredSecret, isControlledBy, secretDiffers, secretNameOf } from './access-secret.ts';

/** The logins to cut: none when told to skip, or without an issuer (the callout lets none in then). */
function cutOf(observed: AccessObservation): Pick<AccessPlan, 'cutLogins'> {
  const { access, issuer } = observed;
  if (!issuer || skipsRevocation(access)) return {};
  return { cutLogins: { account: issuer.spec.account.publicKey, userName: accessUserName(access) } };
}

/** Deletion: cut the logins, then delete the Secrets and remove the finalizer. */
export function decideCalloutDeletion(observed: AccessObservation): Decision {
  const { access } = observed;
  if (!access.metadata.finalizers?.includes(ACCESS_FINALIZER)) return nothing();
  if (!observed.liveSecrets) return NEEDS_LIVE_SECRETS;
  return { ...nothing(), ...cutOf(observed), deleteSecrets: observed.liveSecrets.filter((secret) => isControlledBy(secret, access)), removeFinalizer: true };
}

/** The Secret with the sentinel creds, and Ready; or the Failure that stops it. */
export function decideCalloutAccess(observed: AccessObservation, grant: ResolvedGrant | Failure, base: AccessPlan): Decision {
  const { access } = observed;
  const owned = observed.cachedSecrets.filter((secret) => isControlledBy(secret, access));
  if (grant instanceof Failure) {
    // A policy that refuses the access now: its logins go, and so does its Secret.
    if (grant.reason === Reason.PolicyViolation) return planFailure(access, grant, { ...base, ...cutOf(observed), deleteSecrets: owned });
    throw grant;
  }
  const calloutName = access.spec.authCalloutRef?.name ?? '';
  const callout = observed.callout;
  if (!callout) throw new Failure(Reason.CalloutNotFound, `ClusterNatsAuthCallout ${calloutName} not found`, { retry: true });
  if (callout.sentinel instanceof Failure) throw callout.sentinel;
  const secretName = secretNameOf(access);
  const existing = observed.secret;
  if (existing && !isControlledBy(existing, access)) {
    throw new Failure(Reason.SecretConflict, `Secret ${secretName} already exists and is not owned by this WorkspaceNatsAccess`, { retry: true });
  }
  // The fingerprint covers the sentinel too: a rotated sentinel is written out again.
  const fingerprint = createHash('sha256').update(grant.fingerprint).update(calloutName).update(callout.sentinel.creds).digest('hex').slice(0, 32);
  const wanted = desiredSecret(access, { ...grant, fingerprint }, Buffer.from(callout.sentinel.creds).toString('base64'), existing);
  const plan: AccessPlan = { ...base };
  if (!existing || secretDiffers(existing, wanted)) {
    plan.writeSecret = { wanted, existing };
    const message = `Wrote the sentinel creds of callout ${calloutName} into Secret ${secretName}`;
    plan.events = [{ type: 'Normal', reason: existing ? EventReason.SecretRestored : EventReason.Issued, message }];
  }
  plan.status = {
    ready: {
      type: READY,
      status: 'True',
      reason: Reason.CalloutReady,
      message: `Secret ${secretName} holds the sentinel creds of callout ${calloutName}: the workspace logs in with its identity token`,
    },
    fields: { secretName, userPublicKey: undefined, issuedAt: undefined, expiresAt: undefined, renewAt: undefined, retiredUsers: undefined },
  };
  plan.deleteSecrets = owned.filter((secret) => secret.metadata?.name !== secretName);
  return plan;
}

/** Whether `access` logs in through a callout. */
export const usesCallout = (access: WorkspaceNatsAccess): boolean => access.spec.authCalloutRef !== undefined;
