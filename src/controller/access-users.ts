// Which NATS users an access has been issued that may still be valid, and so must be revoked when
// it goes: the current one (in the status and in the Secret, which can disagree after a crash
// between the two writes) and the retired ones listed in the status. Pure.

import type { V1Secret } from '@kubernetes/client-node';
import type { WorkspaceNatsAccess, WorkspaceNatsAccessStatus } from '../api/workspace-nats-access.ts';
import { timestamp } from '../kube/conditions.ts';
import { issuedCredentials } from './secret-creds.ts';

export type RetiredUser = NonNullable<WorkspaceNatsAccessStatus['retiredUsers']>[number];

export interface IssuedUser {
  userPublicKey: string;
  expiresAt: Date;
}

/** Adds `user`, keeping one entry per key, with the later expiry. */
function addUser(users: Map<string, Date>, user: IssuedUser) {
  const known = users.get(user.userPublicKey);
  if (!known || known < user.expiresAt) users.set(user.userPublicKey, user.expiresAt);
}

/** The user in the status, if it names one with an expiry. */
function statusUser(status: WorkspaceNatsAccessStatus | undefined): IssuedUser | undefined {
  if (!status?.userPublicKey || !status.expiresAt) return undefined;
  return { userPublicKey: status.userPublicKey, expiresAt: new Date(status.expiresAt) };
}

/** The user whose creds `secret` holds, if they are readable, of `account`, and expire. */
function secretUser(secret: V1Secret | undefined, account: string | undefined): IssuedUser | undefined {
  const read = secret && issuedCredentials(secret);
  if (!read?.ok || !read.value.expiresAt) return undefined;
  if (account && read.value.accountPublicKey !== account) return undefined;
  return { userPublicKey: read.value.userPublicKey, expiresAt: read.value.expiresAt };
}

/** The account the creds in `secrets` belong to, when the issuer that says so is gone. */
export function accountOfSecrets(secrets: readonly V1Secret[]): string | undefined {
  for (const secret of secrets) {
    const read = issuedCredentials(secret);
    if (read.ok) return read.value.accountPublicKey;
  }
  return undefined;
}

/** Every user of `access` that may still be valid, from its status and its Secrets' creds. */
export function usersOf(access: WorkspaceNatsAccess, secrets: readonly V1Secret[], account: string | undefined): IssuedUser[] {
  const users = new Map<string, Date>();
  const current = statusUser(access.status);
  if (current) addUser(users, current);
  for (const retired of access.status?.retiredUsers ?? []) {
    addUser(users, { userPublicKey: retired.publicKey, expiresAt: new Date(retired.expiresAt) });
  }
  for (const secret of secrets) {
    const user = secretUser(secret, account);
    if (user) addUser(users, user);
  }
  return [...users].map(([userPublicKey, expiresAt]) => ({ userPublicKey, expiresAt }));
}

/**
 * The retired users after a freshly minted user replaced the access's current user(s): those
 * still valid at `now` stay listed, and the replaced ones join them, to be revoked unless this was
 * a renewal.
 */
export function retireReplaced(options: {
  access: WorkspaceNatsAccess;
  replacedSecret: V1Secret | undefined;
  account: string;
  revoke: boolean;
  now: Date;
}): RetiredUser[] {
  const { access, replacedSecret, account, revoke, now } = options;
  const retired = stillValid(access.status?.retiredUsers ?? [], now);
  for (const user of [statusUser(access.status), secretUser(replacedSecret, account)]) {
    if (!user || user.expiresAt <= now) continue;
    if (retired.some((entry) => entry.publicKey === user.userPublicKey)) continue;
    retired.push({
      publicKey: user.userPublicKey,
      expiresAt: timestamp(user.expiresAt),
      ...(revoke ? { revoke: true } : {}),
    });
  }
  return retired;
}

/** The entries whose JWTs have not expired at `now`. */
export function stillValid(retired: readonly RetiredUser[], now: Date): RetiredUser[] {
  return retired.filter((entry) => new Date(entry.expiresAt) > now);
}
