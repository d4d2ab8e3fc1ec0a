// The issuer controller: tells, in each ClusterNatsIssuer's Ready condition, whether the operator
// can mint and revoke with it: its Secrets hold an account signing key, an operator signing key and
// system account creds; the NATS servers answer and hold the account's JWT; and that JWT lists the
// signing key, scoped exactly when the issuer says so. It also shows the account's revocations and
// last push. It reads keys and writes issuer status only.
//
// Each reconcile reads (read: caches and the revoker's last observation), decides (planIssuer:
// pure, an IssuerPlan) and applies (apply: the only writes, in a fixed order).

import { systemClock, type Clock } from '../api/clock.ts';
import type { ClusterNatsIssuer, ClusterNatsIssuerStatus } from '../api/cluster-nats-issuer.ts';
import { ISSUER_PLURAL } from '../api/constants.ts';
import { Failure } from '../api/failure.ts';
import { READY, Reason } from '../api/reasons.ts';
import type { IssuerKeys } from '../issuer/issuer-keys.ts';
import {
  conditionChanged,
  findCondition,
  timestamp,
  type ConditionUpdate,
  type StatusFields,
} from '../kube/conditions.ts';
import type { CustomObjectsApi } from '../kube/api.ts';
import type { EventRecorder, EventType } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import type { AccountObservation, RevocationSummary } from '../revocation/account-revoker.ts';

/** What this controller needs of the accounts' revokers (Revocations, in src/revocation). */
export interface AccountRevocations {
  /** Keeps a revoker running for `account` (starting it if new), so that observe() gets answers. */
  watch(account: string): void;
  /** The revoker's last cycle's outcome; undefined before the first. */
  observe(account: string): AccountObservation | undefined;
  summary(account: string): RevocationSummary;
}

export interface IssuerControllerDeps {
  customObjects: CustomObjectsApi;
  issuers: Lister<ClusterNatsIssuer>;
  keys: IssuerKeys;
  revocations: AccountRevocations;
  events: EventRecorder;
  log: Logger;
  fieldManager: string;
  clock?: Clock;
}

/**
 * What one reconcile of an issuer reads: why its Secrets do not give the operator its keys, or the
 * account signing key's public key and what the account's revoker last saw.
 */
export type IssuerObservation =
  | { issuer: ClusterNatsIssuer; failure: Failure }
  | { issuer: ClusterNatsIssuer; signingKey: string; account: AccountObservation | undefined; revocations: RevocationSummary };

/** What a reconcile of an issuer writes; apply() writes it in this order. */
export interface IssuerPlan {
  /** The account whose revoker must run: set once the keys load. */
  watch?: string;
  /** Recorded (and logged) when Ready says something new and definite. */
  event?: { type: EventType; reason: string; message: string };
  ready: ConditionUpdate;
  fields: StatusFields<ClusterNatsIssuerStatus>;
  result: ReconcileResult;
}

/** What the issuer's status should say, and whether to come back. Pure. */
export function planIssuer(observed: IssuerObservation): IssuerPlan {
  const { issuer } = observed;
  if ('failure' in observed) {
    const { reason, message } = observed.failure;
    return reporting(issuer, { type: READY, status: 'False', reason, message }, {});
  }
  const watch = issuer.spec.account.publicKey;
  const stored = issuer.status;
  const storedReady = findCondition(stored?.conditions, READY);
  // A restarted operator has not looked at the account yet, but what its status says from before
  // still stands if it was found for this generation and this signing key: "Verifying" in between
  // would make every restart write twice (and report AccountVerified again) for nothing. The
  // revoker's first cycle wakes the issuer with what it finds.
  if (
    !observed.account &&
    storedReady &&
    storedReady.status !== 'Unknown' &&
    storedReady.observedGeneration === issuer.metadata.generation &&
    stored?.signingKeyPublicKey === observed.signingKey
  ) {
    const { type, status, reason, message } = storedReady;
    return { watch, ready: { type, status, reason, message }, fields: { signingKeyPublicKey: observed.signingKey, revocation: stored.revocation }, result: {} };
  }
  return {
    watch,
    ...reporting(issuer, readiness(issuer, observed.signingKey, observed.account), {
      signingKeyPublicKey: observed.signingKey,
      revocation: revocationStatus(observed.revocations, stored?.revocation),
    }),
  };
}

