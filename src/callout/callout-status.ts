// The status of each ClusterNatsAuthCallout, written by the leader: Ready when its keys load here,
// every identity provider's keys have been fetched, and every NATS server has the callout's
// subscription (its own replica's, or one its routes brought in), counted through the system
// account of the callout's first issuer. Also the key ids in use per provider. Reads, decides
// (planCalloutStatus, pure), writes only when something changed.

import type { ClusterNatsAuthCallout, ClusterNatsAuthCalloutStatus } from '../api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import { CALLOUT_PLURAL } from '../api/constants.ts';
import { READY, Reason } from '../api/reasons.ts';
import type { CustomObjectsApi } from '../kube/api.ts';
import { conditionChanged, findCondition, timestamp, type ConditionUpdate, type StatusFields } from '../kube/conditions.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { NatsSystemClient } from '../nats/system-client.ts';
import type { CalloutState } from './service.ts';
import { byCodeUnits } from '../api/order.ts';

/** How often a callout that is not Ready is looked at again. */
const RECHECK_MS = 10_000;

export interface SubscriptionCount {
  servers: number;
  subscribed: number;
}

export interface CalloutStatusObservation {
  callout: ClusterNatsAuthCallout;
  /** This replica's service's view; undefined before it took the callout up. */
  state: CalloutState | undefined;
  /** Servers with the subscription, or why they could not be asked. */
  subscriptions: SubscriptionCount | { error: string };
}

export interface CalloutStatusPlan {
  ready: ConditionUpdate;
  fields: StatusFields<ClusterNatsAuthCalloutStatus>;
  /** A Warning Event when Ready turns False or changes reason. */
  warn: boolean;
  result: ReconcileResult;
}

export function planCalloutStatus({ callout, state, subscriptions }: CalloutStatusObservation): CalloutStatusPlan {
  const providers = (state?.providers ?? []).map((provider) => ({
    name: provider.name,
    keyIds: provider.keyIds,
    ...(provider.lastFetchTime ? { lastFetchTime: timestamp(provider.lastFetchTime) } : {}),
    ...(provider.error ? { message: provider.error } : {}),
  }));
  const missing = providers.filter((provider) => !provider.lastFetchTime);
  const count = 'error' in subscriptions ? undefined : subscriptions;
  let ready: ConditionUpdate;
  if (!state) {
    ready = { type: READY, status: 'Unknown', reason: Reason.Verifying, message: 'the callout service has not taken this callout up yet' };
  } else if (state.problem) {
    ready = { type: READY, status: 'False', reason: state.problem.reason, message: state.problem.message };
  } else if (missing.length > 0) {
    const message = missing.map((provider) => `provider ${provider.name}: ${provider.message ?? 'keys not fetched yet'}`).join('; ');
    ready = { type: READY, status: 'False', reason: Reason.IdentityProviderUnavailable, message };
  } else if (!count) {
    ready = { type: READY, status: 'False', reason: Reason.NatsUnreachable, message: (subscriptions as { error: string }).error };
  } else if (count.subscribed < count.servers) {
    ready = { type: READY, status: 'False', reason: Reason.NotSubscribed, message: `${count.subscribed} of ${count.servers} NATS servers have the callout subscription` };
  } else {
    const keys = providers.map((provider) => `${provider.name} (${provider.keyIds.length} keys)`).join(', ');
    ready = { type: READY, status: 'True', reason: Reason.Serving, message: `Subscribed on ${count.servers} NATS servers; providers ${keys}` };
  }
  const changed = conditionChanged(findCondition(callout.status?.conditions, READY), ready);
  return {
    ready,
    fields: { identityProviders: providers.length > 0 ? providers : undefined, servers: count?.subscribed },
    warn: changed && ready.status === 'False',
    result: ready.status === 'True' ? {} : { requeueAfterMs: RECHECK_MS },
  };
}

export interface CalloutStatusDeps {
  customObjects: CustomObjectsApi;
  callouts: Lister<ClusterNatsAuthCallout>;
  issuers: Lister<ClusterNatsIssuer>;
  /** A system account client for the NATS of an issuer account (Revocations.systemClient). */
  systemClient: (account: string) => Promise<NatsSystemClient>;
  /** The local callout service's view of a callout. */
  state: (name: string) => CalloutState | undefined;
  events: EventRecorder;
  fieldManager: string;
  clock?: Clock;
}

export class CalloutStatusController {
  readonly #deps: CalloutStatusDeps;

  constructor(deps: CalloutStatusDeps) {
    this.#deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const callout = this.#deps.callouts.get(name);
    if (!callout) return {};
    const plan = planCalloutStatus({ callout, state: this.#deps.state(name), subscriptions: await this.#count(callout) });
    const writer = { customObjects: this.#deps.customObjects, plural: CALLOUT_PLURAL, fieldManager: this.#deps.fieldManager };
    await updateStatus(writer, callout, plan.ready, plan.fields, (this.#deps.clock ?? systemClock)());
    if (plan.warn) await this.#deps.events.record(callout, 'Warning', plan.ready.reason, plan.ready.message);
    return plan.result;
  }

  /** Servers with the subscription, asked through the system account of the callout's first issuer. */
  async #count(callout: ClusterNatsAuthCallout): Promise<SubscriptionCount | { error: string }> {
    const names = [...new Set(callout.spec.identityProviders.flatMap((provider) => provider.issuers))].sort(byCodeUnits);
    const problems: string[] = [];
    for (const issuerName of names) {
      const issuer = this.#deps.issuers.get(issuerName);
      if (!issuer) continue;
      try {
        const client = await this.#deps.systemClient(issuer.spec.account.publicKey);
        const servers = await client.servers();
        if (servers.length === 0) throw new Error('no NATS server answered');
        const counts = await client.subscriptionCounts(callout.spec.account.publicKey, servers.length);
        return { servers: servers.length, subscribed: counts.filter((count) => count.subscriptions > 0).length };
      } catch (error) {
        problems.push(`issuer ${issuerName}: ${(error as Error).message}`);
      }
    }
    return { error: problems.length > 0 ? `cannot ask NATS for the subscription: ${problems.join('; ')}` : 'no issuer of the callout exists to ask NATS through' };
  }
}
