// The grant a WorkspaceNatsAccess resolves to: what its NATS user may do (permissions and limits,
// or a scoped key's tags), in which account, signed with which key, for how long. A pure function
// of the access, its issuer (whose policy bounds it), its namespace's labels and the clock, so that
// every way in (a minted creds file, and the auth callout) grants exactly the same.

import { createHash } from 'node:crypto';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { Grant, ScopedGrant, UserGrant } from '../nats/credentials.ts';
import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { assertWithin, cappedLimit, labelsMatch } from './issuer-policy.ts';
import { expandSubject, expandTemplate, type TemplateValues } from './templates.ts';

export const DEFAULT_TTL = '1h';
export const DEFAULT_MAX_TTL = '24h';
/** Shorter lifetimes would make the operator re-sign faster than clients reconnect. */
export const MIN_TTL_MS = 10_000;
/**
 * The least time between renewal and expiry, and between issuance and renewal: the JWT's whole
 * seconds and the Secret's way to the workspace need a margin on both sides.
 */
export const MIN_RENEW_BEFORE_MS = 5_000;

/** A key of a Secret in the operator's namespace. */
export interface SecretKeyRef {
  name: string;
  key?: string | undefined;
}

export interface ResolvedGrant {
  accountPublicKey: string;
  /** Where the account signing key that signs the user lives. */
  signingKey: SecretKeyRef;
  grant: Grant;
  ttlMs: number;
  /** When a user issued at `now` expires. */
  expiresAt: Date;
  renewBeforeMs: number;
  /** Comma-separated server URLs for the workspace (NATS_URL). */
  natsUrl: string;
  /**
   * Tags for the user JWT (`ws:<workspace id>`): nats-server repeats them in its connect and
   * disconnect advisories, so the audit can name the workspace. Not part of the fingerprint.
   */
  tags: string[];
  /**
   * Hash of everything the credentials are minted from. Stored on the Secret, so that a change
   * of spec or issuer (and only such a change) leads to a re-issue.
   */
  fingerprint: string;
}

/** A subject list and the field it came from, for messages. */
interface SubjectList {
  subjects: readonly string[];
  field: string;
}

/**
 * Allow and deny lists with templates expanded. NATS reads an empty allow list as "everything",
 * so a direction with nothing allowed is written as an explicit deny of `>`.
 */
function expandRules(allowList: SubjectList, denyList: SubjectList, values: TemplateValues) {
  const expand = ({ subjects, field }: SubjectList) => subjects.map((subject, i) => expandSubject(subject, values, `${field}[${i}]`));
  const allow = expand(allowList);
  const deny = expand(denyList);
  return allow.length === 0 ? { allow, deny: ['>'] } : { allow, deny };
}

/**
 * The issuer's subject bounds for this workspace. A bound whose placeholder has no value here (say
 * {{workspace.owner}} for a workspace without owner) bounds nothing, so it is left out.
 */
export function expandBounds(bounds: readonly string[], values: TemplateValues): string[] {
  return bounds.flatMap((bound) => {
    try {
      return [expandSubject(bound, values, 'bound')];
    } catch (error) {
      if (error instanceof Failure) return [];
      throw error;
    }
  });
}

/** The tag naming the workspace in its users' JWTs (NATS keeps tags in lower case). */
export const workspaceTag = (workspaceId: string): string => `ws:${workspaceId.toLowerCase()}`;

/** The name in every user JWT of `access` (shown by nats-server; callout logins are found by it). */
export const accessUserName = (access: WorkspaceNatsAccess): string => `${access.metadata.namespace}/${access.metadata.name}`;

export interface GrantInput {
  access: WorkspaceNatsAccess;
  issuer: ClusterNatsIssuer;
  /** Labels of the access's namespace, for the issuer's namespace selector. */
  namespaceLabels: Record<string, string>;
  /** When the user is issued. */
  now: Date;
}

/**
 * What `access` gets from `issuer` at `now`. Throws a Failure (InvalidSpec or PolicyViolation)
 * naming the field when the access cannot get credentials.
 */
