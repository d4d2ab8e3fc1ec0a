// What credentials a WorkspaceNatsAccess should hold, computed from the access, its issuer and its
// namespace's labels alone. Pure: the controller compares the result with what the Secret holds.

import { createHash } from 'node:crypto';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { Grant, ScopedGrant, UserGrant } from '../nats/credentials.ts';
import { AccessSpecError } from './access-spec-error.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { assertWithin, cappedLimit, labelsMatch } from './issuer-policy.ts';
import { expandSubject, expandTemplate, type TemplateValues } from './templates.ts';

export { AccessSpecError };

export const DEFAULT_TTL = '1h';
export const DEFAULT_MAX_TTL = '24h';
/** Shorter lifetimes would make the operator re-sign faster than clients reconnect. */
export const MIN_TTL_MS = 10_000;
/**
 * The least time between renewal and expiry, and between issuance and renewal: the JWT's whole
 * seconds and the Secret's way to the workspace need a margin on both sides.
 */
export const MIN_RENEW_BEFORE_MS = 5_000;

export interface DesiredCredentials {
  accountPublicKey: string;
  grant: Grant;
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

/**
 * The issuer's subject bounds for this workspace. A bound whose placeholder has no value here (say
 * {{workspace.owner}} for a workspace without owner) bounds nothing, so it is left out.
 */
function expandBounds(bounds: readonly string[], values: TemplateValues): string[] {
  return bounds.flatMap((bound) => {
    try {
      return [expandSubject(bound, values, 'bound')];
    } catch {
      return [];
    }
  });
}

/** `text` (or `fallback` when unset) in milliseconds; an AccessSpecError naming `field` if bad. */
function durationField(text: string | undefined, fallback: string, field: string): number {
  try {
    return parseDuration(text ?? fallback, field);
  } catch (error) {
    throw new AccessSpecError('InvalidSpec', (error as Error).message);
  }
}

/**
 * What `access` should get from `issuer`; `namespaceLabels` are the labels of the access's
 * namespace, for the issuer's namespace selector. Throws an AccessSpecError (InvalidSpec or
 * PolicyViolation) naming the field when the access cannot get credentials.
 */
export function desiredCredentials(
  access: WorkspaceNatsAccess,
  issuer: ClusterNatsIssuer,
  namespaceLabels: Record<string, string>,
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

  const issuerName = issuer.metadata.name;
  if (policy.namespaceSelector && !labelsMatch(policy.namespaceSelector, namespaceLabels)) {
    throw new AccessSpecError(
      'PolicyViolation',
      `namespace ${access.metadata.namespace} may not use issuer ${issuerName}: its policy.namespaceSelector does not select it`,
    );
  }

  const grant = issuer.spec.account.scoped
    ? scopedGrant(access, issuer, values)
    : explicitGrant(access, issuer, values);

  const natsUrl = issuer.spec.nats.urls.join(',');
  const accountPublicKey = issuer.spec.account.publicKey;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ issuer: issuer.metadata.name, accountPublicKey, natsUrl, ttlMs, grant }))
    .digest('hex')
    .slice(0, 32);
  return { accountPublicKey, grant, ttlMs, renewBeforeMs, natsUrl, fingerprint };
}

/** The grant under a scoped signing key: tags only, the account JWT's template does the rest. */
function scopedGrant(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, values: TemplateValues): ScopedGrant {
  const issuerName = issuer.metadata.name;
  const own = access.spec.permissions ? 'permissions' : access.spec.limits ? 'limits' : undefined;
  if (own) {
    throw new AccessSpecError(
      'PolicyViolation',
      `spec.${own}: issuer ${issuerName} mints under a scoped signing key, whose template in the account JWT sets them; leave spec.${own} out`,
    );
  }
  try {
    const tags = (issuer.spec.account.scoped?.userTags ?? []).map((tag, i) =>
      expandTemplate(tag, values, `issuer ${issuerName} spec.account.scoped.userTags[${i}]`),
    );
    return { tags };
  } catch (error) {
    throw new AccessSpecError('InvalidSpec', (error as Error).message);
  }
}

/**
 * The grant written into the user JWT: the access's permissions (or the issuer's defaults) and
 * limits, held to the issuer's policy.
 */
function explicitGrant(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, values: TemplateValues): UserGrant {
  const { spec } = access;
  const policy = issuer.spec.policy ?? {};
  const issuerName = issuer.metadata.name;
  // Each direction: the access's own rules, else the issuer's defaults; remember which, for messages.
  const permissions = spec.permissions ?? {};
  const defaults = policy.defaultPermissions ?? {};
  const rules = (direction: 'publish' | 'subscribe') =>
    permissions[direction]
      ? { rules: permissions[direction], field: `spec.permissions.${direction}` }
      : { rules: defaults[direction], field: `issuer ${issuerName} policy.defaultPermissions.${direction}` };
  const publish = rules('publish');
  const subscribe = rules('subscribe');
  let pub: UserGrant['pub'];
  let sub: UserGrant['sub'];
  let resp: UserGrant['resp'];
  try {
    pub = expandRules(publish.rules, values, publish.field);
    sub = expandRules(subscribe.rules, values, subscribe.field);
    const responses = permissions.allowResponses;
    resp = responses && {
      max: responses.maxMessages ?? 1,
      ttl: responses.ttl === undefined ? 0 : parseDuration(responses.ttl, 'spec.permissions.allowResponses.ttl') * 1e6,
    };
  } catch (error) {
    throw new AccessSpecError('InvalidSpec', (error as Error).message);
  }

  const bounds = policy.allowedSubjects ?? {};
  if (bounds.publish) assertWithin({ field: `${publish.field}.allow`, subjects: pub.allow }, expandBounds(bounds.publish, values), issuerName);
  if (bounds.subscribe) assertWithin({ field: `${subscribe.field}.allow`, subjects: sub.allow }, expandBounds(bounds.subscribe, values), issuerName);
  if (resp && policy.allowResponses === false) {
    throw new AccessSpecError('PolicyViolation', `spec.permissions.allowResponses: issuer ${issuerName} does not allow responses`);
  }
  const limits = spec.limits ?? {};
  const caps = policy.maxLimits ?? {};
  const allowedTypes = policy.connectionTypes;
  const refusedType = limits.connectionTypes?.find((type) => allowedTypes && !allowedTypes.includes(type));
  if (refusedType) {
    throw new AccessSpecError(
      'PolicyViolation',
      `spec.limits.connectionTypes: ${refusedType} is not among the types issuer ${issuerName} allows (${allowedTypes?.join(', ')})`,
    );
  }
  return {
    pub,
    sub,
    ...(resp ? { resp } : {}),
    subs: cappedLimit(limits.subscriptions, caps.subscriptions, 'spec.limits.subscriptions', issuerName),
    payload: cappedLimit(limits.payload, caps.payload, 'spec.limits.payload', issuerName),
    data: cappedLimit(limits.data, caps.data, 'spec.limits.data', issuerName),
    allowed_connection_types: [...(limits.connectionTypes ?? allowedTypes ?? [])],
    src: [...(limits.sourceCIDRs ?? [])],
  };
}
