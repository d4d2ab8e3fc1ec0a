// The audit's metrics (src/audit), kept beside OperatorMetrics in the same registry: connects and
// disconnects, open connections and refused logins per issuer, drift found and acted on, and the
// audit's own health. Labels are issuers and fixed reasons, never a user, workspace or token.

import { Counter, Gauge, type Registry } from 'prom-client';

const PREFIX = 'workspace_nats_operator_';

export class AuditCounters {
  readonly #events: Counter<'event'>;
  readonly #dropped: Counter<'reason'>;
  readonly #clientEvents: Counter<'issuer' | 'event'>;
  readonly #connections: Gauge<'issuer'>;
  readonly #authFailures: Counter<'issuer' | 'reason'>;
  readonly #unknownUsers: Counter<'issuer'>;
  readonly #overPermission: Counter<'issuer'>;
  readonly #enforced: Counter<'issuer' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name: `${PREFIX}${name}`, help, labelNames, registers });
    this.#events = counter('audit_events_total', 'Client advisories the audit wrote a line for, by event (connect, disconnect, auth_error).', ['event']);
    this.#dropped = counter('audit_events_dropped_total', 'Advisories the audit could not process, by reason (Unreadable, Overflow: its queue was full, Error).', ['reason']);
    this.#clientEvents = counter('nats_client_events_total', "Connects and disconnects in the issuer's account, by issuer and event.", ['issuer', 'event']);
    this.#connections = new Gauge({ name: `${PREFIX}nats_connections`, help: "Client connections open in the issuer's account, on all servers.", labelNames: ['issuer'], registers });
    this.#authFailures = counter(
      'nats_auth_failures_total',
      'Refused logins, by issuer ("" when no issuer names the account) and reason (UserRevoked, CredentialsExpired, UnknownUser, Other).',
      ['issuer', 'reason'],
    );
    this.#unknownUsers = counter('unknown_user_connections_total', "Connections to the issuer's account whose user no live access accounts for.", ['issuer']);
    this.#overPermission = counter('over_permission_connections_total', "Connections whose user JWT grants more than the issuer's policy.", ['issuer']);
    this.#enforced = counter('enforcement_revocations_total', 'Users revoked and connections closed by policy.enforcement Revoke, by issuer and reason (UnknownUser, OverPermission).', ['issuer', 'reason']);
  }

  auditEvent(event: string): void {
    this.#events.inc({ event });
  }

  auditDropped(reason: string): void {
    this.#dropped.inc({ reason });
  }

  clientEvent(issuer: string, event: 'connect' | 'disconnect'): void {
    this.#clientEvents.inc({ issuer, event });
  }

  connections(issuer: string, active: number): void {
    this.#connections.set({ issuer }, active);
  }

  authFailure(issuer: string, reason: string): void {
    this.#authFailures.inc({ issuer, reason });
  }

  unknownUser(issuer: string): void {
    this.#unknownUsers.inc({ issuer });
  }

  overPermission(issuer: string): void {
    this.#overPermission.inc({ issuer });
  }

  enforced(issuer: string, reason: string): void {
    this.#enforced.inc({ issuer, reason });
  }
}