export function resolveGrant({ access, issuer, namespaceLabels, now }: GrantInput): ResolvedGrant {
  const { spec } = access;
  const policy = issuer.spec.policy ?? {};
  const values: TemplateValues = {
    'workspace.id': spec.workspace.id,
    'workspace.owner': spec.workspace.owner,
    namespace: access.metadata.namespace,
  };

  const ttlMs = parseDuration(spec.ttl ?? policy.defaultTTL ?? DEFAULT_TTL, 'spec.ttl');
  const maxTtlMs = parseDuration(policy.maxTTL ?? DEFAULT_MAX_TTL, 'issuer spec.policy.maxTTL');
  if (ttlMs > maxTtlMs) {
    throw new Failure(Reason.PolicyViolation,
      `spec.ttl: ${formatDuration(ttlMs)} exceeds the maximum ${formatDuration(maxTtlMs)} of issuer ${issuer.metadata.name}`,
    );
  }
  if (ttlMs < MIN_TTL_MS) {
    throw new Failure(Reason.InvalidSpec, `spec.ttl: must be at least ${formatDuration(MIN_TTL_MS)}`);
  }
  const renewBeforeMs =
    spec.renewBefore === undefined
      ? Math.max(Math.floor(ttlMs / 3), MIN_RENEW_BEFORE_MS)
      : parseDuration(spec.renewBefore, 'spec.renewBefore');
  if (renewBeforeMs < MIN_RENEW_BEFORE_MS) {
    throw new Failure(Reason.InvalidSpec, `spec.renewBefore: must be at least ${formatDuration(MIN_RENEW_BEFORE_MS)}`);
  }
  if (ttlMs - renewBeforeMs < MIN_RENEW_BEFORE_MS) {
    throw new Failure(Reason.InvalidSpec,
      `spec.renewBefore: ${formatDuration(renewBeforeMs)} leaves less than ${formatDuration(MIN_RENEW_BEFORE_MS)} of the ttl ${formatDuration(ttlMs)} before renewal`,
    );
  }

  const issuerName = issuer.metadata.name;
  if (policy.namespaceSelector && !labelsMatch(policy.namespaceSelector, namespaceLabels)) {
    throw new Failure(Reason.PolicyViolation,
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
  return {
    accountPublicKey,
    signingKey: issuer.spec.account.signingKeySecretRef,
    grant,
    ttlMs,
    expiresAt: new Date(now.getTime() + ttlMs),
    renewBeforeMs,
    natsUrl,
    tags: [workspaceTag(spec.workspace.id)],
    fingerprint,
  };
}

/** The grant under a scoped signing key: tags only, the account JWT's template does the rest. */
function scopedGrant(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, values: TemplateValues): ScopedGrant {
  const issuerName = issuer.metadata.name;
  const own = access.spec.permissions ? 'permissions' : access.spec.limits ? 'limits' : undefined;
  if (own) {
    throw new Failure(Reason.PolicyViolation,
      `spec.${own}: issuer ${issuerName} mints under a scoped signing key, whose template in the account JWT sets them; leave spec.${own} out`,
    );
  }
  try {
    const tags = (issuer.spec.account.scoped?.userTags ?? []).map((tag, i) =>
      expandTemplate(tag, values, `issuer ${issuerName} spec.account.scoped.userTags[${i}]`),
    );
    return { tags };
  } catch (error) {
    throw new Failure(Reason.InvalidSpec, (error as Error).message);
  }
}

/**
 * The grant written into the user JWT: the access's permissions and limits, held to the issuer's
 * policy. Each subject list the access leaves out falls back to the issuer's default for it.
 */
function explicitGrant(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, values: TemplateValues): UserGrant {
  const { spec } = access;
  const policy = issuer.spec.policy ?? {};
  const issuerName = issuer.metadata.name;
  const permissions = spec.permissions ?? {};
  const defaults = policy.defaultPermissions ?? {};
  const list = (direction: 'publish' | 'subscribe', kind: 'allow' | 'deny'): SubjectList => {
    const own = permissions[direction]?.[kind];
    return own
      ? { subjects: own, field: `spec.permissions.${direction}.${kind}` }
      : { subjects: defaults[direction]?.[kind] ?? [], field: `issuer ${issuerName} policy.defaultPermissions.${direction}.${kind}` };
  };
  const publishAllow = list('publish', 'allow');
  const subscribeAllow = list('subscribe', 'allow');
  const pub = expandRules(publishAllow, list('publish', 'deny'), values);
  const sub = expandRules(subscribeAllow, list('subscribe', 'deny'), values);
  const responses = permissions.allowResponses;
  const resp = responses && {
    max: responses.maxMessages ?? 1,
    ttl: responses.ttl === undefined ? 0 : parseDuration(responses.ttl, 'spec.permissions.allowResponses.ttl') * 1e6,
  };

  const bounds = policy.allowedSubjects ?? {};
  if (bounds.publish) assertWithin({ field: publishAllow.field, subjects: pub.allow }, expandBounds(bounds.publish, values), issuerName);
  if (bounds.subscribe) assertWithin({ field: subscribeAllow.field, subjects: sub.allow }, expandBounds(bounds.subscribe, values), issuerName);
  if (resp && policy.allowResponses === false) {
    throw new Failure(Reason.PolicyViolation, `spec.permissions.allowResponses: issuer ${issuerName} does not allow responses`);
  }
  const limits = spec.limits ?? {};
  const caps = policy.maxLimits ?? {};
  const allowedTypes = policy.connectionTypes;
  const refusedType = limits.connectionTypes?.find((type) => allowedTypes && !allowedTypes.includes(type));
  if (refusedType) {
    throw new Failure(Reason.PolicyViolation,
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
