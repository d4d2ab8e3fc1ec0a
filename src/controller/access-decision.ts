// The shapes of an access reconcile's decision, shared by the ways in (minted creds in
// access-plan.ts, auth callout logins in access-callout.ts): what a reconcile observed, the plan the
// controller applies, and how a Failure becomes a Ready condition and a Warning Event.

import type { V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { Failure } from '../api/failure.ts';
import { READY } from '../api/reasons.ts';
import type { WorkspaceNatsAccess, WorkspaceNatsAccessStatus } from '../api/workspace-nats-access.ts';
import { conditionChanged, findCondition, type ConditionUpdate, type StatusFields } from '../kube/conditions.ts';
import type { EventType } from '../kube/events.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { MintedCredentials, MintRequest } from '../nats/credentials.ts';
import type { RevocationQuery, RevokeRequest } from './access-revocation.ts';

/** The callout an access names (spec.authCalloutRef), as the controller reads it. */
export interface CalloutObservation {
  name: string;
  /** The sentinel creds file, or why it cannot be read (missing Secret or key). */
  sentinel: { creds: Uint8Array } | Failure;
}

/** Everything a reconcile of one access reads, from the caches unless said otherwise. */
export interface AccessObservation {
  access: WorkspaceNatsAccess;
  issuer: ClusterNatsIssuer | undefined;
  namespaceLabels: Record<string, string>;
  /** The Secret the access names: from the cache, else as the API server has it. */
  secret: V1Secret | undefined;
  /** The cached Secrets that belong to the access (by owner reference, or label). */
  cachedSecrets: readonly V1Secret[];
  /** The access's Secrets as the API server has them; read only when a decision asks for them. */
  liveSecrets?: readonly V1Secret[];
  /** The issuer's account signing key, or why it cannot be loaded (undefined without issuer). */
  signingKey: KeyPair | Failure | undefined;
  /** Set for accesses with spec.authCalloutRef whose callout exists. */
  callout?: CalloutObservation | undefined;
  revocation: RevocationQuery;
  now: Date;
}

export interface PlannedEvent {
  type: EventType;
  reason: string;
  message: string;
}

export interface AccessPlan {
  addFinalizer: boolean;
  /** Users to ask the revoker for (before anything else is written). */
  revoke?: RevokeRequest;
  /** Callout logins to close on every server, before Secrets and finalizer go. */
  cutLogins?: { account: string; userName: string };
  writeSecret?: { wanted: V1Secret; existing: V1Secret | undefined };
  /** Sent with the status write, not before it: whoever sees the new status may see its Event a moment later. */
  events: PlannedEvent[];
  status?: { ready: ConditionUpdate; fields: StatusFields<WorkspaceNatsAccessStatus> };
  /** Recorded after the status: a Warning whose status write conflicts is not repeated by the retry. */
  eventsAfterStatus: PlannedEvent[];
  /** Each deleted with a CredentialsDeleted Event. */
  deleteSecrets: V1Secret[];
  removeFinalizer: boolean;
  result: ReconcileResult;
}

/** The plan cannot be made from the caches alone: read the access's live Secrets and decide again. */
export const NEEDS_LIVE_SECRETS = 'needsLiveSecrets';
export type Decision = AccessPlan | typeof NEEDS_LIVE_SECRETS;

export type Mint = (request: MintRequest) => Promise<MintedCredentials>;

export const nothing = (): AccessPlan => ({ addFinalizer: false, events: [], eventsAfterStatus: [], deleteSecrets: [], removeFinalizer: false, result: {} });

/** Reports `failure` in the Ready condition and, when that changes it, as a Warning Event. */
export function planFailure(access: WorkspaceNatsAccess, failure: Failure, base: AccessPlan = nothing()): AccessPlan {
  const ready: ConditionUpdate = { type: READY, status: 'False', reason: failure.reason, message: failure.message };
  const changed = conditionChanged(findCondition(access.status?.conditions, READY), ready);
  return {
    ...base,
    status: { ready, fields: {} },
    eventsAfterStatus: changed ? [{ type: 'Warning', reason: failure.reason, message: failure.message }] : [],
    result: failure.retry ? { retry: true } : {},
  };
}

