// The audit (leader only, so two replicas never count an event twice). The advisory listener hears
// every connect, disconnect and refused login of the issuers' accounts; this attributes each to
// its access and
// - writes one JSON audit line per event (logger "audit", at info whatever the log level),
// - records Events on the access (Connected, Disconnected, AuthFailed; at most one per access and
//   reason per window, with a count) and keeps status.connections current (at most every 10 s),
// - reports on the issuer what should not be there (drift.ts) and revoked users that keep trying.
// The periodic listings correct the live table: counts converge (to 0 too, for accesses whose
// clients left while no leader listened), and connections older than the audit are checked too.

import { accountIssuers, type ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { EventReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { timestamp } from '../kube/conditions.ts';
import { describeError } from '../kube/errors.ts';
import type { ClientEvent, ClientRecord } from '../nats/advisories.ts';
import { accessUserName } from '../policy/grant.ts';
import { AdvisoryListener, type Listing } from './advisory-listener.ts';
import type { AuditDeps } from './audit-deps.ts';
import { auditLine } from './audit-line.ts';
import { attribute, authFailureReason, issuerOf, userKeyOf, UserDirectory, type Attribution, type AuthFailureReason } from './attribution.ts';
import { ConnectionStatusWriter, type ConnectionsStatus } from './connection-status.ts';
import { DriftResponder, ENFORCEMENT_KEY_PREFIX } from './drift.ts';
import { issuerKey, LiveConnections, type LiveConnection } from './live-connections.ts';

export class AuditService {
  readonly #deps: AuditDeps;
  readonly #listener: AdvisoryListener;
  readonly #drift: DriftResponder;
  readonly #status: ConnectionStatusWriter;
  readonly #directory = new UserDirectory();
  readonly #calloutNames = new Map<string, string>();
  readonly #live = new LiveConnections();
  #stopped = false;

  constructor(deps: AuditDeps) {
    this.#deps = deps;
    this.#listener = new AdvisoryListener({
      accounts: () => new Set(deps.issuers.list().map((issuer) => issuer.spec.account.publicKey)),
      systemClient: deps.systemClient,
      onEvent: (account, event) => this.#onEvent(account, event),
      onListing: (account, listing) => this.#onListing(account, listing),
      onDropped: (reason) => deps.metrics.auditDropped(reason),
      resyncMs: deps.timing.resyncMs,
      log: deps.log,
    });
    this.#drift = new DriftResponder(deps);
    this.#status = new ConnectionStatusWriter({
      intervalMs: deps.timing.statusIntervalMs,
      log: deps.log,
      stored: (key) => {
        const access = this.#access(key);
        return access ? (access.status?.connections as ConnectionsStatus | undefined) : null;
      },
      write: async (key, connections) => {
        const access = this.#access(key);
        if (access && !access.metadata.deletionTimestamp) await deps.writeConnections(access, connections);
      },
    });
  }

  start(): void {
    this.#listener.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#listener.stop();
    await this.#status.stop();
    await this.#deps.events.flush();
  }

  /** An access (or one of its Secrets) changed: which users and callout name it accounts for. */
  accessChanged(namespace: string | undefined, name: string): void {
    const key = `${namespace}/${name}`;
    const access = this.#deps.accesses.get(name, namespace);
    this.#directory.set(key, access ? this.#deps.usersOf(access) : []);
    if (access?.spec.authCalloutRef) this.#calloutNames.set(accessUserName(access), key);
    else this.#calloutNames.delete(key);
    // What was due for a deleted access must not reach a new one of the same name.
    if (!access) this.#status.forget(key);
  }

  /** An issuer's spec changed: a new account to listen to, or a policy to hold live connections to. */
  issuerChanged(issuer: ClusterNatsIssuer): void {
    for (const connection of this.#live.values()) if (connection.issuer === issuer.metadata.name) this.#checkGrant(connection);
    void this.#listener.sync();
  }

  /** The NATS servers may have changed under the audit (a reconnect): list the connections again. */
  resync(): void {
    void this.#listener.sync();
  }

  #onEvent(account: string, event: ClientEvent): void {
    try {
      if (event.kind === 'auth_error') this.#authError(event);
      else if (event.kind === 'connect') this.#connected(account, event, true);
      else this.#disconnected(account, event);
    } catch (error) {
      this.#deps.metrics.auditDropped('Error');
      this.#deps.log.error({ event: event.kind, error: describeError(error) }, 'audit failed on an advisory');
    }
  }

  /** Puts listed connections in the table, drops those an answering server no longer has, recounts. */
  #onListing(account: string, { records, answered, servers, startedAt }: Listing): void {
    const listed = new Set(records.map(connectionId));
    for (const record of records) {
      const id = connectionId(record);
      if (!this.#live.get(id) && !this.#live.closedSince(id, startedAt)) this.#connected(account, record, false);
    }
    for (const connection of [...this.#live.values()]) {
      const id = connectionId(connection.record);
      const server = connection.record.server.id;
      if (connection.account !== account || connection.seenAt >= startedAt || listed.has(id)) continue;
      if (answered.has(server) || !servers.has(server)) this.#forget(connection);
    }
    this.#live.forgetClosedBefore(startedAt - this.#deps.timing.resyncMs);
    if (![...servers].every((server) => answered.has(server))) return;
    // Every server answered: what is not open now is 0, also where no advisory said so.
    const issuers = accountIssuers(this.#deps.issuers.list(), account);
    for (const issuer of issuers) this.#deps.metrics.connections(issuer.metadata.name, this.#live.active(issuerKey(issuer.metadata.name)));
    const names = new Set(issuers.map((issuer) => issuer.metadata.name));
    for (const access of this.#deps.accesses.list()) {
      const key = accessUserName(access);
      const stored = access.status?.connections?.active;
      if (names.has(access.spec.issuerRef.name) && stored !== undefined && stored !== this.#live.active(key)) this.#status.update(key, { active: this.#live.active(key) });
    }
  }

  /** A connection seen (an advisory, or listed by CONNZ): counted once, logged, and checked. */
  #connected(account: string, record: ClientRecord, advisory: boolean): void {
    const attribution = attribute(record, account, this.#lookups());
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : undefined;
    const issuer = issuerOf(this.#deps.issuers.list(), account, record, accessKey && this.#access(accessKey)?.spec.issuerRef.name);
    const id = connectionId(record);
    const before = this.#live.get(id);
    const connection: LiveConnection = { account, issuer, accessKey, record, seenAt: Date.now(), ...(before?.drift ? { drift: before.drift } : {}) };
    this.#live.put(id, connection);
    this.#counted(connection, before);
    if (advisory) {
      const event = record as ClientEvent;
      this.#line(event, account, issuer, attribution);
      this.#deps.metrics.clientEvent(issuer, 'connect');
      const access = accessKey ? this.#access(accessKey) : undefined;
      if (access) {
        this.#status.update(accessUserName(access), { lastConnectTime: timestamp(new Date(event.time)) });
        this.#deps.events.record(access, 'Normal', EventReason.Connected, `NATS client ${describeClient(record)} connected to ${record.server.name}`);
      }
    }
    if (before) return;
    if (accessKey) this.#checkGrant(connection);
    else this.#unknownAfterGrace(connection);
  }

  #disconnected(account: string, event: ClientEvent): void {
    const id = connectionId(event);
    const connection = this.#live.remove(id, Date.now());
    if (connection) this.#counted(connection);
    const issuer = connection?.issuer ?? issuerOf(this.#deps.issuers.list(), account, event);
    this.#line(event, account, issuer, attribute(event, account, this.#lookups()));
    this.#deps.metrics.clientEvent(issuer, 'disconnect');
    const access = connection?.accessKey ? this.#access(connection.accessKey) : undefined;
    const why = event.reason ? `: ${event.reason}` : '';
    if (access) this.#deps.events.record(access, 'Normal', EventReason.Disconnected, `NATS client ${describeClient(event)} disconnected from ${event.server.name}${why}`);
  }

  /** A connection a listing no longer shows: gone without an advisory the audit heard. */
  #forget(connection: LiveConnection): void {
    this.#live.remove(connectionId(connection.record));
    this.#counted(connection);
  }

  #authError(event: ClientEvent): void {
    const signer = event.presented?.signer;
    const account = event.presented?.account;
    const issuers = account ? accountIssuers(this.#deps.issuers.list(), account) : [];
    // Only a JWT signed by the account or its issuers' signing key names one of its users: anyone
    // can sign a JWT that says it is for the account, with any user in it.
    if (!account || !issuers.some((issuer) => signer === account || signer === issuer.status?.signingKeyPublicKey)) {
      this.#line(event, account, '', { kind: 'unknown' }, 'Other');
      this.#deps.metrics.authFailure('', 'Other');
      return;
    }
    const attribution = attribute(event, account, this.#lookups());
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : attribution.kind === 'revoked' ? attribution.revokedFor : undefined;
    const access = accessKey ? this.#ownAccess(accessKey, attribution, event) : undefined;
    const issuer = issuerOf(issuers, account, event, access?.spec.issuerRef.name);
    const reason = authFailureReason(event, attribution, new Date(event.time));
    this.#line(event, account, issuer, attribution, reason);
    this.#deps.metrics.authFailure(issuer, reason);
    const user = userKeyOf(event) ?? '';
    const from = event.host ?? 'an unknown host';
    if (access) {
      this.#deps.events.record(access, 'Warning', EventReason.AuthFailed, `NATS refused a login of user ${user} from ${from} (${reason})`);
      this.#status.update(accessUserName(access), { lastAuthFailureTime: timestamp(new Date(event.time)) });
    }
    const issuerObject = this.#deps.issuers.get(issuer);
    const ofAccess = accessKey?.startsWith(ENFORCEMENT_KEY_PREFIX) === false ? accessKey : undefined;
    if (reason === 'UserRevoked' && issuerObject && (!ofAccess || this.#deps.serves(ofAccess.split('/')[0] as string))) {
      const of = ofAccess ? ` of ${access ? 'access' : 'deleted access'} ${ofAccess}` : '';
      this.#deps.events.record(issuerObject, 'Warning', EventReason.RevokedUserRetrying, `Revoked user ${user}${of} tried to log in from ${from}`);
    }
  }

  /** A connection nobody accounts for is reported once the grace has passed and it still is so. */
  #unknownAfterGrace(connection: LiveConnection): void {
    setTimeout(() => {
      const id = connectionId(connection.record);
      if (this.#stopped || this.#live.get(id) !== connection) return;
      const attribution = attribute(connection.record, connection.account, this.#lookups());
      if (attribution.kind === 'access') {
        const attributed = { ...connection, accessKey: attribution.accessKey };
        this.#live.put(id, attributed);
        this.#counted(attributed, connection);
        this.#checkGrant(attributed);
        return;
      }
      const named = (connection.record.presented?.name ?? connection.record.user ?? '').split('/');
      if (named.length === 2 && !this.#deps.serves(named[0] as string)) return;
      this.#drift.unknown(connection);
    }, this.#deps.timing.unknownGraceMs).unref();
  }

  #checkGrant(connection: LiveConnection): void {
    const access = connection.accessKey ? this.#access(connection.accessKey) : undefined;
    if (access) this.#drift.checkGrant(connection, access);
  }

  /** Tells the metrics and the statuses the counts of `connection`'s issuer and access (and `before`'s). */
  #counted(connection: LiveConnection, before?: LiveConnection): void {
    for (const { issuer, accessKey } of before ? [before, connection] : [connection]) {
      this.#deps.metrics.connections(issuer, this.#live.active(issuerKey(issuer)));
      if (accessKey) this.#status.update(accessKey, { active: this.#live.active(accessKey) });
    }
  }

  #line(event: ClientEvent, account: string | undefined, issuer: string, attribution: Attribution, authFailure?: AuthFailureReason): void {
    this.#deps.metrics.auditEvent(event.kind);
    const revokedFor = attribution.kind === 'revoked' && !attribution.revokedFor.startsWith(ENFORCEMENT_KEY_PREFIX) ? attribution.revokedFor : undefined;
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : revokedFor;
    const workspaceId = accessKey ? this.#ownAccess(accessKey, attribution, event)?.spec.workspace.id : undefined;
    const line = auditLine(event, { account, issuer, attribution, accessKey, workspaceId, ...(authFailure ? { authFailure } : {}) });
    this.#deps.audit.info(line, `nats ${event.kind.replace('_', ' ')}`);
  }

  #lookups() {
    return {
      accessOfUser: (user: string) => this.#directory.accessOf(user),
      calloutAccess: (name: string) => this.#calloutNames.get(name),
      revokedFor: (account: string, user: string) => this.#deps.revokedFor(account, user),
    };
  }

  /**
   * The live access `key` names, if the event's user is its own: a user revoked for an access of
   * that name counts only if its JWT was issued after the access was created (not a namesake's).
   */
  #ownAccess(key: string, attribution: Attribution, event: ClientEvent): WorkspaceNatsAccess | undefined {
    const access = this.#access(key);
    if (!access || attribution.kind === 'access') return access;
    // A string as the API server sends it, whatever the type says; whole seconds, like a JWT's iat.
    const created = new Date(access.metadata.creationTimestamp ?? Number.NaN).getTime();
    const issued = event.presented?.issuedAt?.getTime();
    return issued !== undefined && issued >= Math.floor(created / 1000) * 1000 ? access : undefined;
  }

  #access(key: string): WorkspaceNatsAccess | undefined {
    const [namespace, name] = key.split('/');
    return name === undefined ? undefined : this.#deps.accesses.get(name, namespace);
  }
}

const connectionId = (record: ClientRecord) => `${record.server.id}/${record.cid}`;

const describeClient = (record: ClientRecord) => `${record.clientName ? `"${record.clientName}" ` : ''}from ${record.host ?? 'an unknown host'}`;
