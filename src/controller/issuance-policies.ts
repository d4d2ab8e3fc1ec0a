// Does a WorkspaceNatsAccess need a new user minted? A chain of small, pure checks in the style of
// cert-manager's trigger policies: the first that fires gives the reason and a message.

import type { V1Secret } from '@kubernetes/client-node';
import { CREDS_KEY, ISSUED_FOR_ANNOTATION } from '../api/constants.ts';
import { readCredentials, type IssuedCredentials } from '../nats/credentials.ts';
import type { DesiredCredentials } from '../policy/desired-credentials.ts';

export const IssueReason = {
  SecretMissing: 'SecretMissing',
  CredentialsUnreadable: 'CredentialsUnreadable',
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
  desired: DesiredCredentials;
  now: Date;
}

/**
 * Reading creds derives the seed's public key, which costs milliseconds of pure-JS curve math.
 * Informer caches hand out the same object until the Secret changes, so results are kept per
 * object: a resync of thousands of unchanged Secrets reads each one once.
 */
const readByObject = new WeakMap<V1Secret, IssuedCredentials | Error>();

/** The creds in a Secret, or why they cannot be used. */
export function issuedCredentials(secret: V1Secret): IssuedCredentials | Error {
  let issued = readByObject.get(secret);
  if (!issued) {
    const encoded = secret.data?.[CREDS_KEY];
    try {
      if (!encoded) throw new Error(`key ${CREDS_KEY} is missing`);
      issued = readCredentials(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch (error) {
      issued = error as Error;
    }
    readByObject.set(secret, issued);
  }
  return issued;
}

/** When credentials issued at `issued` should be replaced. */
export function renewalTime(issued: IssuedCredentials, renewBeforeMs: number): Date | undefined {
  return issued.expiresAt && new Date(issued.expiresAt.getTime() - renewBeforeMs);
}

type Policy = (input: IssuanceInput) => IssueTrigger | undefined;

const secretMissing: Policy = ({ secret, secretName }) =>
  secret
    ? undefined
    : { reason: IssueReason.SecretMissing, message: `Secret ${secretName} does not exist` };

const credentialsUnreadable: Policy = ({ secret, secretName }) => {
  const issued = secret && issuedCredentials(secret);
  return issued instanceof Error
    ? {
        reason: IssueReason.CredentialsUnreadable,
        message: `Secret ${secretName} does not hold usable credentials: ${issued.message}`,
      }
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
  const issued = secret && issuedCredentials(secret);
  if (!issued || issued instanceof Error) return undefined;
  const renewAt = renewalTime(issued, desired.renewBeforeMs);
  return renewAt && renewAt <= now
    ? {
        reason: IssueReason.Renewal,
        message: `the credentials expire at ${issued.expiresAt?.toISOString()}`,
      }
    : undefined;
};

/** Order matters: a missing Secret says more than "unreadable", which says more than "changed". */
export const issuancePolicies: readonly Policy[] = [
  secretMissing,
  credentialsUnreadable,
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
