// What `inspect access` reports: a pure function of what was read. The grant is resolved again
// (resolveGrant, as the controller and the callout do) from the spec and the issuer's policy as
// they are now; issuance times come from the status. Users to revoke are those the operator must
// revoke now (all still-valid users of an access being deleted; retired users marked revoke), and
// each NATS server is checked for them in the account JWT it has in force.

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Failure, type Result } from '../api/failure.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { formatDuration, parseDuration } from '../policy/duration.ts';
import { accessUserName, DEFAULT_MAX_TTL, expandBounds, resolveGrant } from '../policy/grant.ts';
import { labelsMatch } from '../policy/issuer-policy.ts';
import { isScoped } from '../nats/credentials.ts';
import type { RevocationEntry } from '../revocation/revocation-store.ts';
import { accountRead, type LiveConnection, type NatsReading } from './observed.ts';
import { conditionView, natsSection, type ConditionView, type NatsSection } from './report-parts.ts';

export interface AccessInput {
  access: WorkspaceNatsAccess;
  issuer: ClusterNatsIssuer | undefined;
  namespaceLabels: Result<Record<string, string>>;
  /** The account's revocation list; undefined when there is no issuer to name the account. */
  revocationList: Result<Map<string, RevocationEntry>> | undefined;
  nats: Result<NatsReading>;
  now: Date;
}

export interface ResolvedView {
  ok: boolean;
  /** Why it does not resolve (the reason the controller reports). */
  reason?: string;
  message?: string;
  scoped?: boolean;
  publish?: { allow: string[]; deny: string[] };
  subscribe?: { allow: string[]; deny: string[] };
  allowResponses?: { maxMessages: number; ttl: string };
  limits?: { subscriptions: number; payload: number; data: number; connectionTypes: string[]; sourceCIDRs: string[] };
  tags?: string[];
  ttl?: string;
  renewBefore?: string;
  natsUrl?: string;
}

export interface PolicyBounds {
  issuer: string;
  maxTTL: string;
  defaultTTL?: string;
  /** The issuer's subject bounds with this workspace's values filled in. */
  allowedSubjects: { publish?: string[]; subscribe?: string[] };
  maxLimits: { subscriptions?: number; payload?: number; data?: number };
  connectionTypes?: string[];
  allowResponses?: boolean;
  /** Whether the namespace is selected; undefined when its labels could not be read. */
  namespaceSelected?: boolean;
}

export interface UserView {
  publicKey: string;
  role: 'current' | 'retired';
  expiresAt: string;
  expired: boolean;
  /** A retired user replaced for another reason than renewal (revoked at once). */
  revoke: boolean;
  /** The operator must have it revoked now. */
  toRevoke: boolean;
  /** Its entry in the revocation list, if recorded. */
  recorded?: { revokedAt: string; expiresAt: string };
}

export interface ServerRevocations {
  server: string;
  id: string;
  /** n/a: no user to revoke; revoked / missing: whether the JWT in force revokes them all; unknown: account not loaded or unreadable. */
  state: 'n/a' | 'revoked' | 'missing' | 'unknown';
  accountJwtIssuedAt?: string;
  notRevoked: string[];
  detail?: string;
}

