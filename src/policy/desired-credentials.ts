// What credentials a WorkspaceNatsAccess should hold, computed from the access and its issuer
// alone. Pure: the controller compares the result with what the Secret holds.

import { createHash } from 'node:crypto';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { UserGrant } from '../nats/credentials.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { expandSubject, type TemplateValues } from './templates.ts';

export const DEFAULT_TTL = '1h';
export const DEFAULT_MAX_TTL = '24h';
/** Shorter lifetimes would make the operator re-sign faster than clients reconnect. */
export const MIN_TTL_MS = 10_000;
/**
 * The least time between renewal and expiry, and between issuance and renewal: the JWT's whole
 * seconds and the Secret's way to the workspace need a margin on both sides.
 */
export const MIN_RENEW_BEFORE_MS = 5_000;

/** A problem with what the access asks for; `reason` is a CamelCase condition reason. */
export class AccessSpecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface DesiredCredentials {
  accountPublicKey: string;
  grant: UserGrant;
  ttlMs: number;
  renewBeforeMs: number;
  /** Comma-separated server URLs for the workspace (NATS_URL). */
  natsUrl: string;
  /**
   * Hash of everything the credentials are minted from. Stored on the Secret, so that a change
   * of spec or issuer (and only such a change) leads to a re-issue.
   */
  fingerprint: string;
}

type SubjectRules = { allow?: readonly string[]; deny?: readonly string[] } | undefined;

/**
 * Allow and deny lists with templates expanded. NATS reads an empty allow list as "everything",
 * so a direction with nothing allowed is written as an explicit deny of `>`.
 */
function expandRules(rules: SubjectRules, values: TemplateValues, field: string) {
  const expand = (list: readonly string[] | undefined, name: string) =>
    (list ?? []).map((subject, i) => expandSubject(subject, values, `${field}.${name}[${i}]`));
  const allow = expand(rules?.allow, 'allow');
  const deny = expand(rules?.deny, 'deny');
  return allow.length === 0 ? { allow, deny: ['>'] } : { allow, deny };
}

/** `text` (or `fallback` when unset) in milliseconds; an AccessSpecError naming `field` if bad. */
function durationField(text: string | undefined, fallback: string, field: string): number {
  try {
    return parseDuration(text ?? fallback, field);
  } catch (error) {
    throw new AccessSpecError('InvalidSpec', (error as Error).message);
  }
}

export function desiredCredentials(
  access: WorkspaceNatsAccess,
  issuer: ClusterNatsIssuer,
): DesiredCredentials {
  const { spec } = access;
  const policy = issuer.spec.policy ?? {};
  const values: TemplateValues = {
    'workspace.id': spec.workspace.id,
    'workspace.owner': spec.workspace.owner,
    namespace: access.metadata.namespace,
  };

  const ttlMs = durationField(spec.ttl, policy.defaultTTL ?? DEFAULT_TTL, 'spec.ttl');
  const maxTtlMs = durationField(policy.maxTTL, DEFAULT_MAX_TTL, 'issuer spec.policy.maxTTL');
  if (ttlMs > maxTtlMs) {
    throw new AccessSpecError(
      'PolicyViolation',
      `spec.ttl: ${formatDuration(ttlMs)} exceeds the maximum ${formatDuration(maxTtlMs)} of issuer ${issuer.metadata.name}`,
    );
  }
  if (ttlMs < MIN_TTL_MS) {
    throw new AccessSpecError('InvalidSpec', `spec.ttl: must be at least ${formatDuration(MIN_TTL_MS)}`);
  }
  const renewBeforeMs = durationField(
    spec.renewBefore,
    formatDuration(Math.max(Math.floor(ttlMs / 3), MIN_RENEW_BEFORE_MS)),
    'spec.renewBefore',
  );
  if (renewBeforeMs < MIN_RENEW_BEFORE_MS) {
    throw new AccessSpecError('InvalidSpec', `spec.renewBefore: must be at least ${formatDuration(MIN_RENEW_BEFORE_MS)}`);
  }
  if (ttlMs - renewBeforeMs < MIN_RENEW_BEFORE_MS) {
    throw new AccessSpecError(
      'InvalidSpec',
      `spec.renewBefore: ${formatDuration(renewBeforeMs)} leaves less than ${formatDuration(MIN_RENEW_BEFORE_MS)} of the ttl ${formatDuration(ttlMs)} before renewal`,
    );
  }

  const permissions = spec.permissions ?? {};
  const defaults = policy.defaultPermissions ?? {};
  const limits = spec.limits ?? {};
  let grant: UserGrant;
  try {
    grant = {
      pub: expandRules(permissions.publish ?? defaults.publish, values, 'spec.permissions.publish'),
      sub: expandRules(
        permissions.subscribe ?? defaults.subscribe,
        values,
        'spec.permissions.subscribe',
      ),
      ...(permissions.allowResponses
        ? {
            resp: {
              max: permissions.allowResponses.maxMessages ?? 1,
              ttl:
                permissions.allowResponses.ttl === undefined
                  ? 0
                  : parseDuration(permissions.allowResponses.ttl, 'spec.permissions.allowResponses.ttl') *
                    1_000_000,
            },
          }
        : {}),
      subs: limits.subscriptions ?? -1,
      payload: limits.payload ?? -1,
      data: limits.data ?? -1,
      allowed_connection_types: [...(limits.connectionTypes ?? [])],
      src: [...(limits.sourceCIDRs ?? [])],
    };
  } catch (error) {
    throw new AccessSpecError('InvalidSpec', (error as Error).message);
  }

  const natsUrl = issuer.spec.nats.urls.join(',');
  const accountPublicKey = issuer.spec.account.publicKey;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ issuer: issuer.metadata.name, accountPublicKey, natsUrl, ttlMs, grant }))
    .digest('hex')
    .slice(0, 32);
  return { accountPublicKey, grant, ttlMs, renewBeforeMs, natsUrl, fingerprint };
}
