// The operator's Prometheus metrics (prom-client), one registry per process, served by the
// `--metrics-port` endpoint. Labels name kinds of things (callout, provider, result, reason), never
// a workspace, token or key: cardinality stays bounded and nothing secret reaches a scrape.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'workspace_nats_operator_';

export interface CalloutMetrics {
  /** One authorization request answered (allowed or denied) or dropped, and how long it took. */
  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void;
}

export class OperatorMetrics implements CalloutMetrics {
  readonly registry = new Registry();
  readonly #auditEvents: Counter<'event'>;
  readonly #auditDropped: Counter<'reason'>;
  readonly #clientEvents: Counter<'issuer' | 'event'>;
  readonly #connections: Gauge<'issuer'>;
  readonly #authFailures: Counter<'issuer' | 'reason'>;
  readonly #unknownUsers: Counter<'issuer'>;
  readonly #overPermission: Counter<'issuer'>;
  readonly #enforced: Counter<'issuer' | 'reason'>;
  readonly #requests: Counter<'callout' | 'result' | 'reason'>;
  readonly #duration: Histogram<'callout' | 'result'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.#requests = new Counter({
      name: `${PREFIX}callout_requests_total`,
      help: 'Auth callout requests, by callout, result (allowed, denied, dropped) and reason (a DenyReason, or Allowed).',
      labelNames: ['callout', 'result', 'reason'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: `${PREFIX}callout_request_duration_seconds`,
      help: 'Time from receiving an auth callout request to sending the answer.',
      labelNames: ['callout', 'result'],
      // nats-server waits 2 s by default: the top buckets show answers getting close to that.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [this.registry],
    });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name: `${PREFIX}${name}`, help, labelNames, registers: [this.registry] });
    this.#auditEvents = counter('audit_events_total', 'Client advisories the audit wrote a line for, by event (connect, disconnect, auth_error).', ['event']);
    this.#auditDropped = counter('audit_events_dropped_total', 'Advisories the audit could not process, by reason (Unreadable, Error).', ['reason']);
    this.#clientEvents = counter('nats_client_events_total', "Connects and disconnects in the issuer's account, by issuer and event.", ['issuer', 'event']);
    this.#connections = new Gauge({
      name: `${PREFIX}nats_connections`,
      help: "Client connections open in the issuer's account, on all servers.",
      labelNames: ['issuer'],
      registers: [this.registry],
    });
    this.#authFailures = counter('nats_auth_failures_total', 'Refused logins, by issuer ("" for no known account) and reason (UserRevoked, CredentialsExpired, UnknownUser, Other).', ['issuer', 'reason']);
    this.#unknownUsers = counter('unknown_user_connections_total', "Connections to the issuer's account whose user no live access accounts for.", ['issuer']);
    this.#overPermission = counter('over_permission_connections_total', "Connections whose user JWT grants more than the issuer's policy.", ['issuer']);
    this.#enforced = counter('enforcement_revocations_total', 'Users revoked and connections closed by policy.enforcement Revoke, by issuer and reason (UnknownUser, OverPermission).', ['issuer', 'reason']);
  }

  auditEvent(event: string): void {
    this.#auditEvents.inc({ event });
  }

  auditDropped(reason: string): void {
    this.#auditDropped.inc({ reason });
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

  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void {
    this.#requests.inc(labels);
    this.#duration.observe({ callout: labels.callout, result: labels.result }, seconds);
  }
}