export interface AccessReport {
  kind: 'WorkspaceNatsAccess';
  namespace: string;
  name: string;
  issuer: string;
  account?: string;
  workspace: { id: string; owner?: string };
  deleting: boolean;
  finalizers: string[];
  ready?: ConditionView;
  resolved: ResolvedView;
  issued: { secretName?: string; issuedAt?: string; expiresAt?: string; renewAt?: string };
  policy?: PolicyBounds;
  users: UserView[];
  nats: NatsSection<{ servers: ServerRevocations[]; connections: LiveConnection[] }>;
  /** Parts that could not be read or checked. */
  warnings: string[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

export function accessReport(input: AccessInput): AccessReport {
  const { access, issuer, now } = input;
  const { metadata, spec, status } = access;
  const namespace = metadata.namespace ?? '';
  const warnings: string[] = [];
  const labels = input.namespaceLabels.ok ? input.namespaceLabels.value : undefined;
  if (!input.namespaceLabels.ok && issuer?.spec.policy?.namespaceSelector) warnings.push(`namespaceSelector not checked: ${input.namespaceLabels.message}`);
  if (input.revocationList && !input.revocationList.ok) warnings.push(`revocation list unreadable: ${input.revocationList.message}`);
  const deleting = Boolean(metadata.deletionTimestamp);
  const users = usersOf(access, deleting, input.revocationList?.ok ? input.revocationList.value : undefined, now);
  const userKeys = new Set(users.map((user) => user.publicKey));
  const loginName = accessUserName(access);
  const nats = natsSection(issuer ? input.nats : { ok: false, message: `issuer ${spec.issuerRef.name} not found: no NATS servers to ask` }, (reading) => ({
    servers: serverRevocations(reading, users.filter((user) => user.toRevoke).map((user) => user.publicKey)),
    connections: reading.connections.filter((connection) => connection.user !== undefined && (userKeys.has(connection.user) || connection.user === loginName)),
  }));
  if (!nats.reachable) warnings.push(nats.error);
  return {
    kind: 'WorkspaceNatsAccess',
    namespace,
    name: metadata.name ?? '',
    issuer: spec.issuerRef.name,
    ...(issuer ? { account: issuer.spec.account.publicKey } : {}),
    workspace: { id: spec.workspace.id, ...(spec.workspace.owner ? { owner: spec.workspace.owner } : {}) },
    deleting,
    finalizers: [...(metadata.finalizers ?? [])],
    ...(conditionView(status?.conditions) ? { ready: conditionView(status?.conditions) } : {}),
    resolved: issuer ? resolved(access, issuer, labels ?? {}, now) : { ok: false, reason: 'IssuerNotFound', message: `ClusterNatsIssuer ${spec.issuerRef.name} does not exist` },
    issued: {
      ...(status?.secretName ? { secretName: status.secretName } : {}),
      ...(status?.issuedAt ? { issuedAt: status.issuedAt } : {}),
      ...(status?.expiresAt ? { expiresAt: status.expiresAt } : {}),
      ...(status?.renewAt ? { renewAt: status.renewAt } : {}),
    },
    ...(issuer ? { policy: policyBounds(access, issuer, labels) } : {}),
    users,
    nats,
    warnings,
  };
}

function resolved(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, labels: Record<string, string>, now: Date): ResolvedView {
  try {
    const grant = resolveGrant({ access, issuer, namespaceLabels: labels, now });
    const common = { ttl: formatDuration(grant.ttlMs), renewBefore: formatDuration(grant.renewBeforeMs), natsUrl: grant.natsUrl };
    if (isScoped(grant.grant)) return { ok: true, scoped: true, tags: [...grant.tags, ...grant.grant.tags], ...common };
    const user = grant.grant;
    return {
      ok: true,
      scoped: false,
      publish: user.pub,
      subscribe: user.sub,
      ...(user.resp ? { allowResponses: { maxMessages: user.resp.max, ttl: formatDuration(user.resp.ttl / 1e6) } } : {}),
      limits: { subscriptions: user.subs, payload: user.payload, data: user.data, connectionTypes: user.allowed_connection_types, sourceCIDRs: user.src },
      tags: grant.tags,
      ...common,
    };
  } catch (error) {
    if (error instanceof Failure) return { ok: false, reason: error.reason, message: error.message };
    throw error;
  }
}

function policyBounds(access: WorkspaceNatsAccess, issuer: ClusterNatsIssuer, labels: Record<string, string> | undefined): PolicyBounds {
  const policy = issuer.spec.policy ?? {};
  const values = { 'workspace.id': access.spec.workspace.id, 'workspace.owner': access.spec.workspace.owner, namespace: access.metadata.namespace };
  const allowed = policy.allowedSubjects ?? {};
  const caps = policy.maxLimits ?? {};
  return {
    issuer: issuer.metadata.name ?? '',
    maxTTL: formatDuration(parseDuration(policy.maxTTL ?? DEFAULT_MAX_TTL, 'maxTTL')),
    ...(policy.defaultTTL ? { defaultTTL: policy.defaultTTL } : {}),
    allowedSubjects: {
      ...(allowed.publish ? { publish: expandBounds(allowed.publish, values) } : {}),
      ...(allowed.subscribe ? { subscribe: expandBounds(allowed.subscribe, values) } : {}),
    },
    maxLimits: {
      ...(caps.subscriptions !== undefined ? { subscriptions: caps.subscriptions } : {}),
      ...(caps.payload !== undefined ? { payload: caps.payload } : {}),
      ...(caps.data !== undefined ? { data: caps.data } : {}),
    },
    ...(policy.connectionTypes ? { connectionTypes: [...policy.connectionTypes] } : {}),
    ...(policy.allowResponses !== undefined ? { allowResponses: policy.allowResponses } : {}),
    ...(policy.namespaceSelector && labels ? { namespaceSelected: labelsMatch(policy.namespaceSelector, labels) } : {}),
  };
}

/** The current user (from the status) and the retired ones, with what must happen to each. */
function usersOf(access: WorkspaceNatsAccess, deleting: boolean, list: Map<string, RevocationEntry> | undefined, now: Date): UserView[] {
  const { status } = access;
  const listed: Omit<UserView, 'expired' | 'toRevoke' | 'recorded'>[] = [];
  if (status?.userPublicKey && status.expiresAt) listed.push({ publicKey: status.userPublicKey, role: 'current', expiresAt: status.expiresAt, revoke: false });
  for (const retired of status?.retiredUsers ?? []) {
    if (retired.publicKey === status?.userPublicKey) continue;
    listed.push({ publicKey: retired.publicKey, role: 'retired', expiresAt: retired.expiresAt, revoke: retired.revoke === true });
  }
  return listed.map((user) => {
    const expired = new Date(user.expiresAt) <= now;
    const entry = list?.get(user.publicKey);
    return {
      ...user,
      expired,
      toRevoke: !expired && (deleting || user.revoke),
      ...(entry ? { recorded: { revokedAt: iso(entry.revokedAt), expiresAt: iso(entry.expiresAt) } } : {}),
    };
  });
}

/** Per server: whether the account JWT it has in force revokes every user in `toRevoke`. */
export function serverRevocations(reading: NatsReading, toRevoke: readonly string[]): ServerRevocations[] {
  return reading.servers.map(({ id, name, account }) => {
    const base = { server: name, id };
    if (!accountRead(account)) {
      const detail = account ? `account JWT unreadable: ${account.unreadable}` : 'account not loaded (the server loads it when a client of it connects)';
      return { ...base, state: toRevoke.length === 0 ? 'n/a' : 'unknown', notRevoked: [], detail };
    }
    const notRevoked = toRevoke.filter((user) => account.revocations[user] === undefined);
    const state = toRevoke.length === 0 ? 'n/a' : notRevoked.length === 0 ? 'revoked' : 'missing';
    return { ...base, state, accountJwtIssuedAt: account.issuedAt, notRevoked };
  });
}
