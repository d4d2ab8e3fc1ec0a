// What `inspect issuer` reports: a pure function of what was read. The revocation list is the one
// stored in the cluster (what the operator means the servers to hold); each server's account JWT in
// force is compared with it, entry by entry, and checked for the issuer's signing key.

import type { ClusterNatsIssuer, ClusterNatsIssuerStatus } from '../api/cluster-nats-issuer.ts';
import type { Result } from '../api/failure.ts';
import { byCodeUnits } from '../api/order.ts';
import { DEFAULT_MAX_TTL, DEFAULT_TTL } from '../policy/grant.ts';
import type { RevocationEntry } from '../revocation/revocation-store.ts';
import { accountRead, type NatsReading } from './observed.ts';
import { conditionView, natsSection, type ConditionView, type NatsSection } from './report-parts.ts';

export interface IssuerInput {
  issuer: ClusterNatsIssuer;
  revocationList: Result<Map<string, RevocationEntry>>;
  nats: Result<NatsReading>;
  now: Date;
}

export interface RevocationListEntry {
  user: string;
  revokedAt: string;
  expiresAt: string;
  access: string;
}

export interface ServerAccountState {
  server: string;
  id: string;
  /** loaded: the account JWT in force was read; not loaded: no client of it yet; unreadable. */
  account: 'loaded' | 'not loaded' | 'unreadable';
  accountJwtIssuedAt?: string;
  signer?: string;
  revocations?: number;
  /** Stored entries still valid that this server's JWT in force lacks. */
  missingRevocations?: string[];
  /** Whether the JWT lists the signing key the issuer signs users with. */
  signingKeyListed?: boolean;
}

export interface IssuerReport {
  kind: 'ClusterNatsIssuer';
  name: string;
  account: string;
  signingKey?: string;
  scopedUserTags?: string[];
  natsUrls: string[];
  operatorUrls?: string[];
  ready?: ConditionView;
  policy: {
    defaultTTL: string;
    maxTTL: string;
    defaultPermissions?: unknown;
    allowedSubjects?: { publish?: string[]; subscribe?: string[] };
    allowResponses?: boolean;
    maxLimits?: { subscriptions?: number; payload?: number; data?: number };
    connectionTypes?: string[];
    namespaceSelector?: unknown;
    enforcement: string;
  };
  /** The issuer's status.revocation: entries in force and the last push. */
  lastPush?: NonNullable<ClusterNatsIssuerStatus['revocation']>;
  revocationList: { readable: true; entries: RevocationListEntry[] } | { readable: false; error: string };
  nats: NatsSection<{ servers: ServerAccountState[] }>;
  warnings: string[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

export function issuerReport({ issuer, revocationList, nats, now }: IssuerInput): IssuerReport {
  const { spec, status } = issuer;
  const policy = spec.policy ?? {};
  const warnings: string[] = [];
  const entries = revocationList.ok
    ? [...revocationList.value]
        .map(([user, entry]) => ({ user, revokedAt: iso(entry.revokedAt), expiresAt: iso(entry.expiresAt), access: entry.access }))
        .sort((a, b) => byCodeUnits(a.revokedAt, b.revokedAt) || byCodeUnits(a.user, b.user))
    : [];
  if (!revocationList.ok) warnings.push(`revocation list unreadable: ${revocationList.message}`);
  const stillValid = entries.filter((entry) => new Date(entry.expiresAt) > now).map((entry) => entry.user);
  const section = natsSection(nats, (reading) => ({ servers: serverStates(reading, revocationList.ok ? stillValid : undefined, status?.signingKeyPublicKey) }));
  if (!section.reachable) warnings.push(section.error);
  const ready = conditionView(status?.conditions);
  return {
    kind: 'ClusterNatsIssuer',
    name: issuer.metadata.name ?? '',
    account: spec.account.publicKey,
    ...(status?.signingKeyPublicKey ? { signingKey: status.signingKeyPublicKey } : {}),
    ...(spec.account.scoped ? { scopedUserTags: [...spec.account.scoped.userTags] } : {}),
    natsUrls: [...spec.nats.urls],
    ...(spec.nats.operatorUrls ? { operatorUrls: [...spec.nats.operatorUrls] } : {}),
    ...(ready ? { ready } : {}),
    policy: {
      defaultTTL: policy.defaultTTL ?? DEFAULT_TTL,
      maxTTL: policy.maxTTL ?? DEFAULT_MAX_TTL,
      ...(policy.defaultPermissions ? { defaultPermissions: policy.defaultPermissions } : {}),
      ...(policy.allowedSubjects ? { allowedSubjects: policy.allowedSubjects as { publish?: string[]; subscribe?: string[] } } : {}),
      ...(policy.allowResponses !== undefined ? { allowResponses: policy.allowResponses } : {}),
      ...(policy.maxLimits ? { maxLimits: policy.maxLimits } : {}),
      ...(policy.connectionTypes ? { connectionTypes: [...policy.connectionTypes] } : {}),
      ...(policy.namespaceSelector ? { namespaceSelector: policy.namespaceSelector } : {}),
      enforcement: policy.enforcement ?? 'Report',
    },
    ...(status?.revocation ? { lastPush: status.revocation } : {}),
    revocationList: revocationList.ok ? { readable: true, entries } : { readable: false, error: revocationList.message },
    nats: section,
    warnings,
  };
}

/** Each server's account JWT in force, against the stored list (undefined: list unreadable). */
export function serverStates(reading: NatsReading, stored: readonly string[] | undefined, signingKey: string | undefined): ServerAccountState[] {
  return reading.servers.map(({ id, name, account }) => {
    if (!accountRead(account)) return { server: name, id, account: account ? 'unreadable' : 'not loaded' };
    return {
      server: name,
      id,
      account: 'loaded',
      accountJwtIssuedAt: account.issuedAt,
      signer: account.signer,
      revocations: Object.keys(account.revocations).length,
      ...(stored ? { missingRevocations: stored.filter((user) => account.revocations[user] === undefined) } : {}),
      ...(signingKey ? { signingKeyListed: account.signingKeys.includes(signingKey) } : {}),
    };
  });
}
