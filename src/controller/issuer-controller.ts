// The issuer controller: tells, in each ClusterNatsIssuer's Ready condition, whether the operator
// can mint with it (its signing key Secret exists and holds an account seed). It reads keys and
// writes issuer status only; accesses are the access controller's.

import type { CustomObjectsApi } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { ClusterNatsIssuer, ClusterNatsIssuerStatus } from '../api/cluster-nats-issuer.ts';
import { GROUP, ISSUER_PLURAL, VERSION } from '../api/constants.ts';
import { IssuerReason, READY } from '../api/reasons.ts';
import {
  conditionChanged,
  findCondition,
  nextStatus,
  type ConditionUpdate,
} from '../kube/conditions.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import type { Lister } from './access-controller.ts';
import { ReconcileFailure } from './reconcile-failure.ts';
import type { SigningKeyReader } from './signing-keys.ts';

export interface IssuerControllerDeps {
  customObjects: CustomObjectsApi;
  issuers: Lister<ClusterNatsIssuer>;
  signingKeys: SigningKeyReader;
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
    let fields: Partial<ClusterNatsIssuerStatus> = {};
    try {
      const key = this.deps.signingKeys.accountSigningKey(issuer).getPublicKey();
      const own = key === issuer.spec.account.publicKey ? ' (the account key itself)' : '';
      ready = {
        type: READY,
        status: 'True',
        reason: IssuerReason.KeysLoaded,
        message: `Account signing key ${key}${own} loaded`,
      };
      fields = { signingKeyPublicKey: key };
    } catch (error) {
      if (!(error instanceof ReconcileFailure)) throw error;
      ready = { type: READY, status: 'False', reason: error.reason, message: error.message };
    }

    if (conditionChanged(findCondition(issuer.status?.conditions, READY), ready)) {
      const type = ready.status === 'True' ? 'Normal' : 'Warning';
      this.deps.log[type === 'Normal' ? 'info' : 'warn']({ issuer: name, reason: ready.reason }, ready.message);
      await this.deps.events.record(issuer, type, ready.reason, ready.message);
    }
    const current = issuer.status ?? {};
    const status = nextStatus(current, ready, fields, issuer.metadata.generation ?? 0, this.now());
    if (!isDeepStrictEqual(status, current)) {
      await this.deps.customObjects.replaceClusterCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: ISSUER_PLURAL,
        name,
        body: { ...issuer, status },
        fieldManager: this.deps.fieldManager,
      });
    }
    // Changes of the key Secret wake the issuer; the backoff only covers what nothing announces.
    return ready.status === 'True' ? {} : { retry: true };
  }
}
