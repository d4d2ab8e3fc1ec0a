// The access controller: turns each WorkspaceNatsAccess into a Secret holding a freshly minted NATS
// user, renews it before it expires, revokes users it replaced for other reasons than renewal, and
// on deletion revokes every user it issued on the NATS servers before the Secret and the finalizer
// go. Level-triggered, in three steps: read what it needs (caches first), decide a plan
// (access-plan.ts, pure), apply the plan (here, the only place that writes, in a fixed order). It
// does not watch workspaces or mutate pods. Accesses that log in through an auth callout get the
// callout's sentinel creds instead (access-callout.ts), and their logins are cut on deletion.

import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsAuthCallout } from '../api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import { ACCESS_FINALIZER, ACCESS_PLURAL } from '../api/constants.ts';
import { Failure, type Result } from '../api/failure.ts';
import { EventReason, Reason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { CoreApi, CustomObjectsApi } from '../kube/api.ts';
import { isConflict, succeeded } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import { OwnObjects } from '../kube/own-objects.ts';
import type { OwnWrites } from '../kube/own-writes.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { mintUserCredentials } from '../nats/credentials.ts';
import { decide } from './access-plan.ts';
import { NEEDS_LIVE_SECRETS, planFailure, type AccessObservation, type AccessPlan, type CalloutObservation, type Mint, type PlannedEvent } from './access-decision.ts';
import { secretNameOf } from './access-secret.ts';
import type { IssuedUser } from './access-users.ts';
import { SecretClient } from './secret-client.ts';

/** The revoker as the access controller sees it: a query while deciding, a request while applying. */
export interface RevocationRequests {
  state(account: string, users: readonly IssuedUser[]): Result<'revoked' | 'pending'>;
  request(account: string, accessKey: string, users: readonly IssuedUser[]): void;
  /** Closes the auth callout logins of `userName` in `account` on every server; resolves with how many. */
  cutLogins(account: string, userName: string): Promise<number>;
}

/** The cached Secrets with the operator's label: by name, and those that belong to an access. */
export interface SecretCache {
  get(name: string, namespace: string): V1Secret | undefined;
  /** The Secrets whose owner reference (or, without one, label) names the access. */
  ofAccess(namespace: string, name: string): readonly V1Secret[];
}

export interface AccessControllerDeps {
  customObjects: CustomObjectsApi;
  core: CoreApi;
  accesses: Lister<WorkspaceNatsAccess>;
  issuers: Lister<ClusterNatsIssuer>;
  secrets: SecretCache;
  namespaces: Lister<V1Namespace>;
  /** The issuer's account signing key; throws a Failure saying what is wrong with its Secret. */
  signingKey: (issuer: ClusterNatsIssuer) => KeyPair;
  callouts: Lister<ClusterNatsAuthCallout>;
  /** A callout's sentinel creds file; throws a Failure saying what is wrong with its Secret. */
  sentinelCreds: (callout: ClusterNatsAuthCallout) => Uint8Array;
  revocations: RevocationRequests;
  events: EventRecorder;
  /** Where the objects it writes are recorded, so that their watch events do not wake it again. */
  ownWrites: OwnWrites;
  log: Logger;
  fieldManager: string;
  clock?: Clock;
  mint?: Mint;
}

/** What ownWrites calls Secrets (the access controller's writes are accesses and Secrets). */
export const SECRETS = 'secrets';

const keyOf = (access: WorkspaceNatsAccess) => `${access.metadata.namespace}/${access.metadata.name}`;

export class AccessController {
  private readonly deps: AccessControllerDeps;
  private readonly clock: Clock;
  private readonly mint: Mint;
  private readonly secretClient: SecretClient;
  private readonly accesses: OwnObjects<WorkspaceNatsAccess>;

  constructor(deps: AccessControllerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.mint = deps.mint ?? mintUserCredentials;
    this.secretClient = new SecretClient(deps.core, deps.fieldManager);
    this.accesses = new OwnObjects(deps.customObjects, ACCESS_PLURAL, deps.fieldManager);
  }

  /** Reconciles the access `namespace/name`. */
  async reconcile(key: string): Promise<ReconcileResult> {
    const observed = this.observe(key);
    if (!observed) return {};
    const outcome = await this.apply(observed.access, await this.plan(observed));
    if (!('secretExists' in outcome)) return outcome;
    // The cache lacked the Secret, but the API server has one by that name: ours with its label
    // removed (taken back), someone else's (reported), or ours just written and not yet in the
    // cache (left as it is). Decide again from the real one; the user minted for the create that
    // failed never left this process.
    const access = outcome.secretExists;
    const secret = await this.secretClient.read(secretNameOf(access), access.metadata.namespace ?? '');
    const again = await this.apply(access, await this.plan({ ...observed, access, secret }));
    if ('secretExists' in again) throw new Error(`access ${key}: Secret ${secretNameOf(access)} exists but cannot be read`);
    return again;
  }

  private async plan(observed: AccessObservation): Promise<AccessPlan> {
    let decision = await decide(observed, this.mint);
    if (decision === NEEDS_LIVE_SECRETS) {
      observed.liveSecrets = await this.secretClient.liveOf(observed.access);
      decision = await decide(observed, this.mint);
    }
    if (decision === NEEDS_LIVE_SECRETS) throw new Error(`access ${keyOf(observed.access)}: a plan asked for live Secrets twice`);
    return decision;
  }

  /** Reads what a decision about the access needs, from the caches. */
  private observe(key: string): AccessObservation | undefined {
    const [namespace = '', name = ''] = key.split('/');
    const access = this.deps.accesses.get(name, namespace);
    if (!access) return undefined;
    const issuer = this.deps.issuers.get(access.spec.issuerRef.name);
    return {
      access,
      issuer,
      namespaceLabels: this.deps.namespaces.get(namespace)?.metadata?.labels ?? {},
      // The cache holds only Secrets with the operator's label: one it lacks is created, and the
      // API server's "already exists" sends the reconcile to the real object (reconcile()).
      secret: this.deps.secrets.get(secretNameOf(access), namespace),
      cachedSecrets: this.deps.secrets.ofAccess(namespace, name),
      signingKey: issuer && !access.spec.authCalloutRef ? this.loadSigningKey(issuer) : undefined,
      callout: this.observeCallout(access),
      revocation: (account, users) => this.deps.revocations.state(account, users),
      now: this.clock(),
    };
  }

  private observeCallout(access: WorkspaceNatsAccess): CalloutObservation | undefined {
    const name = access.spec.authCalloutRef?.name;
    const callout = name === undefined ? undefined : this.deps.callouts.get(name);
    if (!callout) return undefined;
    try {
      return { name: callout.metadata.name, sentinel: { creds: this.deps.sentinelCreds(callout) } };
    } catch (error) {
      if (error instanceof Failure) return { name: callout.metadata.name, sentinel: error };
      throw error;
    }
  }

  private loadSigningKey(issuer: ClusterNatsIssuer): KeyPair | Failure {
    try {
      return this.deps.signingKey(issuer);
    } catch (error) {
      if (error instanceof Failure) return error;
      throw error;
    }
  }

  /**
   * Carries out `plan` in a fixed order: finalizer, Secret, revocation request, Events and status
   * (sent together), Secret deletions, finalizer removal. A Failure while writing the Secret (the
   * API server refused it) is reported like any other; a Secret to create that exists already
   * stops here, for reconcile() to decide again. Every write goes through ownWrites, so that its
   * watch event does not reconcile the access again.
   */
  private async apply(planned: WorkspaceNatsAccess, plan: AccessPlan): Promise<ReconcileResult | { secretExists: WorkspaceNatsAccess }> {
    let access = planned;
    if (plan.addFinalizer) {
      const finalizers = [...(access.metadata.finalizers ?? []), ACCESS_FINALIZER];
      const unfinalized = access;
      access = await this.deps.ownWrites.write(ACCESS_PLURAL, access, () => this.accesses.replace({ ...unfinalized, metadata: { ...unfinalized.metadata, finalizers } }));
    }
    if (plan.writeSecret) {
      const { wanted, existing } = plan.writeSecret;
      try {
        await this.deps.ownWrites.write(SECRETS, wanted, () => this.secretClient.write(wanted, existing));
      } catch (error) {
        if (!existing && isConflict(error)) return { secretExists: access };
        if (!(error instanceof Failure)) throw error;
        return this.apply(access, planFailure(access, error));
      }
    }
    // After the new Secret: a replaced user is revoked only once its successor is in place.
    if (plan.revoke) this.deps.revocations.request(plan.revoke.account, keyOf(access), plan.revoke.users);
    // Events are best effort and the status does not wait for them: both are sent at once.
    const recorded = this.record(access, plan.events);
    const status = plan.status;
    if (status) {
      const writer = { customObjects: this.deps.customObjects, plural: ACCESS_PLURAL, fieldManager: this.deps.fieldManager };
      const current = access;
      await this.deps.ownWrites.write(ACCESS_PLURAL, access, () => updateStatus(writer, current, status.ready, status.fields, this.clock()));
    }
    await recorded;
    await this.record(access, plan.eventsAfterStatus);
    if (plan.cutLogins) {
      const { account, userName } = plan.cutLogins;
      let cut: number;
      try {
        cut = await this.deps.revocations.cutLogins(account, userName);
      } catch (error) {
        const failure = new Failure(Reason.RevocationFailed, `Cannot close the callout logins of ${userName} yet: ${(error as Error).message}`, { retry: true });
        return this.apply(access, planFailure(access, failure));
      }
      if (cut > 0) await this.record(access, [{ type: 'Normal', reason: EventReason.LoginsCut, message: `Closed ${cut} callout logins of ${userName} on the NATS servers` }]);
    }
    for (const secret of plan.deleteSecrets) {
      if (await this.deps.ownWrites.remove(SECRETS, secret, () => this.secretClient.delete(secret))) {
        await this.record(access, [{ type: 'Normal', reason: EventReason.Deleted, message: `Deleted Secret ${secret.metadata?.name}` }]);
      }
    }
    if (plan.removeFinalizer) {
      const finalizers = (access.metadata.finalizers ?? []).filter((finalizer) => finalizer !== ACCESS_FINALIZER);
      // Gone already: nothing holds it any more.
      await succeeded(this.accesses.replace({ ...access, metadata: { ...access.metadata, finalizers } }), [404]);
    }
    return plan.result;
  }

  private async record(access: WorkspaceNatsAccess, events: readonly PlannedEvent[]) {
    for (const event of events) {
      this.deps.log[event.type === 'Warning' ? 'warn' : 'info']({ access: keyOf(access), reason: event.reason }, event.message);
      await this.deps.events.record(access, event.type, event.reason, event.message);
    }
  }

}
