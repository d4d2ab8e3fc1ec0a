// What the access controller should do about one WorkspaceNatsAccess, decided from what it read:
// the finalizer, the Secret to write (with a freshly minted user when an issuance policy fires),
// the users to revoke, the Secrets to delete, the Events and the status. The controller applies
// the plan and nothing else; unit tests assert it. Pure apart from minting, whose only side effect
// is generating the new user's key.

import type { V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import { ACCESS_FINALIZER, CREDS_KEY, SKIP_REVOCATION_ANNOTATION } from '../api/constants.ts';
import { Failure } from '../api/failure.ts';
import { EventReason, READY, Reason } from '../api/reasons.ts';
import { findCondition, timestamp } from '../kube/conditions.ts';
import { accessUserName, resolveGrant, type ResolvedGrant } from '../policy/grant.ts';
import { decideCalloutAccess, decideCalloutDeletion, usesCallout } from './access-callout.ts';
import { NEEDS_LIVE_SECRETS, nothing, planFailure, type AccessObservation, type AccessPlan, type Decision, type Mint, type PlannedEvent } from './access-decision.ts';
import { desiredSecret, isControlledBy, secretDiffers, secretNameOf } from './access-secret.ts';
import { planRetirement, skipsRevocation, userNames } from './access-revocation.ts';
import { retireReplaced, stillValid, type RetiredUser } from './access-users.ts';
import { IssueReason, issueTrigger, renewalTime } from './issuance-policies.ts';
import { issuedCredentials } from './secret-creds.ts';

export async function decide(observed: AccessObservation, mint: Mint): Promise<Decision> {
  if (observed.access.metadata.deletionTimestamp) return usesCallout(observed.access) ? decideCalloutDeletion(observed) : decideDeletion(observed);
  const base = { ...nothing(), addFinalizer: !observed.access.metadata.finalizers?.includes(ACCESS_FINALIZER) };
  try {
    return await decideIssuance(observed, mint, base);
  } catch (error) {
    if (error instanceof Failure) return planFailure(observed.access, error, base);
    throw error;
  }
}

/**
 * Deletion: every user the access was issued that may still be valid is revoked on the NATS
 * servers, then its Secrets and the finalizer go. Until the servers confirm, the finalizer stays.
 */
function decideDeletion(observed: AccessObservation): Decision {
  const { access, issuer } = observed;
  if (!access.metadata.finalizers?.includes(ACCESS_FINALIZER)) return nothing();
  const skip = skipsRevocation(access);
  const retirement = (secrets: readonly V1Secret[]) =>
    planRetirement({
      access,
      account: issuer?.spec.account.publicKey,
      secrets,
      skip,
      revocation: observed.revocation,
      now: observed.now,
      until: 'before its finalizer is removed',
    });
  const cached = retirement(observed.cachedSecrets);
  const final = cached.kind === 'retired' && observed.liveSecrets ? retirement(observed.liveSecrets) : cached;
  if (final.kind === 'pending') return { ...nothing(), revoke: final.revoke };
  if (final.kind === 'failed') return planFailure(access, final.failure, { ...nothing(), ...(final.revoke ? { revoke: final.revoke } : {}) });
  if (!observed.liveSecrets) return NEEDS_LIVE_SECRETS;
  const events: PlannedEvent[] = [];
  if (final.users.length > 0) {
    events.push(
      skip
        ? {
            type: 'Warning',
            reason: EventReason.RevocationSkipped,
            message:
              `Removed without waiting for NATS to revoke users ${userNames(final.users)} (annotation ${SKIP_REVOCATION_ANNOTATION}): ` +
              'a revocation already requested still reaches the servers when they answer; otherwise their credentials stay valid until they expire',
          }
        : { type: 'Normal', reason: EventReason.Revoked, message: `Revoked NATS users ${userNames(final.users)} on every server` },
    );
  }
  return { ...nothing(), events, deleteSecrets: final.secrets, removeFinalizer: true };
}

/**
 * The access asks for more than its issuer allows now (the policy was tightened): the users it
 * holds are revoked and its Secrets deleted, so that no credentials beyond the policy stay valid.
 */
function decideWithdrawal(observed: AccessObservation, violation: Failure, account: string, base: AccessPlan): Decision {
  const retirement = (secrets: readonly V1Secret[]) =>
    planRetirement({
      access: observed.access,
      account,
      secrets,
      skip: false,
      revocation: observed.revocation,
      now: observed.now,
      until: `(${violation.message})`,
    });
  const cached = retirement(observed.cachedSecrets);
  const final = cached.kind === 'retired' && observed.liveSecrets ? retirement(observed.liveSecrets) : cached;
  if (final.kind === 'pending') {
    const waiting = new Failure(Reason.PolicyViolation, `${violation.message}; revoking the users issued before`);
    return planFailure(observed.access, waiting, { ...base, revoke: final.revoke });
  }
  if (final.kind === 'failed') return planFailure(observed.access, final.failure, { ...base, ...(final.revoke ? { revoke: final.revoke } : {}) });
  if (!observed.liveSecrets) return NEEDS_LIVE_SECRETS;
  return planFailure(observed.access, violation, { ...base, deleteSecrets: final.secrets });
}

/** Makes the Secret hold credentials for the grant the access resolves to, minting when due. */
async function decideIssuance(observed: AccessObservation, mint: Mint, base: AccessPlan): Promise<Decision> {
  const { access, issuer, now } = observed;
  const issuerName = access.spec.issuerRef.name;
  if (!issuer) throw new Failure(Reason.IssuerNotFound, `ClusterNatsIssuer ${issuerName} not found`, { retry: true });
  // The issuer's JWT check found that its users would not work, or would have no bounds.
  const issuerReady = findCondition(issuer.status?.conditions, READY);
  if (issuerReady?.reason === Reason.AccountMismatch && issuerReady.observedGeneration === issuer.metadata.generation) {
    throw new Failure(Reason.AccountMismatch, `ClusterNatsIssuer ${issuerName}: ${issuerReady.message}`);
  }
  let grant: ResolvedGrant;
  try {
    grant = resolveGrant({ access, issuer, namespaceLabels: observed.namespaceLabels, now });
  } catch (error) {
    if (usesCallout(access) && error instanceof Failure) return decideCalloutAccess(observed, error, base);
    // Only a change of the access, its issuer or its namespace can fix either, and each of them
    // triggers a reconcile: no retry.
    if (error instanceof Failure && error.reason === Reason.PolicyViolation) {
      return decideWithdrawal(observed, error, issuer.spec.account.publicKey, base);
    }
    throw error;
  }

  if (usesCallout(access)) return decideCalloutAccess(observed, grant, base);
  const secretName = secretNameOf(access);
  const existing = observed.secret;
  if (existing && !isControlledBy(existing, access)) {
    throw new Failure(Reason.SecretConflict, `Secret ${secretName} already exists and is not owned by this WorkspaceNatsAccess`, { retry: true });
  }
  if (observed.signingKey instanceof Failure) throw observed.signingKey;
  const signingKey = observed.signingKey as KeyPair;

  const plan: AccessPlan = { ...base };
  let issued: { userPublicKey: string; issuedAt: Date; expiresAt: Date };
  let retired: RetiredUser[];
  // Creds signed by any other key than the issuer's current one are replaced: a rotated key
  // re-issues, and planted creds are not vouched for.
  const trigger = issueTrigger({ secretName, secret: existing, desired: grant, signingKeyPublicKey: signingKey.getPublicKey(), now });
  if (trigger) {
    const minted = await mint({
      name: accessUserName(access),
      accountPublicKey: grant.accountPublicKey,
      signingKey,
      grant: grant.grant,
      tags: grant.tags,
      expiresAt: grant.expiresAt,
    });
    const creds = Buffer.from(minted.creds).toString('base64');
    plan.writeSecret = { wanted: desiredSecret(access, grant, creds, existing), existing };
    const reason = trigger.reason === IssueReason.Renewal ? EventReason.Renewed : existing ? EventReason.Reissued : EventReason.Issued;
    plan.events = [{ type: 'Normal', reason, message: `Minted NATS user ${minted.userPublicKey} into Secret ${secretName}: ${trigger.message}` }];
    issued = minted;
    // The user replaced by a renewal expires on its own; one replaced for any other reason is revoked.
    retired = retireReplaced({ access, replacedSecret: existing, account: grant.accountPublicKey, revoke: trigger.reason !== IssueReason.Renewal, now });
  } else {
    // No trigger fired, so the Secret exists with trusted, expiring creds; put back anything else
    // edited. The cached Secret no longer holds the creds text the write keeps: the API server's does.
    const current = existing as V1Secret;
    if (secretDiffers(current, desiredSecret(access, grant, '', current))) {
      const creds = current.data?.[CREDS_KEY] ?? observed.liveSecrets?.find((secret) => secret.metadata?.name === secretName)?.data?.[CREDS_KEY];
      if (creds === undefined) return NEEDS_LIVE_SECRETS;
      plan.writeSecret = { wanted: desiredSecret(access, grant, creds, current), existing: current };
      plan.events = [{ type: 'Normal', reason: EventReason.SecretRestored, message: `Restored Secret ${secretName}` }];
    }
    const read = issuedCredentials(current);
    if (!read.ok || !read.value.expiresAt) throw new Error(`Secret ${secretName}: no trigger fired for creds that do not read or never expire`);
    issued = { ...read.value, expiresAt: read.value.expiresAt };
    retired = stillValid(access.status?.retiredUsers ?? [], now);
  }

  // Replaced users marked for revocation are listed until every server confirms them.
  const toRevoke = retired.filter((entry) => entry.revoke).map((entry) => ({ userPublicKey: entry.publicKey, expiresAt: new Date(entry.expiresAt) }));
  if (toRevoke.length > 0) {
    plan.revoke = { account: grant.accountPublicKey, users: toRevoke };
    const state = observed.revocation(grant.accountPublicKey, toRevoke);
    if (state.ok && state.value === 'revoked') retired = retired.filter((entry) => !entry.revoke);
  }
  const renewAt = renewalTime(issued, grant.renewBeforeMs);
  plan.status = {
    ready: {
      type: READY,
      status: 'True',
      reason: Reason.Issued,
      message: `Secret ${secretName} holds credentials for NATS user ${issued.userPublicKey}, valid until ${timestamp(issued.expiresAt)}`,
    },
    fields: {
      userPublicKey: issued.userPublicKey,
      secretName,
      issuedAt: timestamp(issued.issuedAt),
      expiresAt: timestamp(issued.expiresAt),
      renewAt: timestamp(renewAt),
      retiredUsers: retired.length > 0 ? retired : undefined,
    },
  };
  // A Secret left under a former spec.secret.name is not the workspace's any more.
  plan.deleteSecrets = observed.cachedSecrets.filter((secret) => secret.metadata?.name !== secretName && isControlledBy(secret, access));
  // Never sooner than a second: a renewal time in the past is the renewal policy's to act on.
  plan.result = { requeueAfterMs: Math.max(renewAt.getTime() - now.getTime(), 1000) };
  return plan;
}