/** The plan that reports `ready` and `fields`: with an Event if Ready says something new. */
function reporting(issuer: ClusterNatsIssuer, ready: ConditionUpdate, fields: StatusFields<ClusterNatsIssuerStatus>): IssuerPlan {
  // Unknown (Verifying) is a passing state, not worth an Event.
  const changed = ready.status !== 'Unknown' && conditionChanged(findCondition(issuer.status?.conditions, READY), ready);
  return {
    ...(changed ? { event: { type: ready.status === 'True' ? 'Normal' : 'Warning', reason: ready.reason, message: ready.message } } : {}),
    ready,
    fields,
    // Key Secret changes and the account's revocation cycles wake the issuer; the backoff only
    // covers a Secret that is missing or invalid.
    result: ready.status === 'False' && ready.reason !== Reason.NatsUnreachable && ready.reason !== Reason.AccountMismatch ? { retry: true } : {},
  };
}

export class IssuerController {
  private readonly deps: IssuerControllerDeps;
  private readonly clock: Clock;

  constructor(deps: IssuerControllerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const observed = this.read(name);
    if (!observed) return {};
    return this.apply(observed.issuer, planIssuer(observed));
  }

  /** The issuer `name` (undefined if gone), its keys and its account's revoker; writes nothing. */
  read(name: string): IssuerObservation | undefined {
    const issuer = this.deps.issuers.get(name);
    if (!issuer) return undefined;
    let signingKey: string;
    try {
      signingKey = this.deps.keys.accountSigningKey(issuer).getPublicKey();
      this.deps.keys.natsSettings(issuer);
    } catch (error) {
      if (!(error instanceof Failure)) throw error;
      return { issuer, failure: error };
    }
    const account = issuer.spec.account.publicKey;
    const { revocations } = this.deps;
    return { issuer, signingKey, account: revocations.observe(account), revocations: revocations.summary(account) };
  }

  /** Writes `plan`: starts the revoker, records the Event, then writes the status. */
  async apply(issuer: ClusterNatsIssuer, plan: IssuerPlan): Promise<ReconcileResult> {
    if (plan.watch) this.deps.revocations.watch(plan.watch);
    if (plan.event) {
      const { type, reason, message } = plan.event;
      this.deps.log[type === 'Normal' ? 'info' : 'warn']({ issuer: issuer.metadata.name, reason }, message);
      await this.deps.events.record(issuer, type, reason, message);
    }
    await updateStatus(
      { customObjects: this.deps.customObjects, plural: ISSUER_PLURAL, fieldManager: this.deps.fieldManager },
      issuer,
      plan.ready,
      plan.fields,
      this.clock(),
    );
    return plan.result;
  }
}

/** Ready, from the account's last revocation cycle and whether its JWT lists the signing key. */
function readiness(issuer: ClusterNatsIssuer, key: string, observed: AccountObservation | undefined): ConditionUpdate {
  const account = issuer.spec.account.publicKey;
  if (!observed) {
    return { type: READY, status: 'Unknown', reason: Reason.Verifying, message: `Looking up account ${account} on the NATS servers` };
  }
  if (!observed.ok) return { type: READY, status: 'False', reason: Reason.NatsUnreachable, message: observed.message };
  const mismatch = (message: string): ConditionUpdate => ({ type: READY, status: 'False', reason: Reason.AccountMismatch, message });
  const listed = observed.value.account.signingKeys.find((entry) => entry.key === key);
  const scoped = issuer.spec.account.scoped !== undefined;
  if (!listed && key !== account) {
    return mismatch(`The JWT of account ${account} does not list signing key ${key}: NATS would refuse the users it signs`);
  }
  if (scoped && !listed?.scoped) {
    return mismatch(
      `spec.account.scoped is set, but ${key} is not a scoped signing key of account ${account}: users with tags only would have no bounds`,
    );
  }
  if (!scoped && listed?.scoped) {
    return mismatch(`${key} is a scoped signing key of account ${account}: set spec.account.scoped, since NATS refuses its users' own permissions`);
  }
  const servers = observed.value.servers.length;
  return {
    type: READY,
    status: 'True',
    reason: Reason.AccountVerified,
    message: `Keys loaded; ${servers} NATS server${servers === 1 ? ' holds' : 's hold'} the JWT of account ${account}, which lists signing key ${key}${key === account ? ' (the account key itself)' : ''}`,
  };
}

type RevocationStatus = NonNullable<ClusterNatsIssuerStatus['revocation']>;

/** The revocation status; the last push is the stored one until this process has pushed. */
function revocationStatus(summary: RevocationSummary, stored: RevocationStatus | undefined): RevocationStatus {
  if (!summary.lastPushTime) {
    const { active: _stale, ...lastPush } = stored ?? {};
    return { active: summary.active, ...lastPush };
  }
  return {
    active: summary.active,
    lastPushTime: timestamp(summary.lastPushTime),
    ...(summary.lastPushResult ? { lastPushResult: summary.lastPushResult } : {}),
    ...(summary.lastPushMessage ? { lastPushMessage: summary.lastPushMessage } : {}),
  };
}
