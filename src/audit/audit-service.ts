// The audit (leader only, so two replicas never count an event twice). The advisory listener hears
// every connect, disconnect and refused login of the issuers' accounts; this attributes each to its access and
// - writes one JSON audit line per event (logger "audit", at info whatever the log level),
// - records Events on the access (Connected, Disconnected, AuthFailed; at most one per access and
//   reason per window, with a count) and keeps status.connections current (at most every 10 s),
// - reports on the issuer what should not be there (drift.ts) and revoked users that keep trying.
// The periodic listings correct the live table: counts converge, and users that connected before
// the audit started are checked too.

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { byCodeUnits } from '../api/order.ts';
import { EventReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { AggregatingEventRecorder } from '../kube/aggregated-events.ts';
import { timestamp } from '../kube/conditions.ts';
import { describeError } from '../kube/errors.ts';
import type { Lister } from '../kube/lister.ts';
import type { Logger } from '../log.ts';
import type { ClientEvent, ClientEventKind, ClientRecord } from '../nats/advisories.ts';
import type { NatsSystemClient } from '../nats/system-client.ts';
import { accessUserName } from '../policy/grant.ts';
import type { RevokeUser } from '../revocation/account-revoker.ts';
import { AdvisoryListener, type Listing } from './advisory-listener.ts';
import { auditLine } from './audit-line.ts';
import { attribute, authFailureReason, userKeyOf, UserDirectory, type Attribution, type AuthFailureReason } from './attribution.ts';
import { ConnectionStatusWriter, type ConnectionsStatus } from './connection-status.ts';
import { DriftResponder, ENFORCEMENT_KEY_PREFIX, type AuditedConnection, type DriftMetrics } from './drift.ts';

export interface AuditMetrics extends DriftMetrics {
  auditEvent(event: ClientEventKind): void;
  auditDropped(reason: string): void;
  clientEvent(issuer: string, event: 'connect' | 'disconnect'): void;
  connections(issuer: string, active: number): void;
  authFailure(issuer: string, reason: AuthFailureReason): void;
}

export interface AuditTiming {
  /** How often each account's connections are listed (CONNZ) to correct the counts. */
  resyncMs: number;
  /** Shortest time between two writes of an access's status.connections. */
  statusIntervalMs: number;
  /** How long a connection no access accounts for waits to be reported (watch events may lag). */
  unknownGraceMs: number;
}

export interface AuditDeps {
  issuers: Lister<ClusterNatsIssuer>;
  accesses: Lister<WorkspaceNatsAccess>;
  /** Every user public key `access` was issued that may still be valid (status and Secret). */
  usersOf(access: WorkspaceNatsAccess): string[];
  /** A system account connection for the servers of `account`. */
  systemClient(account: string): Promise<NatsSystemClient>;
  revokedFor(account: string, user: string): string | undefined;
  /** Whether this operator serves `namespace`: users named for others' accesses are not drift. */
  serves(namespace: string): boolean;
  revoke(account: string, key: string, users: RevokeUser[]): void;
  events: AggregatingEventRecorder;
  writeConnections(access: WorkspaceNatsAccess, connections: ConnectionsStatus): Promise<void>;
  metrics: AuditMetrics;
  /** The audit lines' logger. */
  audit: Logger;
  log: Logger;
  timing: AuditTiming;
}

interface LiveConnection extends AuditedConnection {
  /** When this process learnt of it: a listing asked for before then does not drop it. */
  seenAt: number;
}

export class AuditService {
  readonly #deps: AuditDeps;
  readonly #listener: AdvisoryListener;
  readonly #drift: DriftResponder;
  readonly #status: ConnectionStatusWriter;
  readonly #directory = new UserDirectory();
  readonly #calloutNames = new Map<string, string>();
  readonly #live = new Map<string, LiveConnection>();
  /** Open connections by access key, and by "issuer/<name>". */
  readonly #active = new Map<string, number>();
  #stopped = false;
  #lastOverflowLog = 0;

  constructor(deps: AuditDeps) {
    this.#deps = deps;
    this.#listener = new AdvisoryListener({
      accounts: () => new Set(deps.issuers.list().map((issuer) => issuer.spec.account.publicKey)),
      systemClient: deps.systemClient,
      onEvent: (account, event) => this.#onEvent(account, event),
      onListing: (account, listing) => this.#onListing(account, listing),
      onDropped: (reason, subject) => {
        deps.metrics.auditDropped(reason);
        // An overflow drops many in a row: the metric counts them, the log says so once a second.
        if (reason === 'Overflow' && Date.now() - this.#lastOverflowLog < 1000) return;
        if (reason === 'Overflow') this.#lastOverflowLog = Date.now();
        deps.log.warn({ subject, reason }, 'audit dropped an advisory');
      },
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
  }

  /** An issuer changed: a new account to listen to, or a policy to hold live connections to. */
  issuerChanged(issuer: ClusterNatsIssuer): void {
    for (const connection of this.#live.values()) if (connection.issuer === issuer.metadata.name) this.#checkGrant(connection);
    void this.#listener.sync();
  }

  #onEvent(account: string, event: ClientEvent): void {
    try {
      if (event.kind === 'auth_error') this.#authError(event);
      else if (event.kind === 'connect') this.#connected(account, event, true);
      else {
        const connection = this.#live.get(connectionId(event));
        if (connection) this.#disconnected(connection, event);
        else this.#line(event, account, this.#issuerOf(account, event), attribute(event, account, this.#lookups()));
      }
    } catch (error) {
      this.#deps.metrics.auditDropped('Error');
      this.#deps.log.error({ event: event.kind, error: describeError(error) }, 'audit failed on an advisory');
    }
  }

  /** Puts listed connections in the table, and drops those an answering server no longer has. */
  #onListing(account: string, { records, answered, servers, startedAt }: Listing): void {
    const listed = new Set(records.map(connectionId));
    for (const record of records) if (!this.#live.has(connectionId(record))) this.#connected(account, record, false);
    for (const connection of this.#live.values()) {
      const server = connection.record.server.id;
      if (connection.account !== account || connection.seenAt >= startedAt || listed.has(connectionId(connection.record))) continue;
      if (answered.has(server) || !servers.has(server)) this.#disconnected(connection);
    }
  }

  /** A connection seen (an advisory, or listed by CONNZ): counted, logged, and checked. */
  #connected(account: string, record: ClientRecord, advisory: boolean): void {
    const attribution = attribute(record, account, this.#lookups());
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : undefined;
    const connection: LiveConnection = { account, issuer: this.#issuerOf(account, record, accessKey), accessKey, record, seenAt: Date.now() };
    this.#live.set(connectionId(record), connection);
    this.#count(connection, +1);
    if (advisory) {
      const event = record as ClientEvent;
      this.#line(event, account, connection.issuer, attribution);
      this.#deps.metrics.clientEvent(connection.issuer, 'connect');
      const access = accessKey ? this.#access(accessKey) : undefined;
      if (access) {
        this.#status.update(accessUserName(access), { lastConnectTime: timestamp(new Date(event.time)) });
        this.#deps.events.record(access, 'Normal', EventReason.Connected, `NATS client ${describeClient(record)} connected to ${record.server.name}`);
      }
    }
    if (accessKey) this.#checkGrant(connection);
    else this.#unknownAfterGrace(connection);
  }

  #disconnected(connection: LiveConnection, event?: ClientEvent): void {
    this.#live.delete(connectionId(connection.record));
    this.#count(connection, -1);
    if (!event) return;
    this.#line(event, connection.account, connection.issuer, attribute(event, connection.account, this.#lookups()));
    this.#deps.metrics.clientEvent(connection.issuer, 'disconnect');
    const access = connection.accessKey ? this.#access(connection.accessKey) : undefined;
    const why = event.reason ? `: ${event.reason}` : '';
    if (access) this.#deps.events.record(access, 'Normal', EventReason.Disconnected, `NATS client ${describeClient(event)} disconnected from ${event.server.name}${why}`);
  }

  #authError(event: ClientEvent): void {
    const account = event.presented?.account;
    if (!account || !this.#deps.issuers.list().some((issuer) => issuer.spec.account.publicKey === account)) {
      // A login to an account no issuer names (a callout's sentinel, another tenant's): logged only.
      this.#line(event, account, '', { kind: 'unknown' });
      this.#deps.metrics.authFailure('', 'Other');
      return;
    }
    const attribution = attribute(event, account, this.#lookups());
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : attribution.kind === 'revoked' ? attribution.revokedFor : undefined;
    const issuer = this.#issuerOf(account, event, accessKey);
    const reason = authFailureReason(event, attribution, new Date(event.time));
    this.#line(event, account, issuer, attribution, reason);
    this.#deps.metrics.authFailure(issuer, reason);
    const user = userKeyOf(event) ?? '';
    const from = event.host ?? 'an unknown host';
    const access = accessKey ? this.#access(accessKey) : undefined;
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
      if (this.#stopped || this.#live.get(connectionId(connection.record)) !== connection) return;
      const attribution = attribute(connection.record, connection.account, this.#lookups());
      if (attribution.kind === 'access') {
        this.#count(connection, -1);
        connection.accessKey = attribution.accessKey;
        this.#count(connection, +1);
        this.#checkGrant(connection);
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

  #count({ issuer, accessKey }: LiveConnection, delta: number): void {
    for (const key of [`issuer/${issuer}`, accessKey]) {
      if (key === undefined) continue;
      const count = Math.max(0, (this.#active.get(key) ?? 0) + delta);
      if (count === 0) this.#active.delete(key);
      else this.#active.set(key, count);
    }
    this.#deps.metrics.connections(issuer, this.#active.get(`issuer/${issuer}`) ?? 0);
    if (accessKey) this.#status.update(accessKey, { active: this.#active.get(accessKey) ?? 0 });
  }

  #line(event: ClientEvent, account: string | undefined, issuer: string, attribution: Attribution, authFailure?: AuthFailureReason): void {
    this.#deps.metrics.auditEvent(event.kind);
    const revokedFor = attribution.kind === 'revoked' && !attribution.revokedFor.startsWith(ENFORCEMENT_KEY_PREFIX) ? attribution.revokedFor : undefined;
    const accessKey = attribution.kind === 'access' ? attribution.accessKey : revokedFor;
    const workspaceId = accessKey ? this.#access(accessKey)?.spec.workspace.id : undefined;
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

  #access(key: string): WorkspaceNatsAccess | undefined {
    const [namespace, name] = key.split('/');
    return name === undefined ? undefined : this.#deps.accesses.get(name, namespace);
  }

  /** The issuer a client counts under: its access's, else the one whose key signed it, else the first. */
  #issuerOf(account: string, record: ClientRecord, accessKey?: string): string {
    const fromAccess = accessKey ? this.#access(accessKey)?.spec.issuerRef.name : undefined;
    if (fromAccess) return fromAccess;
    const issuers = this.#deps.issuers
      .list()
      .filter((issuer) => issuer.spec.account.publicKey === account)
      .sort((a, b) => byCodeUnits(a.metadata.name, b.metadata.name));
    const signer = record.presented?.signer;
    return (issuers.find((issuer) => signer && issuer.status?.signingKeyPublicKey === signer) ?? issuers[0])?.metadata.name ?? '';
  }
}

const connectionId = (record: ClientRecord) => `${record.server.id}/${record.cid}`;

const describeClient = (record: ClientRecord) => `${record.clientName ? `"${record.clientName}" ` : ''}from ${record.host ?? 'an unknown host'}`;
