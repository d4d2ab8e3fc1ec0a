// The leader's view of what NATS servers report, wired to its caches: the audit (which reads the
// accesses, their Secrets' users and the issuers, asks NATS through the revokers' system
// connections, and writes status.connections as one of the access controller's own writes, so that
// no reconcile wakes for it), and the Events telling an account's issuers of account JWT drift.

import { accountIssuers, type ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, GROUP, VERSION } from '../api/constants.ts';
import { EventReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { AuditMetrics, AuditTiming } from '../audit/audit-deps.ts';
import { AuditService } from '../audit/audit-service.ts';
import { usersOf } from '../controller/access-users.ts';
import { AggregatingEventRecorder } from '../kube/aggregated-events.ts';
import type { KubeClient } from '../kube/api.ts';
import { COMPONENT, type EventRecorder } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import type { ObjectIndex } from '../kube/object-index.ts';
import type { OwnWrites } from '../kube/own-writes.ts';
import type { Logger } from '../log.ts';
import type { Revocations, RevocationsDeps } from '../revocation/revocations.ts';
import type { V1Secret } from '@kubernetes/client-node';

export interface AuditOptions extends AuditTiming {
  /** At most one Event per access (or issuer) and reason in this long; the rest are counted. */
  eventWindowMs: number;
  /** The audit lines' logger. */
  log: Logger;
  metrics: AuditMetrics;
}

export function createAudit(deps: {
  client: KubeClient;
  issuers: Lister<ClusterNatsIssuer>;
  accesses: Lister<WorkspaceNatsAccess>;
  secretsByAccess: ObjectIndex<V1Secret>;
  revocations: Revocations;
  events: EventRecorder;
  ownWrites: OwnWrites;
  /** The namespaces served; none for all. */
  workspaceNamespaces: readonly string[];
  options: AuditOptions;
  log: Logger;
}): AuditService {
  const { client, issuers, revocations, options, workspaceNamespaces } = deps;
  return new AuditService({
    issuers,
    accesses: deps.accesses,
    usersOf: (access) => {
      const account = issuers.get(access.spec.issuerRef.name)?.spec.account.publicKey;
      const owned = deps.secretsByAccess.get(`${access.metadata.namespace}/${access.metadata.name}`);
      return usersOf(access, owned, account).map((user) => user.userPublicKey);
    },
    systemClient: (account) => revocations.systemClient(account),
    revokedFor: (account, user) => revocations.revokedFor(account, user),
    serves: (namespace) => workspaceNamespaces.length === 0 || workspaceNamespaces.includes(namespace),
    revoke: (account, key, users) => {
      revocations.request(account, key, users);
      revocations.checkNow(account);
    },
    events: new AggregatingEventRecorder(deps.events, options.eventWindowMs),
    writeConnections: async (access, connections) => {
      const { namespace = '', name } = access.metadata;
      const resource = { group: GROUP, version: VERSION, plural: ACCESS_PLURAL };
      await deps.ownWrites.write(ACCESS_PLURAL, access, () => client.mergePatchStatus<WorkspaceNatsAccess>(resource, namespace, name, { status: { connections } }, COMPONENT));
    },
    metrics: options.metrics,
    audit: options.log,
    log: deps.log,
    timing: options,
  });
}

/** Records a Warning Event on each issuer of an account whose JWT a server held without revocations. */
export function reportAccountDrift(issuers: Lister<ClusterNatsIssuer>, events: EventRecorder): NonNullable<RevocationsDeps['onDrift']> {
  return (account, drift) => {
    const named = drift.named.length > 0 ? ` (${drift.named.map((server) => server.name).join(', ')})` : '';
    const message = `${drift.servers} NATS server(s)${named} held the JWT of account ${account} without revocations they had confirmed (up to ${drift.missing} missing); pushed them again`;
    for (const issuer of accountIssuers(issuers.list(), account)) void events.record(issuer, 'Warning', EventReason.AccountJwtDrift, message);
  };
}
