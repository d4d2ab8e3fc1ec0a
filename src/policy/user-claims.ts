// Whether a user JWT seen on a live connection grants more than its issuer's policy allows now:
// the audit's over-permission check. The access controller holds what it mints to the policy;
// this looks at what a server actually let in (an older JWT under a policy tightened since, or
// one signed outside the operator with the account's key). Pure; says what exceeds, by field.

import type { User } from '@nats-io/jwt';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { parseDuration } from './duration.ts';
import { DEFAULT_MAX_TTL, expandBounds } from './grant.ts';
import { subjectWithin } from './issuer-policy.ts';
import type { TemplateValues } from './templates.ts';

export interface PresentedGrant {
  nats: Partial<User>;
  issuedAt: Date | undefined;
  expiresAt: Date | undefined;
}

/** What `presented` grants beyond `issuer`'s policy for the workspace `values`; empty if nothing. */
export function excessOverPolicy(presented: PresentedGrant, issuer: ClusterNatsIssuer, values: TemplateValues): string[] {
  const policy = issuer.spec.policy ?? {};
  const excess: string[] = [];
  const maxTtlMs = parseDuration(policy.maxTTL ?? DEFAULT_MAX_TTL, 'policy.maxTTL');
  if (!presented.expiresAt) excess.push('exp: never expires');
  else if (presented.issuedAt && presented.expiresAt.getTime() - presented.issuedAt.getTime() > maxTtlMs) {
    excess.push(`exp: lives longer than policy.maxTTL ${policy.maxTTL ?? DEFAULT_MAX_TTL}`);
  }
  // Under a scoped signing key the account JWT's template sets permissions and limits.
  if (issuer.spec.account.scoped) return excess;
  const { nats } = presented;
  const directions = [
    ['pub', policy.allowedSubjects?.publish],
    ['sub', policy.allowedSubjects?.subscribe],
  ] as const;
  for (const [direction, bounds] of directions) {
    if (!bounds) continue;
    const expanded = expandBounds(bounds, values);
    const allow = nats[direction]?.allow ?? [];
    const denyAll = (nats[direction]?.deny ?? []).includes('>');
    if (allow.length === 0 && !denyAll) excess.push(`${direction}.allow: every subject (policy.allowedSubjects bounds it)`);
    allow.forEach((subject, i) => {
      if (!expanded.some((bound) => subjectWithin(subject, bound))) excess.push(`${direction}.allow[${i}]: "${subject}" is outside policy.allowedSubjects`);
    });
  }
  if (policy.allowResponses === false && nats.resp) excess.push('resp: policy.allowResponses is false');
  const caps = policy.maxLimits ?? {};
  for (const [claim, cap] of [['subs', caps.subscriptions], ['payload', caps.payload], ['data', caps.data]] as const) {
    const value = nats[claim] ?? -1;
    if (cap !== undefined && (value < 0 || value > cap)) excess.push(`${claim}: ${value < 0 ? 'unlimited' : value} exceeds policy.maxLimits ${cap}`);
  }
  const types = policy.connectionTypes;
  // An empty list bounds nothing: the access controller then mints no types, which NATS reads as
  // all of them, and a check stricter than the minting would report (and revoke) every user.
  if (types && types.length > 0) {
    const presentedTypes = nats.allowed_connection_types ?? [];
    if (presentedTypes.length === 0) excess.push('allowed_connection_types: every type (policy.connectionTypes bounds them)');
    for (const type of presentedTypes) if (!types.includes(type as (typeof types)[number])) excess.push(`allowed_connection_types: ${type} is not in policy.connectionTypes`);
  }
  return excess;
}
