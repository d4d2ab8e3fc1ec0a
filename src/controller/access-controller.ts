// The access controller: turns each WorkspaceNatsAccess into a Secret holding a freshly minted NATS
// user, renews it before it expires, revokes users it replaced for other reasons than renewal, and
// on deletion revokes every user it issued on the NATS servers before the Secret and the finalizer
// go. Level-triggered, in three steps: read what it needs (caches first), decide a plan
// (access-plan.ts, pure), apply the plan (here, the only place that writes, in a fixed order). It
// does not watch workspaces or mutate pods.

import type { CoreV1Api, CustomObjectsApi, V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import { ACCESS_FINALIZER, ACCESS_PLURAL } from '../api/constants.ts';
import { Failure, type Result } from '../api/failure.ts';
import { EventReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { succeeded } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Lister } from '../kube/lister.ts';
import { OwnObjects } from '../kube/own-objects.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { mintUserCredentials } from '../nats/credentials.ts';
import { decide, NEEDS_LIVE_SECRETS, planFailure, type AccessObservation, type AccessPlan, type Mint, type PlannedEvent } from './access-plan.ts';
import { secretNameOf } from './access-secret.ts';
import type { IssuedUser } from './access-users.ts';
import { SecretClient } from './secret-client.ts';

/** The revoker as the access controller sees it: a query while deciding, a request while applying. */
export interface RevocationRequests {
  state(account: string, users: readonly IssuedUser[]): Result<'revoked' | 'pending'>;
  request(account: string, accessKey: string, users: readonly IssuedUser[]): void;
}

export interface AccessControllerDeps {
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
  accesses: Lister<WorkspaceNatsAccess>;
  issuers: Lister<ClusterNatsIssuer>;
  secrets: Lister<V1Secret>;
  namespaces: Lister<V1Namespace>;
  /** The issuer's account signing key; throws a Failure saying what is wrong with its Secret. */
  signingKey: (issuer: ClusterNatsIssuer) => KeyPair;
  revocations: RevocationRequests;
  events: EventRecorder;
  log: Logger;
  fieldManager: string;
  clock?: Clock;
  mint?: Mint;
}

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
    const observed = await this.observe(key);
    if (!observed) return {};
    let decision = await decide(observed, this.mint);
    if (decision === NEEDS_LIVE_SECRETS) {
      observed.liveSecrets = await this.secretClient.liveOf(observed.access);
      decision = await decide(observed, this.mint);
    }
    if (decision === NEEDS_LIVE_SECRETS) throw new Error(`access ${key}: a plan asked for live Secrets twice`);
    return this.apply(observed.access, decision);
  }

  /** Reads what a decision about the access needs: caches, and the named Secret if they lack it. */
  private async observe(key: string): Promise<AccessObservation | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    const access = this.deps.accesses.get(name, namespace);
    if (!access) return undefined;
    const issuer = this.deps.issuers.get(access.spec.issuerRef.name);
    const secretName = secretNameOf(access);
    // The cache holds only Secrets with the operator's label. Before minting for a Secret it lacks,
    // look at the real object: one of ours whose label was removed is taken back, and anyone
    // else's is reported, both without minting, and a Secret just written is not written twice.
    const secret =
      this.deps.secrets.get(secretName, namespace) ??
      (issuer && !access.metadata.deletionTimestamp ? await this.secretClient.read(secretName, namespace) : undefined);
    return {
      access,
      issuer,
      namespaceLabels: this.deps.namespaces.get(namespace)?.metadata?.labels ?? {},
      secret,
      cachedSecrets: this.deps.secrets.list(namespace),
      signingKey: issuer ? this.loadSigningKey(issuer) : undefined,
      revocation: (account, users) => this.deps.revocations.state(account, users),
      now: this.clock(),
    };
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
   * Carries out `plan` in a fixed order: finalizer, Secret, revocation request, Events, status,
   * Secret deletions, finalizer removal. A Failure while writing the Secret (the API server refused
   * it) is reported like any other.
   */
  private async apply(planned: WorkspaceNatsAccess, plan: AccessPlan): Promise<ReconcileResult> {
    let access = planned;
    if (plan.addFinalizer) {
      access = await this.accesses.replace({
        ...access,
        metadata: { ...access.metadata, finalizers: [...(access.metadata.finalizers ?? []), ACCESS_FINALIZER] },
      });
    }
    if (plan.writeSecret) {
      try {
        await this.secretClient.write(plan.writeSecret.wanted, plan.writeSecret.existing);
      } catch (error) {
        if (!(error instanceof Failure)) throw error;
        return this.apply(access, planFailure(access, error));
      }
    }
    // After the new Secret: a replaced user is revoked only once its successor is in place.
    if (plan.revoke) this.deps.revocations.request(plan.revoke.account, keyOf(access), plan.revoke.users);
    await this.record(access, plan.events);
    if (plan.status) {
      await updateStatus(
        { customObjects: this.deps.customObjects, plural: ACCESS_PLURAL, fieldManager: this.deps.fieldManager },
        access,
        plan.status.ready,
        plan.status.fields,
        this.clock(),
      );
    }
    await this.record(access, plan.eventsAfterStatus);
    for (const secret of plan.deleteSecrets) {
      if (await this.secretClient.delete(secret)) {
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
