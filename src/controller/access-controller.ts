// The access controller: turns each WorkspaceNatsAccess into a Secret holding a freshly minted NATS
// user, renews it before it expires, and cleans up when the access is deleted. Level-triggered:
// every reconcile reads the current objects from the informer caches, computes what should be, and
// writes only the difference. It does not watch workspaces or mutate pods.

import type { CoreV1Api, CustomObjectsApi, V1Namespace, V1Secret } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import {
  ACCESS_FINALIZER,
  ACCESS_NAME_LABEL,
  ACCESS_PLURAL,
  CREDS_KEY,
  GROUP,
  VERSION,
} from '../api/constants.ts';
import { EventReason, READY, Reason } from '../api/reasons.ts';
import type {
  WorkspaceNatsAccess,
  WorkspaceNatsAccessStatus,
} from '../api/workspace-nats-access.ts';
import {
  conditionChanged,
  findCondition,
  nextStatus,
  type ConditionUpdate,
} from '../kube/conditions.ts';
import { describeError, isNotFound, statusCode } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { mintUserCredentials } from '../nats/credentials.ts';
import {
  AccessSpecError,
  desiredCredentials,
  type DesiredCredentials,
} from '../policy/desired-credentials.ts';
import {
  desiredSecret,
  isControlledBy,
  secretDiffers,
  secretNameOf,
} from './access-secret.ts';
import {
  IssueReason,
  issuedCredentials,
  issueTrigger,
  renewalTime,
  type TrustedCredentials,
} from './issuance-policies.ts';
import { ReconcileFailure } from './reconcile-failure.ts';
import type { SigningKeyReader } from './signing-keys.ts';

/** Read access to informer caches. */
export interface Lister<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface AccessControllerDeps {
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
  accesses: Lister<WorkspaceNatsAccess>;
  issuers: Lister<ClusterNatsIssuer>;
  secrets: Lister<V1Secret>;
  namespaces: Lister<V1Namespace>;
  signingKeys: SigningKeyReader;
  events: EventRecorder;
  log: Logger;
  fieldManager: string;
  now?: () => Date;
}

const secretConflict = (name: string) =>
  new ReconcileFailure(
    Reason.SecretConflict,
    `Secret ${name} already exists and is not owned by this WorkspaceNatsAccess`,
    { retry: true },
  );

