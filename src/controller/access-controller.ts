// The access controller: turns each WorkspaceNatsAccess into a Secret holding a freshly minted NATS
// user, renews it before it expires, revokes users it replaced for other reasons than renewal, and
// on deletion revokes every user it issued on the NATS servers before the Secret and the finalizer
// go. Level-triggered: every reconcile reads the current objects from the informer caches,
// computes what should be, and writes only the difference. It does not watch workspaces or mutate
// pods.

import type { CoreV1Api, CustomObjectsApi, V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import {
  ACCESS_FINALIZER,
  ACCESS_NAME_LABEL,
  ACCESS_PLURAL,
  CREDS_KEY,
  GROUP,
  SKIP_REVOCATION_ANNOTATION,
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
  timestamp,
  type ConditionUpdate,
  type StatusFields,
} from '../kube/conditions.ts';
import { describeError, isNotFound, statusCode } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { mintUserCredentials } from '../nats/credentials.ts';
import { resolveGrant, type ResolvedGrant } from '../policy/grant.ts';
import type { Revocations } from '../revocation/revocations.ts';
import {
  desiredSecret,
  isControlledBy,
  secretDiffers,
  secretNameOf,
} from './access-secret.ts';
import {
  accountOfSecrets,
  retireReplaced,
  stillValid,
  usersOf,
  type IssuedUser,
  type RetiredUser,
} from './access-users.ts';
import {
  IssueReason,
  issuedCredentials,
  issueTrigger,
  renewalTime,
  type TrustedCredentials,
} from './issuance-policies.ts';
import { Failure as ReconcileFailure } from '../api/failure.ts';
import type { IssuerKeys } from '../issuer/issuer-keys.ts';
import type { Lister } from '../kube/lister.ts';

export interface AccessControllerDeps {
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
  accesses: Lister<WorkspaceNatsAccess>;
  issuers: Lister<ClusterNatsIssuer>;
  secrets: Lister<V1Secret>;
  namespaces: Lister<V1Namespace>;
  issuerKeys: IssuerKeys;
  revocations: Revocations;
  events: EventRecorder;
  log: Logger;
  fieldManager: string;
  now?: () => Date;
}

const keyOf = (access: WorkspaceNatsAccess) => `${access.metadata.namespace}/${access.metadata.name}`;

const secretConflict = (name: string) =>
  new ReconcileFailure(
    Reason.SecretConflict,
    `Secret ${name} already exists and is not owned by this WorkspaceNatsAccess`,
    { retry: true },
  );

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
    if (access.metadata.deletionTimestamp) return this.reportingFailures(access, (deleting) => this.finalize(deleting));
    if (!access.metadata.finalizers?.includes(ACCESS_FINALIZER)) {
      access = await this.replaceAccess({
        ...access,
        metadata: {
          ...access.metadata,
          finalizers: [...(access.metadata.finalizers ?? []), ACCESS_FINALIZER],
        },
      });
    }
    return this.reportingFailures(access, (current) => this.ensureCredentials(current));
  }

  /** Runs `step`, reporting a ReconcileFailure in the status and as an Event. */
  private async reportingFailures(
    access: WorkspaceNatsAccess,
    step: (access: WorkspaceNatsAccess) => Promise<ReconcileResult>,
  ): Promise<ReconcileResult> {
    try {
      return await step(access);
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
    // The issuer's JWT check found that its users would not work, or would have no bounds.
    const issuerReady = findCondition(issuer.status?.conditions, READY);
    if (issuerReady?.reason === Reason.AccountMismatch && issuerReady.observedGeneration === issuer.metadata.generation) {
      throw new ReconcileFailure(Reason.AccountMismatch, `ClusterNatsIssuer ${issuerName}: ${issuerReady.message}`, { retry: false });
    }
    let desired;
    try {
      const namespaceLabels = this.deps.namespaces.get(namespace)?.metadata?.labels ?? {};
      desired = resolveGrant({ access, issuer, namespaceLabels, now });
    } catch (error) {
      if (!(error instanceof ReconcileFailure)) throw error;
      if (error.reason === Reason.PolicyViolation) await this.withdraw(access, issuer.spec.account.publicKey, error.message);
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

    const { secret, event, replaced } = await this.ensureSecret(access, issuer, desired, existing, now);
    // Recorded before the status: whoever sees Ready=True can also see why it changed.
    if (event) {
      this.deps.log.info({ access: `${namespace}/${access.metadata.name}`, reason: event.reason }, event.message);
      await this.deps.events.record(access, 'Normal', event.reason, event.message);
    }
    // Trusted by construction: issueTrigger fired on anything else, and a fresh mint expires.
    const issued = issuedCredentials(secret) as TrustedCredentials;
    const renewAt = renewalTime(issued, desired.renewBeforeMs);
    const retired = replaced
      ? retireReplaced({
          access,
          replacedSecret: existing,
          account: desired.accountPublicKey,
          minted: issued.userPublicKey,
          revoke: replaced.revoke,
          now,
        })
      : stillValid(access.status?.retiredUsers ?? [], now);
    const retiredUsers = this.revokeRetired(access, desired.accountPublicKey, retired);
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
        retiredUsers,
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
    desired: ResolvedGrant,
    existing: V1Secret | undefined,
    now: Date,
  ): Promise<{
    secret: V1Secret;
    event?: { reason: string; message: string };
    /** Set when a new user replaced the one before; revoke unless it was a renewal. */
    replaced?: { revoke: boolean };
  }> {
    const namespace = access.metadata.namespace ?? '';
    const secretName = secretNameOf(access);
    // Creds signed by any other key than the issuer's current one are replaced: a rotated key
    // re-issues, and planted creds are not vouched for.
    const signingKey = this.deps.issuerKeys.accountSigningKey(issuer);
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
      return { secret, event: { reason, message }, replaced: { revoke: trigger.reason !== IssueReason.Renewal } };
    }
    // No trigger fired, so the Secret exists with trusted creds; put back anything else edited.
    const current = existing as V1Secret;
    const wanted = desiredSecret(access, desired, current.data?.[CREDS_KEY] ?? '', current);
    if (!secretDiffers(current, wanted)) return { secret: current };
    const secret = await this.writeSecret(wanted, current);
    return { secret, event: { reason: EventReason.SecretRestored, message: `Restored Secret ${secretName}` } };
  }

  /**
   * Deletes the Secrets this access controls whose name `matches`, each with an Event. `live`, as
   * listed from the API server, replaces the cache, so that a Secret written a moment ago is not
   * missed (on deletion, where nothing comes after).
   */
  private async deleteSecrets(
    access: WorkspaceNatsAccess,
    matches: (name: string) => boolean,
    live?: readonly V1Secret[],
  ) {
    const namespace = access.metadata.namespace ?? '';
    const secrets = live ?? this.deps.secrets.list(namespace);
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

  /**
   * Deletion: every user the access was issued that may still be valid is revoked on the NATS
   * servers, then the Secrets and the finalizer go. Until the servers confirm, the finalizer stays
   * (the revoker reconciles the access again when they do, or when it fails).
   */
  private async finalize(access: WorkspaceNatsAccess): Promise<ReconcileResult> {
    const finalizers = access.metadata.finalizers ?? [];
    if (!finalizers.includes(ACCESS_FINALIZER)) return {};
    const namespace = access.metadata.namespace ?? '';
    const issuerAccount = this.deps.issuers.get(access.spec.issuerRef.name)?.spec.account.publicKey;
    const usersIn = (secrets: readonly V1Secret[]) =>
      usersOf(access, secrets.filter((secret) => isControlledBy(secret, access)), issuerAccount).filter(
        (user) => user.expiresAt > this.now(),
      );
    // First from the cache, which costs no API call, so that deletions arriving together reach
    // the revoker together and share a push.
    const cached = this.deps.secrets.list(namespace);
    const users = usersIn(cached);
    const names = users.map((user) => user.userPublicKey).join(', ');
    const skip = access.metadata.annotations?.[SKIP_REVOCATION_ANNOTATION] === 'true';
    if (skip && users.length > 0) {
      const message =
        `Removed without waiting for NATS to revoke users ${names} (annotation ${SKIP_REVOCATION_ANNOTATION}): ` +
        'a revocation already requested still reaches the servers when they answer; otherwise their credentials stay valid until they expire';
      this.deps.log.warn({ access: keyOf(access), reason: EventReason.RevocationSkipped }, message);
      await this.deps.events.record(access, 'Warning', EventReason.RevocationSkipped, message);
    }
    const account = issuerAccount ?? accountOfSecrets(cached.filter((secret) => isControlledBy(secret, access)));
    if (!skip && users.length > 0) {
      if (!account) {
        throw new ReconcileFailure(
          Reason.RevocationFailed,
          `Cannot revoke NATS users ${names}: ClusterNatsIssuer ${access.spec.issuerRef.name} is gone, so their account is unknown. ` +
            `Re-create the issuer, or annotate this access ${SKIP_REVOCATION_ANNOTATION}=true to remove it without revoking`,
          { retry: true },
        );
      }
      if (!this.revoked(access, account, users, 'before its finalizer is removed')) return {};
      await this.deps.events.record(access, 'Normal', EventReason.Revoked, `Revoked NATS users ${names} on every server`);
    }
    // Then from the API server: a Secret written a moment ago, whose user the cache may have
    // missed, is revoked too before it goes.
    const live = await this.liveSecretsOf(access);
    const late = usersIn(live).filter((user) => !users.some((known) => known.userPublicKey === user.userPublicKey));
    if (!skip && late.length > 0) {
      const lateAccount = account ?? accountOfSecrets(live.filter((secret) => isControlledBy(secret, access)));
      if (!lateAccount) {
        throw new ReconcileFailure(
          Reason.RevocationFailed,
          `Cannot revoke NATS users ${late.map((user) => user.userPublicKey).join(', ')}: their account is unknown. ` +
            `Annotate this access ${SKIP_REVOCATION_ANNOTATION}=true to remove it without revoking`,
          { retry: true },
        );
      }
      if (!this.revoked(access, lateAccount, late, 'before its finalizer is removed')) return {};
    }
    await this.deleteSecrets(access, () => true, live);
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

  /**
   * Asks for `users` to be revoked in `account`: true once every server has them; false while the
   * push is under way (the revoker wakes the access); a failed push throws RevocationFailed.
   */
  private revoked(access: WorkspaceNatsAccess, account: string, users: IssuedUser[], until: string): boolean {
    this.deps.revocations.request(account, keyOf(access), users);
    const state = this.deps.revocations.state(account, users);
    if (!state.ok) {
      throw new ReconcileFailure(
        Reason.RevocationFailed,
        `Revoking NATS users ${users.map((user) => user.userPublicKey).join(', ')} failed, retrying ${until}: ${state.message}. ` +
          `To remove the access without revoking, annotate it ${SKIP_REVOCATION_ANNOTATION}=true`,
        { retry: true },
      );
    }
    return state.value === 'revoked';
  }

  /**
   * The retired users still to list: revocation is requested for those marked revoke, which are
   * dropped once revoked. A failure to revoke them leaves the new credentials working: it is
   * logged, and the revoker wakes the access to try again.
   */
  private revokeRetired(access: WorkspaceNatsAccess, account: string, retired: RetiredUser[]): RetiredUser[] | undefined {
    const toRevoke = retired
      .filter((entry) => entry.revoke)
      .map((entry) => ({ userPublicKey: entry.publicKey, expiresAt: new Date(entry.expiresAt) }));
    let remaining = retired;
    if (toRevoke.length > 0) {
      this.deps.revocations.request(account, keyOf(access), toRevoke);
      const state = this.deps.revocations.state(account, toRevoke);
      if (state.ok && state.value === 'revoked') remaining = retired.filter((entry) => !entry.revoke);
      if (!state.ok) {
        this.deps.log.warn({ access: keyOf(access), users: toRevoke.length, error: state.message }, 'revoking replaced users failed');
      }
    }
    return remaining.length > 0 ? remaining : undefined;
  }

  /**
   * The access asks for more than its issuer allows now (the policy was tightened): the users it
   * holds are revoked and its Secrets deleted, so that no credentials beyond the policy stay valid.
   */
  private async withdraw(access: WorkspaceNatsAccess, account: string, violation: string) {
    const live = await this.liveSecretsOf(access);
    const controlled = live.filter((secret) => isControlledBy(secret, access));
    const users = usersOf(access, controlled, account).filter((user) => user.expiresAt > this.now());
    if (users.length > 0 && !this.revoked(access, account, users, `(${violation})`)) {
      throw new ReconcileFailure(Reason.PolicyViolation, `${violation}; revoking the users issued before`, { retry: false });
    }
    await this.deleteSecrets(access, () => true, live);
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
    change: { ready: ConditionUpdate; fields: StatusFields<WorkspaceNatsAccessStatus> },
  ) {
    await updateStatus(
      { customObjects: this.deps.customObjects, plural: ACCESS_PLURAL, fieldManager: this.deps.fieldManager },
      access,
      change.ready,
      change.fields,
      this.now(),
    );
  }
}
