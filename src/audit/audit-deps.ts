// What the audit needs from the rest of the operator (wired in src/cli/audit.ts), and what it
// tells its metrics.

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { AggregatingEventRecorder } from '../kube/aggregated-events.ts';
import type { Lister } from '../kube/lister.ts';
import type { Logger } from '../log.ts';
import type { ClientEventKind } from '../nats/advisories.ts';
import type { NatsSystemClient } from '../nats/system-client.ts';
import type { RevokeUser } from '../revocation/account-revoker.ts';
import type { AuthFailureReason } from './attribution.ts';
import type { ConnectionsStatus } from './connection-status.ts';
import type { DriftMetrics } from './drift.ts';

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
