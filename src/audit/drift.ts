// What the audit does about connections that should not be there: a user no live access accounts
// for, or a user JWT granting more than its issuer's policy now allows. It reports them (a Warning
// Event on the issuer, once per user while this process runs, and a metric once per connection)
// and, where the issuer's policy.enforcement is Revoke and the user was signed with the issuer's
// signing key (the operator's own key: users the platform signs otherwise are only reported),
// revokes the user in the account JWT and closes the connection at once (the revocation keeps it
// from coming back).

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { EventReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { AggregatingEventRecorder } from '../kube/aggregated-events.ts';
import { describeError } from '../kube/errors.ts';
import type { Lister } from '../kube/lister.ts';
import type { Logger } from '../log.ts';
import type { ClientRecord } from '../nats/advisories.ts';
import type { NatsSystemClient } from '../nats/system-client.ts';
import { excessOverPolicy } from '../policy/user-claims.ts';
import type { RevokeUser } from '../revocation/account-revoker.ts';
import { userKeyOf } from './attribution.ts';

/** Revocations made by policy.enforcement are listed under this key, not an access's. */
export const ENFORCEMENT_KEY_PREFIX = 'enforcement:';

export type DriftKind = 'UnknownUser' | 'OverPermission';

export interface DriftMetrics {
  unknownUser(issuer: string): void;
  overPermission(issuer: string): void;
  enforced(issuer: string, reason: DriftKind): void;
}

export interface DriftDeps {
  issuers: Lister<ClusterNatsIssuer>;
  systemClient(account: string): Promise<NatsSystemClient>;
  /**
   * Revokes `users` in `account`, for `key` (not an access key: no access reconciles it), and has
   * the servers' copies checked at once (a user revoked before may be missing on one of them).
   */
  revoke(account: string, key: string, users: RevokeUser[]): void;
  events: AggregatingEventRecorder;
  metrics: DriftMetrics;
  log: Logger;
}

/** A live connection, as the audit knows it. */
export interface AuditedConnection {
  account: string;
  issuer: string;
  accessKey: string | undefined;
  record: ClientRecord;
  /** What was reported about it already: each connection counts once. */
  drift?: DriftKind;
}

/** Drifting users already reported on their issuer (forgotten all at once past this many). */
const REPORTED_USERS = 10_000;
/** Revocations of JWTs that never expire are kept for good (well past any user's lifetime). */
const FOREVER = new Date(Date.UTC(2200, 0, 1));

export class DriftResponder {
  readonly #deps: DriftDeps;
  readonly #reported = new Set<string>();

  constructor(deps: DriftDeps) {
    this.#deps = deps;
  }

  /** Reports `connection` if its user JWT grants more than its issuer's policy allows `access`. */
  checkGrant(connection: AuditedConnection, access: WorkspaceNatsAccess): void {
    const presented = connection.record.presented;
    const issuer = this.#deps.issuers.get(connection.issuer);
    if (!presented || !issuer) return;
    let excess: string[];
    try {
      excess = excessOverPolicy(presented, issuer, {
        'workspace.id': access.spec.workspace.id,
        'workspace.owner': access.spec.workspace.owner,
        namespace: access.metadata.namespace,
      });
    } catch (error) {
      this.#deps.log.warn({ issuer: issuer.metadata.name, error: describeError(error) }, 'audit could not check a connection against the policy');
      return;
    }
    if (excess.length === 0) return;
    const where = `${connection.accessKey} on ${connection.record.server.name}`;
    this.report(connection, 'OverPermission', `NATS user ${presented.userPublicKey} of ${where} has more than the policy allows: ${excess.join('; ')}`);
  }

  /** Reports a connection no access accounts for. */
  unknown(connection: AuditedConnection): void {
    const { record } = connection;
    this.report(connection, 'UnknownUser', `NATS user ${record.user ?? 'without a name'} connected to ${record.server.name} from ${record.host ?? 'an unknown host'}, and no WorkspaceNatsAccess accounts for it`);
  }

  report(connection: AuditedConnection, kind: DriftKind, message: string): void {
    const { issuer: issuerName, record, account } = connection;
    if (connection.drift === kind) return;
    connection.drift = kind;
    const user = userKeyOf(record);
    const issuer = this.#deps.issuers.get(issuerName);
    if (kind === 'UnknownUser') this.#deps.metrics.unknownUser(issuerName);
    else this.#deps.metrics.overPermission(issuerName);
    const signer = record.presented?.signer;
    const enforce = issuer?.spec.policy?.enforcement === 'Revoke' && user !== undefined && signer !== undefined && signer === issuer.status?.signingKeyPublicKey;
    this.#deps.log.warn({ issuer: issuerName, account, user, server: record.server.name, cid: record.cid, kind, enforce }, 'audit found drift');
    // A reconnect loop would repeat the same report: once per user (or connection) is enough.
    const reportKey = `${kind}/${user ?? `${record.server.id}/${record.cid}`}`;
    if (issuer && !this.#reported.has(reportKey)) {
      this.#deps.events.record(issuer, 'Warning', kind === 'UnknownUser' ? EventReason.UnknownUserConnected : EventReason.OverPermission, message);
      if (this.#reported.size >= REPORTED_USERS) this.#reported.clear();
      this.#reported.add(reportKey);
    }
    if (!enforce || !issuer || !user) return;
    this.#deps.revoke(account, `${ENFORCEMENT_KEY_PREFIX}${user}`, [{ userPublicKey: user, expiresAt: record.presented?.expiresAt ?? FOREVER }]);
    this.#deps.metrics.enforced(issuerName, kind);
    const done = `Revoking NATS user ${user} in the account JWT; closed its connection on ${record.server.name} (policy.enforcement Revoke; ${kind})`;
    void this.#kick(connection).then(
      () => this.#deps.events.record(issuer, 'Warning', EventReason.UserRevokedByPolicy, done),
      (error: unknown) => this.#deps.log.warn({ issuer: issuerName, user, error: describeError(error) }, 'audit could not close a connection'),
    );
  }

  async #kick({ account, record }: AuditedConnection): Promise<void> {
    const client = await this.#deps.systemClient(account);
    if (!(await client.kick(record.server.id, record.cid))) throw new Error(`${record.server.name} refused to close connection ${record.cid}`);
  }
}
