// The workspace binder: for each WorkspaceNatsBinding, one WorkspaceNatsAccess per running
// workspace of its source, owned by the workspace object; deleted (and so revoked) when the
// workspace stops or goes, when it no longer matches, or when the binding goes. Level-triggered per
// binding: it lists the source and the binding's accesses from caches and writes the difference,
// so workspaces that vanished while the operator was down are found on its first pass.
//
// Each reconcile reads (read: caches only), decides (planBinding: pure, a BinderPlan) and applies
// (apply: the only writes, in a fixed order). Unit tests assert the plans.

import type { V1Pod } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { systemClock, type Clock } from '../api/clock.ts';
import { ACCESS_PLURAL, BINDING_LABEL, BINDING_PLURAL } from '../api/constants.ts';
import { READY, Reason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import type { CustomObjectsApi } from '../kube/api.ts';
import type { ConditionUpdate } from '../kube/conditions.ts';
import { describeError, isConflict, isNotFound, statusCode } from '../kube/errors.ts';
import type { Lister, OnDemandLister } from '../kube/lister.ts';
import { OwnObjects } from '../kube/own-objects.ts';
import { updateStatus } from '../kube/status.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { desiredAccess, gitpodWorkspaces, podWorkspaces, type GitpodWorkspace } from '../policy/bound-workspaces.ts';

export interface BinderDeps {
  customObjects: CustomObjectsApi;
  bindings: Lister<WorkspaceNatsBinding>;
  accesses: Lister<WorkspaceNatsAccess>;
  gitpodWorkspaces: OnDemandLister<GitpodWorkspace>;
  pods: OnDemandLister<V1Pod>;
  log: Logger;
  fieldManager: string;
  clock?: Clock;
}

/** The objects of a binding's source in its namespace, as its cache holds them. */
export type SourceObjects = { gitpod: readonly GitpodWorkspace[] } | { pods: readonly V1Pod[] };

/** What one reconcile of a binding reads from the caches. */
export interface BindingObservation {
  namespace: string;
  name: string;
  /** Undefined once the binding is gone. */
  binding: WorkspaceNatsBinding | undefined;
  /** The accesses labelled as the binding's. */
  owned: readonly WorkspaceNatsAccess[];
  /** Undefined while the source's cache has not synced, and when the binding is gone or going. */
  source: SourceObjects | undefined;
}

/** The binding's Ready condition and, when known, how many workspaces it binds. */
export interface BindingStatusUpdate {
  ready: ConditionUpdate;
  /** Undefined leaves the stored count as it is. */
  workspaces?: number;
}

export interface AccessDeletion {
  access: WorkspaceNatsAccess;
  /** For the log line. */
  why: string;
}

/** What a reconcile of a binding writes; apply() writes it in this order. */
export interface BinderPlan {
  delete: AccessDeletion[];
  /** Accesses whose mutable fields changed, as the objects to store in their place. */
  replace: WorkspaceNatsAccess[];
  create: WorkspaceNatsAccess[];
  /** The status should every write be stored (see statusAfterWrites); undefined: the binding is gone. */
  status?: BindingStatusUpdate;
}

/** What the binder may change on an existing access (its issuer and workspace id are immutable). */
const mutable = (access: WorkspaceNatsAccess) => ({
  owners: (access.metadata.ownerReferences ?? []).map((ref) => ref.uid).sort(),
  workspace: access.spec.workspace,
  permissions: access.spec.permissions,
  limits: access.spec.limits,
  ttl: access.spec.ttl,
  renewBefore: access.spec.renewBefore,
});

const immutableChanged = (access: WorkspaceNatsAccess, desired: WorkspaceNatsAccess) =>
  access.spec.issuerRef.name !== desired.spec.issuerRef.name || access.spec.workspace.id !== desired.spec.workspace.id;

/** `access` with the binding's wishes for its mutable fields; its issuer and Secret stay. */
function replacement(access: WorkspaceNatsAccess, desired: WorkspaceNatsAccess): WorkspaceNatsAccess {
  const { issuerRef: _issuer, ...changes } = desired.spec;
  return {
    ...access,
    metadata: { ...access.metadata, ownerReferences: desired.metadata.ownerReferences },
    spec: { issuerRef: access.spec.issuerRef, ...changes, ...(access.spec.secret ? { secret: access.spec.secret } : {}) },
  };
}

/** The writes that make the binding's accesses match its source's running workspaces. Pure. */
export function planBinding(observed: BindingObservation): BinderPlan {
  const { binding, owned } = observed;
  const plan: BinderPlan = { delete: [], replace: [], create: [] };
  // One already being deleted waits for its finalizer (revocation); asking again changes nothing.
  const deletion = (access: WorkspaceNatsAccess, why: string) => {
    if (!access.metadata.deletionTimestamp) plan.delete.push({ access, why });
  };
  if (!binding || binding.metadata.deletionTimestamp) {
    for (const access of owned) deletion(access, `its WorkspaceNatsBinding ${observed.name} is gone`);
    return plan;
  }
  const { source } = observed;
  if (!source) {
    const what = binding.spec.source.gitpod ? 'GitPod Workspaces (workspace.gitpod.io/v1; is its CRD installed?)' : 'pods';
    plan.status = {
      ready: {
        type: READY,
        status: 'False',
        reason: Reason.SourceNotReady,
        message: `Waiting for the first list of ${what}; the operator log says why if it fails`,
      },
    };
    return plan;
  }
  const workspaces = 'gitpod' in source ? gitpodWorkspaces(binding, source.gitpod) : podWorkspaces(binding, source.pods);
  const wanted = new Map(
    workspaces.filter((workspace) => workspace.active).map((workspace) => {
      const access = desiredAccess(binding, workspace);
      return [access.metadata.name, access] as const;
    }),
  );
  for (const access of owned) {
    const desired = wanted.get(access.metadata.name);
    if (!desired) deletion(access, 'its workspace stopped or is gone');
    // Created again once the deletion is through (the name is taken until then).
    else if (immutableChanged(access, desired)) deletion(access, 'its binding or workspace changed what cannot be changed in place');
    else if (!isDeepStrictEqual(mutable(access), mutable(desired))) plan.replace.push(replacement(access, desired));
  }
  const existing = new Set(owned.map((access) => access.metadata.name));
  plan.create = [...wanted.values()].filter((access) => !existing.has(access.metadata.name));
  const count = wanted.size;
  plan.status = {
    ready: { type: READY, status: 'True', reason: Reason.Bound, message: `${count} workspace${count === 1 ? '' : 's'} bound` },
    workspaces: count,
  };
  return plan;
}

/** The status to write once the API server refused to store some accesses (`refused`, one problem each). */
export function statusAfterWrites(status: BindingStatusUpdate, refused: readonly string[]): BindingStatusUpdate {
  if (refused.length === 0) return status;
  return {
    ready: { type: READY, status: 'False', reason: Reason.AccessRefused, message: refused.join('; ') },
    workspaces: (status.workspaces ?? 0) - refused.length,
  };
}

export class Binder {
  private readonly deps: BinderDeps;
  private readonly clock: Clock;
  private readonly accesses: OwnObjects<WorkspaceNatsAccess>;

  constructor(deps: BinderDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.accesses = new OwnObjects(deps.customObjects, ACCESS_PLURAL, deps.fieldManager);
  }

  /** Reconciles the binding `namespace/name` (which may be gone: then its accesses go). */
  async reconcile(key: string): Promise<ReconcileResult> {
    const observed = this.read(key);
    return this.apply(observed, planBinding(observed));
  }

  /** What the caches hold for the binding `namespace/name`; writes nothing. */
  read(key: string): BindingObservation {
    const [namespace = '', name = ''] = key.split('/');
    const binding = this.deps.bindings.get(name, namespace);
    const owned = this.deps.accesses.list(namespace).filter((access) => access.metadata.labels?.[BINDING_LABEL] === name);
    const live = binding && !binding.metadata.deletionTimestamp;
    return { namespace, name, binding, owned, source: live ? this.source(binding, namespace) : undefined };
  }

  /** Writes `plan`: deletions, replacements, creations, then the binding's status. */
  async apply(observed: BindingObservation, plan: BinderPlan): Promise<ReconcileResult> {
    for (const { access, why } of plan.delete) await this.deleteAccess(access, why);
    // What the API server refused to store (a template it rejects, say), for the status.
    const refused: string[] = [];
    for (const access of plan.replace) {
      refused.push(...(await this.write(access.metadata.name, () => this.accesses.replace(access))));
    }
    for (const access of plan.create) {
      const problems = await this.write(access.metadata.name, () => this.accesses.create(access));
      refused.push(...problems);
      if (problems.length === 0) {
        this.deps.log.info({ binding: `${observed.namespace}/${observed.name}`, access: access.metadata.name }, 'created WorkspaceNatsAccess for workspace');
      }
    }
    if (!plan.status || !observed.binding) return {};
    const { ready, workspaces } = statusAfterWrites(plan.status, refused);
    await updateStatus(
      { customObjects: this.deps.customObjects, plural: BINDING_PLURAL, fieldManager: this.deps.fieldManager },
      observed.binding,
      ready,
      workspaces === undefined ? {} : { workspaces },
      this.clock(),
    );
    return refused.length > 0 ? { retry: true } : {};
  }

  /** The source's objects; its cache starts on first use, and its sync wakes every binding again. */
  private source(binding: WorkspaceNatsBinding, namespace: string): SourceObjects | undefined {
    if (binding.spec.source.gitpod) {
      const gitpod = this.deps.gitpodWorkspaces.ready();
      return gitpod && { gitpod: gitpod.list(namespace) };
    }
    const pods = this.deps.pods.ready();
    return pods && { pods: pods.list(namespace) };
  }

  private async deleteAccess(access: WorkspaceNatsAccess, why: string) {
    // Gone or replaced meanwhile: the next pass sees the new state.
    if (await this.accesses.delete(access)) {
      this.deps.log.info({ access: `${access.metadata.namespace}/${access.metadata.name}` }, `deleted WorkspaceNatsAccess: ${why}`);
    }
  }

  /**
   * Runs a write of access `name`. One that raced another (409) or whose object is gone (404) is
   * left to the next pass; one the API server refuses (422) is returned as a problem to report.
   */
  private async write(name: string, call: () => Promise<unknown>): Promise<string[]> {
    try {
      await call();
    } catch (error) {
      if (statusCode(error) === 422) return [`WorkspaceNatsAccess ${name}: ${describeError(error)}`];
      if (!isConflict(error) && !isNotFound(error)) throw error;
      this.deps.log.debug({ error: describeError(error) }, 'binder write raced another');
    }
    return [];
  }
}
