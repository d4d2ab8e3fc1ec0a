// The issuer controller: tells, in each ClusterNatsIssuer's Ready condition, whether the operator
// can mint and revoke with it: its Secrets hold an account signing key, an operator signing key and
// system account creds; the NATS servers answer and hold the account's JWT; and that JWT lists the
// signing key, scoped exactly when the issuer says so. It also shows the account's revocations and
// last push. It reads keys and writes issuer status only.

import type { CustomObjectsApi } from '@kubernetes/client-node';
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
import type { EventRecorder } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import type { AccountObservation, RevocationSummary } from '../revocation/account-revoker.ts';
import type { Revocations } from '../revocation/revocations.ts';

export interface IssuerControllerDeps {
  customObjects: CustomObjectsApi;
  issuers: Lister<ClusterNatsIssuer>;
  keys: IssuerKeys;
  revocations: Revocations;
  events: EventRecorder;
  log: Logger;
  fieldManager: string;
  now?: () => Date;
}

export class IssuerController {
  private readonly deps: IssuerControllerDeps;
  private readonly now: () => Date;

  constructor(deps: IssuerControllerDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const issuer = this.deps.issuers.get(name);
    if (!issuer) return {};
    let ready: ConditionUpdate;
    let fields: StatusFields<ClusterNatsIssuerStatus> = {};
    try {
      const key = this.deps.keys.accountSigningKey(issuer).getPublicKey();
      this.deps.keys.natsSettings(issuer);
      const account = issuer.spec.account.publicKey;
      this.deps.revocations.watch(account);
      fields = { signingKeyPublicKey: key, revocation: revocationStatus(this.deps.revocations.summary(account)) };
      ready = readiness(issuer, key, this.deps.revocations.observe(account));
    } catch (error) {
      if (!(error instanceof Failure)) throw error;
      ready = { type: READY, status: 'False', reason: error.reason, message: error.message };
    }

    if (ready.status !== 'Unknown' && conditionChanged(findCondition(issuer.status?.conditions, READY), ready)) {
      const type = ready.status === 'True' ? 'Normal' : 'Warning';
      this.deps.log[type === 'Normal' ? 'info' : 'warn']({ issuer: name, reason: ready.reason }, ready.message);
      await this.deps.events.record(issuer, type, ready.reason, ready.message);
    }
    await updateStatus(
      { customObjects: this.deps.customObjects, plural: ISSUER_PLURAL, fieldManager: this.deps.fieldManager },
      issuer,
      ready,
      fields,
      this.now(),
    );
    // Key Secret changes and the account's revocation cycles wake the issuer; the backoff only
    // covers a Secret that is missing or invalid.
    return ready.status === 'False' && ready.reason !== Reason.NatsUnreachable && ready.reason !== Reason.AccountMismatch
      ? { retry: true }
      : {};
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
  const listed = observed.account.signingKeys.find((entry) => entry.key === key);
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
  const servers = observed.servers.length;
  return {
    type: READY,
    status: 'True',
    reason: Reason.AccountVerified,
    message: `Keys loaded; ${servers} NATS server${servers === 1 ? ' holds' : 's hold'} the JWT of account ${account}, which lists signing key ${key}${key === account ? ' (the account key itself)' : ''}`,
  };
}

function revocationStatus(summary: RevocationSummary): NonNullable<ClusterNatsIssuerStatus['revocation']> {
  return {
    active: summary.active,
    ...(summary.lastPushTime ? { lastPushTime: timestamp(summary.lastPushTime) } : {}),
    ...(summary.lastPushResult ? { lastPushResult: summary.lastPushResult } : {}),
    ...(summary.lastPushMessage ? { lastPushMessage: summary.lastPushMessage } : {}),
  };
}