/** RFC 3339 in whole seconds, as Kubernetes writes timestamps. */
const timestamp = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class AccessController {
  private readonly deps: AccessControllerDeps;
  private readonly now: () => Date;

  constructor(deps: AccessControllerDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /** Reconciles the access `namespace/name`. */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    let access = this.deps.accesses.get(name, namespace);
    if (!access) return {};
    if (access.metadata.deletionTimestamp) return this.finalize(access);
    if (!access.metadata.finalizers?.includes(ACCESS_FINALIZER)) {
      access = await this.replaceAccess({
        ...access,
        metadata: {
          ...access.metadata,
          finalizers: [...(access.metadata.finalizers ?? []), ACCESS_FINALIZER],
        },
      });
    }
    try {
      return await this.ensureCredentials(access);
    } catch (error) {
      if (!(error instanceof ReconcileFailure)) throw error;
      await this.reportFailure(access, error);
      return error.retry ? { retry: true } : {};
    }
  }

  private async ensureCredentials(access: WorkspaceNatsAccess): Promise<ReconcileResult> {
    const now = this.now();
    const namespace = access.metadata.namespace ?? '';
    const issuerName = access.spec.issuerRef.name;
    const issuer = this.deps.issuers.get(issuerName);
    if (!issuer) {
      throw new ReconcileFailure(Reason.IssuerNotFound, `ClusterNatsIssuer ${issuerName} not found`, {
        retry: true,
      });
    }
    let desired;
    try {
      const namespaceLabels = this.deps.namespaces.get(namespace)?.metadata?.labels ?? {};
      desired = desiredCredentials(access, issuer, namespaceLabels);
    } catch (error) {
      if (!(error instanceof AccessSpecError)) throw error;
      // Credentials issued before the policy was tightened may exceed it now: they go.
      if (error.reason === Reason.PolicyViolation) await this.deleteSecrets(access, () => true, true);
      // Only a change of the access, its issuer or its namespace can fix this, and each of them
      // triggers a reconcile.
      throw new ReconcileFailure(error.reason, error.message, { retry: false });
    }

    const secretName = secretNameOf(access);
    // The cache holds only Secrets with the operator's label. Before minting for a Secret it lacks,
    // look at the real object: one of ours whose label was removed is taken back, and anyone
    // else's is reported, both without minting, and a Secret just written is not written twice.
    const existing = this.deps.secrets.get(secretName, namespace) ?? (await this.readSecret(secretName, namespace));
    if (existing && !isControlledBy(existing, access)) throw secretConflict(secretName);

    const { secret, event } = await this.ensureSecret(access, issuer, desired, existing, now);
    // Recorded before the status: whoever sees Ready=True can also see why it changed.
    if (event) {
      this.deps.log.info({ access: `${namespace}/${access.metadata.name}`, reason: event.reason }, event.message);
      await this.deps.events.record(access, 'Normal', event.reason, event.message);
    }
    // Trusted by construction: issueTrigger fired on anything else, and a fresh mint expires.
    const issued = issuedCredentials(secret) as TrustedCredentials;
    const renewAt = renewalTime(issued, desired.renewBeforeMs);
    await this.writeStatus(access, {
      ready: {
        type: READY,
        status: 'True',
        reason: Reason.Issued,
        message: `Secret ${secretName} holds credentials for NATS user ${issued.userPublicKey}, valid until ${timestamp(issued.expiresAt)}`,
      },
      fields: {
        userPublicKey: issued.userPublicKey,
        secretName,
        issuedAt: timestamp(issued.issuedAt),
        expiresAt: timestamp(issued.expiresAt),
        renewAt: timestamp(renewAt),
      },
    });
    // A Secret left under a former spec.secret.name is not the workspace's any more.
    await this.deleteSecrets(access, (name) => name !== secretName);
    // Never sooner than a second: a renewal time in the past is the renewal policy's to act on.
    return { requeueAfterMs: Math.max(renewAt.getTime() - this.now().getTime(), 1000) };
  }

  /**
   * Makes the Secret hold what `desired` says: mints a new user when an issuance policy fires,
   * restores edited metadata or data otherwise. Returns the Secret and, if it changed, why.
   */
  private async ensureSecret(
    access: WorkspaceNatsAccess,
    issuer: ClusterNatsIssuer,
    desired: DesiredCredentials,
    existing: V1Secret | undefined,
    now: Date,
  ): Promise<{ secret: V1Secret; event?: { reason: string; message: string } }> {
    const namespace = access.metadata.namespace ?? '';
    const secretName = secretNameOf(access);
    // Creds signed by any other key than the issuer's current one are replaced: a rotated key
    // re-issues, and planted creds are not vouched for.
    const signingKey = this.deps.signingKeys.accountSigningKey(issuer);
    const trigger = issueTrigger({
      secretName,
      secret: existing,
      desired,
      signingKeyPublicKey: signingKey.getPublicKey(),
      now,
    });
    if (trigger) {
      const minted = await mintUserCredentials({
        name: `${namespace}/${access.metadata.name}`,
        accountPublicKey: desired.accountPublicKey,
        signingKey,
        grant: desired.grant,
        // From the clock now, not the reconcile's start, so that exp - iat is the ttl.
        expiresAt: new Date(Date.now() + desired.ttlMs),
      });
      const creds = Buffer.from(minted.creds).toString('base64');
      const secret = await this.writeSecret(desiredSecret(access, desired, creds, existing), existing);
      const reason =
        trigger.reason === IssueReason.Renewal
          ? EventReason.Renewed
          : existing
            ? EventReason.Reissued
            : EventReason.Issued;
      const message = `Minted NATS user ${minted.userPublicKey} into Secret ${secretName}: ${trigger.message}`;
      return { secret, event: { reason, message } };
    }
    // No trigger fired, so the Secret exists with trusted creds; put back anything else edited.
    const current = existing as V1Secret;
    const wanted = desiredSecret(access, desired, current.data?.[CREDS_KEY] ?? '', current);
    if (!secretDiffers(current, wanted)) return { secret: current };
    const secret = await this.writeSecret(wanted, current);
    return { secret, event: { reason: EventReason.SecretRestored, message: `Restored Secret ${secretName}` } };
  }

  /**
   * Deletes the Secrets this access controls whose name `matches`, each with an Event. `live`
   * lists them from the API server rather than the cache, so that a Secret written a moment ago is
   * not missed (on deletion, where nothing comes after).
   */
  private async deleteSecrets(
    access: WorkspaceNatsAccess,
    matches: (name: string) => boolean,
    live = false,
  ) {
    const namespace = access.metadata.namespace ?? '';
    const secrets = live ? await this.liveSecretsOf(access) : this.deps.secrets.list(namespace);
    for (const secret of secrets) {
      const name = secret.metadata?.name ?? '';
      if (!matches(name) || !isControlledBy(secret, access)) continue;
      try {
        await this.deps.core.deleteNamespacedSecret({
          name,
          namespace,
          body: { preconditions: { uid: secret.metadata?.uid } },
        });
        await this.deps.events.record(access, 'Normal', EventReason.Deleted, `Deleted Secret ${name}`);
      } catch (error) {
        // Gone already: the cache had not seen the deletion yet.
        if (!isNotFound(error)) throw error;
      }
    }
  }

  /** Reports `failure` in the Ready condition and, when the condition changes, as an Event. */
  private async reportFailure(access: WorkspaceNatsAccess, failure: ReconcileFailure) {
    const ready: ConditionUpdate = {
      type: READY,
      status: 'False',
      reason: failure.reason,
      message: failure.message,
    };
    const changed = conditionChanged(findCondition(access.status?.conditions, READY), ready);
    // Status first: if its write conflicts, the retry comes back here and must not repeat the Event.
    await this.writeStatus(access, { ready, fields: {} });
    if (changed) {
      this.deps.log.warn(
        { access: `${access.metadata.namespace}/${access.metadata.name}`, reason: failure.reason },
        failure.message,
      );
      await this.deps.events.record(access, 'Warning', failure.reason, failure.message);
    }
  }

  /** Deletion: the credentials go before the finalizer does. */
  private async finalize(access: WorkspaceNatsAccess): Promise<ReconcileResult> {
    const finalizers = access.metadata.finalizers ?? [];
    if (!finalizers.includes(ACCESS_FINALIZER)) return {};
    // Revoking the user on the NATS servers belongs here, before the Secret and the finalizer go,
    // so that copied credentials stop working too (tracked as the revocation issue).
    await this.deleteSecrets(access, () => true, true);
    try {
      await this.replaceAccess({
        ...access,
        metadata: { ...access.metadata, finalizers: finalizers.filter((f) => f !== ACCESS_FINALIZER) },
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return {};
  }

  /** The access's Secrets as the API server has them: by label, and by name (labels can go). */
  private async liveSecretsOf(access: WorkspaceNatsAccess): Promise<V1Secret[]> {
    const namespace = access.metadata.namespace ?? '';
    const { items } = await this.deps.core.listNamespacedSecret({
      namespace,
      labelSelector: `${ACCESS_NAME_LABEL}=${access.metadata.name}`,
    });
    const byName = await this.readSecret(secretNameOf(access), namespace);
    const listed = new Set(items.map((secret) => secret.metadata?.uid));
    return byName && !listed.has(byName.metadata?.uid) ? [...items, byName] : items;
  }

  private async readSecret(name: string, namespace: string): Promise<V1Secret | undefined> {
    try {
      return await this.deps.core.readNamespacedSecret({ name, namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Creates `wanted`, or replaces `existing` with it (guarded by its resourceVersion). A Secret the
   * API server refuses (a bad extra label, say) is an InvalidSpec, with the API server's message
   * naming the field.
   */
  private async writeSecret(wanted: V1Secret, existing: V1Secret | undefined): Promise<V1Secret> {
    const { core, fieldManager } = this.deps;
    const namespace = wanted.metadata?.namespace ?? '';
    const name = wanted.metadata?.name ?? '';
    try {
      if (existing?.immutable) {
        // Someone made it immutable: it can only be replaced by deleting it first.
        await core.deleteNamespacedSecret({ name, namespace, body: { preconditions: { uid: existing.metadata?.uid } } });
      } else if (existing) {
        return await core.replaceNamespacedSecret({ name, namespace, body: wanted, fieldManager });
      }
      const { resourceVersion: _ignored, ...metadata } = wanted.metadata ?? {};
      return await core.createNamespacedSecret({ namespace, body: { ...wanted, metadata }, fieldManager });
    } catch (error) {
      if (statusCode(error) !== 422) throw error;
      throw new ReconcileFailure(Reason.InvalidSpec, `Secret ${name}: ${describeError(error)}`, { retry: false });
    }
  }

  private async replaceAccess(access: WorkspaceNatsAccess): Promise<WorkspaceNatsAccess> {
    return (await this.deps.customObjects.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace: access.metadata.namespace ?? '',
      name: access.metadata.name,
      body: access,
      fieldManager: this.deps.fieldManager,
    })) as WorkspaceNatsAccess;
  }

  /** Writes the status only when it differs from what is stored (a no-op reconcile writes nothing). */
  private async writeStatus(
    access: WorkspaceNatsAccess,
    change: { ready: ConditionUpdate; fields: Partial<WorkspaceNatsAccessStatus> },
  ) {
    const current = access.status ?? {};
    const status = nextStatus(
      current,
      change.ready,
      change.fields,
      access.metadata.generation ?? 0,
      this.now(),
    );
    if (isDeepStrictEqual(status, current)) return;
    await this.deps.customObjects.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace: access.metadata.namespace ?? '',
      name: access.metadata.name,
      body: { ...access, status },
      fieldManager: this.deps.fieldManager,
    });
  }
}
