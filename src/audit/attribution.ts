// Which WorkspaceNatsAccess a NATS client belongs to, from what the servers report of it: a user
// public key (minted creds: the access's current, retired and just-minted users), or the name the
// auth callout put into the user JWT ("<namespace>/<access>"), or, for a refused login, the user
// in the JWT it presented, which may be one the operator revoked. Pure.

import { accountIssuers, type ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { ClientEvent, ClientRecord } from '../nats/advisories.ts';

/** Access keys ("namespace/name") by user public key, kept in step with the accesses. */
export class UserDirectory {
  readonly #byUser = new Map<string, string>();
  readonly #usersOf = new Map<string, readonly string[]>();

  /** The users `accessKey` has now (none when it is gone). */
  set(accessKey: string, users: readonly string[]): void {
    for (const user of this.#usersOf.get(accessKey) ?? []) if (this.#byUser.get(user) === accessKey) this.#byUser.delete(user);
    if (users.length === 0) this.#usersOf.delete(accessKey);
    else this.#usersOf.set(accessKey, users);
    for (const user of users) this.#byUser.set(user, accessKey);
  }

  accessOf(user: string): string | undefined {
    return this.#byUser.get(user);
  }
}

export interface AttributionLookups {
  /** The access key of a user public key. */
  accessOfUser(user: string): string | undefined;
  /** The key of the live access in callout mode whose callout users carry `name`. */
  calloutAccess(name: string): string | undefined;
  /** For a user revoked in `account`: what it was revoked for (an access key, or a policy key). */
  revokedFor(account: string, user: string): string | undefined;
}

export type Attribution =
  | { kind: 'access'; accessKey: string; via: 'user' | 'callout'; revoked: boolean }
  | { kind: 'revoked'; revokedFor: string }
  | { kind: 'unknown' };

/** The user public key a record is about: the one logged in, or the one in the JWT presented. */
export function userKeyOf(record: ClientRecord): string | undefined {
  if (record.user?.startsWith('U') && record.user.length === 56) return record.user;
  return record.presented?.userPublicKey;
}

/** Whose client `record` is, in `account`. */
export function attribute(record: ClientRecord, account: string, lookups: AttributionLookups): Attribution {
  const user = userKeyOf(record);
  if (user) {
    const accessKey = lookups.accessOfUser(user);
    const revokedFor = lookups.revokedFor(account, user);
    // A user both issued and revoked (its access exceeded a tightened policy) is its access's.
    if (accessKey) return { kind: 'access', accessKey, via: 'user', revoked: revokedFor !== undefined };
    if (revokedFor) return { kind: 'revoked', revokedFor };
    return { kind: 'unknown' };
  }
  const accessKey = record.user ? lookups.calloutAccess(record.user) : undefined;
  return accessKey ? { kind: 'access', accessKey, via: 'callout', revoked: false } : { kind: 'unknown' };
}

export const AuthFailureReason = {
  UserRevoked: 'UserRevoked',
  CredentialsExpired: 'CredentialsExpired',
  UnknownUser: 'UnknownUser',
  Other: 'Other',
} as const;

export type AuthFailureReason = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

/** Why a login of the issuer's account was most likely refused (the server says only that it was). */
export function authFailureReason(event: ClientEvent, attribution: Attribution, now: Date): AuthFailureReason {
  if (attribution.kind === 'revoked' || (attribution.kind === 'access' && attribution.revoked)) return AuthFailureReason.UserRevoked;
  const expiresAt = event.presented?.expiresAt;
  if (expiresAt && expiresAt <= now) return AuthFailureReason.CredentialsExpired;
  if (attribution.kind === 'unknown' && event.presented) return AuthFailureReason.UnknownUser;
  return AuthFailureReason.Other;
}

/**
 * The issuer a client of `account` counts under: its access's (`accessIssuer`), else the issuer
 * of the account whose signing key signed its JWT, else the account's first issuer by name; ""
 * when no issuer names the account.
 */
export function issuerOf(issuers: readonly ClusterNatsIssuer[], account: string, record: ClientRecord, accessIssuer?: string): string {
  if (accessIssuer) return accessIssuer;
  const ofAccount = accountIssuers(issuers, account);
  const signer = record.presented?.signer;
  return (ofAccount.find((issuer) => signer !== undefined && issuer.status?.signingKeyPublicKey === signer) ?? ofAccount[0])?.metadata.name ?? '';
}
