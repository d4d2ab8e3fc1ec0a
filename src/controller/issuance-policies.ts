// Does a WorkspaceNatsAccess need a new user minted? A chain of small, pure checks in the style of
// cert-manager's trigger policies: the first that fires gives the reason and a message.

import type { V1Secret } from '@kubernetes/client-node';
import { ISSUED_FOR_ANNOTATION } from '../api/constants.ts';
import type { IssuedCredentials } from '../nats/credentials.ts';
import type { ResolvedGrant } from '../policy/grant.ts';
import { issuedCredentials } from './secret-creds.ts';

export const IssueReason = {
  SecretMissing: 'SecretMissing',
  CredentialsUnreadable: 'CredentialsUnreadable',
  CredentialsUntrusted: 'CredentialsUntrusted',
  SpecChanged: 'SpecChanged',
  Renewal: 'Renewal',
} as const;

export interface IssueTrigger {
  reason: (typeof IssueReason)[keyof typeof IssueReason];
  message: string;
}

export interface IssuanceInput {
  secretName: string;
  secret: V1Secret | undefined;
  desired: ResolvedGrant;
  /** The issuer's current signing key. */
  signingKeyPublicKey: string;
  now: Date;
}

/**
 * Why readable creds are not ones this operator would have minted for `desired`, if they are not:
 * another account, no expiry, or a signer other than the account or the issuer's signing key.
 * Someone who can edit the Secret must not be able to plant credentials the operator then vouches
 * for (or that never come up for renewal).
 */
export function untrustedBecause(
  issued: IssuedCredentials,
  desired: ResolvedGrant,
  signingKeyPublicKey: string,
): string | undefined {
  if (issued.accountPublicKey !== desired.accountPublicKey) {
    return `the user belongs to account ${issued.accountPublicKey}, not the issuer's ${desired.accountPublicKey}`;
  }
  if (!issued.expiresAt) return 'the user JWT never expires';
  const signer = issued.signerPublicKey;
  if (signer !== signingKeyPublicKey && signer !== desired.accountPublicKey) {
    return `the user JWT was signed by ${issued.signerPublicKey}, not by the issuer's signing key ${signingKeyPublicKey}`;
  }
  return undefined;
}

/**
 * When `issued` should be replaced: renewBefore ahead of expiry, and up to a tenth of renewBefore
 * earlier still. The jitter is fixed per user (a hash of its public key), so every reconcile
 * computes the same time, and accesses created together do not all renew in the same second.
 */
export function renewalTime(issued: { userPublicKey: string; expiresAt: Date }, renewBeforeMs: number): Date {
  let hash = 0x811c9dc5; // FNV-1a, 32 bits: spreads keys evenly, needs no crypto.
  for (const char of issued.userPublicKey) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  const jitterMs = Math.floor((renewBeforeMs / 10) * (hash / 2 ** 32));
  return new Date(issued.expiresAt.getTime() - renewBeforeMs - jitterMs);
}

type Policy = (input: IssuanceInput) => IssueTrigger | undefined;

/** The Secret's creds, when readable: later policies only run once earlier ones passed. */
const readable = (secret: V1Secret | undefined) => {
  const issued = secret && issuedCredentials(secret);
  return issued?.ok ? issued.value : undefined;
};

const secretMissing: Policy = ({ secret, secretName }) =>
  secret
    ? undefined
    : { reason: IssueReason.SecretMissing, message: `Secret ${secretName} does not exist` };

const credentialsUnreadable: Policy = ({ secret, secretName }) => {
  const issued = secret && issuedCredentials(secret);
  return issued && !issued.ok
    ? {
        reason: IssueReason.CredentialsUnreadable,
        message: `Secret ${secretName} does not hold usable credentials: ${issued.message}`,
      }
    : undefined;
};

const credentialsUntrusted: Policy = ({ secret, secretName, desired, signingKeyPublicKey }) => {
  const issued = readable(secret);
  const why = issued && untrustedBecause(issued, desired, signingKeyPublicKey);
  return why
    ? { reason: IssueReason.CredentialsUntrusted, message: `Secret ${secretName} holds credentials the operator did not mint: ${why}` }
    : undefined;
};

const specChanged: Policy = ({ secret, desired }) =>
  secret?.metadata?.annotations?.[ISSUED_FOR_ANNOTATION] === desired.fingerprint
    ? undefined
    : {
        reason: IssueReason.SpecChanged,
        message: 'the credentials were minted for another spec or issuer configuration',
      };

const renewalDue: Policy = ({ secret, desired, now }) => {
  const issued = readable(secret);
  if (!issued?.expiresAt) return undefined;
  const renewAt = renewalTime({ userPublicKey: issued.userPublicKey, expiresAt: issued.expiresAt }, desired.renewBeforeMs);
  return renewAt <= now
    ? { reason: IssueReason.Renewal, message: `the credentials expire at ${issued.expiresAt.toISOString()}` }
    : undefined;
};

/** Order matters: each says more than the ones after it, which assume it passed. */
export const issuancePolicies: readonly Policy[] = [
  secretMissing,
  credentialsUnreadable,
  credentialsUntrusted,
  specChanged,
  renewalDue,
];

export function issueTrigger(input: IssuanceInput): IssueTrigger | undefined {
  for (const policy of issuancePolicies) {
    const trigger = policy(input);
    if (trigger) return trigger;
  }
  return undefined;
}
